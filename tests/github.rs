//! The GitHub forge (issue 4) against the test GitHub server: CI gating, creating
//! and following deployments, importing, reporting, rate limits and faults.

mod common;

use std::time::Duration;

use common::github::{Fault, GitHub};
use common::{World, BIN};
use serde_json::json;

fn posts(gh: &GitHub, path: &str) -> usize {
    gh.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains(path))
        .count()
}

#[test]
fn ci_gating_reads_statuses_and_every_check_run() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nignore = [\"codecov/patch\"]\n");
    let sha = repo.rev("HEAD");

    let out = gh.train(&repo, &["deploy", "staging"]).code(1);
    out.says("has no CI status");

    gh.set_commit_status(&sha, "ci/build", "success", None);
    gh.set_commit_status(&sha, "codecov/patch", "failure", None);
    for i in 0..130 {
        gh.set_check_run(
            &sha,
            &format!("test-{i:03}"),
            "completed",
            Some(if i == 120 { "failure" } else { "success" }),
        );
    }
    gh.set_check_run(&sha, "lint", "in_progress", None);
    let out = gh.train(&repo, &["deploy", "staging"]).code(1);
    assert!(
        out.stderr.contains("test-120 is failure"),
        "a failure on the second page: {}",
        out.stderr
    );
    out.says("lint is pending");
    assert!(!out.stderr.contains("codecov"), "ignored: {}", out.stderr);
    let pages = gh
        .requests()
        .iter()
        .filter(|r| r.path.contains("check-runs"))
        .count();
    assert!(pages >= 2, "all pages are read");
    assert!(gh.deployments().is_empty());

    gh.set_check_run(&sha, "test-120", "completed", Some("neutral"));
    gh.set_check_run(&sha, "lint", "completed", Some("skipped"));
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "staging"]).ok();
}

#[test]
fn deploy_creates_one_deployment_and_follows_it_to_the_end() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(
        &w,
        "r",
        "[checks]\nrequire = false\n[env.production]\nproduction = true\n",
    );
    let sha = repo.rev("HEAD");
    gh.workflow(&[
        ("in_progress", Duration::from_millis(0)),
        ("success", Duration::from_millis(300)),
    ]);
    let out = gh
        .train(&repo, &["deploy", "production", "--json", "-m", "ship it"])
        .ok()
        .json();
    assert_eq!(out["state"], "success");

    let deployments = gh.deployments();
    assert_eq!(deployments.len(), 1);
    let posted = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap()
        .body
        .unwrap();
    assert_eq!(posted["ref"], sha);
    assert_eq!(posted["environment"], "production");
    assert_eq!(posted["auto_merge"], false);
    assert_eq!(posted["required_contexts"], json!([]));
    assert_eq!(posted["production_environment"], true);
    assert_eq!(posted["description"], "ship it");
    assert_eq!(posted["payload"]["dep"], out["dep"]);
    assert_eq!(posted["payload"]["train"][0], sha);

    let note = repo.note("deploys", "HEAD");
    let id = deployments[0]["id"].as_u64().unwrap();
    let gh_ref = format!("\"gh\":{{\"repo\":\"acme/api\",\"id\":{id}}}");
    for state in ["queued", "in_progress", "success"] {
        let line = note
            .lines()
            .find(|l| l.contains(&format!(" production {state} ")))
            .unwrap_or_else(|| panic!("{state}: {note}"));
        assert!(line.contains(&gh_ref), "{line}");
    }
    assert!(
        note.contains("\"log\":\""),
        "the workflow's log url: {note}"
    );
    assert_eq!(repo.rev("refs/train/deployed/production"), sha);
    let h = gh.train(&repo, &["history", "--json"]).ok().json();
    assert_eq!(h["deployments"][0]["gh"]["id"], id);

    // --no-wait returns once it is created.
    gh.workflow(&[]);
    let out = gh
        .train(&repo, &["deploy", "production", "--no-wait", "--json"])
        .ok()
        .json();
    assert_eq!(out["state"], "queued");
    assert_eq!(gh.deployments().len(), 2);
}

