//! `git train stale`: per environment, the trunk commits that have waited longer than
//! a threshold to be deployed there, oldest first, with what the environment runs and
//! who deployed it; from the ledger alone. `--post` sends each environment's digest
//! to its team channels, at most once a day per channel (`.git/train/digests.json`
//! remembers the day each was posted, so a retried workflow does not post again).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::status::{self, DeployedInfo};
use crate::context::Context;
use crate::domain::{CommitInfo, Timestamp};
use crate::error::Result;
use crate::ledger::lockfile::LockFile;
use crate::notify::{self, channel, Event, Hub, Sink};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Only this environment (repeat for more)
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// List the commits that have waited longer than this (30m, 24h, 2d)
    #[arg(long, value_name = "DURATION", value_parser = super::flags::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Post each environment's digest to its team channels, once a day per channel
    #[arg(long)]
    pub post: bool,
    /// With --post: post even to the channels that got today's digest already
    #[arg(long, requires = "post")]
    pub again: bool,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

/// The threshold of an environment without `stale_after`.
pub const DEFAULT_OLDER_THAN: Duration = Duration::from_secs(24 * 3600);

/// How far back undeployed commits are looked for (as `status` counts them).
const WALK_LIMIT: usize = 10_000;

/// Where the day of each environment's last digest per channel is kept.
const MEMORY: &str = "digests.json";

#[derive(Serialize)]
pub struct Stale {
    pub version: u32,
    pub trunk: String,
    pub tip: String,
    /// Now: what the ages are counted from.
    pub at: Timestamp,
    pub environments: Vec<EnvStale>,
    /// What `-v` shows of the posts: channel names and answers.
    #[serde(skip)]
    pub log: Vec<String>,
    /// `--post` ran.
    #[serde(skip)]
    pub posting: bool,
}

impl Stale {
    /// How many commits wait in all.
    pub fn waiting(&self) -> usize {
        self.environments.iter().map(|e| e.waiting.len()).sum()
    }

    /// Whether a digest could not be posted to some channel.
    pub fn failed(&self) -> bool {
        self.environments
            .iter()
            .flat_map(|e| e.digest.iter().flatten())
            .any(|d| d.outcome == Outcome::Failed)
    }
}

#[derive(Serialize)]
pub struct EnvStale {
    pub name: String,
    /// Commits that have waited longer than this are listed.
    pub older_than_ms: i64,
    /// What it runs: its newest successful deployment, and who made it.
    pub deployed: Option<DeployedInfo>,
    /// The commit it runs when this clone has not fetched it yet (nothing counted).
    pub unfetched: Option<String>,
    /// Trunk commits it does not run yet; None when nothing was counted (never
    /// deployed, or its commit not fetched).
    pub undeployed: Option<usize>,
    /// False when counting stopped at 10,000: older commits may wait too.
    pub complete: bool,
    /// Those that waited longer than `older_than_ms`, oldest first.
    pub waiting: Vec<Waiting>,
    /// With `--post`: what became of its digest in each of its channels (none when
    /// nothing waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Vec<Delivery>>,
}

#[derive(Serialize)]
pub struct Waiting {
    #[serde(flatten)]
    pub commit: CommitInfo,
    /// From its commit time (when it was merged) to now.
    pub waited_ms: i64,
    /// The `(#123)` at the end of its subject.
    pub pull_request: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Posted,
    /// Posted earlier today (without `--again`): not again.
    AlreadyPosted,
    Failed,
}

#[derive(Serialize)]
pub struct Delivery {
    pub channel: String,
    pub outcome: Outcome,
    /// Why it failed.
    pub why: Option<String>,
}

