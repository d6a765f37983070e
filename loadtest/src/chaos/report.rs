//! The chaos run's numbers: per seed and phase, what the clients heard and
//! what the audit found, the verdict against the targets, and a Markdown
//! rendering of it all.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::audit::{self, Received};
use super::client::{Attempt, Ending};
use super::{Call, Fault, Settings, Targets};

/// One phase of one seed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phase {
    /// `baseline`, or the fault (`kill -9 worker 0`).
    pub name: String,
    /// When the fault struck, in seconds from the start of the load.
    pub fault_at_s: Option<f64>,
    /// Calls started in the phase.
    pub requests: u64,
    /// Calls that ended with a result.
    pub ok: u64,
    /// Calls that ended otherwise, by how (`unknown`, `failed:<code>`,
    /// `gave_up:<kind>`).
    pub failures: BTreeMap<String, u64>,
    pub reads: u64,
    pub failed_reads: u64,
    pub failed_read_pct: f64,
    pub writes: u64,
    pub lost_writes: u64,
    pub doubled_writes: u64,
    pub applied_but_reported_failed: u64,
    pub outcome_unknown: u64,
    /// Of those, how many D365FO had applied.
    pub outcome_unknown_applied: u64,
    /// Attempts that did not succeed (and were retried, or ended the
    /// call), by kind, from this phase's fault to the next one's.
    pub failed_attempts: BTreeMap<String, u64>,
    /// From the fault to the end of the last attempt that did not succeed.
    pub recovery_s: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One seed's run.
#[derive(Debug, Clone, Serialize)]
pub struct SeedReport {
    pub seed: u64,
    pub phases: Vec<Phase>,
    /// The first [`MAX_INCIDENTS`] writes the audit found wrong, whole.
    pub incidents: Vec<Incident>,
    /// Writes in the journal that no call of the run made (none expected:
    /// each would be a write the audit cannot judge).
    pub unattributed_writes: u64,
}

/// Most incidents a seed's report lists.
pub const MAX_INCIDENTS: usize = 50;

/// A write the audit found wrong (lost, doubled, or applied but reported
/// failed), with everything its client saw.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub call: u64,
    pub kind: super::ops::Kind,
    pub marker: String,
    pub key: Option<String>,
    /// Seconds from the start of the load.
    pub started_s: f64,
    /// Each attempt: edge, start and end (s), how it ended.
    pub attempts: Vec<(usize, f64, f64, Attempt)>,
    pub ending: Ending,
    /// Times the application received it, and applied it.
    pub received: u32,
    pub applied: u32,
}

/// Every seed, the targets, and what missed them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `redis` or `redis-cluster`.
    pub store: String,
    pub rate: f64,
    pub phase_s: f64,
    pub down_s: f64,
    pub budget_s: f64,
    pub sim_latency_ms: u64,
    pub targets: Targets,
    pub seeds: Vec<SeedReport>,
    /// Each missed target, in words; empty when the run passed.
    pub misses: Vec<String>,
}

