//! The run's configuration: raw [`Settings`] (from the command line and
//! its `D365MCP_LOADTEST_*` twins) validated into a [`Config`], with errors
//! that name the flag and the variable.

use std::{path::PathBuf, time::Duration};

use url::Url;

use crate::{
    error::Error,
    scenario::{Era, Scenario},
};

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Requests arrive at `rate` a second whatever the replies do; at most
    /// `max_in_flight` at once, arrivals beyond that are counted as dropped.
    Open { rate: f64, max_in_flight: usize },
    /// `concurrency` clients, each sending its next request when the last is answered.
    Closed { concurrency: usize },
}

/// The settings as given, before validation.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub targets: Vec<String>,
    pub scenario: Option<PathBuf>,
    pub era: Option<String>,
    pub mode: Option<String>,
    pub rate: Option<f64>,
    pub concurrency: Option<usize>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub requests: Option<u64>,
    pub timeout: Option<String>,
    pub api_key: Option<String>,
    pub out: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    pub quiet: bool,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The MCP endpoints, used round robin. `--spawn` fills this with the
    /// edges of the cluster it starts.
    pub targets: Vec<Url>,
    pub scenario: Scenario,
    pub mode: Mode,
    pub warmup: Duration,
    pub duration: Duration,
    /// At most this many measured requests.
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub api_key: Option<String>,
    pub out: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub svg: Option<PathBuf>,
    /// The live progress line on stderr.
    pub progress: bool,
}

fn key(flag: &str) -> String {
    let var = flag.to_uppercase().replace('-', "_");
    format!("--{flag} (D365MCP_LOADTEST_{var})")
}

const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
const MAX_RATE: f64 = 1_000_000.0;
const MAX_CONCURRENCY: usize = 100_000;

impl Config {
    /// Validates `settings`, reading the scenario file.
    pub fn from_settings(settings: Settings) -> Result<Config, Error> {
        let scenario_path = settings.scenario.as_ref().ok_or_else(|| {
            Error::config(
                key("scenario"),
                "give a scenario file, e.g. loadtest/scenarios/mixed.toml",
            )
        })?;
        let text = std::fs::read_to_string(scenario_path).map_err(|e| {
            Error::config(
                key("scenario"),
                format!("cannot read {}: {e}", scenario_path.display()),
            )
        })?;
        let stem = scenario_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let scenario = Scenario::parse(&text, &stem).map_err(|e| {
            Error::config(key("scenario"), format!("{}: {e}", scenario_path.display()))
        })?;
        Config::with_scenario(settings, scenario)
    }

    /// Validates `settings` around an already parsed scenario.
    pub fn with_scenario(settings: Settings, mut scenario: Scenario) -> Result<Config, Error> {
        if let Some(era) = &settings.era {
            let era = Era::parse(era).ok_or_else(|| {
                Error::config(
                    key("era"),
                    format!("`{era}` is not one of 2026-07-28, 2025-11-25, 2024-11-05"),
                )
            })?;
            scenario = scenario.with_era(era);
        }
        let targets = settings
            .targets
            .iter()
            .map(|t| parse_target(t))
            .collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            return Err(Error::config(
                key("target"),
                "give at least one MCP endpoint, e.g. http://127.0.0.1:8080/mcp",
            ));
        }
        let concurrency = match settings.concurrency {
            Some(0) => return Err(Error::config(key("concurrency"), "must be at least 1")),
            Some(n) if n > MAX_CONCURRENCY => {
                return Err(Error::config(
                    key("concurrency"),
                    format!("at most {MAX_CONCURRENCY}"),
                ));
            }
            other => other,
        };
        let mode = match settings.mode.as_deref().map(str::trim) {
            None | Some("closed") => {
                if settings.rate.is_some() {
                    return Err(Error::config(key("rate"), "only with --mode open"));
                }
                Mode::Closed {
                    concurrency: concurrency.unwrap_or(8),
                }
            }
            Some("open") => {
                let rate = settings.rate.ok_or_else(|| {
                    Error::config(
                        key("rate"),
                        "--mode open needs an arrival rate, requests a second",
                    )
                })?;
                if !(rate > 0.0 && rate <= MAX_RATE) {
                    return Err(Error::config(
                        key("rate"),
                        format!("must be above 0 and at most {MAX_RATE}"),
                    ));
                }
                Mode::Open {
                    rate,
                    max_in_flight: concurrency.unwrap_or(512),
                }
            }
            Some(other) => {
                return Err(Error::config(
                    key("mode"),
                    format!("`{other}` is not `open` or `closed`"),
                ));
            }
        };
        let duration = duration_setting("duration", settings.duration.as_deref(), "20s")?;
        if duration.is_zero() {
            return Err(Error::config(key("duration"), "must be above zero"));
        }
        let timeout = duration_setting("timeout", settings.timeout.as_deref(), "30s")?;
        if timeout.is_zero() {
            return Err(Error::config(key("timeout"), "must be above zero"));
        }
        if settings.requests == Some(0) {
            return Err(Error::config(key("requests"), "must be at least 1"));
        }
        Ok(Config {
            targets,
            scenario,
            mode,
            warmup: duration_setting("warmup", settings.warmup.as_deref(), "3s")?,
            duration,
            requests: settings.requests,
            timeout,
            api_key: settings.api_key.filter(|k| !k.is_empty()),
            out: settings.out,
            markdown: settings.markdown,
            svg: settings.svg,
            progress: !settings.quiet,
        })
    }
}

fn parse_target(text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim())
        .map_err(|e| Error::config(key("target"), format!("`{text}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Error::config(
            key("target"),
            format!("`{text}`: expected an http:// or https:// URL"),
        ));
    }
    Ok(url)
}

fn duration_setting(flag: &str, value: Option<&str>, default: &str) -> Result<Duration, Error> {
    let value = value.unwrap_or(default);
    let duration = parse_duration(value).map_err(|why| {
        Error::config(
            key(flag),
            format!("`{value}` is not a duration ({why}); write e.g. 500ms, 20s or 2m"),
        )
    })?;
    if duration > MAX_DURATION {
        return Err(Error::config(key(flag), "at most 24h"));
    }
    Ok(duration)
}

/// A duration as [`humantime`] reads it (`500ms`, `1.5s`, `20s`, `2m`, `1h`,
/// `1m 30s`); a bare number is seconds. The same reading as the cluster's
/// settings (`common::config::parse_duration`), which this crate does not
/// depend on.
pub fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return humantime::parse_duration(&format!("{text}s"));
    }
    humantime::parse_duration(text)
}

#[cfg(test)]
mod tests;