pub fn run(ctx: &Context, args: &Args) -> Result<Stale> {
    let trunk = ctx.repo().trunk(&ctx.config)?;
    let now = ctx.now();
    let st = status::run(
        ctx,
        &status::Args {
            count: 0,
            env: None,
            ..Default::default()
        },
    )?;
    let names = environments(ctx, args, &st.environments)?;
    let mut statuses: BTreeMap<String, status::EnvStatus> = st
        .environments
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect();
    let snapshot = ctx.ledger.snapshot()?;
    let mut environments = Vec::new();
    for name in names {
        let status = statuses.remove(&name);
        let threshold = args
            .older_than
            .or_else(|| ctx.config.env.get(&name).and_then(|e| e.stale_after))
            .unwrap_or(DEFAULT_OLDER_THAN);
        let older_than_ms = i64::try_from(threshold.as_millis()).unwrap_or(i64::MAX);
        let (deployed, unfetched) = match status {
            Some(s) => (s.deployed, s.unfetched),
            None => (None, None),
        };
        let mut env = EnvStale {
            name: name.clone(),
            older_than_ms,
            deployed,
            unfetched,
            undeployed: None,
            complete: true,
            waiting: Vec::new(),
            digest: None,
        };
        if let Some(&runs) = snapshot.deployed.get(&name) {
            let walked = ctx.repo().train(trunk.tip, Some(runs), WALK_LIMIT)?;
            env.undeployed = Some(walked.commits.len());
            env.complete = walked.complete;
            // Newest first: the oldest are at the end.
            for commit in walked.commits.into_iter().rev() {
                let info = ctx.repo().commit_info(commit)?;
                let waited_ms = now.millis_since(info.at);
                if waited_ms > older_than_ms {
                    env.waiting.push(Waiting {
                        pull_request: pull_request(&info.subject),
                        commit: info,
                        waited_ms,
                    });
                }
            }
            // Trunk order, unless commit times say otherwise (a rebased merge).
            env.waiting.sort_by_key(|w| w.commit.at);
        }
        environments.push(env);
    }
    Ok(Stale {
        version: super::JSON_VERSION,
        trunk: trunk.name,
        tip: trunk.tip.to_string(),
        at: now,
        environments,
        log: Vec::new(),
        posting: false,
    })
}

