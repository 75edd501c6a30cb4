//! Live updates. The daemon's ref watcher (`RefWatcher`: inotify on `.git` and
//! `.git/refs`) wakes the board when a served repository's refs may have changed;
//! the refs are read and compared with the last ones seen, and a real change (a
//! deploy from the terminal, a sync, the daemon importing a status, a push to trunk)
//! starts a new generation of that repository's pages and goes out to every open
//! event stream. `refs/train/deployed/*` is left out of the comparison: it is
//! derived from the notes, and the board's own reading may bring it up to date.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::Sites;
use crate::daemon::config::UserConfig;
use crate::daemon::round::{self, Refs};
use crate::daemon::watcher::{RefWatcher, Wake};

/// Wakes closer together than this are one change.
const SETTLE: Duration = Duration::from_millis(40);
/// A stream of wakes that never pauses is looked at after this long anyway.
const SETTLE_MAX: Duration = Duration::from_millis(250);
/// Without a watcher (inotify refused one), how often the refs are read.
const POLL: Duration = Duration::from_millis(700);

/// Starts following the sites' refs (and, with `--all`, the watch list in
/// `config_file`). Returns a warning when it can only poll.
pub fn start(
    sites: Arc<Sites>,
    changes: broadcast::Sender<u64>,
    config_file: Option<PathBuf>,
) -> Option<String> {
    let (tx, wakes) = mpsc::unbounded_channel();
    let mut warning = None;
    let watcher = match config_file.as_deref().map(|c| RefWatcher::new(c, tx)) {
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            warning = Some(format!(
                "cannot watch for ref changes ({e}): reading the refs every {} ms instead",
                POLL.as_millis()
            ));
            None
        }
        None => {
            warning = Some(format!(
                "no per-user folder to watch from: reading the refs every {} ms instead",
                POLL.as_millis()
            ));
            None
        }
    };
    let mut follower = Follower {
        sites,
        changes,
        config_file,
        watcher,
        last: HashMap::new(),
    };
    let mut problems = Vec::new();
    for site in follower.sites.all() {
        problems.extend(follower.watch(&site.key, &site.path));
        follower.last.insert(site.key.clone(), refs(&site.path));
    }
    if let Some(p) = problems.into_iter().next() {
        warning.get_or_insert(p);
    }
    tokio::spawn(follower.run(wakes));
    warning
}

struct Follower {
    sites: Arc<Sites>,
    changes: broadcast::Sender<u64>,
    config_file: Option<PathBuf>,
    watcher: Option<RefWatcher>,
    last: HashMap<String, Option<Refs>>,
}

impl Follower {
    async fn run(mut self, mut wakes: mpsc::UnboundedReceiver<Wake>) {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut woken = BTreeSet::new();
            if self.watcher.is_some() {
                match wakes.recv().await {
                    Some(w) => {
                        woken.insert(w);
                    }
                    None => return,
                }
                let started = tokio::time::Instant::now();
                while started.elapsed() < SETTLE_MAX {
                    match tokio::time::timeout(SETTLE, wakes.recv()).await {
                        Ok(Some(w)) => {
                            woken.insert(w);
                        }
                        _ => break,
                    }
                }
            } else {
                poll.tick().await;
                woken.extend(self.sites.all().iter().map(|s| Wake::Repo(s.key.clone())));
            }
            if woken.remove(&Wake::Config) {
                self.reload_watch_list().await;
            }
            for wake in woken {
                if let Wake::Repo(key) = wake {
                    self.look(&key).await;
                }
            }
        }
    }

    /// Reads a site's refs; a change starts a new generation and is announced.
    async fn look(&mut self, key: &str) {
        let Some(site) = self.sites.find(key) else {
            return;
        };
        let path = site.path.clone();
        let now = tokio::task::spawn_blocking(move || refs(&path))
            .await
            .unwrap_or(None);
        let before = self.last.insert(key.to_string(), now.clone());
        if before.flatten() != now {
            let generation = site.bump();
            let _ = self.changes.send(generation);
        }
    }

    /// `--all`: the watch list changed; serve what it lists now.
    async fn reload_watch_list(&mut self) {
        if !self.sites.follow_watch_list {
            return;
        }
        let Some(file) = self.config_file.clone() else {
            return;
        };
        let Ok(Ok(config)) = tokio::task::spawn_blocking(move || UserConfig::load(&file)).await
        else {
            return;
        };
        let paths: Vec<PathBuf> = config.watch.iter().map(PathBuf::from).collect();
        let (added, removed) = self.sites.replace(&paths);
        for key in removed {
            if let Some(w) = &mut self.watcher {
                w.remove(&key);
            }
            self.last.remove(&key);
        }
        for site in added {
            let _ = self.watch(&site.key, &site.path);
            let path = site.path.clone();
            let now = tokio::task::spawn_blocking(move || refs(&path))
                .await
                .unwrap_or(None);
            self.last.insert(site.key.clone(), now);
        }
        let _ = self.changes.send(self.sites.bump_all());
    }

    fn watch(&mut self, key: &str, path: &Path) -> Option<String> {
        let watcher = self.watcher.as_mut()?;
        let git_dir = match round::git_dir(path) {
            Ok(d) => d,
            Err(e) => return Some(format!("{key}: {}", e.message)),
        };
        watcher
            .add(key, &git_dir)
            .err()
            .map(|e| format!("{key}: {e}; its page updates on reload only"))
    }
}

/// The refs that say what a page shows; None when they cannot be read.
fn refs(path: &Path) -> Option<Refs> {
    let mut refs = round::read_refs(path).ok()?;
    refs.retain(|name, _| !name.starts_with("refs/train/deployed/"));
    Some(refs)
}
