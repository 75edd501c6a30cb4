//! Honest failures at the remote (issue 12): a lock that changed under `unlock`, a
//! server's refusal, a remote ledger that is not a ledger, a lock that names another
//! environment than its ref, and a remote that accepts the connection and never
//! answers.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Repo, Run, World};

fn no_ci(repo: &Repo) {
    repo.config_without_ci("[env.staging]\n[env.production]\n");
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs a command, killing it when it takes longer than `limit` (a hang fails the
/// test instead of stalling the suite). Returns what it said and how long it took.
fn run_within(mut cmd: Command, limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let took = started.elapsed();
            let run = Run {
                code: status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
                stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
            };
            return (run, took);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} was still running after {limit:?}: killed (its git children may linger)"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback TCP server that accepts every connection and never says a word; counts
/// the connections and how many the other side has closed.
struct Silent {
    port: u16,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (Arc::clone(&accepted), Arc::clone(&closed));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    // Read (and never answer) until the client goes away.
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Silent {
            port,
            accepted,
            closed,
        }
    }

    /// Waits until every accepted connection was closed by the client.
    fn all_closed_within(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.closed.load(Ordering::SeqCst) == self.accepted.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

// ---------------------------------------------------------------------------------
// 9a: a lease that changed under `unlock`.

#[test]
fn an_unlock_whose_lock_changed_meanwhile_is_exit_1_not_a_network_error() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(2, 1);
    let (a, b) = (&clones[0], &clones[1]);
    a.train(&["lock", "staging", "-m", "release day"]).ok();
    b.train(&["locks"]).ok();

    // b pushes through a proxy that, just before b's push reaches the origin, does
    // what a would do at that moment: release the lock.
    let proxy = w.path("proxy.sh");
    executable(
        &proxy,
        &format!(
            "#!/bin/sh\nunset GIT_DIR\ngit --git-dir='{origin}' update-ref -d refs/train/locks/staging\nexec git \"${{1#git-}}\" '{origin}'\n",
            origin = origin.display()
        ),
    );
    b.git(&["config", "protocol.ext.allow", "always"]);
    b.git(&[
        "config",
        "remote.origin.pushurl",
        &format!("ext::sh {} %S", proxy.display()),
    ]);
    let out = b.train(&["unlock", "staging", "--force"]).code(1);
    assert!(
        out.stderr
            .contains("the lock on staging changed since it was read"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("could not push"), "{}", out.stderr);

    // The same when a took the lock anew meanwhile: the new lock stays.
    a.train(&["lock", "staging", "-m", "first"]).ok();
    let first = a.rev("refs/train/locks/staging");
    b.train(&["locks"]).ok();
    a.train(&["unlock", "staging"]).ok();
    a.train(&["lock", "staging", "-m", "second"]).ok();
    let second = a.rev("refs/train/locks/staging");
    // b still holds the first lock in its view: the proxy puts it back for the fetch
    // and a's second lock right before the push.
    executable(
        &proxy,
        &format!(
            "#!/bin/sh\nunset GIT_DIR\ngit --git-dir='{origin}' update-ref refs/train/locks/staging {second}\nexec git \"${{1#git-}}\" '{origin}'\n",
            origin = origin.display()
        ),
    );
    a.git(&[
        "push",
        "-q",
        "--force",
        "origin",
        &format!("{first}:refs/train/locks/staging"),
    ]);
    let out = b.train(&["unlock", "staging", "--force"]).code(1);
    out.says("changed since it was read");
    assert_eq!(
        b.git(&["ls-remote", "origin", "refs/train/locks/staging"])
            .split_whitespace()
            .next(),
        Some(second.as_str())
    );
}

// ---------------------------------------------------------------------------------
// 9b: a server that refuses the push.

#[test]
fn a_servers_refusal_is_shown_at_once_with_its_reason_and_not_retried() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(1, 1);
    let a = &clones[0];
    no_ci(a);
    let calls = w.path("hook-calls");
    executable(
        &origin.join("hooks/pre-receive"),
        &format!(
            "#!/bin/sh\ncat >/dev/null\necho x >> '{}'\necho 'ledger pushes are frozen until 18:00 (ask ops)' >&2\nexit 1\n",
            calls.display()
        ),
    );
    a.train(&["deploy", "staging", "--offline"]).ok();
    let per_deploy = a.all_lines().len();
    let started = Instant::now();
    let out = a.train(&["sync"]);
    let took = started.elapsed();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("ledger pushes are frozen until 18:00 (ask ops)"),
        "the server's reason: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("kept moving"), "{}", out.stderr);
    out.says("origin refused");
    let tries = std::fs::read_to_string(&calls).unwrap().lines().count();
    assert_eq!(tries, 1, "a refusal is not retried");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // A deploy cannot take its lease on a server that refuses every push: it is
    // refused before anything runs, with the server's reason.
    let out = a.train(&["deploy", "production"]).code(1);
    assert!(
        out.stderr
            .contains("could not take the deploy lease on production"),
        "{}",
        out.stderr
    );
    out.says("ledger pushes are frozen until 18:00");
    assert!(!out.stderr.contains("kept moving"), "{}", out.stderr);
    assert_eq!(
        a.all_lines().len(),
        per_deploy,
        "nothing recorded: {:?}",
        a.all_lines()
    );
}

// ---------------------------------------------------------------------------------
// 9c: a remote `refs/notes/deploys` that is not a notes commit.

#[test]
fn a_remote_ledger_that_is_not_a_notes_commit_is_named_and_the_local_ledger_goes_on() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 1);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    no_ci(b);
    a.train(&["deploy", "staging"]).ok();
    let per_deploy = a.all_lines().len();
    b.train(&["sync"]).ok();
    assert_eq!(b.all_lines().len(), per_deploy);

    // Someone pushes a branch commit there; later, a blob.
    let blob = a
        .cmd("git")
        .args(["hash-object", "-w", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    let blob = String::from_utf8_lossy(&blob.stdout).trim().to_string();
    for bad in ["refs/heads/main", blob.as_str()] {
        a.git(&[
            "push",
            "-q",
            "--force",
            "origin",
            &format!("{bad}:refs/notes/deploys"),
        ]);
        for clone in [a, b] {
            let before = clone.all_lines().len();
            let out = clone.train(&["deploy", "production", "--json"]);
            assert_eq!(out.code, 0, "{bad}: {}", out.stderr);
            assert!(
                out.stderr.contains("origin's refs/notes/deploys"),
                "{bad}: the bad ref is named: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains("check that .git is writable"),
                "{}",
                out.stderr
            );
            assert_eq!(
                clone.all_lines().len(),
                before + per_deploy,
                "recorded locally"
            );
        }
        let out = b.train(&["sync"]);
        out.says("origin's refs/notes/deploys");
        // The local ledger is intact and shown.
        b.train(&["history"]).ok();
    }
}

// ---------------------------------------------------------------------------------
// 11: a lock whose record names another environment than its ref.

#[test]
fn a_lock_naming_another_environment_is_listed_under_its_ref_and_still_blocks_it() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 1);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(b);
    let tree = a
        .cmd("git")
        .args(["mktree"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap();
    let lock = a
        .git(&[
            "commit-tree",
            &tree,
            "-m",
            r#"{"env":"production","by":"mallory@example.com","reason":"migration","at":"2026-11-20T09:00:00.000Z"}"#,
        ])
        .trim()
        .to_string();
    a.git(&[
        "push",
        "-q",
        "origin",
        &format!("{lock}:refs/train/locks/staging"),
    ]);

    let out = b.train(&["locks"]).ok();
    assert!(
        out.stdout
            .starts_with("staging locked by mallory@example.com"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("production locked"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("its lock record names production, not staging"),
        "{}",
        out.stdout
    );
    let list = b.train(&["locks", "--json"]).ok().json();
    assert_eq!(list["locks"][0]["env"], "staging");
    assert_eq!(list["locks"][0]["recorded_env"], "production");
    let st = b.train(&["status", "--json"]).ok().json();
    let envs = st["environments"].as_array().unwrap();
    let staging = envs.iter().find(|e| e["name"] == "staging").unwrap();
    assert_eq!(staging["lock"]["by"], "mallory@example.com", "{st}");
    assert!(
        envs.iter()
            .all(|e| e["name"] != "production" || e["lock"].is_null()),
        "{st}"
    );

    // It blocks the environment of its ref, and the refusal says what it is.
    let out = b.train(&["deploy", "staging"]).code(1);
    assert!(
        out.stderr
            .contains("staging is locked by mallory@example.com"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("its lock record names production, not staging"),
        "{}",
        out.stderr
    );
    b.train(&["deploy", "production"]).ok();
}

// ---------------------------------------------------------------------------------
// 14: a remote that accepts the connection and never answers.

#[test]
fn a_remote_that_never_answers_ends_sync_deploy_and_locks_within_the_timeout() {
    let w = World::new();
    let silent = Silent::start();
    let repo = w.repo("r", 2);
    repo.write(
        ".train.toml",
        "remote_timeout = \"2s\"\n[checks]\nrequire = false\n[env.staging]\n",
    );
    repo.git(&[
        "remote",
        "add",
        "origin",
        &format!("git://127.0.0.1:{}/x", silent.port),
    ]);
    let limit = Duration::from_secs(20);
    for args in [
        &["sync"][..],
        &["deploy", "staging"],
        &["locks"],
        &["lock", "staging"],
    ] {
        let (out, took) = run_within(
            {
                let mut cmd = repo.cmd(common::BIN);
                cmd.args(args);
                cmd
            },
            limit,
        );
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(
            took < Duration::from_secs(6),
            "{args:?} took {took:?}, the timeout is 2s"
        );
        assert!(
            out.stderr.contains("origin did not answer within 2s"),
            "{args:?}: {}",
            out.stderr
        );
        out.says("remote_timeout");
        // The git child and its children are gone: the connection is closed.
        assert!(
            silent.all_closed_within(Duration::from_secs(2)),
            "{args:?}: a git child still holds the connection"
        );
    }
    assert!(silent.accepted.load(Ordering::SeqCst) >= 4);
    // The deploy that timed out on its first fetch recorded nothing.
    assert!(repo.all_lines().is_empty(), "{:?}", repo.all_lines());
    assert!(repo.git(&["for-each-ref", "refs/train/"]).is_empty());

    // A bad value names the key.
    repo.write(".train.toml", "remote_timeout = \"soon\"\n");
    let out = repo.train(&["sync"]).code(2);
    out.says("remote_timeout");

    // A remote that answers fetches and hangs on pushes: the push is bounded too.
    let (_origin, clones) = w.origin_and_clones(1, 1);
    let a = &clones[0];
    a.write(
        ".train.toml",
        "remote_timeout = \"2s\"\n[checks]\nrequire = false\n[env.staging]\n",
    );
    a.git(&[
        "config",
        "remote.origin.pushurl",
        &format!("git://127.0.0.1:{}/x", silent.port),
    ]);
    a.train(&["deploy", "staging", "--offline"]).ok();
    let recorded = a.all_lines();
    let (out, took) = run_within(
        {
            let mut cmd = a.cmd(common::BIN);
            cmd.arg("sync");
            cmd
        },
        limit,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(
        out.stderr
            .contains("could not push to origin: origin did not answer within 2s"),
        "{}",
        out.stderr
    );
    assert!(silent.all_closed_within(Duration::from_secs(2)));
    assert_eq!(
        a.all_lines(),
        recorded,
        "the local ledger keeps every event"
    );
}
