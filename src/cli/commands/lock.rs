//! `git train lock` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{offline, show, sync_after, Cx};
use crate::commands::lock::{self, LockArgs, LockList, LockOutcome, LocksArgs, UnlockArgs};
use crate::error::Result;

pub fn lock(cx: &Cx, a: &LockArgs) -> Result<u8> {
    let ctx = cx.ctx;
    let done = lock::lock(
        ctx,
        &a.env,
        a.reason.clone(),
        offline(ctx, a.offline.offline),
    )?;
    sync_after(ctx, cx.forge, a.offline.offline);
    cx.said(a.output.json, &done, outcome);
    Ok(0)
}

pub fn unlock(cx: &Cx, a: &UnlockArgs) -> Result<u8> {
    let ctx = cx.ctx;
    let off = offline(ctx, a.offline.offline);
    let done = lock::unlock(ctx, &a.env, a.force, a.reason.clone(), off)?;
    sync_after(ctx, cx.forge, a.offline.offline);
    cx.said(a.output.json, &done, outcome);
    Ok(0)
}

pub fn list(cx: &Cx, a: &LocksArgs) -> Result<u8> {
    let list = lock::list(cx.ctx, offline(cx.ctx, a.offline.offline))?;
    show(a.output.json, &list, |v| render(&cx.style, v, cx.ctx.now()))?;
    Ok(0)
}

pub fn outcome(o: &LockOutcome) -> String {
    let scope = if o.shared { "" } else { ", local only" };
    match o.action {
        "taken" if o.shared => format!("locked {}\n", o.env),
        "taken" => format!("locked {} (local only)\n", o.env),
        "already_yours" if o.shared => format!("you already hold the lock on {}\n", o.env),
        "already_yours" => format!("you already hold the lock on {} (local only)\n", o.env),
        _ => format!(
            "unlocked {} (was locked by {}{scope})\n",
            o.env,
            clean(&o.lock.lock.by)
        ),
    }
}

pub fn render(s: &Style, l: &LockList, now: Timestamp) -> String {
    let synced = l
        .synced
        .as_ref()
        .map(|f| format!("{}\n", freshness(s, f, now)))
        .unwrap_or_default();
    if l.locks.is_empty() {
        return format!("no locks\n{synced}");
    }
    let mut out = String::new();
    for h in &l.locks {
        let age = h
            .since()
            .map(|t| format_age(now.millis_since(t)))
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            out,
            "{} locked by {} for {age}{}{}",
            s.cyan(&clean(&h.lock.env)),
            clean(&h.lock.by),
            h.lock
                .reason
                .as_deref()
                .map(|r| format!(": {}", clean(r)))
                .unwrap_or_default(),
            h.mismatch()
                .map(|m| format!(" ({})", s.yellow(&clean(&m))))
                .unwrap_or_default()
        );
    }
    out.push_str(&synced);
    out
}
