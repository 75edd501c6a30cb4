//! `git train hook pre-push`: run by the pre-push hook that `init` installs. When a
//! push moves trunk on the team's remote, it counts, for every environment with
//! `max_train` or `stale_after`, the trunk commits the pushed tip has that the
//! environment does not run yet, and the age of the oldest of them.
//!
//! It must stay within a few milliseconds and never surprise: no network, no command
//! from the configuration, the index's fast path (`Ledger::snapshot`), and a walk
//! that stops soon after it has seen enough to warn (`walk_limit`).

use std::time::Duration;

use crate::context::Context;
use crate::domain::{CommitId, CommitInfo};
use crate::error::Result;

#[derive(clap::Args, Debug, Clone)]
pub struct HookArgs {
    #[command(subcommand)]
    pub hook: HookCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum HookCommand {
    /// Warn when a push of trunk leaves a long or old train of undeployed commits
    ///
    /// Reads the refs being pushed from stdin, as git gives them to the pre-push hook.
    PrePush(PrePushArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PrePushArgs {
    /// The remote pushed to (its name, or its URL when it has none)
    pub remote: String,
    /// The URL pushed to
    pub url: Option<String>,
}

/// How many undeployed commits to count, at least, before saying "N+". Walking
/// 10,000 commits takes about 150 ms on a 100k-commit repository; 1,000 about 15.
const WALK_MIN: usize = 1_000;
/// And at most, whatever `max_train` says.
const WALK_MAX: usize = 10_000;

/// Enough to tell whether the train is longer than `max_train`.
fn walk_limit(max_train: Option<u32>) -> usize {
    let needed = max_train.map_or(0, |m| (m as usize).saturating_add(1));
    needed.clamp(WALK_MIN, WALK_MAX)
}

/// One line git gives the pre-push hook on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub local_ref: String,
    pub local_sha: CommitId,
    pub remote_ref: String,
    pub remote_sha: CommitId,
}

impl PushedRef {
    /// A deletion (`git push origin :branch`) pushes the all-zero sha.
    pub fn is_deletion(&self) -> bool {
        self.local_sha.is_zero()
    }
}

/// `<local ref> <local sha> <remote ref> <remote sha>` lines; others are skipped.
pub fn parse_refs(stdin: &str) -> Vec<PushedRef> {
    stdin
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                [local_ref, local_sha, remote_ref, remote_sha] => Some(PushedRef {
                    local_ref: local_ref.to_string(),
                    local_sha: CommitId::parse(local_sha)?,
                    remote_ref: remote_ref.to_string(),
                    remote_sha: CommitId::parse(remote_sha)?,
                }),
                _ => None,
            }
        })
        .collect()
}

pub struct Args<'a> {
    /// The remote's name, or its URL when the push named a URL.
    pub remote: &'a str,
    pub url: Option<&'a str>,
    /// What git wrote on stdin.
    pub refs: &'a str,
}

/// What a push leaves undeployed.
#[derive(Debug, Default)]
pub struct PrePush {
    pub trunk: Option<String>,
    /// The trunk commit being pushed; `None` when the push does not move trunk on
    /// the team's remote (then there is nothing to say).
    pub pushed: Option<CommitId>,
    pub environments: Vec<EnvTrain>,
}

impl PrePush {
    /// The environments that stop the push: over a threshold, with `block = true`.
    pub fn blocking(&self) -> impl Iterator<Item = &EnvTrain> {
        self.environments.iter().filter(|e| e.block && e.alarming())
    }
}

/// One environment with thresholds, after the push.
#[derive(Debug)]
pub struct EnvTrain {
    pub name: String,
    /// The commit it runs; `None` when it was never deployed (nothing is counted).
    pub deployed: Option<CommitId>,
    /// Trunk commits the pushed tip has that the environment does not run.
    pub undeployed: usize,
    /// True when `undeployed` is a lower bound (the walk stopped at its limit).
    pub more: bool,
    /// The oldest of them (the oldest counted, when `more`: the real one is older).
    pub oldest: Option<CommitInfo>,
    /// How long the oldest has waited (from its commit time), in milliseconds.
    pub waited_ms: Option<i64>,
    pub max_train: Option<u32>,
    pub stale_after: Option<Duration>,
    pub block: bool,
    /// More undeployed commits than `max_train`.
    pub too_long: bool,
    /// The oldest undeployed commit is older than `stale_after`.
    pub too_old: bool,
}

