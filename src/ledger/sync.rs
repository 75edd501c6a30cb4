//! Sharing the ledger through the remote (DESIGN.md section 3): fetch the remote's
//! ledgers and locks, merge the ledgers by sorted union of lines, push without force;
//! on a rejected push, again.

use serde::Serialize;

use super::index;
use super::lockfile::LockFile;
use super::notes::{self, Merged};
use super::remote::{PushStatus, Remote};
use super::Ledger;
use crate::context::Ui;
use crate::error::{Error, Kind, Result};

/// The notes refs shared through the remote: `refs/notes/NAME`.
pub const LEDGERS: [&str; 3] = ["deploys", "ci", "locks"];

/// Rounds of fetch, merge, push before giving up on a remote that keeps moving.
const ROUNDS: u32 = 12;

#[derive(Serialize)]
pub struct LedgerSync {
    pub name: String,
    pub merged: Option<Merged>,
    pub pushed: bool,
    /// Why the remote's copy was left alone (it is not a ledger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// How a sync went.
pub struct Shared {
    pub ledgers: Vec<LedgerSync>,
    /// Fetch-merge-push rounds it took (more than 1: someone pushed in between).
    pub rounds: u32,
}

impl Ledger {
    /// Fetches the remote's ledgers into `refs/train/remotes/REMOTE/*` and its locks.
    pub fn fetch(&self, remote: &Remote) -> Result<()> {
        remote.fetch(&LEDGERS)
    }

    /// Shares the ledgers through the remote: rounds of fetch, merge and push until
    /// a push goes through (or the remote keeps moving, or refuses).
    pub fn sync(&self, remote: &Remote, ui: &dyn Ui) -> Result<Shared> {
        self.sync_also(remote, ui, &[])
    }

    /// `sync`, fetching the refspecs in `also` in the same fetch as the ledgers
    /// (trunk, before a deploy).
    pub fn sync_also(&self, remote: &Remote, ui: &dyn Ui, also: &[String]) -> Result<Shared> {
        // One sync at a time per repository: two fetches would race on the same refs.
        std::fs::create_dir_all(self.repo.train_dir())?;
        let _lock = LockFile::acquire(
            &self.repo.train_dir().join("sync.lock"),
            std::time::Duration::from_secs(300),
        )?;
        let git = &self.repo.git;
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
            ui.progress(&format!("syncing the ledger with {}…", remote.name));
            remote.fetch_also(&LEDGERS, also)?;
            let mut refspecs = Vec::new();
            for state in ledgers.iter_mut() {
                let local = format!("refs/notes/{}", state.name);
                let tracking = remote.tracking(&state.name);
                let theirs = git.refname_to_id(&tracking).ok();
                if let Some(why) = theirs.and_then(|t| notes::not_a_ledger(git, t)) {
                    // Someone pushed something else there: merging it would fail (or
                    // drag a branch's history into the ledger), and pushing over it
                    // would be refused. This clone's ledger goes on as it is.
                    if state.problem.is_none() {
                        ui.warn(&format!(
                            "{}'s {local} is {why}, not a git-train ledger: not merged, and this clone's ledger stays local; restore it from a clone with a good ledger (`git push --force {} {local}`)",
                            remote.name, remote.name
                        ));
                        state.problem = Some(format!("{}'s {local} is {why}", remote.name));
                    }
                    continue;
                }
                if let Some(theirs) = theirs {
                    let m = notes::merge(
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
            index::catch_up(&self.repo, self.clock)?;
            // What the remote had is in this clone now: the ledger is fresh.
            self.note_synced();
            if refspecs.is_empty() {
                ui.done();
                return Ok(Shared {
                    ledgers,
                    rounds: round,
                });
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
                ui.done();
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
                ui.done();
                return Ok(Shared {
                    ledgers,
                    rounds: round,
                });
            }
            // Someone pushed first: fetch, merge and push again, after a short pause.
            std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(round)));
        }
        ui.done();
        Err(Error::new(
            Kind::Refused,
            format!(
                "{} kept moving: the ledger was not pushed after {ROUNDS} rounds",
                remote.name
            ),
        )
        .hint("nothing is lost locally; run `git train sync` again"))
    }
}

impl Ledger {
    fn synced_path(&self) -> std::path::PathBuf {
        self.repo.train_dir().join("synced")
    }

    /// Notes the time of a sync whose fetch and merge went through
    /// (`.git/train/synced`); read commands say how fresh the ledger is.
    fn note_synced(&self) {
        let _ = std::fs::create_dir_all(self.repo.train_dir());
        let _ = crate::file::write_atomically(
            &self.synced_path(),
            format!("{}\n", self.now()).as_bytes(),
        );
    }

    /// When this clone last synced its ledger with the remote, if ever.
    pub fn last_synced(&self) -> Option<crate::domain::Timestamp> {
        let text = std::fs::read_to_string(self.synced_path()).ok()?;
        crate::domain::Timestamp::parse(text.trim())
    }

    /// Whether this clone has a deploy ledger at all (`refs/notes/deploys`).
    pub fn has_ledger(&self) -> bool {
        self.repo.git.refname_to_id(notes::DEPLOYS).is_ok()
    }
}
