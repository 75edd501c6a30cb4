//! `git train lock ENV`, `unlock ENV`, `locks`.

use serde::Serialize;

use crate::context::Context;
use crate::domain::time::format_age;
use crate::domain::EnvName;
use crate::error::{Error, Result};
use crate::ledger::{Held, Lock, Remote, Taken};
use crate::notify::{self, LockAction};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LockArgs {
    /// The environment to lock
    pub env: String,
    /// Why, shown to whoever tries to deploy
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct UnlockArgs {
    /// The environment to unlock
    pub env: String,
    /// Release someone else's lock; recorded in refs/notes/locks
    #[arg(long)]
    pub force: bool,
    /// Why a lock is released by force
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct LocksArgs {
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

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
    /// When the ledger was last synced with the remote (none without a remote).
    pub synced: Option<super::Freshness>,
    pub locks: Vec<Held>,
}

fn remote(ctx: &Context, offline: bool) -> Option<Remote> {
    if offline {
        return None;
    }
    ctx.remote()
}

/// Locks live on the remote when there is one: taking or releasing one offline
/// would be undone by the next fetch.
fn shared_remote(ctx: &Context, offline: bool, verb: &str) -> Result<Option<Remote>> {
    let name = ctx.config.remote_name();
    match ctx.remote() {
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
    let reason = reason.filter(|r| !r.trim().is_empty());
    match ctx.ledger.lock(&env, reason, remote.as_ref())? {
        Taken::Now(held) => {
            tell(ctx, &env, LockAction::Taken, &held.lock, None);
            Ok(LockOutcome {
                version: super::JSON_VERSION,
                env: env.to_string(),
                action: "taken",
                lock: held,
                shared: remote.is_some(),
            })
        }
        Taken::Already(held) => already_locked(ctx, &env, held, remote.is_some()),
    }
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
        ctx.ledger.fetch(remote)?;
    }
    let Some(held) = ctx.ledger.lock_of(&env)? else {
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
    let forced = someone_else.then(|| reason.unwrap_or_else(|| "unlock --force".into()));
    ctx.ledger
        .release(&env, &held, forced.clone(), remote.as_ref())?;
    tell(ctx, &env, LockAction::Released, &held.lock, forced);
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
        ctx.ledger.fetch(&remote)?;
    }
    Ok(LockList {
        version: super::JSON_VERSION,
        synced: super::freshness(ctx),
        locks: ctx.ledger.locks()?,
    })
}

/// Tells the team channels who took or released a lock.
fn tell(ctx: &Context, env: &EnvName, action: LockAction, lock: &Lock, forced: Option<String>) {
    ctx.tell(|| {
        Ok(Some(notify::Event::Lock(notify::LockChanged {
            repository: notify::recorded::repository(ctx),
            environment: env.to_string(),
            action,
            by: ctx.me().to_string(),
            holder: lock.by.clone(),
            reason: lock.reason.clone(),
            forced,
            at: ctx.now(),
        })))
    });
}
