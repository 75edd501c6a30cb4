//! Continuous-delivery controls: freeze windows (and, as they land, lock expiry,
//! rollback safety, revert awareness). Each refuses with exit 1 and its message,
//! records nothing when it refuses, and gives way to `--force --reason`, recorded.
mod common;

use common::World;

const WEEKLY: &str = "[checks]\nrequire = false\n[env.staging]\n[env.production]\n\n[[freeze]]\nenvironments = [\"production\"]\nweekly = { from = \"Fri 16:00\", to = \"Mon 09:00\" }\ntimezone = \"Asia/Seoul\"\nreason = \"no Friday deploys\"\n";

#[test]
fn a_weekly_freeze_in_seoul_holds_at_its_local_edges() {
    let w = World::new();
    let repo = w.repo("r", 3);
    repo.write(".train.toml", WEEKLY);
    // 2026-12-04 is a Friday; 16:00 in Seoul is 07:00 UTC.
    repo.train_at(
        "2026-12-04T06:59:00Z",
        &["deploy", "production", "HEAD~2", "--yes"],
    )
    .ok();
    let before = repo.all_lines();
    let out = repo
        .train_at(
            "2026-12-04T07:00:00Z",
            &["deploy", "production", "HEAD~1", "--yes"],
        )
        .code(1);
    assert!(
        out.stderr
            .contains("production is frozen until Mon 09:00 KST: no Friday deploys"),
        "{}",
        out.stderr
    );
    out.says("--force --reason");
    assert_eq!(repo.all_lines(), before, "nothing recorded when refused");
    // A rollback is held too; staging is not.
    repo.train_at("2026-12-05T03:00:00Z", &["rollback", "production", "--yes"])
        .code(1);
    repo.train_at("2026-12-05T03:00:00Z", &["deploy", "staging", "--yes"])
        .ok();
    let status = repo.train_at("2026-12-05T03:00:00Z", &["status"]).ok();
    assert!(
        status
            .stdout
            .contains("frozen until Mon 09:00 KST: no Friday deploys"),
        "{}",
        status.stdout
    );
    let json = repo
        .train_at("2026-12-05T03:00:00Z", &["status", "--json"])
        .ok()
        .json();
    let prod = json["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "production")
        .unwrap()
        .clone();
    assert_eq!(prod["frozen"]["until"], "2026-12-07T00:00:00.000Z");
    // Overridden with a reason, recorded as forced.
    repo.train_at(
        "2026-12-05T03:00:00Z",
        &[
            "deploy",
            "production",
            "HEAD~1",
            "--yes",
            "--force",
            "--reason",
            "hotfix INC-7",
        ],
    )
    .ok();
    assert!(repo
        .all_lines()
        .iter()
        .any(|l| l.contains("production queued") && l.contains("\"forced\":\"hotfix INC-7\"")));
    let history = repo
        .train_at("2026-12-05T03:01:00Z", &["history", "production"])
        .ok();
    assert!(
        history.stdout.contains("forced: hotfix INC-7"),
        "{}",
        history.stdout
    );
    // Monday 09:00 in Seoul (00:00 UTC) the window is over.
    repo.train_at("2026-12-06T23:59:00Z", &["deploy", "production", "--yes"])
        .code(1);
    repo.train_at("2026-12-07T00:00:00Z", &["deploy", "production", "--yes"])
        .ok();
}

#[test]
fn a_dated_freeze_and_bad_windows() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("[env.staging]\n[env.production]\n[[freeze]]\nenvironments = [\"production\", \"staging\"]\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\nreason = \"holiday freeze\"\n",
    );
    let out = repo
        .train_at("2026-12-31T12:00:00Z", &["deploy", "staging", "--yes"])
        .code(1);
    assert!(
        out.stderr
            .contains("staging is frozen until 2027-01-02 00:00 UTC: holiday freeze"),
        "{}",
        out.stderr
    );
    repo.train_at("2027-01-02T00:00:00Z", &["deploy", "staging", "--yes"])
        .ok();
    for (toml, line, key) in [
        (
            "[env.production]\n[[freeze]]\nenvironments = [\"production\"]\nfrom = \"2027-01-02T00:00\"\nto = \"2026-12-24T00:00\"\n",
            2,
            "freeze",
        ),
        (
            "[env.production]\n[[freeze]]\nenvironments = [\"production\"]\nweekly = { from = \"Fri 16:00\", to = \"Mon 09:00\" }\ntimezone = \"Asia/Soul\"\n",
            2,
            "freeze",
        ),
        (
            "[env.production]\n[[freeze]]\nenvironments = [\"production\"]\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\n[[freeze]]\nenvironments = [\"prodution\"]\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\n",
            7,
            "freeze[1].environments",
        ),
    ] {
        repo.write(".train.toml", toml);
        let out = repo.train(&["status"]).code(2);
        assert!(
            out.stderr.contains(&format!(".train.toml:{line}:")) && out.stderr.contains(key),
            "{toml}\n{}",
            out.stderr
        );
    }
}

