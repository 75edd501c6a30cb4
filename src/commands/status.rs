//! `git train status`: trunk, CI, and where each commit runs.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::context::Context;
use crate::domain::deployment::{counts, FUTURE_LIMIT_MS};
use crate::domain::{CiState, CommitId, CommitInfo, Deployment, Timestamp};
use crate::error::Result;
use crate::ledger::{Deployments, Future, Held};

#[derive(Serialize)]
pub struct Status {
    pub version: u32,
    /// When the ledger was last synced with the remote (none without a remote).
    pub synced: Option<super::Freshness>,
    pub trunk: String,
    pub tip: String,
    pub environments: Vec<EnvStatus>,
    pub commits: Vec<CommitStatus>,
    /// When the CI shown was read from GitHub (the oldest of the shown commits'),
    /// for CI cached by sync, deploy and the daemon; None: CI is in the ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_read_at: Option<Timestamp>,
}

#[derive(Clone, Serialize)]
pub struct EnvStatus {
    pub name: String,
    /// The commit it runs, if it was ever deployed.
    pub deployed: Option<DeployedInfo>,
    /// Trunk commits not yet there (first-parent); None when never deployed.
    pub behind: Option<usize>,
    /// True when `behind` is a lower bound (the walk stopped at its limit).
    pub behind_more: bool,
    /// Commit time of the oldest trunk commit not yet there.
    pub oldest_undeployed_at: Option<Timestamp>,
    /// The deployment in progress, if any.
    pub in_progress: Option<String>,
    pub lock: Option<Held>,
    /// A freeze window holds the environment now.
    pub frozen: Option<crate::domain::freeze::Frozen>,
    /// The commit it runs, when this clone has not fetched it yet.
    pub unfetched: Option<String>,
    /// Its newest deployment ended in failure or error.
    pub failed: Option<FailedInfo>,
}

#[derive(Clone, Serialize)]
pub struct FailedInfo {
    pub dep: String,
    pub state: crate::domain::State,
    pub sha: String,
    pub desc: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Serialize)]
pub struct DeployedInfo {
    pub sha: String,
    pub dep: String,
    pub by: String,
    pub at: Timestamp,
    pub on_trunk: bool,
}

