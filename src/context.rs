//! What every command gets: the ledger (and through it the repository), its
//! configuration, who is acting, the clock, and the user interface it may ask or tell
//! things through.

use std::cell::Cell;
use std::path::Path;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{EnvName, Timestamp};
use crate::error::{Error, Result};
use crate::ledger::{BadLine, Ledger, Remote, Repo};

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
    pub ledger: Ledger,
    pub config: Config,
    /// Made once, here, and passed to everything that reads the time.
    pub clock: Clock,
    pub ui: Box<dyn Ui>,
    /// The ledger was opened for deployments (what dead processes left is reaped).
    reaped: Cell<bool>,
}

impl Context {
    pub fn open(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
        // The repository is found first: "not a git repository" comes before a bad
        // GIT_TRAIN_NOW or configuration.
        let repo = Repo::open(path)?;
        let config = match repo.work_tree() {
            Some(dir) => Config::load(dir)?,
            None => Config::default(),
        };
        let clock = Clock::from_env()?;
        Ok(Context {
            ledger: Ledger::new(repo, clock),
            config,
            clock,
            ui,
            reaped: Cell::new(false),
        })
    }

    /// The repository without its configuration (and with the real clock when
    /// `GIT_TRAIN_NOW` does not parse): enough to record that a command could not
    /// start because of either.
    pub fn bare(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
        let repo = Repo::open(path)?;
        let clock = Clock::from_env().unwrap_or(Clock::system());
        Ok(Context {
            ledger: Ledger::new(repo, clock),
            config: Config::default(),
            clock,
            ui,
            reaped: Cell::new(false),
        })
    }

    /// The ledger, for a command that reads or writes deployments: opening it this
    /// way first records the outcomes kept by commands that could not write them and
    /// closes the deployments whose git-train process died (once per context).
    pub fn open_deployments(&self) -> Result<&Ledger> {
        if !self.reaped.get() {
            self.ledger.reap(self.ui.as_ref())?;
            self.reaped.set(true);
        }
        Ok(&self.ledger)
    }

    /// The repository the ledger is kept in.
    pub fn repo(&self) -> &Repo {
        self.ledger.repo()
    }

    /// The acting user as recorded in `BY`: the git user email.
    pub fn me(&self) -> &str {
        self.ledger.me()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The team's remote (`remote` in .train.toml), if the repository has it.
    pub fn remote(&self) -> Option<Remote> {
        Remote::of(self.repo(), &self.config)
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

    /// Tells the user about lines skipped while reading, once per line.
    pub fn warn_bad_lines(&self, bad: &[BadLine]) {
        for b in bad.iter().take(5) {
            let shown: String = b.line.chars().take(80).collect();
            self.ui.warn(&format!(
                "skipped a ledger line on {} ({}): {}",
                b.commit.short(),
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
