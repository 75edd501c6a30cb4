//! The per-user configuration, `$XDG_CONFIG_HOME/git-train/config.toml` (else
//! `~/.config/git-train/config.toml`): the repositories the daemon watches, how often
//! it polls, which environments notify, and whether only your own commits do.
//! Errors name the file, the line and the key, as `.train.toml`'s do.
//!
//! ```toml
//! watch = ["/home/alice/src/api"]   # git train watch / unwatch / init edit this
//!
//! [daemon]
//! poll = "60s"                      # how often to ask the forges (GitHub)
//! environments = ["production"]     # environments that notify (default: all)
//! unreachable_after = "10m"         # a forge silent this long is told once
//!
//! [daemon.mine_only]                # only your own commits (git user.email = author)
//! deployments = false
//! ci = true
//! stale = true
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{load_toml, parse_toml, ConfigError};
use crate::domain::EnvName;
use crate::error::{Error, Result};

pub const DEFAULT_POLL: Duration = Duration::from_secs(60);
pub const DEFAULT_UNREACHABLE_AFTER: Duration = Duration::from_secs(600);
/// Below this a poll would spend the rate limit on nothing.
const MIN_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The repositories the daemon watches: absolute paths of their work trees.
    #[serde(default)]
    pub watch: Vec<String>,
    #[serde(default)]
    pub daemon: DaemonConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// How often each repository's forge is asked for news (default 60s).
    #[serde(default, deserialize_with = "crate::config::duration")]
    pub poll: Option<Duration>,
    /// The environments whose deployments and stale commits notify; None: all.
    pub environments: Option<Vec<String>>,
    #[serde(default)]
    pub mine_only: MineOnly,
    /// A repository whose forge has not answered for this long is told once on
    /// the desktop (default 10m).
    #[serde(default, deserialize_with = "crate::config::duration")]
    pub unreachable_after: Option<Duration>,
    /// Popups also for the deployments you followed in a terminal here (default
    /// false: you saw their end where you typed).
    #[serde(default)]
    pub own_deployments: bool,
}

/// Which notifications are only about your own commits (author email = your git
/// `user.email`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MineOnly {
    /// Deployments you made or that bring a commit of yours (default false: all).
    #[serde(default)]
    pub deployments: bool,
    /// CI finishing on trunk commits (default true: yours).
    #[serde(default = "yes")]
    pub ci: bool,
    /// Commits waiting longer than `stale_after` (default true: yours).
    #[serde(default = "yes")]
    pub stale: bool,
}

impl Default for MineOnly {
    fn default() -> Self {
        MineOnly {
            deployments: false,
            ci: true,
            stale: true,
        }
    }
}

fn yes() -> bool {
    true
}

