//! Sharing the train (issue 3): sync of the ledger and atomic locks through a bare
//! remote, with real git.

mod common;

use std::process::Stdio;

use common::{Repo, World};

fn no_ci(repo: &Repo) {
    repo.config_without_ci("");
}

#[test]
fn three_clones_syncing_in_any_order_converge_without_losing_events() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(3, 6);
    for c in &clones {
        no_ci(c);
    }
    let mut recorded = 0;
    let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 0, 1], [1, 2, 0]];
    for (round, order) in orders.iter().enumerate() {
        for &i in order {
            let c = &clones[i];
            let rev = format!("HEAD~{}", (round + i) % 6);
            c.train(&["deploy", "staging", &rev, "--offline", "-q"])
                .ok();
            c.train(&["deploy", "production", &rev, "--offline", "-q", "--new-env"])
                .ok();
            recorded += 6;
        }
        // Sync in another order than the one they recorded in; some clones skip a round.
        for &i in order.iter().rev().take(2) {
            clones[i].train(&["sync"]).ok();
        }
    }
    for &i in &[0, 1, 2, 0, 1] {
        clones[i].train(&["sync"]).ok();
    }
    let lines = clones[0].all_lines();
    assert_eq!(
        lines.len(),
        recorded,
        "every event recorded anywhere is there once"
    );
    for c in &clones[1..] {
        assert_eq!(c.all_lines(), lines);
    }
    // The deployed index agrees everywhere.
    let deployed = clones[0].rev("refs/train/deployed/production");
    for c in &clones[1..] {
        assert_eq!(c.rev("refs/train/deployed/production"), deployed);
    }

    // A fresh clone sees everything after one sync.
    let mut cmd = std::process::Command::new("git");
    w.env(&mut cmd);
    let fresh = w.path("fresh");
    assert!(cmd
        .args([
            "clone",
            "-q",
            origin.to_str().unwrap(),
            fresh.to_str().unwrap()
        ])
        .status()
        .unwrap()
        .success());
    let fresh = Repo {
        dir: fresh,
        world: &w,
    };
    fresh.train(&["sync"]).ok();
    assert_eq!(fresh.all_lines(), lines);
    let h = fresh
        .train(&["history", "-n", "1000", "--json"])
        .ok()
        .json();
    assert_eq!(h["deployments"].as_array().unwrap().len(), recorded / 3);

    // Never a push refspec in the remote's configuration.
    let config = clones[0].git(&["config", "--list"]);
    assert!(!config.contains("remote.origin.push"), "{config}");
}

#[test]
fn deploy_syncs_before_and_after() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(2, 2);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    no_ci(b);
    a.train(&["deploy", "staging", "HEAD~1"]).ok();
    // b sees a's deployment without an explicit sync: deploy syncs first.
    let out = b.train(&["deploy", "staging", "--json"]).ok().json();
    assert_eq!(out["from"], a.rev("HEAD~1"));
    a.train(&["sync"]).ok();
    assert_eq!(a.rev("refs/train/deployed/staging"), a.rev("HEAD"));
    let out = a.train(&["deploy", "staging", "--offline"]).ok();
    out.says("offline: not syncing");
}

