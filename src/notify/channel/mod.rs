//! Team channels: each deployment, rollback and lock posted to the Slack, Discord or
//! webhook channels of its environment (`[channels.NAME]`, `[env.X] channels`), by
//! the process that recorded it (DESIGN.md section 8: never the daemon, which every
//! teammate runs). A channel that is down, slow or answers an error is a warning for
//! the caller: the outcome, the ledger and the exit status do not depend on it, and
//! nothing is posted twice (no retry; after a timeout a command posts no more to it).

pub mod http;
pub mod message;
pub mod payload;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{Event, Sending, Sink};
use crate::config::{ChannelKind, Config};
use http::WebhookUrl;

/// Reads a key of the user's git config, e.g. `train.channel.NAME.url`.
pub type GitConfig<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A channel, ready to post: its URL is resolved (or why it cannot be), but nothing
/// is connected before the first message.
pub struct Channel {
    /// Its name in `[channels.NAME]`.
    channel: String,
    /// How warnings and `-v` name it: `channel prod-deploys (Slack)`.
    label: String,
    kind: ChannelKind,
    url: Result<WebhookUrl, String>,
    /// Webhooks with `secret`: the key, or why it is missing (then nothing is posted
    /// unsigned).
    secret: Option<Result<String, String>>,
    timeout: Duration,
    /// The environments whose events it takes.
    environments: Vec<String>,
    /// `[people]`, keys in lower case.
    people: BTreeMap<String, String>,
    /// It did not answer in time: this command posts no more to it.
    gone_quiet: AtomicBool,
    /// What `-v` shows: what was posted and the answer's status.
    log: Mutex<Vec<String>>,
}

/// The channels of every environment that has some, for a command's hub.
pub fn all(config: &Config, git_config: GitConfig) -> Vec<Box<dyn Sink>> {
    config
        .channels
        .keys()
        .filter(|name| config.env.values().any(|e| e.channels.contains(name)))
        .filter_map(|name| open(config, name, git_config))
        .map(|c| Box::new(c) as Box<dyn Sink>)
        .collect()
}

/// The channel `name` of the configuration, None when there is no such channel.
pub fn open(config: &Config, name: &str, git_config: GitConfig) -> Option<Channel> {
    let channel = config.channels.get(name)?;
    let (kind, var) = *channel.kinds().first()?;
    let from_git = format!("train.channel.{name}.url");
    let url = match value(var).or_else(|| git_config(&from_git)) {
        Some(text) => WebhookUrl::parse(&text).map_err(|why| {
            format!("not posted: its URL (in {var} or git config {from_git}) cannot be used: {why}")
        }),
        None => Err(format!(
            "not posted: no URL for it; set {var}, or run `git config {from_git} URL`"
        )),
    };
    let secret = channel.secret.as_deref().map(|var| {
        let from_git = format!("train.channel.{name}.secret");
        value(var).or_else(|| git_config(&from_git)).ok_or_else(|| {
            format!(
                "not posted: it is signed with the secret in {var} (or git config {from_git}), which is not set"
            )
        })
    });
    let kind_name = match kind {
        ChannelKind::Slack => "Slack",
        ChannelKind::Discord => "Discord",
        ChannelKind::Webhook => "webhook",
    };
    Some(Channel {
        channel: name.to_string(),
        label: format!("channel {name} ({kind_name})"),
        kind,
        url,
        secret,
        timeout: channel.timeout(),
        environments: config
            .env
            .iter()
            .filter(|(_, e)| e.channels.iter().any(|c| c == name))
            .map(|(env, _)| env.clone())
            .collect(),
        people: config
            .people
            .iter()
            .map(|(who, id)| (who.to_lowercase(), id.clone()))
            .collect(),
        gone_quiet: AtomicBool::new(false),
        log: Mutex::new(Vec::new()),
    })
}

/// An environment variable's value, when it is set and not blank.
fn value(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Channel {
    pub fn name(&self) -> &str {
        &self.channel
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Posts one event, under the channel's timeout.
    pub async fn post(&self, event: &Event) -> Result<(), String> {
        let url = self.url.as_ref().map_err(String::clone)?;
        if self.gone_quiet.load(Ordering::Relaxed) {
            return Err(format!(
                "not posted: it did not answer within {} earlier in this command",
                humantime::format_duration(self.timeout)
            ));
        }
        let Some(body) = payload::body(self.kind, event, &self.people) else {
            return Ok(());
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut headers = Vec::new();
        match &self.secret {
            Some(Ok(secret)) => {
                headers.push((payload::SIGNATURE_HEADER, payload::signature(secret, &body)))
            }
            Some(Err(why)) => return Err(why.clone()),
            None => {}
        }
        let what = describe(event);
        let answer = match tokio::time::timeout(self.timeout, http::post(url, body, &headers)).await
        {
            Ok(answer) => answer,
            Err(_) => {
                self.gone_quiet.store(true, Ordering::Relaxed);
                let waited = humantime::format_duration(self.timeout);
                self.note(format!("{what}: no answer within {waited}"));
                return Err(format!(
                    "it did not answer within {waited} (the message may still arrive); this command posts nothing more to it"
                ));
            }
        };
        match answer {
            Ok(answer) if answer.ok() => {
                self.note(format!("posted {what}: {}", answer.status));
                Ok(())
            }
            Ok(answer) => {
                self.note(format!("{what}: answered {}", answer.status));
                let said = if answer.said.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", answer.said)
                };
                Err(format!("it answered {}{said}", answer.status))
            }
            Err(why) => {
                self.note(format!("{what}: {why}"));
                Err(why)
            }
        }
    }

    fn note(&self, line: String) {
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("{}: {line}", self.label));
        }
    }
}

/// What an event is, in a few words, for `-v`.
fn describe(event: &Event) -> String {
    match event {
        Event::Deployment(d) => format!("deployment {} to {}", d.state, d.environment),
        Event::Lock(l) => format!("lock of {}", l.environment),
        Event::Test(_) => "a test message".into(),
        Event::Digest(d) => format!("the digest of {}", d.environment),
        Event::Ci(_) => "CI".into(),
        Event::Stale(_) => "a stale commit".into(),
        Event::Summary(_) => "a summary".into(),
        Event::Shipped(s) => format!("commits live in {}", s.environment),
        Event::Unreachable(_) => "an unreachable forge".into(),
    }
}

impl Sink for Channel {
    fn name(&self) -> &str {
        &self.label
    }

    fn send<'a>(&'a self, event: &'a Event) -> Sending<'a> {
        Box::pin(self.post(event))
    }

    /// The deployments, locks and digests of its environments, and a test message
    /// for it.
    fn wants(&self, event: &Event) -> bool {
        match event {
            Event::Deployment(_) | Event::Lock(_) | Event::Digest(_) => event
                .environment()
                .is_some_and(|env| self.environments.iter().any(|e| e == env)),
            Event::Test(t) => t.channel == self.channel,
            // The daemon's, for the desktop only.
            Event::Ci(_)
            | Event::Stale(_)
            | Event::Summary(_)
            | Event::Shipped(_)
            | Event::Unreachable(_) => false,
        }
    }

    /// Its own timeout, with a margin: it measures it itself, to stop posting to a
    /// channel that went quiet.
    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout + Duration::from_secs(1))
    }

    fn verbose(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
