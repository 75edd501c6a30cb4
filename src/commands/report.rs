//! `git train report STATE`: record a CI status on a commit (`--commit`), or a new
//! state of a deployment (`--deployment`), for CI jobs and deploy workflows. What it
//! records is told to the notify hub: a deployment's new state, CI finishing.

use serde::Serialize;

use crate::context::Context;
use crate::domain::CommitId;
use crate::domain::{EnvName, Event, EventView, Fields, State};
use crate::error::{Error, Result};
use crate::forge::{Forge, StatusReport};
use crate::notify::{self, recorded};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// pending, success, failure, error (CI); also queued, in_progress, inactive (deployments)
    pub state: String,
    /// The commit the CI status is for
    #[arg(long, value_name = "REV", conflicts_with = "deployment")]
    pub commit: Option<String>,
    /// The deployment the state is for (its id, as `history` shows)
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,
    /// The CI status context (one per CI job)
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub context: String,
    /// Link to the CI run (commit statuses) or the environment (deployments)
    #[arg(long, alias = "environment-url", value_name = "URL")]
    pub url: Option<String>,
    /// Link to the deploy log
    #[arg(long, value_name = "URL")]
    pub log_url: Option<String>,
    /// A short description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct Reported {
    pub version: u32,
    pub kind: &'static str,
    pub sha: String,
    /// The status context, or the deployment's environment.
    pub name: String,
    pub state: State,
    pub dep: Option<String>,
    /// Posted to the forge (GitHub), which accepted it.
    pub posted: bool,
    /// Written to this clone's ledger (false: the commit is not in this clone).
    pub recorded: bool,
    /// The description as sent and recorded.
    pub description: Option<String>,
    /// The description was cut to GitHub's 140 characters.
    pub truncated: bool,
}

const CI_STATES: [State; 4] = [State::Pending, State::Success, State::Failure, State::Error];

pub fn run(ctx: &Context, forge: &dyn Forge, args: &Args) -> Result<Reported> {
    let state = State::parse(&args.state).ok_or_else(|| {
        let all: Vec<&str> = State::ALL.iter().map(|s| s.as_str()).collect();
        Error::usage(format!("unknown state '{}'", args.state))
            .hint(format!("use one of: {}", all.join(", ")))
    })?;
    // Inside a GitHub Actions deploy workflow the deployment is the one that started it.
    let from_event = match (&args.commit, &args.deployment) {
        (None, None) => deployment_from_actions_event(),
        _ => None,
    };
    let deployment = args.deployment.clone().or(from_event);
    if let (None, Some(target)) = (&args.commit, &deployment) {
        let report = StatusReport {
            log_url: args.log_url.clone(),
            environment_url: args.url.clone(),
            description: args.description.clone(),
        };
        if let Some(posted) = forge.report(ctx, target, state, &report)? {
            let event = &posted.event;
            if let (Some(commit), Some(dep), true) =
                (CommitId::parse(&posted.sha), event.dep(), posted.recorded)
            {
                tell_deployment(ctx, commit, dep);
            }
            return Ok(Reported {
                version: super::JSON_VERSION,
                kind: "deployment_status",
                name: event.subject.clone(),
                state,
                dep: event.dep().map(str::to_string),
                posted: true,
                recorded: posted.recorded,
                description: event.desc().map(str::to_string),
                truncated: posted.truncated,
                sha: posted.sha,
            });
        }
    }
    match (&args.commit, &deployment) {
        (Some(rev), None) => report_ci(ctx, args, state, rev),
        (None, Some(dep)) => report_deployment(ctx, args, state, dep),
        _ => Err(Error::usage(
            "say what the state is for: --commit REV (a CI status) or --deployment ID",
        )
        .hint("e.g. `git train report success --commit HEAD --context build`")),
    }
}

