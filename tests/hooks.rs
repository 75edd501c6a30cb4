//! The pre-push hook (issue 6): `git train init` installs it where git looks, next
//! to what the hook file already holds; real `git push`es to a bare remote show the
//! warnings, and `block = true` stops the push.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Repo, Run, World};

/// A clone whose production runs its tip, with `toml` committed and pushed before
/// the hook is installed.
fn team<'w>(w: &'w World, toml: &str) -> Repo<'w> {
    let (_origin, clones) = w.origin_and_clones(1, 3);
    let repo = clones.into_iter().next().unwrap();
    repo.write(".train.toml", toml);
    repo.git(&["add", ".train.toml"]);
    repo.git(&["commit", "-q", "-m", "train config"]);
    repo.git(&["push", "-q", "origin", "main"]);
    repo.train(&["init"]).ok();
    repo.ci_pass("HEAD");
    // Deployed before the hooks run (their clock is fixed too): a success dated
    // after the reading clock would not count yet.
    repo.train_at(DEPLOYED, &["deploy", "production", "--yes"])
        .ok();
    repo
}

/// When the deployments of these tests are made: after the commits, before SOON.
const DEPLOYED: &str = "2026-11-20T11:00:00Z";
const DEPLOYED_LATER: &str = "2026-11-20T11:10:00Z";

fn run(cmd: &mut Command) -> Run {
    Run::of(cmd.output().unwrap())
}

fn push(repo: &Repo, args: &[&str], now: &str) -> Run {
    run(repo
        .cmd("git")
        .arg("push")
        .args(args)
        .env("GIT_TRAIN_NOW", now)
        .stderr(Stdio::piped()))
}

/// The hook command itself, with `stdin` as git would give it.
fn hook(repo: &Repo, remote: &str, stdin: &str) -> Run {
    let mut child = repo
        .cmd(common::BIN)
        .args(["hook", "pre-push", remote, "unused-url"])
        .env("GIT_TRAIN_NOW", "2026-11-20T12:00:00Z")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Run::of(child.wait_with_output().unwrap())
}

fn remote_main(repo: &Repo) -> String {
    repo.git(&["ls-remote", "origin", "refs/heads/main"])
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

const SOON: &str = "2026-11-20T12:00:00Z";

#[test]
fn a_push_past_max_train_warns_and_one_within_it_does_not() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 2\n");
    repo.commit("first undeployed");
    repo.commit("second undeployed");
    let quiet = push(&repo, &["origin", "main"], SOON).ok();
    assert!(!quiet.stderr.contains("production"), "{}", quiet.stderr);

    repo.commit("third undeployed");
    let out = push(&repo, &["origin", "main"], SOON).ok();
    assert!(
        out.stderr.contains(
            "warning: after this push, production lacks 3 commits of main, more than max_train = 2"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("the oldest, ") && out.stderr.contains("\"first undeployed\""),
        "{}",
        out.stderr
    );
    out.says("`git train deploy production`");
    // A warning only: the push went through.
    assert_eq!(remote_main(&repo), repo.rev("HEAD"));

    // Once deployed, the same push has nothing to say.
    repo.ci_pass("HEAD");
    repo.train_at(DEPLOYED_LATER, &["deploy", "production", "--yes"])
        .ok();
    repo.commit("fourth");
    let out = push(&repo, &["origin", "main"], SOON).ok();
    assert!(!out.stderr.contains("lacks"), "{}", out.stderr);
}

#[test]
fn a_stale_train_warns_by_the_age_of_its_oldest_commit() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nstale_after = \"24h\"\n");
    repo.commit("waiting");
    // Commit dates are fixed at 2026-11-20T10:00Z.
    let fresh = push(&repo, &["origin", "main"], SOON).ok();
    assert!(!fresh.stderr.contains("production"), "{}", fresh.stderr);

    repo.commit("more");
    let out = push(&repo, &["origin", "main"], "2026-11-22T10:00:00Z").ok();
    out.says("production lacks 2 commits of main;");
    assert!(
        out.stderr
            .contains("\"waiting\", is 2d old, older than stale_after = 1d"),
        "{}",
        out.stderr
    );
}

