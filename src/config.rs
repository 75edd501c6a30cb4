//! `.train.toml`, the team's shared configuration (DESIGN.md section 5). Everything
//! is optional; an error names the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::domain::time::parse_duration;
use crate::domain::EnvName;

pub const FILE_NAME: &str = ".train.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The branch deployments come from; default: the remote's HEAD branch.
    pub trunk: Option<String>,
    /// The remote that shares the ledger; default `origin`.
    pub remote: Option<String>,
    /// Longest wait for one `git fetch` or `git push` to the remote (default 60s).
    #[serde(default, deserialize_with = "duration")]
    pub remote_timeout: Option<Duration>,
    /// `github` or `local`; default: from the remote URL.
    pub forge: Option<ForgeKind>,
    #[serde(default)]
    pub github: GithubConfig,
    #[serde(default)]
    pub checks: ChecksConfig,
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    Github,
    Local,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// `owner/name`; default: from the remote URL.
    pub repo: Option<String>,
    /// API base; GitHub Enterprise: `https://HOST/api/v3`.
    pub api: Option<String>,
    /// How often `deploy` asks GitHub for new statuses (default 5s).
    #[serde(default, deserialize_with = "duration")]
    pub poll: Option<Duration>,
    /// Longest wait for one answer from GitHub (default 30s).
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// Longest wait for a rate limit to lift before giving up (default 60s).
    #[serde(default, deserialize_with = "duration")]
    pub max_wait: Option<Duration>,
    /// How long `deploy` follows a deployment before returning (default 60m).
    #[serde(default, deserialize_with = "duration")]
    pub follow: Option<Duration>,
    /// `sync` also shows deployments recorded only in the ledger (local forge,
    /// imports from other tools) on GitHub, as deployments with the task
    /// `git-train-export`. Off by default: a deploy workflow that does not skip that
    /// task would deploy them.
    #[serde(default)]
    pub export: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Status contexts that never block a deploy.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Whether a commit needs passing CI to be deployed (default true).
    #[serde(default = "yes")]
    pub require: bool,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            ignore: Vec::new(),
            require: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Local forge: the command that deploys, run with `sh -c`.
    pub run: Option<String>,
    /// GitHub's `production_environment`.
    #[serde(default)]
    pub production: bool,
    /// An environment that must run the commit first.
    pub after: Option<String>,
    /// Undeployed commits older than this raise alerts, e.g. `24h`.
    #[serde(default, deserialize_with = "duration")]
    pub stale_after: Option<Duration>,
    /// The pre-push hook warns above this many undeployed commits.
    pub max_train: Option<u32>,
    /// Dashboard shown after a deploy.
    pub url: Option<String>,
    /// The pre-push hook refuses the push instead of warning.
    #[serde(default)]
    pub block: bool,
    /// Overrides `[checks] require` for this environment.
    pub require_checks: Option<bool>,
}

pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "'{}' is not a duration of at most 100 years; write it like \"90m\", \"24h\" or \"7d\"",
            text.escape_debug()
        ))
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl From<ConfigError> for crate::error::Error {
    fn from(e: ConfigError) -> Self {
        let hint = match &e.key {
            Some(key) => format!(
                "fix `{key}` in {}; `man git-train` lists every key",
                e.path.display()
            ),
            None => format!("fix {}; `man git-train` lists every key", e.path.display()),
        };
        crate::error::Error::usage(e.to_string()).hint(hint)
    }
}

impl Config {
    /// Reads `.train.toml` from `dir`; no file means all defaults.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        load_toml(&dir.join(FILE_NAME), Config::check)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
        parse_toml(path, bytes, Config::check)
    }

    fn check(&self) -> Result<(), (String, String)> {
        for (name, env) in &self.env {
            EnvName::new(name).map_err(|m| (format!("env.{name}"), m))?;
            if let Some(after) = &env.after {
                EnvName::new(after).map_err(|m| (format!("env.{name}.after"), m))?;
                if after == name {
                    return Err((
                        format!("env.{name}.after"),
                        "an environment cannot come after itself".into(),
                    ));
                }
            }
            if env.run.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err((format!("env.{name}.run"), "the run command is empty".into()));
            }
        }
        if let Some(remote) = &self.remote {
            if remote.is_empty() || remote.starts_with('-') || remote.contains(char::is_whitespace)
            {
                return Err(("remote".into(), format!("'{remote}' is not a remote name")));
            }
        }
        if let Some(trunk) = &self.trunk {
            if crate::ledger::repo::is_branch_name(trunk) && !trunk.starts_with('-') {
                return Ok(());
            }
            return Err(("trunk".into(), format!("'{trunk}' is not a branch name")));
        }
        Ok(())
    }

    pub fn remote_name(&self) -> &str {
        self.remote.as_deref().unwrap_or("origin")
    }

    pub fn remote_timeout(&self) -> Duration {
        self.remote_timeout.unwrap_or(Duration::from_secs(60))
    }

    pub fn env(&self, name: &EnvName) -> EnvConfig {
        self.env.get(name.as_str()).cloned().unwrap_or_default()
    }

    pub fn requires_checks(&self, name: &EnvName) -> bool {
        self.env(name).require_checks.unwrap_or(self.checks.require)
    }

    /// The environment marked `production = true`, else `production`.
    pub fn production_env(&self) -> String {
        self.env
            .iter()
            .find(|(_, e)| e.production)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| "production".into())
    }
}