fn report_ci(ctx: &Context, args: &Args, state: State, rev: &str) -> Result<Reported> {
    if !CI_STATES.contains(&state) {
        return Err(Error::usage(format!("'{state}' is not a commit status"))
            .hint("a CI status is pending, success, failure or error"));
    }
    let context = args.context.trim();
    if context.is_empty() || context.len() > 200 || context.chars().any(char::is_control) {
        return Err(Error::usage(
            "--context must be a short name without control characters",
        ));
    }
    let commit = ctx.repo().resolve(rev)?;
    // Only a change is told: what CI said before is read when someone listens.
    let before = if ctx.notify.is_empty() {
        None
    } else {
        recorded::ci(ctx, commit).ok().map(|ci| ci.state)
    };
    let event = Event {
        at: ctx.now(),
        subject: context.to_string(),
        state,
        by: ctx.me().to_string(),
        fields: Fields {
            desc: args.description.clone(),
            url: args.url.clone().or_else(|| args.log_url.clone()),
            ..Fields::default()
        }
        .into_map(),
    };
    ctx.ledger.record_ci(
        commit,
        &[event],
        &format!("git-train: {context} {state} {commit}"),
    )?;
    if let Some(before) = before {
        ctx.tell(|| Ok(recorded::ci_finished(ctx, commit, before)?.map(notify::Event::Ci)));
    }
    Ok(Reported {
        version: super::JSON_VERSION,
        kind: "commit_status",
        sha: commit.to_string(),
        name: context.to_string(),
        state,
        dep: None,
        posted: false,
        recorded: true,
        description: args.description.clone(),
        truncated: false,
    })
}

fn report_deployment(ctx: &Context, args: &Args, state: State, dep: &str) -> Result<Reported> {
    if !crate::domain::event::valid_id(dep) {
        return Err(
            Error::usage(format!("'{}' is not a deployment id", dep.escape_debug()))
                .hint("`git train history --json` lists deployments and their ids"),
        );
    }
    let entry = match ctx.ledger.deployment_by_id(dep)? {
        Some(entry) => entry,
        None => {
            // A prefix, as `history` shows them: it must name one deployment.
            let found = ctx.ledger.deployments_with_prefix(dep)?;
            match found.as_slice() {
                [one] => ctx.ledger.deployment_by_id(one)?.ok_or_else(|| {
                    Error::internal(format!("deployment {one} vanished from the index"))
                })?,
                [] => {
                    return Err(Error::usage(format!("no deployment '{dep}' in the ledger"))
                        .hint("`git train history` lists deployments and their ids"))
                }
                many => {
                    return Err(Error::usage(format!(
                        "'{dep}' is the start of {} deployment ids: {}",
                        many.len(),
                        many.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .hint("give more characters of the id"))
                }
            }
        }
    };
    let dep = entry.dep.clone();
    let dep = dep.as_str();
    let env = EnvName::new(&entry.env).map_err(Error::usage)?;
    let event = Event {
        at: ctx.now(),
        subject: env.to_string(),
        state,
        by: ctx.me().to_string(),
        fields: Fields {
            dep: Some(dep.to_string()),
            desc: args.description.clone(),
            log: args.log_url.clone(),
            url: args.url.clone(),
            ..Fields::default()
        }
        .into_map(),
    };
    ctx.ledger.record(
        entry.commit,
        &[event],
        &format!("git-train: {env} {state} {}", entry.commit),
    )?;
    tell_deployment(ctx, entry.commit, dep);
    Ok(Reported {
        version: super::JSON_VERSION,
        kind: "deployment_status",
        sha: entry.commit.to_string(),
        name: env.to_string(),
        state,
        dep: Some(dep.to_string()),
        posted: false,
        recorded: true,
        description: args.description.clone(),
        truncated: false,
    })
}

fn tell_deployment(ctx: &Context, commit: CommitId, dep: &str) {
    ctx.tell(|| Ok(recorded::deployment_by_id(ctx, commit, dep)?.map(notify::Event::Deployment)));
}

/// The id of the deployment in `GITHUB_EVENT_PATH`, when a `deployment` event
/// started the workflow.
fn deployment_from_actions_event() -> Option<String> {
    if std::env::var("GITHUB_EVENT_NAME").ok().as_deref() != Some("deployment") {
        return None;
    }
    let path = std::env::var_os("GITHUB_EVENT_PATH")?;
    let event: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    event
        .get("deployment")?
        .get("id")?
        .as_u64()
        .map(|id| id.to_string())
}