impl EnvTrain {
    pub fn alarming(&self) -> bool {
        self.too_long || self.too_old
    }
}

pub fn pre_push(ctx: &Context, args: &Args) -> Result<PrePush> {
    let mut out = PrePush::default();
    // Branches only: deletions, tags and notes (a `git train sync` pushes
    // refs/notes/deploys, which runs this hook too) never move trunk.
    let branches: Vec<PushedRef> = parse_refs(args.refs)
        .into_iter()
        .filter(|r| !r.is_deletion() && r.remote_ref.starts_with("refs/heads/"))
        .collect();
    if branches.is_empty() || !is_team_remote(ctx, args.remote, args.url) {
        return Ok(out);
    }
    let trunk = ctx.repo().trunk(&ctx.config)?.name;
    let trunk_ref = format!("refs/heads/{trunk}");
    out.trunk = Some(trunk);
    let Some(pushed) = branches.iter().find(|r| r.remote_ref == trunk_ref) else {
        return Ok(out);
    };
    let pushed = pushed.local_sha;
    out.pushed = Some(pushed);

    let watched: Vec<_> = ctx
        .config
        .env
        .iter()
        .filter(|(_, e)| e.max_train.is_some() || e.stale_after.is_some())
        .collect();
    if watched.is_empty() {
        return Ok(out);
    }
    let snapshot = ctx.ledger.snapshot()?;
    let now = ctx.now();
    for (name, config) in watched {
        let mut env = EnvTrain {
            name: name.clone(),
            deployed: snapshot.deployed.get(name).copied(),
            undeployed: 0,
            more: false,
            oldest: None,
            waited_ms: None,
            max_train: config.max_train,
            stale_after: config.stale_after,
            block: config.block,
            too_long: false,
            too_old: false,
        };
        if let Some(deployed) = env.deployed {
            let limit = walk_limit(config.max_train);
            let walked = ctx.repo().train(pushed, Some(deployed), limit)?;
            env.undeployed = walked.commits.len();
            env.more = !walked.complete;
            if let Some(&oldest) = walked.commits.last() {
                let info = ctx.repo().commit_info(oldest)?;
                env.waited_ms = Some(now.millis_since(info.at));
                env.oldest = Some(info);
            }
            env.too_long = config
                .max_train
                .is_some_and(|max| env.undeployed > max as usize);
            env.too_old = match (config.stale_after, env.waited_ms) {
                (Some(limit), Some(waited)) => waited > millis(limit),
                _ => false,
            };
        }
        out.environments.push(env);
    }
    Ok(out)
}

/// Pushing trunk to a fork or a mirror does not move the team's train.
fn is_team_remote(ctx: &Context, remote: &str, url: Option<&str>) -> bool {
    let team = ctx.config.remote_name();
    if remote == team {
        return true;
    }
    // `git push URL main` names no remote: compare with the team remote's URL.
    let team_url = ctx.repo().remote_url(team);
    match (team_url, url.or(Some(remote))) {
        (Some(team_url), Some(url)) => team_url == url,
        _ => false,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_git_writes() {
        let zero = "0000000000000000000000000000000000000000";
        let a = "1111111111111111111111111111111111111111";
        let text = format!(
            "refs/heads/main {a} refs/heads/main {zero}\n\
             (delete) {zero} refs/heads/old {a}\n\
             garbage\n\n"
        );
        let refs = parse_refs(&text);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].remote_ref, "refs/heads/main");
        assert!(!refs[0].is_deletion());
        assert!(refs[1].is_deletion());
    }
}
