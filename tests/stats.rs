//! `git train stats` (issue 9): every number on a repository whose commits,
//! deployments and failures happened at known instants, and the failure rate on
//! the benchmark generator's repository.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{Repo, Run, World, BIN};
use serde_json::Value;

const CONFIG: &str = r#"[checks]
require = false

[env.staging]

[env.production]
production = true
require_checks = true
run = "test -z \"$FAIL\""
"#;

/// Commits with the committer (and author) date `at`.
fn commit_at(repo: &Repo, message: &str, at: &str) -> String {
    let file = repo.dir.join("file.txt");
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str(message);
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    repo.git(&["add", "file.txt"]);
    let out = repo
        .cmd("git")
        .args(["commit", "-q", "-m", message])
        .env("GIT_AUTHOR_DATE", at)
        .env("GIT_COMMITTER_DATE", at)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.rev("HEAD")
}

/// Runs git-train with its clock at `now`.
fn train_at(repo: &Repo, now: &str, args: &[&str]) -> Run {
    train_with(repo, now, &[], args)
}

fn train_with(repo: &Repo, now: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = repo.cmd(BIN);
    cmd.env("GIT_TRAIN_NOW", now)
        .envs(env.iter().copied())
        .args(args);
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const H: f64 = 3600.0;

/// Production, by the hour (the window is 2026-11-01 to 2026-11-15):
///
/// | deployment | commit | started = ended    | outcome                        |
/// |------------|--------|--------------------|--------------------------------|
/// | D0         | c1     | 10-31 12:00        | success (before the window)    |
/// | D1         | c3     | 11-02 12:00        | success, brings c2 c3          |
/// | D2         | c4     | 11-03 10:00        | failure (run exits 1)          |
/// | D3         | c5     | 11-04 12:00        | success, brings c4 c5          |
/// | D4         | c6     | 11-05 14:00        | success, brings c6             |
/// | R1         | c5     | 11-05 15:00        | rollback, replaces D4          |
/// | D5         | c7     | 11-06 10:00        | success, brings c7             |
/// | D6         | c8     | 11-08 12:00        | forced (no CI), replaces D5    |
/// | D7         | c9     | 11-10 10:00        | success, reported failure 11:00|
/// | D8         | c9     | 11-16 10:00        | success (after the window)     |
///
/// and one staging deployment that production's numbers must not see.
fn known_history(w: &World) -> Repo<'_> {
    let repo = w.repo("r", 0);
    repo.write(".train.toml", CONFIG);
    let c1 = commit_at(&repo, "c1", "2026-10-30T10:00:00Z");
    commit_at(&repo, "c2", "2026-11-02T09:00:00Z");
    let c3 = commit_at(&repo, "c3", "2026-11-02T11:30:00Z");
    let c4 = commit_at(&repo, "c4", "2026-11-03T08:00:00Z");
    let c5 = commit_at(&repo, "c5", "2026-11-04T10:00:00Z");
    let c6 = commit_at(&repo, "c6", "2026-11-05T12:00:00Z");
    let c7 = commit_at(&repo, "c7", "2026-11-06T09:00:00Z");
    let c8 = commit_at(&repo, "c8", "2026-11-08T10:00:00Z");
    let c9 = commit_at(&repo, "c9", "2026-11-09T10:00:00Z");
    for c in [&c1, &c3, &c4, &c5, &c6, &c7, &c9] {
        repo.ci_pass(c);
    }
    let deploy = |now: &str, rev: &str| train_at(&repo, now, &["deploy", "production", rev]);
    deploy("2026-10-31T12:00:00Z", &c1).ok();
    deploy("2026-11-02T12:00:00Z", &c3).ok();
    train_at(&repo, "2026-11-02T13:00:00Z", &["deploy", "staging", &c3]).ok();
    train_with(
        &repo,
        "2026-11-03T10:00:00Z",
        &[("FAIL", "1")],
        &["deploy", "production", &c4],
    )
    .code(1);
    deploy("2026-11-04T12:00:00Z", &c5).ok();
    deploy("2026-11-05T14:00:00Z", &c6).ok();
    let rb = train_at(&repo, "2026-11-05T15:00:00Z", &["rollback", "production"]).ok();
    assert!(
        rb.stdout.contains("Rolling production back"),
        "{}",
        rb.stdout
    );
    deploy("2026-11-06T10:00:00Z", &c7).ok();
    // c8 has no CI status: refused, then forced.
    deploy("2026-11-08T12:00:00Z", &c8).code(1);
    train_at(
        &repo,
        "2026-11-08T12:00:00Z",
        &["deploy", "production", &c8, "--force", "--reason", "hotfix"],
    )
    .ok();
    let d7 = train_at(
        &repo,
        "2026-11-10T10:00:00Z",
        &["deploy", "production", &c9, "--json"],
    )
    .ok()
    .json();
    let d7 = d7["dep"].as_str().unwrap().to_string();
    train_at(
        &repo,
        "2026-11-10T11:00:00Z",
        &["report", "failure", "--deployment", &d7],
    )
    .ok();
    deploy("2026-11-16T10:00:00Z", &c9).ok();
    repo
}

