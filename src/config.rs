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
    /// Freeze windows (`[[freeze]]`): no deploys into these environments then.
    #[serde(default)]
    pub freeze: Vec<crate::domain::freeze::Freeze>,
    /// Team channels by name: where each environment's deployments are posted.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// How a Slack message mentions someone: their email or login, to a Slack member id.
    #[serde(default)]
    pub people: BTreeMap<String, String>,
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
    /// The team channels its deployments and locks are posted to.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// A team channel. The webhook URL is a secret, so the file only names the
/// environment variable that holds it (`train.channel.NAME.url` in git config also
/// does, for a laptop).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The environment variable holding a Slack incoming-webhook URL.
    pub slack: Option<String>,
    /// The environment variable holding a Discord webhook URL.
    pub discord: Option<String>,
    /// The environment variable holding the URL of any webhook (generic JSON).
    pub webhook: Option<String>,
    /// Webhooks: the environment variable holding the HMAC-SHA256 signing secret.
    pub secret: Option<String>,
    /// Longest wait for the channel to take one message (default 5s).
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
}

/// Where a channel posts, and so how its messages look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Slack,
    Discord,
    Webhook,
}

impl ChannelKind {
    pub fn key(self) -> &'static str {
        match self {
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Webhook => "webhook",
        }
    }
}

impl ChannelConfig {
    /// Its kinds, with the variable each names (a checked channel has one).
    pub fn kinds(&self) -> Vec<(ChannelKind, &str)> {
        [
            (ChannelKind::Slack, &self.slack),
            (ChannelKind::Discord, &self.discord),
            (ChannelKind::Webhook, &self.webhook),
        ]
        .into_iter()
        .filter_map(|(kind, var)| var.as_deref().map(|v| (kind, v)))
        .collect()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration::from_secs(5))
    }

    fn check(&self, name: &str) -> Result<(), (String, String)> {
        let key = format!("channels.{name}");
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err((
                key,
                format!(
                    "'{}' is not a channel name: use letters, digits, '.', '_' and '-'",
                    name.escape_debug()
                ),
            ));
        }
        let kinds = self.kinds();
        match &kinds[..] {
            [] => {
                return Err((
                    key,
                    "say where the channel posts: slack = \"VAR\", discord = \"VAR\" or webhook = \"VAR\", with VAR the environment variable holding its URL".into(),
                ))
            }
            [(first, _), (second, _), ..] => {
                return Err((
                    format!("{key}.{}", second.key()),
                    format!(
                        "a channel posts to one place, and this one has both {} and {}; make two channels",
                        first.key(),
                        second.key()
                    ),
                ))
            }
            [_] => {}
        }
        let vars = kinds
            .iter()
            .map(|(kind, var)| (kind.key(), *var))
            .chain(self.secret.as_deref().map(|s| ("secret", s)));
        for (field, var) in vars {
            check_variable(var).map_err(|m| (format!("{key}.{field}"), m))?;
        }
        if self.secret.is_some() && kinds[0].0 != ChannelKind::Webhook {
            return Err((
                format!("{key}.secret"),
                "only a webhook channel signs its messages; Slack and Discord check their own URLs"
                    .into(),
            ));
        }
        if self
            .timeout
            .is_some_and(|t| t.is_zero() || t > Duration::from_secs(60))
        {
            return Err((
                format!("{key}.timeout"),
                "a channel's timeout is more than 0 and at most 60s".into(),
            ));
        }
        Ok(())
    }
}

/// The name of an environment variable, not its value: a URL or a secret written
/// here would be committed for everyone to read.
fn check_variable(var: &str) -> Result<(), String> {
    if var.contains("://") || var.starts_with("http") {
        return Err(
            "holds a URL, but a webhook URL is a secret and .train.toml is committed: name the environment variable that holds it (and revoke this URL)"
                .into(),
        );
    }
    let mut chars = var.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "'{}' is not the name of an environment variable (letters, digits and '_')",
            var.escape_debug()
        ));
    }
    Ok(())
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
                if !self.env.contains_key(after) {
                    let known: Vec<&str> = self.env.keys().map(String::as_str).collect();
                    let close = closest(after, &known)
                        .map(|c| format!("; did you mean \"{c}\"?"))
                        .unwrap_or_default();
                    return Err((
                        format!("env.{name}.after"),
                        format!(
                            "'{after}' is no environment here (known: {}){close}",
                            known.join(", ")
                        ),
                    ));
                }
                // Follow the chain: it must end, not come back.
                let mut seen = vec![name.as_str()];
                let mut at = after.as_str();
                while let Some(next) = self.env.get(at).and_then(|e| e.after.as_deref()) {
                    seen.push(at);
                    if seen.contains(&next) {
                        seen.push(next);
                        return Err((
                            format!("env.{name}.after"),
                            format!(
                                "the environments come after each other in a circle: {}",
                                seen.join(" after ")
                            ),
                        ));
                    }
                    at = next;
                }
            }
            if env.run.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err((format!("env.{name}.run"), "the run command is empty".into()));
            }
            for channel in &env.channels {
                if !self.channels.contains_key(channel) {
                    let known: Vec<&str> = self.channels.keys().map(String::as_str).collect();
                    let known = if known.is_empty() {
                        "there is no [channels.NAME] table".to_string()
                    } else {
                        format!("known channels: {}", known.join(", "))
                    };
                    return Err((
                        format!("env.{name}.channels"),
                        format!(
                            "unknown channel '{}' ({known}); add [channels.{}] to post there",
                            channel.escape_debug(),
                            channel.escape_debug()
                        ),
                    ));
                }
            }
        }
        for (name, channel) in &self.channels {
            channel.check(name)?;
        }
        for (who, id) in &self.people {
            if who.trim().is_empty()
                || id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err((
                    "people".into(),
                    format!(
                        "\"{}\" = \"{}\" is not a Slack member id: write it like \"U024BE7LH\" (Slack: profile, ⋮, Copy member ID)",
                        who.escape_debug(),
                        id.escape_debug()
                    ),
                ));
            }
        }
        for (i, f) in self.freeze.iter().enumerate() {
            for e in &f.environments {
                if e != "*" && !self.env.is_empty() && !self.env.contains_key(e) {
                    let known: Vec<&str> = self.env.keys().map(String::as_str).collect();
                    return Err((
                        format!("freeze[{i}].environments"),
                        format!(
                            "the freeze names '{e}', which is no environment here (known: {})",
                            known.join(", ")
                        ),
                    ));
                }
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
        let message = plain_types(&e.message().trim().replace('\n', " "));
        let message = match &key {
            Some(k) if !message.contains(k.as_str()) => format!("`{k}`: {message}"),
            _ => message,
        };
        err(line, key, message)
    })?;
    Ok((value, text))
}

