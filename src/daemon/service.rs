//! `git train daemon install` / `uninstall`: the daemon as a per-user service, a
//! systemd user unit on Linux (`~/.config/systemd/user/git-train.service`) or a
//! launchd agent on macOS (`~/Library/LaunchAgents/org.git-train.daemon.plist`),
//! started at login with the installed binary's absolute path.
//!
//! `GIT_TRAIN_SERVICE_MANAGER` replaces the service manager's program, as
//! `GIT_TEST_MAINT_SCHEDULER` does for `git maintenance`: `COMMAND` (the platform's
//! kind of service) or `systemctl:COMMAND` / `launchctl:COMMAND`. COMMAND runs with
//! the arguments `systemctl` or `launchctl` would get, without a shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use super::config;
use crate::error::{Error, Result};

pub const UNIT: &str = "git-train.service";
pub const LABEL: &str = "org.git-train.daemon";
pub const MANAGER_VAR: &str = "GIT_TRAIN_SERVICE_MANAGER";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Systemd,
    Launchd,
}

/// The service manager to talk to: its kind and the program that stands for it.
struct Manager {
    kind: Kind,
    program: String,
}

impl Manager {
    fn find() -> Manager {
        let native = if cfg!(target_os = "macos") {
            Kind::Launchd
        } else {
            Kind::Systemd
        };
        let default = |kind| match kind {
            Kind::Systemd => "systemctl",
            Kind::Launchd => "launchctl",
        };
        match std::env::var(MANAGER_VAR).ok().filter(|v| !v.is_empty()) {
            None => Manager {
                kind: native,
                program: default(native).into(),
            },
            Some(v) => {
                let (kind, program) = match v.split_once(':') {
                    Some(("systemctl", p)) => (Kind::Systemd, p),
                    Some(("launchctl", p)) => (Kind::Launchd, p),
                    _ => (native, v.as_str()),
                };
                Manager {
                    kind,
                    program: program.to_string(),
                }
            }
        }
    }

    fn run(&self, args: &[&str], ran: &mut Vec<String>) -> Result<()> {
        let shown = format!(
            "{} {}",
            match self.kind {
                Kind::Systemd => "systemctl",
                Kind::Launchd => "launchctl",
            },
            args.join(" ")
        );
        ran.push(shown.clone());
        let out = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::refused(format!("could not run `{shown}`: {e}"))
                    .hint("is this a desktop session with a service manager?")
            })?;
        if out.status.success() {
            return Ok(());
        }
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(Error::refused(format!(
            "`{shown}` failed{}",
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        )))
    }
}

/// What install or uninstall did.
#[derive(Serialize, Debug)]
pub struct Service {
    pub version: u32,
    pub kind: Kind,
    /// The unit or agent file.
    pub path: PathBuf,
    /// The binary the service runs.
    pub program: PathBuf,
    /// False when there was nothing to do (uninstall of what is not installed).
    pub changed: bool,
    /// The service manager commands run, in order.
    pub commands: Vec<String>,
    /// Uninstall: the service manager stopped the daemon (false: it may still run).
    pub stopped: bool,
    pub warnings: Vec<String>,
}

fn file_of(kind: Kind) -> Result<PathBuf> {
    match kind {
        Kind::Systemd => Ok(config::xdg_base("XDG_CONFIG_HOME", ".config")?
            .join("systemd/user")
            .join(UNIT)),
        Kind::Launchd => Ok(config::home()
            .ok_or_else(|| Error::usage("HOME is not set").hint("set HOME to your home folder"))?
            .join("Library/LaunchAgents")
            .join(format!("{LABEL}.plist"))),
    }
}

/// The installed binary: the one running now, by its absolute path.
fn program() -> Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::internal(format!("cannot tell where git-train is installed: {e}")))?;
    Ok(std::fs::canonicalize(&exe).unwrap_or(exe))
}

pub fn install() -> Result<Service> {
    let manager = Manager::find();
    let path = file_of(manager.kind)?;
    let program = program()?;
    let text = match manager.kind {
        Kind::Systemd => systemd_unit(&program),
        Kind::Launchd => launchd_plist(&program, &file_of(Kind::Launchd)?),
    };
    let existed = path.exists();
    let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str());
    let mut commands = Vec::new();
    let domain = gui_domain();
    if existed && manager.kind == Kind::Launchd {
        // launchd reads the file when the agent is bootstrapped, and refuses one
        // that is loaded already: take the old one out first (it may not be in).
        let _ = manager.run(&["bootout", &format!("{domain}/{LABEL}")], &mut commands);
    }
    if changed {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::file::write_atomically(&path, text.as_bytes())?;
    }
    let path_text = path.to_string_lossy().to_string();
    let enabled = match manager.kind {
        Kind::Systemd => manager
            .run(&["--user", "daemon-reload"], &mut commands)
            .and_then(|_| manager.run(&["--user", "enable", "--now", UNIT], &mut commands))
            .and_then(|_| {
                // A running daemon keeps its old command line until restarted.
                if existed && changed {
                    manager.run(&["--user", "restart", UNIT], &mut commands)
                } else {
                    Ok(())
                }
            }),
        Kind::Launchd => manager.run(&["bootstrap", &domain, &path_text], &mut commands),
    };
    enabled.map_err(|e| {
        let hint = format!(
            "{} is written; enable it by hand once the service manager runs",
            path.display()
        );
        e.hint(hint)
    })?;
    Ok(Service {
        version: crate::commands::JSON_VERSION,
        kind: manager.kind,
        path,
        program,
        changed,
        commands,
        stopped: false,
        warnings: Vec::new(),
    })
}

