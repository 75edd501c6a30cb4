//! The offline train (issue 2): ledger, status, deploy, rollback, history, bad input,
//! against real git in temporary repositories.

mod common;

use common::World;

#[test]
fn a_deploy_shows_in_git_log_status_and_history() {
    let w = World::new();
    let repo = w.repo("r", 4);
    repo.train(&["init"]).ok();
    let tip = repo.rev("HEAD");
    repo.ci_pass("HEAD~2");
    let out = repo.train(&["deploy", "staging", "HEAD~2"]).ok();
    assert!(
        out.stdout.contains("First deployment to staging"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("now runs"), "{}", out.stdout);

    // Plain git log, with nothing but what init configured.
    let log = repo.git(&["log", "-n", "3"]);
    assert!(log.contains("Notes (deploys):"), "{log}");
    assert!(
        log.contains(" staging success alice@example.com {\"dep\":"),
        "{log}"
    );
    assert!(!repo.git(&["log", "-1", &tip]).contains("Notes"));

    // Status: the marker on the commit and the train length of staging.
    let st = repo.train(&["status"]).ok().stdout;
    let marked: Vec<&str> = st.lines().filter(|l| l.contains("[staging]")).collect();
    assert_eq!(marked.len(), 1, "{st}");
    assert!(marked[0].contains("change 2"), "{st}");
    assert!(st.contains("2 behind"), "{st}");
    let json = repo.train(&["status", "--json"]).ok().json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["environments"][0]["name"], "staging");
    assert_eq!(json["environments"][0]["behind"], 2);
    assert_eq!(json["commits"][2]["deployed_to"][0], "staging");
    assert_eq!(json["commits"][2]["ci"], "success");

    // History.
    let h = repo.train(&["history", "--json"]).ok().json();
    let deps = h["deployments"].as_array().unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["env"], "staging");
    assert_eq!(deps[0]["state"], "success");
    assert_eq!(deps[0]["by"], "alice@example.com");
    assert_eq!(deps[0]["sha"], repo.rev("HEAD~2"));
    let text = repo.train(&["history", "staging"]).ok().stdout;
    assert!(
        text.contains("staging") && text.contains("success") && text.contains("change 2"),
        "{text}"
    );
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));
}

