//! What every command gets: the repository, its configuration, who is acting, the
//! clock, and the user interface it may ask or tell things through.

use std::path::Path;

use git2::Oid;

use crate::config::Config;
use crate::domain::{EnvName, Event, Timestamp};
use crate::error::{Error, Result};
use crate::ledger::index;
use crate::ledger::repo::Repo;
use crate::ledger::{self, BadLine};

/// A fixed clock for tests and reproducible demos, like GIT_COMMITTER_DATE.
fn fixed_clock() -> Result<Option<Timestamp>> {
    std::env::var("GIT_TRAIN_NOW")
        .ok()
        .map(|v| {
            Timestamp::parse_loose(&v)
                .ok_or_else(|| Error::usage(format!("GIT_TRAIN_NOW='{v}' is not an RFC 3339 time")))
        })
        .transpose()
}

/// How a command talks to the person running it. Only the cli layer implements it.
pub trait Ui {
    /// Asks a yes/no question; only called when `interactive()` is true.
    fn confirm(&self, question: &str) -> bool;
    /// True when a person can answer a question.
    fn interactive(&self) -> bool;
    /// A transient progress line (shown on a terminal only).
    fn progress(&self, line: &str);
    /// Clears the progress line.
    fn done(&self);
    fn warn(&self, message: &str);
    fn note(&self, message: &str);
}

pub struct Context {
    pub repo: Repo,
    pub config: Config,
    /// The acting user as recorded in `BY`: the git user email.
    pub me: String,
    pub ui: Box<dyn Ui>,
}

impl Context {
    pub fn open(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
        let mut repo = Repo::open(path)?;
        let config = match repo.git.workdir() {
            Some(dir) => Config::load(dir)?,
            None => Config::default(),
        };
        repo.set_clock(fixed_clock()?);
        Ok(Context {
            me: repo.identity(),
            repo,
            config,
            ui,
        })
    }

    /// The repository without its configuration (and with the real clock when
    /// `GIT_TRAIN_NOW` does not parse): enough to record that a command could not
    /// start because of either.
    pub fn bare(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
        let mut repo = Repo::open(path)?;
        repo.set_clock(fixed_clock().ok().flatten());
        Ok(Context {
            me: repo.identity(),
            repo,
            config: Config::default(),
            ui,
        })
    }

    /// The clock, passed on with the repository to everything that reads the ledger.
    pub fn now(&self) -> Timestamp {
        self.repo.now()
    }

    /// Parses an environment name the user gave, and checks it is one the team uses.
    pub fn env(&self, name: &str) -> Result<EnvName> {
        let env = EnvName::new(name).map_err(|m| {
            Error::usage(m).hint("environment names use letters, digits, '.', '_' and '-'")
        })?;
        if !self.config.env.is_empty() && !self.config.env.contains_key(name) {
            let known: Vec<&str> = self.config.env.keys().map(String::as_str).collect();
            return Err(
                Error::usage(format!("unknown environment '{name}'")).hint(format!(
                    "known environments: {}; add [env.{name}] to .train.toml to make a new one",
                    known.join(", ")
                )),
            );
        }
        Ok(env)
    }

    /// Records events on a commit's deploy note and brings the index up to date.
    pub fn record(&self, commit: Oid, events: &[Event], what: &str) -> Result<()> {
        let lines: Vec<String> = events.iter().map(Event::to_line).collect();
        ledger::append(&self.repo.git, ledger::DEPLOYS, commit, &lines, what)?;
        index::catch_up(&self.repo)?;
        Ok(())
    }

    /// Records events on many commits as one ledger commit (imports).
    pub fn record_many(&self, batch: &[(Oid, Vec<Event>)], what: &str) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let lines: Vec<(Oid, Vec<String>)> = batch
            .iter()
            .map(|(c, events)| (*c, events.iter().map(Event::to_line).collect()))
            .collect();
        ledger::append_many(&self.repo.git, ledger::DEPLOYS, &lines, what)?;
        index::catch_up(&self.repo)?;
        Ok(())
    }

    /// Records commit statuses in the CI ledger.
    pub fn record_ci(&self, commit: Oid, events: &[Event], what: &str) -> Result<()> {
        let lines: Vec<String> = events.iter().map(Event::to_line).collect();
        ledger::append(&self.repo.git, ledger::CI, commit, &lines, what)?;
        Ok(())
    }

    /// Tells the user about lines skipped while reading, once per line.
    pub fn warn_bad_lines(&self, bad: &[BadLine]) {
        for b in bad.iter().take(5) {
            let shown: String = b.line.chars().take(80).collect();
            self.ui.warn(&format!(
                "skipped a ledger line on {} ({}): {}",
                &b.commit.to_string()[..7],
                b.reason,
                shown.escape_debug()
            ));
        }
        if bad.len() > 5 {
            self.ui
                .warn(&format!("skipped {} more ledger lines", bad.len() - 5));
        }
    }
}
