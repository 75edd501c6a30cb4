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
use crate::domain::{CiSummary, CommitId, Event, Fields, State, Timestamp};
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
                subject: d.get("environment")?.as_str()?.to_string(),
                state: State::Queued,
                by: login(d),
                fields: fields.into_map(),
            },
        ))
    }

    /// The event of one deployment status.
    fn status_event(&self, d: &Value, s: &Value) -> Option<Event> {
        let id = d.get("id")?.as_u64()?;
        let text = |k: &str| {
            s.get(k)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let fields = Fields {
            dep: Some(dep_of(d)),
            desc: text("description"),
            log: text("log_url").or_else(|| text("target_url")),
            url: text("environment_url"),
            gh: Some((self.repo.clone(), id)),
            ..Fields::default()
        };
        let env = text("environment").or_else(|| {
            d.get("environment")
                .and_then(Value::as_str)
                .map(str::to_string)
        })?;
        Some(Event {
            at: github_time(s.get("created_at")?.as_str()?)?,
            subject: env,
            state: State::parse(s.get("state")?.as_str()?)?,
            by: login(s),
            fields: fields.into_map(),
        })
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
            .map_err(self.fail("read the deployment's statuses"))?;
        let mut events: Vec<Event> = statuses
            .iter()
            .filter_map(|s| self.status_event(d, s))
            .collect();
        crate::domain::event::sort_events(&mut events);
        Ok((sha, events))
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
        let mut next = Some(self.path("/deployments?per_page=100"));
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
                // Exports of local deployments are already in the ledger.
                let export = d.get("task").and_then(Value::as_str) == Some(EXPORT_TASK);
                if !done_before && !export {
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
                // A `next` link to another server would take the token with it.
                answer.next.filter(|url| client.same_origin(url))
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
            let d = json!({"id": id, "sha": open.commit.to_string(), "environment": dep.env, "payload": {"dep": dep.dep}});
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
            if exported >= PER_SYNC {
                break;
            }
            let Some(dep) = notes.find(entry.commit, &entry.dep, None)? else {
                continue;
            };
            if dep.gh().is_some() || dep.dep.starts_with("gh") {
                continue;
            }
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
            exported += 1;
        }
        Ok(exported)
    }

    /// Posts a deployment status (for deploy workflows) and records it.
    pub fn post_status(
        &self,
        ctx: &Context,
        id: u64,
        state: State,
        report: &StatusReport,
    ) -> Result<(String, Event)> {
        let client = self.client()?;
        let d = client
            .get(&self.path(&format!("/deployments/{id}")))
            .map_err(self.fail("find the deployment"))?
            .body;
        let mut body = json!({ "state": state.as_str() });
        for (key, value) in [
            ("log_url", &report.log_url),
            ("environment_url", &report.environment_url),
            ("description", &report.description),
        ] {
            if let Some(v) = value {
                body[key] = json!(v);
            }
        }
        let answer = client
            .post(&self.path(&format!("/deployments/{id}/statuses")), &body)
            .map_err(self.fail("post the deployment status"))?;
        let event = self.status_event(&d, &answer.body).ok_or_else(|| {
            Error::new(
                Kind::Forge,
                "GitHub's answer to the status is not a deployment status",
            )
        })?;
        let sha = d
            .get("sha")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
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
            }
        }
        Ok((sha, event))
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
            .map_err(self.fail("read the commit's status"))?;
        let runs = client
            .get_all(
                &self.path(&format!("/commits/{commit}/check-runs?per_page=100")),
                Some("check_runs"),
            )
            .map_err(self.fail("read the commit's check runs"))?;
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
        let (sha, event) = self.created_event(&deployment).ok_or_else(|| {
            Error::new(Kind::Forge, "GitHub's answer is not a deployment")
                .hint("nothing was recorded")
        })?;
        ctx.ledger.record(
            sha,
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
        Ok(Some(imported))
    }

    fn poll(&self, ctx: &Context) -> Result<Option<Imported>> {
        self.import_all(ctx).map(Some)
    }

    fn report(
        &self,
        ctx: &Context,
        target: &str,
        state: State,
        report: &StatusReport,
    ) -> Result<Option<(String, Event)>> {
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
