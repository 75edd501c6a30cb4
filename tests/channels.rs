//! Team channels (issue 18) against a loopback server standing in for Slack, Discord
//! and a webhook: what is posted, to which channels, exactly once, by whom; escaping,
//! the webhook's schema and signature, channels that fail or never answer, and the
//! URL that never shows.

mod common;

use std::time::{Duration, Instant};

use common::github::GitHub;
use common::hooks::{documented_schema, slack_text, validate, Answer, Hooks, Posted, TOKEN};
use common::{Repo, Run, World, BIN};
use serde_json::json;

const SECRET: &str = "whsec-correct-horse-battery-staple";

/// Four channels: Slack and Discord for production, a signed webhook for every
/// environment, and Slack for staging alone.
const CHANNELS: &str = r#"
[channels.prod-deploys]
slack = "SLACK_PROD_DEPLOYS"
[channels.prod-discord]
discord = "DISCORD_PROD"
[channels.all]
webhook = "DEPLOY_HOOK_URL"
secret = "DEPLOY_HOOK_SECRET"
[channels.staging-only]
slack = "SLACK_STAGING"
[people]
"alice@example.com" = "U024BE7LH"
"#;

const VARS: [(&str, &str); 4] = [
    ("SLACK_PROD_DEPLOYS", "slack"),
    ("DISCORD_PROD", "discord"),
    ("DEPLOY_HOOK_URL", "webhook"),
    ("SLACK_STAGING", "staging"),
];

fn configure(repo: &Repo, envs: &str) {
    repo.write(
        ".train.toml",
        &format!("{envs}\n[checks]\nrequire = false\n{CHANNELS}"),
    );
}

fn standard_envs(prod_run: &str) -> String {
    format!(
        "[env.production]\nrun = \"{prod_run}\"\nurl = \"https://grafana.example/d/api\"\nchannels = [\"prod-deploys\", \"prod-discord\", \"all\"]\n\
         [env.staging]\nchannels = [\"all\", \"staging-only\"]\n[env.dev]\n"
    )
}

/// git-train with every channel's URL (and the webhook's secret) in its environment.
fn train(repo: &Repo, hooks: &Hooks, args: &[&str]) -> Run {
    let mut cmd = repo.cmd(BIN);
    for (var, hook) in VARS {
        cmd.env(var, hooks.url(hook));
    }
    cmd.env("DEPLOY_HOOK_SECRET", SECRET);
    let run = Run::of(cmd.args(args).output().unwrap());
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "the URL showed: {text}");
        assert!(!text.contains("panicked"), "a panic: {text}");
    }
    run
}