#[test]
fn refusals_and_lost_answers_record_exactly_what_github_did() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");

    gh.fault("POST", "/deployments", Fault::Conflict, 1);
    let out = gh.train(&repo, &["deploy", "staging"]).code(1);
    out.says("409 conflict");
    gh.fault("POST", "/deployments", Fault::Unprocessable, 1);
    let out = gh.train(&repo, &["deploy", "staging"]).code(1);
    out.says("invalid (422)");
    assert!(repo.all_lines().is_empty());

    // A 502 that did nothing: one POST, exit 3, nothing recorded.
    gh.fault("POST", "/deployments", Fault::Status(502), 1);
    let out = gh.train(&repo, &["deploy", "staging"]).code(3);
    out.says("502");
    assert_eq!(posts(&gh, "/deployments"), 3, "a POST is never repeated");
    assert!(gh.deployments().is_empty());
    assert!(repo.all_lines().is_empty());

    // A 502 after GitHub created it: found by its dep and recorded once.
    gh.fault("POST", "/deployments", Fault::Lost(502), 1);
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "staging"]).ok();
    assert_eq!(posts(&gh, "/deployments"), 4);
    assert_eq!(gh.deployments().len(), 1);
    assert_eq!(
        repo.all_lines()
            .iter()
            .filter(|l| l.contains(" queued "))
            .count(),
        1
    );

    // A connection reset on create: nothing created, exit 3.
    gh.fault("POST", "/deployments", Fault::Reset, 1);
    gh.train(&repo, &["deploy", "staging"]).code(3);
    assert_eq!(gh.deployments().len(), 1);
}

#[test]
fn rate_limits_are_waited_out_or_end_the_command_with_exit_3() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD");
    gh.set_commit_status(&sha, "ci/build", "success", None);
    gh.workflow(&[("success", Duration::from_millis(0))]);

    gh.fault(
        "GET",
        "/status",
        Fault::RateLimited {
            status: 429,
            retry_after: Some(1),
        },
        1,
    );
    let started = std::time::Instant::now();
    gh.train(&repo, &["deploy", "staging", "-v"]).ok();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was honoured"
    );

    gh.set_rate_reset_in(Duration::from_secs(3600));
    gh.fault("GET", "/status", Fault::Exhausted, 10);
    let before = repo.all_lines();
    let out = gh
        .train(
            &repo,
            &["deploy", "staging", "HEAD~1", "--force", "--reason", "x"],
        )
        .code(3);
    out.says("rate limit is used up");
    assert_eq!(repo.all_lines(), before, "nothing recorded");
    assert_eq!(gh.deployments().len(), 1);
}

#[test]
fn sync_imports_what_was_made_elsewhere_once_and_idle_polls_cost_nothing() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");
    let sha = repo.rev("HEAD~1");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({}));
    gh.add_deployment_status(id, "in_progress", None);
    gh.add_deployment_status(id, "success", Some("https://ci.example/1"));

    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["deployments"], 1);
    let lines = repo.all_lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines
        .iter()
        .all(|l| l.contains(&format!("\"dep\":\"gh{id}\""))));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" production queued octocat ")),
        "{lines:?}"
    );
    assert_eq!(repo.rev("refs/train/deployed/production"), sha);

    gh.clear_requests();
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["deployments"], 0);
    assert_eq!(repo.all_lines(), lines, "nothing recorded twice");
    let requests = gh.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|r| r.status == 304),
        "an idle sync only gets 304s: {requests:?}"
    );

    // A deployment git-train made is imported by another clone as the same lines.
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "staging", "--new-env"]).ok();
    let ours = repo.all_lines();
    std::fs::remove_dir_all(repo.dir.join(".git/train")).unwrap();
    repo.git(&["update-ref", "-d", "refs/notes/deploys"]);
    gh.train(&repo, &["sync"]).ok();
    assert_eq!(repo.all_lines(), ours);
}

#[test]
fn report_inside_github_actions_posts_the_status() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = w.repo("checkout", 1);
    let sha = repo.rev("HEAD");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({"dep": "01KABCDEF"}));
    let event = w.path("event.json");
    std::fs::write(
        &event,
        json!({"deployment": {"id": id, "sha": sha}}).to_string(),
    )
    .unwrap();
    let out = repo
        .cmd(BIN)
        .args([
            "report",
            "success",
            "--log-url",
            "https://ci.example/run/9",
            "--url",
            "https://api.example.com",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "deployment")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_REPOSITORY", "acme/api")
        .env("GITHUB_API_URL", gh.url())
        .env("GITHUB_TOKEN", gh.token())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let statuses = gh.deployment_statuses(id);
    assert_eq!(statuses[0]["state"], "success");
    assert_eq!(statuses[0]["log_url"], "https://ci.example/run/9");
    assert_eq!(statuses[0]["environment_url"], "https://api.example.com");
}