impl SeedReport {
    pub fn new(
        seed: u64,
        settings: &Settings,
        start: Instant,
        faults: &[(Fault, Duration)],
        calls: &[Call],
        journal: &HashMap<String, Received>,
    ) -> SeedReport {
        let count = 1 + faults.len();
        let mut phases: Vec<Phase> = (0..count)
            .map(|i| Phase {
                name: match i {
                    0 => "baseline".into(),
                    i => faults[i - 1].0.to_string(),
                },
                fault_at_s: i
                    .checked_sub(1)
                    .and_then(|f| faults.get(f))
                    .map(|(_, at)| at.as_secs_f64()),
                ..Phase::default()
            })
            .collect();
        let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); count];
        let mut incidents = Vec::new();
        for call in calls {
            let offset = call.started.saturating_duration_since(start);
            let i = usize::try_from(offset.as_nanos() / settings.phase.as_nanos().max(1))
                .unwrap_or(usize::MAX)
                .min(count - 1);
            let phase = &mut phases[i];
            if tally(phase, call, journal) && incidents.len() < MAX_INCIDENTS {
                incidents.push(incident(start, call, journal));
            }
            if let Some(last) = call.tried.last() {
                latencies[i].push(
                    last.ended
                        .saturating_duration_since(call.started)
                        .as_secs_f64()
                        * 1e3,
                );
            }
        }
        // A failed attempt belongs to the last fault before it ended (its
        // failure is seen then: a call cut off by a fault began before it).
        let struck: Vec<f64> = faults.iter().map(|(_, at)| at.as_secs_f64()).collect();
        for tried in calls.iter().flat_map(|c| &c.tried) {
            if tried.attempt == Attempt::Ok {
                continue;
            }
            let ended = tried.ended.saturating_duration_since(start).as_secs_f64();
            let phase = struck
                .iter()
                .rposition(|&f| f <= ended)
                .map_or(0, |f| f + 1);
            let kind = match &tried.attempt {
                Attempt::Retryable(kind) | Attempt::Failed(kind) => kind.clone(),
                Attempt::Unknown => "outcome_unknown".into(),
                Attempt::Ok => continue,
            };
            *phases[phase].failed_attempts.entry(kind).or_default() += 1;
            if phase > 0 {
                let recovery = ended - struck[phase - 1];
                let best = phases[phase].recovery_s.get_or_insert(0.0);
                *best = best.max(recovery);
            }
        }
        for (i, phase) in phases.iter_mut().enumerate() {
            if i > 0 && phase.recovery_s.is_none() && phase.fault_at_s.is_some() {
                phase.recovery_s = Some(0.0);
            }
            phase.failed_read_pct = percent(phase.failed_reads, phase.reads);
            let lat = &mut latencies[i];
            lat.sort_by(f64::total_cmp);
            (phase.p50_ms, phase.p99_ms) = (quantile(lat, 0.5), quantile(lat, 0.99));
            phase.max_ms = lat.last().copied().unwrap_or(0.0);
        }
        let made: std::collections::HashSet<&str> = calls
            .iter()
            .filter_map(|c| c.op.marker.as_deref())
            .collect();
        let unattributed_writes = journal
            .keys()
            .filter(|m| !made.contains(m.as_str()) && !m.starts_with(super::ops::BASE_PREFIX))
            .count() as u64;
        SeedReport {
            seed,
            phases,
            incidents,
            unattributed_writes,
        }
    }
}

fn seen(call: &Call, journal: &HashMap<String, Received>) -> Received {
    call.op
        .marker
        .as_ref()
        .and_then(|m| journal.get(m))
        .copied()
        .unwrap_or_default()
}

fn incident(start: Instant, call: &Call, journal: &HashMap<String, Received>) -> Incident {
    let at = |t: Instant| t.saturating_duration_since(start).as_secs_f64();
    let seen = seen(call, journal);
    Incident {
        call: call.op.n,
        kind: call.op.kind,
        marker: call.op.marker.clone().unwrap_or_default(),
        key: call.op.key.clone(),
        started_s: at(call.started),
        attempts: call
            .tried
            .iter()
            .map(|t| (t.edge, at(t.started), at(t.ended), t.attempt.clone()))
            .collect(),
        ending: call.ending.clone(),
        received: seen.times,
        applied: seen.applied,
    }
}

/// Counts `call` into `phase`; `true` when the audit found it wrong.
fn tally(phase: &mut Phase, call: &Call, journal: &HashMap<String, Received>) -> bool {
    phase.requests += 1;
    match &call.ending {
        Ending::Ok => phase.ok += 1,
        other => *phase.failures.entry(name(other)).or_default() += 1,
    }
    if !call.op.kind.writes() {
        phase.reads += 1;
        phase.failed_reads += u64::from(call.ending != Ending::Ok);
        return false;
    }
    phase.writes += 1;
    let verdict = audit::judge(&call.ending, seen(call, journal));
    phase.lost_writes += u64::from(verdict.lost);
    phase.doubled_writes += u64::from(verdict.doubled);
    phase.applied_but_reported_failed += u64::from(verdict.applied_but_failed);
    phase.outcome_unknown += u64::from(call.ending == Ending::Unknown);
    phase.outcome_unknown_applied += u64::from(verdict.unknown_applied);
    verdict.lost || verdict.doubled || verdict.applied_but_failed
}

