//! Environment locks: `refs/train/locks/ENV`, a parentless commit whose message is
//! the lock as JSON. Taken and released on the remote atomically (a push that
//! expects the ref absent, a delete that expects the lock it read); without a remote,
//! the same refs in the local repository with the same compare-and-swap.

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use crate::domain::{EnvName, Timestamp};
use crate::error::Result;

pub const PREFIX: &str = "refs/train/locks/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub env: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: String,
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
pub fn make(repo: &Repository, lock: &Lock) -> Result<Oid> {
    let message =
        serde_json::to_string(lock).map_err(|e| crate::error::Error::internal(e.to_string()))?;
    let tree = repo.treebuilder(None)?.write()?;
    let tree = repo.find_tree(tree)?;
    let sig = crate::ledger::repo::signature(repo)?;
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
pub fn get(repo: &Repository, env: &EnvName) -> Result<Option<Held>> {
    match repo.refname_to_id(&refname(env)) {
        Ok(oid) => Ok(Some(read(repo, env.as_str(), oid))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every lock the local refs know.
pub fn all(repo: &Repository) -> Result<Vec<Held>> {
    let mut out = Vec::new();
    for r in repo.references_glob(&format!("{PREFIX}*"))? {
        let r = r?;
        if let (Some(name), Some(oid)) = (r.name(), r.target()) {
            out.push(read(repo, &name[PREFIX.len()..], oid));
        }
    }
    Ok(out)
}

/// Takes the lock in the local repository (no remote): creates the ref only if it
/// does not exist. Returns the lock already there, if any.
pub fn create(repo: &Repository, env: &EnvName, lock: Oid) -> Result<Option<Held>> {
    match repo.reference(&refname(env), lock, false, "git-train: lock") {
        Ok(_) => Ok(None),
        Err(e) if e.code() == git2::ErrorCode::Exists => Ok(get(repo, env)?),
        Err(e) => Err(e.into()),
    }
}

/// Releases a local lock only if it is still the one read (`id`); false otherwise.
pub fn delete(repo: &Repository, env: &EnvName, id: &str) -> Result<bool> {
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
pub fn mirror(repo: &Repository, env: &EnvName, lock: Option<Oid>) -> Result<()> {
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