#[test]
fn bad_token_and_no_network_are_clear() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let out = repo
        .cmd(BIN)
        .env("GH_TOKEN", "wrong")
        .args(["deploy", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the token") && err.contains("GH_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "{err}");

    let url = gh.url();
    drop(gh);
    let out = repo
        .cmd(BIN)
        .env("GH_TOKEN", "t")
        .args(["deploy", "staging"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("could not reach GitHub at {url}")),
        "{err}"
    );
    // Once, in plain words: what failed and what to try, not every layer's wording.
    assert!(err.contains("the connection was refused"), "{err}");
    assert!(err.contains("try again"), "{err}");
    assert!(
        !err.contains("Service Error") && !err.contains("client error"),
        "{err}"
    );
    assert_eq!(err.matches("refused").count(), 1, "{err}");

    // No token at all.
    let out = repo.cmd(BIN).args(["deploy", "staging"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no GitHub token"));
}

#[test]
fn verbose_shows_requests_and_budget() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    gh.set_commit_status(&repo.rev("HEAD"), "ci/build", "success", None);
    gh.workflow(&[("success", Duration::from_millis(0))]);
    let out = gh.train(&repo, &["deploy", "staging", "-v"]).ok();
    assert!(
        out.stderr
            .contains("POST /repos/acme/api/deployments -> 201"),
        "{}",
        out.stderr
    );
    out.says("GitHub requests");
    out.says("rate limit:");
}

#[test]
fn status_and_history_show_server_deployments_after_one_sync() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD~1");
    let id = gh.add_deployment(&sha, "staging", "hubot", json!({}));
    gh.add_deployment_status(id, "success", None);
    gh.train(&repo, &["sync"]).ok();
    let st = gh.train(&repo, &["status"]).ok().stdout;
    assert!(st.contains("[staging]"), "{st}");
    let h = gh.train(&repo, &["history"]).ok().stdout;
    assert!(
        h.contains("staging") && h.contains("hubot") && h.contains("success"),
        "{h}"
    );
}

#[test]
fn commit_statuses_over_several_pages_are_all_read() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD");
    for i in 0..130 {
        gh.set_commit_status(
            &sha,
            &format!("ctx-{i:03}"),
            if i == 125 { "pending" } else { "success" },
            None,
        );
    }
    let out = gh.train(&repo, &["deploy", "staging"]).code(1);
    out.says("ctx-125 is pending");
    let pages = gh
        .requests()
        .iter()
        .filter(|r| r.path.contains("/status"))
        .count();
    assert!(pages >= 2, "{pages}");
}

#[test]
fn the_token_never_reaches_output_or_files() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD");
    gh.set_commit_status(&sha, "ci/build", "success", None);
    gh.workflow(&[
        ("in_progress", Duration::from_millis(0)),
        ("failure", Duration::from_millis(50)),
    ]);
    // Every command, including failures; `train` asserts the output never holds it.
    gh.train(&repo, &["deploy", "staging", "-v", "--json"])
        .code(1);
    gh.train(&repo, &["deploy", "staging", "HEAD~1", "-v"])
        .code(1);
    gh.fault("POST", "/deployments", Fault::Status(500), 1);
    gh.train(&repo, &["deploy", "staging", "--force", "--reason", "r"]);
    gh.train(&repo, &["sync", "-v", "--json"]).ok();
    gh.train(&repo, &["history", "--json"]).ok();
    gh.train(&repo, &["status", "--json"]).ok();
    gh.train(&repo, &["report", "success", "--deployment", "1", "-v"]);
    gh.train(&repo, &["stats", "--env", "staging", "--json"]);
    gh.assert_token_nowhere(&repo);
}

