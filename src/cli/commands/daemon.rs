//! `git train daemon`, `daemon install|uninstall`, `watch` and `unwatch`. They need no
//! repository of their own (`watch PATH` opens the one it is given), so they run before
//! the command context is made. The daemon's log lines go to stderr through one logger.

use std::fmt::Write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::args::Cli;
use crate::cli::tell_result;
use crate::cli::ui::TermUi;
use crate::clock::Clock;
use crate::commands::daemon::{self, DaemonAction, DaemonArgs, WatchArgs};
use crate::context::Ui;
use crate::error::Result;

pub fn watch(dir: &Path, cli: &Cli, a: &WatchArgs) -> Result<u8> {
    let w = daemon::watch(&target(dir, a.path.as_deref()))?;
    show(cli, a.output.json, &w, watch_list)
}

pub fn unwatch(dir: &Path, cli: &Cli, a: &WatchArgs) -> Result<u8> {
    let w = daemon::unwatch(&target(dir, a.path.as_deref()))?;
    show(cli, a.output.json, &w, watch_list)
}

pub fn daemon(cli: &Cli, a: &DaemonArgs) -> Result<u8> {
    let ui = TermUi::new(cli.quiet, cli.color);
    match &a.action {
        None => {
            daemon::run(a.once, cli.verbose, Arc::new(StderrLog { ui }))?;
            Ok(0)
        }
        Some(DaemonAction::Install(s)) => {
            let done = daemon::install()?;
            show(cli, s.output.json, &done, |d| service(d, true))
        }
        Some(DaemonAction::Uninstall(s)) => {
            let done = daemon::uninstall()?;
            for w in &done.warnings {
                ui.warn(w);
            }
            show(cli, s.output.json, &done, |d| service(d, false))
        }
    }
}

/// PATH as given, relative to `-C`'s folder; the current repository without one.
fn target(dir: &Path, path: Option<&Path>) -> PathBuf {
    match path {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => dir.join(p),
        None => dir.to_path_buf(),
    }
}

/// Watch-list and service changes are done when this prints: see `tell`.
fn show<T: serde::Serialize>(
    cli: &Cli,
    json: bool,
    value: &T,
    human: impl Fn(&T) -> String,
) -> Result<u8> {
    if json || !cli.quiet {
        tell_result(json, value, human);
    }
    Ok(0)
}

/// The daemon's log: one line each, with the time, on stderr (`-q`: problems only).
struct StderrLog {
    ui: TermUi,
}

fn stamped(line: &str) -> String {
    let now = Clock::system().now().to_string();
    // 2026-11-25T10:15:02.114Z -> 2026-11-25T10:15:02Z
    format!("{}Z {line}", &now[..19])
}

impl crate::daemon::Log for StderrLog {
    fn info(&self, line: &str) {
        self.ui.note(&stamped(line));
    }
    fn warn(&self, line: &str) {
        self.ui.warn(&stamped(line));
    }
}

pub fn watch_list(w: &crate::commands::daemon::WatchList) -> String {
    let line = match (w.watched, w.changed) {
        (true, true) => format!("the daemon now watches {}", w.repository),
        (true, false) => format!("the daemon already watches {}", w.repository),
        (false, true) => format!("the daemon no longer watches {}", w.repository),
        (false, false) => format!("the daemon did not watch {}", w.repository),
    };
    format!("{line} (watch list: {})\n", w.config)
}

pub fn service(s: &crate::commands::daemon::Service, installed: bool) -> String {
    let what = match s.kind {
        crate::daemon::service::Kind::Systemd => "systemd user unit",
        crate::daemon::service::Kind::Launchd => "launchd agent",
    };
    let mut out = match (installed, s.changed) {
        (true, true) => format!(
            "installed the {what} {}: it runs `{} daemon` at login\n",
            s.path.display(),
            s.program.display()
        ),
        (true, false) => format!(
            "the {what} {} was already installed; it runs `{} daemon`\n",
            s.path.display(),
            s.program.display()
        ),
        (false, true) if s.stopped => {
            format!("uninstalled the {what} {}\n", s.path.display())
        }
        (false, true) => format!(
            "removed the {what} {}, but the daemon could not be stopped: it may still run until you log out\n",
            s.path.display()
        ),
        (false, false) => format!("no {what} to uninstall ({})\n", s.path.display()),
    };
    for c in &s.commands {
        let _ = writeln!(out, "  ran `{c}`");
    }
    if installed {
        // A service does not inherit the shell's GH_TOKEN.
        let file = match s.kind {
            crate::daemon::service::Kind::Systemd => {
                ", or a line GH_TOKEN=... in ~/.config/git-train/env (the unit's EnvironmentFile; chmod 600)"
            }
            crate::daemon::service::Kind::Launchd => "",
        };
        let _ = writeln!(
            out,
            "  GitHub token: the service does not see your shell's GH_TOKEN; it uses `gh auth token`, or `git credential fill` for the API host{file}"
        );
    }
    out
}
