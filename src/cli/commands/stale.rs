//! `git train stale` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{show, Cx};
use crate::commands::stale::{self, Args, Outcome as Delivered, Stale};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let ctx = cx.ctx;
    let mut found = stale::run(ctx, a)?;
    if !a.post {
        show(a.output.json, &found, |v| render(&cx.style, v))?;
        return Ok(0);
    }
    stale::post(ctx, &mut found, a.again)?;
    if cx.verbose {
        for line in &found.log {
            ctx.ui.note(line);
        }
    }
    for env in &found.environments {
        for d in env.digest.iter().flatten() {
            if let Some(why) = &d.why {
                ctx.ui.warn(&format!(
                    "could not post the digest of {} to channel {}: {why}",
                    env.name, d.channel
                ));
            }
        }
    }
    cx.said(a.output.json, &found, |v| render(&cx.style, v));
    Ok(if found.failed() { 1 } else { 0 })
}

/// `git train stale`: a block per environment (what it runs and who deployed it,
/// then the commits that wait, oldest first, and the command that ships them), or
/// "nothing waits"; with `--post`, what became of each digest.
pub fn render(s: &Style, st: &Stale) -> String {
    let mut out = String::new();
    let now = st.at;
    if st.waiting() == 0 {
        out.push_str("nothing waits\n");
    }
    let name_w = st
        .environments
        .iter()
        .map(|e| crate::cli::width::of(&clean(&e.name)))
        .max()
        .unwrap_or(0);
    for e in &st.environments {
        let name = s.cyan(&truncate(&e.name, name_w));
        let older = crate::domain::time::format_exact(e.older_than_ms);
        let head = match (&e.deployed, &e.unfetched, e.undeployed) {
            (_, Some(sha), None) => s.yellow(&format!(
                "runs {}, not fetched yet: run `git fetch`; not counted",
                short(sha)
            )),
            (_, _, None) => s.dim(&format!(
                "never deployed: not counted; `git train deploy {}` starts it",
                clean(&e.name)
            )),
            (_, _, Some(0)) => s.green("up to date"),
            (_, _, Some(n)) if e.waiting.is_empty() => {
                let commits = if n == 1 { "commit" } else { "commits" };
                let plus = if e.complete { "" } else { "+" };
                s.green(&format!(
                    "nothing older than {older} ({n}{plus} newer {commits} not deployed yet)"
                ))
            }
            (_, _, Some(_)) => {
                let n = e.waiting.len();
                let plus = if e.complete { "" } else { "+" };
                let verb = if n == 1 && e.complete {
                    "commit waits"
                } else {
                    "commits wait"
                };
                let oldest = format_age(e.waiting[0].waited_ms);
                s.yellow(&format!(
                    "{n}{plus} {verb} longer than {older}, the oldest {oldest}"
                ))
            }
        };
        // With nothing waiting, one line each under "nothing waits".
        if st.waiting() == 0 {
            let _ = writeln!(out, "  {name}  {head}");
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{name}  {head}");
        if let Some(d) = &e.deployed {
            let off = if d.on_trunk { "" } else { " (not on trunk)" };
            let _ = writeln!(
                out,
                "  {}",
                s.dim(&format!(
                    "runs {}{off}, deployed by {} {} ago",
                    short(&d.sha),
                    clean(&d.by),
                    format_age(now.millis_since(d.at))
                ))
            );
        }
        if e.waiting.is_empty() {
            continue;
        }
        // sha, subject, author, age, pull request: the subject gives way.
        const AUTHOR: usize = 14;
        let prs: Vec<String> = e
            .waiting
            .iter()
            .map(|w| w.pull_request.map(|n| format!("#{n}")).unwrap_or_default())
            .collect();
        let pr_w = prs.iter().map(|p| p.len()).max().unwrap_or(0);
        let subjects: Vec<&str> = e
            .waiting
            .iter()
            .map(|w| without_pull_request(&w.commit.subject, w.pull_request))
            .collect();
        let natural = subjects
            .iter()
            .map(|t| crate::cli::width::of(&clean(t)))
            .max()
            .unwrap_or(0);
        let fixed = 2 + 7 + 1 + 1 + AUTHOR + 1 + 6 + if pr_w > 0 { 2 + pr_w } else { 0 };
        let subject_w = flexible(s, fixed, 10, natural);
        for ((w, subject), pr) in e.waiting.iter().zip(&subjects).zip(&prs) {
            let mut line = format!(
                "  {} {} {} {}",
                s.yellow(w.commit.short()),
                truncate(subject, subject_w),
                s.dim(&truncate(&w.commit.author, AUTHOR)),
                crate::cli::width::pad_left(&format_age(w.waited_ms), 6),
            );
            if pr_w > 0 {
                let _ = write!(line, "  {}", s.cyan(&crate::cli::width::pad(pr, pr_w)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let newer = e.undeployed.unwrap_or(0).saturating_sub(e.waiting.len());
        let with = match newer {
            0 => String::new(),
            1 => " (with 1 newer commit)".into(),
            n => format!(" (with {n} newer commits)"),
        };
        let _ = writeln!(
            out,
            "  {}",
            s.dim(&format!(
                "`git train deploy {}` ships them{with}",
                clean(&e.name)
            ))
        );
    }
    let digests: Vec<_> = st
        .environments
        .iter()
        .filter_map(|e| e.digest.as_ref().map(|d| (e, d)))
        .collect();
    if !digests.is_empty() || (st.waiting() == 0 && st.posting) {
        out.push('\n');
    }
    if st.waiting() == 0 && st.posting {
        out.push_str("nothing posted\n");
    }
    for (e, deliveries) in digests {
        let env = clean(&e.name);
        let of = |outcome: Delivered| -> Vec<String> {
            deliveries
                .iter()
                .filter(|d| d.outcome == outcome)
                .map(|d| clean(&d.channel).into_owned())
                .collect()
        };
        if deliveries.is_empty() {
            let _ = writeln!(
                out,
                "{env} has no channels: nothing posted (`[env.{env}] channels` in .train.toml)"
            );
        }
        let posted = of(Delivered::Posted);
        if !posted.is_empty() {
            let _ = writeln!(
                out,
                "{} posted the digest of {env} to {}",
                s.green("✓"),
                posted.join(", ")
            );
        }
        let already = of(Delivered::AlreadyPosted);
        if !already.is_empty() {
            let _ = writeln!(
                out,
                "{} {} got today's digest of {env} already: not posted again (--again posts it)",
                s.dim("·"),
                already.join(", ")
            );
        }
        let failed = of(Delivered::Failed);
        if !failed.is_empty() {
            let _ = writeln!(
                out,
                "{} could not post the digest of {env} to {}",
                s.red("✗"),
                failed.join(", ")
            );
        }
    }
    fit(s, out)
}

/// A subject without the `(#123)` its pull-request column shows.
fn without_pull_request(subject: &str, pr: Option<u64>) -> &str {
    let Some(n) = pr else {
        return subject;
    };
    subject
        .trim_end()
        .strip_suffix(&format!("(#{n})"))
        .map(str::trim_end)
        .filter(|rest| !rest.is_empty())
        .unwrap_or(subject)
}