#[derive(Serialize)]
pub struct CommitStatus {
    #[serde(flatten)]
    pub commit: CommitInfo,
    pub ci: CiState,
    /// Environments currently running this commit.
    pub deployed_to: Vec<String>,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// How many trunk commits to show
    #[arg(short = 'n', long = "count", default_value_t = 10, value_name = "N")]
    pub count: usize,
    /// Show only this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Every repository on the daemon's watch list, one block each (local ledgers only)
    #[arg(long)]
    pub all: bool,
    /// Ask GitHub for the CI of the shown commits first (conditional requests: an
    /// unchanged answer costs no rate limit); without it, status shows the CI that
    /// sync, deploy and the daemon last read, and how old it is
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

/// How far to count undeployed commits before saying "N+".
const TRAIN_WALK_LIMIT: usize = 10_000;

pub fn run(ctx: &Context, args: &Args) -> Result<Status> {
    ctx.open_deployments()?;
    let trunk = ctx.repo().trunk(&ctx.config)?;
    let only = args.env.as_deref().map(|e| ctx.known_env(e)).transpose()?;
    let snapshot = ctx.ledger.snapshot()?;
    warn_future(ctx, &snapshot.future, only.as_ref().map(|e| e.as_str()));
    let deployed = &snapshot.deployed;
    let mut deployments = ctx.ledger.deployments()?;

    let mut names: BTreeSet<String> = ctx.config.env.keys().cloned().collect();
    names.extend(deployed.keys().cloned());
    names.extend(snapshot.unfetched.keys().cloned());
    let locks: std::collections::BTreeMap<String, Held> = ctx
        .ledger
        .locks()?
        .into_iter()
        .map(|h| (h.lock.env.clone(), h))
        .collect();
    names.extend(locks.keys().cloned());
    // The newest deployment of each environment, to say when it failed.
    let newest = ctx.ledger.newest()?;
    names.extend(newest.keys().cloned());
    // Retired environments (`git train env retire`) are gone from status; history
    // keeps their deployments.
    for env in ctx.ledger.retired_of(&newest)? {
        if !ctx.config.env.contains_key(&env) && !locks.contains_key(&env) {
            names.remove(&env);
        }
    }
    if let Some(env) = &only {
        names.retain(|n| n == env.as_str());
        names.insert(env.to_string());
    }
    let mut environments = Vec::new();
    for name in names {
        let current = deployed.get(&name).copied();
        let mut status = env_status(ctx, &mut deployments, &name, current, trunk.tip)?;
        status.in_progress = snapshot
            .open
            .iter()
            .find(|o| o.env == name)
            .map(|o| o.dep.clone());
        status.lock = locks.get(&name).cloned();
        status.unfetched = snapshot.unfetched.get(&name).map(|o| o.to_string());
        if let Some(n) = newest.get(&name).filter(|n| {
            matches!(
                n.state,
                crate::domain::State::Failure | crate::domain::State::Error
            )
        }) {
            let found = deployments.find(n.commit, &n.dep, Some(&name))?;
            status.failed = Some(FailedInfo {
                dep: n.dep.clone(),
                state: n.state,
                sha: n.commit.to_string(),
                desc: found.and_then(|d| d.desc().map(str::to_string)),
                at: found.and_then(|d| d.finished_at()).unwrap_or(n.started),
            });
        }
        environments.push(status);
    }

    let ci = ctx.ledger.ci()?;
    // CI that lives on GitHub: as sync, deploy or the daemon last read it.
    let cached = crate::forge::github::CiCache::load(ctx);
    let mut ci_read_at: Option<Timestamp> = None;
    let mut commits = Vec::new();
    for oid in ctx.repo().first_parent(trunk.tip, args.count)? {
        let deployed_to = environments
            .iter()
            .filter(|e| {
                e.deployed
                    .as_ref()
                    .is_some_and(|d| d.sha == oid.to_string())
            })
            .map(|e| e.name.clone())
            .collect();
        let commit = ctx.repo().commit_info(oid)?;
        let (ci, bad) = ci.of(oid, &ctx.config.checks.ignore)?;
        ctx.warn_bad_lines(&bad);
        let mut state = ci.state;
        if state == CiState::None {
            if let Some(c) = cached.commits.get(&oid.to_string()) {
                state = c.state();
                ci_read_at = Some(ci_read_at.map_or(c.at(), |at| at.min(c.at())));
            }
        }
        commits.push(CommitStatus {
            commit,
            ci: state,
            deployed_to,
        });
    }
    Ok(Status {
        version: super::JSON_VERSION,
        synced: super::freshness(ctx),
        trunk: trunk.name,
        tip: trunk.tip.to_string(),
        environments,
        commits,
        ci_read_at,
    })
}

fn env_status(
    ctx: &Context,
    deployments: &mut Deployments,
    name: &str,
    current: Option<CommitId>,
    tip: CommitId,
) -> Result<EnvStatus> {
    let mut status = EnvStatus {
        name: name.to_string(),
        deployed: None,
        behind: None,
        behind_more: false,
        oldest_undeployed_at: None,
        in_progress: None,
        lock: None,
        frozen: crate::domain::freeze::frozen(&ctx.config.freeze, name, ctx.now()),
        unfetched: None,
        failed: None,
    };
    let Some(current) = current else {
        return Ok(status);
    };
    let behind = ctx.repo().behind(tip, current, TRAIN_WALK_LIMIT)?;
    if let Some(d) = newest_success(deployments.of(current)?, name, ctx.now()) {
        status.deployed = Some(DeployedInfo {
            sha: current.to_string(),
            dep: d.dep.clone(),
            by: d.by().to_string(),
            at: d.success_at().unwrap_or(d.started_at()),
            on_trunk: behind.on_trunk,
        });
    }
    status.behind = Some(behind.count);
    status.behind_more = !behind.complete;
    if let Some(oldest) = behind.oldest {
        status.oldest_undeployed_at = Some(ctx.repo().commit_info(oldest)?.at);
    }
    Ok(status)
}

fn newest_success<'a>(
    deployments: &'a [Deployment],
    env: &str,
    now: Timestamp,
) -> Option<&'a Deployment> {
    deployments
        .iter()
        .filter(|d| d.env == env && d.success_at().is_some_and(|at| counts(at, now)))
        .max_by_key(|d| d.success_at())
}

/// Names each success left out of what an environment runs because it is dated too
/// far after this machine's clock (of one environment, or all).
pub fn warn_future(ctx: &Context, future: &[Future], env: Option<&str>) {
    for f in future.iter().filter(|f| env.is_none_or(|e| e == f.env)) {
        ctx.ui.warn(&format!(
            "deployment {} of {} to {} is dated {}, more than {} after this machine's clock: \
             not counted as what {} runs (a clock far ahead, or a line written by hand); \
             the next deployment to {} supersedes it",
            f.dep,
            f.commit.short(),
            f.env,
            f.at,
            crate::domain::time::format_age(FUTURE_LIMIT_MS),
            f.env,
            f.env
        ));
    }
}
