//! `git train daemon`, `daemon install` / `uninstall`, `watch` and `unwatch`: the
//! per-user notifier and its watch list. The daemon itself lives in `crate::daemon`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::context::Context;
use crate::daemon::{self, config, Log};
use crate::error::Result;
use crate::ledger::repo::Repo;

use crate::daemon::health::{Health, RepoHealth};
pub use crate::daemon::service::Service;
use crate::domain::time::format_age;
use crate::domain::Timestamp;

/// What `watch` or `unwatch` did.
#[derive(Serialize)]
pub struct WatchList {
    pub version: u32,
    /// The repository, as the watch list names it (its work tree, absolute).
    pub repository: String,
    /// Whether the daemon watches it now.
    pub watched: bool,
    /// False when it already was (or was not) on the list.
    pub changed: bool,
    /// The per-user config file that holds the list.
    pub config: String,
}

/// How a repository is named in the watch list: its work tree, absolute, with
/// symbolic links resolved.
fn watch_path(repo: &Repo) -> PathBuf {
    let dir = repo.workdir();
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

pub fn watch(path: &Path) -> Result<WatchList> {
    if !path.exists() {
        return Err(
            crate::error::Error::usage(format!("{} does not exist", path.display()))
                .hint("give the path of a clone: git train watch PATH"),
        );
    }
    let repo = Repo::open(path)?;
    let dir = watch_path(&repo);
    let (changed, file) = config::add_watch(&dir)?;
    Ok(WatchList {
        version: super::JSON_VERSION,
        repository: dir.display().to_string(),
        watched: true,
        changed,
        config: file.display().to_string(),
    })
}

/// Takes a repository off the list; it need not exist any more.
pub fn unwatch(path: &Path) -> Result<WatchList> {
    let dir = match Repo::open(path) {
        Ok(repo) => watch_path(&repo),
        Err(_) => std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf()),
    };
    let (changed, file) = config::remove_watch(&dir)?;
    Ok(WatchList {
        version: super::JSON_VERSION,
        repository: dir.display().to_string(),
        watched: false,
        changed,
        config: file.display().to_string(),
    })
}

/// For `init` (and `init --uninstall`): puts the repository on the daemon's watch list
/// (or takes it off). Returns what changed and a warning: a broken per-user config
/// must not make `init` fail.
pub fn follow_on_init(ctx: &Context, add: bool) -> (Option<String>, Option<String>) {
    let dir = watch_path(ctx.repo());
    let done = if add {
        config::add_watch(&dir)
    } else {
        config::remove_watch(&dir)
    };
    match done {
        Ok((false, _)) => (None, None),
        Ok((true, file)) if add => (
            Some(format!(
                "added the repository to the daemon's watch list ({})",
                file.display()
            )),
            None,
        ),
        Ok((true, file)) => (
            Some(format!(
                "took the repository off the daemon's watch list ({})",
                file.display()
            )),
            None,
        ),
        Err(e) => (
            None,
            Some(format!(
                "the daemon's watch list was not changed: {}",
                e.message
            )),
        ),
    }
}

/// Runs the daemon in the foreground (`once`: one round, then exit; `verbose`: log
/// every round).
pub fn run(once: bool, verbose: bool, log: Arc<dyn Log>) -> Result<()> {
    let hub = crate::notify::Hub::new(vec![Box::new(crate::notify::desktop::Desktop::new())]);
    daemon::run(daemon::Options { once, verbose }, log, hub)
}

pub fn install() -> Result<Service> {
    daemon::service::install()
}

pub fn uninstall() -> Result<Service> {
    daemon::service::uninstall()
}

/// What `git train daemon status` says: whether a daemon runs (its lock is held),
/// what it watches and how each repository's last round went, from the file the
/// daemon writes after each round of its repositories.
#[derive(Serialize)]
pub struct DaemonStatus {
    pub version: u32,
    pub running: bool,
    pub pid: Option<u32>,
    pub started_at: Option<Timestamp>,
    /// When its repositories last finished a round.
    pub updated_at: Option<Timestamp>,
    pub poll_secs: Option<u64>,
    /// The watch list's file.
    pub config: String,
    /// The status file.
    pub file: String,
    /// The watch list, each with how its last round went (nothing yet for one the
    /// daemon has not looked at).
    pub repositories: Vec<RepoHealth>,
    #[serde(skip)]
    pub now: Timestamp,
}

