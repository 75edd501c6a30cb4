//! The per-user daemon (DESIGN.md section 6): one process watches the repositories of
//! the user's watch list, polls their forges with conditional requests, writes new
//! deployment events into their ledgers, wakes when their refs change, and raises a
//! desktop notification when a deployment changes state, when CI finishes on one of
//! the user's trunk commits, and when a commit of theirs waits too long for an
//! environment.
//!
//! A tokio multi-thread runtime drives it; each repository's round runs in
//! `spawn_blocking` (`git2::Repository` is not `Sync`, and the GitHub client blocks).
//! Rounds for the same repository never overlap: wakes that arrive during a round
//! wait in the channel and are checked against the refs the round left.

pub mod announced;
pub mod config;
pub mod lock;
pub mod notifier;
pub mod round;
pub mod service;
pub mod watcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use announced::Announced;
use config::UserConfig;
use notifier::{Notification, Notifier};
use round::{Refs, Settings};
use watcher::{RefWatcher, Wake};

use crate::context::Ui;
use crate::error::{Error, Result};

/// Longest wait for the notification server to take one notification.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// After a notification could not be shown, the next ones are only logged for this long.
const SEND_PAUSE: Duration = Duration::from_secs(60);
/// Ref events closer together than this are one wake.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A stream of events that never pauses still wakes the daemon after this long.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);
/// Repositories whose rounds run at the same time.
const PARALLEL: usize = 4;

/// Where the daemon's log lines go (the cli writes them to stderr).
pub trait Log: Send + Sync {
    fn info(&self, line: &str);
    fn warn(&self, line: &str);
}

pub struct Options {
    /// One round of every repository, then exit.
    pub once: bool,
    /// Log every round, not only what it found.
    pub verbose: bool,
}

