//! What every command gets: the ledger (and through it the repository), its
//! configuration, who is acting, the clock, the user interface it may ask or tell
//! things through, and where it hands what it recorded for notifications.

use std::cell::Cell;
use std::path::Path;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{CommitId, EnvName, Timestamp};
use crate::error::{Error, Result};
use crate::ledger::{BadLine, Ledger, Remote, Repo};
use crate::notify;

/// Now: `GIT_TRAIN_NOW` when it is set (and parses), else the system clock; for
/// commands that have no repository of their own (`status --all`).
pub fn now() -> Timestamp {
    Clock::from_env().unwrap_or(Clock::system()).now()
}

/// How a command talks to the person running it. Only the cli layer implements it.
/// Where a command talks to a person. Only warnings and notes must be said; a Ui
/// that is no terminal (the daemon's log, the board's page, a test) keeps the rest
/// as it is by default: nobody to ask, no progress to show.
pub trait Ui {
    /// Asks a yes/no question; only called when `interactive()` is true.
    fn confirm(&self, _question: &str) -> bool {
        false
    }
    /// True when a person can answer a question.
    fn interactive(&self) -> bool {
        false
    }
    /// A transient progress line (shown on a terminal only, repainted in place).
    fn progress(&self, _line: &str) {}
    /// A step of a long wait (started, a state change): a line of its own, on a
    /// terminal and off it alike.
    fn step(&self, _line: &str) {}
    /// Clears the progress line.
    fn done(&self) {}
    fn warn(&self, message: &str);
    fn note(&self, message: &str);
}

pub struct Context {
    pub ledger: Ledger,
    pub config: Config,
    /// Made once, here, and passed to everything that reads the time.
    pub clock: Clock,
    pub ui: Box<dyn Ui>,
    /// Where the events a command records first-hand are told: the team channels
    /// of `.train.toml`. The desktop is not among them: the daemon raises the
    /// desktop notifications, even for your own deploys.
    pub notify: notify::Hub,
    /// The ledger was opened for deployments (what dead processes left is reaped).
    reaped: Cell<bool>,
}

impl Context {
    /// A command's context, whose hub posts what it records to the team channels.
    pub fn open(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
        let mut ctx = Context::open_without_channels(path, ui)?;
        ctx.notify = notify::Hub::new(notify::channel::all(&ctx.config, &|key| {
            ctx.git_config(key)
        }));
        Ok(ctx)
    }

