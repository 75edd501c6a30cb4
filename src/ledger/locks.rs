//! Environment locks: `refs/train/locks/ENV`, a parentless commit whose message is
//! the lock as JSON. Taken and released on the remote atomically (a push that
//! expects the ref absent, a delete that expects the lock it read); without a remote,
//! the same refs in the local repository with the same compare-and-swap. A lock
//! released by force is recorded in `refs/notes/locks`, on the lock commit.

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::notes::{self, LOCKS};
use super::remote::{PushStatus, Remote};
use super::Ledger;
use crate::domain::{EnvName, Event, Fields, State, Timestamp};
use crate::error::{Error, Result};

pub const PREFIX: &str = "refs/train/locks/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub env: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: String,
    /// When it stops holding (`lock --for`); none: until it is released. Once
    /// past, it blocks nothing, and the next `lock` or `unlock` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A lock as found in a ref. The ref names the environment it locks: `lock.env` is
/// always the ref's, whatever the lock's record says.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    #[serde(flatten)]
    pub lock: Lock,
    /// The lock commit: what a release must still find to delete it.
    pub id: String,
    /// The environment the lock's record names, when it is not its ref's (copied
    /// from another ref, or written by hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_env: Option<String>,
}

impl Held {
    pub fn since(&self) -> Option<Timestamp> {
        Timestamp::parse(&self.lock.at)
    }

    /// When it stops holding, if it was taken `--for` a while.
    pub fn until(&self) -> Option<Timestamp> {
        self.lock.until.as_deref().and_then(Timestamp::parse)
    }

    /// Whether it has expired at `now`: then it blocks nothing.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.until().is_some_and(|until| until <= now)
    }

    /// The mismatch between ref and record, said for people.
    pub fn mismatch(&self) -> Option<String> {
        self.recorded_env
            .as_ref()
            .map(|recorded| format!("its lock record names {recorded}, not {}", self.lock.env))
    }
}

pub fn refname(env: &EnvName) -> String {
    format!("{PREFIX}{env}")
}

/// Makes the lock commit (not yet in any ref).
pub(super) fn make(repo: &Repository, lock: &Lock) -> Result<Oid> {
    let message =
        serde_json::to_string(lock).map_err(|e| crate::error::Error::internal(e.to_string()))?;
    let tree = repo.treebuilder(None)?.write()?;
    let tree = repo.find_tree(tree)?;
    let sig = super::git::signature(repo)?;
    Ok(repo.commit(None, &sig, &sig, &format!("{message}\n"), &tree, &[])?)
}

fn read(repo: &Repository, env: &str, oid: Oid) -> Held {
    let lock = repo.find_commit(oid).ok().and_then(|c| {
        c.message()
            .and_then(|m| serde_json::from_str::<Lock>(m.trim()).ok())
    });
    let mut lock = lock.unwrap_or_else(|| Lock {
        env: env.to_string(),
        by: "unknown".into(),
        reason: Some("the lock ref does not hold a git-train lock".into()),
        at: String::new(),
        until: None,
    });
    // The ref is the truth: it is what deploys check and what unlock deletes.
    let recorded_env = (lock.env != env).then(|| std::mem::replace(&mut lock.env, env.to_string()));
    Held {
        lock,
        id: oid.to_string(),
        recorded_env,
    }
}