impl UserConfig {
    /// Reads the file; no file means all defaults and an empty watch list.
    pub fn load(path: &Path) -> Result<UserConfig, ConfigError> {
        load_toml(path, UserConfig::check)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<UserConfig, ConfigError> {
        parse_toml(path, bytes, UserConfig::check)
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.daemon.poll.is_some_and(|p| p < MIN_POLL) {
            return Err((
                "daemon.poll".into(),
                "the poll interval must be at least 1s".into(),
            ));
        }
        if self.daemon.unreachable_after.is_some_and(|p| p < MIN_POLL) {
            return Err((
                "daemon.unreachable_after".into(),
                "it must be at least 1s".into(),
            ));
        }
        for env in self.daemon.environments.iter().flatten() {
            EnvName::new(env).map_err(|m| ("daemon.environments".to_string(), m))?;
        }
        for path in &self.watch {
            if !Path::new(path).is_absolute() {
                return Err(("watch".into(), format!("'{path}' is not an absolute path")));
            }
        }
        Ok(())
    }

    pub fn poll(&self) -> Duration {
        self.daemon.poll.unwrap_or(DEFAULT_POLL)
    }

    pub fn unreachable_after(&self) -> Duration {
        self.daemon
            .unreachable_after
            .unwrap_or(DEFAULT_UNREACHABLE_AFTER)
    }

    /// Whether an environment's deployments and stale commits notify.
    pub fn follows(&self, env: &str) -> bool {
        follows(self.daemon.environments.as_deref(), env)
    }
}

/// `$XDG_CONFIG_HOME/git-train`, else `~/.config/git-train`.
pub fn config_dir() -> Result<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_STATE_HOME/git-train`, else `~/.local/state/git-train`: what the daemon
/// already announced.
pub fn state_dir() -> Result<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state")
}

pub fn config_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("config.toml"))
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    Ok(xdg_base(var, fallback)?.join("git-train"))
}

/// An XDG base folder: `$VAR`, else `~/FALLBACK`.
pub fn xdg_base(var: &str, fallback: &str) -> Result<PathBuf> {
    // The XDG specification ignores relative paths.
    if let Some(dir) = std::env::var_os(var).map(PathBuf::from) {
        if dir.is_absolute() {
            return Ok(dir);
        }
    }
    match home() {
        Some(home) => Ok(home.join(fallback)),
        None => Err(Error::usage(format!(
            "cannot find your per-user folder: neither {var} nor HOME is set"
        ))
        .hint(format!("set HOME (or {var}) to an absolute path"))),
    }
}

/// `$HOME`, when it is an absolute path.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
}

/// Loads the per-user configuration from where it lives.
pub fn load() -> Result<(UserConfig, PathBuf)> {
    let path = config_path()?;
    let config = UserConfig::load(&path)?;
    Ok((config, path))
}

/// Adds a repository (its work tree, absolute) to the watch list; false when it was
/// there already. The rest of the file, comments included, stays as it was.
pub fn add_watch(repo: &Path) -> Result<(bool, PathBuf)> {
    edit_watch(repo, true)
}

/// Takes a repository off the watch list; false when it was not on it.
pub fn remove_watch(repo: &Path) -> Result<(bool, PathBuf)> {
    edit_watch(repo, false)
}

const NEW_FILE: &str = "\
# git-train's per-user settings: the repositories the daemon watches and what it
# notifies about (`man git-train`, FILES). `git train watch` and `unwatch` edit `watch`.
";

fn edit_watch(repo: &Path, add: bool) -> Result<(bool, PathBuf)> {
    let path = config_path()?;
    let text = match std::fs::read(&path) {
        Ok(bytes) => {
            // Refuse to edit a file that does not parse: say where it is wrong.
            UserConfig::parse(&path, &bytes)?;
            String::from_utf8(bytes).unwrap_or_default()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::internal(format!(
                "could not read {}: {e}",
                path.display()
            )))
        }
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::usage(format!("{}: {}", path.display(), e.message()))
    })?;
    let created = !doc.contains_key("watch");
    let wanted = repo.to_string_lossy().to_string();
    let same = |entry: &str| {
        entry == wanted || std::fs::canonicalize(entry).ok().is_some_and(|c| c == repo)
    };
    let list = doc
        .entry("watch")
        .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or_else(|| {
            Error::usage(format!("{}: `watch` is not a list", path.display()))
                .hint("write it as watch = [\"/path/to/repository\"]")
        })?;
    let before = list.len();
    if add {
        if list.iter().any(|v| v.as_str().is_some_and(same)) {
            return Ok((false, path));
        }
        list.push(wanted.as_str());
    } else {
        list.retain(|v| !v.as_str().is_some_and(same));
        if list.len() == before {
            return Ok((false, path));
        }
    }
    // One repository a line reads and diffs best.
    for value in list.iter_mut() {
        value.decor_mut().set_prefix("\n    ");
        value.decor_mut().set_suffix("");
    }
    list.set_trailing(if list.is_empty() { "" } else { "\n" });
    list.set_trailing_comma(!list.is_empty());
    if created {
        header_stays_on_top(&mut doc);
    }
    let mut out = doc.to_string();
    if text.is_empty() {
        out = format!("{NEW_FILE}{out}");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::file::write_atomically(&path, out.as_bytes())?;
    Ok((true, path))
}

/// A new root key goes before the first table, and so would come between the file's
/// opening comment (which toml_edit keeps as that table's prefix) and the table: the
/// comment moves up to the new key.
fn header_stays_on_top(doc: &mut toml_edit::DocumentMut) {
    let first = doc
        .iter()
        .filter_map(|(k, item)| Some((k.to_string(), item.as_table()?.position()?)))
        .min_by_key(|(_, position)| *position)
        .map(|(k, _)| k);
    let Some(table) = first.and_then(|name| doc.get_mut(&name)?.as_table_mut()) else {
        return;
    };
    let prefix = table
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_string();
    if prefix.trim().is_empty() {
        return;
    }
    table.decor_mut().set_prefix("\n");
    if let Some(mut key) = doc.key_mut("watch") {
        key.leaf_decor_mut().set_prefix(prefix);
    }
}

/// Whether a list of followed environments (None: all) includes one.
pub fn follows(environments: Option<&[String]>, env: &str) -> bool {
    environments.is_none_or(|list| list.iter().any(|e| e == env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<UserConfig, ConfigError> {
        UserConfig::parse(Path::new("config.toml"), text.as_bytes())
    }

    #[test]
    fn defaults_and_every_key() {
        let c = parse("").unwrap();
        assert_eq!(c.poll(), DEFAULT_POLL);
        assert!(c.follows("anything"));
        assert_eq!(c.daemon.mine_only, MineOnly::default());
        assert!(!c.daemon.mine_only.deployments && c.daemon.mine_only.ci);

        let c = parse(
            "watch = [\"/src/api\"]\n[daemon]\npoll = \"5m\"\nenvironments = [\"production\"]\n\
             [daemon.mine_only]\ndeployments = true\nci = false\nstale = false\n",
        )
        .unwrap();
        assert_eq!(c.watch, vec!["/src/api".to_string()]);
        assert_eq!(c.poll(), Duration::from_secs(300));
        assert!(c.follows("production") && !c.follows("staging"));
        assert_eq!(
            c.daemon.mine_only,
            MineOnly {
                deployments: true,
                ci: false,
                stale: false
            }
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("watch = []\n\n[daemon]\npoll = \"often\"\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key.as_deref(), Some("poll"));
        assert!(e.to_string().starts_with("config.toml:4: "), "{e}");

        let e = parse("[daemon.mine_only]\ncolour = true\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("colour"), "{e}");

        let e = parse("watch = [\"relative/path\"]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("watch")));

        let e = parse("[daemon]\npoll = \"10ms\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("daemon.poll")));
    }
}
