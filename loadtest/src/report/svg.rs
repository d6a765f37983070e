//! The SVG plot, written as text: on the left, p50 and p99 latency for each
//! second of the measured window; on the right, the latency distribution
//! over percentiles on the usual "nines" scale (50 %, 90 %, 99 %, 99.9 % …
//! evenly spaced).

use std::fmt::Write;

use super::Report;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 400.0;
const PANEL_W: f64 = 380.0;
const PANEL_H: f64 = 280.0;
const TOP: f64 = 60.0;
const LEFT: [f64; 2] = [80.0, 560.0];

/// A panel's frame: where its plot area is and what its axes span.
struct Frame {
    left: f64,
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        self.left + PANEL_W * (v / self.x_max).clamp(0.0, 1.0)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + PANEL_H * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }
}

/// The plot as an SVG document.
pub fn render(report: &Report) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{} — {} ({}), {:.0} req/s, {} failed</text>"#,
        WIDTH / 2.0,
        escape(&report.scenario),
        escape(&report.mode),
        escape(&report.era),
        report.throughput_rps,
        report.failed
    );
    over_time(&mut svg, report);
    distribution(&mut svg, report);
    svg.push_str("</svg>\n");
    svg
}

fn over_time(svg: &mut String, report: &Report) {
    let seconds = report.timeline.len().max(1) as f64;
    let top = report.timeline.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
    let frame = Frame {
        left: LEFT[0],
        x_max: seconds,
        y_max: nice(top),
    };
    axes(svg, &frame, "latency over time", "second of the run");
    for tick in 0..=4 {
        let v = seconds * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{v:.0}</text>"#,
            frame.x(v),
            TOP + PANEL_H + 16.0
        );
    }
    let series = |pick: fn(&super::Second) -> f64| {
        report
            .timeline
            .iter()
            .filter(|s| s.requests > s.failed)
            .map(|s| (s.second as f64 + 0.5, pick(s)))
            .collect::<Vec<_>>()
    };
    polyline(svg, &frame, &series(|s| s.p50_ms), "#1f77b4");
    polyline(svg, &frame, &series(|s| s.p99_ms), "#d62728");
    legend(svg, &frame, &[("p50", "#1f77b4"), ("p99", "#d62728")]);
}

fn distribution(svg: &mut String, report: &Report) {
    // Position on the nines scale: 0 at 0 %, 1 at 90 %, 2 at 99 %, …
    let nines = |p: f64| -(1.0 - (p / 100.0).min(0.99999)).log10();
    let frame = Frame {
        left: LEFT[1],
        x_max: 5.0,
        y_max: nice(report.latency_ms.max),
    };
    axes(svg, &frame, "latency by percentile", "percentile");
    for (p, label) in [
        (0.0, "0%"),
        (90.0, "90%"),
        (99.0, "99%"),
        (99.9, "99.9%"),
        (99.99, "99.99%"),
        (99.999, "99.999%"),
    ] {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            frame.x(nines(p)),
            TOP + PANEL_H + 16.0
        );
    }
    let points: Vec<(f64, f64)> = report
        .percentiles
        .iter()
        .filter(|p| p.percentile < 100.0)
        .map(|p| (nines(p.percentile), p.latency_ms))
        .collect();
    polyline(svg, &frame, &points, "#2ca02c");
}

/// The frame, the title, the axis name and the latency ticks.
fn axes(svg: &mut String, frame: &Frame, title: &str, x_name: &str) {
    let (left, bottom) = (frame.left, TOP + PANEL_H);
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{title}</text>"#,
        left + PANEL_W / 2.0,
        TOP - 10.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{x_name}</text>"#,
        left + PANEL_W / 2.0,
        bottom + 36.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">ms</text>"#,
        left - 55.0,
        TOP + PANEL_H / 2.0,
        left - 55.0,
        TOP + PANEL_H / 2.0
    );
    for tick in 0..=4 {
        let v = frame.y_max * f64::from(tick) / 4.0;
        let y = frame.y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + PANEL_W,
            left - 6.0,
            y + 4.0,
            tick_label(v)
        );
    }
}

fn polyline(svg: &mut String, frame: &Frame, points: &[(f64, f64)], colour: &str) {
    if points.is_empty() {
        return;
    }
    let path: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", frame.x(x), frame.y(y)))
        .collect();
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
        path.join(" ")
    );
}

fn legend(svg: &mut String, frame: &Frame, entries: &[(&str, &str)]) {
    for (i, (name, colour)) in entries.iter().enumerate() {
        let y = TOP + 16.0 + 16.0 * i as f64;
        let x = frame.left + 10.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            x + 18.0,
            x + 24.0,
            y + 4.0
        );
    }
}

/// A round axis top at or above `v` (1, 2 or 5 times a power of ten).
fn nice(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&top| top >= v)
        .unwrap_or(10.0 * power)
}

fn tick_label(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{config, stats, timed};

    #[test]
    fn the_plot_has_both_panels_and_a_line_per_series() {
        let report = Report::new(&config(), &stats(), timed(0));
        let svg = render(&report);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("latency over time") && svg.contains("latency by percentile"));
        assert_eq!(
            svg.matches("<polyline").count(),
            3,
            "p50, p99 and the distribution"
        );
        // Ten seconds of timeline: ten points in each time series.
        let first = svg.split("<polyline points=\"").nth(1).unwrap();
        assert_eq!(first.split('"').next().unwrap().split(' ').count(), 10);
    }

    #[test]
    fn axis_tops_are_round_numbers() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(0.37), 0.5);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(999.0), 1000.0);
        assert_eq!(nice(1000.0), 1000.0);
        assert_eq!(nice(f64::NAN), 1.0);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b&c>"), "a&lt;b&amp;c&gt;");
    }
}
