//! An ordinary team day (issue 14): a bare origin and clones, deploying what is
//! meant, one deployment per environment at a time, with answers that say how fresh
//! they are.

mod common;

use common::{Repo, World};

const NOW: &str = "2026-11-20T12:00:00Z";

fn no_ci(repo: &Repo) {
    repo.config_without_ci("");
}

#[test]
fn a_stale_clone_deploys_the_remotes_tip() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 3);
    let (alice, bob) = (&clones[0], &clones[1]);
    no_ci(alice);
    no_ci(bob);
    alice.train(&["deploy", "staging", "--yes", "-q"]).ok();
    let old = alice.rev("HEAD");
    let new = alice.commit("change 4");
    alice.git(&["push", "-q", "origin", "main"]);
    // Bob has not fetched since: his origin/main is the old tip.
    assert_eq!(bob.rev("origin/main"), old);
    let run = bob.train(&["deploy", "staging", "--yes", "--json"]).ok();
    assert_eq!(run.json()["sha"], new.as_str(), "{}", run.stderr);
    assert!(!run.stderr.contains("already runs"), "{}", run.stderr);
    assert_eq!(bob.rev("origin/main"), new);
    // Offline, nothing is fetched.
    let newer = alice.commit("change 5");
    alice.git(&["push", "-q", "origin", "main"]);
    let run = bob
        .train(&["deploy", "staging", "--yes", "--json", "--offline"])
        .ok();
    assert_eq!(run.json()["sha"], new.as_str());
    assert_ne!(bob.rev("origin/main"), newer);
}

fn run_config(repo: &Repo, count: &std::path::Path) {
    repo.config_without_ci(&format!(
        "\n[env.staging]\nrun = \"echo x >> {}; sleep 4\"\n",
        count.display()
    ));
}

fn both(a: &Repo, b: &Repo, args: &[&str]) -> (common::Run, common::Run) {
    let spawn = |r: &Repo| {
        r.cmd(common::BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(a), spawn(b));
    (
        common::Run::of(ca.wait_with_output().unwrap()),
        common::Run::of(cb.wait_with_output().unwrap()),
    )
}

#[test]
fn a_ci_status_reported_in_one_clone_gates_a_deploy_in_another() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 2);
    let (ci, bob) = (&clones[0], &clones[1]);
    // CI is required (the default): without a status, bob's deploy is refused.
    let out = bob.train(&["deploy", "staging", "--yes"]).code(1);
    out.says("has no CI status");
    // The CI job reports in its own clone; report shares refs/notes/ci at once.
    let tip = ci.rev("HEAD");
    ci.train(&["report", "success", "--commit", &tip, "--context", "build"])
        .ok();
    assert!(ci
        .git(&["ls-remote", "origin", "refs/notes/ci"])
        .contains("refs/notes/ci"));
    let run = bob.train(&["deploy", "staging", "--yes", "--json"]).ok();
    assert_eq!(run.json()["sha"], tip.as_str(), "{}", run.stderr);
    // --offline records locally only, and says so.
    let next = ci.commit("change 3");
    let out = ci
        .train(&["report", "failure", "--commit", &next, "--offline"])
        .ok();
    out.says("offline");
    assert!(!ci
        .git(&["ls-remote", "origin", "refs/notes/ci"])
        .contains(&ci.git(&["rev-parse", "refs/notes/ci"]).trim().to_string()));
}

#[test]
fn two_clones_deploying_one_environment_at_once_run_it_once() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 3);
    let count = w.path("count");
    for c in &clones {
        run_config(c, &count);
    }
    let (a, b) = both(&clones[0], &clones[1], &["deploy", "staging", "--yes"]);
    let runs = std::fs::read_to_string(&count).unwrap_or_default();
    assert_eq!(runs.lines().count(), 1, "{}\n{}", a.stderr, b.stderr);
    let (winner, loser, who) = if a.code == 0 {
        (a, b, "user0@example.com")
    } else {
        (b, a, "user1@example.com")
    };
    let winner = winner.ok();
    let loser = loser.code(1);
    assert!(
        loser
            .stderr
            .contains(&format!("staging is being deployed by {who}")),
        "{}",
        loser.stderr
    );
    loser.says("--queue");
    assert!(!winner.stderr.contains("being deployed"));
    // Released at its end: the next deploy goes.
    clones[0].train(&["deploy", "staging", "--yes", "-q"]).ok();
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
}

