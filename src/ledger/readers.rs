//! Reading a notes ledger loaded once, for many commits: the deployments recorded on
//! each (each note read and folded once), and the CI state of each.

use std::collections::HashMap;

use super::index::deployments_of;
use super::notes::{self, BadLine, Notes};
use super::repo::Repo;
use crate::domain::{ci, CiSummary, CommitId, Deployment};
use crate::error::Result;

/// The deploy notes as of one moment.
pub struct Deployments<'r> {
    notes: Notes<'r>,
    by_commit: HashMap<CommitId, Vec<Deployment>>,
    /// By commit, where each deployment id sits in `by_commit`: a note holding many
    /// deployments is not searched once per deployment (that was quadratic).
    by_id: HashMap<CommitId, HashMap<String, Vec<usize>>>,
    skipped: Vec<BadLine>,
}

impl<'r> Deployments<'r> {
    pub(super) fn load(repo: &'r Repo) -> Result<Deployments<'r>> {
        Ok(Deployments {
            notes: Notes::load(repo, notes::DEPLOYS)?,
            by_commit: HashMap::new(),
            by_id: HashMap::new(),
            skipped: Vec::new(),
        })
    }

    /// The deployments recorded on `commit`.
    pub fn of(&mut self, commit: CommitId) -> Result<&[Deployment]> {
        if !self.by_commit.contains_key(&commit) {
            let (deployments, bad) = deployments_of(&self.notes, commit)?;
            self.skipped.extend(bad);
            let mut ids: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, d) in deployments.iter().enumerate() {
                ids.entry(d.dep.clone()).or_default().push(i);
            }
            self.by_id.insert(commit, ids);
            self.by_commit.insert(commit, deployments);
        }
        Ok(&self.by_commit[&commit])
    }

    /// The deployment `dep` (to `env`, when given) recorded on `commit`.
    pub fn find(
        &mut self,
        commit: CommitId,
        dep: &str,
        env: Option<&str>,
    ) -> Result<Option<&Deployment>> {
        self.of(commit)?;
        let all = &self.by_commit[&commit];
        Ok(self.by_id[&commit]
            .get(dep)
            .into_iter()
            .flatten()
            .map(|&i| &all[i])
            .find(|d| env.is_none_or(|env| d.env == env)))
    }

    /// The lines that did not parse in the notes read since the last call.
    pub fn take_skipped(&mut self) -> Vec<BadLine> {
        std::mem::take(&mut self.skipped)
    }
}

/// The CI notes as of one moment.
pub struct Ci<'r> {
    notes: Notes<'r>,
}

impl<'r> Ci<'r> {
    pub(super) fn load(repo: &'r Repo) -> Result<Ci<'r>> {
        Ok(Ci {
            notes: Notes::load(repo, notes::CI)?,
        })
    }

    /// The CI state of a commit, leaving out the checks named in `ignore`, and the
    /// lines of its note that did not parse.
    pub fn of(&self, commit: CommitId, ignore: &[String]) -> Result<(CiSummary, Vec<BadLine>)> {
        let Some(text) = self.notes.read(commit)? else {
            return Ok((CiSummary::none(), Vec::new()));
        };
        let (events, bad) = notes::parse_note(commit, &text);
        Ok((ci::rollup(&events, ignore), bad))
    }
}
