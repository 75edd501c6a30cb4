//! `git train lock ENV`, `unlock ENV`, `locks`.

use serde::Serialize;

use crate::context::Context;
use crate::domain::time::format_age;
use crate::domain::{EnvName, Event, Fields, State};
use crate::error::{Error, Result};
use crate::ledger;
use crate::ledger::locks::{self, Held, Lock};
use crate::ledger::remote::{PushStatus, Remote};

#[derive(Serialize)]
pub struct LockOutcome {
    pub version: u32,
    pub env: String,
    /// `taken`, `already_yours`, `released`
    pub action: &'static str,
    pub lock: Held,
    /// Whether the remote was involved (false: local only, or --offline).
    pub shared: bool,
}

#[derive(Serialize)]
pub struct LockList {
    pub version: u32,
    pub locks: Vec<Held>,
}

fn remote(ctx: &Context, offline: bool) -> Option<Remote> {
    if offline {
        return None;
    }
    Remote::of(ctx)
}

/// Locks live on the remote when there is one: taking or releasing one offline
/// would be undone by the next fetch.
fn shared_remote(ctx: &Context, offline: bool, verb: &str) -> Result<Option<Remote>> {
    let name = ctx.config.remote_name();
    match Remote::of(ctx) {
        Some(_) if offline => Err(Error::usage(format!(
            "locks are shared through {name}; they cannot be {verb} offline"
        ))
        .hint("drop --offline")),
        found => Ok(found),
    }
}