fn states(posted: &[Posted]) -> Vec<String> {
    posted
        .iter()
        .map(|p| p.json()["state"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_local_deploy_posts_its_start_and_its_success_once_to_each_channel_of_its_environment() {
    let w = World::new();
    let repo = w.repo("api", 3);
    configure(&repo, &standard_envs("true"));

    let hooks = Hooks::start();
    let out = train(&repo, &hooks, &["deploy", "production", "HEAD~1", "--yes"]).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 2, "one start, one end: {slack:?}");
    let (start, end) = (slack_text(&slack[0]), slack_text(&slack[1]));
    assert!(
        start.contains("started") && !start.contains("succeeded"),
        "{start}"
    );
    assert!(
        end.contains("succeeded") && !end.contains("started"),
        "{end}"
    );
    assert!(
        end.contains("*production*") && end.contains("change 2"),
        "{end}"
    );
    assert!(end.contains("by <@U024BE7LH>"), "{end}");
    assert!(
        end.contains("<https://grafana.example/d/api|dashboard>"),
        "{end}"
    );
    assert!(end.contains("took 0s"), "{end}");

    let discord = hooks.posted("discord");
    assert_eq!(discord.len(), 2, "{discord:?}");
    assert!(discord[0].json()["content"]
        .as_str()
        .unwrap()
        .contains("started"));
    assert!(discord[1].json()["content"]
        .as_str()
        .unwrap()
        .contains("succeeded"));
    assert!(discord[1].json()["embeds"][0]["description"].is_string());

    let webhook = hooks.posted("webhook");
    assert_eq!(states(&webhook), ["in_progress", "success"]);
    assert!(hooks.posted("staging").is_empty(), "not its environment");

    // Staging: its own channels only; a third environment has none.
    let out = train(&repo, &hooks, &["deploy", "staging", "--yes"]).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert_eq!(hooks.posted("slack").len(), 2);
    assert_eq!(hooks.posted("discord").len(), 2);
    assert_eq!(
        states(&hooks.posted("webhook")[2..]),
        ["in_progress", "success"]
    );
    let staging = hooks.posted("staging");
    assert_eq!(staging.len(), 2);
    assert!(slack_text(&staging[1]).contains("deployment of"));
    let before = hooks.all().len();
    train(&repo, &hooks, &["deploy", "dev", "--yes"]).ok();
    assert_eq!(hooks.all().len(), before, "dev has no channels");

    // Forward again: the train and the end, once more each.
    train(&repo, &hooks, &["deploy", "production", "--yes"]).ok();
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 4);
    let end = slack_text(&slack[3]);
    assert!(end.contains("brings 1 commit:\n• `"), "{end}");
    assert!(end.contains("change 3 (Alice)"), "{end}");
    let event = hooks.posted("webhook").last().unwrap().json();
    assert_eq!(event["train"]["total"], 1);
    assert_eq!(event["from"], repo.rev("HEAD~1"));

    // A rollback is marked.
    train(&repo, &hooks, &["rollback", "production", "--yes"]).ok();
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 6);
    let end = slack_text(&slack[5]);
    assert!(end.contains("rollback of"), "{end}");
    assert!(end.contains("takes away 1 commit:"), "{end}");
    assert_eq!(
        hooks.posted("webhook").last().unwrap().json()["rollback"],
        true
    );
}

#[test]
fn a_no_wait_deploy_is_posted_once_by_its_runner() {
    let w = World::new();
    let repo = w.repo("api", 2);
    configure(&repo, &standard_envs("sleep 0.3"));
    let hooks = Hooks::start();
    train(
        &repo,
        &hooks,
        &["deploy", "production", "--yes", "--no-wait"],
    )
    .ok();
    let slack = hooks.wait_for("slack", 2);
    assert_eq!(slack.len(), 2, "{slack:?}");
    assert!(slack_text(&slack[1]).contains("succeeded"));
    // Nothing more arrives afterwards.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(states(&hooks.posted("webhook")), ["in_progress", "success"]);
    assert_eq!(hooks.posted("slack").len(), 2);
}

