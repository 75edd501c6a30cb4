//! `git train daemon`, `daemon install|uninstall`, `watch` and `unwatch`. They need no
//! repository of their own (`watch PATH` opens the one it is given), so they run before
//! the command context is made. The daemon's log lines go to stderr through one logger.

use std::fmt::Write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::args::Cli;
use crate::cli::render::{format_age, Timestamp};
use crate::cli::tell_result;
use crate::cli::ui::TermUi;
use crate::clock::Clock;
use crate::commands::daemon::{self, DaemonAction, DaemonArgs, DaemonStatus, WatchArgs};
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
        Some(DaemonAction::Status(s)) => {
            let status = daemon::status()?;
            show(cli, s.output.json, &status, render_status)
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
