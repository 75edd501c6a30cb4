//! The `github` forge: deployments are GitHub Deployments (which start the team's
//! deploy workflow), their statuses flow back into the ledger, and CI gating reads
//! the combined commit status and every check run (DESIGN.md section 4).

pub mod auth;
pub mod client;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Forge, Imported, Plan, StatusReport};
use crate::context::Context;
use crate::domain::ci::{summarize, CiContext};
use crate::domain::{CiState, CiSummary, CommitId, Event, EventView, Fields, State, Timestamp};
use crate::error::{Error, Kind, Result};
use crate::ledger::Repo;
use client::{ApiError, Client};

/// The `task` of deployments git-train creates only to show local deployments on
/// GitHub; deploy workflows skip them (`if: github.event.deployment.task == 'deploy'`).
pub const EXPORT_TASK: &str = "git-train-export";

pub struct GitHub {
    /// `owner/name`
    pub repo: String,
    pub api: auth::ApiUrl,
    client: OnceCell<Client>,
    cache_dir: PathBuf,
    poll: Duration,
    timeout: Duration,
    max_wait: Duration,
    follow: Duration,
    /// API hosts besides api.github.com the user lets their token go to.
    trusted_hosts: Vec<String>,
}

impl GitHub {
    pub fn new(ctx: &Context, repo: String, api: auth::ApiUrl) -> GitHub {
        let gh = &ctx.config.github;
        GitHub {
            repo,
            api,
            client: OnceCell::new(),
            cache_dir: ctx.repo().train_dir().join("github"),
            poll: gh.poll.unwrap_or(Duration::from_secs(5)),
            timeout: gh.timeout.unwrap_or(Duration::from_secs(30)),
            max_wait: gh.max_wait.unwrap_or(Duration::from_secs(60)),
            follow: gh.follow.unwrap_or(Duration::from_secs(3600)),
            trusted_hosts: trusted_hosts(ctx.repo()),
        }
    }