#[test]
fn queued_deploys_run_one_after_the_other() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 3);
    let count = w.path("count");
    for c in &clones {
        run_config(c, &count);
    }
    let (a, b) = both(
        &clones[0],
        &clones[1],
        &["deploy", "staging", "--yes", "--queue"],
    );
    let (a, b) = (a.ok(), b.ok());
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 2);
    assert!(
        a.stderr.contains("waiting") || b.stderr.contains("waiting"),
        "{}\n{}",
        a.stderr,
        b.stderr
    );
}

#[test]
fn mistyped_revision_like_and_unknown_environments_are_refused() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 3);
    let c = &clones[0];
    no_ci(c);
    // With nothing known yet, a revision is still no environment.
    let run = c.train(&["deploy", "main", "--yes"]).code(2);
    run.says("git train deploy staging main");
    c.train(&["deploy", "staging", "--yes", "-q"]).ok();
    let before = c.all_lines();
    let short = c.rev("HEAD")[..7].to_string();
    for name in ["main", "HEAD", short.as_str()] {
        let run = c.train(&["deploy", name, "--yes"]).code(2);
        assert!(
            run.stderr
                .contains(&format!("did you mean `git train deploy staging {name}`?")),
            "{}",
            run.stderr
        );
    }
    let run = c.train(&["deploy", "stagign", "--yes"]).code(2);
    run.says("did you mean staging?");
    run.says("--new-env");
    assert_eq!(c.all_lines(), before, "nothing was recorded");
    let run = c.train(&["status", "--env", "stagign"]).code(2);
    run.says("unknown environment");
    c.train(&["history", "prod"]).code(2);
    c.train(&["deploy", "qa", "--new-env", "--yes", "-q"]).ok();
    c.train(&["history", "qa"]).ok();
}

#[test]
fn a_fresh_clone_says_it_has_not_synced() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 3);
    no_ci(&clones[0]);
    clones[0].train(&["deploy", "staging", "--yes", "-q"]).ok();
    let fresh = &clones[1];
    let run = fresh.train_at(NOW, &["status"]).ok();
    assert!(
        run.stdout.contains("ledger never synced: `git train sync`"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("no ledger here yet"), "{}", run.stdout);
    assert!(!run.stdout.contains("never deployed"), "{}", run.stdout);
    let run = fresh.train_at(NOW, &["history"]).ok();
    assert!(run.stdout.contains("no ledger here yet"), "{}", run.stdout);
    assert!(
        fresh.train_at(NOW, &["status", "--json"]).ok().json()["synced"]["synced_at"].is_null()
    );
    fresh.train_at(NOW, &["sync", "-q"]).ok();
    let run = fresh.train_at("2026-11-20T12:03:00Z", &["status"]).ok();
    assert!(
        run.stdout.contains("ledger synced 3m ago"),
        "{}",
        run.stdout
    );
    let json = fresh.train_at(NOW, &["status", "--json"]).ok().json();
    assert_eq!(json["synced"]["synced_at"], "2026-11-20T12:00:00.000Z");
    let run = fresh.train_at("2026-11-20T12:03:00Z", &["locks"]).ok();
    assert!(
        run.stdout.contains("ledger synced 3m ago"),
        "{}",
        run.stdout
    );
    // History shows the short id and the description.
    no_ci(fresh);
    fresh
        .train(&[
            "deploy",
            "staging",
            "HEAD~1",
            "--yes",
            "-q",
            "-m",
            "try the old one",
        ])
        .ok();
    let run = fresh.train(&["history"]).ok();
    assert!(run.stdout.contains("\"try the old one\""), "{}", run.stdout);
    let json = fresh.train(&["history", "--json"]).ok().json();
    let short = json["deployments"][0]["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        short.len() >= 8 && run.stdout.contains(&short),
        "{}",
        run.stdout
    );
    let dep = json["deployments"][0]["dep"].as_str().unwrap();
    assert!(dep.starts_with(&short));
    fresh
        .train(&["report", "success", "--deployment", &short])
        .ok();
    fresh
        .train(&["report", "success", "--deployment", "0"])
        .code(2);
}

