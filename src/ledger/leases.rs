//! Deploy leases: one deployment per environment at a time, across clones.
//!
//! `refs/train/leases/ENV` is a parentless commit whose message is the lease as JSON
//! (`env`, `dep`, `sha`, `by`, `at`, `host`, `pid`, `clone`). It is taken with the
//! same atomic mechanism as a lock: a push that expects the ref absent (of two clones
//! deploying at the same instant exactly one gets it), released at the deployment's
//! end with a delete that expects the lease it took, and taken over (a push that
//! expects the lease it read) only when its holder is provably gone: the ledger says
//! its deployment has ended, or it was taken in this clone and neither its process
//! nor the deployment's runner is alive. Without a remote the same ref lives in the
//! local repository, with the same compare-and-swap.

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::remote::{PushStatus, Remote};
use super::Ledger;
use crate::domain::{CommitId, EnvName, Timestamp};
use crate::error::{Error, Result};

pub const PREFIX: &str = "refs/train/leases/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub env: String,
    /// The deployment it is held for.
    pub dep: String,
    pub sha: String,
    pub by: String,
    pub at: String,
    /// Where it was taken: the host, the git-train process, the clone's git dir.
    pub host: String,
    pub pid: u32,
    pub clone: String,
}

/// A lease as found in a ref, and the lease commit (what a release must find).
#[derive(Clone, Debug, Serialize)]
pub struct HeldLease {
    #[serde(flatten)]
    pub lease: Lease,
    pub id: String,
}

impl HeldLease {
    pub fn since(&self) -> Option<Timestamp> {
        Timestamp::parse(&self.lease.at)
    }
}

/// What taking a lease found.
pub enum Leased {
    /// This process holds it now.
    Now(HeldLease),
    /// A deployment that is still under way holds it.
    Busy(HeldLease),
}

fn refname(env: &EnvName) -> String {
    format!("{PREFIX}{env}")
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates or
    // truncates within it.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if ok {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "unknown".into()
    }
}

fn read(repo: &Repository, env: &EnvName, oid: Oid) -> HeldLease {
    let lease = repo.find_commit(oid).ok().and_then(|c| {
        c.message()
            .and_then(|m| serde_json::from_str::<Lease>(m.trim()).ok())
    });
    HeldLease {
        lease: lease.unwrap_or_else(|| Lease {
            env: env.to_string(),
            dep: String::new(),
            sha: String::new(),
            by: "unknown".into(),
            at: String::new(),
            host: String::new(),
            pid: 0,
            clone: String::new(),
        }),
        id: oid.to_string(),
    }
}