/// Describes who holds a lock, for refusals.
pub fn describe(ctx: &Context, held: &Held) -> String {
    let mut text = format!("locked by {}", held.lock.by);
    if let Some(reason) = &held.lock.reason {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(since) = held.since() {
        text.push_str(&format!(
            " for {}",
            format_age(ctx.now().millis_since(since))
        ));
    }
    if let Some(mismatch) = held.mismatch() {
        text.push_str(&format!("; {mismatch}"));
    }
    text
}

pub fn lock(
    ctx: &Context,
    env: &str,
    reason: Option<String>,
    offline: bool,
) -> Result<LockOutcome> {
    let env = ctx.env(env)?;
    let remote = shared_remote(ctx, offline, "taken")?;
    if let Some(remote) = &remote {
        remote.fetch(&super::sync::LEDGERS)?;
    }
    if let Some(held) = locks::get(&ctx.repo().git, &env)? {
        return already_locked(ctx, &env, held, remote.is_some());
    }
    let lock = Lock {
        env: env.to_string(),
        by: ctx.me().to_string(),
        reason: reason.filter(|r| !r.trim().is_empty()),
        at: ctx.now().to_string(),
    };
    let git = &ctx.repo().git;
    let oid = locks::make(git, &lock)?;
    let refname = locks::refname(&env);
    match &remote {
        Some(r) => {
            // Create-only: the push carries "expect absent", so of two people locking
            // at once exactly one wins.
            let status = r.push(&[format!("{oid}:{refname}")], &[format!("{refname}:")])?;
            if let Some(refusal @ (PushStatus::Rejected(_) | PushStatus::Refused { .. })) =
                status.first()
            {
                r.fetch(&super::sync::LEDGERS)?;
                return match (locks::get(git, &env)?, refusal) {
                    (Some(held), _) => already_locked(ctx, &env, held, true),
                    (None, PushStatus::Refused { reason, said }) => {
                        Err(Error::refused(PushStatus::refusal(
                            &format!("could not lock {env}: {} refused ({reason})", r.name),
                            said,
                        ))
                        .hint(format!(
                            "the server's hooks or permissions decide what {} accepts",
                            r.name
                        )))
                    }
                    (None, _) => Err(Error::refused(format!(
                        "could not lock {env}: the lock changed while it was taken"
                    ))
                    .hint("try again")),
                };
            }
            locks::mirror(git, &env, Some(oid))?;
        }
        None => {
            if let Some(held) = locks::create(git, &env, oid)? {
                return already_locked(ctx, &env, held, false);
            }
        }
    }
    Ok(LockOutcome {
        version: super::JSON_VERSION,
        env: env.to_string(),
        action: "taken",
        lock: Held {
            lock,
            id: oid.to_string(),
            recorded_env: None,
        },
        shared: remote.is_some(),
    })
}

fn already_locked(ctx: &Context, env: &EnvName, held: Held, shared: bool) -> Result<LockOutcome> {
    if held.lock.by == ctx.me() {
        return Ok(LockOutcome {
            version: super::JSON_VERSION,
            env: env.to_string(),
            action: "already_yours",
            lock: held,
            shared,
        });
    }
    Err(
        Error::refused(format!("{env} is {}", describe(ctx, &held))).hint(format!(
            "ask {} to run `git train unlock {env}`",
            held.lock.by
        )),
    )
}

pub fn unlock(
    ctx: &Context,
    env: &str,
    force: bool,
    reason: Option<String>,
    offline: bool,
) -> Result<LockOutcome> {
    let env = ctx.env(env)?;
    let remote = shared_remote(ctx, offline, "released")?;
    if let Some(remote) = &remote {
        remote.fetch(&super::sync::LEDGERS)?;
    }
    let git = &ctx.repo().git;
    let Some(held) = locks::get(git, &env)? else {
        return Err(Error::refused(format!("{env} is not locked"))
            .hint("`git train locks` lists the locks"));
    };
    let someone_else = held.lock.by != ctx.me();
    if someone_else && !force {
        return Err(
            Error::refused(format!("{env} is {}, not by you", describe(ctx, &held))).hint(format!(
            "ask {} to unlock it, or release it with `git train unlock {env} --force` (recorded)",
            held.lock.by
        )),
        );
    }
    let refname = locks::refname(&env);
    let changed = || {
        Error::refused(format!("the lock on {env} changed since it was read"))
            .hint("look again with `git train locks`")
    };
    match &remote {
        Some(r) => {
            // Delete only the lock that was read (a lease): a new lock taken meanwhile stays.
            let status = r.push(
                &[format!(":{refname}")],
                &[format!("{refname}:{}", held.id)],
            )?;
            match status.first() {
                Some(PushStatus::Rejected(_)) => return Err(changed()),
                Some(PushStatus::Refused { reason, said }) => {
                    return Err(Error::refused(PushStatus::refusal(
                        &format!("could not unlock {env}: {} refused ({reason})", r.name),
                        said,
                    ))
                    .hint(format!(
                        "the server's hooks or permissions decide what {} accepts",
                        r.name
                    )))
                }
                _ => {}
            }
            locks::mirror(git, &env, None)?;
        }
        None => {
            if !locks::delete(git, &env, &held.id)? {
                return Err(changed());
            }
        }
    }
    if someone_else {
        let event = Event {
            at: ctx.now(),
            subject: env.to_string(),
            state: State::Inactive,
            by: ctx.me().to_string(),
            fields: Fields {
                desc: Some(format!(
                    "released by force the lock of {} taken {}",
                    held.lock.by, held.lock.at
                )),
                forced: Some(reason.unwrap_or_else(|| "unlock --force".into())),
                ..Fields::default()
            }
            .into_map(),
        };
        let lock_commit = git2::Oid::from_str(&held.id)?;
        ledger::append(
            git,
            "refs/notes/locks",
            lock_commit,
            &[event.to_line()],
            "git-train: forced unlock",
        )?;
    }
    Ok(LockOutcome {
        version: super::JSON_VERSION,
        env: env.to_string(),
        action: "released",
        lock: held,
        shared: remote.is_some(),
    })
}

pub fn list(ctx: &Context, offline: bool) -> Result<LockList> {
    if let Some(remote) = remote(ctx, offline) {
        remote.fetch(&super::sync::LEDGERS)?;
    }
    Ok(LockList {
        version: super::JSON_VERSION,
        locks: locks::all(&ctx.repo().git)?,
    })
}