const WINDOW: [&str; 4] = ["--since", "2026-11-01", "--until", "2026-11-15"];

fn stats_json(repo: &Repo, extra: &[&str]) -> Value {
    let mut args = vec!["stats", "--json"];
    args.extend_from_slice(extra);
    train_at(repo, "2026-11-20T00:00:00Z", &args).ok().json()
}

#[test]
fn every_number_matches_the_hand_computed_value() {
    let w = World::new();
    let repo = known_history(&w);
    let j = stats_json(&repo, &WINDOW);

    assert_eq!(j["version"], 1);
    assert_eq!(j["env"], "production");
    assert_eq!(j["window"]["since"], "2026-11-01T00:00:00.000Z");
    assert_eq!(j["window"]["until"], "2026-11-15T00:00:00.000Z");
    assert_eq!(j["window"]["days"], 14.0);

    // D1 D2 D3 D4 R1 D5 D6 D7 started in the window; D2 failed, D7 was reported failed.
    let d = &j["deployments"];
    assert_eq!(d["total"], 8);
    assert_eq!(d["succeeded"], 6);
    assert_eq!(d["failed"], 2);
    assert_eq!(d["unfinished"], 0);
    assert_eq!(d["rollbacks"], 1);
    assert_eq!(d["forced"], 1);

    // 6 successes in 14 days, on 11-02, 11-04, 11-05 (two), 11-06 and 11-08; the
    // weeks are [11-01, 11-08) and [11-08, 11-15).
    let f = &j["frequency"];
    assert_eq!(f["successful"], 6);
    assert_eq!(f["per_day"].as_f64().unwrap(), 6.0 / 14.0);
    assert_eq!(f["per_week"], 3.0);
    assert_eq!(f["deploy_days"], 5);
    assert_eq!(f["days"], 14);
    assert_eq!(f["weekly"], serde_json::json!([5, 1]));

    // c2 3h and c3 30m (D1); c4 28h and c5 2h (D3: D2 failed, so from c3); c6 2h
    // (D4); c7 1h (D5: from c6, the rollback brings nothing); c8 2h (D6). c9 first
    // succeeded after the window. Sorted: 0.5 1 2 2 2 3 28 hours.
    let lt = &j["lead_time"];
    assert_eq!(lt["commits"], 7);
    assert_eq!(lt["median_s"], 2.0 * H);
    assert_eq!(lt["p90_s"], 28.0 * H);
    assert_eq!(lt["max_s"], 28.0 * H);

    // D2 and D7 failed, D4 was rolled back, D5 was replaced by the forced D6: 4 of 8.
    let cfr = &j["change_failure_rate"];
    assert_eq!(cfr["failed_changes"], 4);
    assert_eq!(cfr["deployments"], 8);
    assert_eq!(cfr["rate"], 0.5);

    // D2 (failed 11-03 10:00) to D3 (11-04 12:00): 26h; D4 (11-05 14:00) to the
    // rollback (15:00): 1h; D7 (failed 11-10 11:00) to D8 (11-16 10:00): 143h.
    let ttr = &j["time_to_restore"];
    assert_eq!(ttr["restored"], 3);
    assert_eq!(ttr["unrestored"], 0);
    assert_eq!(ttr["median_s"], 26.0 * H);

    // D1 2, D3 2, D4 1, D5 1, D6 1 commits (D0 is the first: no known train).
    let tr = &j["train"];
    assert_eq!(tr["deployments"], 5);
    assert_eq!(tr["median"], 1.0);
    assert_eq!(tr["max"], 2);

    for key in [
        "window",
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "time_to_restore",
        "train",
        "median",
        "p90",
    ] {
        assert!(j["definitions"][key].is_string(), "definitions.{key}");
    }

    let mut args = vec!["stats"];
    args.extend_from_slice(&WINDOW);
    let text = train_at(&repo, "2026-11-20T00:00:00Z", &args).ok().stdout;
    assert_eq!(
        text,
        "\
production from 2026-11-01 00:00Z to 2026-11-15 00:00Z (14 days)

  deployment frequency   0.43 a day, 3.0 a week; deployed on 5 of 14 days
  lead time for changes  median 2h, p90 1d 4h (7 commits)
  change failure rate    50.0% (4 of 8 deployments)
  time to restore        median 1d 2h (3 restored)
  train                  median 1, max 2 commits (5 deployments)
  deployments per week   █▂  2 weeks, oldest first
"
    );
}

