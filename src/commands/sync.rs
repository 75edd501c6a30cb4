//! `git train sync`: fetch the remote's ledgers and locks, merge the ledgers by
//! sorted union of lines, push without force; on a rejected push, again.

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Kind, Result};
use crate::forge::Forge;
use crate::ledger::index;
use crate::ledger::remote::{PushStatus, Remote};
use crate::ledger::{self, Merged};

/// The notes refs shared through the remote: `refs/notes/NAME`.
pub const LEDGERS: [&str; 3] = ["deploys", "ci", "locks"];

/// Rounds of fetch, merge, push before giving up on a remote that keeps moving.
const ROUNDS: u32 = 12;

#[derive(Serialize)]
pub struct Synced {
    pub version: u32,
    /// The git remote, if the repository has it.
    pub remote: Option<String>,
    /// What the forge brought in (GitHub: deployments made elsewhere).
    pub imported: Option<crate::forge::Imported>,
    pub ledgers: Vec<LedgerSync>,
    /// Fetch-merge-push rounds it took (more than 1: someone pushed in between).
    pub rounds: u32,
    pub locks: usize,
}

#[derive(Serialize)]
pub struct LedgerSync {
    pub name: String,
    pub merged: Option<Merged>,
    pub pushed: bool,
    /// Why the remote's copy was left alone (it is not a ledger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `git train sync`: imports from the forge, then shares the ledger through the
/// remote. Without a remote (and nothing to import) it is an error.
pub fn run(ctx: &Context, forge: &dyn Forge) -> Result<Synced> {
    let imported = forge.import(ctx)?;
    let name = ctx.config.remote_name();
    match Remote::of(ctx) {
        Some(remote) => sync(ctx, &remote).map(|s| Synced { imported, ..s }),
        None if imported.is_some() => Ok(Synced {
            version: super::JSON_VERSION,
            remote: None,
            imported,
            ledgers: Vec::new(),
            rounds: 0,
            locks: crate::ledger::locks::all(&ctx.repo().git)
                .map(|l| l.len())
                .unwrap_or(0),
        }),
        None => Err(Error::usage(format!(
            "no remote '{name}': the ledger stays in this repository"
        ))
        .hint(
            "add the team's remote (`git remote add origin URL`), or set `remote` in .train.toml",
        )),
    }
}

/// The sync around `deploy`, `lock` and friends: none offline; the forge's import
/// and the remote's ledger where there are.
pub fn around(ctx: &Context, forge: &dyn Forge, offline: bool) -> Result<Option<Synced>> {
    if offline {
        return Ok(None);
    }
    let imported = forge.import(ctx)?;
    match Remote::of(ctx) {
        Some(remote) => match sync(ctx, &remote) {
            Ok(s) => Ok(Some(Synced { imported, ..s })),
            // Fetched and merged, but others kept pushing first, or the server
            // refused the push: the local view is fresh, and the events wait in the
            // local ledger for the next sync. Not a reason to stop.
            Err(e) if e.kind == Kind::Refused => {
                ctx.ui.warn(&e.message);
                Ok(None)
            }
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

pub fn sync(ctx: &Context, remote: &Remote) -> Result<Synced> {
    // One sync at a time per repository: two fetches would race on the same refs.
    std::fs::create_dir_all(ctx.repo().train_dir())?;
    let _lock = crate::ledger::lockfile::LockFile::acquire(
        &ctx.repo().train_dir().join("sync.lock"),
        std::time::Duration::from_secs(300),
    )?;
    let git = &ctx.repo().git;
    let mut ledgers: Vec<LedgerSync> = LEDGERS
        .iter()
        .map(|n| LedgerSync {
            name: n.to_string(),
            merged: None,
            pushed: false,
            problem: None,
        })
        .collect();
    for round in 1..=ROUNDS {
        ctx.ui
            .progress(&format!("syncing the ledger with {}…", remote.name));
        remote.fetch(&LEDGERS)?;
        let mut refspecs = Vec::new();
        for state in ledgers.iter_mut() {
            let local = format!("refs/notes/{}", state.name);
            let tracking = remote.tracking(&state.name);
            let theirs = git.refname_to_id(&tracking).ok();
            if let Some(why) = theirs.and_then(|t| ledger::not_a_ledger(git, t)) {
                // Someone pushed something else there: merging it would fail (or
                // drag a branch's history into the ledger), and pushing over it
                // would be refused. This clone's ledger goes on as it is.
                if state.problem.is_none() {
                    ctx.ui.warn(&format!(
                        "{}'s {local} is {why}, not a git-train ledger: not merged, and this clone's ledger stays local; restore it from a clone with a good ledger (`git push --force {} {local}`)",
                        remote.name, remote.name
                    ));
                    state.problem = Some(format!("{}'s {local} is {why}", remote.name));
                }
                continue;
            }
            if let Some(theirs) = theirs {
                let m = ledger::merge(
                    git,
                    &local,
                    theirs,
                    &format!("git-train: merge {} from {}", state.name, remote.name),
                )?;
                if state.merged.is_none() || m != Merged::UpToDate {
                    state.merged = Some(m);
                }
            }
            let ours = git.refname_to_id(&local).ok();
            if ours.is_some() && ours != theirs {
                refspecs.push(format!("{local}:{local}"));
            }
        }
        index::catch_up(ctx.repo(), ctx.clock)?;
        if refspecs.is_empty() {
            ctx.ui.done();
            return Ok(done(ctx, remote, ledgers, round));
        }
        let statuses = remote.push(&refspecs, &[])?;
        let mut rejected = false;
        let mut refused = Vec::new();
        let mut said = Vec::new();
        for (spec, status) in refspecs.iter().zip(&statuses) {
            let name = spec
                .trim_start_matches("refs/notes/")
                .split(':')
                .next()
                .unwrap_or("");
            match status {
                PushStatus::Done => {
                    if let Some(state) = ledgers.iter_mut().find(|l| l.name == name) {
                        state.pushed = true;
                    }
                    // Remember what the remote has now, as a fetch would.
                    if let Ok(oid) = git.refname_to_id(&format!("refs/notes/{name}")) {
                        git.reference(&remote.tracking(name), oid, true, "git-train: pushed")?;
                    }
                }
                PushStatus::Rejected(_) => rejected = true,
                PushStatus::Refused {
                    reason,
                    said: lines,
                } => {
                    refused.push(format!("refs/notes/{name} ({reason})"));
                    said = lines.clone();
                }
            }
        }
        if !refused.is_empty() {
            // The server said no: asking again will not change its mind.
            ctx.ui.done();
            return Err(Error::refused(PushStatus::refusal(
                &format!("{} refused the push of {}", remote.name, refused.join(", ")),
                &said,
            ))
            .hint(format!(
                "nothing is lost: the events stay in this clone's ledger; the server's hooks or permissions decide what {} accepts",
                remote.name
            )));
        }
        if !rejected {
            ctx.ui.done();
            return Ok(done(ctx, remote, ledgers, round));
        }
        // Someone pushed first: fetch, merge and push again, after a short pause.
        std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(round)));
    }
    ctx.ui.done();
    Err(Error::new(
        Kind::Refused,
        format!(
            "{} kept moving: the ledger was not pushed after {ROUNDS} rounds",
            remote.name
        ),
    )
    .hint("nothing is lost locally; run `git train sync` again"))
}

fn done(ctx: &Context, remote: &Remote, ledgers: Vec<LedgerSync>, rounds: u32) -> Synced {
    Synced {
        version: super::JSON_VERSION,
        remote: Some(remote.name.clone()),
        imported: None,
        ledgers,
        rounds,
        locks: crate::ledger::locks::all(&ctx.repo().git)
            .map(|l| l.len())
            .unwrap_or(0),
    }
}
