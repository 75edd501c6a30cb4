//! What the commands that record events first-hand tell, checked with a sink put in
//! the context of a real repository (made with real git).

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use super::tests::Kept;
use super::{Event, Hub, LockAction};
use crate::commands::{deploy, lock, report};
use crate::context::{Context, Ui};
use crate::domain::{CiState, State};

/// A person who answers nothing and whose warnings are kept.
#[derive(Clone, Default)]
struct Quiet(Arc<Mutex<Vec<String>>>);

impl Ui for Quiet {
    fn warn(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn note(&self, _message: &str) {}
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Alice")
        .env("GIT_AUTHOR_EMAIL", "alice@example.com")
        .env("GIT_COMMITTER_NAME", "Alice")
        .env("GIT_COMMITTER_EMAIL", "alice@example.com")
        .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository named `web` with two commits on main and the local forge.
fn repository(root: &Path) -> std::path::PathBuf {
    let dir = root.join("web");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.email", "alice@example.com"]);
    git(&dir, &["config", "user.name", "Alice"]);
    std::fs::write(
        dir.join(".train.toml"),
        "[checks]\nrequire = false\n[env.staging]\nurl = \"https://staging.example\"\n\
         [env.production]\nrun = \"exit 3\"\n",
    )
    .unwrap();
    for i in 1..=2 {
        std::fs::write(dir.join("file.txt"), format!("{i}\n")).unwrap();
        git(&dir, &["add", "."]);
        git(&dir, &["commit", "-q", "-m", &format!("change {i}")]);
    }
    dir
}

/// A context whose notify hub has one sink that keeps what it is sent.
fn context(dir: &Path) -> (Context, Kept, Quiet) {
    let ui = Quiet::default();
    let mut ctx = Context::open(dir, Box::new(ui.clone())).unwrap();
    let kept = Kept::default();
    ctx.notify = Hub::new(vec![Box::new(kept.clone())]);
    (ctx, kept, ui)
}

fn deploy(ctx: &Context, env: &str, rev: &str) -> deploy::Outcome {
    let forge = crate::forge::open(ctx).unwrap();
    let args = deploy::Args {
        env: env.into(),
        rev: Some(rev.into()),
        offline: crate::commands::flags::OfflineFlag { offline: true },
        ..Default::default()
    };
    let prepared = deploy::prepare(ctx, forge.as_ref(), &args).unwrap();
    deploy::carry_out(ctx, forge.as_ref(), prepared, true).unwrap()
}

fn taken(kept: &Kept) -> Vec<Event> {
    std::mem::take(&mut *kept.0.lock().unwrap())
}

#[test]
fn a_local_deploy_tells_its_start_and_its_end() {
    let root = tempfile::tempdir().unwrap();
    let dir = repository(root.path());
    let (ctx, kept, ui) = context(&dir);
    let first = git(&dir, &["rev-parse", "HEAD~1"]);
    let second = git(&dir, &["rev-parse", "HEAD"]);

    let outcome = deploy(&ctx, "staging", "HEAD~1");
    let told = taken(&kept);
    let [Event::Deployment(start), Event::Deployment(end)] = &told[..] else {
        panic!("a start and an end: {told:?}");
    };
    // The local forge starts at once: its start is `in_progress`, told once.
    assert_eq!(start.state, State::InProgress);
    assert_eq!(end.state, State::Success);
    for d in [start, end] {
        assert_eq!(d.repository.name, "web");
        assert_eq!(d.environment, "staging");
        assert_eq!(d.deployment, outcome.dep);
        assert_eq!(d.commit.sha, first);
        assert_eq!(d.commit.subject, "change 1");
        assert_eq!(d.by, "alice@example.com");
        assert_eq!(
            d.links.environment.as_deref(),
            Some("https://staging.example")
        );
        assert!(!d.rollback);
    }
    assert_eq!(start.duration_ms, None, "not ended yet");
    assert!(end.duration_ms.is_some_and(|ms| ms >= 0));

    // The next one brings the commit after it.
    deploy(&ctx, "staging", "HEAD");
    let told = taken(&kept);
    assert_eq!(told.len(), 2, "{told:?}");
    let Event::Deployment(end) = &told[1] else {
        panic!("{told:?}");
    };
    assert_eq!(end.commit.sha, second);
    assert_eq!(end.train.total, 1);
    assert!(end.train.complete);
    assert_eq!(end.train.commits[0].subject, "change 2");
    assert_eq!(end.train.commits[0].author, "Alice");

    // Back to the first: a rollback, taking the second away.
    deploy(&ctx, "staging", "HEAD~1");
    let told = taken(&kept);
    let Event::Deployment(end) = &told[1] else {
        panic!("{told:?}");
    };
    assert!(end.rollback);
    assert_eq!(end.train.commits[0].sha, second);
    assert!(
        ui.0.lock().unwrap().is_empty(),
        "{:?}",
        ui.0.lock().unwrap()
    );
}

#[test]
fn a_deploy_whose_run_command_fails_tells_the_failure() {
    let root = tempfile::tempdir().unwrap();
    let dir = repository(root.path());
    let (ctx, kept, _ui) = context(&dir);
    let outcome = deploy(&ctx, "production", "HEAD");
    assert_eq!(outcome.state, State::Failure);
    let states: Vec<State> = taken(&kept)
        .iter()
        .map(|e| match e {
            Event::Deployment(d) => d.state,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(states, [State::InProgress, State::Failure]);
}

#[test]
fn without_a_sink_a_deploy_tells_nobody_and_warns_of_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = repository(root.path());
    let ui = Quiet::default();
    let ctx = Context::open(&dir, Box::new(ui.clone())).unwrap();
    assert!(ctx.notify.is_empty(), "one-shot commands have no sinks");
    deploy(&ctx, "staging", "HEAD");
    assert!(ui.0.lock().unwrap().is_empty());
}

#[test]
fn report_tells_a_deployments_new_state_and_ci_finishing_once() {
    let root = tempfile::tempdir().unwrap();
    let dir = repository(root.path());
    let (ctx, kept, _ui) = context(&dir);
    let forge = crate::forge::open(&ctx).unwrap();
    let outcome = deploy(&ctx, "staging", "HEAD");
    taken(&kept);
    let args = |state: &str, commit: Option<&str>, dep: Option<&str>| report::Args {
        state: state.into(),
        commit: commit.map(str::to_string),
        deployment: dep.map(str::to_string),
        context: "build".into(),
        url: None,
        log_url: Some("https://ci.example/7".into()),
        description: None,
        ..Default::default()
    };
    report::run(
        &ctx,
        forge.as_ref(),
        &args("inactive", None, Some(&outcome.dep)),
    )
    .unwrap();
    let told = taken(&kept);
    let [Event::Deployment(d)] = &told[..] else {
        panic!("{told:?}");
    };
    assert_eq!(d.state, State::Inactive);
    assert_eq!(d.links.log.as_deref(), Some("https://ci.example/7"));

    // Pending is not an end; failure is; the same failure again is no news.
    for state in ["pending", "failure", "failure"] {
        report::run(&ctx, forge.as_ref(), &args(state, Some("HEAD"), None)).unwrap();
    }
    let told = taken(&kept);
    let [Event::Ci(ci)] = &told[..] else {
        panic!("{told:?}");
    };
    assert_eq!(ci.state, CiState::Failure);
    assert_eq!(ci.trunk.as_deref(), Some("main"));
    assert_eq!(ci.failing, ["build"]);
    assert_eq!(ci.commit.subject, "change 2");
}

#[test]
fn lock_and_unlock_tell_who_took_and_released_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = repository(root.path());
    let (ctx, kept, _ui) = context(&dir);
    let args = lock::LockArgs {
        env: "production".into(),
        reason: Some("release freeze".into()),
        ..Default::default()
    };
    lock::lock(&ctx, &args, true).unwrap();
    lock::unlock(&ctx, "production", false, None, true).unwrap();
    let told = taken(&kept);
    let [Event::Lock(taken), Event::Lock(released)] = &told[..] else {
        panic!("{told:?}");
    };
    assert_eq!(taken.action, LockAction::Taken);
    assert_eq!(taken.reason.as_deref(), Some("release freeze"));
    assert_eq!(released.action, LockAction::Released);
    assert_eq!(released.by, "alice@example.com");
    assert_eq!(released.forced, None);
}
