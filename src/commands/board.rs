//! What `git train board` shows, as data: the overview (lanes and the trains
//! between them), a page of history, one deployment, the stats with their weekly
//! series. Everything comes from what `status`, `history` and `stats` return; the
//! board (`crate::board`) serves it and renders it as HTML.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::history::{self, Detail, Item};
use super::stats;
use super::status::{self, EnvStatus};
use crate::config::Config;
use crate::context::Context;
use crate::domain::{CiState, CommitInfo, State, Timestamp};
use crate::error::Result;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BoardArgs {
    /// The address to listen on (default 127.0.0.1:7878; port 0 takes a free one)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Open the page in the default browser
    #[arg(long)]
    pub open: bool,
    /// Serve every repository on the daemon's watch list, one section each
    #[arg(long)]
    pub all: bool,
}

/// Trunk commits `status` is asked for: every train on the overview is cut from
/// these, so the page stays bounded however long a train is.
pub const TRUNK_WINDOW: usize = 100;
/// Commits shown of one train; the rest are counted.
pub const TRAIN_SHOWN: usize = 25;
/// Deployments on one page of history.
pub const HISTORY_PAGE: usize = 50;
/// Commits shown of one deployment's train.
pub const DEPLOYMENT_TRAIN: usize = 200;
/// Newest deployments on the overview.
const RECENT: usize = 100;

pub struct Overview {
    pub trunk: String,
    pub tip: String,
    /// In pipeline order: an environment comes after the one it must follow.
    pub lanes: Vec<Lane>,
    /// The newest deployments, newest first (a few).
    pub recent: Vec<Item>,
    /// The repository's page on GitHub, for pull-request links.
    pub web: Option<String>,
    pub now: Timestamp,
}

pub struct Lane {
    pub status: EnvStatus,
    /// The subject of the commit it runs, when known.
    pub subject: Option<String>,
    /// The environment that must run a commit first (`after`).
    pub after: Option<String>,
    /// `stale_after`: commits waiting longer than this for the lane stand out.
    pub stale_after_ms: Option<i64>,
    /// The deployment under way.
    pub running: Option<Item>,
    /// The newest deployment, when it failed: the lane still runs what it ran.
    pub failed: Option<Item>,
    /// The train into this lane.
    pub waiting: Waiting,
    // A freeze window (another issue) joins `status.lock` here when it exists.
}

/// Where a lane's train comes from.
pub enum Source {
    Trunk(String),
    Env(String),
}

/// Why a train cannot be shown as a list of commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The lane was never deployed: all of trunk waits for it.
    NeverDeployed,
    /// The environment before it runs nothing yet.
    SourceEmpty,
    /// It runs a commit newer than the one before it has (a forced deploy, a
    /// rollback there).
    Ahead,
    /// It runs a commit that is not on trunk's first-parent line.
    OffTrunk,
}

pub struct Waiting {
    pub source: Source,
    /// Newest first, at most `TRAIN_SHOWN`.
    pub commits: Vec<Waiter>,
    /// How many commits wait, when known; `more`: at least that many.
    pub total: Option<usize>,
    pub more: bool,
    /// When the oldest waiting commit was made, when known.
    pub oldest_at: Option<Timestamp>,
    pub gap: Option<Gap>,
}

#[derive(Clone)]
pub struct Waiter {
    pub commit: CommitInfo,
    pub ci: CiState,
    /// Older than the lane's `stale_after`.
    pub stale: bool,
}

