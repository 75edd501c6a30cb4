//! Wakes the daemon when a watched repository's refs change: the one module that
//! knows the `notify` crate. One watcher for every repository (inotify allows 128
//! instances per user); for each, `.git` non-recursively (HEAD, packed-refs, which git
//! renames over, so the file itself cannot be watched) and `.git/refs` recursively
//! (`.git/reftable` too, for repositories in that format). Reads (`Access` events,
//! which inotify reports and cannot mask), lock files and objects are dropped; any
//! other event, even a bare folder one, means "rescan this repository's refs": the
//! daemon compares ref values, so its own ledger writes wake nothing.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

/// What an event means to the daemon.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wake {
    /// The refs of this watched repository (its key) may have changed.
    Repo(String),
    /// The per-user config file changed.
    Config,
    /// This watched repository's git folder itself was removed (or moved away):
    /// its watch is gone with it.
    Lost(String),
}

struct Watched {
    key: String,
    git_dir: PathBuf,
    paths: Vec<PathBuf>,
}

pub struct RefWatcher {
    watcher: RecommendedWatcher,
    repos: Arc<Mutex<Vec<Watched>>>,
}

impl RefWatcher {
    /// Starts the watcher; `config_file`'s folder is watched too, so that `git train
    /// watch` takes effect at once.
    pub fn new(config_file: &Path, tx: UnboundedSender<Wake>) -> Result<RefWatcher, String> {
        let repos: Arc<Mutex<Vec<Watched>>> = Arc::default();
        let seen = Arc::clone(&repos);
        let config = config_file.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let Ok(event) = res else { return };
            let Ok(repos) = seen.lock() else { return };
            for wake in classify(&event, &repos, &config) {
                let _ = tx.send(wake);
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some(dir) = config_file.parent() {
            if std::fs::create_dir_all(dir).is_ok() {
                watcher
                    .watch(dir, RecursiveMode::NonRecursive)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(RefWatcher { watcher, repos })
    }

    /// Watches a repository whose git folder (common dir) is `git_dir`.
    pub fn add(&mut self, key: &str, git_dir: &Path) -> Result<(), String> {
        self.remove(key);
        let mut paths = Vec::new();
        let mut add = |path: PathBuf, mode| -> Result<(), String> {
            self.watcher
                .watch(&path, mode)
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
            paths.push(path);
            Ok(())
        };
        add(git_dir.to_path_buf(), RecursiveMode::NonRecursive)?;
        for sub in ["refs", "reftable"] {
            let dir = git_dir.join(sub);
            if dir.is_dir() {
                add(dir, RecursiveMode::Recursive)?;
            }
        }
        if let Ok(mut repos) = self.repos.lock() {
            repos.push(Watched {
                key: key.to_string(),
                git_dir: git_dir.to_path_buf(),
                paths,
            });
        }
        Ok(())
    }

    pub fn remove(&mut self, key: &str) {
        let Ok(mut repos) = self.repos.lock() else {
            return;
        };
        let (gone, kept): (Vec<Watched>, Vec<Watched>) =
            repos.drain(..).partition(|w| w.key == key);
        *repos = kept;
        for w in gone {
            // Another key may watch the same folder (two work trees of one repository).
            if repos.iter().any(|o| o.git_dir == w.git_dir) {
                continue;
            }
            for path in w.paths {
                let _ = self.watcher.unwatch(&path);
            }
        }
    }
}

/// The wakes an event causes: none for reads, lock files and objects.
fn classify(event: &Event, repos: &[Watched], config: &Path) -> Vec<Wake> {
    if matches!(event.kind, EventKind::Access(_)) {
        return Vec::new();
    }
    let mut wakes = Vec::new();
    for path in &event.paths {
        if path == config {
            if !wakes.contains(&Wake::Config) {
                wakes.push(Wake::Config);
            }
            continue;
        }
        for w in repos {
            let Ok(rel) = path.strip_prefix(&w.git_dir) else {
                continue;
            };
            let gone = matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
            );
            if rel.as_os_str().is_empty() && gone {
                let lost = Wake::Lost(w.key.clone());
                if !wakes.contains(&lost) {
                    wakes.push(lost);
                }
            }
            if !about_refs(rel) {
                continue;
            }
            let wake = Wake::Repo(w.key.clone());
            if !wakes.contains(&wake) {
                wakes.push(wake);
            }
        }
    }
    wakes
}

/// Whether a path inside the git folder may hold refs: not a lock file, not an
/// object, not git's other bookkeeping (the index, logs, git-train's own cache).
fn about_refs(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".lock") {
        return false;
    }
    let first = match rel.components().next() {
        Some(Component::Normal(c)) => c.to_str().unwrap_or(""),
        // The git folder itself: a bare folder event.
        _ => return true,
    };
    !matches!(
        first,
        "objects" | "logs" | "train" | "index" | "COMMIT_EDITMSG" | "hooks" | "info"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> Event {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    #[test]
    fn reads_locks_and_objects_wake_nothing_refs_do() {
        let repos = vec![Watched {
            key: "/src/api".into(),
            git_dir: "/src/api/.git".into(),
            paths: Vec::new(),
        }];
        let config = Path::new("/home/a/.config/git-train/config.toml");
        let wake = |e: &Event| classify(e, &repos, config);
        let api = vec![Wake::Repo("/src/api".into())];

        let read = event(
            EventKind::Access(AccessKind::Any),
            &["/src/api/.git/refs/heads/main"],
        );
        assert!(wake(&read).is_empty());
        let lock = event(
            EventKind::Create(CreateKind::File),
            &["/src/api/.git/refs/heads/main.lock"],
        );
        assert!(wake(&lock).is_empty());
        let object = event(
            EventKind::Create(CreateKind::Folder),
            &["/src/api/.git/objects/ab"],
        );
        assert!(wake(&object).is_empty());
        let index = event(EventKind::Modify(ModifyKind::Any), &["/src/api/.git/index"]);
        assert!(wake(&index).is_empty());

        // git renames main.lock over main: one event, both paths.
        let rename = event(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &[
                "/src/api/.git/refs/heads/main.lock",
                "/src/api/.git/refs/heads/main",
            ],
        );
        assert_eq!(wake(&rename), api);
        let packed = event(
            EventKind::Modify(ModifyKind::Any),
            &["/src/api/.git/packed-refs"],
        );
        assert_eq!(wake(&packed), api);
        // The first note makes refs/notes: a bare folder event.
        let folder = event(
            EventKind::Create(CreateKind::Folder),
            &["/src/api/.git/refs/notes"],
        );
        assert_eq!(wake(&folder), api);
        let removed = event(
            EventKind::Remove(notify::event::RemoveKind::Folder),
            &["/src/api/.git"],
        );
        assert_eq!(
            wake(&removed),
            vec![Wake::Lost("/src/api".into()), Wake::Repo("/src/api".into())]
        );
        let elsewhere = event(EventKind::Any, &["/src/web/.git/HEAD"]);
        assert!(wake(&elsewhere).is_empty());
        let cfg = event(
            EventKind::Modify(ModifyKind::Any),
            &["/home/a/.config/git-train/config.toml"],
        );
        assert_eq!(wake(&cfg), vec![Wake::Config]);
    }
}
