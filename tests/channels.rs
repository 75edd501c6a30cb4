//! Team channels (issue 18) against a loopback server standing in for Slack, Discord
//! and a webhook: what is posted, to which channels, exactly once, by whom; escaping,
//! the webhook's schema and signature, channels that fail or never answer, and the
//! URL that never shows.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::github::GitHub;
use common::{Repo, Run, World, BIN};
use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// A token-like path, as Slack's incoming webhooks have: it must never show.
const TOKEN: &str = "T0TESTTEAM/B0TESTHOOK/q8ZkX2vR7mP4nL9sW3cY6tJ1";
const SECRET: &str = "whsec-correct-horse-battery-staple";

/// How the server answers on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    Status(u16),
    /// Never answers; the connection stays open.
    Hang,
}

#[derive(Clone, Debug)]
struct Posted {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Posted {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Seen {
    posted: Vec<Posted>,
    answers: HashMap<String, Answer>,
}

/// The loopback server: records every request; answers 200 unless told otherwise.
/// It binds to 127.0.0.1 only and stops when dropped.
struct Hooks {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hooks {
    fn start() -> Hooks {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = seen.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let seen = shared.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let seen = seen.clone();
                            async move { answer(seen, req).await }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Hooks {
            port,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The URL of a hook, with a token-like path.
    fn url(&self, hook: &str) -> String {
        format!("http://127.0.0.1:{}/{hook}/{TOKEN}", self.port)
    }

    fn answer(&self, hook: &str, answer: Answer) {
        self.seen
            .lock()
            .unwrap()
            .answers
            .insert(format!("/{hook}/{TOKEN}"), answer);
    }

    /// What one hook got, in order.
    fn posted(&self, hook: &str) -> Vec<Posted> {
        let path = format!("/{hook}/{TOKEN}");
        self.seen
            .lock()
            .unwrap()
            .posted
            .iter()
            .filter(|p| p.path == path)
            .cloned()
            .collect()
    }

    fn all(&self) -> Vec<Posted> {
        self.seen.lock().unwrap().posted.clone()
    }

    /// Waits until a hook got `n` posts (a `--no-wait` runner posts in the background).
    fn wait_for(&self, hook: &str, n: usize) -> Vec<Posted> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let posted = self.posted(hook);
            if posted.len() >= n || Instant::now() > deadline {
                return posted;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(
    seen: Arc<Mutex<Seen>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let how = {
        let mut seen = seen.lock().unwrap();
        seen.posted.push(Posted {
            path: path.clone(),
            headers,
            body,
        });
        seen.answers.get(&path).copied().unwrap_or(Answer::Ok)
    };
    let (status, text) = match how {
        Answer::Ok => (200, "ok"),
        Answer::Status(code) => (code, "invalid_payload"),
        Answer::Hang => std::future::pending().await,
    };
    Ok(hyper::Response::builder()
        .status(status)
        .body(http_body_util::Full::new(Bytes::from(text)))
        .unwrap())
}

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

/// What a Slack body says, all its texts together.
fn slack_text(p: &Posted) -> String {
    let body = p.json();
    assert!(body["text"].is_string(), "{body}");
    assert!(body["blocks"].is_array(), "{body}");
    let mut text = body["text"].as_str().unwrap().to_string();
    let mut collect = |blocks: &Value| {
        for block in blocks.as_array().into_iter().flatten() {
            if let Some(t) = block["text"]["text"].as_str() {
                text.push('\n');
                text.push_str(t);
            }
            for e in block["elements"].as_array().into_iter().flatten() {
                text.push('\n');
                text.push_str(e["text"].as_str().unwrap_or(""));
            }
        }
    };
    collect(&body["blocks"]);
    for a in body["attachments"].as_array().into_iter().flatten() {
        collect(&a["blocks"]);
    }
    text
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

/// The JSON Schema of the generic webhook's body, as README.md documents it.
fn documented_schema() -> Value {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- webhook-schema -->")
        .expect("README.md documents the webhook schema");
    let block = &readme[start..];
    let open = block.find("```json\n").unwrap() + 8;
    let close = block[open..].find("```").unwrap() + open;
    serde_json::from_str(&block[open..close]).expect("the documented schema is JSON")
}

#[test]
fn the_webhook_body_follows_the_documented_schema_and_its_signature_verifies() {
    use hmac::{Hmac, Mac};
    let schema = documented_schema();
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

/// A validator for the part of JSON Schema the README uses: `$ref` into `$defs`,
/// `type` (one or a list), `const`, `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `oneOf`, `minimum`.
fn validate(schema: &Value, value: &Value, at: &str, root: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/$defs/").expect("a local $ref");
        return validate(&root["$defs"][name], value, at, root);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|o| validate(o, value, at, root).is_empty())
            .count();
        if matching != 1 {
            errors.push(format!("{at}: matches {matching} of oneOf"));
        }
    }
    let type_of = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type in schema at {at}"),
        };
        let actual = type_of(value);
        let fits =
            allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number"));
        if !fits {
            errors.push(format!("{at}: {actual} is not {allowed:?}"));
            return errors;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: {value} is not {c}"));
        }
    }
    if let Some(list) = schema["enum"].as_array() {
        if !list.contains(value) {
            errors.push(format!("{at}: {value} is not one of {list:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                errors.push(format!("{at}: no `{key}`"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => errors.extend(validate(s, v, &format!("{at}.{key}"), root)),
                None if schema["additionalProperties"] == json!(false) => {
                    errors.push(format!("{at}: `{key}` is not documented"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            errors.extend(validate(items, v, &format!("{at}[{i}]"), root));
        }
    }
    errors
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