#[test]
fn a_thousand_deployments_import_once_then_cost_one_conditional_request() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let shas: Vec<String> = (0..3).map(|i| repo.rev(&format!("HEAD~{i}"))).collect();
    for i in 0..1000 {
        let id = gh.add_deployment(
            &shas[i % 3],
            if i % 2 == 0 { "staging" } else { "production" },
            "hubot",
            json!({}),
        );
        gh.add_deployment_status(id, "success", None);
    }
    gh.clear_requests();
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["deployments"], 1000);
    let first = gh.requests();
    // One queued line per deployment, one per status (GitHub's auto_inactive adds some).
    let expected: usize = gh
        .deployments()
        .iter()
        .map(|d| 1 + gh.deployment_statuses(d["id"].as_u64().unwrap()).len())
        .sum();
    assert_eq!(repo.all_lines().len(), expected);
    gh.clear_requests();
    gh.train(&repo, &["sync"]).ok();
    let again = gh.requests();
    eprintln!(
        "FIGURES: first sync of 1,000 deployments: {} requests ({} list pages); unchanged re-sync: {} requests, {} answered 304",
        first.len(),
        first.iter().filter(|r| r.path.contains("/deployments?")).count(),
        again.len(),
        again.iter().filter(|r| r.status == 304).count()
    );
    // Each sync also reads the CI of the (three) newest trunk commits for `status`.
    assert!(first.len() <= 1000 + 10 + 2 + 2 * 3, "{}", first.len());
    assert!(
        again.len() <= 2 + 2 * 3 && again.iter().all(|r| r.status == 304),
        "{again:?}"
    );
}

#[test]
fn export_shows_ledger_only_deployments_once_and_import_skips_them() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = w.repo("r", 2);
    repo.write(
        ".train.toml",
        "forge = \"local\"\n[checks]\nrequire = false\n",
    );
    repo.train(&["deploy", "staging", "-q"]).ok();
    repo.write(
        ".train.toml",
        &format!(
            "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{}\"\nexport = true\n",
            gh.url()
        ),
    );
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["exported"], 1);
    let d = &gh.deployments()[0];
    assert_eq!(d["task"], "git-train-export");
    let id = d["id"].as_u64().unwrap();
    assert_eq!(gh.deployment_statuses(id)[0]["state"], "success");
    let lines = repo.all_lines();
    gh.clear_requests();
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["exported"], 0);
    assert_eq!(out["imported"]["deployments"], 0);
    assert_eq!(gh.deployments().len(), 1);
    assert_eq!(repo.all_lines(), lines);
    // What was exported is remembered: no lookup for it on the next sync.
    let lookups = gh
        .requests()
        .iter()
        .filter(|r| r.path.contains("/deployments?sha="))
        .count();
    assert_eq!(lookups, 0, "{:?}", gh.requests());
}

#[test]
fn export_lookups_are_bounded_per_sync() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = w.repo("r", 2);
    repo.write(
        ".train.toml",
        "forge = \"local\"\n[checks]\nrequire = false\n",
    );
    for _ in 0..45 {
        repo.train(&["deploy", "staging", "-q"]).ok();
    }
    repo.write(
        ".train.toml",
        &format!(
            "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{}\"\nexport = true\n",
            gh.url()
        ),
    );
    let lookups = |gh: &GitHub| {
        gh.requests()
            .iter()
            .filter(|r| r.path.contains("/deployments?sha="))
            .count()
    };
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["exported"], 20, "20 exports per sync");
    assert!(lookups(&gh) <= 40, "{}", lookups(&gh));
    gh.clear_requests();
    gh.train(&repo, &["sync"]).ok();
    gh.clear_requests();
    let out = gh.train(&repo, &["sync", "--json"]).ok().json();
    assert_eq!(out["imported"]["exported"], 5);
    assert_eq!(lookups(&gh), 5, "only those not yet exported are looked up");
    assert_eq!(gh.deployments().len(), 45);
}