pub fn status() -> Result<DaemonStatus> {
    let holder = daemon::lock::holder(&daemon::lock::path()?);
    let file = daemon::health::path()?;
    let health = Health::read(&file);
    let (config, config_path) = config::load()?;
    let running = holder.is_some();
    let pid = holder.flatten();
    // A file left by an earlier daemon still says how its rounds went.
    let mine = health
        .as_ref()
        .filter(|h| !running || pid.is_none() || Some(h.pid) == pid);
    let mut repositories: Vec<RepoHealth> = config
        .watch
        .iter()
        .map(|path| {
            let known = mine.and_then(|h| h.repositories.iter().find(|r| &r.path == path));
            known.cloned().unwrap_or_else(|| RepoHealth {
                path: path.clone(),
                name: Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_else(|| path.clone()),
                same_as: None,
                refs_watched: false,
                last_round: None,
                last_answer: None,
                problem: None,
            })
        })
        .collect();
    repositories.sort_by(|a, b| a.path.cmp(&b.path));
    let now = crate::clock::Clock::from_env()?.now();
    Ok(DaemonStatus {
        version: super::JSON_VERSION,
        running,
        pid: pid.or(mine.map(|h| h.pid)).filter(|_| running),
        started_at: mine.map(|h| h.started_at),
        updated_at: mine.map(|h| h.updated_at),
        poll_secs: mine.map(|h| h.poll_secs),
        config: config_path.display().to_string(),
        file: file.display().to_string(),
        repositories,
        now,
    })
}

/// `daemon status` for a person: one line about the daemon, one per repository,
/// and why one did not answer on the line below it.
pub fn render_status(s: &DaemonStatus) -> String {
    let ago = |t: Timestamp| format!("{} ago", format_age(s.now.millis_since(t).max(0)));
    let mut out = match (s.running, s.pid, s.started_at) {
        (true, Some(pid), Some(at)) => {
            format!("daemon: running (pid {pid}), started {}\n", ago(at))
        }
        (true, Some(pid), None) => format!("daemon: running (pid {pid})\n"),
        (true, None, _) => "daemon: running\n".to_string(),
        (false, _, Some(_)) => match s.updated_at {
            Some(at) => format!(
                "daemon: not running (the last one finished a round {})\n",
                ago(at)
            ),
            None => "daemon: not running\n".to_string(),
        },
        (false, _, None) => "daemon: not running\n".to_string(),
    };
    if s.running {
        match (s.updated_at, s.poll_secs) {
            (Some(at), Some(poll)) => {
                out.push_str(&format!("last round: {}, polling every {poll}s\n", ago(at)))
            }
            _ => out.push_str("no round has finished yet\n"),
        }
    } else {
        out.push_str(
            "start it: `git train daemon` (or `git train daemon install` to run it at login)\n",
        );
    }
    out.push_str(&format!("watch list: {}\n", s.config));
    if s.repositories.is_empty() {
        out.push_str("nothing to watch: `git train watch` in a repository adds it\n");
        return out;
    }
    out.push('\n');
    let width = s
        .repositories
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    for r in &s.repositories {
        let state = match (&r.same_as, &r.problem, r.last_round) {
            (Some(of), _, _) => format!("another work tree of {of}: told through it"),
            (None, _, None) => "not looked at yet".to_string(),
            (None, Some(p), _) => match r.last_answer {
                Some(at) => format!("{}, last answered {}", p.kind.words(), ago(at)),
                None => format!("{}, never answered", p.kind.words()),
            },
            (None, None, Some(at)) => match r.last_answer {
                Some(ok) => format!("answered {}", ago(ok)),
                None => format!("checked {}", ago(at)),
            },
        };
        let polled =
            if !s.running || r.refs_watched || r.same_as.is_some() || r.last_round.is_none() {
                ""
            } else {
                " (refs not watched: polled only)"
            };
        let pad = " ".repeat(width.saturating_sub(r.name.chars().count()));
        out.push_str(&format!("{}{pad}  {state}{polled}  {}\n", r.name, r.path));
        if let Some(p) = &r.problem {
            out.push_str(&format!("  {}\n", p.message));
        }
    }
    out
}
