//! `git train lock` on the command line: run it, show what it returns.

use std::fmt::Write;

use crate::cli::render::*;
use crate::cli::ui::Style;
use crate::cli::{offline, show, sync_after, Cx};
use crate::commands::lock::{self, LockArgs, LockList, LockOutcome, LocksArgs, UnlockArgs};
use crate::error::Result;

pub fn lock(cx: &Cx, a: &LockArgs) -> Result<u8> {
    let ctx = cx.ctx;
    let done = lock::lock(ctx, a, offline(ctx, a.offline.offline))?;
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
    let scope = if o.shared { "" } else { " (local only)" };
    let env = clean(&o.env);
    let until = o
        .lock
        .until()
        .map(|u| format!(" until {}", when(u)))
        .unwrap_or_default();
    let expired = o
        .expired
        .as_ref()
        .map(|h| format!("; the expired lock of {} is gone", clean(&h.lock.by)))
        .unwrap_or_default();
    match o.action {
        "taken" => format!("locked {env}{until}{scope}{expired}\n"),
        "extended" => format!("your lock on {env} now holds{until}{scope}\n"),
        "already_yours" => format!("you already hold the lock on {env}{until}{scope}\n"),
        _ if o.expired.is_some() => format!(
            "removed the expired lock of {} on {env}{scope}\n",
            clean(&o.lock.lock.by)
        ),
        _ => format!(
            "unlocked {env} (was locked by {}{})\n",
            clean(&o.lock.lock.by),
            if o.shared { "" } else { ", local only" }
        ),
    }
}

/// How long a lock has left, or that it has expired, for people.
pub fn time_left(h: &crate::ledger::Held, now: Timestamp) -> Option<String> {
    let until = h.until()?;
    Some(if until <= now {
        format!("expired {} ago", format_age(now.millis_since(until)))
    } else {
        format!("{} left", format_age(until.millis_since(now)))
    })
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
        if h.expired(now) {
            let _ = writeln!(
                out,
                "{} {}",
                s.cyan(&clean(&h.lock.env)),
                s.dim(&format!(
                    "lock of {} {}: blocks nothing; the next lock or unlock removes it",
                    clean(&h.lock.by),
                    time_left(h, now).unwrap_or_default()
                ))
            );
            continue;
        }
        let left = time_left(h, now)
            .map(|t| format!(", {t}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} locked by {} for {age}{left}{}{}",
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