fn name(ending: &Ending) -> String {
    match ending {
        Ending::Ok => "ok".into(),
        Ending::Unknown => "outcome_unknown".into(),
        Ending::Failed(kind) => format!("failed:{kind}"),
        Ending::GaveUp(kind) => format!("gave_up:{kind}"),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Report {
    pub fn new(settings: &Settings, seeds: Vec<SeedReport>) -> Report {
        let targets = settings.targets;
        let mut misses = Vec::new();
        for seed in &seeds {
            if seed.unattributed_writes > 0 {
                misses.push(format!(
                    "seed {}: {} writes in the journal that no call made",
                    seed.seed, seed.unattributed_writes
                ));
            }
            for phase in &seed.phases {
                let at = format!("seed {}, {}", seed.seed, phase.name);
                for (what, n) in [
                    ("lost writes", phase.lost_writes),
                    ("doubled writes", phase.doubled_writes),
                    (
                        "writes applied but reported failed",
                        phase.applied_but_reported_failed,
                    ),
                ] {
                    if n > 0 {
                        misses.push(format!("{at}: {n} {what}"));
                    }
                }
                if phase.failed_read_pct > targets.max_failed_read_pct {
                    misses.push(format!(
                        "{at}: {:.2} % of reads failed (target ≤ {} %)",
                        phase.failed_read_pct, targets.max_failed_read_pct
                    ));
                }
                if let Some(recovery) = phase.recovery_s.filter(|r| *r > targets.max_recovery_s) {
                    misses.push(format!(
                        "{at}: recovered after {recovery:.1} s (target ≤ {} s)",
                        targets.max_recovery_s
                    ));
                }
            }
        }
        Report {
            store: if settings.redis_cluster {
                "redis-cluster"
            } else {
                "redis"
            }
            .into(),
            rate: settings.rate,
            phase_s: settings.phase.as_secs_f64(),
            down_s: settings.down.as_secs_f64(),
            budget_s: settings.budget.as_secs_f64(),
            sim_latency_ms: settings.sim_latency_ms,
            targets,
            seeds,
            misses,
        }
    }

    /// Whether every target was met.
    pub fn passed(&self) -> bool {
        self.misses.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The tables of `docs/RELIABILITY.md`.
    pub fn markdown(&self) -> String {
        let store = if self.store == "redis-cluster" {
            "a Redis Cluster of three masters"
        } else {
            "one Redis"
        };
        let mut out = format!(
            "2 edges, 2 workers, {store}; {} calls/s, phases of {} s, killed nodes down {} s, \
             retry budget {} s, simulator latency {} ms (finishing abandoned requests).\n",
            self.rate, self.phase_s, self.down_s, self.budget_s, self.sim_latency_ms
        );
        for seed in &self.seeds {
            let _ = write!(
                out,
                "\n### Seed {}\n\n| phase | calls | failed reads | writes | lost | doubled | \
                 applied but reported failed | outcome_unknown (applied) | failed attempts | \
                 recovery | p50 / p99 / max |\n|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|\n",
                seed.seed
            );
            for p in &seed.phases {
                let attempts = if p.failed_attempts.is_empty() {
                    "0".to_owned()
                } else {
                    p.failed_attempts
                        .iter()
                        .map(|(k, n)| format!("{k} {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let recovery = p.recovery_s.map_or("–".to_owned(), |r| format!("{r:.1} s"));
                let _ = writeln!(
                    out,
                    "| {} | {} | {} of {} ({:.2} %) | {} | {} | {} | {} | {} ({}) | {} | {} | {:.0} / {:.0} / {:.0} ms |",
                    p.name,
                    p.requests,
                    p.failed_reads,
                    p.reads,
                    p.failed_read_pct,
                    p.writes,
                    p.lost_writes,
                    p.doubled_writes,
                    p.applied_but_reported_failed,
                    p.outcome_unknown,
                    p.outcome_unknown_applied,
                    attempts,
                    recovery,
                    p.p50_ms,
                    p.p99_ms,
                    p.max_ms,
                );
            }
        }
        if self.misses.is_empty() {
            out.push_str("\nEvery target met.\n");
        } else {
            out.push_str("\nMissed:\n");
            for miss in &self.misses {
                let _ = writeln!(out, "- {miss}");
            }
        }
        out
    }
}
