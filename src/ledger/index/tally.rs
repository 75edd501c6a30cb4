//! What the index's head says of a run of deployments, worked out in one pass.
//!
//! A rebuild tallies each half of the deployments file on the thread that writes
//! that half, while its entries are in the cache, and merges the two tallies
//! (`then`): five passes over the sorted entries afterwards took an eighth of a
//! rebuild. An update tallies the deployments of the changed notes, a recount the
//! whole file.

use std::collections::{BTreeMap, HashMap};

use super::{newer, Best, Entry, Future, Open};
use crate::domain::deployment::counts;
use crate::domain::Timestamp;

/// The tally of entries taken in the index's order (start, then id), borrowed
/// from them.
pub(super) struct Tally<'a> {
    now: Timestamp,
    envs: HashMap<&'a str, EnvTally<'a>>,
    open: Vec<&'a Entry>,
    /// The successes that do not count at `now`, and when they were.
    future: Vec<(&'a Entry, Timestamp)>,
}

#[derive(Default)]
struct EnvTally<'a> {
    /// Its newest success that counts at `now`, and when that success was.
    deployed: Option<(&'a Entry, Timestamp)>,
    /// Its newest deployment, whatever its state.
    newest: Option<&'a Entry>,
    /// Its latest success, counting or not.
    last_success: Option<Timestamp>,
}

/// Newest by the time of the success; ties (one clock, a fixed clock) by start, then
/// id and commit, so that the order of reading never decides. As `Best::key`.
fn success_key(e: &Entry, at: Timestamp) -> (Timestamp, Timestamp, &str, crate::domain::CommitId) {
    (at, e.started, &e.dep, e.commit)
}

impl<'a> EnvTally<'a> {
    fn take_deployed(&mut self, e: &'a Entry, at: Timestamp) {
        if self
            .deployed
            .is_none_or(|(seen, seen_at)| success_key(e, at) >= success_key(seen, seen_at))
        {
            self.deployed = Some((e, at));
        }
    }

    fn take_newest(&mut self, e: &'a Entry) {
        if self.newest.is_none_or(|n| newer(e, n)) {
            self.newest = Some(e);
        }
    }

    fn take_success(&mut self, at: Timestamp) {
        self.last_success = Some(self.last_success.map_or(at, |seen| seen.max(at)));
    }
}

impl<'a> Tally<'a> {
    pub fn new(now: Timestamp) -> Self {
        Tally {
            now,
            envs: HashMap::new(),
            open: Vec::new(),
            future: Vec::new(),
        }
    }

    pub fn of(entries: impl IntoIterator<Item = &'a Entry>, now: Timestamp) -> Self {
        let mut tally = Tally::new(now);
        for e in entries {
            tally.add(e);
        }
        tally
    }

    /// Counts `e`, which comes after (or with) every entry counted so far.
    pub fn add(&mut self, e: &'a Entry) {
        let env = self.envs.entry(&e.env).or_default();
        env.take_newest(e);
        if let Some(at) = e.success_at {
            env.take_success(at);
            if counts(at, self.now) {
                env.take_deployed(e, at);
            } else {
                self.future.push((e, at));
            }
        }
        if !e.state.is_final() {
            self.open.push(e);
        }
    }

    /// The tally of this run followed by `later`'s (made for the same clock): what
    /// counting both runs one after the other gives.
    pub fn then(mut self, later: Tally<'a>) -> Self {
        debug_assert_eq!(self.now, later.now);
        for (name, other) in later.envs {
            let env = self.envs.entry(name).or_default();
            if let Some((e, at)) = other.deployed {
                env.take_deployed(e, at);
            }
            if let Some(e) = other.newest {
                env.take_newest(e);
            }
            if let Some(at) = other.last_success {
                env.take_success(at);
            }
        }
        self.open.extend(later.open);
        self.future.extend(later.future);
        self
    }

