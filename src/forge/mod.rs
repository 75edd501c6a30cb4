//! Forges: where deployments are created and CI states come from. The commands
//! talk to the trait only (DESIGN.md section 4).

pub mod github;
pub mod local;

use std::collections::BTreeMap;

use crate::context::Context;
use crate::domain::{CiState, CiSummary, CommitId, CommitInfo, EnvName, State, Timestamp};
use crate::error::Result;

/// A deployment about to be made: everything decided, nothing recorded yet.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The deployment's id, made when it is planned: its deploy lease names it.
    pub dep: String,
    pub env: EnvName,
    pub commit: CommitId,
    /// What the environment ran before.
    pub from: Option<CommitId>,
    pub rollback: bool,
    /// Why CI or a lock was overridden.
    pub forced: Option<String>,
    pub desc: Option<String>,
    /// The commits this deployment brings (or, for a rollback, takes away).
    pub train: Vec<CommitInfo>,
    /// Do not sync with the remote (the background run of --no-wait inherits it).
    pub offline: bool,
}

pub trait Forge {
    fn name(&self) -> &'static str;

    /// The CI state of a commit.
    fn ci(&self, ctx: &Context, commit: CommitId) -> Result<CiSummary>;

    /// Creates the deployment and records it as `queued`; returns its id.
    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String>;

    /// Carries a created deployment to a final state, recording every state it
    /// passes through. With `wait` false it only sets it going and returns.
    fn complete(&self, ctx: &Context, plan: &Plan, dep: &str, wait: bool) -> Result<State>;

    /// Whether the forge carries deployments out itself (the local forge runs the
    /// environment's command), so that the deploying process records every state
    /// first-hand; elsewhere the deploy workflow reports them (`report`).
    fn runs_deployments(&self) -> bool {
        false
    }

    /// Brings deployments and statuses made elsewhere into the ledger (sync).
    fn import(&self, _ctx: &Context) -> Result<Option<Imported>> {
        Ok(None)
    }

    /// The daemon's poll of deployments: like `import`, but with conditional GETs
    /// only (never a POST, so never an export), so that a round where nothing
    /// changed is free. None: the forge keeps no deployments of its own.
    fn poll(&self, _ctx: &Context) -> Result<Option<Imported>> {
        Ok(None)
    }

    /// The daemon's poll of CI: the newest `count` trunk commits' CI read into the
    /// cache, a finished one asked again only when its answer is old. None: the
    /// forge keeps CI in the ledger itself (its `ci` is cheap).
    fn poll_ci(&self, _ctx: &Context, _count: usize) -> Result<Option<PolledCi>> {
        Ok(None)
    }

    /// What a quiet daemon round asks this forge, without the repository, to know
    /// that nothing changed there since this process's last poll; None: that cannot
    /// be known without a full poll.
    fn probe(&self) -> Option<Probe> {
        Some(Probe::Nothing)
    }

    /// Posts a new state of a deployment (`report --deployment`); None: the forge
    /// keeps no record of its own, the ledger is the record.
    fn report(
        &self,
        _ctx: &Context,
        _target: &str,
        _state: State,
        _report: &StatusReport,
    ) -> Result<Option<github::Posted>> {
        Ok(None)
    }

    /// Reads the CI of the newest `count` trunk commits into the local cache `status`
    /// shows (`status --refresh`); None: the forge keeps CI in the ledger itself.
    fn refresh_ci(&self, _ctx: &Context, _count: usize) -> Result<Option<usize>> {
        Ok(None)
    }