/// Reads a TOML file into `T`; an error names the file, the line and the key. Also
/// returns the text, for checks that name a line themselves (`find_key_line`).
/// Reads a TOML configuration file with its own checks; no file means all defaults.
pub(crate) fn load_toml<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
    check: impl Fn(&T) -> Result<(), (String, String)>,
) -> Result<T, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => parse_toml(path, &bytes, check),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: e.to_string(),
        }),
    }
}

/// Parses TOML, then runs the checks serde cannot express; every error names the
/// file, the line and the key.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    check: impl Fn(&T) -> Result<(), (String, String)>,
) -> Result<T, ConfigError> {
    let (config, text): (T, &str) = from_toml(path, bytes)?;
    check(&config).map_err(|(key, message)| ConfigError {
        path: path.to_path_buf(),
        line: find_key_line(text, &key),
        key: Some(key),
        message,
    })?;
    Ok(config)
}

fn from_toml<'b, T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &'b [u8],
) -> Result<(T, &'b str), ConfigError> {
    let err = |line, key, message| ConfigError {
        path: path.to_path_buf(),
        line,
        key,
        message,
    };
    let text =
        std::str::from_utf8(bytes).map_err(|_| err(None, None, "the file is not UTF-8".into()))?;
    let value = toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (None, None),
        };
        let message = e.message().trim().replace('\n', " ");
        let message = match &key {
            Some(k) if !message.contains(k.as_str()) => format!("`{k}`: {message}"),
            _ => message,
        };
        err(line, key, message)
    })?;
    Ok((value, text))
}

/// Line number (1-based) of a byte offset, and the key written on that line.
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty())
        .or_else(|| {
            let t = line.trim();
            (t.starts_with('[') && t.ends_with(']'))
                .then(|| t.trim_matches(['[', ']']).trim().to_string())
        });
    (Some(line_no), key)
}

/// The line of `[env.NAME]` or of the last key of a dotted path like `env.NAME.after`.
pub(crate) fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (table, last) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut in_table = table.is_empty();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_matches(['[', ']']).trim().replace(['"', '\''], "");
            if name == dotted {
                return Some(i + 1);
            }
            in_table = name == table;
        } else if in_table && t.split_once('=').is_some_and(|(k, _)| k.trim() == last) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new(".train.toml"), text.as_bytes())
    }

    #[test]
    fn reads_the_design_example() {
        let c = parse(
            r#"
trunk = "main"
remote = "origin"
forge = "local"
[github]
repo = "acme/api"
api = "https://api.github.com"
[checks]
ignore = ["codecov/patch"]
[env.staging]
run = "./deploy.sh staging"
[env.production]
production = true
after = "staging"
stale_after = "24h"
max_train = 20
url = "https://grafana.example/d/api"
"#,
        )
        .unwrap();
        assert_eq!(
            c.env["production"].stale_after,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(c.production_env(), "production");
        assert_eq!(c.forge, Some(ForgeKind::Local));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = parse("trunk = \"main\"\n\n[env.staging]\nrun = \"x\"\ncolour = 1\n").unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key.as_deref(), Some("colour"));
        assert!(e.to_string().starts_with(".train.toml:5: "), "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn syntax_and_value_errors_name_the_line() {
        let e = parse("trunk = \"main\"\n[env.prod]\nmax_train = \"many\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("max_train"));
        let e = parse("trunk = \n").unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse("[env.prod]\nstale_after = \"soon\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        let e = parse("[env.\"my env\"]\nrun = \"x\"\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(
            e.to_string().contains("not a valid environment name"),
            "{e}"
        );
        assert!(Config::parse(Path::new("x"), b"\xff\xfe").is_err());
    }
}