#[test]
fn the_window_and_the_environment_choose_what_counts() {
    let w = World::new();
    let repo = known_history(&w);

    // Staging: one deployment, the first there, so no train.
    let j = stats_json(&repo, &["--env", "staging", "--since", "2026-11-01"]);
    assert_eq!(j["env"], "staging");
    assert_eq!(j["deployments"]["total"], 1);
    assert_eq!(j["train"]["deployments"], 0);
    assert_eq!(j["lead_time"]["median_s"], Value::Null);

    // The default window is the 90 days before now; from 11-06 on, D5's base (c6)
    // is found before the window, and D5 is still blamed on D6.
    let j = stats_json(&repo, &["--since", "2026-11-06"]);
    assert_eq!(j["window"]["until"], "2026-11-20T00:00:00.000Z");
    assert_eq!(j["deployments"]["total"], 4);
    assert_eq!(j["lead_time"]["commits"], 3);
    assert_eq!(j["change_failure_rate"]["failed_changes"], 2);
    let j = stats_json(&repo, &[]);
    assert_eq!(j["window"]["since"], "2026-08-22T00:00:00.000Z");
    assert_eq!(j["deployments"]["total"], 10);
    // A duration counts back from now: 14 days before 11-20.
    let j = stats_json(&repo, &["--since", "14d", "--until", "2026-11-15"]);
    assert_eq!(j["window"]["since"], "2026-11-06T00:00:00.000Z");
}

