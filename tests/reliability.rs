//! Reliability and security (issue 8): forge faults, process faults, races across
//! clones, hostile input, the token, and what a fresh clone can make git-train run.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::github::{Fault, GitHub};
use common::{Repo, World, BIN};

/// GitHub ids the ledger records, and those the server has.
fn ledger_ids(repo: &Repo) -> BTreeSet<u64> {
    repo.all_lines()
        .iter()
        .filter_map(|l| l.split("\"id\":").nth(1))
        .filter_map(|rest| rest.trim_end_matches(['}', ' ']).parse().ok())
        .collect()
}

fn server_ids(gh: &GitHub) -> BTreeSet<u64> {
    gh.deployments()
        .iter()
        .filter_map(|d| d["id"].as_u64())
        .collect()
}

#[test]
fn forge_faults_end_with_the_documented_exit_and_an_exact_ledger() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false");
    gh.workflow(&[("success", Duration::from_millis(0))]);
    let deploy = |expect: i32, label: &str| {
        let started = Instant::now();
        let out = gh.train(&repo, &["deploy", "staging"]).code(expect);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{label}: took {:?}",
            started.elapsed()
        );
        assert!(
            expect == 0 || out.stderr.contains("error:") && out.stderr.contains("hint:"),
            "{label}: {}",
            out.stderr
        );
        assert_eq!(
            ledger_ids(&repo),
            server_ids(&gh),
            "{label}: the ledger holds exactly what GitHub created"
        );
        out
    };
    let cases: Vec<(&str, &str, Fault, usize, i32)> = vec![
        ("POST", "/deployments", Fault::Status(500), 1, 3),
        ("POST", "/deployments", Fault::Status(502), 1, 3),
        ("POST", "/deployments", Fault::Status(503), 1, 3),
        ("POST", "/deployments", Fault::Reset, 1, 3),
        ("POST", "/deployments", Fault::Hang, 1, 3),
        ("POST", "/deployments", Fault::Lost(502), 1, 0),
        ("POST", "/deployments", Fault::MalformedJson, 1, 0),
        ("POST", "/deployments", Fault::TruncatedJson, 1, 0),
        ("POST", "/deployments", Fault::Conflict, 1, 1),
        ("POST", "/deployments", Fault::Unprocessable, 1, 1),
        (
            "POST",
            "/deployments",
            Fault::RateLimited {
                status: 403,
                retry_after: Some(1),
            },
            1,
            3,
        ),
        (
            "POST",
            "/deployments",
            Fault::RateLimited {
                status: 429,
                retry_after: None,
            },
            1,
            3,
        ),
        ("POST", "/deployments", Fault::Exhausted, 1, 3),
        // GETs are repeated when that is safe: one fault is absorbed, three are not.
        ("GET", "/statuses", Fault::Status(502), 1, 0),
        ("GET", "/statuses", Fault::Reset, 1, 0),
        ("GET", "/statuses", Fault::Status(503), 3, 3),
        ("GET", "/statuses", Fault::Hang, 3, 3),
        ("GET", "/statuses", Fault::MalformedJson, 1, 3),
        (
            "GET",
            "/statuses",
            Fault::RateLimited {
                status: 429,
                retry_after: Some(1),
            },
            1,
            0,
        ),
        (
            "GET",
            "/statuses",
            Fault::RateLimited {
                status: 403,
                retry_after: None,
            },
            1,
            3,
        ),
        ("GET", "/statuses", Fault::EarlyEnd, 1, 0),
    ];
    for (method, path, fault, times, expect) in cases {
        let label = format!("{method} {path} {fault:?} x{times}");
        gh.clear_faults();
        gh.fault(method, path, fault, times);
        deploy(expect, &label);
        gh.clear_faults();
        // Whatever a fault left under way, a sync brings the ledger level with GitHub.
        gh.train(&repo, &["sync"]).ok();
        assert_eq!(ledger_ids(&repo), server_ids(&gh), "{label}: after sync");
    }
    let h = gh
        .train(&repo, &["history", "-n", "100", "--json"])
        .ok()
        .json();
    let in_ledger = h["deployments"].as_array().unwrap().len();
    assert_eq!(in_ledger, gh.deployments().len());
}