pub fn overview(ctx: &Context, web: Option<String>) -> Result<Overview> {
    let st = status::run(
        ctx,
        &status::Args {
            count: TRUNK_WINDOW,
            env: None,
            ..Default::default()
        },
    )?;
    let recent = history::run(
        ctx,
        &history::Args {
            env: None,
            count: RECENT,
            skip: 0,
            ..Default::default()
        },
    )?
    .deployments;
    let now = ctx.now();
    let position: HashMap<&str, usize> = st
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.commit.sha.as_str(), i))
        .collect();
    let names: Vec<String> = st.environments.iter().map(|e| e.name.clone()).collect();
    let by_name: BTreeMap<&str, &EnvStatus> = st
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e))
        .collect();
    let mut newest: HashMap<&str, &Item> = HashMap::new();
    for item in &recent {
        newest.entry(item.env.as_str()).or_insert(item);
    }

    let mut lanes = Vec::new();
    for name in pipeline(&ctx.config, &names) {
        let Some(env) = by_name.get(name.as_str()) else {
            continue;
        };
        let config = ctx.config.env.get(&name);
        let after = config
            .and_then(|c| c.after.clone())
            .filter(|a| by_name.contains_key(a.as_str()));
        let stale_after_ms = config
            .and_then(|c| c.stale_after)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let before = after.as_deref().and_then(|a| by_name.get(a).copied());
        let mut waiting = train(&st, &position, env, before, after.as_deref());
        for w in &mut waiting.commits {
            w.stale = stale_after_ms.is_some_and(|ms| now.millis_since(w.commit.at) > ms);
        }

        let last = match newest.get(name.as_str()) {
            Some(item) => Some((*item).clone()),
            None if ctx.config.env.is_empty() || config.is_some() => newest_of(ctx, &name)?,
            None => None,
        };
        let running = match &env.in_progress {
            Some(dep) if last.as_ref().is_some_and(|l| &l.dep == dep) => last.clone(),
            Some(dep) => history::one(ctx, dep, 0)?.map(|d| d.item),
            None => None,
        };
        let subject = env.deployed.as_ref().and_then(|d| {
            let on_trunk = position.get(d.sha.as_str()).map(|i| &st.commits[*i].commit);
            match on_trunk {
                Some(c) => Some(c.subject.clone()),
                None => recent
                    .iter()
                    .chain(last.iter())
                    .find(|i| i.dep == d.dep)
                    .map(|i| i.subject.clone()),
            }
        });
        let failed = last.filter(|l| matches!(l.state, State::Failure | State::Error));
        lanes.push(Lane {
            status: (*env).clone(),
            subject,
            after,
            stale_after_ms,
            running,
            failed,
            waiting,
        });
    }
    Ok(Overview {
        trunk: st.trunk,
        tip: st.tip,
        lanes,
        recent: recent.into_iter().take(8).collect(),
        web,
        now,
    })
}

fn newest_of(ctx: &Context, env: &str) -> Result<Option<Item>> {
    let h = history::run(
        ctx,
        &history::Args {
            env: Some(env.to_string()),
            count: 1,
            skip: 0,
            ..Default::default()
        },
    )?;
    Ok(h.deployments.into_iter().next())
}

/// The commits waiting for `env`: on trunk (or in `before`, the environment it
/// comes after) and not yet in it, cut from the newest `TRUNK_WINDOW` of trunk.
fn train(
    st: &status::Status,
    position: &HashMap<&str, usize>,
    env: &EnvStatus,
    before: Option<&EnvStatus>,
    after: Option<&str>,
) -> Waiting {
    let source = match after {
        Some(a) => Source::Env(a.to_string()),
        None => Source::Trunk(st.trunk.clone()),
    };
    let mut w = Waiting {
        source,
        commits: Vec::new(),
        total: None,
        more: false,
        oldest_at: None,
        gap: None,
    };
    // Where the train starts (its newest commit) and how far that is below the tip.
    let (start, start_behind) = match before {
        None => (Some(0), Some(0)),
        Some(b) => match &b.deployed {
            None => {
                w.gap = Some(Gap::SourceEmpty);
                return w;
            }
            Some(d) => (position.get(d.sha.as_str()).copied(), b.behind),
        },
    };
    let Some(deployed) = &env.deployed else {
        w.gap = Some(Gap::NeverDeployed);
        w.commits = take(st, start, None);
        return w;
    };
    let end = position.get(deployed.sha.as_str()).copied();
    if !deployed.on_trunk {
        w.gap = Some(Gap::OffTrunk);
    }
    match (env.behind, start_behind) {
        (Some(mine), Some(theirs)) if mine < theirs => {
            w.gap = Some(Gap::Ahead);
            w.total = Some(0);
            return w;
        }
        (Some(mine), Some(theirs)) => {
            w.total = Some(mine - theirs);
            w.more = env.behind_more || before.is_some_and(|b| b.behind_more);
        }
        _ => {}
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            w.gap = Some(Gap::Ahead);
            w.total = Some(0);
            return w;
        }
    }
    w.commits = take(st, start, end);
    w.oldest_at = match (before, end) {
        (None, _) => env.oldest_undeployed_at,
        (Some(_), Some(e)) if e > 0 => st.commits.get(e - 1).map(|c| c.commit.at),
        _ => None,
    };
    if w.total == Some(0) {
        w.oldest_at = None;
    }
    w
}

/// Trunk commits from `start` up to `end` (not included), at most `TRAIN_SHOWN`.
fn take(st: &status::Status, start: Option<usize>, end: Option<usize>) -> Vec<Waiter> {
    let Some(start) = start else {
        return Vec::new();
    };
    let end = end.unwrap_or(st.commits.len()).min(st.commits.len());
    st.commits
        .get(start..end.max(start))
        .unwrap_or_default()
        .iter()
        .take(TRAIN_SHOWN)
        .map(|c| Waiter {
            commit: c.commit.clone(),
            ci: c.ci,
            stale: false,
        })
        .collect()
}