#[test]
fn bad_input_is_a_usage_error_with_a_hint() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.write(".train.toml", CONFIG);
    for args in [
        &["stats", "--since", "yesterdayish"][..],
        &["stats", "--until", "soon"],
        &["stats", "--since", "2026-11-10", "--until", "2026-11-01"],
        &["stats", "--env", "prod"],
        &["stats", "--env", "bad name"],
    ] {
        let out = train_at(&repo, "2026-11-20T00:00:00Z", args).code(2);
        assert!(out.stderr.contains("error:"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("hint:"), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }

    // Without [env.*] in the config, an environment is known by its deployments.
    let bare = w.repo("bare", 1);
    bare.config_without_ci("");
    train_at(&bare, "2026-11-20T00:00:00Z", &["deploy", "staging"]).ok();
    let out = train_at(
        &bare,
        "2026-11-20T00:00:00Z",
        &["stats", "--env", "stagign"],
    )
    .code(2);
    out.says("environments in the ledger: staging");
    // The default environment with no deployments is all zeros, not an error.
    let j = train_at(&bare, "2026-11-20T00:00:00Z", &["stats", "--json"])
        .ok()
        .json();
    assert_eq!(j["env"], "production");
    assert_eq!(j["deployments"]["total"], 0);
    assert_eq!(j["change_failure_rate"]["rate"], Value::Null);
}

/// Every event line of the deploy ledger, read with one `git cat-file --batch`.
fn ledger_lines(repo: &Repo) -> Vec<String> {
    let list = repo.git(&["notes", "--ref", "deploys", "list"]);
    let blobs: String = list
        .lines()
        .map(|row| format!("{}\n", row.split_whitespace().next().unwrap()))
        .collect();
    let mut child = repo
        .cmd("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(blobs.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.len() > 24 && l.as_bytes()[10] == b'T' && l.contains(" {\"dep\""))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_benchmark_repository_fails_about_five_percent_of_its_changes() {
    let w = World::new();
    // A copy of the benchmark generator in ../shared/bench, kept with the tests so a
    // clean checkout runs them.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/make-repo.py");
    assert!(std::path::Path::new(script).exists(), "{script} is missing");
    let dir = w.path("bench");
    let mut cmd = Command::new("python3");
    w.env(&mut cmd);
    let out = cmd
        .arg(script)
        .arg(&dir)
        .args(["--commits", "3000", "--deploy-last", "3000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = Repo { dir, world: &w };
    let j = train_at(
        &repo,
        "2026-11-25T00:00:00Z",
        &["stats", "--since", "2020-01-01", "--json"],
    )
    .ok()
    .json();

    // What the generator wrote: every 5th of 3000 commits goes to production, 600
    // deployments, each failing with probability 0.05 and then rolled back (a
    // successful rollback deployment) unless production never succeeded before.
    let production: Vec<String> = ledger_lines(&repo)
        .into_iter()
        .filter(|l| l.split(' ').nth(1) == Some("production"))
        .collect();
    let count = |state: &str| {
        production
            .iter()
            .filter(|l| l.split(' ').nth(2) == Some(state))
            .count()
    };
    let failures = count("failure");
    let rollbacks = production
        .iter()
        .filter(|l| l.contains("\"rollback\":true") && l.split(' ').nth(2) == Some("queued"))
        .count();
    assert_eq!(count("queued"), 600 + rollbacks);
    assert!(rollbacks == failures || rollbacks + 1 == failures);

    let cfr = &j["change_failure_rate"];
    assert_eq!(cfr["failed_changes"], failures);
    assert_eq!(cfr["deployments"], 600 + rollbacks);
    // Rollbacks are deployments too, so the expected rate is 0.05 * 600 / (600 + 30)
    // = 4.76%. The failures are Binomial(600, 0.05) (sd 5.3): three standard
    // deviations put the rate within 2.5 points of it.
    let rate = cfr["rate"].as_f64().unwrap();
    let expected = 0.05 / 1.05;
    let tolerance = 3.0 * (0.05f64 * 0.95 / 600.0).sqrt() / 1.05;
    assert!(
        (rate - expected).abs() <= tolerance,
        "rate {rate:.4} is not within {tolerance:.4} of {expected:.4}"
    );

    // Each rolled-back failure ends 120 s after its start and its rollback succeeds
    // 390 s after it: restored in 270 s. A train is 5 commits (10 after a failure).
    assert_eq!(j["time_to_restore"]["median_s"], 270.0);
    assert_eq!(j["train"]["median"], 5.0);
    assert_eq!(j["deployments"]["succeeded"], 600 - failures + rollbacks);
}