    /// The daemon's context: it records what others did, and every teammate's daemon
    /// would post the same thing, so it posts to no channel.
    pub fn open_without_channels(path: &Path, ui: Box<dyn Ui>) -> Result<Context> {
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
            notify: notify::Hub::default(),
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
            notify: notify::Hub::default(),
            reaped: Cell::new(false),
        })
    }

    /// The ledger, for a command that reads or writes deployments: opening it this
    /// way first records the outcomes kept by commands that could not write them and
    /// closes the deployments whose git-train process died (once per context).
    pub fn open_deployments(&self) -> Result<&Ledger> {
        if !self.reaped.get() {
            self.reaped.set(true);
            // The reaper writes the `error` of a deployment whose process died: this
            // process posts it (DESIGN.md section 8), once.
            for dep in self.ledger.reap(self.ui.as_ref())? {
                if let Ok(Some(entry)) = self.ledger.deployment_by_id(&dep) {
                    self.tell_recorded(entry.commit, &dep, crate::domain::State::Error);
                }
            }
        }
        Ok(&self.ledger)
    }

    /// Tells the team channels a state this process has just recorded for a
    /// deployment (the process that writes a state posts it, so it is posted once).
    pub fn tell_recorded(&self, commit: CommitId, dep: &str, state: crate::domain::State) {
        self.tell(|| {
            Ok(notify::recorded::deployment_by_id(self, commit, dep)?
                .filter(|d| d.state == state)
                .map(notify::Event::Deployment))
        });
    }

    /// A value of the user's git config (any level), e.g. `train.channel.NAME.url`.
    pub fn git_config(&self, key: &str) -> Option<String> {
        self.repo().config().ok()?.get(key)
    }

    /// Hands an event this command recorded to the notification sinks. It is only
    /// made when there is a sink, and nothing here fails the command (what it tells
    /// is recorded already): an event that cannot be made or sent is a warning.
    pub fn tell(&self, make: impl FnOnce() -> Result<Option<notify::Event>>) {
        if self.notify.is_empty() {
            return;
        }
        match make() {
            Ok(Some(event)) => {
                for failed in self.notify.send_blocking(&event) {
                    self.ui
                        .warn(&format!("could not notify {}: {}", failed.sink, failed.why));
                }
            }
            Ok(None) => {}
            Err(e) => self
                .ui
                .warn(&format!("could not make the notification: {}", e.message)),
        }
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
            let mut e = Error::usage(format!("unknown environment '{name}'"));
            if let Some(c) = crate::config::closest(name, &known) {
                e = e.hint(format!("did you mean {c}?"));
            }
            return Err(e.hint(format!(
                "known environments: {}; add [env.{name}] to .train.toml to make a new one",
                known.join(", ")
            )));
        }
        Ok(env)
    }

    /// The environments the team uses: `[env.*]` of .train.toml and those the ledger
    /// has deployments to, but not those retired (`git train env retire`).
    pub fn known_envs(&self) -> Result<Vec<String>> {
        self.envs(false)
    }

    fn envs(&self, with_retired: bool) -> Result<Vec<String>> {
        let mut known: std::collections::BTreeSet<String> =
            self.config.env.keys().cloned().collect();
        let newest = self.ledger.newest()?;
        let retired = if with_retired {
            Default::default()
        } else {
            self.ledger.retired_of(&newest)?
        };
        known.extend(newest.into_keys().filter(|e| !retired.contains(e)));
        Ok(known.into_iter().collect())
    }

    /// The environment of a deploy or rollback: a known one, or (with `new_env`) a
    /// new one. A name that is a revision (`main`, `HEAD`, a sha) is never taken for
    /// a new environment, and once environments are known a new name needs
    /// `--new-env`: a typo does not become a permanent environment.
    pub fn deploy_env(&self, name: &str, new_env: bool) -> Result<EnvName> {
        let env = self.env(name)?;
        let known = self.known_envs()?;
        if known.iter().any(|k| k == name) {
            return Ok(env);
        }
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        let closest = crate::config::closest(name, &names);
        if self.repo().resolve(name).is_ok() {
            let example = closest.or(names.first().copied()).unwrap_or("staging");
            return Err(
                Error::usage(format!("'{name}' is a revision, not an environment"))
                    .hint(format!("did you mean `git train deploy {example} {name}`?")),
            );
        }
        if !new_env && self.ledger.retired()?.contains(name) {
            return Err(
                Error::usage(format!("{name} was retired (`git train env retire`)")).hint(format!(
                    "to deploy there again, add --new-env; known environments: {}",
                    names.join(", ")
                )),
            );
        }
        if !known.is_empty() && !new_env {
            let mut e = Error::usage(format!(
                "no environment '{name}' yet: nothing was deployed there"
            ));
            if let Some(c) = closest {
                e = e.hint(format!("did you mean {c}?"));
            }
            return Err(e.hint(format!(
                "known environments: {}; to make a new one, add --new-env (or [env.{name}] in .train.toml)",
                names.join(", ")
            )));
        }
        Ok(env)
    }

    /// An environment a read command was asked about (`status --env`, `history ENV`):
    /// one the team uses, else exit 2 naming the closest. With an empty ledger and
    /// no `[env.*]`, any name passes (there is nothing to compare it with yet).
    pub fn known_env(&self, name: &str) -> Result<EnvName> {
        let env = self.env(name)?;
        let known = self.envs(true)?;
        if known.is_empty() || known.iter().any(|k| k == name) {
            return Ok(env);
        }
        let names: Vec<&str> = known.iter().map(String::as_str).collect();
        let mut e = Error::usage(format!(
            "unknown environment '{name}': the ledger has no deployment to it"
        ));
        if let Some(c) = crate::config::closest(name, &names) {
            e = e.hint(format!("did you mean {c}?"));
        }
        Err(e.hint(format!("known environments: {}", names.join(", "))))
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
