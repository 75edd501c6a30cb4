//! Events made from what the ledger recorded, so that the daemon (which finds a
//! deployment's new state in the ledger) and the commands (which have just written
//! it) tell the same thing the same way.

use crate::domain::CommitId;

use super::{CiFinished, Commit, DeploymentChanged, Links, Repository, Train, TRAIN_LISTED};
use crate::context::Context;
use crate::domain::{CiState, CiSummary, CommitInfo, Deployment, EnvName, Timestamp};
use crate::error::Result;
use crate::forge::Forge;

/// How far a train is counted.
const TRAIN_COUNTED: usize = 1_000;

/// The repository of a command's context: its work tree.
pub fn repository(ctx: &Context) -> Repository {
    let dir = ctx.repo().workdir();
    Repository {
        web: crate::forge::github_web(ctx),
        ..Repository::at(&std::fs::canonicalize(&dir).unwrap_or(dir))
    }
}

/// A commit by its id; one this clone does not have yet is named so.
pub fn commit(ctx: &Context, commit: CommitId) -> CommitInfo {
    ctx.repo()
        .commit_info(commit)
        .unwrap_or_else(|_| CommitInfo {
            sha: commit.to_string(),
            subject: "(not in this clone yet)".into(),
            author: String::new(),
            author_email: String::new(),
            at: Timestamp::default(),
        })
}

/// A deployment of `commit` as the ledger has it now: its newest state.
pub fn deployment(
    ctx: &Context,
    repository: &Repository,
    commit: CommitId,
    d: &Deployment,
) -> DeploymentChanged {
    let state = d.state();
    let environment_url = EnvName::new(&d.env)
        .ok()
        .and_then(|env| ctx.config.env(&env).url);
    DeploymentChanged {
        repository: repository.clone(),
        environment: d.env.clone(),
        deployment: d.dep.clone(),
        state,
        at: d.events.last().map(|e| e.at).unwrap_or(d.started_at()),
        commit: Commit::from(&self::commit(ctx, commit)),
        by: d.by().to_string(),
        train: train(ctx, commit, d),
        from: d.from().map(str::to_string),
        description: d.desc().map(str::to_string),
        links: Links {
            log: d.log().map(str::to_string),
            environment: d.url().map(str::to_string).or(environment_url),
        },
        rollback: d.rollback(),
        forced: d.forced().map(str::to_string),
        duration_ms: state
            .is_final()
            .then(|| d.finished_at())
            .flatten()
            .map(|end| end.millis_since(d.started_at())),
    }
}

/// Deployment `dep` of `commit` (to any environment), None when the ledger has no
/// such deployment.
pub fn deployment_by_id(
    ctx: &Context,
    commit: CommitId,
    dep: &str,
) -> Result<Option<DeploymentChanged>> {
    Ok(ctx
        .ledger
        .deployment(commit, dep)?
        .map(|d| deployment(ctx, &repository(ctx), commit, &d)))
}

/// The CI state of `commit` as the CI ledger has it.
pub fn ci(ctx: &Context, commit: CommitId) -> Result<CiSummary> {
    crate::forge::local::Local.ci(ctx, commit)
}

/// CI finished on `commit`: None unless the CI ledger now says passed or failed,
/// and said otherwise `before`.
pub fn ci_finished(ctx: &Context, commit: CommitId, before: CiState) -> Result<Option<CiFinished>> {
    let now = self::ci(ctx, commit)?;
    if !matches!(now.state, CiState::Success | CiState::Failure) || now.state == before {
        return Ok(None);
    }
    let trunk = ctx
        .repo()
        .trunk(&ctx.config)
        .ok()
        .filter(|t| ctx.repo().contains(t.tip, commit).unwrap_or(false))
        .map(|t| t.name);
    Ok(Some(CiFinished {
        repository: repository(ctx),
        commit: Commit::from(&self::commit(ctx, commit)),
        state: now.state,
        trunk,
        failing: now.blocking().map(|c| c.name.clone()).collect(),
    }))
}

/// What the deployment brings: the commits between what the environment ran before
/// and `commit` (a rollback: those it takes away; a first deployment: the commit).
fn train(ctx: &Context, commit: CommitId, d: &Deployment) -> Train {
    let from = d.from().and_then(CommitId::parse);
    let walked = match from {
        None => ctx.repo().train(commit, None, 1),
        Some(from) if d.rollback() => ctx.repo().train(from, Some(commit), TRAIN_COUNTED),
        Some(from) => ctx.repo().train(commit, Some(from), TRAIN_COUNTED),
    };
    let Ok(walked) = walked else {
        // What it ran before is not in this clone: the train is unknown.
        return Train::default();
    };
    Train {
        commits: walked
            .commits
            .iter()
            .take(TRAIN_LISTED)
            .filter_map(|oid| ctx.repo().commit_info(*oid).ok())
            .map(|c| Commit::from(&c))
            .collect(),
        total: walked.commits.len(),
        complete: walked.complete,
    }
}