#[test]
fn a_push_rejected_mid_sync_loses_nothing_and_converges() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(2, 3);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    no_ci(b);
    a.train(&["deploy", "staging", "HEAD~2", "-q"]).ok();
    b.train(&["sync"]).ok();
    // b records more and parks its notes on the origin under another name.
    b.train(&[
        "deploy",
        "production",
        "HEAD~1",
        "--offline",
        "-q",
        "--new-env",
    ])
    .ok();
    b.git(&[
        "push",
        "-q",
        "origin",
        "refs/notes/deploys:refs/side/deploys",
    ]);
    // The origin's hook lets b's push land just before a's: after a fetched, before
    // its push is applied.
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\ncat >/dev/null\nif [ ! -e moved ]; then touch moved; env -u GIT_QUARANTINE_PATH git update-ref refs/notes/deploys refs/side/deploys; fi\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    a.train(&["deploy", "staging", "HEAD", "--offline", "-q"])
        .ok();
    let out = a.train(&["sync", "--json"]).ok().json();
    assert_eq!(out["rounds"], 2, "the first push was rejected: {out}");

    b.train(&["sync"]).ok();
    let lines = a.all_lines();
    assert_eq!(lines.len(), 9, "three deployments of three events");
    assert_eq!(b.all_lines(), lines);
    let origin_lines = {
        let r = Repo {
            dir: origin.clone(),
            world: &w,
        };
        let list = r.git(&["notes", "--ref", "deploys", "list"]);
        list.lines()
            .map(|l| {
                r.git(&["cat-file", "-p", l.split_whitespace().next().unwrap()])
                    .lines()
                    .count()
            })
            .sum::<usize>()
    };
    assert_eq!(origin_lines, 9);
}

#[test]
fn plain_git_reads_the_synced_ledger() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(2, 2);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    a.train(&["deploy", "staging", "-q"]).ok();
    b.git(&[
        "fetch",
        "-q",
        "origin",
        "refs/notes/deploys:refs/notes/deploys",
    ]);
    let theirs = b.git(&["log", "--notes=deploys", "-1"]);
    let ours = a.git(&["log", "--notes=deploys", "-1"]);
    assert!(ours.contains(" staging success "), "{ours}");
    assert_eq!(theirs, ours);
}

