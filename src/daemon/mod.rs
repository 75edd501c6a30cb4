//! The per-user daemon (DESIGN.md section 6): one process watches the repositories of
//! the user's watch list, polls their forges with conditional requests, writes new
//! deployment events into their ledgers, wakes when their refs change, and hands a
//! structured event to the notify hub (the desktop sink) when a deployment changes
//! state, when CI finishes on one of the user's trunk commits, and when a commit of
//! theirs waits too long for an environment.
//!
//! A tokio multi-thread runtime drives it; each repository's round runs in
//! `spawn_blocking` (the repository handle is not `Sync`, and the GitHub client blocks).
//! Repositories are polled independently: what one round finds is announced when
//! that round ends, whatever the others do, and a round that runs longer than
//! `ROUND_TIMEOUT` (a forge that never answers) is reported and no longer holds back
//! anything. Rounds for the same repository never overlap: wakes that arrive during
//! a round are checked against the refs the round left.
//!
//! SIGTERM and Ctrl-C end the daemon at once, at any moment: rounds still running
//! are not waited for (their threads end with the process); only a ledger ref being
//! moved at that instant is let finish, so no write is left half-done.

pub mod announced;
pub mod config;
pub mod health;
pub mod lock;
pub mod round;
pub mod service;
pub mod started;
pub mod watcher;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use announced::Announced;
use config::UserConfig;
use health::{Health, Problem, ProblemKind, RepoHealth};
use round::{Refs, Settings};
use watcher::{RefWatcher, Wake};

use crate::clock::Clock;
use crate::context::Ui;
use crate::domain::Timestamp;
use crate::error::{Error, Result};
use crate::notify::{self, Hub};

/// Notifications kept for another try when they could not be shown (the oldest go).
const PENDING_MAX: usize = 20;
/// Ref events closer together than this are one wake.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A stream of events that never pauses still wakes the daemon after this long.
const DEBOUNCE_MAX: Duration = Duration::from_secs(2);
/// Repositories whose rounds run at the same time.
const PARALLEL: usize = 4;
/// A round running longer than this is reported, and frees its place among the
/// `PARALLEL` ones (it is waited for in the background).
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);
/// A round is run again at once (refs moved during it) at most this many times.
const MAX_REPEATS: u32 = 2;
/// How often repositories whose ref watch is missing or stale (deleted, cloned
/// again, not there yet) are looked at: one `stat` each.
const WATCH_CHECK: Duration = Duration::from_secs(5);
/// `daemon-status.json` is written again for new round times alone this often at
/// most (anything else in it changing is written at once).
const HEALTH_TIMES_EVERY: Duration = Duration::from_secs(10);
/// On a stop, the longest wait for a ledger ref being moved at that instant.
const STOP_WAIT: Duration = Duration::from_secs(1);

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

