//! `git train daemon`, `daemon install` / `uninstall`, `watch` and `unwatch`: the
//! per-user notifier and its watch list. The daemon itself lives in `crate::daemon`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::context::Context;
use crate::daemon::{self, config, Log};
use crate::error::Result;
use crate::ledger::repo::Repo;

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
    /// (`systemctl --user enable --now`, `launchctl load`).
    Install(ServiceArgs),
    /// Stop the daemon's service and remove its unit or agent file
    Uninstall(ServiceArgs),
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