#[test]
fn a_rollback_past_a_commit_marked_rollback_unsafe_is_refused() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\n");
    let c1 = repo.rev("HEAD");
    std::fs::write(repo.dir.join("schema.sql"), "drop column email;\n").unwrap();
    repo.git(&["add", "schema.sql"]);
    repo.git(&[
        "commit",
        "-q",
        "-m",
        "Drop users.email\n\nThe column is unused since #120.\n\nRollback: unsafe: drops the users.email column\nSigned-off-by: Alice <alice@example.com>",
    ]);
    let c2 = repo.rev("HEAD");
    let c3 = repo.commit("After the migration");
    repo.train_at("2026-12-01T10:00:00Z", &["deploy", "staging", &c1, "--yes"])
        .ok();
    repo.train_at("2026-12-01T10:10:00Z", &["deploy", "staging", &c3, "--yes"])
        .ok();
    let before = repo.all_lines();
    for args in [
        vec!["rollback", "staging", "--yes"],
        vec!["rollback", "staging", "--to", &c1, "--yes"],
        vec!["deploy", "staging", &c1, "--yes"],
    ] {
        let out = repo.train_at("2026-12-01T10:20:00Z", &args).code(1);
        assert!(
            out.stderr.contains(&c2[..7])
                && out.stderr.contains("Drop users.email")
                && out
                    .stderr
                    .contains("Rollback: unsafe: drops the users.email column"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(repo.all_lines(), before, "nothing recorded when refused");
    // Back to the unsafe commit itself passes nothing unsafe.
    repo.train_at(
        "2026-12-01T10:30:00Z",
        &["rollback", "staging", "--to", &c2, "--yes"],
    )
    .ok();
    repo.train_at(
        "2026-12-01T10:40:00Z",
        &[
            "rollback",
            "staging",
            "--to",
            &c1,
            "--yes",
            "--force",
            "--reason",
            "restored from backup",
        ],
    )
    .ok();
    assert!(repo
        .all_lines()
        .iter()
        .any(|l| l.contains("\"forced\":\"restored from backup\"")));
}

/// A rollback over more than a hundred commits reads their messages through one
/// `git cat-file`, and keeps the ones found safe in `.git/train/rollback-safe`:
/// the next rollback over them does not read them again, and an unsafe commit is
/// never kept there, so it refuses every time.
#[test]
fn a_rollback_over_many_commits_keeps_the_safe_ones_and_refuses_the_unsafe_one_every_time() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\n");
    let c0 = repo.rev("HEAD");
    repo.train_at("2026-12-01T10:00:00Z", &["deploy", "staging", &c0, "--yes"])
        .ok();
    let mut unsafe_commit = String::new();
    for i in 0..130 {
        let sha = if i == 40 {
            repo.commit("Drop the old table\n\nRollback: unsafe")
        } else {
            repo.commit(&format!("Change {i}"))
        };
        if i == 40 {
            unsafe_commit = sha;
        }
    }
    repo.train_at("2026-12-01T10:10:00Z", &["deploy", "staging", "--yes"])
        .ok();
    let safe = repo.dir.join(".git/train/rollback-safe");
    let header = "git-train rollback-safe 1\n".len();
    for _ in 0..2 {
        let out = repo
            .train_at(
                "2026-12-01T10:20:00Z",
                &["rollback", "staging", "--to", &c0, "--yes"],
            )
            .code(1);
        assert!(
            out.stderr.contains(&unsafe_commit[..7]) && out.stderr.contains("Drop the old table"),
            "{}",
            out.stderr
        );
        let kept = std::fs::read(&safe).unwrap();
        assert_eq!(
            (kept.len() - header) / 20,
            129,
            "every commit but the unsafe one"
        );
    }
    // Back to the unsafe commit itself passes only commits read before.
    repo.train_at(
        "2026-12-01T10:30:00Z",
        &["rollback", "staging", "--to", &unsafe_commit, "--yes"],
    )
    .ok();
    // A damaged file is an empty set: read again, refused again.
    std::fs::write(&safe, "git-train rollback-safe 1\nshort").unwrap();
    repo.train_at("2026-12-01T10:40:00Z", &["deploy", "staging", "--yes"])
        .ok();
    let out = repo
        .train_at(
            "2026-12-01T10:50:00Z",
            &["rollback", "staging", "--to", &c0, "--yes"],
        )
        .code(1);
    assert!(out.stderr.contains(&unsafe_commit[..7]), "{}", out.stderr);
}

#[test]
fn a_train_that_brings_a_commit_trunk_reverted_later_is_refused() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\n");
    repo.train_at("2026-12-01T10:00:00Z", &["deploy", "staging", "--yes"])
        .ok();
    std::fs::write(repo.dir.join("retries.txt"), "3\n").unwrap();
    repo.git(&["add", "retries.txt"]);
    repo.git(&["commit", "-q", "-m", "Add retries (#128)"]);
    let x = repo.rev("HEAD");
    let c2 = repo.commit("Unrelated change (#129)");
    repo.git(&["revert", "--no-edit", &x]);
    let r = repo.rev("HEAD");
    repo.commit("Later change (#131)");
    let before = repo.all_lines();
    let out = repo
        .train_at("2026-12-01T10:10:00Z", &["deploy", "staging", &c2, "--yes"])
        .code(1);
    assert!(
        out.stderr.contains(&x[..7])
            && out.stderr.contains("Add retries (#128)")
            && out.stderr.contains(&r[..7])
            && out
                .stderr
                .contains(&format!("git train deploy staging {}", &r[..7])),
        "{}",
        out.stderr
    );
    assert_eq!(repo.all_lines(), before, "nothing recorded when refused");
    // The revert itself, and trunk's tip, ship.
    repo.train_at("2026-12-01T10:20:00Z", &["deploy", "staging", &r, "--yes"])
        .ok();
    repo.train_at("2026-12-01T10:30:00Z", &["deploy", "staging", "--yes"])
        .ok();
}