/// Environments in pipeline order: each after the one it must follow (`after`),
/// chains kept together, otherwise by name.
pub fn pipeline(config: &Config, names: &[String]) -> Vec<String> {
    let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let after = |n: &str| {
        config
            .env
            .get(n)
            .and_then(|c| c.after.as_deref())
            .filter(|a| known.contains(a))
    };
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut roots = Vec::new();
    for n in &known {
        match after(n) {
            Some(a) => next.entry(a).or_default().push(n),
            None => roots.push(*n),
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = roots.into_iter().rev().collect();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        out.push(n.to_string());
        if let Some(children) = next.get(n) {
            stack.extend(children.iter().rev());
        }
    }
    // A cycle of `after` (a before b before a) has no root: by name, at the end.
    for n in known {
        if !seen.contains(n) {
            out.push(n.to_string());
        }
    }
    out
}

/// The pull request a squash-merged subject names at its end: `Fix it (#123)`.
pub fn pull_request(subject: &str) -> Option<u64> {
    let rest = subject.trim_end().strip_suffix(')')?;
    let (_, number) = rest.rsplit_once("(#")?;
    if number.is_empty() || number.len() > 9 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

pub struct HistoryPage {
    pub env: Option<String>,
    /// Environments to filter by.
    pub envs: Vec<String>,
    /// Zero-based.
    pub page: usize,
    pub items: Vec<Item>,
    /// Older deployments exist beyond this page.
    pub more: bool,
    /// The repository's page on GitHub, for pull-request links.
    pub web: Option<String>,
    pub now: Timestamp,
}

pub fn history_page(
    ctx: &Context,
    env: Option<String>,
    page: usize,
    web: Option<String>,
) -> Result<HistoryPage> {
    let skip = page.saturating_mul(HISTORY_PAGE);
    let mut items = history::run(
        ctx,
        &history::Args {
            env: env.clone(),
            count: HISTORY_PAGE + 1,
            skip,
            ..Default::default()
        },
    )?
    .deployments;
    let more = items.len() > HISTORY_PAGE;
    items.truncate(HISTORY_PAGE);
    let mut envs: BTreeSet<String> = ctx.config.env.keys().cloned().collect();
    envs.extend(items.iter().map(|i| i.env.clone()));
    envs.extend(env.clone());
    let names: Vec<String> = envs.into_iter().collect();
    Ok(HistoryPage {
        env,
        envs: pipeline(&ctx.config, &names),
        page,
        items,
        more,
        web,
        now: ctx.now(),
    })
}

pub struct DeploymentPage {
    pub detail: Detail,
    pub web: Option<String>,
    pub now: Timestamp,
}

pub fn deployment(ctx: &Context, dep: &str, web: Option<String>) -> Result<Option<DeploymentPage>> {
    Ok(
        history::one(ctx, dep, DEPLOYMENT_TRAIN)?.map(|detail| DeploymentPage {
            detail,
            web,
            now: ctx.now(),
        }),
    )
}

pub struct StatsPage {
    /// The whole window, as `git train stats` shows it.
    pub overall: stats::Stats,
    /// The same numbers for each week of the window, oldest first (the oldest may be
    /// partial), for the charts.
    pub weeks: Vec<stats::Stats>,
    pub envs: Vec<String>,
}

pub fn stats_page(ctx: &Context, env: Option<String>) -> Result<StatsPage> {
    // `stats` defaults to production; a team without one sees its last environment.
    let env = env.or_else(|| {
        let production = ctx.config.production_env();
        let names: Vec<String> = ctx.config.env.keys().cloned().collect();
        (!names.is_empty() && !names.contains(&production))
            .then(|| pipeline(&ctx.config, &names).pop())
            .flatten()
    });
    let (overall, weeks) = stats::run_weekly(
        ctx,
        &stats::Args {
            env,
            since: None,
            until: None,
            ..Default::default()
        },
    )?;
    let mut envs: BTreeSet<String> = ctx.config.env.keys().cloned().collect();
    envs.insert(overall.env.clone());
    let names: Vec<String> = envs.into_iter().collect();
    Ok(StatsPage {
        overall,
        weeks,
        envs: pipeline(&ctx.config, &names),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_requests_from_squash_subjects() {
        assert_eq!(pull_request("Fix typo in README (#130)"), Some(130));
        assert_eq!(pull_request("Fix (#12) and more"), None);
        assert_eq!(pull_request("Nothing"), None);
        assert_eq!(pull_request("Odd (#)"), None);
        assert_eq!(pull_request("Odd (#1x)"), None);
        assert_eq!(pull_request("Huge (#99999999999999999999)"), None);
    }

    #[test]
    fn pipeline_follows_after_then_names() {
        let config = Config::parse(
            std::path::Path::new(".train.toml"),
            br#"
[env.production]
after = "staging"
[env.staging]
after = "dev"
[env.dev]
[env.eu]
after = "staging"
[env.docs]
"#,
        )
        .unwrap();
        let names: Vec<String> = ["production", "staging", "dev", "eu", "docs", "lab"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            pipeline(&config, &names),
            ["dev", "staging", "eu", "production", "docs", "lab"]
        );
    }
}
