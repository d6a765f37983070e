//! The Markdown summary: the run, the overall figures, one row per tool,
//! the errors with an example each.

use std::fmt::Write;

use super::{Latency, Report};

/// The summary as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mode = match report.rate {
        Some(rate) => format!(
            "open loop, {} req/s offered, at most {} in flight",
            number(rate),
            report.concurrency
        ),
        None => format!("closed loop, {} clients", report.concurrency),
    };
    let _ = writeln!(
        out,
        "## Load test: {} ({}, {})\n",
        report.scenario, report.era, report.session
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| mode | {mode} |");
    let _ = writeln!(out, "| targets | {} |", report.targets.join(", "));
    let _ = writeln!(
        out,
        "| window | {:.1} s measured after {:.1} s warm-up |",
        report.elapsed_s, report.warmup_s
    );
    let _ = writeln!(
        out,
        "| requests | {} ({} ok, {} failed, {} dropped) |",
        report.requests, report.ok, report.failed, report.dropped
    );
    let _ = writeln!(
        out,
        "| throughput | {} req/s |",
        number(report.throughput_rps)
    );
    let l = &report.latency_ms;
    let _ = writeln!(
        out,
        "| latency | p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms |\n",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p99_9),
        ms(l.max)
    );
    let _ = writeln!(
        out,
        "| tool | requests | ok | failed | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for tool in &report.tools {
        let Latency {
            p50,
            p90,
            p99,
            p99_9,
            max,
            ..
        } = tool.latency_ms;
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            tool.name,
            tool.requests,
            tool.ok,
            tool.failed,
            number(tool.throughput_rps),
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p99_9),
            ms(max)
        );
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n| error | count | example |\n|---|--:|---|");
        for (kind, count) in &report.errors {
            let example = report.error_examples.get(kind).map_or("", String::as_str);
            let _ = writeln!(out, "| `{kind}` | {count} | {} |", cell(example));
        }
    }
    out
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

fn number(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{config, stats, timed};

    #[test]
    fn the_summary_holds_the_figures_and_the_errors() {
        let report = Report::new(&config(), &stats(), timed(0));
        let text = render(&report);
        assert!(
            text.contains("## Load test: test (2026-07-28, stateless)"),
            "{text}"
        );
        assert!(
            text.contains("| requests | 1010 (1000 ok, 10 failed, 0 dropped) |"),
            "{text}"
        );
        assert!(text.contains("| throughput | 101 req/s |"), "{text}");
        assert!(text.contains("| `q` | 1010 | 1000 | 10 |"), "{text}");
        assert!(
            text.contains("| `http_429` | 10 | rate limited |"),
            "{text}"
        );
    }

    #[test]
    fn cells_cannot_break_the_table() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