#[test]
fn a_failed_deployment_shows_in_status() {
    let w = World::new();
    let c = w.repo("r", 2);
    c.config_without_ci("\n[env.staging]\nrun = \"exit 3\"\n");
    c.train(&["deploy", "staging", "--yes", "-q"]).code(1);
    let run = c.train(&["status"]).ok();
    assert!(
        run.stdout.contains("last deployment failure")
            && run.stdout.contains("exited with status 3"),
        "{}",
        run.stdout
    );
}

#[test]
fn git_dir_command_line_config_and_committer_decide_as_in_git() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 3);
    let c = &clones[0];
    let git_dir = c.dir.join(".git");
    // GIT_DIR and GIT_WORK_TREE, from elsewhere.
    let out = c
        .cmd(common::BIN)
        .current_dir(w.root.path())
        .env("GIT_DIR", &git_dir)
        .env("GIT_WORK_TREE", &c.dir)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let run = common::Run::of(out).ok();
    assert_eq!(run.json()["trunk"], "main");
    // git --git-dir=... train
    let out = c
        .cmd("git")
        .current_dir(w.root.path())
        .arg(format!("--git-dir={}", git_dir.display()))
        .args(["train", "status", "--json"])
        .output()
        .unwrap();
    common::Run::of(out).ok();
    // git -c user.email=... train
    let out = c
        .cmd("git")
        .args([
            "-c",
            "user.email=x@example.com",
            "train",
            "lock",
            "production",
        ])
        .output()
        .unwrap();
    common::Run::of(out).ok();
    let locks = c.train(&["locks", "--json"]).ok().json();
    assert_eq!(locks["locks"][0]["by"], "x@example.com");
    // GIT_COMMITTER_EMAIL comes first.
    let out = c
        .cmd(common::BIN)
        .env("GIT_COMMITTER_EMAIL", "c@example.com")
        .args(["lock", "staging"])
        .output()
        .unwrap();
    common::Run::of(out).ok();
    let locks = c.train(&["locks", "--json"]).ok().json();
    let by: Vec<&str> = locks["locks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["by"].as_str().unwrap())
        .collect();
    assert!(by.contains(&"c@example.com"), "{by:?}");
}

#[test]
fn repositories_libgit2_cannot_open_are_exit_2_naming_the_format() {
    let w = World::new();
    let dir = w.path("rt");
    std::fs::create_dir_all(&dir).unwrap();
    let r = Repo { dir, world: &w };
    let mut init = r.cmd("git");
    if !init
        .args(["init", "-q", "--ref-format=reftable"])
        .status()
        .unwrap()
        .success()
    {
        return; // this git predates reftable
    }
    let run = r.train(&["status"]).code(2);
    run.says("reftable");
    let dir = w.path("sha");
    std::fs::create_dir_all(&dir).unwrap();
    let r = Repo { dir, world: &w };
    r.git(&["init", "-q", "--object-format=sha256"]);
    let run = r.train(&["status"]).code(2);
    run.says("SHA-256");
}

