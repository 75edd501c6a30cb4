//! Many services from one place: `-R NAME`, `status --all`, `history --all`,
//! `sync --all` over the daemon's watch list.
mod common;

use common::{Run, World, BIN};

fn train_in(w: &World, dir: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(BIN);
    w.env(&mut cmd);
    Run::of(cmd.current_dir(dir).args(args).output().unwrap())
}

#[test]
fn status_all_history_all_and_r_across_the_watch_list() {
    let w = World::new();
    let api = w.repo("api", 2);
    api.config_without_ci("[env.staging]\nrun = \"exit 3\"\n");
    api.train(&["deploy", "staging", "--yes"]).code(1);
    // And a freeze window holds it now.
    api.config_without_ci(
        "[env.staging]\nrun = \"exit 3\"\n[[freeze]]\nenvironments = [\"staging\"]\nfrom = \"2026-01-01T00:00\"\nto = \"2099-01-01T00:00\"\nreason = \"audit\"\n",
    );
    let web = w.repo("web", 2);
    web.config_without_ci("[env.production]\n");
    web.train(&["deploy", "production", "HEAD~1", "--yes"]).ok();
    web.train(&["lock", "production", "--reason", "incident"])
        .ok();
    let gone = w.repo("gone", 1);
    for r in [&api, &web, &gone] {
        r.train(&["watch"]).ok();
    }
    std::fs::remove_dir_all(&gone.dir).unwrap();

    let elsewhere = w.path("home");
    let out = train_in(&w, &elsewhere, &["status", "--all"]).ok();
    let text = &out.stdout;
    assert!(text.contains("api"), "{text}");
    assert!(
        text.contains("last deployment") && text.contains("failure"),
        "{text}"
    );
    assert!(text.contains("exited with status 3"), "{text}");
    assert!(text.contains("frozen until 2099-01-01"), "{text}");
    assert!(text.contains("locked by alice@example.com"), "{text}");
    assert!(text.contains("1 behind"), "{text}");
    assert!(
        text.contains("gone") && text.contains("is missing"),
        "{text}"
    );
    let json = train_in(&w, &elsewhere, &["status", "--all", "--json"])
        .ok()
        .json();
    let repos = json["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 3);
    assert!(repos[2]["error"].as_str().unwrap().contains("missing"));
    assert_eq!(repos[0]["environments"][0]["failed"]["state"], "failure");

    // -R deploys into the repository named, from an unrelated folder.
    let tip = web.rev("HEAD");
    let out = train_in(&w, &elsewhere, &["-R", "web", "unlock", "production"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    train_in(
        &w,
        &elsewhere,
        &["-R", "web", "deploy", "production", "--yes"],
    )
    .ok();
    assert_eq!(web.rev("refs/train/deployed/production"), tip);
    let out = train_in(&w, &elsewhere, &["-R", "nope", "status"]).code(2);
    out.says("api, web, gone");

    let out = train_in(&w, &elsewhere, &["history", "--all"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].contains(" web ") && lines[0].contains("production"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(" api ") && out.stdout.contains("gone: not read"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_ambiguous_name_lists_both_and_sync_all_goes_on_past_a_remote_that_is_down() {
    let w = World::new();
    std::fs::create_dir_all(w.path("a")).unwrap();
    std::fs::create_dir_all(w.path("b")).unwrap();
    let one = w.repo("a/api", 1);
    let two = w.repo("b/api", 1);
    let (_, clones) = w.origin_and_clones(1, 1);
    let good = &clones[0];
    one.train(&["watch"]).ok();
    two.train(&["watch"]).ok();
    good.train(&["watch"]).ok();
    let out = train_in(&w, &w.path("home"), &["-R", "api", "status"]).code(2);
    assert!(
        out.stderr.contains(&one.dir.display().to_string())
            && out.stderr.contains(&two.dir.display().to_string()),
        "{}",
        out.stderr
    );
    // `a/api` has a remote that is down; `b/api` none; the clone a good one.
    one.git(&["remote", "add", "origin", "/nonexistent/origin.git"]);
    let out = train_in(&w, &w.path("home"), &["sync", "--all"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("✗ api"), "{}", out.stdout);
    assert!(
        lines[2].starts_with("✓ clone0: synced with origin"),
        "{}",
        out.stdout
    );
}