#[test]
fn block_stops_the_push_with_the_reason_and_no_verify_pushes_anyway() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 1\nblock = true\n");
    let before = remote_main(&repo);
    repo.commit("one");
    repo.commit("two");
    let out = push(&repo, &["origin", "main"], SOON);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("production lacks 2 commits of main, more than max_train = 1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("error: push refused: block = true for production in .train.toml"),
        "{}",
        out.stderr
    );
    out.says("git push --no-verify");
    assert_eq!(remote_main(&repo), before, "the push was stopped");

    push(&repo, &["--no-verify", "origin", "main"], SOON).ok();
    assert_eq!(remote_main(&repo), repo.rev("HEAD"));
}

#[test]
fn the_users_own_hook_lines_stay_run_and_survive_uninstall() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 2);
    let repo = &clones[0];
    repo.write(".train.toml", "[env.production]\nmax_train = 0\n");
    let hook_path = repo.dir.join(".git/hooks/pre-push");
    let mine = "#!/bin/sh\necho \"user hook ran for $1\" >&2\n";
    std::fs::write(&hook_path, mine).unwrap();

    let out = repo.train(&["init"]).ok();
    assert!(
        out.stdout
            .contains("added git-train's lines to the pre-push hook .git/hooks/pre-push"),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(&hook_path).unwrap();
    assert!(text.starts_with(mine), "{text}");
    assert!(text.contains("# >>> git-train >>>\n"), "{text}");
    assert!(is_executable(&hook_path));

    repo.ci_pass("HEAD");
    repo.train_at(DEPLOYED, &["deploy", "production", "--yes"])
        .ok();
    repo.commit("undeployed");
    let out = push(repo, &["origin", "main"], SOON).ok();
    out.says("user hook ran for origin");
    out.says("production lacks 1 commit of main");

    let out = repo.train(&["init", "--uninstall"]).ok();
    assert!(
        out.stdout
            .contains("removed git-train's lines from the pre-push hook"),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), mine);
    assert!(!repo
        .git(&["config", "--list", "--local"])
        .contains("notes."));
    let again = repo.train(&["init", "--uninstall", "--json"]).ok().json();
    assert_eq!(again["changed"].as_array().unwrap().len(), 0);
    assert_eq!(again["hooks"][0]["action"], "absent");
}

#[test]
fn a_hook_that_is_not_a_shell_script_is_left_alone() {
    let w = World::new();
    let repo = w.repo("r", 1);
    let hook_path = repo.dir.join(".git/hooks/pre-push");
    let mine = "#!/usr/bin/env python3\nimport sys\n";
    std::fs::write(&hook_path, mine).unwrap();
    let out = repo.train(&["init"]).ok();
    out.says("is not a shell script");
    assert_eq!(std::fs::read_to_string(&hook_path).unwrap(), mine);
}

#[test]
fn core_hooks_path_is_where_the_hook_goes() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 0\n");
    // team() installed into .git/hooks; move to a shared hooks folder.
    repo.train(&["init", "--uninstall"]).ok();
    repo.git(&["config", "core.hooksPath", "githooks"]);
    let json = repo.train(&["init", "--json"]).ok().json();
    assert_eq!(json["hooks"][0]["path"], "githooks/pre-push");
    assert_eq!(json["hooks"][0]["action"], "created");
    assert!(repo.dir.join("githooks/pre-push").exists());
    assert!(!repo.dir.join(".git/hooks/pre-push").exists());

    repo.commit("undeployed");
    let out = push(&repo, &["origin", "main"], SOON).ok();
    out.says("production lacks 1 commit of main");
}

#[test]
fn init_twice_changes_nothing_and_says_so() {
    let w = World::new();
    let repo = w.repo("r", 1);
    let first = repo.train(&["init", "--json"]).ok().json();
    assert_eq!(first["hooks"][0]["action"], "created");
    let hook_path = repo.dir.join(".git/hooks/pre-push");
    let installed = std::fs::read(&hook_path).unwrap();
    assert!(installed.starts_with(b"#!/bin/sh\n# >>> git-train >>>\n"));
    // The installed lines are this project's hooks/pre-push, between markers.
    let shim =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hooks/pre-push")).unwrap();
    let body = shim.split_once('\n').unwrap().1;
    assert!(String::from_utf8_lossy(&installed).contains(body));

    let second = repo.train(&["init"]).ok();
    assert_eq!(
        second.stdout,
        "git-train is already set up in this repository (pre-push hook: .git/hooks/pre-push); nothing changed\n"
    );
    let json = repo.train(&["init", "--json"]).ok().json();
    assert_eq!(json["changed"].as_array().unwrap().len(), 0);
    assert_eq!(json["hooks"][0]["action"], "unchanged");
    assert_eq!(std::fs::read(&hook_path).unwrap(), installed);

    // Nothing but git-train's lines: uninstall deletes the file.
    let out = repo.train(&["init", "--uninstall"]).ok();
    assert!(
        out.stdout.contains("deleted the pre-push hook"),
        "{}",
        out.stdout
    );
    assert!(!hook_path.exists());
}

