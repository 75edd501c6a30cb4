//! The deployments this clone runs itself: `.git/train/running/DEP` (the git-train
//! process carrying each, and its run command's process group), `.git/train/outcomes/`
//! (outcomes kept until they are in the ledger), the logs of the run commands, and
//! recording how a run ended. Opening the ledger for a command that reads or writes
//! deployments reaps what processes that died left behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{index, notes, Ledger};
use crate::context::Ui;
use crate::domain::event::valid_id;
use crate::domain::{CommitId, EnvName, Event, Fields, State, Timestamp};
use crate::error::{Error, Result};
use crate::interrupt;

/// A new deployment id: a ULID of the given instant.
pub fn new_id(at: Timestamp) -> String {
    let ms = u64::try_from(at.0).unwrap_or(0);
    ulid::Ulid::from_datetime(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `.git/train/running/DEP`: the git-train process carrying a deployment and, once
/// it started the run command, that command's process group (with the start time of
/// its leader, so a reaper never signals a group whose number was given again).
pub struct Running {
    pub pid: u32,
    pub env: EnvName,
    pub commit: CommitId,
    pub group: Option<(u32, Option<u64>)>,
}

impl Running {
    fn to_line(&self) -> String {
        let mut line = format!("{} {} {}", self.pid, self.env, self.commit);
        if let Some((pgid, start)) = self.group {
            let start = start.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            line.push_str(&format!(" {pgid} {start}"));
        }
        line.push('\n');
        line
    }

    fn parse(text: &str) -> Option<Running> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let (pid, env, commit) = (f.first()?, f.get(1)?, f.get(2)?);
        let group = match (f.get(3), f.get(4)) {
            (Some(pgid), start) => Some((pgid.parse().ok()?, start.and_then(|s| s.parse().ok()))),
            (None, _) => None,
        };
        Some(Running {
            pid: pid.parse().ok()?,
            env: EnvName::new(env).ok()?,
            commit: CommitId::parse(commit)?,
            group,
        })
    }
}

const OUTCOME_MAGIC: &str = "git-train-outcome 1";

/// A kept outcome: the pid of the process that kept it and its event lines.
fn read_outcome(text: &str) -> Option<(u32, Vec<(CommitId, String)>)> {
    let mut lines = text.lines();
    let pid = lines
        .next()?
        .strip_prefix(OUTCOME_MAGIC)?
        .trim()
        .parse()
        .ok()?;
    let mut events = Vec::new();
    for line in lines {
        let (commit, event) = line.split_once(' ')?;
        // Only what git-train itself would write goes into the ledger.
        let parsed = Event::parse(event).ok()?;
        if parsed.to_line() != event {
            return None;
        }
        events.push((CommitId::parse(commit)?, event.to_string()));
    }
    (!events.is_empty()).then_some((pid, events))
}

/// The files of `dir` named by a deployment id, each with its name and text (those
/// that cannot be read are left out), read one at a time.
fn by_deployment(dir: &Path) -> impl Iterator<Item = (PathBuf, String, String)> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let dep = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| valid_id(n))
                .map(str::to_string)?;
            let text = fs::read_to_string(&path).ok()?;
            Some((path, dep, text))
        })
}

fn last_line(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    Some(line.trim().chars().take(300).collect())
}

impl Ledger {
    /// An event of a deployment to `env`, by this user.
    pub fn event(&self, env: &EnvName, state: State, at: Timestamp, fields: Fields) -> Event {
        Event {
            at,
            subject: env.as_str().to_string(),
            state,
            by: self.me.clone(),
            fields: fields.into_map(),
        }
    }

    /// A new state of deployment `dep` to `env`, by this user, and why.
    pub fn state_event(
        &self,
        env: &EnvName,
        dep: &str,
        state: State,
        at: Timestamp,
        desc: Option<String>,
    ) -> Event {
        let fields = Fields {
            dep: Some(dep.to_string()),
            desc,
            ..Fields::default()
        };
        self.event(env, state, at, fields)
    }

    /// The log of a deployment's run command.
    pub fn log_path(&self, dep: &str) -> PathBuf {
        self.repo
            .train_dir()
            .join("logs")
            .join(format!("{dep}.log"))
    }