fn get(repo: &Repository, env: &EnvName) -> Result<Option<HeldLease>> {
    match repo.refname_to_id(&refname(env)) {
        Ok(oid) => Ok(Some(read(repo, env, oid))),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Ledger {
    fn clone_id(&self) -> String {
        self.repo.git.commondir().display().to_string()
    }

    /// The lease on `env`, as the local refs know it (the last fetch's view).
    pub fn lease_of(&self, env: &EnvName) -> Result<Option<HeldLease>> {
        get(&self.repo.git, env)
    }

    /// Whether the holder of `held` is provably gone: its deployment has ended in
    /// the ledger, or it was taken in this clone and nothing that carries it lives.
    pub fn lease_gone(&self, held: &HeldLease) -> Result<bool> {
        let lease = &held.lease;
        if lease.dep.is_empty() {
            // Not a lease git-train wrote: nobody can say it is gone.
            return Ok(false);
        }
        if let Some(entry) = self.deployment_by_id(&lease.dep)? {
            if entry.state.is_final() {
                return Ok(true);
            }
        }
        if lease.host == hostname() && lease.clone == self.clone_id() {
            let runner = self.running_pid(&lease.dep);
            let alive =
                crate::interrupt::alive(lease.pid) || runner.is_some_and(crate::interrupt::alive);
            return Ok(!alive);
        }
        Ok(false)
    }

    /// Takes the lease on `env` for deployment `dep` of `sha`: on the remote when
    /// there is one, else locally. An existing lease is replaced only when its holder
    /// is gone, or when `take_over` is that very lease (`--force`).
    pub fn take_lease(
        &self,
        env: &EnvName,
        dep: &str,
        sha: CommitId,
        remote: Option<&Remote>,
        take_over: Option<&HeldLease>,
    ) -> Result<Leased> {
        let git = &self.repo.git;
        let name = refname(env);
        for attempt in 0..50u64 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(5 + attempt % 7 * 3));
            }
            if let Some(r) = remote {
                r.fetch(&[])?;
            }
            let existing = get(git, env)?;
            if let Some(held) = &existing {
                let forced = take_over.is_some_and(|t| t.id == held.id);
                if !forced && !self.lease_gone(held)? {
                    return Ok(Leased::Busy(held.clone()));
                }
            }
            let lease = Lease {
                env: env.to_string(),
                dep: dep.to_string(),
                sha: sha.to_string(),
                by: self.me.clone(),
                at: self.now().to_string(),
                host: hostname(),
                pid: std::process::id(),
                clone: self.clone_id(),
            };
            let message =
                serde_json::to_string(&lease).map_err(|e| Error::internal(e.to_string()))?;
            let tree = git.treebuilder(None)?.write()?;
            let tree = git.find_tree(tree)?;
            let sig = super::git::signature(git)?;
            let oid = git.commit(None, &sig, &sig, &format!("{message}\n"), &tree, &[])?;
            let expect = existing.as_ref().map(|h| h.id.clone()).unwrap_or_default();
            let taken = match remote {
                Some(r) => {
                    let status =
                        // No `+` on the refspec: it would make git ignore the lease
                        // (the expected value) and force the ref whatever it holds.
                        r.push(&[format!("{oid}:{name}")], &[format!("{name}:{expect}")])?;
                    match status.first() {
                        Some(PushStatus::Refused { reason, said }) => {
                            return Err(Error::refused(PushStatus::refusal(
                                &format!(
                                    "could not take the deploy lease on {env}: {} refused ({reason})",
                                    r.name
                                ),
                                said,
                            ))
                            .hint(format!(
                                "the server's hooks or permissions decide what {} accepts (refs/train/leases/*)",
                                r.name
                            )))
                        }
                        Some(PushStatus::Rejected(_)) => false,
                        _ => {
                            // Taken on the remote: mirror it here, waiting out another
                            // process of this clone that holds the ref's lock file
                            // this moment (a fetch of the leases).
                            let mut tries = 0;
                            while let Err(e) = git.reference(&name, oid, true, "git-train: lease") {
                                tries += 1;
                                if e.code() != git2::ErrorCode::Locked || tries > 100 {
                                    return Err(e.into());
                                }
                                std::thread::sleep(std::time::Duration::from_millis(5));
                            }
                            true
                        }
                    }
                }
                None => {
                    let old = match &existing {
                        Some(h) => Oid::from_str(&h.id)?,
                        None => Oid::zero(),
                    };
                    match git.reference_matching(&name, oid, true, old, "git-train: lease") {
                        Ok(_) => true,
                        // Another process took it, released it (NotFound: the
                        // expected lease is gone) or holds the ref's lock file.
                        Err(e)
                            if matches!(
                                e.code(),
                                git2::ErrorCode::Exists
                                    | git2::ErrorCode::Modified
                                    | git2::ErrorCode::NotFound
                                    | git2::ErrorCode::Locked
                            ) =>
                        {
                            false
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if taken {
                return Ok(Leased::Now(HeldLease {
                    lease,
                    id: oid.to_string(),
                }));
            }
            // Someone else moved it meanwhile: read it again.
        }
        Err(Error::refused(format!(
            "the deploy lease on {env} kept changing while it was taken"
        ))
        .hint("try again"))
    }

    /// Releases the lease on `env` if it is still the one held for `dep` (a lease: a
    /// lease taken meanwhile by someone else stays). Returns whether one was released.
    pub fn release_lease(&self, env: &EnvName, dep: &str, remote: Option<&Remote>) -> Result<bool> {
        let git = &self.repo.git;
        let name = refname(env);
        let Some(held) = get(git, env)? else {
            return Ok(false);
        };
        if held.lease.dep != dep {
            return Ok(false);
        }
        match remote {
            Some(r) => {
                let status = r.push(&[format!(":{name}")], &[format!("{name}:{}", held.id)])?;
                if !matches!(status.first(), Some(PushStatus::Done)) {
                    return Ok(false);
                }
                if let Ok(mut reference) = git.find_reference(&name) {
                    let _ = reference.delete();
                }
            }
            None => {
                let Ok(mut reference) = git.find_reference(&name) else {
                    return Ok(false);
                };
                if reference.target().map(|o| o.to_string()) != Some(held.id.clone()) {
                    return Ok(false);
                }
                // The ref's lock file may be held by a process reading to take it.
                let mut tries = 0;
                while let Err(e) = reference.delete() {
                    tries += 1;
                    match e.code() {
                        // Taken over or removed meanwhile: not ours to release.
                        git2::ErrorCode::NotFound | git2::ErrorCode::Modified => return Ok(false),
                        git2::ErrorCode::Locked if tries <= 100 => {}
                        _ => return Err(e.into()),
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
        Ok(true)
    }
}