#[test]
fn when_green_deploys_once_ci_passes_and_gives_up_on_failure_or_timeout() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.write(".train.toml", "[env.staging]\n");
    repo.train(&[
        "report",
        "pending",
        "--commit",
        "HEAD",
        "--context",
        "build",
    ])
    .ok();
    let started = std::time::Instant::now();
    let child = repo
        .cmd(common::BIN)
        .args([
            "deploy",
            "staging",
            "--yes",
            "--when-green",
            "--timeout",
            "30s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        !repo.all_lines().iter().any(|l| l.contains(" staging ")),
        "nothing deployed while CI runs"
    );
    // Another process reports the CI result.
    let reported = std::time::Instant::now();
    repo.train(&[
        "report",
        "success",
        "--commit",
        "HEAD",
        "--context",
        "build",
    ])
    .ok();
    let out = child.wait_with_output().unwrap();
    let waited = reported.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("waiting for CI on"), "{err}");
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    assert!(started.elapsed() > std::time::Duration::from_millis(1500));
    assert!(repo
        .all_lines()
        .iter()
        .any(|l| l.contains(" staging success ")));

    // Failing CI: exit 1, nothing recorded.
    let next = repo.commit("next");
    repo.train(&["report", "failure", "--commit", &next, "--context", "build"])
        .ok();
    let before = repo.all_lines();
    let out = repo
        .train(&["deploy", "staging", "--yes", "--when-green"])
        .code(1);
    out.says("CI failed on");
    assert_eq!(repo.all_lines(), before);
    // Still pending at the timeout: exit 1, nothing recorded.
    let last = repo.commit("last");
    repo.train(&["report", "pending", "--commit", &last, "--context", "build"])
        .ok();
    let before = repo.all_lines();
    let out = repo
        .train(&[
            "deploy",
            "staging",
            "--yes",
            "--when-green",
            "--timeout",
            "1s",
        ])
        .code(1);
    out.says("did not pass within 1s");
    assert_eq!(repo.all_lines(), before);
}