#[test]
fn every_request_says_who_sends_it_once() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "staging"]).ok();
    gh.train(&repo, &["sync"]).ok();
    let requests = gh.requests();
    assert!(requests.len() >= 4, "{requests:?}");
    let agent = format!("git-train/{}", env!("CARGO_PKG_VERSION"));
    for r in &requests {
        let all = |name: &str| {
            r.headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            all("x-github-api-version"),
            ["2022-11-28"],
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(
            all("user-agent"),
            [agent.as_str()],
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(all("accept"), ["application/vnd.github+json"]);
        assert!(r.status < 400, "{} {} -> {}", r.method, r.path, r.status);
    }
}

#[test]
fn a_create_answer_that_does_not_echo_the_request_still_gives_a_correct_ledger() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[env.production]\nproduction = true\n");
    let sha = repo.rev("HEAD");
    // GitHub's own examples: deployment 1 of a84d88e to production, payload {},
    // green CI, and a `success` status.
    gh.verbatim(true);
    let out = gh
        .train(&repo, &["deploy", "production", "--json"])
        .ok()
        .json();
    assert_eq!(out["state"], "success");
    assert_eq!(out["sha"], sha);
    let dep = out["dep"].as_str().unwrap();
    let note = repo.note("deploys", "HEAD");
    let queued = note.lines().find(|l| l.contains(" queued ")).expect(&note);
    assert!(queued.contains(&format!("\"dep\":\"{dep}\"")), "{queued}");
    assert!(
        queued.contains("\"gh\":{\"repo\":\"acme/api\",\"id\":1}"),
        "{queued}"
    );
    assert!(note.contains(" production success "), "{note}");
    assert_eq!(repo.rev("refs/train/deployed/production"), sha);
    // --no-wait names a deployment the ledger has.
    let out = gh
        .train(&repo, &["deploy", "production", "--no-wait", "--json"])
        .ok()
        .json();
    let h = gh.train(&repo, &["history", "--json"]).ok().json();
    assert!(
        h["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["dep"] == out["dep"]),
        "{h}"
    );
    // A sync does not take our own deployment in a second time from the list.
    let before = repo.all_lines();
    gh.train(&repo, &["sync"]).ok();
    assert_eq!(repo.all_lines(), before);
    // report: what was posted and accepted; the example's commit is not here.
    let out = gh
        .train(&repo, &["report", "failure", "--deployment", "1"])
        .ok();
    assert!(out.stdout.contains("posted failure"), "{}", out.stdout);
    assert!(out.stdout.contains("not in this clone"), "{}", out.stdout);
}

#[test]
fn a_status_that_moves_the_deployment_keeps_it_one_deployment() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");
    let sha = repo.rev("HEAD");
    gh.workflow(&[
        ("in_progress", Duration::from_millis(0)),
        ("success@production", Duration::from_millis(100)),
    ]);
    let out = gh.train(&repo, &["deploy", "staging"]).ok();
    assert!(
        out.stdout.contains("production now runs"),
        "what the ledger says: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("GitHub moved the deployment to production"),
        "{}",
        out.stdout
    );
    let h = gh.train(&repo, &["history", "--json"]).ok().json();
    let list = h["deployments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "one deployment: {h}");
    assert_eq!(list[0]["env"], "production");
    assert_eq!(repo.rev("refs/train/deployed/production"), sha);
    assert!(repo
        .git(&["show-ref"])
        .lines()
        .all(|l| !l.ends_with("deployed/staging")));
    let note = repo.note("deploys", "HEAD");
    assert!(note.contains("\"moved\":\"staging\""), "{note}");
    // Another clone importing it writes the same bytes: nothing new.
    let before = repo.all_lines();
    std::fs::remove_dir_all(repo.dir.join(".git/train")).unwrap();
    gh.train(&repo, &["sync"]).ok();
    assert_eq!(repo.all_lines(), before);
}

#[test]
fn offline_with_the_github_forge_refuses_at_once_without_a_request() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");
    for args in [
        &["deploy", "staging", "--offline"][..],
        &["rollback", "staging", "--offline"],
    ] {
        let out = gh.train(&repo, args).code(2);
        assert!(
            out.stderr.contains("a GitHub deployment is made on GitHub"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("`git train status`"), "{}", out.stderr);
    }
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
}

#[test]
fn a_rollback_to_what_ran_here_does_not_ask_for_ci() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[env.production]\nproduction = true\n");
    let first = repo.rev("HEAD");
    gh.set_commit_status(&first, "ci", "success", None);
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "production"]).ok();
    repo.commit("change 4");
    let second = repo.rev("HEAD");
    gh.set_commit_status(&second, "ci", "success", None);
    gh.train(&repo, &["deploy", "production"]).ok();
    // CI on the old commit is red now: irrelevant, it ran here.
    gh.set_commit_status(&first, "ci", "failure", None);
    gh.clear_requests();
    let out = gh.train(&repo, &["rollback", "production"]).ok();
    assert!(out.stdout.contains("CI not asked"), "{}", out.stdout);
    let asked: Vec<String> = gh
        .requests()
        .iter()
        .filter(|r| r.path.contains(&format!("/commits/{first}")))
        .map(|r| r.path.clone())
        .collect();
    // Only the syncs before and after it refresh the CI cache `status` shows
    // (statuses and check runs, conditional); the rollback's gate asks for none.
    assert!(asked.len() <= 4, "{asked:?}");
    assert_eq!(repo.rev("refs/train/deployed/production"), first);
}