    /// The client, made on first use: commands that never talk to GitHub never look
    /// for a token.
    fn client(&self) -> Result<&Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        self.api.check_trusted(&self.trusted_hosts)?;
        let token = auth::token(&self.api)?;
        let client = Client::new(
            &self.api,
            token,
            self.timeout,
            self.max_wait,
            Some(self.cache_dir.clone()),
        )?;
        Ok(self.client.get_or_init(|| client))
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repo)
    }

    /// The first page of the deployment list: what the daemon's poll asks first.
    fn deployments_path(&self) -> String {
        self.path("/deployments?per_page=100")
    }

    fn fail(&self, what: &str) -> impl Fn(ApiError) -> Error + '_ {
        let what = what.to_string();
        move |e| {
            if matches!(e, ApiError::Status { status: 401, .. }) {
                // A kept token GitHub refuses is looked for again next time.
                auth::forget(&self.api);
            }
            e.into_error(&what, self.api.as_str())
        }
    }

    /// `fail`, with a 404 saying what was not found (`commit 1a2b3c4`).
    fn fail_naming(&self, what: &str, missing: String) -> impl Fn(ApiError) -> Error + '_ {
        let what = what.to_string();
        let missing = format!("{missing} in {}", self.repo);
        move |e| e.into_error_naming(&what, &missing, self.api.as_str())
    }

    /// The queued event of a deployment, from GitHub's own record of it, so that
    /// every clone that sees it writes the same bytes.
    pub fn created_event(&self, d: &Value) -> Option<(CommitId, Event)> {
        let id = d.get("id")?.as_u64()?;
        let sha = CommitId::parse(d.get("sha")?.as_str()?)?;
        let payload = d.get("payload").cloned().unwrap_or(Value::Null);
        let text = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let fields = Fields {
            dep: Some(dep_of(d)),
            desc: text(d, "description"),
            from: text(&payload, "from"),
            rollback: payload.get("rollback") == Some(&Value::Bool(true)),
            forced: text(&payload, "forced"),
            gh: Some((self.repo.clone(), id)),
            ..Fields::default()
        };
        Some((
            sha,
            Event {
                at: github_time(d.get("created_at")?.as_str()?)?,
                // Where it was made: a later status may have moved it (recorded then).
                subject: text(d, "original_environment").or_else(|| text(d, "environment"))?,
                state: State::Queued,
                by: login(d),
                fields: fields.into_map(),
            },
        ))
    }

    /// The event of one deployment status, the deployment being in `before` until
    /// then: a status naming another environment moves it, and says so (`moved`).
    fn status_event(&self, d: &Value, s: &Value, before: &str) -> Option<Event> {
        let id = d.get("id")?.as_u64()?;
        let text = |k: &str| {
            s.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let env = text("environment").unwrap_or_else(|| before.to_string());
        let fields = Fields {
            dep: Some(dep_of(d)),
            desc: text("description"),
            log: text("log_url").or_else(|| text("target_url")),
            url: text("environment_url"),
            moved: (env != before).then(|| before.to_string()),
            gh: Some((self.repo.clone(), id)),
            ..Fields::default()
        };
        Some(Event {
            at: github_time(s.get("created_at")?.as_str()?)?,
            subject: env,
            state: State::parse(s.get("state")?.as_str()?)?,
            by: login(s),
            fields: fields.into_map(),
        })
    }

    /// The events of a deployment's statuses, oldest first, starting from the
    /// environment it was made in (`d.original_environment`, else `d.environment`).
    fn events_of_statuses(&self, d: &Value, statuses: &[Value]) -> Vec<Event> {
        let mut env = ["original_environment", "environment"]
            .iter()
            .find_map(|k| d.get(*k).and_then(Value::as_str).filter(|e| !e.is_empty()))
            .unwrap_or_default()
            .to_string();
        let mut sorted: Vec<&Value> = statuses.iter().collect();
        sorted.sort_by_key(|s| {
            (
                s.get("created_at")
                    .and_then(Value::as_str)
                    .and_then(github_time),
                s.get("id").and_then(Value::as_u64),
            )
        });
        let mut events = Vec::new();
        for s in sorted {
            if let Some(event) = self.status_event(d, s, &env) {
                env = event.subject.clone();
                events.push(event);
            }
        }
        crate::domain::event::sort_events(&mut events);
        events
    }

    /// Records every status of a deployment that the ledger lacks; returns the newest state.
    fn record_statuses(&self, ctx: &Context, d: &Value) -> Result<Option<State>> {
        let id = d.get("id").and_then(Value::as_u64).unwrap_or(0);
        let (sha, events) = self.status_events(d)?;
        if let (Some(sha), false) = (sha, events.is_empty()) {
            ctx.ledger.record(
                sha,
                &events,
                &format!("git-train: statuses of GitHub deployment {id}"),
            )?;
        }
        Ok(events.last().map(|e| e.state))
    }

    /// The deployment's commit and the events of all its statuses, oldest first.
    fn status_events(&self, d: &Value) -> Result<(Option<CommitId>, Vec<Event>)> {
        let id = d.get("id").and_then(Value::as_u64).unwrap_or(0);
        let sha = d
            .get("sha")
            .and_then(Value::as_str)
            .and_then(CommitId::parse);
        let statuses = self
            .client()?
            .get_all(
                &self.path(&format!("/deployments/{id}/statuses?per_page=100")),
                None,
            )
            .map_err(
                self.fail_naming("read the deployment's statuses", format!("deployment {id}")),
            )?;
        Ok((sha, self.events_of_statuses(d, &statuses)))
    }

    /// Imports deployments and statuses made elsewhere (the workflow, the web, other
    /// tools). Deployments are listed newest first; a cursor saved after every page
    /// lets an interrupted import resume where it stopped.
    pub fn import_all(&self, ctx: &Context) -> Result<Imported> {
        let path = self.cache_dir.join("import.json");
        let mut cursor: Cursor = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // Written only when it moves: an idle round writes nothing.
        let mut saved = cursor.clone();
        let client = self.client()?;
        let memory = Memory::load(&self.cache_dir);
        let mut next = Some(self.deployments_path());
        let mut imported = Imported::default();
        while let Some(page) = next {
            let answer = client.get(&page).map_err(self.fail("list deployments"))?;
            let list = answer.body.as_array().cloned().unwrap_or_default();
            let mut batch = Vec::new();
            let mut reached_imported = false;
            for d in &list {
                let id = d.get("id").and_then(Value::as_u64).unwrap_or(0);
                if id <= cursor.high {
                    reached_imported = true;
                    break;
                }
                let done_before = cursor.run_low.is_some_and(|low| id >= low)
                    && cursor.run_top.is_some_and(|top| id <= top);
                // Exports of local deployments are already in the ledger, and so are
                // the deployments this clone made (recorded from its own request).
                let export = d.get("task").and_then(Value::as_str) == Some(EXPORT_TASK);
                let ours = memory.made.contains_key(&id);
                if !done_before && !export && !ours {
                    if let Some((sha, event)) = self.created_event(d) {
                        let (_, mut events) = self.status_events(d)?;
                        events.insert(0, event);
                        batch.push((sha, events));
                        imported.deployments += 1;
                    }
                }
                cursor.run_low = Some(cursor.run_low.map_or(id, |l| l.min(id)));
                cursor.run_top = Some(cursor.run_top.map_or(id, |t| t.max(id)));
            }
            // The page's events in one ledger commit, then the cursor: an interruption
            // loses at most this page's work, which the next run does again.
            ctx.ledger
                .record_many(&batch, "git-train: import GitHub deployments")?;
            save_cursor(&path, &cursor, &mut saved)?;
            next = if list.is_empty() || reached_imported {
                None
            } else {
                // A `next` link to another server would take the token with it: the
                // import stops there and says so, as every list does.
                match answer.next {
                    Some(url) if !client.same_origin(&url) => {
                        return Err(self.fail("list deployments")(ApiError::OffHost {
                            link: url,
                        }))
                    }
                    next => next,
                }
            };
        }
        cursor.high = cursor.high.max(cursor.run_top.unwrap_or(0));
        cursor.run_low = None;
        cursor.run_top = None;
        save_cursor(&path, &cursor, &mut saved)?;

        // Deployments still under way: ask for their new statuses (conditional: a
        // deployment that did not change costs nothing).
        let snapshot = ctx.ledger.snapshot()?;
        let mut notes = ctx.ledger.deployments()?;
        for open in &snapshot.open {
            let Some(dep) = notes.find(open.commit, &open.dep, None)? else {
                continue;
            };
            let Some((repo, id)) = dep.gh() else { continue };
            if repo != self.repo {
                continue;
            }
            // Its statuses are read from where it was made: a move is recorded again
            // with the same bytes.
            let made_in = dep
                .events
                .first()
                .map_or(dep.env.as_str(), |e| e.subject.as_str());
            let d = json!({"id": id, "sha": open.commit.to_string(), "environment": made_in, "payload": {"dep": dep.dep}});
            self.record_statuses(ctx, &d)?;
            imported.refreshed += 1;
        }
        Ok(imported)
    }

    /// Shows deployments the ledger has but GitHub does not (made with the local forge,
    /// or before GitHub was used) on GitHub, newest first, a few per sync. Each gets a
    /// deployment with the task `git-train-export` and its final state; a deployment
    /// already exported (found by its `dep`) is not exported again.
    pub fn export(&self, ctx: &Context) -> Result<usize> {
        const PER_SYNC: usize = 20;
        // Each lookup is a request: bounded too, and what is known to be on GitHub
        // (exported here, or found there) is remembered and not looked up again.
        const LOOKUPS_PER_SYNC: usize = 40;
        let mut memory = Memory::load(&self.cache_dir);
        let mut lookups = 0;
        let client = self.client()?;
        let index = ctx.ledger.index()?;
        let mut notes = ctx.ledger.deployments()?;
        let since = ctx.now().plus_millis(-30 * 86_400_000);
        let mut exported = 0;
        for entry in index
            .entries
            .iter()
            .rev()
            .filter(|e| e.state.is_final() && e.started >= since)
        {
            if exported >= PER_SYNC || lookups >= LOOKUPS_PER_SYNC {
                break;
            }
            if memory.exported.contains(&entry.dep) {
                continue;
            }
            let Some(dep) = notes.find(entry.commit, &entry.dep, None)? else {
                continue;
            };
            if dep.gh().is_some() || dep.dep.starts_with("gh") {
                continue;
            }
            lookups += 1;
            let list = client
                .get(&self.path(&format!(
                    "/deployments?sha={}&environment={}&per_page=100",
                    entry.commit, entry.env
                )))
                .map_err(self.fail("look for exported deployments"))?;
            let known = list.body.as_array().is_some_and(|l| {
                l.iter().any(|d| {
                    d.get("payload")
                        .and_then(|p| p.get("dep"))
                        .and_then(Value::as_str)
                        == Some(dep.dep.as_str())
                })
            });
            if known {
                memory.exported.insert(dep.dep.clone());
                continue;
            }
            let body = json!({
                "ref": entry.commit.to_string(),
                "task": EXPORT_TASK,
                "environment": entry.env,
                "auto_merge": false,
                "required_contexts": [],
                "description": format!("recorded by git-train: {} at {}", dep.by(), dep.started_at()),
                "payload": {"dep": dep.dep, "export": true},
            });
            let created = client
                .post(&self.path("/deployments"), &body)
                .map_err(self.fail("export a deployment"))?;
            let id = created.body.get("id").and_then(Value::as_u64).unwrap_or(0);
            let mut status = json!({"state": dep.state().as_str(), "description": "exported from the git-train ledger"});
            if let Some(log) = dep.log() {
                status["log_url"] = json!(log);
            }
            client
                .post(&self.path(&format!("/deployments/{id}/statuses")), &status)
                .map_err(self.fail("export a deployment's state"))?;
            memory.exported.insert(dep.dep.clone());
            memory.save(&self.cache_dir);
            exported += 1;
        }
        memory.save(&self.cache_dir);
        Ok(exported)
    }

    /// Posts a deployment status (for deploy workflows) and records what was posted
    /// and GitHub accepted: the state, description and links sent (an answer need not
    /// echo them), with GitHub's id, time and author of the status. Recorded only
    /// when this clone has the deployment's commit.
    pub fn post_status(
        &self,
        ctx: &Context,
        id: u64,
        state: State,
        report: &StatusReport,
    ) -> Result<Posted> {
        let client = self.client()?;
        let d = client
            .get(&self.path(&format!("/deployments/{id}")))
            .map_err(self.fail_naming("find the deployment", format!("deployment {id}")))?
            .body;
        let (description, truncated) = match &report.description {
            Some(text) => {
                let (cut, truncated) = fit_description(text);
                (Some(cut), truncated)
            }
            None => (None, false),
        };
        if truncated {
            ctx.ui.warn(&format!(
                "the description is longer than GitHub's {DESCRIPTION_MAX} characters: sent and recorded cut to {DESCRIPTION_MAX}, ending in …"
            ));
        }
        let mut body = json!({ "state": state.as_str() });
        for (key, value) in [
            ("log_url", &report.log_url),
            ("environment_url", &report.environment_url),
            ("description", &description),
        ] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        let answer = client
            .post(&self.path(&format!("/deployments/{id}/statuses")), &body)
            .map_err(self.fail_naming("post the deployment status", format!("deployment {id}")))?;
        let env = d
            .get("environment")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                Error::new(
                    Kind::Forge,
                    format!("GitHub's deployment {id} names no environment"),
                )
            })?;
        let accepted = &answer.body;
        let by = accepted
            .get("creator")
            .and_then(|c| c.get("login"))
            .and_then(Value::as_str)
            .map_or_else(|| ctx.me().to_string(), str::to_string);
        let at = accepted
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(github_time)
            .unwrap_or_else(|| ctx.now());
        let event = Event {
            at,
            subject: env,
            state,
            by,
            fields: Fields {
                dep: Some(dep_of(&d)),
                desc: description.clone().filter(|t| !t.is_empty()),
                log: report.log_url.clone().filter(|t| !t.is_empty()),
                url: report.environment_url.clone().filter(|t| !t.is_empty()),
                gh: Some((self.repo.clone(), id)),
                ..Fields::default()
            }
            .into_map(),
        };
        let sha = d
            .get("sha")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut recorded = false;
        if let Some(oid) = CommitId::parse(&sha) {
            if ctx.repo().has_commit(oid) {
                // With the deployment's queued event, as every clone writes it: a
                // checkout that never synced (the deploy workflow's) then knows who
                // asked for it and what it brings, for the team channels.
                let mut events: Vec<Event> = self
                    .created_event(&d)
                    .filter(|(commit, _)| *commit == oid)
                    .map(|(_, created)| created)
                    .into_iter()
                    .collect();
                events.push(event.clone());
                ctx.ledger
                    .record(oid, &events, "git-train: deployment status")?;
                recorded = true;
            }
        }
        Ok(Posted {
            sha,
            event,
            recorded,
            truncated,
        })
    }

    /// The lines `-v` prints: requests made and the budget left.
    pub fn request_log(&self) -> Vec<String> {
        let Some(client) = self.client.get() else {
            return Vec::new();
        };
        let mut lines: Vec<String> = client
            .log
            .borrow()
            .iter()
            .map(|l| {
                format!(
                    "{} {} -> {}{}",
                    l.method,
                    l.path,
                    l.status,
                    if l.cached { " (cached, free)" } else { "" }
                )
            })
            .collect();
        let count = lines.len();
        let free = client.log.borrow().iter().filter(|l| l.cached).count();
        let budget = match *client.budget.borrow() {
            Some((remaining, limit)) => format!("; rate limit: {remaining} of {limit} left"),
            None => String::new(),
        };
        lines.push(format!(
            "{count} GitHub requests, {free} answered from cache{budget}"
        ));
        lines
    }
}

