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
    assert!(out.stderr.contains("--force --reason"), "{}", out.stderr);
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
    repo.write(
        ".train.toml",
        "[checks]\nrequire = false\n[env.staging]\n[env.production]\n[[freeze]]\nenvironments = [\"production\", \"staging\"]\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\nreason = \"holiday freeze\"\n",
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