#[test]
fn report_keeps_the_description_within_140_characters_and_says_so() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "[checks]\nrequire = false\n");
    let out = gh
        .train(&repo, &["deploy", "staging", "--no-wait", "--json"])
        .ok()
        .json();
    let id = gh.deployments()[0]["id"].as_u64().unwrap();
    let long = "é".repeat(200);
    let out2 = gh
        .train(
            &repo,
            &[
                "report",
                "success",
                "--deployment",
                &id.to_string(),
                "--description",
                &long,
            ],
        )
        .ok();
    assert!(
        out2.stdout.contains("cut to GitHub's 140 characters"),
        "{}",
        out2.stdout
    );
    assert!(out2.stderr.contains("140"), "{}", out2.stderr);
    let sent = gh.deployment_statuses(id)[0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sent.chars().count(), 140);
    assert!(sent.ends_with('…'));
    let note = repo.note("deploys", "HEAD");
    assert!(note.contains(&sent), "recorded as sent: {note}");
    assert!(note.contains(&format!("\"dep\":\"{}\"", out["dep"].as_str().unwrap())));
}

#[test]
fn status_shows_github_ci_after_a_sync_and_an_unchanged_refresh_costs_only_304s() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let (tip, mid, old) = (repo.rev("HEAD"), repo.rev("HEAD~1"), repo.rev("HEAD~2"));
    gh.set_commit_status(&tip, "ci/build", "success", None);
    gh.set_check_run(&tip, "test", "completed", Some("success"));
    gh.set_check_run(&mid, "test", "completed", Some("failure"));
    gh.set_commit_status(&old, "ci/build", "pending", None);

    let before = gh.train(&repo, &["status"]).ok();
    assert!(
        !before.stdout.contains('✓'),
        "status asks nobody: {}",
        before.stdout
    );
    assert!(gh.requests().is_empty(), "status stays offline");

    gh.train(&repo, &["sync"]).ok();
    let st = gh.train(&repo, &["status", "--json"]).ok().json();
    let ci: Vec<&str> = st["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ci"].as_str().unwrap())
        .collect();
    assert_eq!(ci, ["success", "failure", "pending"]);
    let out = gh.train(&repo, &["status"]).ok();
    let row = |sha: &str| {
        out.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&sha[..7]))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(&tip).contains('✓'), "{}", out.stdout);
    assert!(row(&mid).contains('✗'), "{}", out.stdout);
    assert!(row(&old).contains('●'), "{}", out.stdout);

    // Nothing changed: every request of another sync, a refresh and a daemon-like
    // poll is a 304, free of rate limit.
    gh.clear_requests();
    let left = gh.rate_remaining();
    gh.train(&repo, &["sync"]).ok();
    gh.train(&repo, &["status", "--refresh"]).ok();
    let requests = gh.requests();
    assert!(!requests.is_empty());
    let not_304: Vec<String> = requests
        .iter()
        .filter(|r| r.status != 304)
        .map(|r| format!("{} {} -> {}", r.method, r.path, r.status))
        .collect();
    assert!(not_304.is_empty(), "{not_304:?}");
    assert_eq!(gh.rate_remaining(), left);
    let ci_requests = requests
        .iter()
        .filter(|r| r.path.contains("/commits/"))
        .count();
    assert_eq!(ci_requests, 2 * 3 * 2, "two per commit, per refresh");

    // A change shows after a refresh.
    gh.set_commit_status(&old, "ci/build", "success", None);
    let st = gh
        .train(&repo, &["status", "--refresh", "--json"])
        .ok()
        .json();
    assert_eq!(st["commits"][2]["ci"], "success");
}