    /// Each environment's newest success that counts: what it runs.
    pub fn deployed(&self) -> BTreeMap<String, Best> {
        self.envs
            .iter()
            .filter_map(|(env, t)| {
                let (e, at) = t.deployed?;
                let best = Best {
                    commit: e.commit,
                    at,
                    started: e.started,
                    dep: e.dep.clone(),
                };
                Some((env.to_string(), best))
            })
            .collect()
    }

    /// Each environment's newest deployment: the last by start, then id.
    pub fn newest(&self) -> BTreeMap<String, Entry> {
        self.envs
            .iter()
            .filter_map(|(env, t)| Some((env.to_string(), t.newest?.clone())))
            .collect()
    }

    /// Each environment's latest success time, over these entries and `known`.
    pub fn last_success(
        &self,
        mut known: BTreeMap<String, Timestamp>,
    ) -> BTreeMap<String, Timestamp> {
        for (env, t) in &self.envs {
            if let Some(at) = t.last_success {
                let seen = known.entry(env.to_string()).or_insert(at);
                *seen = (*seen).max(at);
            }
        }
        known
    }

    /// The deployments not yet ended, sorted (by environment, then id: oldest
    /// first), so that an update and a rebuild write the same head.
    pub fn open(&self) -> Vec<Open> {
        let mut open: Vec<Open> = self
            .open
            .iter()
            .map(|e| Open {
                env: e.env.clone(),
                dep: e.dep.clone(),
                commit: e.commit,
            })
            .collect();
        super::sort_open(&mut open);
        open
    }

    /// The successes that do not count at `now`, sorted.
    pub fn future(&self) -> Vec<Future> {
        let mut future: Vec<Future> = self
            .future
            .iter()
            .map(|&(e, at)| Future {
                env: e.env.clone(),
                at,
                dep: e.dep.clone(),
                commit: e.commit,
            })
            .collect();
        future.sort();
        future
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CommitId, State};
    use crate::ledger::index::Shown;

    fn entry(n: u8, env: &str, started: i64, state: State, success_at: Option<i64>) -> Entry {
        Entry {
            commit: CommitId::parse(&format!("{n:02x}").repeat(20)).unwrap(),
            dep: format!("D{}", n % 3),
            env: env.into(),
            started: Timestamp(started),
            state,
            success_at: success_at.map(Timestamp),
            succeeded_at: success_at.map(Timestamp),
            shown: Shown::default(),
        }
    }

    /// Everything a tally answers, for comparing two.
    fn answers(t: &Tally) -> String {
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            t.deployed(),
            t.newest(),
            t.last_success(BTreeMap::new()),
            t.open(),
            t.future()
        )
    }

    #[test]
    fn two_runs_merged_answer_as_one_run() {
        let now = Timestamp(10_000_000);
        let later = now.0 + 2 * crate::domain::deployment::FUTURE_LIMIT_MS;
        // In the index's order, with ties of start and of success time, successes
        // that do not count yet, open ones, and environments seen in one run only.
        let mut entries = vec![
            entry(1, "prod", 100, State::Success, Some(200)),
            entry(2, "prod", 100, State::Success, Some(200)),
            entry(3, "qa", 150, State::InProgress, None),
            entry(4, "prod", 300, State::Failure, None),
            entry(5, "prod", 300, State::Success, Some(later)),
            entry(6, "staging", 400, State::Success, Some(150)),
            entry(7, "prod", 500, State::Success, Some(200)),
            entry(8, "qa", 500, State::Queued, None),
            entry(9, "staging", 600, State::Success, Some(900)),
            entry(10, "prod", 700, State::Pending, None),
        ];
        entries.sort_by(|a, b| (a.started, &a.dep).cmp(&(b.started, &b.dep)));
        let whole = answers(&Tally::of(&entries, now));
        assert!(whole.contains("qa"), "{whole}");
        for split in 0..=entries.len() {
            let (first, second) = entries.split_at(split);
            let merged = Tally::of(first, now).then(Tally::of(second, now));
            assert_eq!(answers(&merged), whole, "split at {split}");
        }
    }
}