#[test]
fn five_people_lock_at_once_and_exactly_one_wins() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(5, 1);
    let children: Vec<_> = clones
        .iter()
        .map(|c| {
            c.cmd(common::BIN)
                .args(["lock", "production", "--reason", "release"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let winners: Vec<usize> = (0..5).filter(|&i| outs[i].status.success()).collect();
    assert_eq!(winners.len(), 1, "{:?}", outs);
    let winner = format!("user{}@example.com", winners[0]);
    for (i, out) in outs.iter().enumerate() {
        if i == winners[0] {
            continue;
        }
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("production is locked by {winner} (release)")),
            "{err}"
        );
    }
}

#[test]
fn locks_gate_deploys_and_release_with_a_lease() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(2, 1);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    no_ci(b);
    a.train(&["lock", "production", "-m", "freeze for the launch"])
        .ok();
    let again = a.train(&["lock", "production"]).ok();
    assert!(again.stdout.contains("already hold"), "{}", again.stdout);

    // b is refused, sees the lock in status and locks, and cannot unlock it.
    let out = b.train(&["deploy", "production"]).code(1);
    assert!(
        out.stderr
            .contains("locked by user0@example.com (freeze for the launch)"),
        "{}",
        out.stderr
    );
    let st = b.train(&["status", "--json"]).ok().json();
    let prod = st["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "production")
        .unwrap()
        .clone();
    assert_eq!(prod["lock"]["by"], "user0@example.com");
    let locks = b.train(&["locks", "--json"]).ok().json();
    assert_eq!(locks["locks"][0]["env"], "production");
    let out = b.train(&["unlock", "production"]).code(1);
    out.says("--force");

    // The holder deploys; b may override with a recorded reason.
    a.train(&["deploy", "production"]).ok();
    let out = b
        .train(&[
            "deploy",
            "production",
            "--force",
            "--reason",
            "outage",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["forced"], "outage");

    // A forced unlock is recorded.
    b.train(&[
        "unlock",
        "production",
        "--force",
        "--reason",
        "alice is away",
    ])
    .ok();
    assert!(b
        .git(&["ls-remote", "origin", "refs/train/locks/*"])
        .is_empty());
    let note_refs = b.git(&["ls-remote", "origin", "refs/notes/locks"]);
    assert!(!note_refs.is_empty(), "the forced release is shared");
    a.train(&["sync"]).ok();
    assert!(a.train(&["locks"]).ok().stdout.contains("no locks"));
    let ledger = a.git(&["log", "-p", "refs/notes/locks"]);
    assert!(ledger.contains("alice is away"), "{ledger}");

    // Offline, a shared lock can be neither taken nor released.
    b.train(&["lock", "staging", "--offline"]).code(2);
}

#[test]
fn unlock_releases_only_the_lock_it_read() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(2, 1);
    let (a, b) = (&clones[0], &clones[1]);
    a.train(&["lock", "staging", "-m", "first"]).ok();
    let first = a.rev("refs/train/locks/staging");
    a.train(&["unlock", "staging"]).ok();
    a.train(&["lock", "staging", "-m", "second"]).ok();
    let second = a.rev("refs/train/locks/staging");
    a.git(&["push", "-q", "origin", &format!("{first}:refs/side/first")]);
    a.git(&[
        "push",
        "-q",
        "--force",
        "origin",
        &format!("{first}:refs/train/locks/staging"),
    ]);
    // Between b's read (the first lock) and its delete, a takes the lock anew.
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\ncat >/dev/null\nenv -u GIT_QUARANTINE_PATH git update-ref refs/train/locks/staging {second}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = b.train(&["unlock", "staging", "--force"]).code(1);
    out.says("changed since it was read");
    std::fs::remove_file(&hook).unwrap();
    assert_eq!(
        b.git(&["ls-remote", "origin", "refs/train/locks/staging"])
            .split_whitespace()
            .next(),
        Some(second.as_str())
    );
}

#[test]
fn locks_work_without_a_remote() {
    let w = World::new();
    let repo = w.repo("solo", 1);
    no_ci(&repo);
    let out = repo.train(&["lock", "staging"]).ok();
    assert!(out.stdout.contains("local only"), "{}", out.stdout);
    assert!(repo
        .train(&["locks"])
        .ok()
        .stdout
        .contains("staging locked by alice@example.com"));
    repo.train(&["deploy", "staging"]).ok();
    repo.train(&["unlock", "staging"]).ok();
    repo.train(&["unlock", "staging"]).code(1);
    let out = repo.train(&["sync"]).code(2);
    out.says("no remote 'origin'");
}

#[test]
fn an_unreachable_remote_is_exit_3_and_records_nothing() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(1, 1);
    let a = &clones[0];
    no_ci(a);
    std::fs::rename(&origin, w.path("gone.git")).unwrap();
    let out = a.train(&["deploy", "staging"]).code(3);
    out.says("could not fetch from origin");
    // git's reason, not the last line of its advice.
    out.says("does not appear to be a git repository");
    assert!(
        !out.stderr.contains("and the repository exists"),
        "{}",
        out.stderr
    );
    out.says("--offline");
    assert!(a.all_lines().is_empty());
    a.train(&["lock", "staging"]).code(3);
    a.train(&["deploy", "staging", "--offline"]).ok();
}

#[test]
fn a_deployed_commit_this_clone_has_not_fetched_is_named_not_fatal() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(2, 2);
    let (a, b) = (&clones[0], &clones[1]);
    no_ci(a);
    no_ci(b);
    let new = a.commit("only in a for now");
    a.git(&["push", "-q", "origin", "main"]);
    a.train(&["deploy", "staging"]).ok();
    b.train(&["sync"]).ok();
    let st = b.train(&["status", "--json"]).ok().json();
    assert_eq!(st["environments"][0]["unfetched"], new.as_str());
    assert!(b.train(&["status"]).ok().stdout.contains("not fetched yet"));
    b.train(&["history"]).ok();
    // Offline (a deploy otherwise fetches trunk first).
    let out = b.train(&["deploy", "staging", "HEAD", "--offline"]).code(2);
    out.says("git fetch");
    b.git(&["fetch", "-q", "origin"]);
    b.train(&["status"]).ok();
    assert_eq!(b.rev("refs/train/deployed/staging"), new);
}