/// The lock on one environment, as the local refs know it.
pub(super) fn get(repo: &Repository, env: &EnvName) -> Result<Option<Held>> {
    match repo.refname_to_id(&refname(env)) {
        Ok(oid) => Ok(Some(read(repo, env.as_str(), oid))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every lock the local refs know.
pub(super) fn all(repo: &Repository) -> Result<Vec<Held>> {
    let mut out = Vec::new();
    for (name, oid) in super::refs::under(repo, PREFIX)? {
        out.push(read(repo, &name[PREFIX.len()..], oid));
    }
    Ok(out)
}

/// Takes the lock in the local repository (no remote): sets the ref only if it holds
/// `expect` (None: only if it does not exist). Returns the lock found instead, if
/// any; Err(None) when the expected lock went away meanwhile.
pub(super) fn create(
    repo: &Repository,
    env: &EnvName,
    lock: Oid,
    expect: Option<&str>,
) -> Result<Result<(), Option<Held>>> {
    let old = match expect {
        Some(id) => Oid::from_str(id)?,
        None => Oid::zero(),
    };
    // The expected value checked under the ref's lock (see notes::swap).
    match repo.reference_matching(&refname(env), lock, true, old, "git-train: lock") {
        Ok(_) => Ok(Ok(())),
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::Exists | git2::ErrorCode::Modified | git2::ErrorCode::NotFound
            ) =>
        {
            Ok(Err(get(repo, env)?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Releases a local lock only if it is still the one read (`id`); false otherwise.
pub(super) fn delete(repo: &Repository, env: &EnvName, id: &str) -> Result<bool> {
    let Ok(mut r) = repo.find_reference(&refname(env)) else {
        return Ok(false);
    };
    if r.target().map(|o| o.to_string()).as_deref() != Some(id) {
        return Ok(false);
    }
    // libgit2 deletes only if the ref still holds the value it was read with.
    Ok(r.delete().is_ok())
}

/// Mirrors what the remote now holds after a push that took (Some) or released
/// (None) a lock, as the next fetch would.
pub(super) fn mirror(repo: &Repository, env: &EnvName, lock: Option<Oid>) -> Result<()> {
    match lock {
        Some(oid) => {
            repo.reference(&refname(env), oid, true, "git-train: lock")?;
        }
        None => {
            if let Ok(mut r) = repo.find_reference(&refname(env)) {
                let _ = r.delete();
            }
        }
    }
    Ok(())
}

/// What taking a lock found.
pub enum Taken {
    /// The lock is this process's now; `replaced` is the expired lock it took the
    /// place of.
    Now { held: Held, replaced: Option<Held> },
    /// This user's own lock, now held until a later time (`--for` again).
    Extended(Held),
    /// Someone holds it already (perhaps the same user, from before).
    Already(Held),
}

impl Ledger {
    /// Takes the lock on `env`, by this user, now: on the remote when there is one
    /// (a create-only push: of two people locking at once exactly one wins), else in
    /// the local refs.
    ///
    /// With `hold_for`, the lock expires after that long; taken again `--for` by its
    /// holder, it is extended. An expired lock is replaced with the same
    /// compare-and-swap (a push that expects the expired lock): of two clones
    /// replacing it at once exactly one gets it.
    pub fn lock(
        &self,
        env: &EnvName,
        reason: Option<String>,
        hold_for: Option<std::time::Duration>,
        remote: Option<&Remote>,
    ) -> Result<Taken> {
        if let Some(remote) = remote {
            self.fetch(remote)?;
        }
        let git = &self.repo.git;
        let now = self.now();
        let until = hold_for.map(|d| {
            now.plus_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
                .to_string()
        });
        let existing = get(git, env)?;
        let (lock, replaced, extended) = match existing {
            None => (None, None, false),
            Some(held) if held.expired(now) => (None, Some(held), false),
            Some(held) if held.lock.by == self.me && until.is_some() => {
                let mut lock = held.lock.clone();
                lock.until = until.clone();
                if reason.is_some() {
                    lock.reason = reason.clone();
                }
                (Some(lock), Some(held), true)
            }
            Some(held) => return Ok(Taken::Already(held)),
        };
        let lock = lock.unwrap_or_else(|| Lock {
            env: env.to_string(),
            by: self.me.clone(),
            reason,
            at: now.to_string(),
            until,
        });
        let oid = make(git, &lock)?;
        let refname = refname(env);
        let expect = replaced.as_ref().map(|h| h.id.clone());
        match remote {
            Some(r) => {
                // Create-only ("expect absent"), or replace exactly the lock read. No
                // `+` on the refspec: git would then ignore the expected value.
                let status = r.push(
                    &[format!("{oid}:{refname}")],
                    &[format!("{refname}:{}", expect.as_deref().unwrap_or(""))],
                )?;
                if let Some(refusal @ (PushStatus::Rejected(_) | PushStatus::Refused { .. })) =
                    status.first()
                {
                    self.fetch(r)?;
                    return match (get(git, env)?, refusal) {
                        (Some(held), _) => Ok(Taken::Already(held)),
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
                mirror(git, env, Some(oid))?;
            }
            None => {
                if let Err(found) = create(git, env, oid, expect.as_deref())? {
                    return match found {
                        Some(held) => Ok(Taken::Already(held)),
                        None => Err(Error::refused(format!(
                            "could not lock {env}: the lock changed while it was taken"
                        ))
                        .hint("try again")),
                    };
                }
            }
        }
        let held = Held {
            lock,
            id: oid.to_string(),
            recorded_env: None,
        };
        Ok(if extended {
            Taken::Extended(held)
        } else {
            Taken::Now { held, replaced }
        })
    }

    /// Releases `held`, the lock read on `env`, only if it is still the one there (a
    /// lease): a new lock taken meanwhile stays. `forced` is why someone else's lock
    /// is released; it is recorded.
    pub fn release(
        &self,
        env: &EnvName,
        held: &Held,
        forced: Option<String>,
        remote: Option<&Remote>,
    ) -> Result<()> {
        let git = &self.repo.git;
        let refname = refname(env);
        let changed = || {
            Error::refused(format!("the lock on {env} changed since it was read"))
                .hint("look again with `git train locks`")
        };
        match remote {
            Some(r) => {
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
                mirror(git, env, None)?;
            }
            None => {
                if !delete(git, env, &held.id)? {
                    return Err(changed());
                }
            }
        }
        if let Some(reason) = forced {
            let event = Event {
                at: self.now(),
                subject: env.to_string(),
                state: State::Inactive,
                by: self.me.clone(),
                fields: Fields {
                    desc: Some(format!(
                        "released by force the lock of {} taken {}",
                        held.lock.by, held.lock.at
                    )),
                    forced: Some(reason),
                    ..Fields::default()
                }
                .into_map(),
            };
            let lock_commit = Oid::from_str(&held.id)?;
            notes::append(
                &self.repo,
                LOCKS,
                lock_commit.into(),
                &[event.to_line()],
                "git-train: forced unlock",
            )?;
        }
        Ok(())
    }
}
