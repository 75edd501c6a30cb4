//! What a person reads, pinned: the human output of each command at 80 and at 120
//! columns, with CJK and emoji subjects and authors, on a fixed clock
//! (`GIT_TRAIN_NOW`). `INSTA_UPDATE=always cargo test --test snapshots` rewrites
//! tests/snapshots/ after a deliberate change; review the diff before committing.
mod common;

use common::{Repo, Run, World, BIN};

/// Each command's clock: deployments a few minutes apart, read an hour later.
const T: [&str; 6] = [
    "2026-11-20T10:05:00Z",
    "2026-11-20T10:20:00Z",
    "2026-11-20T11:00:00Z",
    "2026-11-20T11:30:00Z",
    "2026-11-20T12:00:00Z",
    "2026-11-20T13:00:00Z",
];
const READ: &str = "2026-11-20T14:00:00Z";

/// A team's repository: subjects in English, Korean and with emoji, a Korean
/// author, staging and production (after staging), a few deployments and a lock.
fn scene(w: &World) -> Repo<'_> {
    let repo = w.repo("api", 1);
    repo.config_without_ci("[env.staging]\n[env.production]\nafter = \"staging\"\nurl = \"https://grafana.example/d/api\"\n",
    );
    repo.commit_as(
        "Alice Kim <alice@example.com>",
        "Add retries to the payment client (#128)",
    );
    repo.commit_as(
        "김민준 <minjun@example.com>",
        "배포 파이프라인에 재시도 로직을 추가하고 타임아웃을 조정합니다 (#129)",
    );
    repo.train_at(T[0], &["deploy", "staging", "--yes"]).ok();
    repo.train_at(T[1], &["deploy", "production", "--yes"]).ok();
    repo.commit_as(
        "Bob Lee <bob@example.com>",
        "🚀 Ship the release notes generator with emoji support (#130)",
    );
    repo.commit_as("Alice Kim <alice@example.com>", "Fix typo (#131)");
    repo.train_at(T[2], &["deploy", "staging", "--yes"]).ok();
    repo.train_at(
        T[3],
        &[
            "lock",
            "production",
            "--reason",
            "release freeze for the 배포 review",
            "--for",
            "8h",
        ],
    )
    .ok();
    repo
}

/// git-train at a fixed clock and width; stdout then stderr, ids and paths redacted.
fn shown(repo: &Repo, now: &str, columns: usize, args: &[&str]) -> String {
    let out = Run::of(
        repo.cmd(BIN)
            .env("GIT_TRAIN_NOW", now)
            .env("COLUMNS", columns.to_string())
            .args(args)
            .output()
            .unwrap(),
    );
    let shown_args: Vec<String> = args
        .iter()
        .map(|a| match a.len() {
            0..=40 => a.to_string(),
            n => format!("{}...({n} characters)", &a[..10]),
        })
        .collect();
    let mut text = format!(
        "$ git train {}   # exit {}\n",
        shown_args.join(" "),
        out.code
    );
    text.push_str(&out.stdout);
    if !out.stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&out.stderr);
    }
    // Every human line fits; JSON (for scripts) is not cut.
    for line in text.lines().skip(1).filter(|l| !l.starts_with('{')) {
        let w = unicode_width(line);
        assert!(w <= columns, "{w} columns > {columns}: {line}");
    }
    text.replace(&repo.world.root.path().display().to_string(), "[ROOT]")
}

/// Display width as a terminal counts it (CJK and emoji: two columns).
fn unicode_width(line: &str) -> usize {
    line.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x1F300..=0x1F64F
            | 0x1F900..=0x1F9FF => 2,
            _ => 1,
        })
        .sum()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", "[DEP]");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn status_history_locks_and_stats_at_80_and_120_columns() {
    let w = World::new();
    let repo = scene(&w);
    let _guard = settings().bind_to_scope();
    for cols in [80, 120] {
        let mut all = String::new();
        for args in [
            &["status"][..],
            &["status", "--env", "production"],
            &["history"],
            &["locks"],
            &["stats", "--env", "staging", "--since", "30d"],
        ] {
            all.push_str(&shown(&repo, READ, cols, args));
            all.push('\n');
        }
        insta::assert_snapshot!(format!("read_commands_{cols}"), all);
    }
}

#[test]
fn deploy_plan_outcome_rollback_and_refusals_at_80_and_120_columns() {
    for cols in [80, 120] {
        let w = World::new();
        let repo = scene(&w);
        let _guard = settings().bind_to_scope();
        let mut all = String::new();
        for (now, args) in [
            (T[4], &["deploy", "production", "--yes"][..]),
            (T[4], &["env", "retire", "staging"]),
            (T[4], &["lock", "production", "--for", "1d"]),
            (
                T[4],
                &[
                    "unlock",
                    "production",
                    "--force",
                    "--reason",
                    "done reviewing",
                ],
            ),
            (T[4], &["deploy", "production", "--yes"]),
            (T[5], &["rollback", "production", "--yes"]),
            (T[5], &["deploy", "stagign", "--yes"]),
            (T[5], &["deploy", &"x".repeat(10_000), "--yes"]),
            (T[5], &["history", "nowhere"]),
            (
                T[5],
                &[
                    "deploy",
                    "production",
                    "--json",
                    "--yes",
                    "--offline",
                    "HEAD~9",
                ],
            ),
        ] {
            all.push_str(&shown(&repo, now, cols, args));
            all.push('\n');
        }
        insta::assert_snapshot!(format!("deploy_and_refusals_{cols}"), all);
    }
}

#[test]
fn daemon_status_at_80_columns() {
    let w = World::new();
    let repo = scene(&w);
    let _guard = settings().bind_to_scope();
    repo.train(&["watch"]).ok();
    let mut all = shown(&repo, T[5], 80, &["daemon", "status"]);
    all.push('\n');
    // One round, on the fixed clock, by a daemon that has ended since.
    let out = Run::of(
        repo.cmd(BIN)
            .env("GIT_TRAIN_NOW", T[5])
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .args(["daemon", "--once"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    all.push_str(&shown(&repo, READ, 80, &["daemon", "status"]));
    insta::assert_snapshot!("daemon_status_80", all);
}