    /// What `-v` prints after the command: requests made, budget left.
    fn verbose(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What the daemon's CI poll read.
pub struct PolledCi {
    /// Each commit's CI state as the cache now holds it.
    pub states: BTreeMap<CommitId, CiState>,
    /// When a commit is next due to be asked without a new one (now: some CI is
    /// still running or unknown).
    pub due: Timestamp,
}

/// How a quiet daemon round asks a forge whether anything changed (`Forge::probe`).
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// A forge with nothing of its own to ask (local: its deployments and CI are in
    /// the repository's refs, which the daemon watches).
    Nothing,
    GitHub(github::Probe),
}

impl Probe {
    /// Whether the forge has nothing new.
    pub fn unchanged(&self) -> Result<bool> {
        match self {
            Probe::Nothing => Ok(true),
            Probe::GitHub(p) => p.unchanged(),
        }
    }
}

/// What a sync brought in from the forge.
#[derive(Default, Debug, serde::Serialize)]
pub struct Imported {
    pub deployments: usize,
    /// Deployments under way whose statuses were asked for again.
    pub refreshed: usize,
    /// Deployments of the ledger shown on the forge (`[github] export`).
    pub exported: usize,
    /// Trunk commits whose CI was read into the cache `status` shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<usize>,
}

/// The links and text of a deployment status.
pub struct StatusReport {
    pub log_url: Option<String>,
    pub environment_url: Option<String>,
    pub description: Option<String>,
}

/// The forge, or one that reports why there is none each time it is used: commands
/// that never need a forge (status, history, locks) work whatever its configuration.
pub fn open_or_unavailable(ctx: &Context) -> Box<dyn Forge> {
    match open(ctx) {
        Ok(forge) => forge,
        Err(error) => Box::new(Unavailable(error)),
    }
}

struct Unavailable(crate::error::Error);

impl Forge for Unavailable {
    fn name(&self) -> &'static str {
        "unavailable"
    }
    fn ci(&self, _ctx: &Context, _commit: CommitId) -> Result<CiSummary> {
        Err(self.0.clone())
    }
    fn create(&self, _ctx: &Context, _plan: &Plan) -> Result<String> {
        Err(self.0.clone())
    }
    fn complete(&self, _ctx: &Context, _plan: &Plan, _dep: &str, _wait: bool) -> Result<State> {
        Err(self.0.clone())
    }
    fn import(&self, _ctx: &Context) -> Result<Option<Imported>> {
        Err(self.0.clone())
    }
    fn refresh_ci(&self, _ctx: &Context, _count: usize) -> Result<Option<usize>> {
        Err(self.0.clone())
    }
    fn report(
        &self,
        _ctx: &Context,
        _target: &str,
        _state: State,
        _report: &StatusReport,
    ) -> Result<Option<github::Posted>> {
        Err(self.0.clone())
    }
}

/// The GitHub repository (`owner/name`) and API this clone's configuration, remote
/// or GitHub Actions name, whichever forge deploys.
struct GithubTarget {
    repo: Option<String>,
    api: Option<github::auth::ApiUrl>,
}

fn github_target(ctx: &Context) -> Result<GithubTarget> {
    let remote_url = ctx.repo().remote_url(ctx.config.remote_name());
    // Inside GitHub Actions the workflow's own repository and API are the defaults.
    let actions = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let api = match ctx
        .config
        .github
        .api
        .clone()
        .or_else(|| actions("GITHUB_API_URL"))
    {
        Some(text) => Some(github::auth::ApiUrl::parse(&text)?),
        None => None,
    };
    let detected = github::auth::repo_from_url(remote_url.as_deref(), api.as_ref())
        .or_else(|| actions("GITHUB_REPOSITORY"));
    Ok(GithubTarget {
        repo: ctx.config.github.repo.clone().or(detected),
        api,
    })
}

/// The repository's web page on GitHub (`https://github.com/owner/name`), when it
/// is there, whichever forge deploys: the board and the team channels link its
/// commits and pull requests.
pub fn github_web(ctx: &Context) -> Option<String> {
    let target = github_target(ctx).ok()?;
    let repo = target.repo.filter(|r| github::auth::valid_repo(r))?;
    let api = target.api.unwrap_or_else(github::auth::ApiUrl::github);
    Some(format!("{}/{repo}", api.web()))
}

/// The forge the configuration asks for: `forge` in .train.toml, else `github` when
/// the remote is on github.com or the configured API's host, else `local`.
pub fn open(ctx: &Context) -> Result<Box<dyn Forge>> {
    use crate::config::ForgeKind;
    let target = github_target(ctx)?;
    let kind = match ctx.config.forge {
        Some(kind) => kind,
        None if target.repo.is_some() => ForgeKind::Github,
        None => ForgeKind::Local,
    };
    match kind {
        ForgeKind::Local => Ok(Box::new(local::Local)),
        ForgeKind::Github => {
            let repo = target.repo.ok_or_else(|| {
                crate::error::Error::usage("cannot tell which GitHub repository this is")
                    .hint("set `[github] repo = \"owner/name\"` in .train.toml")
            })?;
            if !github::auth::valid_repo(&repo) {
                return Err(crate::error::Error::usage(format!(
                    "'{repo}' is not a GitHub repository name"
                ))
                .hint("write it as `[github] repo = \"owner/name\"`"));
            }
            let api = target.api.unwrap_or_else(github::auth::ApiUrl::github);
            Ok(Box::new(github::GitHub::new(ctx, repo, api)))
        }
    }
}
