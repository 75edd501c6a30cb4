//! `git train stale` (issue 23): the trunk commits that waited longest for each
//! environment, on a fixed clock, and `--post`: one digest per environment to its
//! team channels (a loopback server stands in for Slack, Discord and a webhook),
//! once a day per channel.

mod common;

use common::hooks::{documented_schema, slack_text, validate, Answer, Hooks, TOKEN};
use common::{Repo, Run, World, BIN};
use serde_json::{json, Value};

/// The clock of every run: the commits waited 5 days, 2 days and 1 hour by then.
const NOW: &str = "2026-11-25T12:00:00Z";
const NEXT_DAY: &str = "2026-11-26T09:00:00Z";
/// Production and staging watch for stale commits and post to channels; dev does
/// neither. Staging runs the tip, so nothing waits for it.
const CONFIG: &str = r#"
[checks]
require = false

[env.production]
stale_after = "24h"
channels = ["prod-deploys", "prod-discord", "all"]

[env.staging]
stale_after = "24h"
channels = ["all", "staging-only"]

[env.dev]

[channels.prod-deploys]
slack = "SLACK_PROD_DEPLOYS"
[channels.prod-discord]
discord = "DISCORD_PROD"
[channels.all]
webhook = "DEPLOY_HOOK_URL"
[channels.staging-only]
slack = "SLACK_STAGING"

[people]
"carol@example.com" = "U0CAROL"
"bob@example.com" = "U0BOB"
"#;

const VARS: [(&str, &str); 4] = [
    ("SLACK_PROD_DEPLOYS", "slack"),
    ("DISCORD_PROD", "discord"),
    ("DEPLOY_HOOK_URL", "webhook"),
    ("SLACK_STAGING", "staging"),
];

/// A commit by `who`, authored and committed at `at`.
fn commit_at(repo: &Repo, who: &str, at: &str, subject: &str) -> String {
    let email = format!("{}@example.com", who.to_lowercase());
    let out = repo
        .cmd("git")
        .args(["commit", "-q", "--allow-empty", "-m", subject])
        .env("GIT_AUTHOR_NAME", who)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_AUTHOR_DATE", at)
        .env("GIT_COMMITTER_DATE", at)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    repo.rev("HEAD")
}

/// The history of the issue: production deployed six days ago, then commits of
/// Carol (5 days before NOW), Bob (2 days) and Alice (1 hour); staging runs the tip.
struct History<'w> {
    repo: Repo<'w>,
    carol: String,
    bob: String,
    alice: String,
    deployed: String,
}

fn history(w: &World) -> History<'_> {
    let repo = w.repo("api", 0);
    repo.write(".train.toml", CONFIG);
    repo.git(&["add", ".train.toml"]);
    let deployed = commit_at(&repo, "Alice", "2026-11-18T09:00:00Z", "Set up (#100)");
    repo.train_at("2026-11-19T09:00:00Z", &["deploy", "production", "--yes"])
        .ok();
    let carol = commit_at(&repo, "Carol", "2026-11-20T12:00:00Z", "Fix typo (#130)");
    let bob = commit_at(
        &repo,
        "Bob",
        "2026-11-23T12:00:00Z",
        "Speed up the search page (#131)",
    );
    let alice = commit_at(
        &repo,
        "Alice",
        "2026-11-25T11:00:00Z",
        "Add dark mode (#132)",
    );
    repo.train_at("2026-11-25T11:30:00Z", &["deploy", "staging", "--yes"])
        .ok();
    History {
        repo,
        carol,
        bob,
        alice,
        deployed,
    }
}

/// git-train at `now` with every channel's URL in its environment; the URL never
/// shows.
fn train(repo: &Repo, hooks: &Hooks, now: &str, args: &[&str]) -> Run {
    let mut cmd = repo.cmd(BIN);
    for (var, hook) in VARS {
        cmd.env(var, hooks.url(hook));
    }
    let run = Run::of(cmd.env("GIT_TRAIN_NOW", now).args(args).output().unwrap());
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(TOKEN), "the URL showed: {text}");
        assert!(!text.contains("panicked"), "a panic: {text}");
    }
    run
}