#[test]
fn a_plain_rollback_after_rollback_to_goes_back_to_what_ran_before_it() {
    let w = World::new();
    let repo = w.repo("r", 1);
    no_ci(&repo);
    let mut shas = vec![repo.rev("HEAD")];
    repo.train(&["deploy", "staging", "--yes", "-q", "--offline"])
        .ok();
    for i in 2..=4 {
        shas.push(repo.commit(&format!("change {i}")));
        repo.train(&["deploy", "staging", "--yes", "-q", "--offline"])
            .ok();
    }
    let to = |args: &[&str]| {
        let mut all = vec!["rollback", "staging", "--yes", "--json", "--offline"];
        all.extend_from_slice(args);
        repo.train(&all).ok().json()["sha"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(to(&["--to", &shas[1]]), shas[1]);
    // Not forward to what ran after it: what ran before it.
    assert_eq!(to(&[]), shas[0]);
    // Nothing older ran there: refused, naming the way out.
    let out = repo
        .train(&["rollback", "staging", "--yes", "--offline"])
        .code(1);
    out.says("ran no older commit");
}

#[test]
fn without_a_github_token_sync_and_lock_still_go_through_git_and_say_so() {
    let w = World::new();
    let (origin, clones) = w.origin_and_clones(2, 1);
    let (alice, bob) = (&clones[0], &clones[1]);
    // Nothing listens at this address: GitHub must not even be asked.
    let config = "forge = \"github\"\n[checks]\nrequire = false\n[github]\nrepo = \"acme/api\"\napi = \"http://127.0.0.1:9/api/v3\"\n";
    alice.write(".train.toml", config);
    bob.write(".train.toml", config);
    let out = alice
        .cmd(common::BIN)
        .args(["lock", "production", "-m", "release"])
        .env_remove("GH_TOKEN")
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    let out = common::Run::of(out).ok();
    out.says("GitHub was not asked");
    assert!(!out.stderr.contains("not shared"), "{}", out.stderr);
    let remote = std::process::Command::new("git")
        .args(["ls-remote", origin.to_str().unwrap(), "refs/train/locks/*"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&remote.stdout).contains("refs/train/locks/production"));
    let out = common::Run::of(
        bob.cmd(common::BIN)
            .args(["sync"])
            .env_remove("GH_TOKEN")
            .env_remove("GITHUB_TOKEN")
            .output()
            .unwrap(),
    )
    .ok();
    out.says("GitHub was not asked");
    out.says("no GitHub token");
    assert!(bob
        .train(&["locks"])
        .ok()
        .stdout
        .contains("production locked by"));
}

#[test]
fn an_environment_made_by_mistake_is_retired_for_every_clone_and_kept_in_history() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 1);
    let (alice, bob) = (&clones[0], &clones[1]);
    no_ci(alice);
    no_ci(bob);
    alice.train(&["deploy", "staging", "--yes", "-q"]).ok();
    alice
        .train(&["deploy", "stagign", "--yes", "-q", "--new-env"])
        .ok();
    let out = alice
        .train(&["env", "retire", "stagign", "-m", "typo", "--json"])
        .ok()
        .json();
    assert_eq!(out["changed"], true);
    // Bob's clone learns it with the ledger.
    bob.train(&["sync"]).ok();
    let status = bob.train(&["status", "--json"]).ok().json();
    let names: Vec<&str> = status["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["staging"]);
    // Not known any more: no suggestion of it, and a deploy there needs --new-env.
    let out = bob.train(&["deploy", "stagign", "--yes"]).code(2);
    out.says("stagign was retired");
    assert!(bob
        .train(&["deploy", "stagingg", "--yes"])
        .code(2)
        .stderr
        .contains("did you mean staging?"));
    // History keeps its deployments, the retirement on the newest.
    let h = bob.train(&["history", "stagign", "--json"]).ok().json();
    assert_eq!(h["deployments"][0]["state"], "inactive");
    assert_eq!(h["deployments"][0]["desc"], "environment retired: typo");
    // Again: nothing more recorded.
    let lines = bob.all_lines().len();
    let again = bob
        .train(&["env", "retire", "stagign", "--json"])
        .ok()
        .json();
    assert_eq!(again["changed"], false);
    assert_eq!(bob.all_lines().len(), lines);
    // An environment of .train.toml, or one never deployed: refused.
    bob.config_without_ci("[env.staging]\n");
    bob.train(&["env", "retire", "staging"])
        .code(2)
        .says("[env.staging]");
    bob.train(&["env", "retire", "nope"])
        .code(2)
        .says("no deployment to 'nope'");
    // Deploying there again brings it back.
    bob.config_without_ci("");
    bob.train(&["deploy", "stagign", "--yes", "-q", "--new-env"])
        .ok();
    assert!(bob.train(&["status"]).ok().stdout.contains("stagign"));
}