#[test]
fn a_failing_deploy_posts_the_failure_with_its_exit_status() {
    let w = World::new();
    let repo = w.repo("api", 2);
    configure(&repo, &standard_envs("exit 3"));
    let hooks = Hooks::start();
    train(&repo, &hooks, &["deploy", "production", "--yes"]).code(1);
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 2, "{slack:?}");
    let end = slack_text(&slack[1]);
    assert!(end.contains("failed"), "{end}");
    assert!(
        end.contains("*why*: run command exited with status 3"),
        "{end}"
    );
    assert_eq!(slack[1].json()["attachments"][0]["color"], "#d40e0d");
    let event = hooks.posted("webhook")[1].json();
    assert_eq!(event["state"], "failure");
    assert_eq!(event["description"], "run command exited with status 3");
    let discord = hooks.posted("discord")[1].json();
    assert!(discord["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .contains("run command exited with status 3"));
}

#[test]
fn slack_escapes_subjects_links_pull_requests_and_mentions_people() {
    let w = World::new();
    let repo = w.repo("api", 1);
    repo.commit("Ship <@channel> & <https://evil.example|click here> (#123)");
    configure(
        &repo,
        "forge = \"local\"\n[github]\nrepo = \"acme/api\"\n[env.production]\nrequire_checks = true\nchannels = [\"prod-deploys\"]\n",
    );
    let hooks = Hooks::start();
    repo.ci_pass("HEAD~1");
    train(&repo, &hooks, &["deploy", "production", "HEAD~1", "--yes"]).ok();
    // HEAD has no CI: forced.
    train(
        &repo,
        &hooks,
        &[
            "deploy",
            "production",
            "--yes",
            "--force",
            "--reason",
            "INC-42 <!here>",
        ],
    )
    .ok();
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 4);
    let body = slack[3].json();
    let raw = body.to_string();
    assert!(!raw.contains("<@channel>"), "{raw}");
    assert!(!raw.contains("<!here>"), "{raw}");
    assert!(!raw.contains("<https://evil.example"), "{raw}");
    let text = slack_text(&slack[3]);
    assert!(
        text.contains("Ship &lt;@channel&gt; &amp; &lt;https://evil.example|click here&gt; (<https://github.com/acme/api/pull/123|#123>)"),
        "{text}"
    );
    assert!(text.contains("by <@U024BE7LH>"), "{text}");
    assert!(text.contains("*forced*: INC-42 &lt;!here&gt;"), "{text}");
    let sha = repo.rev("HEAD");
    let from = repo.rev("HEAD~1");
    assert!(
        text.contains(&format!(
            "<https://github.com/acme/api/compare/{from}...{sha}|compare>"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "<https://github.com/acme/api/commit/{sha}|{}>",
            &sha[..7]
        )),
        "{text}"
    );
    // The notification text is escaped too.
    assert!(body["text"]
        .as_str()
        .unwrap()
        .contains("forced deployment of"));
}

#[test]
fn the_webhook_body_follows_the_documented_schema_and_its_signature_verifies() {
    use hmac::{Hmac, Mac};
    let schema = documented_schema("webhook-schema");
    let w = World::new();
    let repo = w.repo("api", 2);
    configure(&repo, &standard_envs("exit 4"));
    let hooks = Hooks::start();
    train(&repo, &hooks, &["deploy", "staging", "HEAD~1", "--yes"]).ok();
    train(
        &repo,
        &hooks,
        &["deploy", "staging", "--yes", "-m", "ship it"],
    )
    .ok();
    train(&repo, &hooks, &["deploy", "production", "--yes"]).code(1);
    train(&repo, &hooks, &["lock", "production", "-m", "freeze"]).ok();
    repo.git(&["config", "user.email", "bob@example.com"]);
    train(
        &repo,
        &hooks,
        &["unlock", "production", "--force", "--reason", "hotfix"],
    )
    .ok();
    train(&repo, &hooks, &["channels", "test", "all"]).ok();
    let posted = hooks.posted("webhook");
    let kinds: Vec<String> = posted
        .iter()
        .map(|p| {
            let e = p.json();
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["state"].as_str().or(e["action"].as_str()).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "deployment in_progress",
            "deployment success",
            "deployment in_progress",
            "deployment success",
            "deployment in_progress",
            "deployment failure",
            "lock taken",
            "lock released",
            "test ",
        ]
    );
    for p in &posted {
        let event = p.json();
        let errors = validate(&schema, &event, "$", &schema);
        assert!(errors.is_empty(), "{errors:?}\n{event:#}");
        assert_eq!(p.header("content-type"), Some("application/json"));
        let signature = p.header("x-git-train-signature").expect("signed");
        let hex = signature.strip_prefix("sha256=").expect("sha256=HEX");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&p.body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected, "the signature of {}", p.text());
    }
    let second = posted[3].json();
    assert_eq!(second["train"]["commits"][0]["subject"], "change 2");
    assert_eq!(second["description"], "ship it");
    assert_eq!(posted[7].json()["forced"], "hotfix");
    assert_eq!(posted[7].json()["holder"], "alice@example.com");
    // Slack and Discord bodies are not signed.
    assert!(hooks.posted("slack")[0]
        .header("x-git-train-signature")
        .is_none());
}