#[test]
fn a_full_disk_while_writing_leaves_the_ledger_as_it_was() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~1"]).ok();
    let before = repo.all_lines();
    let tip = repo.rev("refs/notes/deploys");
    // No file may grow: every object write fails as on a full disk.
    let out = repo
        .cmd("sh")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f 0; exec '{BIN}' deploy staging"),
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error:") && !err.contains("panicked"), "{err}");
    assert_eq!(repo.rev("refs/notes/deploys"), tip);
    assert_eq!(repo.all_lines(), before);
    repo.git(&["fsck", "--no-progress"]);
    repo.train(&["deploy", "staging"]).ok();
}

#[test]
fn many_processes_across_clones_lose_nothing_and_lock_once() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(3, 8);
    for c in &clones {
        c.config_without_ci("");
    }
    // 24 deploys at once, each syncing before and after, plus syncs in between.
    let mut children = Vec::new();
    for (n, c) in clones.iter().enumerate() {
        for i in 0..8 {
            let env = ["staging", "production", "canary"][(n + i) % 3];
            children.push(
                c.cmd(BIN)
                    .args([
                        "deploy",
                        env,
                        &format!("HEAD~{i}"),
                        "--yes",
                        "-q",
                        "--new-env",
                        "--queue",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        children.push(
            c.cmd(BIN)
                .args(["sync", "-q"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    let mut deployed = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        match out.status.code() {
            Some(0) => deployed += 1,
            // A sync that lost every round says so; nothing is lost, the next one pushes.
            Some(1) if err.contains("kept moving") => {}
            other => panic!("exit {other:?}: {err}"),
        }
    }
    assert!(deployed >= 24, "every deploy succeeded: {deployed}");
    for _ in 0..2 {
        for c in &clones {
            c.train(&["sync"]).ok();
        }
    }
    let lines = clones[0].all_lines();
    assert_eq!(
        lines.len(),
        24 * 3,
        "queued, in_progress, success of 24 deployments"
    );
    for c in &clones[1..] {
        assert_eq!(c.all_lines(), lines);
    }

    // Ten people lock three environments at once: one holder each.
    let (_, lockers) = {
        let w2 = World::new();
        let w2 = Box::leak(Box::new(w2));
        w2.origin_and_clones(10, 1)
    };
    let mut children = Vec::new();
    for (i, c) in lockers.iter().enumerate() {
        for env in ["staging", "production", "canary"] {
            children.push((
                env,
                i,
                c.cmd(BIN)
                    .args(["lock", env])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            ));
        }
    }
    let mut winners: Vec<(&str, usize)> = Vec::new();
    for (env, i, child) in children {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => winners.push((env, i)),
            Some(1) => {
                assert!(String::from_utf8_lossy(&out.stderr)
                    .contains(&format!("{env} is locked by user")))
            }
            other => panic!(
                "lock exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    winners.sort();
    assert_eq!(
        winners.iter().map(|w| w.0).collect::<Vec<_>>(),
        vec!["canary", "production", "staging"],
        "{winners:?}"
    );
}

#[test]
fn hostile_names_and_revisions_change_nothing_and_reach_no_shell() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("[env.staging]\nrun = \"echo ran >> ran.txt\"\n");
    let long = "a".repeat(10_000);
    let refs_before = repo.git(&["for-each-ref"]);
    for rev in [
        "../x",
        "-rf",
        "HEAD;touch pwned",
        "$(touch pwned)",
        "main\u{7}",
        "\u{1b}[31m",
        &long,
        "--all",
    ] {
        let out = repo.train(&["deploy", "staging", "--", rev]);
        assert!(out.code == 2, "{rev:?}: {} {}", out.code, out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
    for env in [
        "$(touch pwned)",
        "`touch pwned`",
        "a;b",
        "../../etc",
        "refs/heads/main",
        "x\u{1}y",
        "é",
    ] {
        let out = repo.train(&["deploy", "--", env]);
        assert_eq!(out.code, 2, "{env:?}: {}", out.stderr);
        repo.train(&["lock", "--", env]).code(2);
        repo.train(&["history", "--", env]).code(2);
    }
    assert!(!repo.dir.join("pwned").exists());
    assert!(!repo.dir.join("ran.txt").exists());
    assert_eq!(
        repo.git(&["for-each-ref"]),
        refs_before,
        "no ref was written"
    );
    // A full ref name is a revision like any other and deploys that commit.
    repo.train(&["deploy", "staging", "refs/heads/main"]).ok();
    assert!(repo.dir.join("ran.txt").exists());
    let refs: Vec<String> = repo
        .git(&["for-each-ref", "--format=%(refname)"])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        refs.iter().all(|r| r.starts_with("refs/heads/")
            || r.starts_with("refs/notes/")
            || r.starts_with("refs/train/")),
        "{refs:?}"
    );

    // Ledger lines that try to break out: huge, nested, with a name that escapes.
    let evil = format!(
        "2026-11-25T10:15:02.114Z ..%2F..%2Fheads%2Fmain success bob {{\"dep\":\"E1\",\"v\":1,\"desc\":\"{}\"}}\n2026-11-25T10:15:02.114Z staging success bob {{\"dep\":\"E2\",\"v\":1,\"x\":{}1{}}}\n",
        "x".repeat(1_000_000),
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    repo.set_note("HEAD~1", evil.as_bytes());
    let out = repo.train(&["history", "--json"]).ok();
    out.says("skipped a ledger line");
    repo.train(&["status"]).ok();
    let refs: Vec<String> = repo
        .git(&["for-each-ref", "--format=%(refname)"])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        !refs
            .iter()
            .any(|r| r.contains("..") || r == "refs/heads/main/x"),
        "{refs:?}"
    );
    assert!(
        refs.iter().all(|r| r.starts_with("refs/heads/")
            || r.starts_with("refs/notes/")
            || r.starts_with("refs/train/")),
        "{refs:?}"
    );
}

#[test]
fn a_fresh_clone_runs_nothing_until_the_user_deploys() {
    let w = World::new();
    let seed = w.repo("seed", 2);
    seed.config_without_ci("[env.staging]\nrun = \"touch pwned\"\nmax_train = 0\nstale_after = \"1s\"\nblock = false\n",
    );
    seed.git(&["add", ".train.toml"]);
    seed.git(&["commit", "-q", "-m", "config"]);
    let origin = w.path("origin.git");
    seed.git(&["clone", "-q", "--bare", ".", origin.to_str().unwrap()]);
    let mut cmd = std::process::Command::new("git");
    w.env(&mut cmd);
    let dir = w.path("clone");
    assert!(cmd
        .args([
            "clone",
            "-q",
            origin.to_str().unwrap(),
            dir.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let clone = Repo { dir, world: &w };
    clone.git(&["config", "user.email", "bob@example.com"]);
    clone.git(&["config", "user.name", "Bob"]);
    for args in [
        &["init"][..],
        &["status"],
        &["history"],
        &["sync"],
        &["locks"],
        &["stats"],
        &["report", "success", "--commit", "HEAD"],
        &["deploy", "staging", "--no-wait", "--yes", "HEAD~9"],
    ] {
        let _ = clone.train(args);
    }
    // The pre-push hook with an undeployed train.
    clone.commit("new work");
    let _ = clone
        .cmd("git")
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        !clone.dir.join("pwned").exists(),
        "nothing ran before the user deployed"
    );
    clone.train(&["deploy", "staging", "--yes"]).ok();
    assert!(
        clone.dir.join("pwned").exists(),
        "deploy runs the team's command"
    );
}

#[test]
fn the_token_is_nowhere_after_every_command() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false");
    gh.workflow(&[
        ("in_progress", Duration::from_millis(0)),
        ("success", Duration::from_millis(50)),
    ]);
    // Each command, the exit status it must end with, and whether it must have got
    // as far as sending the token (so the check below is not passed by a command
    // that failed before it read the token).
    let commands: Vec<(Vec<&str>, i32, bool)> = vec![
        (vec!["init"], 0, true),
        (vec!["status", "--json"], 0, false),
        (vec!["deploy", "staging", "HEAD~1", "-v"], 0, true),
        (vec!["deploy", "staging", "-v", "--json"], 0, true),
        (vec!["rollback", "staging", "-v"], 0, true),
        (vec!["history", "--json", "-v"], 0, false),
        (vec!["sync", "-v"], 0, true),
        (vec!["lock", "staging", "-v"], 0, true),
        (vec!["locks", "--json"], 0, false),
        (vec!["unlock", "staging"], 0, true),
        (
            vec!["report", "success", "--deployment", "1", "-v"],
            0,
            true,
        ),
        (
            vec!["report", "success", "--deployment", "999999", "-v"],
            2,
            true,
        ),
        (
            vec!["report", "success", "--commit", "HEAD", "-v"],
            0,
            false,
        ),
        (vec!["stats", "--env", "staging", "--json"], 0, false),
        (vec!["deploy", "nope..nope"], 2, false),
        (vec!["completions", "bash"], 0, false),
    ];
    let used_token = |gh: &GitHub| gh.requests().iter().any(|r| r.auth_scheme.is_some());
    for (args, code, token) in &commands {
        gh.clear_requests();
        let run = gh.train(&repo, args);
        assert_eq!(run.code, *code, "{args:?}: {}", run.stderr);
        assert_eq!(used_token(&gh), *token, "{args:?}: {}", run.stderr);
    }
    // Every command that talks to GitHub meets a failing server (init only warns), and
    // still says nothing of the token.
    gh.fault("*", "/", Fault::Status(500), 100);
    for (args, _, token) in &commands {
        gh.clear_requests();
        let run = gh.train(&repo, args);
        if *token {
            assert!(used_token(&gh), "{args:?}: {}", run.stderr);
        }
    }
    gh.assert_token_nowhere(&repo);
}

#[test]
fn a_read_only_git_dir_fails_cleanly_and_keeps_the_ledger() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~1"]).ok();
    let before = repo.all_lines();
    let tip = repo.rev("refs/notes/deploys");
    // A private mount namespace makes parts of .git read-only, whoever runs the test.
    let probe = std::process::Command::new("unshare")
        .args(["-m", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: this machine does not allow `unshare -m`; the full-disk test covers the write path");
        return;
    }
    for dir in [".git", ".git/objects", ".git/refs"] {
        let script = format!(
            "mount --bind {dir} {dir} && mount -o remount,bind,ro {dir} && exec '{BIN}' deploy staging"
        );
        let out = repo
            .cmd("unshare")
            .args(["-m", "sh", "-c", &script])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dir}: {err}");
        assert!(
            err.contains("error:") && err.contains("hint:") && !err.contains("panicked"),
            "{dir}: {err}"
        );
        assert_eq!(repo.rev("refs/notes/deploys"), tip, "{dir}");
        assert_eq!(repo.all_lines(), before, "{dir}");
    }
    repo.train(&["deploy", "staging"]).ok();
}

#[test]
fn a_committed_api_url_cannot_collect_the_token() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.write(
        ".train.toml",
        "forge = \"github\"\n[checks]\nrequire = false\n[github]\nrepo = \"acme/api\"\napi = \"https://collector.example/api/v3\"\n",
    );
    let out = repo
        .cmd(BIN)
        .env("GH_TOKEN", "ghp_secret")
        .args(["deploy", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to send your GitHub token to collector.example"),
        "{err}"
    );
    assert!(
        err.contains("git config --global --add train.githubHost collector.example"),
        "{err}"
    );
    repo.write(
        ".train.toml",
        "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"http://ghe.corp/api/v3\"\n",
    );
    let out = repo
        .cmd(BIN)
        .env("GH_TOKEN", "ghp_secret")
        .args(["sync"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn escape_sequences_from_commits_and_the_ledger_reach_no_terminal() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("");
    repo.commit("innocent \u{1b}]0;pwned\u{7} subject");
    repo.train(&["deploy", "staging"]).ok();
    repo.train(&["lock", "staging", "--reason", "\u{1b}[2Jcleared"])
        .ok();
    let line = "2026-11-25T10:15:02.114Z staging success %1B%5B31mevil {\"dep\":\"E1\",\"v\":1,\"forced\":\"\\u001b[5m\"}";
    repo.git(&[
        "notes",
        "--ref",
        "deploys",
        "append",
        "--no-separator",
        "-m",
        line,
        "HEAD",
    ]);
    for args in [&["status"][..], &["history"], &["locks"]] {
        let out = repo.train(args).ok();
        assert!(
            !out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'),
            "{args:?}: {:?}",
            out.stdout
        );
    }
}
