//! `git train stats` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{show, Cx};
use crate::commands::stats::{self, Args, Stats};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let st = stats::run(cx.ctx, a)?;
    show(a.output.json, &st, |v| render(&cx.style, v))?;
    Ok(0)
}

/// A duration in its two largest units: `45s`, `12m 30s`, `3h 12m`, `2d 4h`.
fn span(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "" };
    let s = (ms.abs() / 1000.0).round() as i64;
    let (big, small) = match s {
        0..=59 => return format!("{sign}{s}s"),
        60..=3599 => ((s / 60, "m"), (s % 60, "s")),
        3600..=86_399 => ((s / 3600, "h"), (s % 3600 / 60, "m")),
        _ => ((s / 86_400, "d"), (s % 86_400 / 3600, "h")),
    };
    if small.0 == 0 {
        format!("{sign}{}{}", big.0, big.1)
    } else {
        format!("{sign}{}{} {}{}", big.0, big.1, small.0, small.1)
    }
}

/// Bars at most this many characters wide; longer windows put several weeks in a bar.
const SPARK_WIDTH: usize = 60;

/// One bar per week (or per group of weeks, grouped from the newest), oldest first:
/// a space for none, `▂` to `█` from one deployment up to the most.
fn sparkline(weekly: &[usize]) -> (String, usize) {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let per = weekly.len().div_ceil(SPARK_WIDTH).max(1);
    let mut groups: Vec<usize> = weekly.rchunks(per).map(|c| c.iter().sum()).collect();
    groups.reverse();
    let max = groups.iter().copied().max().unwrap_or(0);
    let bars = groups
        .iter()
        .map(|&n| match n {
            // A week without deployments draws nothing, not the lowest bar.
            0 => ' ',
            _ if max <= 1 => BARS[7],
            _ => BARS[1 + (n - 1) * 6 / (max - 1)],
        })
        .collect();
    (bars, per)
}

pub fn render(s: &Style, st: &Stats) -> String {
    let mut out = String::new();
    let days = st.window.days;
    let length = if days.fract() == 0.0 {
        format!("{days} day{}", if days == 1.0 { "" } else { "s" })
    } else {
        format!("{days:.1} days")
    };
    let _ = writeln!(
        out,
        "{} {}",
        s.cyan(&st.env),
        s.dim(&format!(
            "from {} to {} ({length})",
            when(st.window.since),
            when(st.window.until)
        ))
    );
    let f = &st.frequency;
    let lt = &st.lead_time;
    let cfr = &st.change_failure_rate;
    let ttr = &st.time_to_restore;
    let tr = &st.train;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let frequency = format!(
        "{:.2} a day, {:.1} a week; deployed on {} of {} days",
        f.per_day, f.per_week, f.deploy_days, f.days
    );
    let lead = match (lt.median_s, lt.p90_s) {
        (Some(median), Some(p90)) => format!(
            "median {}, p90 {} ({})",
            span(median * 1000.0),
            span(p90 * 1000.0),
            plural(lt.commits, "commit", "commits")
        ),
        _ => "no commits deployed".into(),
    };
    let failure = match cfr.rate {
        Some(rate) => format!(
            "{:.1}% ({} of {})",
            rate * 100.0,
            cfr.failed_changes,
            plural(cfr.deployments, "deployment", "deployments")
        ),
        None => "no finished deployments".into(),
    };
    let restore = match ttr.median_s {
        Some(median) => {
            let mut text = format!(
                "median {} ({} restored",
                span(median * 1000.0),
                ttr.restored
            );
            if ttr.unrestored > 0 {
                let _ = write!(text, ", {} not yet", ttr.unrestored);
            }
            text.push(')');
            text
        }
        None if ttr.unrestored > 0 => format!("{} not restored yet", ttr.unrestored),
        None => "no failures".into(),
    };
    let train = match (tr.median, tr.max) {
        (Some(median), Some(max)) => format!(
            "median {median}, max {} ({})",
            plural(max, "commit", "commits"),
            plural(tr.deployments, "deployment", "deployments")
        ),
        _ => "no trains".into(),
    };
    let (bars, per) = sparkline(&f.weekly);
    let weeks = plural(f.weekly.len(), "week", "weeks");
    let bar_note = if per == 1 {
        format!("{weeks}, oldest first")
    } else {
        format!("{weeks}, {per} a bar, oldest first")
    };
    let rows = [
        ("deployment frequency", frequency),
        ("lead time for changes", lead),
        ("change failure rate", failure),
        ("time to restore", restore),
        ("train", train),
        (
            "deployments per week",
            format!("{bars}  {}", s.dim(&bar_note)),
        ),
    ];
    out.push('\n');
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<22} {value}");
    }
    out
}