pub fn uninstall() -> Result<Service> {
    let manager = Manager::find();
    let path = file_of(manager.kind)?;
    let mut service = Service {
        version: crate::commands::JSON_VERSION,
        kind: manager.kind,
        path: path.clone(),
        program: program()?,
        changed: false,
        commands: Vec::new(),
        stopped: true,
        warnings: Vec::new(),
    };
    if !path.exists() {
        return Ok(service);
    }
    // Stopping may fail (never started, no session): the file goes all the same.
    let stopped = match manager.kind {
        Kind::Systemd => manager.run(&["--user", "disable", "--now", UNIT], &mut service.commands),
        Kind::Launchd => manager.run(
            &["bootout", &format!("{}/{LABEL}", gui_domain())],
            &mut service.commands,
        ),
    };
    if let Err(e) = stopped {
        service.stopped = false;
        service.warnings.push(e.message);
    }
    std::fs::remove_file(&path)
        .map_err(|e| Error::internal(format!("cannot remove {}: {e}", path.display())))?;
    if manager.kind == Kind::Systemd {
        if let Err(e) = manager.run(&["--user", "daemon-reload"], &mut service.commands) {
            service.warnings.push(e.message);
        }
    }
    service.changed = true;
    Ok(service)
}

/// The user's GUI session domain of launchd: `gui/UID`.
fn gui_domain() -> String {
    // SAFETY: getuid(2) cannot fail.
    format!("gui/{}", unsafe { libc::getuid() })
}

/// Where the unit reads a token from: `GH_TOKEN=...`, one line (see README, "As a
/// service"). systemd expands `%h` to the home folder; `-` lets the file be absent.
pub const ENV_FILE: &str = "%h/.config/git-train/env";

/// The unit. systemd splits `ExecStart` at spaces and expands `%` and `$`: the path is
/// quoted and escaped when it needs to be.
pub fn systemd_unit(program: &Path) -> String {
    let raw = program.to_string_lossy();
    let escaped = raw.replace('%', "%%").replace('$', "$$");
    let exec = if escaped
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';'))
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    };
    format!(
        "# Written by `git train daemon install`; `git train daemon uninstall` removes it.
# A GitHub token for it: GH_TOKEN=... in {ENV_FILE} (mode 600), else `gh auth token`.
[Unit]
Description=git-train: desktop notifications for deployments, CI and stale commits
# Notifications need the desktop session: started after it, stopped with it.
After=graphical-session.target
PartOf=graphical-session.target

[Service]
EnvironmentFile=-{ENV_FILE}
ExecStart={exec} daemon
Restart=on-failure
RestartSec=30

[Install]
WantedBy=default.target
"
    )
}

/// The agent's PATH: Homebrew's folders (Apple silicon, Intel) before the system's.
pub const LAUNCHD_PATH: &str = "/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

pub fn launchd_plist(program: &Path, plist: &Path) -> String {
    let xml = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    // ~/Library/LaunchAgents/X.plist -> ~/Library/Logs/git-train.log
    let log = plist
        .parent()
        .and_then(Path::parent)
        .map(|lib| lib.join("Logs/git-train.log"))
        .unwrap_or_else(|| PathBuf::from("/tmp/git-train.log"));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by `git train daemon install`; `git train daemon uninstall` removes it. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>{LABEL}</string>
  <key>ProgramArguments</key>
  <array>
    <string>{}</string>
    <string>daemon</string>
  </array>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ProcessType</key>
  <string>Background</string>
  <key>EnvironmentVariables</key>
  <dict>
    <!-- launchd's own PATH has no Homebrew: `gh auth token` is found there. -->
    <key>PATH</key>
    <string>{LAUNCHD_PATH}</string>
  </dict>
  <key>StandardErrorPath</key>
  <string>{}</string>
</dict>
</plist>
"#,
        xml(&program.to_string_lossy()),
        xml(&log.to_string_lossy()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_is_quoted_only_when_it_must_be() {
        let unit = systemd_unit(Path::new("/home/a/.cargo/bin/git-train"));
        assert!(unit.contains("\nExecStart=/home/a/.cargo/bin/git-train daemon\n"));
        let unit = systemd_unit(Path::new("/home/a b/100%/git-train"));
        assert!(
            unit.contains("\nExecStart=\"/home/a b/100%%/git-train\" daemon\n"),
            "{unit}"
        );
        let plist = launchd_plist(
            Path::new("/Users/a&b/bin/git-train"),
            Path::new("/Users/a/Library/LaunchAgents/x.plist"),
        );
        assert!(plist.contains("<string>/Users/a&amp;b/bin/git-train</string>"));
        assert!(plist.contains("<string>/Users/a/Library/Logs/git-train.log</string>"));
    }
}
