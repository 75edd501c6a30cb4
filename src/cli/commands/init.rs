//! `git train init` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::Cx;
use crate::commands::init::{self, Args, Initialized};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let done = init::run(cx.ctx, a)?;
    for w in &done.warnings {
        cx.ctx.ui.warn(w);
    }
    // The first sync: the team's ledger, so status and git log show it at once.
    if !a.uninstall {
        if let Err(e) = crate::commands::sync::around(cx.ctx, cx.forge, false) {
            cx.ctx.ui.warn(&format!(
                "could not sync the ledger yet: {}; run `git train sync` later",
                e.message
            ));
        }
    }
    cx.said(a.output.json, &done, render);
    Ok(0)
}

pub fn render(i: &Initialized) -> String {
    let mut out = String::new();
    if i.changed.is_empty() {
        if i.uninstalled {
            out.push_str("git-train is not set up in this repository: nothing to take out\n");
        } else {
            let hooks: Vec<String> = i
                .hooks
                .iter()
                .filter(|h| h.action == crate::hooks::Action::Unchanged)
                .map(|h| format!("{} hook: {}", h.name, h.path))
                .collect();
            let also = if hooks.is_empty() {
                String::new()
            } else {
                format!(" ({})", hooks.join(", "))
            };
            let _ = writeln!(
                out,
                "git-train is already set up in this repository{also}; nothing changed"
            );
        }
    }
    for c in &i.changed {
        let _ = writeln!(out, "{c}");
    }
    out
}
