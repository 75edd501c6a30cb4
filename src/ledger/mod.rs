//! The ledger: the one layer that touches git (DESIGN.md section 8). Notes and their
//! fan-out, the index of what runs where, locks, the remote, the repository itself.
//!
//! [`Ledger`] is the handle the rest of git-train holds (in its context): what it
//! records and reads goes through it. Its parts: `notes` (reading and writing notes,
//! the merge), `index` (what runs where, every deployment), `readers` (one notes ref
//! loaded for many commits), `locks` (environment locks and their protocol), `leases` (one deployment per
//! environment at a time),
//! `remote` and `sync` (sharing through the team's remote), `runs` (the deployments
//! this clone runs, and the reaper), `repo` (the repository itself), `lockfile`
//! (locks between processes), `git` (where libgit2's types meet git-train's),
//! `graph` (git's commit-graph file: ancestry without a merge-base walk), `refs`
//! (the refs under one prefix, without parsing all of packed-refs), `mmap` (files
//! they read in place), `pack` (objects read from the pack files), `commit_text`
//! (a commit's message and subject from its raw object).

mod batch;
mod behind;
pub mod commit_set;
mod commit_text;
mod git;
mod graph;
mod ids;
pub mod index;
pub mod leases;
pub mod lockfile;
pub mod locks;
mod mmap;
pub mod notes;
pub mod pack;
pub mod readers;
mod refs;
pub mod remote;
pub mod repo;
pub mod runs;
pub mod sync;
#[cfg(test)]
mod testing;

use std::path::Path;

use crate::clock::Clock;
use crate::domain::{CiSummary, CommitId, Deployment, EnvName, Event, Timestamp};
use crate::error::Result;

pub use index::{Entry, Future, IdAt, Index, Open, Shown, Snapshot};
pub use leases::{HeldLease, Lease, Leased};
pub use locks::{Held, Lock, Taken};
pub use notes::{
    append, append_many, cat_sort_uniq, cat_sort_uniq_bytes, parse_note, stop_writes, write,
    BadLine, LedgerError, Merged, Notes, Written, CI, DEPLOYS, LOCKS,
};
pub use readers::{Ci, Deployments};
pub use remote::{PushStatus, Remote};
pub use repo::Repo;
pub use runs::{new_id, Running};
pub use sync::{LedgerSync, LEDGERS};

/// The ledger of one repository, as one command (or one daemon round) sees it: the
/// repository, the clock that decides what counts as the future, and who is acting.
pub struct Ledger {
    repo: Repo,
    clock: Clock,
    /// Who the events and locks this process writes are by (`BY`): the git user.
    me: String,
}

impl Ledger {
    pub fn open(path: &Path, clock: Clock) -> Result<Ledger> {
        Ok(Ledger::new(Repo::open(path)?, clock))
    }

    /// The ledger of a repository already open.
    pub fn new(repo: Repo, clock: Clock) -> Ledger {
        Ledger {
            me: repo.identity(),
            repo,
            clock,
        }
    }

    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The acting user as recorded in `BY`: the git user email.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Records events on a commit's deploy note and brings the index up to date.
    pub fn record(&self, commit: CommitId, events: &[Event], what: &str) -> Result<()> {
        let lines: Vec<String> = events.iter().map(Event::to_line).collect();
        notes::append(&self.repo, DEPLOYS, commit, &lines, what)?;
        index::catch_up(&self.repo, self.clock)?;
        Ok(())
    }

