//! `git train status` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{show, Cx};
use crate::commands::status::{self, Args, Status};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    if a.refresh {
        cx.forge.refresh_ci(cx.ctx, a.count)?;
    }
    let st = status::run(cx.ctx, a)?;
    show(a.output.json, &st, |v| render(&cx.style, v, cx.ctx.now()))?;
    Ok(0)
}

pub fn render(s: &Style, st: &Status, now: Timestamp) -> String {
    let mut out = String::new();
    let synced = st
        .synced
        .as_ref()
        .map(|f| format!("  {}", freshness(s, f, now)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {} at {}{synced}",
        s.bold("trunk"),
        st.trunk,
        short(&st.tip)
    );
    if st.environments.is_empty() {
        if let Some(text) = no_ledger_yet(st.synced.as_ref()) {
            out.push('\n');
            out.push_str(&text);
        }
    }
    if !st.environments.is_empty() {
        out.push('\n');
        let width = st
            .environments
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            .max(3);
        for e in &st.environments {
            let name = s.cyan(&format!("{:<width$}", clean(&e.name)));
            match &e.deployed {
                None => match &e.unfetched {
                    Some(sha) => {
                        let _ = write!(
                            out,
                            "  {name}  {}  {}",
                            short(sha),
                            s.yellow("not fetched yet: run `git fetch`")
                        );
                    }
                    None => {
                        let _ = write!(out, "  {name}  {}", s.dim("never deployed"));
                    }
                },
                Some(d) => {
                    let behind = match (e.behind, e.behind_more) {
                        (Some(0), _) => s.green("up to date"),
                        (Some(n), more) => {
                            let plus = if more { "+" } else { "" };
                            let oldest = e
                                .oldest_undeployed_at
                                .map(|t| format!(", oldest {}", format_age(now.millis_since(t))))
                                .unwrap_or_default();
                            s.yellow(&format!("{n}{plus} behind{oldest}"))
                        }
                        (None, _) => String::new(),
                    };
                    let off = if d.on_trunk { "" } else { " (not on trunk)" };
                    let _ = write!(
                        out,
                        "  {name}  {}{off}  {behind}  {}",
                        short(&d.sha),
                        s.dim(&format!(
                            "by {} {} ago",
                            clean(&d.by),
                            format_age(now.millis_since(d.at))
                        ))
                    );
                }
            }
            if let Some(dep) = &e.in_progress {
                let _ = write!(out, "  {}", s.yellow(&format!("deploying ({dep})")));
            }
            if let Some(f) = &e.failed {
                let why = f
                    .desc
                    .as_deref()
                    .map(|d| format!(": {}", clean(d)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "  {}",
                    s.red(&format!(
                        "last deployment {} {} ago ({}{why})",
                        f.state,
                        format_age(now.millis_since(f.at)),
                        short(&f.sha)
                    ))
                );
            }
            out.push('\n');
            if let Some(f) = &e.frozen {
                let why = f
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:width$}  {}",
                    "",
                    s.red(&clean(&format!("frozen until {}{why}", f.until_local)))
                );
            }
            // The lock on a line of its own, under the commit: on a narrow terminal
            // it would otherwise be what gives way.
            if let Some(lock) = &e.lock {
                let reason = lock
                    .lock
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let text = match crate::cli::commands::lock::time_left(lock, now) {
                    Some(t) if lock.expired(now) => {
                        s.dim(&clean(&format!("lock of {} {t}", lock.lock.by)))
                    }
                    Some(t) => s.red(&clean(&format!("locked by {} ({t}){reason}", lock.lock.by))),
                    None => s.red(&clean(&format!("locked by {}{reason}", lock.lock.by))),
                };
                let _ = writeln!(out, "  {:width$}  {text}", "");
            }
        }
    }
    let mut out = fit(s, out);
    if st.commits.is_empty() {
        return out;
    }
    out.push('\n');
    // CI read from GitHub a while ago: say how long (a few minutes is fresh).
    if let Some(at) = st
        .ci_read_at
        .filter(|at| now.millis_since(*at) > 5 * 60 * 1000)
    {
        let _ = writeln!(
            out,
            "  {}",
            s.dim(&format!(
                "CI as GitHub said {} ago (`git train status --refresh` asks again)",
                format_age(now.millis_since(at))
            ))
        );
    }
    // sha, CI mark, subject, author, age, markers: the subject gives way.
    const AUTHOR: usize = 12;
    let rows: Vec<(String, usize)> = st
        .commits
        .iter()
        .map(|c| {
            let markers: Vec<String> = c
                .deployed_to
                .iter()
                .map(|e| s.cyan(&format!("[{}]", clean(e))))
                .collect();
            let markers = if markers.is_empty() {
                String::new()
            } else {
                format!("  {}", markers.join(" "))
            };
            let w = crate::cli::width::of(&markers);
            (markers, w)
        })
        .collect();
    let natural = st
        .commits
        .iter()
        .map(|c| crate::cli::width::of(&clean(&c.commit.subject)))
        .max()
        .unwrap_or(0);
    // One subject width for every row, so authors and ages stay in their columns.
    let markers_w = rows.iter().map(|(_, w)| *w).max().unwrap_or(0);
    let fixed = 2 + 7 + 1 + 1 + 1 + 1 + AUTHOR + 1 + 6 + markers_w;
    let subject_w = flexible(s, fixed, 10, natural);
    for (c, (markers, _)) in st.commits.iter().zip(&rows) {
        let _ = writeln!(
            out,
            "  {} {} {} {} {}{markers}",
            s.yellow(c.commit.short()),
            ci_mark(s, c.ci),
            truncate(&c.commit.subject, subject_w),
            s.dim(&truncate(&c.commit.author, AUTHOR)),
            s.dim(&crate::cli::width::pad_left(
                &format_age(now.millis_since(c.commit.at)),
                6
            )),
        );
    }
    fit(s, out)
}
