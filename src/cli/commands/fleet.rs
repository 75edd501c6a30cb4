//! `status --all`, `history --all` and `sync --all`: across the watch list, with no
//! repository of their own.

use std::fmt::Write;

use crate::cli::args::Cli;
use crate::cli::render::*;
use crate::cli::ui::{Style, TermUi};
use crate::cli::{show, tell_result};
use crate::commands::fleet::{self, AllHistory, AllStatus, AllSynced};
use crate::context::Ui;
use crate::error::Result;

fn ui(cli: &Cli) -> impl Fn() -> Box<dyn Ui> + '_ {
    move || Box::new(TermUi::new(true, cli.color)) as Box<dyn Ui>
}

pub fn status(cli: &Cli, style: Style, a: &crate::commands::status::Args) -> Result<u8> {
    let all = fleet::status_all(a.env.as_deref(), &ui(cli))?;
    show(a.output.json, &all, |v| {
        status_all(&style, v, crate::context::now())
    })?;
    Ok(0)
}

pub fn history(cli: &Cli, style: Style, a: &crate::commands::history::Args) -> Result<u8> {
    let all = fleet::history_all(a.env.as_deref(), a.count, &ui(cli))?;
    show(a.output.json, &all, |v| history_all(&style, v))?;
    Ok(0)
}

pub fn sync(cli: &Cli, a: &crate::commands::sync::Args) -> Result<u8> {
    let all = fleet::sync_all(&ui(cli))?;
    tell_result(a.output.json, &all, synced_all);
    // Every repository was tried; one that failed makes the whole a failure.
    Ok(if all.repositories.iter().all(|r| r.ok) {
        0
    } else {
        1
    })
}

/// `status --all`: a block per repository, a line per environment.
pub fn status_all(s: &Style, all: &AllStatus, now: Timestamp) -> String {
    let mut out = String::new();
    if all.repositories.is_empty() {
        return "the watch list is empty: `git train watch PATH` adds a repository\n".into();
    }
    for (i, r) in all.repositories.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let head = match (&r.error, &r.trunk) {
            (Some(e), _) => format!("{}  {}", s.bold(&clean(&r.name)), s.red(&clean(e))),
            (None, Some(t)) => {
                let synced = r
                    .synced
                    .as_ref()
                    .map(|f| format!("  {}", freshness(s, f, now)))
                    .unwrap_or_default();
                format!("{}  {}{synced}", s.bold(&clean(&r.name)), s.dim(&clean(t)))
            }
            (None, None) => s.bold(&clean(&r.name)),
        };
        let _ = writeln!(out, "{head}");
        if r.error.is_none() && r.environments.is_empty() {
            let _ = writeln!(out, "  {}", s.dim("never deployed"));
        }
        let width = r
            .environments
            .iter()
            .map(|e| crate::cli::width::of(&clean(&e.env.name)))
            .max()
            .unwrap_or(0);
        for e in &r.environments {
            let env = &e.env;
            let mut line = format!("  {}", s.cyan(&truncate(&env.name, width)));
            match &env.deployed {
                None => line.push_str(&format!("  {}", s.dim("never deployed"))),
                Some(d) => {
                    line.push_str(&format!("  {}", s.yellow(short(&d.sha))));
                    match (env.behind, env.behind_more) {
                        (Some(0), _) => line.push_str(&format!("  {}", s.green("up to date"))),
                        (Some(n), more) => {
                            let oldest = env
                                .oldest_undeployed_at
                                .map(|t| format!(", oldest {}", format_age(now.millis_since(t))))
                                .unwrap_or_default();
                            line.push_str(&format!(
                                "  {}",
                                s.yellow(&format!(
                                    "{n}{} behind{oldest}",
                                    if more { "+" } else { "" }
                                ))
                            ));
                        }
                        (None, _) => {}
                    }
                }
            }
            if let Some(dep) = &env.in_progress {
                line.push_str(&format!("  {}", s.yellow(&format!("deploying ({dep})"))));
            }
            if let Some(f) = &e.failed {
                let why = f
                    .desc
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!(
                        "last deployment {} {}{why}",
                        short(&f.sha),
                        f.state
                    )))
                ));
            }
            if let Some(lock) = env.lock.as_ref().filter(|l| !l.expired(now)) {
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!("locked by {}", lock.lock.by)))
                ));
            }
            if let Some(f) = &env.frozen {
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!("frozen until {}", f.until_local)))
                ));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    fit(s, out)
}

/// `history --all`: `history` with the repository first on each line.
pub fn history_all(s: &Style, h: &AllHistory) -> String {
    let mut out = String::new();
    let name_w = h
        .deployments
        .iter()
        .map(|d| crate::cli::width::of(&clean(&d.repository)))
        .max()
        .unwrap_or(0);
    for d in &h.deployments {
        let i = &d.item;
        let took = i
            .duration_s
            .map(|secs| format_age(secs * 1000))
            .unwrap_or_else(|| "-".into());
        let mut line = format!(
            "{} {} {} {} {} {} {} {}",
            s.dim(&when(i.started_at)),
            s.bold(&truncate(&d.repository, name_w)),
            s.cyan(&clean(&i.env)),
            s.yellow(short(&i.sha)),
            state(s, i.state),
            crate::cli::width::pad_left(&took, 6),
            clean(&i.by),
            clean(&i.subject)
        );
        if i.rollback {
            line.push_str(&format!("  {}", s.yellow("rollback")));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if h.deployments.is_empty() {
        out.push_str("no deployments yet\n");
    }
    for u in &h.unreadable {
        let _ = writeln!(
            out,
            "{}",
            s.red(&clean(&format!("{}: not read: {}", u.repository, u.error)))
        );
    }
    fit(s, out)
}

/// `sync --all`: a line per repository.
pub fn synced_all(all: &AllSynced) -> String {
    let mut out = String::new();
    for r in &all.repositories {
        let mark = if r.ok { "✓" } else { "✗" };
        let _ = writeln!(out, "{mark} {}: {}", clean(&r.name), clean(&r.message));
    }
    if all.repositories.is_empty() {
        out.push_str("the watch list is empty: `git train watch PATH` adds a repository\n");
    }
    out
}
