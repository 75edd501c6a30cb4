//! One round of the daemon for one repository, synchronous (it runs in
//! `spawn_blocking`: the repository handle is not `Sync`): ask the forge for news with
//! conditional requests only, write new deployment events into the ledger, refresh
//! the CI state of the user's trunk commits, and find what to announce by comparing
//! with what was announced before. Nothing here runs a command from the repository's
//! configuration, and nothing here shows anything: it returns the news, as
//! structured events for the notify hub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::announced::RepoAnnounced;
use super::config::{MineOnly, UserConfig};
use crate::context::{Context, Ui};
use crate::domain::{CiState, CommitId, Deployment, State, Timestamp};
use crate::error::Result;
use crate::ledger;
use crate::notify::{self, recorded, Event, Summarized};

/// Recent deployments compared with what was announced.
const RECENT_DEPLOYMENTS: usize = 50;
/// A deployment whose newest event is older than this is old news (the daemon was off).
const OLD_NEWS_MS: i64 = 24 * 3_600_000;
/// Trunk commits (first-parent, newest first) whose CI is followed.
const CI_WINDOW: usize = 20;
/// Of those, how many are asked about in one round.
const CI_ASKED: usize = 10;
/// How far back stale commits are looked for.
const STALE_WALK: usize = 1_000;
/// Announced stale commits are remembered this long.
const STALE_MEMORY_MS: i64 = 90 * 86_400_000;
/// More news than this of one kind in one round becomes one summary.
const MAX_EACH: usize = 3;
/// How far back a successful deployment's train is read for the user's commits.
const SHIP_WALK: usize = 1_000;
/// On a repository's first round, more stale commits than this become one summary.
const FIRST_STALE: usize = 1;

/// What the user asked to hear about (the per-user config).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub mine_only: MineOnly,
    /// Popups for deployments followed in a terminal on this machine too.
    pub own_deployments: bool,
    /// None: every environment.
    pub environments: Option<Vec<String>>,
}

impl Settings {
    pub fn of(config: &UserConfig) -> Settings {
        Settings {
            mine_only: config.daemon.mine_only,
            own_deployments: config.daemon.own_deployments,
            environments: config.daemon.environments.clone(),
        }
    }

    fn follows(&self, env: &str) -> bool {
        super::config::follows(self.environments.as_deref(), env)
    }
}

// What a wake compares (every ref's value, and HEAD's) is read by the ledger.
pub use crate::ledger::repo::{git_dir, read_refs, Refs};

/// The refs git-train writes itself: a change to them alone is not the user's.
fn own_ref(name: &str) -> bool {
    name == ledger::DEPLOYS || name.starts_with("refs/train/")
}

pub struct Outcome {
    pub news: Vec<Event>,
    pub announced: RepoAnnounced,
    /// The refs after the round, the daemon's own writes included (None: a quiet
    /// round, which did not read them: they are what the last full round left).
    pub refs: Option<Refs>,
    /// Someone else moved a ref while the round ran: it may have missed it.
    pub moved_meanwhile: bool,
    /// What went wrong without stopping the round (the forge could not be reached).
    pub problems: Vec<crate::error::Error>,
    /// How long the next rounds may be quiet (None: the next one looks at everything).
    pub quiet: Option<Quiet>,
}

/// What lets a round be quiet: while the refs stay where they are (the daemon's ref
/// watch says so), the repository's configuration and CI cache are the files they
/// were, and the forge has nothing new (`forge::Probe`), a round before `until`
/// would find nothing new (no stale commit crosses its threshold, no finished CI is
/// due to be asked again, no deployment is under way): it asks the probe and stops
/// there, without opening the repository.
#[derive(Clone, Debug, PartialEq)]
pub struct Quiet {
    until: Timestamp,
    inputs: Inputs,
    probe: crate::forge::Probe,
}

/// A quiet round is still a full one this often, whatever its reasons.
const FULL_EVERY_MS: i64 = 10 * 60_000;

/// The files besides refs that a round reads (`.train.toml`, the CI cache), with
/// their inode, size and modification time.
#[derive(Clone, Debug, PartialEq)]
struct Inputs(Vec<(PathBuf, Option<Stamp>)>);