#[test]
fn stale_lists_the_commits_older_than_the_threshold_oldest_first() {
    let w = World::new();
    let h = history(&w);
    let repo = &h.repo;

    let out = repo
        .train_at(NOW, &["stale", "--older-than", "24h", "--json"])
        .ok();
    assert_eq!(out.stderr, "");
    let doc = out.json();
    assert_eq!(doc["version"], 1);
    let envs: Vec<&str> = doc["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "staging"], "those with stale_after");
    let prod = &doc["environments"][0];
    let shas: Vec<&str> = prod["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap())
        .collect();
    assert_eq!(shas, [h.carol.as_str(), h.bob.as_str()], "oldest first");
    let carol = &prod["waiting"][0];
    assert_eq!(carol["subject"], "Fix typo (#130)");
    assert_eq!(carol["author"], "Carol");
    assert_eq!(carol["author_email"], "carol@example.com");
    assert_eq!(carol["at"], "2026-11-20T12:00:00.000Z");
    assert_eq!(carol["waited_ms"], 5 * 86_400_000_i64);
    assert_eq!(carol["pull_request"], 130);
    assert_eq!(prod["waiting"][1]["pull_request"], 131);
    assert_eq!(prod["undeployed"], 3, "Alice's commit is not old enough");
    assert_eq!(prod["older_than_ms"], 86_400_000);
    assert_eq!(prod["deployed"]["sha"], h.deployed);
    assert_eq!(prod["deployed"]["by"], "alice@example.com");
    assert_eq!(prod["deployed"]["at"], "2026-11-19T09:00:00.000Z");
    let staging = &doc["environments"][1];
    assert_eq!(staging["waiting"], json!([]));
    assert_eq!(staging["undeployed"], 0);
    assert_eq!(staging["deployed"]["sha"], h.alice);
    assert!(doc["environments"][0].get("digest").is_none());

    let out = repo.train_at(NOW, &["stale", "--older-than", "24h"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "production  2 commits wait longer than 24h, the oldest 5d"
    );
    assert_eq!(
        lines[1],
        "  runs ".to_string() + &h.deployed[..7] + ", deployed by alice@example.com 6d 3h ago"
    );
    assert!(
        lines[2].starts_with(&format!("  {} Fix typo ", &h.carol[..7]))
            && lines[2].contains(" Carol ")
            && lines[2].ends_with("    5d  #130"),
        "{}",
        out.stdout
    );
    assert!(
        lines[3].starts_with(&format!("  {} Speed up the search page ", &h.bob[..7]))
            && lines[3].contains(" Bob ")
            && lines[3].ends_with("    2d  #131"),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines[4],
        "  `git train deploy production` ships them (with 1 newer commit)"
    );
    assert_eq!(lines[6], "staging     up to date", "{}", out.stdout);
    assert!(!out.stdout.contains("Add dark mode"), "{}", out.stdout);

    // Younger than an hour: Alice's too. Only dev: never deployed, not counted.
    let out = repo
        .train_at(
            NOW,
            &[
                "stale",
                "--env",
                "production",
                "--older-than",
                "30m",
                "--json",
            ],
        )
        .ok();
    assert_eq!(out.json()["environments"][0]["waiting"][2]["sha"], h.alice);
    let out = repo.train_at(NOW, &["stale", "--env", "dev"]).ok();
    assert_eq!(
        out.stdout,
        "nothing waits\n  dev  never deployed: not counted; `git train deploy dev` starts it\n"
    );

    // Nothing that old: exit 0, "nothing waits".
    let out = repo.train_at(NOW, &["stale", "--older-than", "6d"]).ok();
    assert_eq!(
        out.stdout,
        "nothing waits\n  production  nothing older than 6d (3 newer commits not deployed yet)\n  staging     up to date\n"
    );
}

#[test]
fn post_sends_one_digest_per_environment_with_its_commits_and_mentions_once_a_day() {
    let w = World::new();
    let h = history(&w);
    let repo = &h.repo;
    let hooks = Hooks::start();

    let out = train(repo, &hooks, NOW, &["stale", "--post"]).ok();
    assert_eq!(out.stderr, "", "{}", out.stderr);
    assert!(
        out.stdout
            .contains("✓ posted the digest of production to prod-deploys, prod-discord, all\n"),
        "{}",
        out.stdout
    );

    // Slack: the summary, both commits, the authors mentioned, the command.
    let slack = hooks.posted("slack");
    assert_eq!(slack.len(), 1, "{slack:?}");
    let text = slack_text(&slack[0]);
    assert!(
        text.starts_with(&format!(
            "⏳ api · production: 2 commits wait, oldest 5d: {} Fix typo (#130) by Carol\n",
            &h.carol[..7]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "⏳ *api* · *production*: 2 commits wait, oldest 5d: `{}` Fix typo (#130) by <@U0CAROL>",
            &h.carol[..7]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "production runs `{}`, deployed by alice@example.com 6d 3h ago",
            &h.deployed[..7]
        )),
        "{text}"
    );
    assert!(text.contains("*authors*: <@U0CAROL>, <@U0BOB>"), "{text}");
    assert!(
        text.contains("waiting longer than 24h, oldest first:"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "• `{}` Fix typo (#130) (<@U0CAROL>, 5d)\n• `{}` Speed up the search page (#131) (<@U0BOB>, 2d)",
            &h.carol[..7],
            &h.bob[..7]
        )),
        "{text}"
    );
    assert!(
        text.contains("ship them: `git train deploy production` (with 1 newer commit)"),
        "{text}"
    );
    assert!(!text.contains("Add dark mode"), "{text}");
    assert_eq!(slack[0].json()["attachments"][0]["color"], "#daa038");

    // Discord: the same, in its markdown, pinging nobody.
    let discord = hooks.posted("discord");
    assert_eq!(discord.len(), 1);
    let body = discord[0].json();
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("2 commits wait, oldest 5d"),
        "{body}"
    );
    let description = body["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.contains("Speed up the search page"),
        "{description}"
    );
    assert!(
        description.contains("**authors**: Carol, Bob"),
        "{description}"
    );

    // The webhook: one digest, production's; staging has nothing waiting.
    let webhook = hooks.posted("webhook");
    assert_eq!(webhook.len(), 1, "nothing for staging: {webhook:?}");
    let event = webhook[0].json();
    assert_eq!(event["kind"], "digest");
    assert_eq!(event["version"], 1);
    assert_eq!(event["environment"], "production");
    assert_eq!(event["waiting"], 2);
    assert_eq!(event["newer"], 1);
    assert_eq!(event["commits"][0]["sha"], h.carol);
    assert_eq!(event["commits"][0]["email"], "carol@example.com");
    assert_eq!(event["commits"][0]["pull_request"], 130);
    assert_eq!(event["commits"][1]["sha"], h.bob);
    assert_eq!(event["deployed"]["sha"], h.deployed);
    assert_eq!(event["command"], "git train deploy production");
    let schema = documented_schema("digest-schema");
    let errors = validate(&schema, &event, "$", &schema);
    assert!(errors.is_empty(), "{errors:?}\n{event:#}");
    assert!(
        hooks.posted("staging").is_empty(),
        "nothing waits for staging"
    );

    // What is remembered: the day, per environment and channel; never a URL.
    let memory = std::fs::read_to_string(repo.dir.join(".git/train/digests.json")).unwrap();
    assert!(
        !memory.contains(TOKEN) && !memory.contains("127.0.0.1"),
        "{memory}"
    );
    let memory: Value = serde_json::from_str(&memory).unwrap();
    assert_eq!(
        memory["posted"],
        json!({"production": {"all": "2026-11-25", "prod-deploys": "2026-11-25", "prod-discord": "2026-11-25"}})
    );

    // The same day (a retried workflow): nothing more.
    let out = train(
        repo,
        &hooks,
        "2026-11-25T23:59:00Z",
        &["stale", "--post", "--json"],
    )
    .ok();
    assert_eq!(hooks.count(), 3, "posted nothing the second time");
    let doc = out.json();
    let digest = &doc["environments"][0]["digest"];
    assert_eq!(
        digest,
        &json!([
            {"channel": "prod-deploys", "outcome": "already_posted", "why": null},
            {"channel": "prod-discord", "outcome": "already_posted", "why": null},
            {"channel": "all", "outcome": "already_posted", "why": null},
        ])
    );
    assert!(doc["environments"][1].get("digest").is_none());
    let out = train(repo, &hooks, NOW, &["stale", "--post"]).ok();
    assert!(
        out.stdout.contains(
            "· prod-deploys, prod-discord, all got today's digest of production already: not posted again (--again posts it)"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(hooks.count(), 3);

    // --again posts anyway; the next day posts again by itself.
    train(repo, &hooks, NOW, &["stale", "--post", "--again"]).ok();
    assert_eq!(hooks.count(), 6);
    train(repo, &hooks, NEXT_DAY, &["stale", "--post"]).ok();
    assert_eq!(hooks.count(), 9);
    assert_eq!(hooks.posted("slack").len(), 3);
    assert!(hooks.posted("staging").is_empty());
}

#[test]
fn nothing_is_posted_when_nothing_waits() {
    let w = World::new();
    let h = history(&w);
    let hooks = Hooks::start();
    let out = train(
        &h.repo,
        &hooks,
        NOW,
        &["stale", "--post", "--older-than", "6d"],
    )
    .ok();
    assert!(
        out.stdout.starts_with("nothing waits\n") && out.stdout.ends_with("\nnothing posted\n"),
        "{}",
        out.stdout
    );
    assert_eq!(hooks.count(), 0);
    let out = train(
        &h.repo,
        &hooks,
        NOW,
        &["stale", "--post", "--env", "staging", "--json"],
    )
    .ok();
    assert!(out.json()["environments"][0].get("digest").is_none());
    assert_eq!(hooks.count(), 0);
}

#[test]
fn a_channel_that_fails_is_a_warning_exit_1_and_the_only_one_tried_again() {
    let w = World::new();
    let h = history(&w);
    let hooks = Hooks::start();
    hooks.answer("discord", Answer::Status(500));
    let out = train(&h.repo, &hooks, NOW, &["stale", "--post"]).code(1);
    assert!(
        out.stderr.contains(
            "could not post the digest of production to channel prod-discord: it answered 500 Internal Server Error (invalid_payload)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("✓ posted the digest of production to prod-deploys, all\n✗ could not post the digest of production to prod-discord\n"),
        "{}",
        out.stdout
    );
    assert_eq!(hooks.count(), 3);

    // The workflow retried: only the channel that failed gets it.
    hooks.answer("discord", Answer::Ok);
    let out = train(&h.repo, &hooks, NOW, &["stale", "--post", "-v"]).ok();
    assert_eq!(hooks.count(), 4);
    assert_eq!(hooks.posted("discord").len(), 2);
    assert_eq!(hooks.posted("slack").len(), 1);
    assert!(
        out.stderr
            .contains("channel prod-discord (Discord): posted the digest of production: 200 OK"),
        "{}",
        out.stderr
    );
}

#[test]
fn each_environment_gets_its_digest_and_digests_escape_what_commits_say() {
    let w = World::new();
    let h = history(&w);
    commit_at(
        &h.repo,
        "Eve",
        "2026-11-22T12:00:00Z",
        "Ship <!channel> & <https://evil.example|click> *now* @everyone",
    );
    let hooks = Hooks::start();
    train(&h.repo, &hooks, NOW, &["stale", "--post"]).ok();
    // Eve's commit waits for staging too: a digest for each environment, each to
    // its own channels (`all` is both's).
    let environments: Vec<Value> = hooks
        .posted("webhook")
        .iter()
        .map(|p| p.json()["environment"].clone())
        .collect();
    assert_eq!(environments, [json!("production"), json!("staging")]);
    assert_eq!(hooks.posted("slack").len(), 1);
    let staging = slack_text(&hooks.posted("staging")[0]);
    assert!(
        staging.contains("*staging*: 1 commit waits, oldest 3d"),
        "{staging}"
    );
    let slack = hooks.posted("slack")[0].json().to_string();
    assert!(!slack.contains("<!channel>"), "{slack}");
    assert!(!slack.contains("<https://evil"), "{slack}");
    let text = slack_text(&hooks.posted("slack")[0]);
    assert!(
        text.contains("Ship &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; *now* @everyone (Eve, 3d)"),
        "{text}"
    );
    let discord = hooks.posted("discord")[0].json();
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description
            .contains(r"Ship \<!channel\> & \<https\://evil.example\|click\> \*now\* \@everyone"),
        "{description}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let w = World::new();
    let h = history(&w);
    for (args, says) in [
        (&["stale", "--again"][..], "--post"),
        (&["stale", "--older-than", "soon"], "is not a duration"),
        (&["stale", "--env", "prod"], "unknown environment 'prod'"),
    ] {
        let out = h.repo.train_at(NOW, args).code(2);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}