/// The known name nearest to a mistyped one (at most two edits away).
pub fn closest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(typed, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// serde's type names in the words a person uses: "expected u32" is "expected a
/// whole number, 0 or more".
fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        (
            "expected a sequence",
            "expected a list, like [\"a\", \"b\"]",
        ),
    ];
    let mut out = message.to_string();
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    out
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
    // `freeze[2]`: the third `[[freeze]]` table.
    let (table, nth) = match table.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((name, n)) => (name, n.parse::<usize>().ok()),
        None => (table, None),
    };
    let mut seen = 0;
    let mut in_table = table.is_empty();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_matches(['[', ']']).trim().replace(['"', '\''], "");
            if name == dotted {
                return Some(i + 1);
            }
            in_table = name == table
                && match nth {
                    Some(n) => {
                        seen += 1;
                        seen == n + 1
                    }
                    None => true,
                };
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
    fn after_names_a_known_environment_and_no_circle() {
        let e = parse("[env.staging]\n[env.production]\nafter = \"stagin\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("env.production.after"));
        assert!(
            e.message.contains("did you mean \"staging\""),
            "{}",
            e.message
        );
        let e = parse("[env.a]\nafter = \"b\"\n[env.b]\nafter = \"c\"\n[env.c]\nafter = \"a\"\n")
            .unwrap_err();
        assert!(e.message.contains("in a circle"), "{}", e.message);
        assert!(parse("[env.a]\n[env.b]\nafter = \"a\"\n[env.c]\nafter = \"b\"\n").is_ok());
        assert_eq!(closest("prod", &["production", "staging"]), None);
        assert_eq!(
            closest("stagign", &["production", "staging"]),
            Some("staging")
        );
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

    #[test]
    fn reads_the_channels_of_the_issue() {
        let c = parse(
            r#"
[channels.prod-deploys]
slack = "SLACK_PROD_DEPLOYS"
[channels.all]
webhook = "DEPLOY_HOOK_URL"
secret = "DEPLOY_HOOK_SECRET"
timeout = "2s"
[env.production]
channels = ["prod-deploys", "all"]
[env.staging]
channels = ["all"]
[people]
"alice@example.com" = "U024BE7LH"
"#,
        )
        .unwrap();
        assert_eq!(c.env["production"].channels, ["prod-deploys", "all"]);
        let all = &c.channels["all"];
        assert_eq!(all.kinds(), [(ChannelKind::Webhook, "DEPLOY_HOOK_URL")]);
        assert_eq!(all.timeout(), Duration::from_secs(2));
        assert_eq!(c.channels["prod-deploys"].timeout(), Duration::from_secs(5));
        assert_eq!(c.people["alice@example.com"], "U024BE7LH");
    }

    #[test]
    fn channel_errors_name_file_line_and_key() {
        let cases = [
            (
                "[channels.ops]\nslack = \"S\"\n[env.production]\nchannels = [\"opz\"]\n",
                4,
                "env.production.channels",
                "unknown channel 'opz' (known channels: ops)",
            ),
            (
                "[channels.ops]\ntimeout = \"5s\"\n",
                1,
                "channels.ops",
                "say where the channel posts",
            ),
            (
                "[channels.ops]\nslack = \"S\"\ndiscord = \"D\"\n",
                3,
                "channels.ops.discord",
                "has both slack and discord",
            ),
            (
                "[channels.ops]\nslack = \"https://hooks.slack.com/services/T/B/X\"\n",
                2,
                "channels.ops.slack",
                "a webhook URL is a secret",
            ),
            (
                "[channels.ops]\nslack = \"MY VAR\"\n",
                2,
                "channels.ops.slack",
                "not the name of an environment variable",
            ),
            (
                "[channels.ops]\nslack = \"S\"\nsecret = \"K\"\n",
                3,
                "channels.ops.secret",
                "only a webhook channel signs",
            ),
            (
                "[channels.ops]\nwebhook = \"W\"\ntimeout = \"2m\"\n",
                3,
                "channels.ops.timeout",
                "at most 60s",
            ),
            (
                "[channels.ops]\nslack = \"S\"\ncolour = \"red\"\n",
                3,
                "colour",
                "colour",
            ),
            (
                "[people]\n\"bob@example.com\" = \"<!here>\"\n",
                1,
                "people",
                "is not a Slack member id",
            ),
        ];
        for (text, line, key, says) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(e.to_string().contains(says), "{text}: {e}");
            assert_eq!(crate::error::Error::from(e).exit_code(), 2);
        }
    }
}
