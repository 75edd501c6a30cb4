//! `git train history [ENV]`: deployments, newest first.

use serde::Serialize;

use crate::context::Context;
use crate::domain::{CommitId, Deployment, State, Timestamp};
use crate::error::Result;

pub struct Args {
    pub env: Option<String>,
    pub count: usize,
}

#[derive(Serialize)]
pub struct History {
    pub version: u32,
    pub deployments: Vec<Item>,
}

#[derive(Serialize)]
pub struct Item {
    pub dep: String,
    pub env: String,
    pub sha: String,
    pub subject: String,
    pub state: State,
    pub by: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Seconds from start to the first final state.
    pub duration_s: Option<i64>,
    pub rollback: bool,
    pub forced: Option<String>,
    pub from: Option<String>,
    pub desc: Option<String>,
    pub log: Option<String>,
    pub url: Option<String>,
    pub gh: Option<GhRef>,
}

#[derive(Serialize)]
pub struct GhRef {
    pub repo: String,
    pub id: u64,
}

pub fn run(ctx: &Context, args: &Args) -> Result<History> {
    ctx.open_deployments()?;
    let env = args.env.as_deref().map(|e| ctx.env(e)).transpose()?;
    let (chosen, bad) = ctx
        .ledger
        .recent(env.as_ref().map(|e| e.as_str()), args.count)?;
    ctx.warn_bad_lines(&bad);
    let mut notes = ctx.ledger.deployments()?;
    let mut deployments = Vec::with_capacity(chosen.len());
    for entry in &chosen {
        let found = notes.find(entry.commit, &entry.dep, Some(&entry.env))?;
        let item = found.map(|d| item_of(ctx, entry.commit, d));
        ctx.warn_bad_lines(&notes.take_skipped());
        deployments.extend(item);
    }
    Ok(History {
        version: super::JSON_VERSION,
        deployments,
    })
}

fn item_of(ctx: &Context, commit: CommitId, d: &Deployment) -> Item {
    let subject = ctx.repo().subject(commit).unwrap_or_default();
    let local_log = ctx.ledger.log_path(&d.dep);
    Item {
        dep: d.dep.clone(),
        env: d.env.clone(),
        sha: d.commit.clone(),
        subject,
        state: d.state(),
        by: d.by().to_string(),
        started_at: d.started_at(),
        finished_at: d.finished_at(),
        duration_s: d
            .finished_at()
            .map(|f| f.millis_since(d.started_at()) / 1000),
        rollback: d.rollback(),
        forced: d.forced().map(str::to_string),
        from: d.from().map(str::to_string),
        desc: d.desc().map(str::to_string),
        log: d
            .log()
            .map(str::to_string)
            .or_else(|| local_log.exists().then(|| local_log.display().to_string())),
        url: d.url().map(str::to_string),
        gh: d.gh().map(|(repo, id)| GhRef {
            repo: repo.to_string(),
            id,
        }),
    }
}