#[test]
fn missing_or_red_ci_refuses_and_force_records_the_reason() {
    let w = World::new();
    let repo = w.repo("r", 2);
    let out = repo.train(&["deploy", "production"]).code(1);
    out.says("has no CI status");
    out.says("hint:");

    repo.train(&[
        "report",
        "success",
        "--commit",
        "HEAD",
        "--context",
        "build",
    ])
    .ok();
    repo.train(&[
        "report",
        "failure",
        "--commit",
        "HEAD",
        "--context",
        "lint",
        "--url",
        "https://ci/1",
    ])
    .ok();
    let out = repo.train(&["deploy", "production"]).code(1);
    out.says("lint is failure");
    assert!(!out.stderr.contains("build is"), "{}", out.stderr);
    assert_eq!(
        repo.note("deploys", "HEAD"),
        "",
        "a refusal records nothing"
    );

    let out = repo.train(&["deploy", "production", "--force"]).code(2);
    out.says("--reason");

    let out = repo
        .train(&[
            "deploy",
            "production",
            "--force",
            "--reason",
            "hotfix INC-42",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["forced"], "hotfix INC-42");
    assert_eq!(out["state"], "success");
    assert!(repo
        .note("deploys", "HEAD")
        .contains(r#""forced":"hotfix INC-42""#));
    let h = repo.train(&["history"]).ok().stdout;
    assert!(h.contains("forced: hotfix INC-42"), "{h}");

    // A later green status on the same context wins.
    repo.train(&["report", "success", "--commit", "HEAD", "--context", "lint"])
        .ok();
    repo.train(&["deploy", "production", "--yes"]).ok();
}

#[test]
fn rollback_is_marked_and_moves_the_index_back() {
    let w = World::new();
    let repo = w.repo("r", 3);
    for rev in ["HEAD~1", "HEAD"] {
        repo.ci_pass(rev);
        repo.train(&["deploy", "production", rev]).ok();
    }
    assert_eq!(repo.rev("refs/train/deployed/production"), repo.rev("HEAD"));
    let out = repo
        .train(&["rollback", "production", "--json"])
        .ok()
        .json();
    assert_eq!(out["rollback"], true);
    assert_eq!(out["sha"], repo.rev("HEAD~1"));
    assert_eq!(out["from"], repo.rev("HEAD"));
    assert_eq!(
        repo.rev("refs/train/deployed/production"),
        repo.rev("HEAD~1")
    );
    let note = repo.note("deploys", "HEAD~1");
    assert!(note.contains(r#""rollback":true"#), "{note}");
    let h = repo.train(&["history", "production", "--json"]).ok().json();
    assert_eq!(h["deployments"][0]["rollback"], true);
    assert_eq!(h["deployments"][1]["rollback"], false);

    // Deploying an ancestor directly is a rollback too.
    repo.ci_pass("HEAD~2");
    let out = repo
        .train(&["deploy", "production", "HEAD~2", "--json"])
        .ok()
        .json();
    assert_eq!(out["rollback"], true);

    // --to must be older than what runs.
    let out = repo
        .train(&["rollback", "production", "--to", "HEAD"])
        .code(2);
    out.says("not older");
    // Nothing older than the first commit.
    let fresh = w.repo("fresh", 1);
    fresh.train(&["rollback", "production"]).code(1);
}

#[test]
fn ten_concurrent_deploys_keep_every_event() {
    // One deployment per environment at a time: they queue (issue 14).
    let w = World::new();
    let repo = w.repo("r", 10);
    repo.config_without_ci("");
    let children: Vec<_> = (0..10)
        .map(|i| {
            let env = if i % 2 == 0 { "staging" } else { "production" };
            repo.cmd(common::BIN)
                .args([
                    "deploy",
                    env,
                    &format!("HEAD~{i}"),
                    "--yes",
                    "-q",
                    "--queue",
                    "--new-env",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lines = repo.all_lines();
    assert_eq!(
        lines.len(),
        30,
        "queued, in_progress and success of ten deployments"
    );
    for state in ["queued", "in_progress", "success"] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!(" {state} ")))
                .count(),
            10
        );
    }
    let h = repo.train(&["history", "-n", "100", "--json"]).ok().json();
    assert_eq!(h["deployments"].as_array().unwrap().len(), 10);
}

#[test]
fn notes_use_fanout_and_git_merges_them_as_we_read_them() {
    let w = World::new();
    let (_, clones) = w.origin_and_clones(2, 3);
    let (a, b) = (&clones[0], &clones[1]);
    for r in [a, b] {
        r.train(&["init"]).ok();
        r.config_without_ci("");
    }
    a.train(&["deploy", "staging", "HEAD~1"]).ok();
    a.train(&["deploy", "staging", "HEAD"]).ok();
    b.train(&["deploy", "staging", "HEAD"]).ok();
    b.train(&["deploy", "production", "HEAD", "--new-env"]).ok();

    let tree = a.git(&["ls-tree", "-r", "--name-only", "refs/notes/deploys"]);
    for path in tree.lines() {
        let (dir, rest) = path.split_once('/').expect("2/38 fan-out");
        assert_eq!((dir.len(), rest.len()), (2, 38), "{path}");
    }

    // Merge b's notes into a with git itself.
    b.git(&[
        "push",
        "-q",
        "origin",
        "refs/notes/deploys:refs/notes/deploys",
    ]);
    a.git(&[
        "fetch",
        "-q",
        "origin",
        "refs/notes/deploys:refs/notes/theirs",
    ]);
    let before: Vec<String> = a.all_lines();
    a.git(&[
        "notes",
        "--ref",
        "deploys",
        "merge",
        "-q",
        "-s",
        "cat_sort_uniq",
        "refs/notes/theirs",
    ]);
    let merged = a.all_lines();
    let mut expected: Vec<String> = before.into_iter().chain(b.all_lines()).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(merged, expected);

    // git-train reads the merged ledger: every deployment of both clones.
    let h = a.train(&["history", "--json"]).ok().json();
    assert_eq!(h["deployments"].as_array().unwrap().len(), 4);
    let tip_note = a.note("deploys", "HEAD");
    let mut sorted: Vec<&str> = tip_note.lines().collect();
    sorted.sort();
    assert_eq!(
        tip_note.lines().collect::<Vec<_>>(),
        sorted,
        "notes stay sorted as cat_sort_uniq keeps them"
    );
    // A write after git's merge keeps its lines.
    a.train(&["deploy", "production", "HEAD"]).ok();
    assert_eq!(a.all_lines().len(), merged.len() + 3);
}

#[test]
fn a_corrupt_line_is_skipped_with_a_warning_and_kept() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~1"]).ok();
    let mut note = repo.note("deploys", "HEAD~1");
    note.push_str("this line is not an event\n");
    note.push_str(
        "2026-11-25T10:15:02.114Z staging success bob {\"dep\":\"X1\",\"v\":1,\"new_key\":[1]}\n",
    );
    repo.set_note("HEAD~1", note.as_bytes());

    let out = repo.train(&["history", "--json"]).ok();
    out.says("warning: skipped a ledger line");
    out.says("this line is not an event");
    assert_eq!(
        out.json()["deployments"].as_array().unwrap().len(),
        2,
        "the line with an unknown key counts"
    );

    repo.train(&["deploy", "staging", "HEAD~1"]).ok();
    let after = repo.note("deploys", "HEAD~1");
    assert!(after.contains("this line is not an event\n"), "{after}");
    assert!(after.contains("\"new_key\":[1]"), "{after}");
    // git's own notes add wrote a flat tree; our write moved that note to 2/38.
    let tree = repo.git(&["ls-tree", "-r", "--name-only", "refs/notes/deploys"]);
    assert!(
        tree.lines()
            .all(|p| p.len() == 41 && p.as_bytes()[2] == b'/'),
        "{tree}"
    );
}

#[test]
fn after_environment_must_run_the_commit_first() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("[env.staging]\n[env.production]\nafter = \"staging\"\n");
    let out = repo.train(&["deploy", "production"]).code(1);
    out.says("staging does not run");
    out.says("git train deploy staging");
    repo.train(&["deploy", "staging"]).ok();
    repo.train(&["deploy", "production"]).ok();
    // An older commit is in staging too (staging runs a descendant).
    repo.train(&["deploy", "production", "HEAD~1"]).ok();
    // Unknown environment when the team lists them.
    let out = repo.train(&["deploy", "prod"]).code(2);
    out.says("unknown environment 'prod'");
    assert!(
        out.stderr
            .contains("known environments: production, staging"),
        "{}",
        out.stderr
    );
}

#[test]
fn run_command_gets_the_deployment_and_its_exit_status_decides() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.write(
        "deploy.sh",
        "#!/bin/sh\necho \"deploying $GIT_TRAIN_SHA to $GIT_TRAIN_ENV as $GIT_TRAIN_DEPLOYMENT\"\n[ -e fail ] && { echo boom >&2; exit 3; }\nexit 0\n",
    );
    repo.git(&["update-index", "--add", "--chmod=+x", "deploy.sh"]);
    std::fs::set_permissions(
        repo.dir.join("deploy.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    repo.config_without_ci("[env.staging]\nrun = \"./deploy.sh\"\n");
    let out = repo.train(&["deploy", "staging", "--json"]).ok().json();
    let dep = out["dep"].as_str().unwrap().to_string();
    let log = std::fs::read_to_string(out["log"].as_str().unwrap()).unwrap();
    assert_eq!(
        log,
        format!("deploying {} to staging as {dep}\n", repo.rev("HEAD"))
    );
    assert!(out["log"].as_str().unwrap().contains(".git/train/logs/"));

    repo.write("fail", "");
    let out = repo.train(&["deploy", "staging", "HEAD~1"]).code(1);
    assert!(out.stdout.contains("ended in failure"), "{}", out.stdout);
    assert!(
        out.stderr.contains("boom"),
        "the log tail is shown: {}",
        out.stderr
    );
    let note = repo.note("deploys", "HEAD~1");
    assert!(note.contains(" staging failure "), "{note}");
    assert!(note.contains("exited with status 3"), "{note}");
    assert_eq!(
        repo.rev("refs/train/deployed/staging"),
        repo.rev("HEAD"),
        "a failure does not move the index"
    );

    // A missing program is a configuration error and records nothing.
    repo.config_without_ci("[env.staging]\nrun = \"./nope.sh staging\"\n");
    let before = repo.all_lines();
    let out = repo.train(&["deploy", "staging"]).code(2);
    out.says("'./nope.sh' is missing");
    assert_eq!(repo.all_lines(), before);
}

#[test]
fn no_wait_returns_and_the_background_run_records_the_end() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\nrun = \"sleep 1\"\n");
    let out = repo
        .train(&["deploy", "staging", "--no-wait", "--json"])
        .ok()
        .json();
    assert_eq!(out["waited"], false);
    common::eventually(
        "the background run's end",
        std::time::Duration::from_secs(20),
        || repo.note("deploys", "HEAD").contains(" staging success "),
    );
}

#[test]
fn ctrl_c_during_a_run_ends_the_deployment_as_error() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\nrun = \"sleep 30\"\n");
    let child = repo
        .cmd(common::BIN)
        .args(["deploy", "staging"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&repo, " staging in_progress ");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let note = repo.note("deploys", "HEAD");
    assert!(note.contains(" staging error "), "{note}");
    assert!(note.contains("interrupted"), "{note}");
}

