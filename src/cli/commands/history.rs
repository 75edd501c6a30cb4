//! `git train history` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{show, Cx};
use crate::commands::history::{self, Args, History};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let h = history::run(cx.ctx, a)?;
    // `-n 0` asks for no lines, which is not "no deployments yet".
    show(a.output.json, &h, |v| {
        if a.count == 0 {
            String::new()
        } else {
            render(&cx.style, v, cx.ctx.now())
        }
    })?;
    Ok(0)
}

pub fn render(s: &Style, h: &History, now: Timestamp) -> String {
    let mut out = String::new();
    if h.deployments.is_empty() {
        match no_ledger_yet(h.synced.as_ref()) {
            Some(text) => out.push_str(&text),
            None => out.push_str("no deployments yet\n"),
        }
        if let Some(f) = &h.synced {
            let _ = writeln!(out, "{}", freshness(s, f, now));
        }
        return out;
    }
    let id_w = h
        .deployments
        .iter()
        .map(|d| d.short_id.len())
        .max()
        .unwrap_or(8);
    let env_w = h
        .deployments
        .iter()
        .map(|d| crate::cli::width::of(&clean(&d.env)))
        .max()
        .unwrap_or(0);
    let natural = h
        .deployments
        .iter()
        .map(|d| crate::cli::width::of(&clean(&d.subject)))
        .max()
        .unwrap_or(0);
    // On a narrow terminal the year and the email's domain give way to the subject.
    let narrow = s.width.is_some_and(|cols| cols < 100);
    let when_w = if narrow { 11 } else { 17 };
    let by_w = if narrow { 12 } else { 20 };
    for d in &h.deployments {
        let took = d
            .duration_s
            .map(|secs| format_age(secs * 1000))
            .unwrap_or_else(|| "-".into());
        let mut marks = Vec::new();
        if d.rollback {
            marks.push(s.yellow("rollback"));
        }
        if let Some(reason) = &d.forced {
            marks.push(s.red(&clean(&format!("forced: {reason}"))));
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  {}", marks.join(" "))
        };
        // when, environment, sha, state, duration, who: fixed; the subject gives way.
        let fixed = when_w + 1 + env_w + 1 + 7 + 1 + id_w + 1 + 11 + 1 + 6 + 1 + by_w + 1;
        let marks = match &d.desc {
            Some(desc) => format!("{marks}  {}", s.dim(&clean(&format!("\"{desc}\"")))),
            None => marks,
        };
        let started = when(d.started_at);
        let started = if narrow {
            // 2026-11-25 10:15Z -> 11-25 10:15
            started[5..16].to_string()
        } else {
            started
        };
        let by = match d.by.split_once('@') {
            Some((local, _)) if narrow && !local.is_empty() => local,
            _ => d.by.as_str(),
        };
        let subject_w = flexible(s, fixed + crate::cli::width::of(&marks), 10, natural);
        let mut line = format!(
            "{} {} {} {} {} {} {} {}{marks}",
            s.dim(&started),
            s.cyan(&truncate(&d.env, env_w)),
            s.yellow(short(&d.sha)),
            s.dim(&format!("{:<id_w$}", d.short_id)),
            state(s, d.state),
            crate::cli::width::pad_left(&took, 6),
            truncate(by, by_w),
            truncate(&d.subject, subject_w)
        );
        if let Some(log) = &d.log {
            let log = format!("  {}", clean(log));
            // The log goes where it fits whole; --json always has it.
            let room = s.width.map_or(usize::MAX, |cols| {
                cols.saturating_sub(crate::cli::width::of(line.trim_end()))
            });
            if crate::cli::width::of(&log) <= room {
                line = format!("{}{}", line.trim_end(), s.dim(&log));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(f) = &h.synced {
        let _ = writeln!(out, "{}", freshness(s, f, now));
    }
    fit(s, out)
}
