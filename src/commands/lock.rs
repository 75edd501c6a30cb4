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
    /// Hold it only this long (30m, 2h, 1d); then it blocks nothing and the next
    /// `lock` or `unlock` removes it. On a lock of yours: extend it to this long
    /// from now
    #[arg(long = "for", value_name = "DURATION", value_parser = super::flags::parse_duration)]
    pub hold_for: Option<std::time::Duration>,
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
    /// `taken`, `extended`, `already_yours`, `released`
    pub action: &'static str,
    pub lock: Held,
    /// The expired lock this one took the place of (or that `unlock` removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<Held>,
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
    if let Some(until) = held.until() {
        text.push_str(&format!(
            ", {} left",
            format_age(until.millis_since(ctx.now()))
        ));
    }
    if let Some(mismatch) = held.mismatch() {
        text.push_str(&format!("; {mismatch}"));
    }
    text
}

pub fn lock(ctx: &Context, args: &LockArgs, offline: bool) -> Result<LockOutcome> {
    let env = ctx.env(&args.env)?;
    if args.hold_for.is_some_and(|d| d.is_zero()) {
        return Err(
            Error::usage("--for needs a duration longer than 0").hint("e.g. --for 30m, --for 2h")
        );
    }
    let remote = shared_remote(ctx, offline, "taken")?;
    let reason = args.reason.clone().filter(|r| !r.trim().is_empty());
    let outcome = |action, lock, expired| LockOutcome {
        version: super::JSON_VERSION,
        env: env.to_string(),
        action,
        lock,
        expired,
        shared: remote.is_some(),
    };
    match ctx
        .ledger
        .lock(&env, reason, args.hold_for, remote.as_ref())?
    {
        Taken::Now { held, replaced } => {
            tell(ctx, &env, LockAction::Taken, &held.lock, None);
            Ok(outcome("taken", held, replaced))
        }
        Taken::Extended(held) => Ok(outcome("extended", held, None)),
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
            expired: None,
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
    // An expired lock blocks nothing: anyone removes it, and nothing is recorded.
    let expired = held.expired(ctx.now());
    let someone_else = held.lock.by != ctx.me() && !expired;
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
        expired: expired.then(|| held.clone()),
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
