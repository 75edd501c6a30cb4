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
#[derive(clap::Args, Debug, Clone, Default)]
#[command(args_conflicts_with_subcommands = true, disable_help_subcommand = true)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub action: Option<DaemonAction>,
    /// Do one round of every watched repository, then exit
    #[arg(long)]
    pub once: bool,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DaemonAction {
    /// Run the daemon at login: a systemd user unit (Linux) or a launchd agent (macOS)
    ///
    /// Writes ~/.config/systemd/user/git-train.service (or
    /// ~/Library/LaunchAgents/org.git-train.daemon.plist) to run this binary, by its
    /// absolute path, as `git-train daemon`, and enables and starts it
    /// (`systemctl --user enable --now`, `launchctl bootstrap gui/UID`).
    Install(ServiceArgs),
    /// Stop the daemon's service and remove its unit or agent file
    Uninstall(ServiceArgs),
    /// Whether a daemon runs, what it watches, and how each repository last answered
    ///
    /// Reads the daemon's lock and the file it writes after each round of its
    /// repositories (~/.local/state/git-train/daemon-status.json): when each
    /// watched repository last answered, and why one did not (no token, token
    /// refused, unreachable, not a repository).
    Status(ServiceArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// The repository (default: the current one)
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

pub use crate::daemon::service::Service;
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
