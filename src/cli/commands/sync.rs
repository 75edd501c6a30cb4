//! `git train sync` on the command line: run it, show what it returns.

use crate::cli::Cx;
use crate::commands::sync::{self, Args, Synced};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let synced = sync::run(cx.ctx, cx.forge)?;
    cx.said(a.output.json, &synced, render);
    Ok(0)
}

pub fn render(s: &Synced) -> String {
    let mut parts = Vec::new();
    for l in &s.ledgers {
        let merged = match l.merged {
            Some(crate::ledger::Merged::Merged) => "merged",
            Some(crate::ledger::Merged::FastForward) => "fast-forwarded",
            _ => "up to date",
        };
        let pushed = if l.pushed { ", pushed" } else { "" };
        parts.push(format!("{} {merged}{pushed}", l.name));
    }
    let mut out = match &s.remote {
        Some(remote) => format!(
            "synced with {remote}: {}; {}\n",
            parts.join(", "),
            match s.locks {
                0 => "no locks".to_string(),
                1 => "1 lock".to_string(),
                n => format!("{n} locks"),
            }
        ),
        None => String::new(),
    };
    if let Some(i) = &s.imported {
        out.push_str(&format!(
            "GitHub: {} imported, {} under way refreshed\n",
            match i.deployments {
                1 => "1 deployment".to_string(),
                n => format!("{n} deployments"),
            },
            i.refreshed
        ));
    }
    out
}