    /// What a detached runner (`--no-wait`) wrote to stderr.
    pub fn runner_log_path(&self, dep: &str) -> PathBuf {
        self.repo
            .train_dir()
            .join("logs")
            .join(format!("{dep}.runner.log"))
    }

    /// The pid of the git-train process carrying deployment `dep` in this clone.
    pub fn running_pid(&self, dep: &str) -> Option<u32> {
        let text = fs::read_to_string(self.running_dir().join(dep)).ok()?;
        Running::parse(&text).map(|r| r.pid)
    }

    fn running_dir(&self) -> PathBuf {
        self.repo.train_dir().join("running")
    }

    fn outcomes_dir(&self) -> PathBuf {
        self.repo.train_dir().join("outcomes")
    }

    /// Notes who carries a deployment (`.git/train/running/DEP`).
    pub fn note_running(&self, dep: &str, running: &Running) -> Result<()> {
        let dir = self.running_dir();
        fs::create_dir_all(&dir)?;
        crate::file::write_atomically(&dir.join(dep), running.to_line().as_bytes())
    }

    /// Writes the running file unless there is one already (the runner's own, which
    /// knows more), without a moment where it is half written.
    pub fn note_running_if_absent(&self, dep: &str, running: &Running) -> Result<()> {
        let dir = self.running_dir();
        fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        std::io::Write::write_all(&mut tmp, running.to_line().as_bytes())?;
        match tmp.persist_noclobber(dir.join(dep)) {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e.error.into()),
        }
    }

    /// The deployment is no longer carried by anyone.
    pub fn forget_running(&self, dep: &str) {
        let _ = fs::remove_file(self.running_dir().join(dep));
    }

    /// Records how a deployment ended. The outcome is kept in `.git/train/outcomes/DEP`
    /// first and removed once it is in the ledger, so an outcome that cannot be written
    /// now (`.git` read-only, disk full) is recorded by the next command instead of
    /// being taken for a process that died.
    pub fn finish(
        &self,
        env: &EnvName,
        commit: CommitId,
        dep: &str,
        state: State,
        desc: Option<String>,
    ) -> Result<()> {
        let at = self.now();
        let mut batch = vec![(commit, vec![self.state_event(env, dep, state, at, desc)])];
        if state == State::Success {
            batch.extend(self.superseded(env, dep, at));
        }
        let kept = self.keep_outcome(dep, &batch);
        let lines: Vec<(CommitId, Vec<String>)> = batch
            .iter()
            .map(|(c, events)| (*c, events.iter().map(Event::to_line).collect()))
            .collect();
        let what = format!("git-train: {env} {state} {commit}");
        if let Err(e) = notes::append_many(&self.repo, notes::DEPLOYS, &lines, &what) {
            let e = Error::from(e);
            let message = match kept {
                Ok(path) => format!(
                    "could not record that deployment {dep} to {env} ended in {state} ({}); the outcome is kept in {} and the next git-train command records it",
                    e.message,
                    path.display()
                ),
                Err(keep) => format!(
                    "could not record that deployment {dep} to {env} ended in {state} ({}), nor keep it ({})",
                    e.message, keep.message
                ),
            };
            return Err(Error { message, ..e });
        }
        if let Ok(path) = kept {
            let _ = fs::remove_file(path);
        }
        index::catch_up(&self.repo, self.clock)?;
        Ok(())
    }

    /// The successes of `env` dated after this one's `at`: by a clock ahead of this one,
    /// since this process saw them in the ledger, so they happened before it. Each
    /// would outrank this success for as long as its date is ahead; it is marked
    /// `inactive`, superseded (as GitHub marks the deployments a new one replaces),
    /// dated as its success so that the mark reads after it.
    fn superseded(&self, env: &EnvName, dep: &str, at: Timestamp) -> Vec<(CommitId, Vec<Event>)> {
        let Ok(later) = index::successes_after(&self.repo, self.clock, env.as_str(), at) else {
            return Vec::new();
        };
        later
            .iter()
            .filter(|e| e.dep != dep)
            .filter_map(|e| {
                let success = e.success_at.filter(|s| *s > at)?;
                let desc = format!(
                    "superseded by {dep}, which succeeded at {at}: this success is dated later, by a clock ahead"
                );
                let event = self.state_event(env, &e.dep, State::Inactive, success, Some(desc));
                Some((e.commit, vec![event]))
            })
            .collect()
    }

    /// `.git/train/outcomes/DEP`: the pid that kept it, then one `COMMIT LINE` per event.
    fn keep_outcome(&self, dep: &str, batch: &[(CommitId, Vec<Event>)]) -> Result<PathBuf> {
        let dir = self.outcomes_dir();
        fs::create_dir_all(&dir)?;
        let mut text = format!("{OUTCOME_MAGIC} {}\n", std::process::id());
        for (commit, events) in batch {
            for e in events {
                text.push_str(&format!("{commit} {}\n", e.to_line()));
            }
        }
        let path = dir.join(dep);
        crate::file::write_atomically(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Records outcomes kept by commands that could not write them, and closes
    /// deployments whose git-train process died (SIGKILL, power loss) as `error`,
    /// after stopping their run command, so none stays open for ever and none is
    /// `error` while its command goes on. Returns the deployments it closed.
    pub fn reap(&self, ui: &dyn Ui) -> Result<Vec<String>> {
        self.record_kept_outcomes(ui)?;
        let mut reaped = Vec::new();
        for (path, dep, text) in by_deployment(&self.running_dir()) {
            let Some(running) = Running::parse(&text) else {
                let _ = fs::remove_file(&path);
                continue;
            };
            if interrupt::alive(running.pid) {
                continue;
            }
            let stopped = running
                .group
                .map(|(pgid, start)| (pgid, interrupt::stop_group(pgid, start)));
            // Finished after all (killed between recording its end and removing the
            // file): nothing to close.
            let open = self.snapshot()?;
            if !open.open.iter().any(|o| o.dep == dep) {
                let _ = fs::remove_file(&path);
                continue;
            }
            let pid = running.pid;
            let desc = match stopped {
                Some((pgid, true)) => format!(
                    "the git-train process running it (pid {pid}) died; its run command was stopped (SIGKILL to process group {pgid}) before it could finish"
                ),
                // Its shell gets SIGKILL when git-train dies (Linux): nothing was left.
                Some((_, false)) => format!(
                    "the git-train process running it (pid {pid}) died, and its run command was stopped with it before the outcome was recorded"
                ),
                None => {
                    let why = last_line(&self.runner_log_path(&dep))
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default();
                    format!(
                        "the git-train process for it (pid {pid}) stopped before it started the run command{why}"
                    )
                }
            };
            let (env, commit) = (&running.env, running.commit);
            self.finish(env, commit, &dep, State::Error, Some(desc))?;
            let _ = fs::remove_file(&path);
            ui.warn(&format!(
                "deployment {dep} to {env} was left unfinished by a git-train process that died; marked it `error`"
            ));
            reaped.push(dep);
        }
        Ok(reaped)
    }

    /// Writes the outcomes kept in `.git/train/outcomes/` by processes that are gone.
    /// Writing one twice adds nothing: the same event is the same line.
    fn record_kept_outcomes(&self, ui: &dyn Ui) -> Result<()> {
        for (path, dep, text) in by_deployment(&self.outcomes_dir()) {
            let Some((pid, events)) = read_outcome(&text) else {
                ui.warn(&format!(
                    "{} is not a kept outcome git-train can read; left as it is",
                    path.display()
                ));
                continue;
            };
            if pid != std::process::id() && interrupt::alive(pid) {
                continue;
            }
            let mut batch: Vec<(CommitId, Vec<String>)> = Vec::new();
            for (commit, line) in events {
                match batch.iter_mut().find(|(c, _)| *c == commit) {
                    Some((_, lines)) => lines.push(line),
                    None => batch.push((commit, vec![line])),
                }
            }
            let what = format!("git-train: kept outcome of {dep}");
            notes::append_many(&self.repo, notes::DEPLOYS, &batch, &what)?;
            let _ = fs::remove_file(&path);
            index::catch_up(&self.repo, self.clock)?;
            ui.note(&format!(
                "recorded the outcome of deployment {dep}, kept by a command that could not write it"
            ));
        }
        Ok(())
    }
}