/// A file's inode, size and modification time.
type Stamp = (u64, u64, std::time::SystemTime);

impl Inputs {
    fn of(ctx: &Context) -> Inputs {
        let mut files = vec![ctx.repo().train_dir().join("github").join("ci.json")];
        files.extend(
            ctx.repo()
                .work_tree()
                .map(|d| d.join(crate::config::FILE_NAME)),
        );
        Inputs(files.into_iter().map(|f| (f.clone(), stamp(&f))).collect())
    }

    fn unchanged(&self) -> bool {
        self.0.iter().all(|(f, was)| stamp(f) == *was)
    }
}

fn stamp(file: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(file).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()?))
}

fn same_person(a: &str, b: &str) -> bool {
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// One round. `name` is how notifications name the repository; `before` is what was announced for this repository; None on its
/// first round, whose findings are the starting point and not news (stale commits
/// excepted: they are a state, not an event, and still worth knowing; more than one
/// is told as one summary for the repository, never as a flood). `quiet` is what
/// the last round said of the next ones, given only when the refs have not moved
/// since it.
pub fn round(
    path: &Path,
    name: &str,
    before: Option<&RepoAnnounced>,
    settings: &Settings,
    quiet: Option<&Quiet>,
    ui: Box<dyn Ui>,
) -> Result<Outcome> {
    if let (Some(q), Some(before)) = (quiet, before) {
        if crate::clock::Clock::from_env()?.now() < q.until && q.inputs.unchanged() {
            match q.probe.unchanged() {
                Ok(true) => return Ok(Outcome::quiet(before, q)),
                // Something new: a full round.
                Ok(false) => {}
                Err(e) => {
                    return Ok(Outcome {
                        problems: vec![e],
                        ..Outcome::quiet(before, q)
                    })
                }
            }
        }
    }
    // Posts to no team channel: the process that recorded an event posted it.
    let ctx = Context::open_without_channels(path, ui)?;
    let now = ctx.now();
    let forge = crate::forge::open(&ctx);
    let mut problems = Vec::new();
    let start = ctx.repo().refs()?;
    let first = before.is_none();
    let mut announced = before.cloned().unwrap_or_default();
    let mut news = Vec::new();
    let repo = notify::Repository {
        name: name.to_string(),
        ..notify::Repository::at(path)
    };
    // Until when nothing but a ref, a file or the forge can bring news.
    let mut until = Timestamp(now.0.saturating_add(FULL_EVERY_MS));
    match &forge {
        Ok(forge) => {
            match forge.poll(&ctx) {
                // Deployments under way are asked about every round.
                Ok(Some(imported)) if imported.refreshed > 0 => until = now,
                Ok(_) => {}
                Err(e) => {
                    until = now;
                    problems.push(e);
                }
            }
            let polled = match forge.poll_ci(&ctx, CI_WINDOW) {
                Ok(polled) => polled,
                Err(e) => {
                    until = now;
                    problems.push(e);
                    None
                }
            };
            if let Some(p) = &polled {
                until = until.min(p.due);
            }
            deployments(&ctx, &repo, first, &mut announced, settings, now, &mut news)?;
            if let Err(e) = ci(
                &ctx,
                CiSource {
                    forge: forge.as_ref(),
                    polled: polled.as_ref().map(|p| &p.states),
                },
                &repo,
                first,
                &mut announced,
                settings,
                &mut news,
            ) {
                until = now;
                problems.push(e);
            }
        }
        Err(e) => {
            until = now;
            problems.push(e.clone());
            deployments(&ctx, &repo, first, &mut announced, settings, now, &mut news)?;
        }
    }
    let stale_due = stale(&ctx, &repo, first, &mut announced, settings, now, &mut news)?;
    until = until.min(stale_due);

    let refs = ctx.repo().refs()?;
    let moved_meanwhile = start
        .iter()
        .chain(refs.iter())
        .any(|(name, _)| !own_ref(name) && start.get(name) != refs.get(name));
    Ok(Outcome {
        news,
        announced,
        refs: Some(refs),
        moved_meanwhile,
        problems,
        quiet: forge
            .ok()
            .and_then(|f| f.probe())
            .filter(|_| until > now)
            .map(|probe| Quiet {
                until,
                inputs: Inputs::of(&ctx),
                probe,
            }),
    })
}

impl Outcome {
    /// A quiet round: nothing new, nothing read but the forge's deployments.
    fn quiet(before: &RepoAnnounced, quiet: &Quiet) -> Outcome {
        Outcome {
            news: Vec::new(),
            announced: before.clone(),
            refs: None,
            moved_meanwhile: false,
            problems: Vec::new(),
            quiet: Some(quiet.clone()),
        }
    }
}

/// Up to `MAX_EACH` news as they are; more become one summary of them all.
fn capped(
    list: Vec<Event>,
    repo: &notify::Repository,
    of: Summarized,
    environment: Option<&str>,
) -> Vec<Event> {
    grouped(list, MAX_EACH, repo, of, environment)
}

fn grouped(
    list: Vec<Event>,
    most: usize,
    repo: &notify::Repository,
    of: Summarized,
    environment: Option<&str>,
) -> Vec<Event> {
    if list.len() <= most {
        return list;
    }
    vec![Event::Summary(notify::Summary {
        repository: repo.clone(),
        count: list.len(),
        of,
        environment: environment.map(str::to_string),
    })]
}

/// Deployments whose state differs from the one last seen.
fn deployments(
    ctx: &Context,
    repo: &notify::Repository,
    first: bool,
    announced: &mut RepoAnnounced,
    settings: &Settings,
    now: Timestamp,
    news: &mut Vec<Event>,
) -> Result<()> {
    let (entries, _) = ctx.ledger.recent(None, RECENT_DEPLOYMENTS)?;
    let mut seen = BTreeMap::new();
    let mut changed = Vec::new();
    for e in &entries {
        let key = format!("{} {}", e.dep, e.env);
        let state = e.state.as_str().to_string();
        let news_worthy = !first
            && announced.deployments.get(&key) != Some(&state)
            // GitHub marks replaced deployments inactive: bookkeeping, not news.
            && e.state != State::Inactive
            && settings.follows(&e.env);
        if news_worthy {
            changed.push(e);
        }
        seen.insert(key, state);
    }
    announced.deployments = seen;
    if changed.is_empty() {
        return Ok(());
    }
    let mut notes = ctx.ledger.deployments()?;
    let mut found = Vec::new();
    let mut ships = Vec::new();
    let followed = if settings.own_deployments {
        Default::default()
    } else {
        super::started::load()
    };
    announced
        .shipped
        .retain(|_, at| now.millis_since(Timestamp(*at)) < STALE_MEMORY_MS);
    for e in changed {
        let Some(d) = notes.find(e.commit, &e.dep, Some(&e.env))? else {
            continue;
        };
        let newest = d.events.last().map(|ev| ev.at).unwrap_or(d.started_at());
        if now.millis_since(newest) > OLD_NEWS_MS {
            continue;
        }
        // Who deployed it knows it is live.
        if e.state == State::Success && !d.rollback() && !same_person(d.by(), ctx.me()) {
            if let Some(s) = shipped(ctx, repo, e.commit, d, announced, now)? {
                ships.push(Event::Shipped(s));
            }
        }
        if settings.mine_only.deployments && !deployment_is_mine(ctx, d, e.commit) {
            continue;
        }
        // Followed in a terminal here: its end was seen there.
        if followed.contains(&d.dep) {
            continue;
        }
        let mut event = recorded::deployment(ctx, repo, e.commit, d);
        if event.links.log.is_none() {
            // A local deployment's log is a file of the repository's.
            let log = ctx.ledger.log_path(&d.dep);
            if log.is_file() {
                event.links.log = Some(log.display().to_string());
            }
        }
        found.push(Event::Deployment(event));
    }
    news.extend(capped(found, repo, Summarized::Deployments, None));
    news.extend(ships);
    Ok(())
}

/// The user's commits a successful deployment carried to its environment that were
/// not told live there before: one notice for them all. The train is what the
/// environment ran before (`from`) up to the deployed commit; without a known
/// `from` on its line, the deployed commit alone.
fn shipped(
    ctx: &Context,
    repo: &notify::Repository,
    commit: CommitId,
    d: &Deployment,
    announced: &mut RepoAnnounced,
    now: Timestamp,
) -> Result<Option<notify::CommitsShipped>> {
    let from = d.from().and_then(CommitId::parse);
    let train = match from {
        Some(from) if from == commit => Vec::new(),
        Some(from) => {
            let walked = ctx.repo().train(commit, Some(from), SHIP_WALK)?;
            if walked.reached_base {
                walked.commits
            } else {
                vec![commit]
            }
        }
        None => vec![commit],
    };
    let mut mine = Vec::new();
    for oid in train {
        let Ok(info) = ctx.repo().commit_info(oid) else {
            continue;
        };
        if !same_person(&info.author_email, ctx.me()) {
            continue;
        }
        let key = format!("{} {oid}", d.env);
        if announced.shipped.contains_key(&key) {
            continue;
        }
        announced.shipped.insert(key, now.0);
        mine.push(notify::Commit::from(&info));
    }
    if mine.is_empty() {
        return Ok(None);
    }
    let total = mine.len();
    mine.truncate(notify::TRAIN_LISTED);
    Ok(Some(notify::CommitsShipped {
        repository: repo.clone(),
        environment: d.env.clone(),
        deployment: d.dep.clone(),
        by: d.by().to_string(),
        commits: mine,
        total,
    }))
}

/// Made by the user, or bringing a commit of theirs.
fn deployment_is_mine(ctx: &Context, d: &Deployment, commit: CommitId) -> bool {
    let mine = |oid: CommitId| {
        ctx.repo()
            .commit_info(oid)
            .is_ok_and(|c| same_person(&c.author_email, ctx.me()))
    };
    if same_person(d.by(), ctx.me()) || mine(commit) {
        return true;
    }
    let from = d.from().and_then(CommitId::parse);
    from.and_then(|from| ctx.repo().train(commit, Some(from), 100).ok())
        .is_some_and(|walked| walked.commits.into_iter().any(mine))
}

/// Where a round's CI comes from: the forge, and what its CI poll has just read
/// (None: the forge keeps no such cache).
struct CiSource<'a> {
    forge: &'a dyn crate::forge::Forge,
    polled: Option<&'a BTreeMap<CommitId, CiState>>,
}