#[test]
fn a_channel_that_never_answers_delays_the_deploy_by_at_most_its_timeout() {
    let w = World::new();
    let repo = w.repo("api", 2);
    repo.config_without_ci(
        "[env.production]\nchannels = [\"slow\", \"all\"]\n\
         [channels.slow]\nslack = \"SLACK_PROD_DEPLOYS\"\ntimeout = \"1s\"\n\
         [channels.all]\nwebhook = \"DEPLOY_HOOK_URL\"\n",
    );
    let hooks = Hooks::start();
    // What a deploy costs here when every channel answers.
    let started = Instant::now();
    train(&repo, &hooks, &["deploy", "production", "HEAD~1", "--yes"]).ok();
    let answered = started.elapsed();

    hooks.answer("slack", Answer::Hang);
    let started = Instant::now();
    let out = train(&repo, &hooks, &["deploy", "production", "--yes"]).ok();
    let hung = started.elapsed();
    eprintln!("deploy with every channel answering: {answered:?}; with one that never answers (timeout 1s): {hung:?}");
    assert!(
        hung >= Duration::from_secs(1),
        "it waited for the channel: {hung:?}"
    );
    assert!(
        hung < answered + Duration::from_millis(2500),
        "at most the timeout, once: {hung:?} (answering: {answered:?})"
    );
    assert!(
        out.stderr
            .contains("could not notify channel slow (Slack): it did not answer within 1s"),
        "{}",
        out.stderr
    );
    // The start timed out, so the end was not even tried; the other channel got both.
    assert_eq!(hooks.posted("slack").len(), 3, "no message twice");
    assert_eq!(
        states(&hooks.posted("webhook")[2..]),
        ["in_progress", "success"]
    );
    let h = train(&repo, &hooks, &["history", "--json"]).ok().json();
    assert_eq!(h["deployments"][0]["state"], "success");
    assert_eq!(h["deployments"][0]["sha"], repo.rev("HEAD"));
}