/// `git config train.githubHost` (any level but the repository's committed files,
/// which git never reads): the Enterprise hosts the user trusts with a token.
fn trusted_hosts(repo: &Repo) -> Vec<String> {
    let values = repo.config().and_then(|c| c.values("train.githubhost"));
    values
        .unwrap_or_default()
        .iter()
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Every deployment with an id up to this one is imported.
    high: u64,
    /// The range an interrupted run already covered.
    run_top: Option<u64>,
    run_low: Option<u64>,
}

fn save_cursor(path: &std::path::Path, cursor: &Cursor, saved: &mut Cursor) -> Result<()> {
    if cursor == saved && path.is_file() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let bytes = serde_json::to_vec(cursor).map_err(|e| Error::internal(e.to_string()))?;
    crate::file::write_atomically(path, &bytes)?;
    *saved = cursor.clone();
    Ok(())
}

/// The deployment id of a GitHub Deployment: git-train's own from the payload, or
/// one derived from GitHub's id for deployments made by other tools.
fn dep_of(d: &Value) -> String {
    d.get("payload")
        .and_then(|p| p.get("dep"))
        .and_then(Value::as_str)
        .filter(|dep| crate::domain::event::valid_id(dep))
        .map(str::to_string)
        .unwrap_or_else(|| format!("gh{}", d.get("id").and_then(Value::as_u64).unwrap_or(0)))
}