#[test]
fn a_next_page_on_another_host_is_not_followed_and_says_so() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    // Where the link points: a server that would take the token if it were sent there.
    let elsewhere = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD~1");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({}));
    gh.add_deployment_status(id, "success", None);
    let refused = |out: &common::Run, what: &str| {
        assert!(
            out.stderr.contains(&format!(
                "GitHub's answer to {what} links its next page to {}/repos/acme/api/",
                elsewhere.url()
            )),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!(
                "not followed, so the token stays with {}",
                gh.url()
            )),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("malformed"), "{}", out.stderr);
    };

    // The deployment import.
    gh.fault(
        "GET",
        "/deployments?",
        Fault::NextElsewhere(elsewhere.url()),
        1,
    );
    let out = gh.train(&repo, &["sync"]).code(3);
    refused(&out, "list deployments");

    // A commit's statuses, read by `deploy`'s CI gate.
    gh.set_commit_status(&repo.rev("HEAD"), "ci/build", "success", None);
    gh.fault("GET", "/status", Fault::NextElsewhere(elsewhere.url()), 1);
    let out = gh.train(&repo, &["deploy", "staging", "--new-env"]).code(3);
    refused(&out, "read the commit's status");
    assert!(gh.deployments().len() == 1, "nothing was deployed");

    // And its check runs, read by a sync for `status` (a page that is not empty: an
    // empty one ends the list, and nothing is followed).
    gh.set_check_run(&repo.rev("HEAD"), "test", "completed", Some("success"));
    gh.fault(
        "GET",
        "/check-runs",
        Fault::NextElsewhere(elsewhere.url()),
        1,
    );
    let out = gh.train(&repo, &["sync"]).code(3);
    refused(&out, "read the commit's check runs");

    assert!(
        elsewhere.requests().is_empty(),
        "nothing went to the other host: {:?}",
        elsewhere.requests()
    );
    // Without the fault, everything is read again.
    gh.train(&repo, &["sync"]).ok();
}

#[test]
fn a_commit_github_does_not_know_is_named_and_a_name_that_does_not_resolve_is_one_phrase() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    let sha = repo.rev("HEAD");
    let short = &sha[..7];
    // Every time it is asked (the sync before the gate asks too, and leaves out a
    // commit GitHub does not have).
    let status = format!("/commits/{sha}/status");
    gh.fault("GET", &status, Fault::Status(404), 10);
    let out = gh.train(&repo, &["deploy", "staging"]).code(2);
    out.says(&format!(
        "GitHub found no commit {short} in acme/api (404) to read the commit's status"
    ));
    out.says("check that it is on GitHub (pushed, not deleted)");
    gh.clear_faults();
    let runs = format!("/commits/{sha}/check-runs");
    gh.fault("GET", &runs, Fault::Status(404), 10);
    let out = gh.train(&repo, &["deploy", "staging"]).code(2);
    out.says(&format!(
        "GitHub found no commit {short} in acme/api (404) to read the commit's check runs"
    ));
    assert!(
        !out.stderr.contains("repository or deployment"),
        "{}",
        out.stderr
    );
    assert!(gh.deployments().is_empty());

    // A host name that cannot resolve (`.invalid` never does): said once, plainly.
    let api = "https://api.example.invalid";
    repo.write(
        ".train.toml",
        &format!("forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{api}\"\ntimeout = \"5s\"\n"),
    );
    repo.git(&["config", "train.githubHost", "api.example.invalid"]);
    let out = gh.train(&repo, &["deploy", "staging"]).code(3);
    out.says(&format!("could not reach GitHub at {api}"));
    out.says("the host name does not resolve (DNS)");
    out.says("try again");
    for layer in [
        "Service Error",
        "client error",
        "dns error",
        "lookup address",
    ] {
        assert!(!out.stderr.contains(layer), "{layer}: {}", out.stderr);
    }
    assert_eq!(out.stderr.matches("resolve").count(), 1, "{}", out.stderr);
}