#[test]
fn a_channel_that_fails_is_a_warning_and_is_never_posted_to_twice() {
    let w = World::new();
    let repo = w.repo("api", 1);
    configure(&repo, &standard_envs("true"));
    let hooks = Hooks::start();
    hooks.answer("slack", Answer::Status(500));
    let out = train(&repo, &hooks, &["deploy", "production", "--yes", "--json"]).ok();
    assert_eq!(out.json()["state"], "success");
    assert!(
        out.stderr
            .contains("could not notify channel prod-deploys (Slack): it answered 500 Internal Server Error (invalid_payload)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        hooks.posted("slack").len(),
        2,
        "each message once, no retry"
    );
    assert_eq!(hooks.posted("webhook").len(), 2);

    // A channel whose server is gone.
    let gone = format!("http://127.0.0.1:{}/gone/{TOKEN}", free_port());
    let out = Run::of(
        repo.cmd(BIN)
            .env("SLACK_PROD_DEPLOYS", &gone)
            .args(["deploy", "production", "--yes"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(
        out.stderr
            .contains("could not notify channel prod-deploys (Slack): could not connect"),
        "{}",
        out.stderr
    );
    // The others have no URL on this machine: each says how to give one.
    out.says("could not notify channel all (webhook): not posted: no URL for it; set DEPLOY_HOOK_URL, or run `git config train.channel.all.url URL`");
    assert!(!out.stderr.contains(TOKEN), "{}", out.stderr);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_url_shows_in_no_output_even_with_v() {
    let w = World::new();
    let repo = w.repo("api", 2);
    configure(&repo, &standard_envs("true"));
    let hooks = Hooks::start();
    hooks.answer("discord", Answer::Status(404));
    let mut outputs = Vec::new();
    for args in [
        vec!["deploy", "production", "HEAD~1", "--yes", "-v"],
        vec!["deploy", "production", "--yes", "-v", "--json"],
        vec!["lock", "production", "-v"],
        vec!["unlock", "production", "-v"],
        vec!["channels", "test", "prod-deploys", "-v"],
        vec!["channels", "test", "prod-discord", "-v"],
        vec!["channels", "test", "all", "-v", "--json"],
        vec!["history", "-v"],
    ] {
        let out = train(&repo, &hooks, &args);
        outputs.push(format!("{}{}", out.stdout, out.stderr));
    }
    let everything = outputs.join("\n");
    // `-v` names the channel and the answer's status.
    assert!(
        everything.contains(
            "channel prod-deploys (Slack): posted deployment in_progress to production: 200 OK"
        ),
        "{everything}"
    );
    assert!(
        everything.contains("channel prod-discord (Discord): deployment success to production: answered 404 Not Found"),
        "{everything}"
    );
    assert!(!everything.contains(TOKEN) && !everything.contains("q8ZkX2vR7mP4nL9sW3cY6tJ1"));

    // A URL git-train refuses is not repeated either.
    let out = Run::of(
        repo.cmd(BIN)
            .env(
                "SLACK_PROD_DEPLOYS",
                format!("http://hooks.example/{TOKEN}"),
            )
            .args(["channels", "test", "prod-deploys", "-v"])
            .output()
            .unwrap(),
    )
    .code(1);
    assert!(
        out.stderr
            .contains("its URL (in SLACK_PROD_DEPLOYS or git config train.channel.prod-deploys.url) cannot be used: it is not https"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(TOKEN), "{}", out.stderr);

    // Nor stored: not in the repository, its ledger or its logs.
    let mut stack = vec![repo.dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                    "{}",
                    path.display()
                );
            }
        }
    }
    let history = repo.git(&["log", "--all", "-p", "--notes=*", "--format=%B%N"]);
    assert!(!history.contains(TOKEN));
}

#[test]
fn a_laptop_gives_the_url_in_its_git_config() {
    let w = World::new();
    let repo = w.repo("api", 1);
    configure(&repo, &standard_envs("true"));
    let hooks = Hooks::start();
    repo.git(&[
        "config",
        "train.channel.prod-deploys.url",
        &hooks.url("slack"),
    ]);
    let out = Run::of(
        repo.cmd(BIN)
            .args(["channels", "test", "prod-deploys"])
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(
        out.stdout,
        "posted a test message to channel prod-deploys (slack); it gets the deployments of production\n"
    );
    let posted = hooks.posted("slack");
    assert_eq!(posted.len(), 1);
    let text = slack_text(&posted[0]);
    assert!(
        text.contains("a test message from git-train for channel *prod-deploys*"),
        "{text}"
    );
    assert!(text.contains("sent by <@U024BE7LH>"), "{text}");

    let out = train(&repo, &hooks, &["channels", "test", "nope"]).code(2);
    out.says("no channel 'nope' in .train.toml");
    assert!(out
        .stderr
        .contains("known channels: all, prod-deploys, prod-discord, staging-only"));

    hooks.answer("slack", Answer::Hang);
    repo.write(
        ".train.toml",
        "[channels.prod-deploys]\nslack = \"UNSET_VAR\"\ntimeout = \"1s\"\n",
    );
    let started = Instant::now();
    let out = Run::of(
        repo.cmd(BIN)
            .args(["channels", "test", "prod-deploys"])
            .output()
            .unwrap(),
    )
    .code(1);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        out.stderr.contains(
            "could not post to channel prod-deploys (Slack): it did not answer within 1s"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let w = World::new();
    let repo = w.repo("api", 1);
    let hooks = Hooks::start();
    for (toml, says) in [
        (
            "[channels.ops]\nslack = \"S\"\n[env.production]\nchannels = [\"opz\"]\n",
            ".train.toml:4: unknown channel 'opz' (known channels: ops)",
        ),
        (
            "[channels.ops]\nsecret = \"S\"\n",
            ".train.toml:1: say where the channel posts",
        ),
        (
            "[channels.ops]\nslack = \"S\"\nwebhook = \"W\"\n",
            ".train.toml:3: a channel posts to one place, and this one has both slack and webhook",
        ),
    ] {
        repo.write(".train.toml", toml);
        let out = train(&repo, &hooks, &["deploy", "production", "--yes"]).code(2);
        assert!(out.stderr.contains(says), "{toml}: {}", out.stderr);
        out.says("hint: fix `");
    }
    assert!(hooks.all().is_empty());
}

#[test]
fn with_the_github_forge_deploy_posts_the_request_and_report_in_actions_posts_once() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let hooks = Hooks::start();
    let envs = "[checks]\nrequire = false\n[env.production]\nchannels = [\"all\", \"prod-deploys\"]\n\
                [channels.all]\nwebhook = \"DEPLOY_HOOK_URL\"\n[channels.prod-deploys]\nslack = \"SLACK_PROD_DEPLOYS\"\n";
    let repo = gh.configured(&w, "laptop", envs);
    // The workflow runs and reports by itself; `deploy` follows it to its end.
    gh.workflow(&[
        ("in_progress", Duration::from_millis(0)),
        ("success", Duration::from_millis(100)),
    ]);
    let mut cmd = repo.cmd(BIN);
    cmd.env("GH_TOKEN", gh.token())
        .env("DEPLOY_HOOK_URL", hooks.url("webhook"))
        .env("SLACK_PROD_DEPLOYS", hooks.url("slack"));
    let out = Run::of(
        cmd.args(["deploy", "production", "--yes"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    assert_eq!(
        states(&hooks.posted("webhook")),
        ["queued"],
        "deploy posts the request, and not what the workflow reports"
    );
    assert!(slack_text(&hooks.posted("slack")[0]).contains("requested"));

    // The deploy workflow's checkout: no ledger, git-train reports from the event.
    let checkout = w.repo("checkout", 1);
    checkout.write(".train.toml", envs);
    let sha = checkout.rev("HEAD");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({"dep": "01KABCDEFGH"}));
    let event = w.path("event.json");
    std::fs::write(
        &event,
        json!({"deployment": {"id": id, "sha": sha}}).to_string(),
    )
    .unwrap();
    let report = |state: &str| {
        let mut cmd = checkout.cmd(BIN);
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "deployment")
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REPOSITORY", "acme/api")
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_TOKEN", gh.token())
            .env("DEPLOY_HOOK_URL", hooks.url("webhook"))
            .env("SLACK_PROD_DEPLOYS", hooks.url("slack"))
            .args(["report", state, "--log-url", "https://ci.example/run/9"]);
        Run::of(cmd.output().unwrap()).ok()
    };
    report("success");
    let posted = hooks.posted("webhook");
    assert_eq!(posted.len(), 2, "once: {posted:?}");
    let success = posted[1].json();
    assert_eq!(success["state"], "success");
    assert_eq!(success["deployment"], "01KABCDEFGH");
    assert_eq!(
        success["by"], "octocat",
        "who asked for it, from GitHub's record"
    );
    assert_eq!(success["links"]["log"], "https://ci.example/run/9");
    assert_eq!(success["commit"]["sha"], sha);
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 2);
    let text = slack_text(&slack[1]);
    assert!(
        text.contains("succeeded") && text.contains("<https://ci.example/run/9|log>"),
        "{text}"
    );
    assert!(text.contains(&format!("/acme/api/commit/{sha}|")), "{text}");
}