    /// Records events on many commits as one ledger commit (imports).
    pub fn record_many(&self, batch: &[(CommitId, Vec<Event>)], what: &str) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let lines: Vec<(CommitId, Vec<String>)> = batch
            .iter()
            .map(|(c, events)| (*c, events.iter().map(Event::to_line).collect()))
            .collect();
        notes::append_many(&self.repo, DEPLOYS, &lines, what)?;
        index::catch_up(&self.repo, self.clock)?;
        Ok(())
    }

    /// Records commit statuses in the CI ledger.
    pub fn record_ci(&self, commit: CommitId, events: &[Event], what: &str) -> Result<()> {
        let lines: Vec<String> = events.iter().map(Event::to_line).collect();
        notes::append(&self.repo, CI, commit, &lines, what)?;
        Ok(())
    }

    /// What each environment runs and what is under way: the index's fast path.
    pub fn snapshot(&self) -> Result<Snapshot> {
        index::snapshot(&self.repo, self.clock)
    }

    /// Every deployment, oldest first, from the index brought up to date.
    pub fn index(&self) -> Result<Index> {
        index::refresh(&self.repo, self.clock)
    }

    /// Each environment's newest deployment, whatever its state: the environments the
    /// ledger has deployments to.
    pub fn newest(&self) -> Result<std::collections::BTreeMap<String, Entry>> {
        index::newest(&self.repo, self.clock)
    }

    /// The newest `n` deployments, of one environment or all, newest first.
    pub fn recent(&self, env: Option<&str>, n: usize) -> Result<(Vec<Entry>, Vec<BadLine>)> {
        index::recent(&self.repo, self.clock, env, n)
    }

    /// `recent`, and the ids and starts of every environment's deployments from the
    /// newest down to `margin` past the oldest of those, in one pass.
    pub fn recent_and_ids(
        &self,
        env: Option<&str>,
        n: usize,
        margin: usize,
    ) -> Result<(Vec<Entry>, Vec<IdAt>, Vec<BadLine>)> {
        index::recent_and_ids(&self.repo, self.clock, env, n, margin)
    }

    /// The lines that do not parse, of each note that has some, by commit.
    pub fn skipped_lines(&self) -> Result<std::collections::HashMap<CommitId, String>> {
        index::skipped(&self.repo)
    }

    /// The deployment with id `dep`, as the index knows it.
    pub fn deployment_by_id(&self, dep: &str) -> Result<Option<Entry>> {
        index::find(&self.repo, self.clock, dep)
    }

    /// The ids of the deployments that start with `prefix` (any case), sorted.
    pub fn deployments_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.to_ascii_uppercase();
        let mut ids: Vec<String> = self
            .index()?
            .entries
            .into_iter()
            .map(|e| e.dep)
            .filter(|d| d.to_ascii_uppercase().starts_with(&prefix))
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The environments retired with `git train env retire`: those whose newest
    /// deployment's newest event retired them. Only newest deployments that are
    /// `inactive` are read, so this costs nothing where none is.
    pub fn retired(&self) -> Result<std::collections::BTreeSet<String>> {
        self.retired_of(&self.newest()?)
    }

    /// `retired`, from the newest deployments already read (`newest`).
    pub fn retired_of(
        &self,
        newest: &std::collections::BTreeMap<String, Entry>,
    ) -> Result<std::collections::BTreeSet<String>> {
        let mut retired = std::collections::BTreeSet::new();
        let mut notes = None;
        for (env, e) in newest {
            if e.state != crate::domain::State::Inactive {
                continue;
            }
            let notes = match &mut notes {
                Some(n) => n,
                None => notes.insert(self.deployments()?),
            };
            if notes
                .find(e.commit, &e.dep, Some(env))?
                .is_some_and(Deployment::retired)
            {
                retired.insert(env.clone());
            }
        }
        Ok(retired)
    }

    /// The deploy notes, loaded once, to read the deployments of many commits.
    pub fn deployments(&self) -> Result<Deployments<'_>> {
        Deployments::load(&self.repo)
    }

    /// The deployment `dep` recorded on `commit`.
    pub fn deployment(&self, commit: CommitId, dep: &str) -> Result<Option<Deployment>> {
        Ok(self.deployments()?.find(commit, dep, None)?.cloned())
    }

    /// The CI notes, loaded once, to read the CI state of many commits.
    pub fn ci(&self) -> Result<Ci<'_>> {
        Ci::load(&self.repo)
    }

    /// The CI state of a commit, leaving out the checks named in `ignore`, and the
    /// lines of its note that did not parse.
    pub fn ci_of(&self, commit: CommitId, ignore: &[String]) -> Result<(CiSummary, Vec<BadLine>)> {
        self.ci()?.of(commit, ignore)
    }

    /// Every lock the local refs know.
    pub fn locks(&self) -> Result<Vec<Held>> {
        locks::all(&self.repo.git)
    }

    /// The lock on one environment, as the local refs know it.
    pub fn lock_of(&self, env: &EnvName) -> Result<Option<Held>> {
        locks::get(&self.repo.git, env)
    }
}
