//! `git train daemon`, `daemon install|uninstall`, `watch` and `unwatch`. They need no
//! repository of their own (`watch PATH` opens the one it is given), so they run before
//! the command context is made. The daemon's log lines go to stderr through one logger.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::args::{Cli, Command, DaemonAction};
use super::render;
use super::tell_result;
use super::ui::TermUi;
use crate::clock::Clock;
use crate::commands::daemon;
use crate::context::Ui;
use crate::error::Result;

pub fn run(dir: &Path, cli: &Cli) -> Result<u8> {
    let ui = TermUi::new(cli.quiet, cli.color);
    match &cli.command {
        Command::Watch(a) => {
            let w = daemon::watch(&target(dir, a.path.as_deref()))?;
            show(cli, a.output.json, &w, render::watch_list)
        }
        Command::Unwatch(a) => {
            let w = daemon::unwatch(&target(dir, a.path.as_deref()))?;
            show(cli, a.output.json, &w, render::watch_list)
        }
        Command::Daemon(a) => match &a.action {
            None => {
                daemon::run(a.once, cli.verbose, Arc::new(StderrLog { ui }))?;
                Ok(0)
            }
            Some(DaemonAction::Install(s)) => {
                let done = daemon::install()?;
                show(cli, s.output.json, &done, |d| render::service(d, true))
            }
            Some(DaemonAction::Status(s)) => {
                let status = daemon::status()?;
                show(cli, s.output.json, &status, daemon::render_status)
            }
            Some(DaemonAction::Uninstall(s)) => {
                let done = daemon::uninstall()?;
                for w in &done.warnings {
                    ui.warn(w);
                }
                show(cli, s.output.json, &done, |d| render::service(d, false))
            }
        },
        _ => Ok(0),
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