/// CI finishing on the user's trunk commits: asked of the forge (GitHub: conditional
/// GETs; local: the CI ledger).
fn ci(
    ctx: &Context,
    source: CiSource,
    repo: &notify::Repository,
    first: bool,
    announced: &mut RepoAnnounced,
    settings: &Settings,
    news: &mut Vec<Event>,
) -> Result<()> {
    let Ok(trunk) = ctx.repo().trunk(&ctx.config) else {
        // No commits yet, or no trunk: nothing to follow.
        return Ok(());
    };
    let mut seen = BTreeMap::new();
    let mut found = Vec::new();
    let mut asked = 0;
    let mut failed = Ok(());
    for oid in ctx.repo().first_parent(trunk.tip, CI_WINDOW)? {
        let info = ctx.repo().commit_info(oid)?;
        if settings.mine_only.ci && !same_person(&info.author_email, ctx.me()) {
            continue;
        }
        let sha = oid.to_string();
        let was = announced.ci.get(&sha).cloned();
        // What the forge's CI poll has just read, where it keeps such a cache: a
        // commit whose state there is the one announced is not asked again.
        let unchanged = source.polled.and_then(|c| c.get(&oid)).map(|s| s.as_str());
        // A passed commit stays passed; a failed one may pass on a re-run.
        if was.as_deref() == Some(CiState::Success.as_str())
            || (was.is_some() && was.as_deref() == unchanged)
            || asked >= CI_ASKED
            || failed.is_err()
        {
            if let Some(was) = was {
                seen.insert(sha, was);
            }
            continue;
        }
        asked += 1;
        let summary = match source.forge.ci(ctx, oid) {
            Ok(s) => s,
            Err(e) => {
                failed = Err(e);
                if let Some(was) = was {
                    seen.insert(sha, was);
                }
                continue;
            }
        };
        let state = summary.state;
        let finished = matches!(state, CiState::Success | CiState::Failure);
        if !first && finished && was.as_deref() != Some(state.as_str()) {
            found.push(Event::Ci(notify::CiFinished {
                repository: repo.clone(),
                commit: notify::Commit::from(&info),
                state,
                trunk: Some(trunk.name.clone()),
                failing: summary.blocking().map(|c| c.name.clone()).collect(),
            }));
        }
        seen.insert(sha, state.as_str().to_string());
    }
    announced.ci = seen;
    news.extend(capped(found, repo, Summarized::Ci, None));
    failed
}

