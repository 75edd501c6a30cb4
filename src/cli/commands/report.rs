//! `git train report` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::{offline, sync_after, Cx};
use crate::commands::report::{self, Args, Reported};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let r = report::run(cx.ctx, cx.forge, a)?;
    // Shared at once, as deploy shares the ledger: a CI status reported on the CI
    // machine gates deploys made from every other clone after their sync.
    if cx.ctx.remote().is_some() {
        sync_after(cx.ctx, cx.forge, offline(cx.ctx, a.offline.offline));
    }
    cx.said(a.output.json, &r, render);
    Ok(0)
}

pub fn render(r: &Reported) -> String {
    let verb = if r.posted { "posted" } else { "recorded" };
    let mut out = match &r.dep {
        Some(dep) => format!(
            "{verb} {} for deployment {dep} to {} ({})\n",
            r.state,
            clean(&r.name),
            short(&r.sha)
        ),
        None => format!(
            "{verb} {} {} on {}\n",
            clean(&r.name),
            r.state,
            short(&r.sha)
        ),
    };
    if r.posted && !r.recorded {
        let _ = writeln!(
            out,
            "  GitHub accepted it; commit {} is not in this clone, so nothing was written here (`git fetch` and `git train sync` bring it)",
            short(&r.sha)
        );
    }
    if r.truncated {
        out.push_str("  the description was cut to GitHub's 140 characters\n");
    }
    out
}