#[test]
fn deletions_tags_notes_other_branches_and_other_remotes_are_not_checked() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 0\nblock = true\n");
    let tip = repo.commit("undeployed");
    let zero = "0".repeat(40);
    let base = repo.rev("HEAD~1");
    for (remote, line) in [
        ("origin", format!("(delete) {zero} refs/heads/main {base}")),
        ("origin", format!("refs/tags/v1 {tip} refs/tags/v1 {zero}")),
        (
            "origin",
            format!("refs/notes/deploys {tip} refs/notes/deploys {zero}"),
        ),
        (
            "origin",
            format!("refs/heads/topic {tip} refs/heads/topic {zero}"),
        ),
        (
            "fork",
            format!("refs/heads/main {tip} refs/heads/main {base}"),
        ),
        ("origin", String::new()),
    ] {
        let out = hook(&repo, remote, &format!("{line}\n"));
        assert_eq!(out.code, 0, "{line}: {}", out.stderr);
        assert_eq!(out.stderr, "", "{line}");
    }
    let out = hook(
        &repo,
        "origin",
        &format!("refs/heads/main {tip} refs/heads/main {base}\n"),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    out.says("lacks 1 commit of main");

    // Real pushes of a tag and of the ledger go through.
    repo.git(&["tag", "v1"]);
    push(&repo, &["origin", "v1"], SOON).ok();
    push(&repo, &["origin", "refs/notes/deploys"], SOON).ok();
}

#[test]
fn an_environment_never_deployed_is_named_and_not_counted() {
    let w = World::new();
    let repo = team(
        &w,
        "[env.production]\nmax_train = 5\n[env.staging]\nmax_train = 0\nblock = true\n",
    );
    repo.commit("undeployed");
    let out = push(&repo, &["origin", "main"], SOON).ok();
    assert!(
        out.stderr
            .contains("git-train: staging was never deployed, so its train is not counted"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("lacks"), "{}", out.stderr);
}

#[test]
fn a_broken_config_or_a_missing_binary_never_stops_a_push() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 0\nblock = true\n");
    repo.commit("undeployed");
    // Without git-train on PATH the hook does nothing.
    let out = run(repo
        .cmd("git")
        .args(["push", "origin", "main"])
        .env("PATH", "/usr/local/bin:/usr/bin:/bin"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("git-train"), "{}", out.stderr);

    repo.commit("more");
    repo.write(".train.toml", "[env.production]\nmax_train = \"many\"\n");
    let out = push(&repo, &["origin", "main"], SOON).ok();
    out.says("this push was not checked");
    assert_eq!(remote_main(&repo), repo.rev("HEAD"));
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 == 0o111
}

#[test]
fn a_deployed_commit_off_the_first_parent_line_is_counted_exactly() {
    let w = World::new();
    let repo = team(&w, "[env.production]\nmax_train = 0\n");
    repo.git(&["checkout", "-q", "-b", "side"]);
    repo.write("side.txt", "side\n");
    repo.git(&["add", "side.txt"]);
    repo.git(&["commit", "-q", "-m", "on the side"]);
    let side = repo.rev("HEAD");
    repo.git(&["checkout", "-q", "main"]);
    repo.commit("on main");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    push(&repo, &["--no-verify", "origin", "main"], SOON).ok();
    repo.ci_pass(&side);
    repo.train_at(
        DEPLOYED_LATER,
        &["deploy", "production", &side, "--yes", "--offline"],
    )
    .ok();
    repo.commit("after the merge");
    // Not deployed: that, the merge and "on main"; the side commit is.
    let out = push(&repo, &["origin", "main"], SOON).ok();
    out.says("production lacks 3 commits of main");
}