/// The user's commits that have waited longer than `stale_after` for an environment
/// they are not in yet, each once. Environments never deployed are not counted (as
/// the pre-push hook does).
fn stale(
    ctx: &Context,
    repo: &notify::Repository,
    first: bool,
    announced: &mut RepoAnnounced,
    settings: &Settings,
    now: Timestamp,
    news: &mut Vec<Event>,
) -> Result<Timestamp> {
    announced
        .stale
        .retain(|_, at| now.millis_since(Timestamp(*at)) < STALE_MEMORY_MS);
    // When the next of the commits looked at will have waited too long.
    let mut due = Timestamp(i64::MAX);
    let Ok(trunk) = ctx.repo().trunk(&ctx.config) else {
        return Ok(due);
    };
    let snapshot = ctx.ledger.snapshot()?;
    let mut all = Vec::new();
    for (env, config) in &ctx.config.env {
        let Some(after) = config.stale_after else {
            continue;
        };
        let Some(deployed) = snapshot.deployed.get(env) else {
            continue;
        };
        if !settings.follows(env) {
            continue;
        }
        let after_ms = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        let walked = ctx.repo().train(trunk.tip, Some(*deployed), STALE_WALK)?;
        let mut found = Vec::new();
        for oid in walked.commits {
            let info = ctx.repo().commit_info(oid)?;
            let waited = now.millis_since(info.at);
            if waited <= after_ms {
                due = due.min(Timestamp(info.at.0.saturating_add(after_ms + 1)));
                continue;
            }
            if settings.mine_only.stale && !same_person(&info.author_email, ctx.me()) {
                continue;
            }
            let key = format!("{env} {oid}");
            if announced.stale.contains_key(&key) {
                continue;
            }
            announced.stale.insert(key, now.0);
            found.push(Event::Stale(notify::CommitStale {
                repository: repo.clone(),
                environment: env.clone(),
                commit: notify::Commit::from(&info),
                waited_ms: waited,
                stale_after_ms: after_ms,
            }));
        }
        // The walk is newest first; the oldest commits waited longest.
        found.reverse();
        if first {
            all.extend(found);
        } else {
            news.extend(capped(found, repo, Summarized::Stale, Some(env)));
        }
    }
    if first {
        // A newly watched repository's backlog: one line for the repository.
        let envs: std::collections::BTreeSet<&str> =
            all.iter().filter_map(Event::environment).collect();
        let env = (envs.len() == 1).then(|| envs.into_iter().next()).flatten();
        let env = env.map(str::to_string);
        news.extend(grouped(
            all,
            FIRST_STALE,
            repo,
            Summarized::Stale,
            env.as_deref(),
        ));
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_a_few_become_a_summary() {
        let repo = notify::Repository::at(Path::new("/src/r"));
        let more = |n: usize| {
            (0..n)
                .map(|i| {
                    Event::Summary(notify::Summary {
                        repository: repo.clone(),
                        count: i,
                        of: Summarized::Ci,
                        environment: None,
                    })
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(capped(more(2), &repo, Summarized::Ci, None).len(), 2);
        assert_eq!(capped(more(3), &repo, Summarized::Ci, None).len(), 3);
        let five = capped(more(5), &repo, Summarized::Stale, Some("production"));
        assert_eq!(five.len(), 1);
        assert_eq!(
            five[0],
            Event::Summary(notify::Summary {
                repository: repo.clone(),
                count: 5,
                of: Summarized::Stale,
                environment: Some("production".into()),
            })
        );
    }
}