/// Runs the daemon until it is stopped (SIGINT, SIGTERM), or for one round; what it
/// finds goes to `hub` (the desktop sink).
pub fn run(options: Options, log: Arc<dyn Log>, hub: Hub) -> Result<()> {
    let lock_path = lock::path()?;
    let _lock = lock::DaemonLock::acquire(&lock_path)?;
    let (config, config_path) = config::load()?;
    let memory_path = announced::path()?;
    let (memory, warning) = Announced::load(&memory_path);
    // After a warning the file is written again at the first round.
    let saved = warning.is_none().then(|| memory.clone());
    if let Some(w) = warning {
        log.warn(&w);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("git-train-daemon")
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the daemon's runtime: {e}")))?;
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
    let clock = Clock::from_env().unwrap_or_else(|_| Clock::system());
    let daemon = Daemon {
        clock,
        started_at: clock.now(),
        health_path: health::path()?,
        health_saved: None,
        health_saved_at: None,
        announcer: Announcer::new(hub),
        log: Arc::clone(&log),
        config,
        config_path,
        saved,
        memory,
        memory_path,
        save_failed: None,
        repos: BTreeMap::new(),
        aliases: BTreeMap::new(),
        watcher: None,
        verbose: options.verbose,
        done_tx,
        done_rx,
        limit: Arc::new(tokio::sync::Semaphore::new(PARALLEL)),
        batches: Vec::new(),
        ready: None,
        health_due: false,
    };
    let outcome = runtime.block_on(async {
        // Caught before the first round starts, so a stop is never lost.
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| Error::internal(format!("cannot catch SIGTERM: {e}")))?;
        tokio::select! {
            done = daemon.run(options.once) => done,
            _ = terminate.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    // Rounds still running are not waited for (a forge that does not answer would
    // hold the stop for minutes); a ledger ref being moved right now is let finish.
    runtime.shutdown_background();
    crate::ledger::stop_writes(STOP_WAIT);
    if !options.once {
        log.info("stopping");
    }
    outcome
}

/// What the daemon knows of one watched repository.
#[derive(Default)]
struct Watched {
    /// The refs as the last round left them (None: no round yet).
    refs: Option<Refs>,
    /// What the last full round said of the next ones, and the settings it had.
    quiet: Option<(round::Quiet, Arc<Settings>)>,
    /// The problem last logged, so that it is logged once.
    problem: Option<String>,
    /// A round is running.
    running: bool,
    /// Another round is due when the running one ends.
    again: bool,
    /// Its refs changed during the running round: compare when it ends.
    woken: bool,
    /// Rounds run again at once, in a row (refs moving during each round).
    repeats: u32,
    /// Its common git folder: two work trees of one repository share it.
    git_dir: Option<PathBuf>,
    /// The git folder its ref watch is on (device and inode): None when its refs
    /// are not watched (not there yet, gone, or the watch could not be made).
    watching: Option<Identity>,
    /// When its last round ended, and the last one without a problem.
    last_round: Option<Timestamp>,
    last_answer: Option<Timestamp>,
    /// What kind of problem `problem` is.
    kind: Option<ProblemKind>,
    /// Its forge has not answered since then.
    failing_since: Option<Instant>,
    /// The desktop was told that its forge does not answer (once per outage).
    told_unreachable: bool,
}

/// What a round tells the loop.
type JoinError = tokio::task::JoinError;
/// A round's outcome, with the settings it had.
type Finished = (round::Outcome, Arc<Settings>);

enum RoundEvent {
    /// Still running after `ROUND_TIMEOUT`.
    Slow(String),
    Done {
        key: String,
        took: Duration,
        result: std::result::Result<Result<Box<Finished>>, JoinError>,
    },
}

/// Rounds started together (a poll, a wake), for the verbose log line.
struct Batch {
    /// The daemon's first rounds: "ready" is said when they end.
    first: bool,
    started: Instant,
    asked: usize,
    pending: BTreeSet<String>,
    told: usize,
}

struct Daemon {
    clock: Clock,
    started_at: Timestamp,
    /// `daemon status`'s file, and what was last written to it.
    health_path: PathBuf,
    health_saved: Option<Health>,
    health_saved_at: Option<Instant>,
    log: Arc<dyn Log>,
    announcer: Announcer,
    config: UserConfig,
    config_path: PathBuf,
    memory: Announced,
    memory_path: PathBuf,
    /// What was last written to `memory_path`.
    saved: Option<Announced>,
    /// Why the last save failed, said once.
    save_failed: Option<String>,
    repos: BTreeMap<String, Watched>,
    /// Watch-list entries that are another work tree of a watched repository: the
    /// repository is watched once, by the entry they name.
    aliases: BTreeMap<String, String>,
    watcher: Option<RefWatcher>,
    verbose: bool,
    done_tx: tokio::sync::mpsc::UnboundedSender<RoundEvent>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<RoundEvent>,
    limit: Arc<tokio::sync::Semaphore>,
    batches: Vec<Batch>,
    /// The "ready" line, said when the first rounds have ended (or run long).
    ready: Option<String>,
    /// A batch of rounds ended: the health file is written.
    health_due: bool,
}

impl Daemon {
    async fn run(mut self, once: bool) -> Result<()> {
        if once {
            self.follow_watch_list().await;
            self.start(self.repos.keys().cloned().collect());
            while self.repos.values().any(|w| w.running) {
                match self.done_rx.recv().await {
                    // One round of each, however long it takes.
                    Some(RoundEvent::Slow(_)) => {}
                    Some(event) => self.finished(event).await,
                    None => break,
                }
            }
            self.save_health().await;
            return self.all_failed();
        }
        let (tx, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        match RefWatcher::new(&self.config_path, tx) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => self
                .log
                .warn(&format!("cannot watch for ref changes ({e}): polling only")),
        }
        self.follow_watch_list().await;
        let mut poll = self.config.poll();
        self.ready = Some(format!(
            "ready: watching {}, polling every {}s; the watch list is {}",
            count(self.repos.len(), "repository", "repositories"),
            poll.as_secs(),
            self.config_path.display()
        ));
        self.start(self.repos.keys().cloned().collect());
        let mut tick = ticker(poll);
        let mut check = ticker(WATCH_CHECK);
        loop {
            tokio::select! {
                _ = check.tick() => {
                    let found = self.rewatch().await;
                    if !found.is_empty() {
                        self.start(found);
                    }
                }
                _ = tick.tick() => {
                    // What could not be shown is tried again, news or not.
                    self.announcer.next_round();
                    self.announcer.flush(self.log.as_ref()).await;
                    self.reload_config().await;
                    self.repoll(&mut poll, &mut tick);
                    // A repository still in its round is polled at the next tick.
                    let idle = self
                        .repos
                        .iter()
                        .filter(|(_, w)| !w.running)
                        .map(|(k, _)| k.clone())
                        .collect();
                    self.start_tick(idle);
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
                        // A new `poll` counts from now, not from the old tick.
                        self.repoll(&mut poll, &mut tick);
                    }
                    let mut keys = Vec::new();
                    for w in woken {
                        match w {
                            Wake::Repo(key) => keys.push(key),
                            Wake::Lost(key) => {
                                // Looked for again at the next check.
                                if let Some(w) = self.repos.get_mut(&key) {
                                    w.watching = None;
                                }
                            }
                            Wake::Config => {}
                        }
                    }
                    for key in self.moved(keys).await {
                        self.log.info(&format!("{key}: refs changed, looking again"));
                        due.push(key);
                    }
                    if !due.is_empty() {
                        self.start(due);
                    }
                }
                Some(event) = self.done_rx.recv() => {
                    self.finished(event).await;
                    if std::mem::take(&mut self.health_due) {
                        self.save_health().await;
                    }
                }
            }
        }
    }

    /// Follows a changed `poll` setting: the next poll is one new period from now.
    fn repoll(&self, poll: &mut Duration, tick: &mut tokio::time::Interval) {
        let now = self.config.poll();
        if now != *poll {
            *poll = now;
            *tick = ticker(now);
            self.log
                .info(&format!("polling every {}s from now", now.as_secs()));
        }
    }

    /// Starts a round of each repository given, as one batch. One already in a
    /// round gets another when it ends.
    fn start(&mut self, keys: Vec<String>) {
        self.start_rounds(keys, false);
    }

    /// Starts the rounds of a tick: a repository whose refs are watched and have not
    /// moved since its last full round may have a quiet one (see `round::Quiet`).
    fn start_tick(&mut self, keys: Vec<String>) {
        self.start_rounds(keys, true);
    }

    fn start_rounds(&mut self, keys: Vec<String>, tick: bool) {
        self.announcer.next_round();
        let mut batch = Batch {
            first: self.ready.is_some() && self.batches.iter().all(|b| !b.first),
            started: Instant::now(),
            asked: 0,
            pending: BTreeSet::new(),
            told: 0,
        };
        let settings = Arc::new(Settings::of(&self.config));
        for key in keys {
            let Some(watched) = self.repos.get_mut(&key) else {
                continue;
            };
            batch.asked += 1;
            batch.pending.insert(key.clone());
            if watched.running {
                watched.again = true;
                continue;
            }
            watched.running = true;
            watched.repeats = 0;
            let quiet = match &watched.quiet {
                Some((q, had)) if tick && watched.watching.is_some() && **had == *settings => {
                    Some(q.clone())
                }
                _ => None,
            };
            self.spawn_round(key, Arc::clone(&settings), quiet);
        }
        if batch.asked > 0 {
            self.batches.push(batch);
        } else if batch.first {
            self.say_ready();
        }
    }

    /// How notifications name a watched repository: its folder's name, with the
    /// folder above when another watched one has the same name (`work/api`,
    /// `forks/api`).
    fn display_name(&self, key: &str) -> String {
        let name = |k: &str| {
            Path::new(k)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| k.to_string())
        };
        let mine = name(key);
        let clash = self.repos.keys().any(|k| k != key && name(k) == mine);
        match Path::new(key).parent().and_then(|p| p.file_name()) {
            Some(parent) if clash => format!("{}/{mine}", parent.to_string_lossy()),
            _ => mine,
        }
    }

    fn spawn_round(&mut self, key: String, settings: Arc<Settings>, quiet: Option<round::Quiet>) {
        if quiet.is_none() {
            // A full round: what it says of the next ones holds from its start.
            if let Some(w) = self.repos.get_mut(&key) {
                w.quiet = None;
            }
        }
        let had = Arc::clone(&settings);
        let before = self.memory.repos.get(&key).cloned();
        let name = self.display_name(&key);
        let limit = Arc::clone(&self.limit);
        let log = Arc::clone(&self.log);
        let tx = self.done_tx.clone();
        tokio::spawn(async move {
            let permit = limit.acquire_owned().await;
            let started = Instant::now();
            let path = key.clone();
            let mut round = tokio::task::spawn_blocking(move || {
                let ui: Box<dyn Ui> = Box::new(RoundUi {
                    log,
                    repo: path.clone(),
                });
                round::round(
                    Path::new(&path),
                    &name,
                    before.as_ref(),
                    &settings,
                    quiet.as_ref(),
                    ui,
                )
                .map(|outcome| Box::new((outcome, had)))
            });
            let result = tokio::select! {
                done = &mut round => done,
                _ = tokio::time::sleep(ROUND_TIMEOUT) => {
                    // It no longer holds back the others.
                    drop(permit);
                    let _ = tx.send(RoundEvent::Slow(key.clone()));
                    round.await
                }
            };
            let _ = tx.send(RoundEvent::Done {
                key,
                took: started.elapsed(),
                result,
            });
        });
    }

    /// A round ended (or runs long): its news announced at once, whatever the
    /// other repositories' rounds do.
    async fn finished(&mut self, event: RoundEvent) {
        let (key, took, result) = match event {
            RoundEvent::Slow(key) => {
                self.problem(
                    &key,
                    Some(format!(
                        "its round has run for {}s and goes on in the background; the other repositories do not wait for it (does its forge answer?)",
                        ROUND_TIMEOUT.as_secs()
                    )),
                );
                self.batch_done(&key, 0);
                return;
            }
            RoundEvent::Done { key, took, result } => (key, took, result),
        };
        let Some(watched) = self.repos.get_mut(&key) else {
            // Taken off the watch list meanwhile.
            self.batch_done(&key, 0);
            return;
        };
        watched.running = false;
        let woken = std::mem::take(&mut watched.woken);
        let mut again = std::mem::take(&mut watched.again);
        let outcome = match result {
            Ok(Ok(done)) => Some(*done),
            Ok(Err(e)) => {
                let kind = ProblemKind::of(&e);
                // The same problem in other words (the watch said "not a repository"
                // first, the round says it as opening the repository does): once.
                let said = self.repos.get(&key).and_then(|w| w.kind);
                if said != Some(kind) || self.repos.get(&key).is_some_and(|w| w.problem.is_none()) {
                    self.problem(&key, Some(say(&e)));
                }
                self.answered(&key, Some(kind));
                None
            }
            Err(e) => {
                self.problem(&key, Some(format!("the round failed: {e}")));
                self.answered(&key, Some(ProblemKind::Other));
                None
            }
        };
        let mut news = Vec::new();
        let mut quiet = false;
        if let Some((outcome, settings)) = outcome {
            quiet = outcome.refs.is_none();
            // One problem met twice in a round (no token for the import and again for
            // CI) is said once.
            let mut said: Vec<String> = Vec::new();
            for text in outcome.problems.iter().map(say) {
                if !said.contains(&text) {
                    said.push(text);
                }
            }
            let problem = (!said.is_empty()).then(|| said.join("; "));
            self.problem(&key, problem);
            self.answered(&key, outcome.problems.first().map(ProblemKind::of));
            // A repository whose refs someone moved during its round gets a second one.
            again |= outcome.moved_meanwhile;
            news = outcome.news;
            self.memory.repos.insert(key.clone(), outcome.announced);
            if let Some(w) = self.repos.get_mut(&key) {
                if let Some(refs) = outcome.refs {
                    w.refs = Some(refs);
                }
                // A wake during the round (below) makes the next one full anyway.
                w.quiet = outcome.quiet.map(|q| (q, settings));
            }
            self.save_memory().await;
        }
        if woken && !again {
            again = !self.moved(vec![key.clone()]).await.is_empty();
        }
        if self.verbose {
            self.log.info(&format!(
                "{key}: checked in {} ms, {} to tell{}",
                took.as_millis(),
                news.len(),
                if quiet { " (quiet: nothing moved)" } else { "" }
            ));
        }
        let told = news.len();
        for event in news {
            self.announcer.announce(&event, self.log.as_ref()).await;
        }
        self.tell_unreachable().await;
        // Refs that move during every round wait for the next poll or wake.
        let watched = self.repos.get_mut(&key);
        let again = again && watched.as_ref().is_some_and(|w| w.repeats < MAX_REPEATS);
        if let (true, Some(w)) = (again, watched) {
            w.running = true;
            w.repeats += 1;
            for b in self.batches.iter_mut().filter(|b| b.pending.contains(&key)) {
                b.told += told;
            }
            let settings = Arc::new(Settings::of(&self.config));
            self.spawn_round(key, settings, None);
        } else {
            self.batch_done(&key, told);
        }
    }

    /// Counts a repository as done in the batches that wait for it; says each batch
    /// that is complete, and "ready" after the first.
    fn batch_done(&mut self, key: &str, told: usize) {
        let mut complete = Vec::new();
        self.batches.retain_mut(|b| {
            if b.pending.remove(key) {
                b.told += told;
            }
            if b.pending.is_empty() {
                complete.push((b.first, b.asked, b.started.elapsed(), b.told));
                false
            } else {
                true
            }
        });
        if !complete.is_empty() {
            self.health_due = true;
        }
        for (first, asked, took, told) in complete {
            if self.verbose {
                self.log.info(&format!(
                    "round: {} in {} ms, {told} to tell",
                    count(asked, "repository", "repositories"),
                    took.as_millis()
                ));
            }
            if first {
                self.say_ready();
            }
        }
    }

    fn say_ready(&mut self) {
        if let Some(line) = self.ready.take() {
            self.log.info(&line);
        }
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
        // Work trees of a repository no longer watched by that entry are looked at
        // again: one of them may watch it now.
        let repos = &self.repos;
        self.aliases
            .retain(|alias, of| wanted.contains(alias) && repos.contains_key(of));
        if wanted.is_empty() && self.repos.is_empty() {
            self.log.info(
                "nothing to watch yet: run `git train watch` (or `git train init`) in a repository",
            );
        }
        for key in wanted {
            if self.repos.contains_key(&key) || self.aliases.contains_key(&key) {
                continue;
            }
            self.repos.insert(key.clone(), Watched::default());
            self.attach(&key, true).await;
        }
    }

    /// Finds a watched repository's git folder and watches its refs. Another work
    /// tree of a repository watched already becomes an alias of it. `first`: the
    /// entry is new, so a missing repository is said (later, its round says it).
    /// Returns whether its refs are watched now.
    async fn attach(&mut self, key: &str, first: bool) -> bool {
        let path = PathBuf::from(key);
        let found = tokio::task::spawn_blocking(move || {
            round::git_dir(&path).map(|d| std::fs::canonicalize(&d).unwrap_or(d))
        })
        .await;
        match found {
            Ok(Ok(git_dir)) => {
                let same = self
                    .repos
                    .iter()
                    .find(|(k, w)| k.as_str() != key && w.git_dir.as_ref() == Some(&git_dir))
                    .map(|(k, _)| k.clone());
                if let Some(of) = same {
                    self.log.info(&format!(
                        "{key}: another work tree of {of}, which is watched already: told once"
                    ));
                    self.repos.remove(key);
                    self.aliases.insert(key.to_string(), of);
                    return false;
                }
                let identity = identity(&git_dir);
                let mut watching = None;
                if let Some(w) = &mut self.watcher {
                    match w.add(key, &git_dir) {
                        Ok(()) => watching = identity,
                        // Said once; it is tried again at each check.
                        Err(e) if first => self.log.warn(&format!("{key}: {e}; polling it only")),
                        Err(_) => {}
                    }
                }
                if let Some(w) = self.repos.get_mut(key) {
                    w.git_dir = Some(git_dir);
                    w.watching = watching;
                }
                watching.is_some()
            }
            Ok(Err(e)) => {
                if first {
                    let problem = format!(
                        "not a repository ({}); `git train unwatch {key}` takes it off the list",
                        e.message
                    );
                    self.log.warn(&format!("{key}: {problem}"));
                    if let Some(w) = self.repos.get_mut(key) {
                        w.problem = Some(problem);
                        w.kind = Some(ProblemKind::NotARepository);
                    }
                }
                false
            }
            Err(_) => false,
        }
    }

    /// Gives back their ref watch to repositories that lost it or never had one: a
    /// repository deleted and cloned again at its path (a new git folder), or a
    /// watch-list path that is a repository now. Returns those found again, for a
    /// round at once.
    async fn rewatch(&mut self) -> Vec<String> {
        if self.watcher.is_none() {
            return Vec::new();
        }
        let stale: Vec<(String, bool)> = self
            .repos
            .iter()
            .filter(|(_, w)| {
                w.watching.is_none() || w.git_dir.as_deref().and_then(identity) != w.watching
            })
            .map(|(k, w)| (k.clone(), w.watching.is_some()))
            .collect();
        let mut found = Vec::new();
        for (key, had) in stale {
            if had {
                // Its git folder is gone or another one: the old watch means nothing.
                if let Some(w) = &mut self.watcher {
                    w.remove(&key);
                }
                if let Some(w) = self.repos.get_mut(&key) {
                    w.watching = None;
                    w.git_dir = None;
                }
            }
            if self.attach(&key, false).await {
                self.log
                    .info(&format!("{key}: a repository again, its refs watched"));
                found.push(key);
            }
        }
        found
    }

    /// The woken repositories whose refs differ from what the last round left: the
    /// daemon's own ledger writes compare equal and wake nothing. One in a round is
    /// compared when its round ends.
    async fn moved(&mut self, keys: Vec<String>) -> Vec<String> {
        let mut out = Vec::new();
        for key in keys {
            let Some(watched) = self.repos.get_mut(&key) else {
                continue;
            };
            if watched.running {
                watched.woken = true;
                continue;
            }
            let path = PathBuf::from(&key);
            let now = tokio::task::spawn_blocking(move || round::read_refs(&path)).await;
            let before = self.repos.get(&key).and_then(|w| w.refs.as_ref());
            match (now, before) {
                (Ok(Ok(now)), Some(before)) if &now == before => {}
                _ => out.push(key),
            }
        }
        out
    }

    async fn save_memory(&mut self) {
        // Repositories no longer watched are forgotten.
        let watched: BTreeSet<&String> = self.repos.keys().collect();
        self.memory.repos.retain(|k, _| watched.contains(k));
        // Written only when it changed (an idle round writes nothing).
        if self.saved.as_ref() == Some(&self.memory) {
            return;
        }
        let memory = self.memory.clone();
        let path = self.memory_path.clone();
        let saved = tokio::task::spawn_blocking(move || memory.save(&path)).await;
        match saved {
            Ok(Ok(())) => {
                self.saved = Some(self.memory.clone());
                self.save_failed = None;
            }
            Ok(Err(e)) => {
                // Said once, and again only when the reason changes.
                if self.save_failed.as_ref() != Some(&e.message) {
                    self.log.warn(&format!(
                        "cannot save what was announced to {} ({}): a restart may repeat it",
                        self.memory_path.display(),
                        e.message
                    ));
                    self.save_failed = Some(e.message);
                }
            }
            Err(_) => {}
        }
    }

    /// Notes how a repository's round ended for `daemon status`: answered, or
    /// the kind of problem it met.
    fn answered(&mut self, key: &str, problem: Option<ProblemKind>) {
        let now = self.clock.now();
        let Some(w) = self.repos.get_mut(key) else {
            return;
        };
        w.last_round = Some(now);
        w.kind = problem;
        let forge = problem.is_some_and(|k| {
            matches!(
                k,
                ProblemKind::NoToken
                    | ProblemKind::Unauthorized
                    | ProblemKind::Unreachable
                    | ProblemKind::RateLimited
            )
        });
        if problem.is_none() {
            w.last_answer = Some(now);
        }
        if forge {
            w.failing_since.get_or_insert_with(Instant::now);
        } else {
            w.failing_since = None;
            w.told_unreachable = false;
        }
    }

    /// Tells the desktop, once per outage, about repositories whose forge has not
    /// answered for `unreachable_after`: one notification for all of them.
    async fn tell_unreachable(&mut self) {
        let after = self.config.unreachable_after();
        let due: Vec<(String, Duration)> = self
            .repos
            .iter()
            .filter(|(_, w)| !w.told_unreachable)
            .filter_map(|(k, w)| {
                let for_ = w.failing_since?.elapsed();
                (for_ >= after).then(|| (k.clone(), for_))
            })
            .collect();
        let Some((first, longest)) = due.iter().max_by_key(|(_, d)| *d).cloned() else {
            return;
        };
        let names = due.iter().map(|(k, _)| self.display_name(k)).collect();
        for (key, _) in &due {
            if let Some(w) = self.repos.get_mut(key) {
                w.told_unreachable = true;
            }
        }
        let why = self
            .repos
            .get(&first)
            .and_then(|w| w.problem.clone())
            .unwrap_or_default();
        let event = notify::Event::Unreachable(notify::ForgeUnreachable {
            repository: notify::Repository {
                name: self.display_name(&first),
                ..notify::Repository::at(Path::new(&first))
            },
            repositories: names,
            for_ms: i64::try_from(longest.as_millis()).unwrap_or(i64::MAX),
            why,
        });
        self.announcer.announce(&event, self.log.as_ref()).await;
    }

    /// `daemon --once`: an error when every watched repository's round failed.
    fn all_failed(&self) -> Result<()> {
        if self.repos.is_empty() || self.repos.values().any(|w| w.problem.is_none()) {
            return Ok(());
        }
        let failed: Vec<String> = self
            .repos
            .iter()
            .map(|(k, w)| {
                let kind = w.kind.unwrap_or(ProblemKind::Other).words();
                format!("{} ({kind})", self.display_name(k))
            })
            .collect();
        Err(Error::refused(format!(
            "every watched repository failed its round: {}",
            failed.join(", ")
        ))
        .hint("`git train daemon status` says why, for each"))
    }

    /// Writes `daemon status`'s file when what it says changed.
    async fn save_health(&mut self) {
        let mut repositories: Vec<RepoHealth> = self
            .repos
            .iter()
            .map(|(k, w)| RepoHealth {
                path: k.clone(),
                name: self.display_name(k),
                same_as: None,
                refs_watched: w.watching.is_some(),
                last_round: w.last_round,
                last_answer: w.last_answer,
                problem: w.problem.clone().map(|message| Problem {
                    kind: w.kind.unwrap_or(ProblemKind::Other),
                    message,
                }),
            })
            .collect();
        for (alias, of) in &self.aliases {
            repositories.push(RepoHealth {
                path: alias.clone(),
                name: self.display_name(alias),
                same_as: Some(of.clone()),
                refs_watched: false,
                last_round: None,
                last_answer: None,
                problem: None,
            });
        }
        repositories.sort_by(|a, b| a.path.cmp(&b.path));
        let health = Health {
            version: health::VERSION,
            pid: std::process::id(),
            started_at: self.started_at,
            updated_at: self.clock.now(),
            poll_secs: self.config.poll().as_secs(),
            config: self.config_path.display().to_string(),
            repositories,
        };
        let recent = self
            .health_saved_at
            .is_some_and(|at| at.elapsed() < HEALTH_TIMES_EVERY);
        match &self.health_saved {
            Some(saved) if *saved == health => return,
            Some(saved) if recent && saved.same_but_times(&health) => return,
            _ => {}
        }
        let path = self.health_path.clone();
        let saving = health.clone();
        let saved = tokio::task::spawn_blocking(move || saving.save(&path)).await;
        match saved {
            Ok(Ok(())) => {
                self.health_saved = Some(health);
                self.health_saved_at = Some(Instant::now());
            }
            Ok(Err(e)) => {
                if self.health_saved.is_some() || self.save_failed.is_none() {
                    self.log.warn(&format!(
                        "cannot write {} ({}): `git train daemon status` cannot say what this daemon does",
                        self.health_path.display(),
                        e.message
                    ));
                }
                self.health_saved = None;
            }
            Err(_) => {}
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

/// A folder's device, inode and birth time: a folder deleted and made again is
/// another one (its inode number may be the old one's, reused at once).
fn identity(dir: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| {
        let born = m
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        (m.dev(), m.ino(), born.map_or(0, |d| d.as_nanos()))
    })
}

type Identity = (u64, u64, u128);

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

/// Hands events to the hub (each send under its timeout) and logs them as the
/// desktop shows them. When one cannot be shown (no session bus, no notification
/// server, a server that does not answer) it says why (again only when the cause
/// changes), keeps it, and sends nothing more in that round, so a round waits on a
/// dead server at most once; the next round (a poll, a wake) tries the kept ones
/// again, oldest first, each once however often it was told (a deployment's newest
/// state replaces its older ones), at most `PENDING_MAX`.
struct Announcer {
    hub: Hub,
    /// Why the last notification could not be shown.
    failing: Option<String>,
    /// A send failed in this round: the rest wait for the next.
    blocked: bool,
    pending: std::collections::VecDeque<notify::Event>,
    /// Kept ones given up (the list was full), not yet logged.
    dropped: usize,
}

impl Announcer {
    fn new(hub: Hub) -> Announcer {
        Announcer {
            hub,
            failing: None,
            blocked: false,
            pending: std::collections::VecDeque::new(),
            dropped: 0,
        }
    }

    async fn announce(&mut self, event: &notify::Event, log: &dyn Log) {
        let n = notify::desktop::render(event);
        log.info(&format!(
            "notify: {}: {}",
            n.summary,
            n.body.replace('\n', " | ")
        ));
        self.keep(event);
        self.flush(log).await;
    }

    fn keep(&mut self, event: &notify::Event) {
        if let Some(tag) = notify::desktop::stack_tag(event) {
            self.pending
                .retain(|e| notify::desktop::stack_tag(e).as_ref() != Some(&tag));
        }
        self.pending.retain(|e| e != event);
        self.pending.push_back(event.clone());
        while self.pending.len() > PENDING_MAX {
            self.pending.pop_front();
            self.dropped += 1;
        }
    }

    /// A new round: what could not be shown may be tried again.
    fn next_round(&mut self) {
        self.blocked = false;
    }

    /// Sends the kept notifications, oldest first, until one fails.
    async fn flush(&mut self, log: &dyn Log) {
        if self.dropped > 0 {
            log.warn(&format!(
                "{} not shown and given up (more than {PENDING_MAX} waited)",
                count(self.dropped, "notification was", "notifications were")
            ));
            self.dropped = 0;
        }
        let mut late = 0;
        while !self.blocked {
            let Some(event) = self.pending.front().cloned() else {
                break;
            };
            let failed = self.hub.send(&event).await;
            if failed.is_empty() {
                self.pending.pop_front();
                if self.failing.take().is_some() {
                    log.info("desktop notifications work again");
                    late = self.pending.len();
                    let n = notify::desktop::render(&event);
                    log.info(&format!("shown late: {}", n.summary));
                } else if late > 0 {
                    late -= 1;
                    let n = notify::desktop::render(&event);
                    log.info(&format!("shown late: {}", n.summary));
                }
                continue;
            }
            let why: Vec<&str> = failed.iter().map(|f| f.why.as_str()).collect();
            let why = why.join("; ");
            if self.failing.as_deref() != Some(why.as_str()) {
                log.warn(&format!(
                    "cannot show desktop notifications: {why}; going on, logging them here and trying again at the next round"
                ));
            }
            self.failing = Some(why);
            self.blocked = true;
        }
    }
}

/// What a repository's round says goes to the log, prefixed with the repository.
struct RoundUi {
    log: Arc<dyn Log>,
    repo: String,
}

impl Ui for RoundUi {
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

    /// A notification server that takes the call and never answers.
    struct Silent;
    impl notify::Sink for Silent {
        fn name(&self) -> &str {
            "the notification server"
        }
        fn send<'a>(&'a self, _event: &'a notify::Event) -> notify::Sending<'a> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_waited_for_once_then_logged_around() {
        let log = Lines::default();
        let mut a =
            Announcer::new(Hub::new(vec![Box::new(Silent)]).timeout(Duration::from_millis(50)));
        let n = crate::notify::tests::event();
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