#[test]
fn a_killed_deploy_is_marked_error_by_the_next_command() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\nrun = \"sleep 30\"\n");
    let mut child = repo
        .cmd(common::BIN)
        .args(["deploy", "staging"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&repo, " staging in_progress ");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = repo.train(&["status"]).ok();
    out.says("marked it `error`");
    assert!(repo.note("deploys", "HEAD").contains(" staging error "));
    let h = repo.train(&["history", "--json"]).ok().json();
    assert_eq!(h["deployments"][0]["state"], "error");
}

fn wait_for(repo: &common::Repo, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !repo.note("deploys", "HEAD").contains(text) {
        assert!(std::time::Instant::now() < deadline, "never saw {text}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_index_is_rebuilt_when_missing_or_stale() {
    let w = World::new();
    let repo = w.repo("r", 3);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~2"]).ok();
    let dep = repo
        .train(&["deploy", "staging", "HEAD~1", "--json"])
        .ok()
        .json()["dep"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~1"));

    // Deleted cache and deleted refs come back.
    std::fs::remove_dir_all(repo.dir.join(".git/train")).unwrap();
    repo.git(&["update-ref", "-d", "refs/train/deployed/staging"]);
    repo.train(&["status"]).ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~1"));
    repo.git(&["update-ref", "refs/train/deployed/staging", "HEAD"]);
    repo.train(&["status"]).ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~1"));

    // Notes written by another tool are picked up from the diff (dated after the
    // deploys above, and not beyond the clock).
    let soon = git_train::clock::Clock::system().now().plus_millis(1000);
    let line = format!("{soon} staging success bob@example.com {{\"dep\":\"OTHER1\",\"v\":1}}");
    repo.git(&[
        "notes",
        "--ref",
        "deploys",
        "append",
        "--no-separator",
        "-m",
        &line,
        "HEAD",
    ]);
    let st = repo.train(&["status", "--json"]).ok().json();
    assert_eq!(st["environments"][0]["deployed"]["sha"], repo.rev("HEAD"));
    let line = format!(
        "{} staging inactive bob@example.com {{\"dep\":\"OTHER1\",\"v\":1}}",
        soon.plus_millis(1000)
    );
    repo.git(&[
        "notes",
        "--ref",
        "deploys",
        "append",
        "--no-separator",
        "-m",
        &line,
        "HEAD",
    ]);

    // A retraction of what runs falls back to the deployment before it.
    repo.train(&["status"]).ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~1"));
    repo.train(&["report", "inactive", "--deployment", &dep])
        .ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));
    let h = repo.train(&["history", "--json"]).ok().json();
    assert_eq!(h["deployments"].as_array().unwrap().len(), 3);
}

#[test]
fn a_new_event_on_what_runs_is_indexed_as_a_rebuild_would() {
    let w = World::new();
    let repo = w.repo("r", 3);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~1"]).ok();
    let dep = repo
        .train(&["deploy", "staging", "HEAD", "--json"])
        .ok()
        .json()["dep"]
        .as_str()
        .unwrap()
        .to_string();

    // Another success on what runs: the index catches up from the diff, without
    // reading every deployment again, and must come out as a rebuild would.
    repo.train(&[
        "report",
        "success",
        "--deployment",
        &dep,
        "--log-url",
        "https://ci.example/9",
    ])
    .ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD"));
    // The update writes the changed deployments to the index's journal; a rebuild
    // writes one file. The head (but for the journal's length) and every answer are
    // the same.
    let index = repo.dir.join(".git/train/index");
    let head = || {
        std::fs::read_to_string(index.join("head"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("journal "))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let answers = || {
        [
            repo.train(&["history", "--json", "-n", "100"]).ok().stdout,
            repo.train(&["status", "--json"]).ok().stdout,
            repo.train(&["history", "staging", "--json", "-n", "1"])
                .ok()
                .stdout,
        ]
    };
    let (before_head, before) = (head(), answers());
    std::fs::remove_dir_all(repo.dir.join(".git/train")).unwrap();
    repo.train(&["status"]).ok();
    assert!(!index.join("journal").exists());
    assert_eq!(head(), before_head);
    assert_eq!(answers(), before);

    repo.train(&["report", "success", "--deployment", "NOSUCHDEP"])
        .code(2);
}

#[test]
fn rollback_skips_ci_only_for_a_commit_that_ran_there_before() {
    let w = World::new();
    let repo = w.repo("r", 3);
    repo.ci_pass("HEAD~2");
    repo.train(&["deploy", "staging", "HEAD~2"]).ok();
    repo.ci_pass("HEAD");
    repo.train(&["deploy", "staging", "HEAD"]).ok();
    repo.train(&[
        "report",
        "failure",
        "--commit",
        "HEAD~1",
        "--context",
        "build",
    ])
    .ok();
    let out = repo
        .train(&["rollback", "staging", "--to", "HEAD~1"])
        .code(1);
    out.says("build is failure");
    // HEAD~2 ran here before: back to it without waiting for CI, even if CI is red now.
    repo.train(&[
        "report",
        "failure",
        "--commit",
        "HEAD~2",
        "--context",
        "build",
    ])
    .ok();
    repo.train(&["rollback", "staging", "--to", "HEAD~2"]).ok();
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));
    // An id with a space is not an id.
    let out = repo
        .train(&["report", "success", "--deployment", "X staging"])
        .code(2);
    out.says("not a deployment id");
}

#[test]
fn a_note_in_another_encoding_keeps_every_byte() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("");
    let mut note = b"legacy \xff\xfe line from another tool\n".to_vec();
    note.extend_from_slice(
        b"2020-01-01T00:00:00.000Z staging success bob {\"dep\":\"L1\",\"v\":1}\n",
    );
    repo.set_note("HEAD", &note);
    repo.train(&["deploy", "staging", "HEAD"]).ok();
    let blob = repo.git(&["notes", "--ref", "deploys", "list", "HEAD"]);
    let out = repo
        .cmd("git")
        .args(["cat-file", "blob", blob.trim()])
        .output()
        .unwrap();
    assert!(
        out.stdout.windows(9).any(|w| w == b"legacy \xff\xfe"),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        5
    );
}