/// The environments asked for (checked), else those with `stale_after`; when none
/// has it, every configured environment, else every one the ledger knows.
fn environments(ctx: &Context, args: &Args, statuses: &[status::EnvStatus]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in &args.envs {
        let env = ctx.env(name)?.as_str().to_string();
        if !out.contains(&env) {
            out.push(env);
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    let config = &ctx.config.env;
    let watched: Vec<String> = config
        .iter()
        .filter(|(_, e)| e.stale_after.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    if !watched.is_empty() {
        return Ok(watched);
    }
    if !config.is_empty() {
        return Ok(config.keys().cloned().collect());
    }
    Ok(statuses
        .iter()
        .filter(|e| e.deployed.is_some() || e.unfetched.is_some())
        .map(|e| e.name.clone())
        .collect())
}

/// The pull request a subject ends with, as GitHub's squash merge writes it:
/// `Fix typo (#130)`.
pub fn pull_request(subject: &str) -> Option<u64> {
    let inner = subject.trim_end().strip_suffix(')')?;
    let at = inner.rfind("(#")?;
    let digits = &inner[at + 2..];
    let fine =
        !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit());
    fine.then(|| digits.parse().ok()).flatten()
}

/// Posts each environment's digest to its channels: not when nothing waits, and not
/// to a channel that got today's already (unless `again`). A channel that fails is
/// not remembered, so that running it again posts there.
pub fn post(ctx: &Context, stale: &mut Stale, again: bool) -> Result<()> {
    stale.posting = true;
    let day = stale.at.to_string()[..10].to_string();
    let dir = ctx.repo().train_dir();
    std::fs::create_dir_all(&dir)?;
    // Two runs at once (a workflow retried while the first still runs) post once.
    let _lock = LockFile::acquire(&dir.join("digests.lock"), Duration::from_secs(120))?;
    let path = dir.join(MEMORY);
    let mut memory = Memory::load(ctx, &path);
    let repository = notify::recorded::repository(ctx);
    let mut changed = false;
    for env in &mut stale.environments {
        if env.waiting.is_empty() {
            continue;
        }
        let names = ctx
            .config
            .env
            .get(&env.name)
            .map(|e| e.channels.clone())
            .unwrap_or_default();
        let mut deliveries = Vec::new();
        let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
        let mut labels = Vec::new();
        for name in &names {
            if !again && memory.day(&env.name, name) == Some(day.as_str()) {
                deliveries.push(Delivery {
                    channel: name.clone(),
                    outcome: Outcome::AlreadyPosted,
                    why: None,
                });
                continue;
            }
            // The configuration was checked: every channel named exists.
            if let Some(c) = channel::open(&ctx.config, name, &|key| ctx.git_config(key)) {
                labels.push((c.label().to_string(), name.clone()));
                sinks.push(Box::new(c));
            }
        }
        if !sinks.is_empty() {
            let event = Event::Digest(digest(&repository, env, stale.at));
            let hub = Hub::new(sinks);
            let failures = hub.send_blocking(&event);
            stale.log.extend(hub.verbose());
            for (label, name) in labels {
                match failures.iter().find(|f| f.sink == label) {
                    Some(f) => deliveries.push(Delivery {
                        channel: name,
                        outcome: Outcome::Failed,
                        why: Some(f.why.clone()),
                    }),
                    None => {
                        memory.remember(&env.name, &name, &day);
                        changed = true;
                        deliveries.push(Delivery {
                            channel: name,
                            outcome: Outcome::Posted,
                            why: None,
                        });
                    }
                }
            }
        }
        deliveries.sort_by_key(|d| names.iter().position(|n| *n == d.channel));
        env.digest = Some(deliveries);
    }
    if changed {
        memory.save(&path)?;
    }
    Ok(())
}

/// The digest event of an environment where commits wait.
fn digest(repository: &notify::Repository, env: &EnvStale, at: Timestamp) -> notify::StaleDigest {
    let mut seen = HashSet::new();
    let authors = env
        .waiting
        .iter()
        .filter(|w| {
            let key = if w.commit.author_email.is_empty() {
                w.commit.author.to_lowercase()
            } else {
                w.commit.author_email.to_lowercase()
            };
            seen.insert(key)
        })
        .map(|w| notify::Person {
            name: w.commit.author.clone(),
            email: w.commit.author_email.clone(),
        })
        .collect();
    notify::StaleDigest {
        repository: repository.clone(),
        environment: env.name.clone(),
        at,
        older_than_ms: env.older_than_ms,
        waiting: env.waiting.len(),
        complete: env.complete,
        commits: env
            .waiting
            .iter()
            .take(notify::DIGEST_LISTED)
            .map(|w| notify::WaitingCommit {
                sha: w.commit.sha.clone(),
                subject: w.commit.subject.clone(),
                author: w.commit.author.clone(),
                email: w.commit.author_email.clone(),
                at: w.commit.at,
                waited_ms: w.waited_ms,
                pull_request: w.pull_request,
            })
            .collect(),
        authors,
        newer: env
            .undeployed
            .unwrap_or(0)
            .saturating_sub(env.waiting.len()),
        deployed: env.deployed.as_ref().map(|d| notify::LastDeployment {
            sha: d.sha.clone(),
            deployment: d.dep.clone(),
            by: d.by.clone(),
            at: d.at,
        }),
        command: format!("git train deploy {}", env.name),
    }
}

/// The day (UTC, `2026-11-25`) each environment's digest was last posted to each
/// channel. A cache: deleting it only means today's digest may be posted again.
#[derive(Default, Serialize, Deserialize)]
struct Memory {
    version: u32,
    /// Environment, then channel, then day.
    posted: BTreeMap<String, BTreeMap<String, String>>,
}

impl Memory {
    fn load(ctx: &Context, path: &Path) -> Memory {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(_) => return Memory::default(),
        };
        serde_json::from_str(&text).unwrap_or_else(|_| {
            ctx.ui.warn(&format!(
                "{} could not be read: it is remade, and today's digests may be posted again",
                path.display()
            ));
            Memory::default()
        })
    }

    fn day(&self, env: &str, channel: &str) -> Option<&str> {
        self.posted.get(env)?.get(channel).map(String::as_str)
    }

    fn remember(&mut self, env: &str, channel: &str, day: &str) {
        self.posted
            .entry(env.to_string())
            .or_default()
            .insert(channel.to_string(), day.to_string());
    }

    fn save(&mut self, path: &Path) -> Result<()> {
        self.version = 1;
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| crate::error::Error::internal(e.to_string()))?;
        text.push('\n');
        crate::file::write_atomically(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pull_request_is_the_number_a_squash_merge_puts_at_the_end() {
        assert_eq!(pull_request("Fix typo (#130)"), Some(130));
        assert_eq!(pull_request("Fix typo (#130) "), Some(130));
        assert_eq!(pull_request("Revert \"x (#12)\" (#13)"), Some(13));
        assert_eq!(pull_request("Fix (#12) typo"), None);
        assert_eq!(pull_request("Fix typo (#)"), None);
        assert_eq!(pull_request("Fix typo (#12a)"), None);
        assert_eq!(pull_request("Fix typo #130"), None);
        assert_eq!(pull_request("(#99999999999999999999)"), None);
        assert_eq!(pull_request(""), None);
    }
}