/// Runs the daemon until it is stopped (SIGINT, SIGTERM), or for one round.
pub fn run(options: Options, log: Arc<dyn Log>, notifier: Arc<dyn Notifier>) -> Result<()> {
    let lock_path = lock::path()?;
    let _lock = lock::DaemonLock::acquire(&lock_path)?;
    let (config, config_path) = config::load()?;
    let memory_path = announced::path()?;
    let (memory, warning) = Announced::load(&memory_path);
    if let Some(w) = warning {
        log.warn(&w);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("git-train-daemon")
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the daemon's runtime: {e}")))?;
    let daemon = Daemon {
        announcer: Announcer {
            notifier,
            timeout: SEND_TIMEOUT,
            failing: None,
            paused_until: None,
        },
        log,
        config,
        config_path,
        memory,
        memory_path,
        repos: BTreeMap::new(),
        watcher: None,
        verbose: options.verbose,
    };
    runtime.block_on(daemon.run(options.once))
}

/// What the daemon knows of one watched repository.
#[derive(Default)]
struct Watched {
    /// The refs as the last round left them (None: no round yet).
    refs: Option<Refs>,
    /// The problem last logged, so that it is logged once.
    problem: Option<String>,
}

struct Daemon {
    log: Arc<dyn Log>,
    announcer: Announcer,
    config: UserConfig,
    config_path: PathBuf,
    memory: Announced,
    memory_path: PathBuf,
    repos: BTreeMap<String, Watched>,
    watcher: Option<RefWatcher>,
    verbose: bool,
}

impl Daemon {
    async fn run(mut self, once: bool) -> Result<()> {
        if once {
            self.follow_watch_list().await;
            self.round(self.repos.keys().cloned().collect()).await;
            return Ok(());
        }
        let (tx, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        match RefWatcher::new(&self.config_path, tx) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self
                .log
                .warn(&format!("cannot watch for ref changes ({e}): polling only")),
        }
        self.follow_watch_list().await;
        self.round(self.repos.keys().cloned().collect()).await;
        let mut poll = self.config.poll();
        self.log.info(&format!(
            "ready: watching {}, polling every {}s; the watch list is {}",
            count(self.repos.len(), "repository", "repositories"),
            poll.as_secs(),
            self.config_path.display()
        ));
        let mut tick = ticker(poll);
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| Error::internal(format!("cannot catch SIGTERM: {e}")))?;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.reload_config().await;
                    if self.config.poll() != poll {
                        poll = self.config.poll();
                        tick = ticker(poll);
                    }
                    self.round(self.repos.keys().cloned().collect()).await;
                }
                Some(first) = wakes.recv() => {
                    let mut woken = BTreeSet::from([first]);
                    let started = Instant::now();
                    while started.elapsed() < DEBOUNCE_MAX {
                        match tokio::time::timeout(DEBOUNCE, wakes.recv()).await {
                            Ok(Some(w)) => { woken.insert(w); }
                            _ => break,
                        }
                    }
                    let mut due = Vec::new();
                    if woken.remove(&Wake::Config) {
                        due.extend(self.reload_config().await);
                    }
                    let keys = woken.into_iter().filter_map(|w| match w {
                        Wake::Repo(key) => Some(key),
                        Wake::Config => None,
                    });
                    for key in self.moved(keys.collect()).await {
                        self.log.info(&format!("{key}: refs changed, looking again"));
                        due.push(key);
                    }
                    if !due.is_empty() {
                        self.round(due).await;
                    }
                }
                _ = tokio::signal::ctrl_c() => break,
                _ = terminate.recv() => break,
            }
        }
        self.log.info("stopping");
        Ok(())
    }

    /// Reads the per-user config again; returns the repositories that were added.
    async fn reload_config(&mut self) -> Vec<String> {
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || UserConfig::load(&path)).await;
        match loaded {
            Ok(Ok(config)) => {
                self.config = config;
                let before: BTreeSet<String> = self.repos.keys().cloned().collect();
                self.follow_watch_list().await;
                self.repos
                    .keys()
                    .filter(|k| !before.contains(*k))
                    .cloned()
                    .collect()
            }
            Ok(Err(e)) => {
                self.log.warn(&format!(
                    "{e}; keeping the settings read before (fix the file and save it again)"
                ));
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Brings the set of watched repositories (and their ref watches) in line with the
    /// watch list.
    async fn follow_watch_list(&mut self) {
        let wanted: BTreeSet<String> = self.config.watch.iter().cloned().collect();
        let gone: Vec<String> = self
            .repos
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.repos.remove(&key);
            if let Some(w) = &mut self.watcher {
                w.remove(&key);
            }
            self.log.info(&format!("{key}: no longer watched"));
        }
        if wanted.is_empty() && self.repos.is_empty() {
            self.log.info(
                "nothing to watch yet: run `git train watch` (or `git train init`) in a repository",
            );
        }
        for key in wanted {
            if self.repos.contains_key(&key) {
                continue;
            }
            let path = PathBuf::from(&key);
            let found = tokio::task::spawn_blocking(move || round::git_dir(&path)).await;
            let mut watched = Watched::default();
            match found {
                Ok(Ok(git_dir)) => {
                    if let Some(w) = &mut self.watcher {
                        if let Err(e) = w.add(&key, &git_dir) {
                            self.log.warn(&format!("{key}: {e}; polling it only"));
                        }
                    }
                }
                Ok(Err(e)) => {
                    let problem = format!(
                        "not a repository ({}); `git train unwatch {key}` takes it off the list",
                        e.message
                    );
                    self.log.warn(&format!("{key}: {problem}"));
                    watched.problem = Some(problem);
                }
                Err(_) => {}
            }
            self.repos.insert(key, watched);
        }
    }

    /// The woken repositories whose refs differ from what the last round left: the
    /// daemon's own ledger writes compare equal and wake nothing.
    async fn moved(&self, keys: Vec<String>) -> Vec<String> {
        let mut out = Vec::new();
        for key in keys {
            let Some(watched) = self.repos.get(&key) else {
                continue;
            };
            let path = PathBuf::from(&key);
            let now = tokio::task::spawn_blocking(move || round::read_refs(&path)).await;
            match (now, &watched.refs) {
                (Ok(Ok(now)), Some(before)) if &now == before => {}
                _ => out.push(key),
            }
        }
        out
    }

    /// One round of the given repositories: their news, announced; the memory saved
    /// first, so that a crash never repeats news.
    async fn round(&mut self, keys: Vec<String>) {
        let mut keys = keys;
        let started = Instant::now();
        let asked = keys.len();
        let mut told = 0;
        // A repository whose refs someone moved during its round gets a second one.
        for _pass in 0..2 {
            if keys.is_empty() {
                break;
            }
            let settings = Arc::new(Settings::of(&self.config));
            let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
            let mut tasks = tokio::task::JoinSet::new();
            for key in keys.drain(..) {
                let before = self.memory.repos.get(&key).cloned();
                let settings = Arc::clone(&settings);
                let limit = Arc::clone(&limit);
                let log = Arc::clone(&self.log);
                tasks.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let path = key.clone();
                    let done = tokio::task::spawn_blocking(move || {
                        let ui: Box<dyn Ui> = Box::new(RoundUi {
                            log,
                            repo: path.clone(),
                        });
                        round::round(Path::new(&path), before.as_ref(), &settings, ui)
                    })
                    .await;
                    (key, done)
                });
            }
            let mut news = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                let Ok((key, done)) = joined else { continue };
                let outcome = match done {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(e)) => {
                        self.problem(&key, Some(say(&e)));
                        continue;
                    }
                    Err(e) => {
                        self.problem(&key, Some(format!("the round failed: {e}")));
                        continue;
                    }
                };
                let problem = (!outcome.problems.is_empty()).then(|| outcome.problems.join("; "));
                self.problem(&key, problem);
                if outcome.moved_meanwhile {
                    keys.push(key.clone());
                }
                news.extend(outcome.news);
                self.memory.repos.insert(key.clone(), outcome.announced);
                if let Some(w) = self.repos.get_mut(&key) {
                    w.refs = Some(outcome.refs);
                }
            }
            self.save_memory().await;
            told += news.len();
            for n in news {
                self.announcer
                    .announce(&n.notification(), self.log.as_ref())
                    .await;
            }
        }
        if self.verbose {
            self.log.info(&format!(
                "round: {} in {} ms, {told} to tell",
                count(asked, "repository", "repositories"),
                started.elapsed().as_millis()
            ));
        }
    }

    async fn save_memory(&mut self) {
        // Repositories no longer watched are forgotten.
        let watched: BTreeSet<&String> = self.repos.keys().collect();
        self.memory.repos.retain(|k, _| watched.contains(k));
        let memory = self.memory.clone();
        let path = self.memory_path.clone();
        let saved = tokio::task::spawn_blocking(move || memory.save(&path)).await;
        if let Ok(Err(e)) = saved {
            self.log.warn(&format!(
                "cannot save what was announced ({}): a restart may repeat it",
                e.message
            ));
        }
    }

    /// Logs a repository's problem when it appears or changes, and when it is gone.
    fn problem(&mut self, key: &str, problem: Option<String>) {
        let Some(w) = self.repos.get_mut(key) else {
            return;
        };
        if w.problem == problem {
            return;
        }
        match &problem {
            Some(p) => self.log.warn(&format!("{key}: {p}")),
            None => self.log.info(&format!("{key}: working again")),
        }
        w.problem = problem;
    }
}