#[test]
fn rollback_offline_works_from_the_ledger_with_the_local_forge_and_refuses_with_github() {
    let w = World::new();
    // The local forge, with a remote no network reaches: every attempt to contact it
    // runs this ssh, which notes it and fails.
    let repo = w.repo("r", 3);
    repo.config_without_ci("[env.staging]\n");
    let contacted = w.path("contacted");
    let ssh = w.path("ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexit 255\n",
            contacted.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    repo.git(&[
        "remote",
        "add",
        "origin",
        "ssh://git@git.example.invalid/acme/api.git",
    ]);
    let train = |args: &[&str]| {
        common::Run::of(
            repo.cmd(BIN)
                .env("GIT_SSH_COMMAND", &ssh)
                .args(args)
                .output()
                .unwrap(),
        )
    };
    let old = repo.rev("HEAD~1");
    train(&["deploy", "staging", "HEAD~1", "--offline"]).ok();
    train(&["deploy", "staging", "HEAD", "--offline"]).ok();
    assert!(!contacted.exists(), "--offline contacts no remote");
    // The sentinel works: without --offline the remote is tried.
    train(&["sync"]);
    assert!(contacted.exists(), "a sync tries the remote");
    std::fs::remove_file(&contacted).unwrap();

    let out = train(&["rollback", "staging", "--offline", "--json"])
        .ok()
        .json();
    assert_eq!(out["sha"], old);
    assert_eq!(out["rollback"], true);
    assert_eq!(out["state"], "success");
    assert_eq!(repo.rev("refs/train/deployed/staging"), old);
    assert!(!contacted.exists(), "the rollback contacted no remote");

    // The github forge: refused at once, whatever ran before, and GitHub never asked.
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "g", "[checks]\nrequire = false\n");
    gh.workflow(&[("success", Duration::from_millis(0))]);
    gh.train(&repo, &["deploy", "staging", "HEAD~1"]).ok();
    gh.train(&repo, &["deploy", "staging"]).ok();
    let before = repo.all_lines();
    gh.clear_requests();
    let out = gh
        .train(&repo, &["rollback", "staging", "--offline"])
        .code(2);
    out.says("cannot roll back offline with the github forge");
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
    assert_eq!(repo.all_lines(), before);
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD"));
}

#[test]
fn status_says_how_old_githubs_ci_is_after_five_minutes_and_refresh_asks_again() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = gh.configured(&w, "r", "");
    gh.set_commit_status(&repo.rev("HEAD"), "ci/build", "success", None);
    let at = |now: &str, args: &[&str]| {
        let out = repo
            .cmd(BIN)
            .env("GH_TOKEN", gh.token())
            .env("GIT_TRAIN_NOW", now)
            .args(args)
            .output()
            .unwrap();
        let run = common::Run::of(out);
        assert!(!run.stdout.contains(gh.token()) && !run.stderr.contains(gh.token()));
        run.ok()
    };
    let line = "CI as GitHub said";
    at("2026-11-20T12:00:00Z", &["sync"]);
    let fresh = at("2026-11-20T12:04:59Z", &["status"]);
    assert!(fresh.stdout.contains('✓'), "{}", fresh.stdout);
    assert!(!fresh.stdout.contains(line), "{}", fresh.stdout);

    let old = at("2026-11-20T12:07:00Z", &["status"]);
    assert!(
        old.stdout
            .contains("CI as GitHub said 7m ago (`git train status --refresh` asks again)"),
        "{}",
        old.stdout
    );
    assert!(old.stdout.contains('✓'), "{}", old.stdout);

    gh.clear_requests();
    let refreshed = at("2026-11-20T12:07:00Z", &["status", "--refresh"]);
    assert!(!refreshed.stdout.contains(line), "{}", refreshed.stdout);
    let ci: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/commits/"))
        .collect();
    assert!(!ci.is_empty(), "--refresh asks GitHub");
    assert!(
        ci.iter()
            .all(|r| r.if_none_match.is_some() && r.status == 304),
        "conditional, and unchanged: {ci:?}"
    );
    let later = at("2026-11-20T12:10:00Z", &["status"]);
    assert!(!later.stdout.contains(line), "{}", later.stdout);
}