// ---------------------------------------------------------------------------------
// Lock expiry: `lock --for`.

#[test]
fn a_lock_for_a_while_stops_blocking_when_it_expires_and_is_replaced_once() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(3, 2);
    let (alice, bob, carol) = (&clones[0], &clones[1], &clones[2]);
    for c in [alice, bob, carol] {
        c.config_without_ci("[env.staging]\n");
    }
    const T0: &str = "2026-12-01T09:00:00Z";
    const LATER: &str = "2026-12-01T09:00:30Z";
    let taken = alice
        .train_at(
            T0,
            &["lock", "staging", "--for", "1s", "-m", "db move", "--json"],
        )
        .ok()
        .json();
    assert_eq!(taken["lock"]["until"], "2026-12-01T09:00:01.000Z");
    // While it holds, it blocks, and says how long it has left.
    let out = bob
        .train_at(T0, &["deploy", "staging", "--yes", "-q"])
        .code(1);
    out.says("locked by user0@example.com (db move) for 0s, 1s left");
    let locks = bob.train_at(T0, &["locks"]).ok().stdout;
    assert!(locks.contains("1s left"), "{locks}");
    // Once past, it blocks nothing; status and locks say it expired.
    let locks = bob.train_at(LATER, &["locks"]).ok().stdout;
    assert!(locks.contains("expired 29s ago"), "{locks}");
    bob.train_at(LATER, &["deploy", "staging", "--yes", "-q"])
        .ok();
    // Two clones taking the expired lock's place at the same instant: one gets it.
    let spawn = |c: &common::Repo| {
        c.cmd(common::BIN)
            .env("GIT_TRAIN_NOW", LATER)
            .args(["lock", "staging", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (b, c) = (spawn(bob), spawn(carol));
    let runs = [b, c].map(|child| common::Run::of(child.wait_with_output().unwrap()));
    let won: Vec<&common::Run> = runs.iter().filter(|r| r.code == 0).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        runs.iter()
            .map(|r| (&r.stdout, &r.stderr))
            .collect::<Vec<_>>()
    );
    let lost = runs.iter().find(|r| r.code != 0).unwrap();
    assert_eq!(lost.code, 1, "{}", lost.stderr);
    lost.says("locked by");
    let winner = won[0].json();
    assert_eq!(winner["expired"]["by"], "user0@example.com");
    // The holder extends a lock of theirs with --for.
    let holder = if winner["lock"]["by"] == "user1@example.com" {
        bob
    } else {
        carol
    };
    let out = holder
        .train_at(LATER, &["lock", "staging", "--for", "2h", "--json"])
        .ok()
        .json();
    assert_eq!(out["action"], "extended");
    assert_eq!(out["lock"]["until"], "2026-12-01T11:00:30.000Z");
    // An expired lock of someone else is removed by unlock without --force.
    let other = if std::ptr::eq(holder, bob) {
        carol
    } else {
        bob
    };
    let out = other
        .train_at("2026-12-01T12:00:00Z", &["unlock", "staging"])
        .ok();
    assert!(
        out.stdout.starts_with("removed the expired lock of"),
        "{}",
        out.stdout
    );
    assert!(other.train(&["locks"]).ok().stdout.contains("no locks"));
}