fn ticker(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// An error in one line, with its hint.
pub(crate) fn say(e: &Error) -> String {
    e.one_line()
}

/// Shows notifications, each under a timeout. When one cannot be shown (no session
/// bus, no notification server, a server that does not answer) it says so once, and
/// for a while only logs the next ones, so a round never waits on a dead server.
struct Announcer {
    notifier: Arc<dyn Notifier>,
    timeout: Duration,
    /// Why the last notification could not be shown.
    failing: Option<String>,
    paused_until: Option<Instant>,
}

impl Announcer {
    async fn announce(&mut self, n: &Notification, log: &dyn Log) {
        log.info(&format!(
            "notify: {}: {}",
            n.summary,
            n.body.replace('\n', " | ")
        ));
        if self
            .paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return;
        }
        let why = match tokio::time::timeout(self.timeout, self.notifier.show(n)).await {
            Ok(Ok(())) => {
                if self.failing.take().is_some() {
                    log.info("desktop notifications work again");
                }
                self.paused_until = None;
                return;
            }
            Ok(Err(e)) => e,
            Err(_) => format!(
                "the notification server did not answer within {}",
                humantime::format_duration(self.timeout)
            ),
        };
        if self.failing.is_none() {
            log.warn(&format!(
                "cannot show desktop notifications: {why}; going on, logging them here"
            ));
        }
        self.failing = Some(why);
        self.paused_until = Some(Instant::now() + SEND_PAUSE);
    }
}

/// What a repository's round says goes to the log, prefixed with the repository.
struct RoundUi {
    log: Arc<dyn Log>,
    repo: String,
}

impl Ui for RoundUi {
    fn confirm(&self, _question: &str) -> bool {
        false
    }
    fn interactive(&self) -> bool {
        false
    }
    fn progress(&self, _line: &str) {}
    fn done(&self) {}
    fn warn(&self, message: &str) {
        self.log.warn(&format!("{}: {message}", self.repo));
    }
    fn note(&self, message: &str) {
        self.log.info(&format!("{}: {message}", self.repo));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl Log for Lines {
        fn info(&self, line: &str) {
            self.0.lock().unwrap().push(format!("info {line}"));
        }
        fn warn(&self, line: &str) {
            self.0.lock().unwrap().push(format!("warn {line}"));
        }
    }

    struct Silent;
    impl Notifier for Silent {
        fn show<'a>(&'a self, _n: &'a Notification) -> notifier::Sending<'a> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_waited_for_once_then_logged_around() {
        let log = Lines::default();
        let mut a = Announcer {
            notifier: Arc::new(Silent),
            timeout: Duration::from_millis(50),
            failing: None,
            paused_until: None,
        };
        let n = Notification {
            summary: "api: production succeeded".into(),
            body: "0377e3c Fix\nmore".into(),
            critical: false,
        };
        a.announce(&n, &log).await;
        a.announce(&n, &log).await;
        let lines = log.0.lock().unwrap().clone();
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("warn")).count(),
            1,
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.contains("notify: api")).count(),
            2
        );
        assert!(lines[1].contains("did not answer within 50ms"), "{lines:?}");
    }
}