fn login(v: &Value) -> String {
    v.get("creator")
        .and_then(|c| c.get("login"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}

/// GitHub's `2012-07-20T01:19:13Z` (or with fractions) as a ledger instant.
fn github_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse_loose(text)
}

fn state_of_check(run: &Value) -> State {
    match (
        run.get("status").and_then(Value::as_str),
        run.get("conclusion").and_then(Value::as_str),
    ) {
        (Some("completed"), Some("success" | "neutral" | "skipped")) => State::Success,
        (Some("completed"), _) => State::Failure,
        _ => State::Pending,
    }
}

/// The CI states `sync`, `deploy` and the daemon last read from GitHub for the newest
/// trunk commits (`.git/train/github/ci.json`, a cache): `status` shows them without
/// asking GitHub. Each entry says when it was asked.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct CiCache {
    #[serde(default)]
    pub commits: std::collections::BTreeMap<String, CachedCi>,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedCi {
    /// `success`, `failure`, `pending` or `none`.
    state: String,
    /// When it was asked, in milliseconds since the epoch.
    at_ms: i64,
}

impl CachedCi {
    pub fn state(&self) -> crate::domain::CiState {
        use crate::domain::CiState;
        match self.state.as_str() {
            "success" => CiState::Success,
            "failure" => CiState::Failure,
            "pending" => CiState::Pending,
            _ => CiState::None,
        }
    }
    pub fn at(&self) -> Timestamp {
        Timestamp(self.at_ms)
    }
}

impl CiCache {
    pub fn load(ctx: &Context) -> CiCache {
        std::fs::read(ctx.repo().train_dir().join("github").join("ci.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes the cache when it changed (an idle daemon round writes nothing).
    fn save(&self, dir: &std::path::Path) {
        let path = dir.join("ci.json");
        let Ok(bytes) = serde_json::to_vec(self) else {
            return;
        };
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            return;
        }
        let _ = std::fs::create_dir_all(dir);
        let _ = crate::file::write_atomically(&path, &bytes);
    }
}

/// How many trunk commits a refresh reads the CI of: what `status` shows by default.
pub const CI_REFRESH_COMMITS: usize = 10;

/// A daemon round asks again for a commit whose CI had passed only when it was read
/// longer ago than this (a failed one: `CI_FAILED_KEPT_MS`); pending and unknown
/// ones every round.
/// A finished CI rarely changes (a re-run), and `status --refresh` or `sync` asks
/// for every one.
pub const CI_FINISHED_KEPT_MS: i64 = 10 * 60 * 1000;

/// A failed CI is asked again sooner: failures are re-run, and the author waits to
/// hear that the re-run passed.
pub const CI_FAILED_KEPT_MS: i64 = 60 * 1000;

/// How long an answer in this state is kept, of `kept` for a finished one.
fn kept_for(state: CiState, kept: i64) -> i64 {
    match state {
        CiState::Failure => kept.min(CI_FAILED_KEPT_MS),
        _ => kept,
    }
}

impl GitHub {
    /// Reads the CI state of the newest `count` first-parent trunk commits into the
    /// cache `status` reads: two conditional GETs per commit (statuses, check runs), so
    /// an unchanged refresh is answered 304 and costs no rate limit. A commit GitHub
    /// does not have (not pushed yet) is left out.
    ///
    /// With `finished_kept_ms`, a commit whose CI had finished when it was read less
    /// than that long ago is not asked again (the daemon's rounds).
    /// Returns how many commits were read, and what the cache now says of them with
    /// when one is next due to be asked (now: one's CI is still running or unknown).
    pub fn refresh_ci_cache(
        &self,
        ctx: &Context,
        count: usize,
        finished_kept_ms: Option<i64>,
    ) -> Result<(usize, super::PolledCi)> {
        let trunk = ctx.repo().trunk(&ctx.config)?;
        let commits = ctx.repo().first_parent(trunk.tip, count.min(100))?;
        let mut cache = CiCache::load(ctx);
        let mut keep = std::collections::BTreeMap::new();
        let mut read = 0;
        let now = ctx.now().0;
        let finished = |state| matches!(state, CiState::Success | CiState::Failure);
        let kept = finished_kept_ms.unwrap_or(0);
        let mut due = i64::MAX;
        for commit in commits {
            if let (Some(kept), Some(known)) =
                (finished_kept_ms, cache.commits.get(&commit.to_string()))
            {
                let kept = kept_for(known.state(), kept);
                if finished(known.state()) && now - known.at_ms < kept {
                    due = due.min(known.at_ms + kept);
                    keep.insert(commit.to_string(), known.clone());
                    continue;
                }
            }
            match self.ci(ctx, commit) {
                Ok(ci) => {
                    let again = now + kept_for(ci.state, kept);
                    due = due.min(if finished(ci.state) { again } else { now });
                    keep.insert(
                        commit.to_string(),
                        CachedCi {
                            state: ci.state.as_str().to_string(),
                            at_ms: ctx.now().0,
                        },
                    );
                    read += 1;
                }
                // Not a commit GitHub knows (not pushed yet): asked again next time.
                Err(e) if e.kind == Kind::Usage || e.kind == Kind::Refused => due = now,
                Err(e) => {
                    cache.commits = keep;
                    cache.save(&self.cache_dir);
                    return Err(e);
                }
            }
        }
        let states = keep
            .iter()
            .filter_map(|(sha, c)| Some((CommitId::parse(sha)?, c.state())))
            .collect();
        cache.commits = keep;
        cache.save(&self.cache_dir);
        Ok((
            read,
            super::PolledCi {
                states,
                due: Timestamp(due),
            },
        ))
    }
}

/// What the daemon's quiet round asks GitHub, without the repository: whether the
/// first page of the deployment list is still the one the last full round read (the
/// same ETag). A new deployment changes it; the statuses of deployments under way
/// are asked for by full rounds only (a round with one under way is never quiet).
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    api: auth::ApiUrl,
    path: String,
    etag: String,
    timeout: Duration,
    max_wait: Duration,
    trusted_hosts: Vec<String>,
}

impl Probe {
    /// One conditional GET (the token and the TLS client are the process's own).
    pub fn unchanged(&self) -> Result<bool> {
        self.api.check_trusted(&self.trusted_hosts)?;
        let token = auth::token(&self.api)?;
        let client = Client::new(&self.api, token, self.timeout, self.max_wait, None)?;
        client.unchanged(&self.path, &self.etag).map_err(|e| {
            if matches!(e, ApiError::Status { status: 401, .. }) {
                auth::forget(&self.api);
            }
            e.into_error("list deployments", self.api.as_str())
        })
    }
}

/// GitHub's limit on a deployment status's `description`.
pub const DESCRIPTION_MAX: usize = 140;

/// A description within GitHub's 140 characters: cut to 139 and an ellipsis when
/// longer; true when it was cut.
pub fn fit_description(text: &str) -> (String, bool) {
    if text.chars().count() <= DESCRIPTION_MAX {
        return (text.to_string(), false);
    }
    let mut cut: String = text.chars().take(DESCRIPTION_MAX - 1).collect();
    cut.push('…');
    (cut, true)
}

/// A status posted on GitHub (`report`), as recorded.
pub struct Posted {
    pub sha: String,
    pub event: Event,
    /// Written to this clone's ledger (false: the commit is not in this clone).
    pub recorded: bool,
    /// The description was cut to GitHub's 140 characters.
    pub truncated: bool,
}

/// What this clone remembers of its own work on GitHub (`.git/train/github/memory.json`,
/// a cache, safe to delete): the deployments it made (GitHub id -> deployment id),
/// so an import does not take them in a second time from an answer that does not
/// echo them, and the ledger deployments it exported or found already there.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Memory {
    #[serde(default)]
    made: std::collections::BTreeMap<u64, String>,
    #[serde(default)]
    exported: std::collections::BTreeSet<String>,
}

const MEMORY_ENTRIES: usize = 5000;

impl Memory {
    fn load(dir: &std::path::Path) -> Memory {
        std::fs::read(dir.join("memory.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&mut self, dir: &std::path::Path) {
        // Bounded: the oldest GitHub ids go first; exports are bounded by age anyway.
        while self.made.len() > MEMORY_ENTRIES {
            self.made.pop_first();
        }
        while self.exported.len() > MEMORY_ENTRIES {
            self.exported.pop_first();
        }
        let _ = std::fs::create_dir_all(dir);
        if let Ok(bytes) = serde_json::to_vec(self) {
            let _ = crate::file::write_atomically(&dir.join("memory.json"), &bytes);
        }
    }
}

impl GitHub {
    /// The queued event of a deployment this clone asked for: the commit, environment,
    /// deployment id and train from the request; GitHub's id, time and creator from its
    /// answer. When the answer echoes the request, these are the bytes every clone
    /// writes on import.
    fn asked_event(&self, ctx: &Context, plan: &Plan, body: &Value, d: &Value) -> Option<Event> {
        let id = d.get("id")?.as_u64()?;
        let at = d
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(github_time)
            .unwrap_or_else(|| ctx.now());
        let by = d
            .get("creator")
            .and_then(|c| c.get("login"))
            .and_then(Value::as_str)
            .map_or_else(|| ctx.me().to_string(), str::to_string);
        let fields = Fields {
            dep: Some(plan.dep.clone()),
            desc: body
                .get("description")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            from: plan.from.map(|c| c.to_string()),
            rollback: plan.rollback,
            forced: plan.forced.clone(),
            gh: Some((self.repo.clone(), id)),
            ..Fields::default()
        };
        Some(Event {
            at,
            subject: plan.env.to_string(),
            state: State::Queued,
            by,
            fields: fields.into_map(),
        })
    }
}

impl Forge for GitHub {
    fn name(&self) -> &'static str {
        "github"
    }

    fn ci(&self, ctx: &Context, commit: CommitId) -> Result<CiSummary> {
        let client = self.client()?;
        let statuses = client
            .get_all(
                &self.path(&format!("/commits/{commit}/status?per_page=100")),
                Some("statuses"),
            )
            .map_err(self.fail_naming(
                "read the commit's status",
                format!("commit {}", commit.short()),
            ))?;
        let runs = client
            .get_all(
                &self.path(&format!("/commits/{commit}/check-runs?per_page=100")),
                Some("check_runs"),
            )
            .map_err(self.fail_naming(
                "read the commit's check runs",
                format!("commit {}", commit.short()),
            ))?;
        let ignore = &ctx.config.checks.ignore;
        let mut contexts = Vec::new();
        for s in &statuses {
            let Some(name) = s.get("context").and_then(Value::as_str) else {
                continue;
            };
            if ignore.iter().any(|i| i == name) {
                continue;
            }
            let state = match s.get("state").and_then(Value::as_str) {
                Some("success") => State::Success,
                Some("failure") => State::Failure,
                Some("error") => State::Error,
                _ => State::Pending,
            };
            contexts.push(CiContext {
                name: name.to_string(),
                state,
                url: s
                    .get("target_url")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                at: s
                    .get("updated_at")
                    .and_then(Value::as_str)
                    .and_then(github_time)
                    .unwrap_or_default(),
            });
        }
        for run in &runs {
            let Some(name) = run.get("name").and_then(Value::as_str) else {
                continue;
            };
            if ignore.iter().any(|i| i == name) {
                continue;
            }
            contexts.push(CiContext {
                name: name.to_string(),
                state: state_of_check(run),
                url: run
                    .get("html_url")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                at: run
                    .get("started_at")
                    .and_then(Value::as_str)
                    .and_then(github_time)
                    .unwrap_or_default(),
            });
        }
        Ok(summarize(contexts))
    }

    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String> {
        let client = self.client()?;
        let dep = plan.dep.clone();
        let short = plan.commit.short();
        let mut payload = json!({
            "dep": dep,
            "train": plan.train.iter().take(100).map(|c| c.sha.clone()).collect::<Vec<_>>(),
        });
        if let Some(from) = plan.from {
            payload["from"] = json!(from.to_string());
        }
        if plan.rollback {
            payload["rollback"] = json!(true);
        }
        if let Some(reason) = &plan.forced {
            payload["forced"] = json!(reason);
        }
        let body = json!({
            "ref": plan.commit.to_string(),
            "task": "deploy",
            "environment": plan.env.as_str(),
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": ctx.config.env(&plan.env).production,
            "description": plan.desc.clone().unwrap_or_else(|| format!("git-train: {short} to {} by {}", plan.env, ctx.me())),
            "payload": payload,
        });
        let deployment =
            match client.post(&self.path("/deployments"), &body) {
                Ok(answer) if answer.status == 201 => answer.body,
                Ok(answer) => return Err(Error::refused(format!(
                    "GitHub answered {} instead of creating the deployment: {}",
                    answer.status,
                    answer
                        .body
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ))
                .hint(
                    "git-train sends auto_merge: false; check the repository's deployment settings",
                )),
                Err(ApiError::Status {
                    status: 409,
                    message,
                    ..
                }) => return Err(Error::refused(format!(
                    "GitHub refused the deployment (409 conflict): {message}"
                ))
                .hint(
                    "GitHub reports a merge conflict or failing required checks for this commit",
                )),
                Err(ApiError::Status {
                    status: 422,
                    message,
                    errors,
                }) => {
                    return Err(Error::refused(format!(
                        "GitHub refused the deployment as invalid (422): {message}{}",
                        if errors.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", errors.join("; "))
                        }
                    ))
                    .hint(format!(
                        "does the commit {short} exist on GitHub? push it first"
                    )))
                }
                Err(
                    e @ (ApiError::Transport(_)
                    | ApiError::Malformed(_)
                    | ApiError::Status {
                        status: 500..=599, ..
                    }),
                ) => {
                    // The POST may have created it: look before saying it did not.
                    match self.find_by_dep(plan, &dep) {
                        Some(d) => d,
                        None => {
                            return Err(e.into_error("create the deployment", self.api.as_str()))
                        }
                    }
                }
                Err(e) => return Err(e.into_error("create the deployment", self.api.as_str())),
            };
        // The deployment is the one the answer names by its id; what it is for is
        // what was asked (an answer need not echo sha, environment or payload).
        let event = self
            .asked_event(ctx, plan, &body, &deployment)
            .ok_or_else(|| {
                Error::new(Kind::Forge, "GitHub's answer to the deployment has no id")
                    .hint("nothing was recorded; `git train sync` imports it if GitHub made it")
            })?;
        if let Some((_, id)) = event.gh() {
            let mut memory = Memory::load(&self.cache_dir);
            memory.made.insert(id, plan.dep.clone());
            memory.save(&self.cache_dir);
        }
        ctx.ledger.record(
            plan.commit,
            &[event],
            &format!("git-train: deploy {} to {}", plan.commit, plan.env),
        )?;
        Ok(dep)
    }

    fn complete(&self, ctx: &Context, plan: &Plan, dep: &str, wait: bool) -> Result<State> {
        if !wait {
            return Ok(State::Queued);
        }
        let id = self.id_of(ctx, plan.commit, dep)?;
        let d = json!({"id": id, "sha": plan.commit.to_string(), "environment": plan.env.as_str(), "payload": {"dep": dep}});
        let interrupt = crate::interrupt::Interrupt::catch();
        let started = Instant::now();
        let short = plan.commit.short();
        let mut last = None;
        loop {
            let state = self.record_statuses(ctx, &d)?.unwrap_or(State::Queued);
            if last != Some(state) {
                ctx.ui.step(&format!(
                    "deploying {short} to {}: {state} (GitHub deployment {id})",
                    plan.env
                ));
                last = Some(state);
            }
            if state.is_final() {
                ctx.ui.done();
                return Ok(state);
            }
            if interrupt.happened() || started.elapsed() > self.follow {
                ctx.ui.done();
                ctx.ui.warn(
                    "stopped following: the deployment goes on at GitHub (`git train sync` records how it ends)",
                );
                return Ok(state);
            }
            ctx.ui.progress(&format!(
                "deploying {short} to {}: {state} for {}",
                plan.env,
                crate::domain::time::format_age(started.elapsed().as_millis() as i64)
            ));
            let until = Instant::now() + self.poll;
            while Instant::now() < until && !interrupt.happened() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn import(&self, ctx: &Context) -> Result<Option<Imported>> {
        let mut imported = self.import_all(ctx)?;
        if ctx.config.github.export {
            imported.exported = self.export(ctx)?;
        }
        imported.ci = Some(self.refresh_ci_cache(ctx, CI_REFRESH_COMMITS, None)?.0);
        Ok(Some(imported))
    }

    fn poll(&self, ctx: &Context) -> Result<Option<Imported>> {
        self.import_all(ctx).map(Some)
    }

    fn poll_ci(&self, ctx: &Context, count: usize) -> Result<Option<super::PolledCi>> {
        let (_, polled) = self.refresh_ci_cache(ctx, count, Some(CI_FINISHED_KEPT_MS))?;
        Ok(Some(polled))
    }

    fn probe(&self) -> Option<super::Probe> {
        let path = self.deployments_path();
        let etag = self.client.get()?.etag(&path)?;
        Some(super::Probe::GitHub(Probe {
            api: self.api.clone(),
            path,
            etag,
            timeout: self.timeout,
            max_wait: self.max_wait,
            trusted_hosts: self.trusted_hosts.clone(),
        }))
    }

    fn refresh_ci(&self, ctx: &Context, count: usize) -> Result<Option<usize>> {
        self.refresh_ci_cache(ctx, count.max(CI_REFRESH_COMMITS), None)
            .map(|(read, _)| Some(read))
    }

    fn report(
        &self,
        ctx: &Context,
        target: &str,
        state: State,
        report: &StatusReport,
    ) -> Result<Option<Posted>> {
        let id = match target.parse::<u64>() {
            Ok(id) => id,
            Err(_) => {
                let entry = ctx.ledger.deployment_by_id(target)?.ok_or_else(|| {
                    Error::usage(format!("no deployment '{target}' in the ledger"))
                        .hint("give GitHub's deployment id, or run `git train sync` first")
                })?;
                self.id_of(ctx, entry.commit, target)?
            }
        };
        self.post_status(ctx, id, state, report).map(Some)
    }

    fn verbose(&self) -> Vec<String> {
        self.request_log()
    }
}

impl GitHub {
    /// GitHub's id of a deployment the ledger knows.
    fn id_of(&self, ctx: &Context, commit: CommitId, dep: &str) -> Result<u64> {
        ctx.ledger
            .deployment(commit, dep)?
            .as_ref()
            .and_then(|d| d.gh())
            .map(|(_, id)| id)
            .ok_or_else(|| {
                Error::usage(format!("deployment {dep} was not made on GitHub"))
                    .hint("it has no GitHub deployment id in the ledger")
            })
    }

    fn find_by_dep(&self, plan: &Plan, dep: &str) -> Option<Value> {
        let client = self.client().ok()?;
        let path = self.path(&format!(
            "/deployments?sha={}&environment={}&per_page=100",
            plan.commit, plan.env
        ));
        // A fresh look, not a cached one.
        let list = client.get(&path).ok()?.body;
        list.as_array()?
            .iter()
            .find(|d| {
                d.get("payload")
                    .and_then(|p| p.get("dep"))
                    .and_then(Value::as_str)
                    == Some(dep)
            })
            .cloned()
    }
}
