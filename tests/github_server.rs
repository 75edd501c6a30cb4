//! The test GitHub server itself (tests/common/github.rs), driven with HTTP/1.1 written
//! by hand over a TcpStream: the shapes of its answers against GitHub's examples,
//! pagination, ETags and 304s, rate limits, every fault, the workflow, and the token.

mod common;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::github::{Fault, GitHub, REPO_ID};
use serde_json::{json, Value};

const SHA: &str = "1111111111111111111111111111111111111111";
const SHA2: &str = "2222222222222222222222222222222222222222";

// -- a small HTTP/1.1 client ------------------------------------------------------------

struct Call {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    timeout: Duration,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Call {
    fn get(gh: &GitHub, target: &str) -> Call {
        Call {
            method: "GET",
            target: target.to_string(),
            headers: vec![
                ("User-Agent".into(), "github-server-test".into()),
                ("Accept".into(), "application/vnd.github+json".into()),
                ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
                ("Authorization".into(), format!("Bearer {}", gh.token())),
            ],
            body: None,
            timeout: Duration::from_secs(10),
        }
    }

    fn post(gh: &GitHub, target: &str, body: &Value) -> Call {
        let mut call = Call::get(gh, target);
        call.method = "POST";
        call.body = Some(body.to_string());
        call
    }

    fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// One more value of a header, beside any it has.
    fn also(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn without(mut self, name: &str) -> Call {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn raw_body(mut self, body: &str) -> Call {
        self.body = Some(body.to_string());
        self
    }

    fn timeout(mut self, timeout: Duration) -> Call {
        self.timeout = timeout;
        self
    }

    /// Sends the request on a new connection and reads until the server closes it.
    fn try_send(&self, gh: &GitHub) -> io::Result<Answer> {
        let addr = gh.url().trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr)?;
        stream.set_read_timeout(Some(self.timeout))?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\n",
            self.method, self.target
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = &self.body {
            if !self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                head.push_str("Content-Type: application/json\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        head.push_str(self.body.as_deref().unwrap_or(""));
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        if raw.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of the head");
        let head = String::from_utf8(raw[..split].to_vec()).expect("head is text");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Ok(Answer {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        })
    }

    #[track_caller]
    fn send(&self, gh: &GitHub) -> Answer {
        let answer = self
            .try_send(gh)
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.target));
        if let Some(length) = answer.header("content-length") {
            assert_eq!(
                length.parse::<usize>().unwrap(),
                answer.body.len(),
                "whole body"
            );
        }
        answer
    }
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    #[track_caller]
    fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The `Link` header as (rel, url) pairs.
    fn links(&self) -> Vec<(String, String)> {
        let Some(link) = self.header("link") else {
            return Vec::new();
        };
        link.split(", ")
            .map(|part| {
                let (url, rel) = part.split_once("; rel=").unwrap();
                (
                    rel.trim_matches('"').to_string(),
                    url.trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                )
            })
            .collect()
    }

    fn link(&self, rel: &str) -> Option<String> {
        self.links()
            .into_iter()
            .find(|(r, _)| r == rel)
            .map(|(_, u)| u)
    }

    fn remaining(&self) -> u64 {
        self.header("x-ratelimit-remaining")
            .unwrap()
            .parse()
            .unwrap()
    }
}

// -- shapes ------------------------------------------------------------------------------

fn example(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every top-level key of GitHub's example is in the answer.
#[track_caller]
fn assert_shape(actual: &Value, example: &Value, what: &str) {
    let keys = example.as_object().expect("example object").keys();
    let object = actual
        .as_object()
        .unwrap_or_else(|| panic!("{what}: {actual}"));
    for key in keys {
        assert!(object.contains_key(key), "{what} lacks {key:?}: {actual:#}");
    }
}

/// No URL in an answer leads off this machine to the real API.
#[track_caller]
fn assert_no_real_api(value: &Value) {
    match value {
        Value::String(s) => assert!(!s.contains("api.github.com"), "{s}"),
        Value::Array(items) => items.iter().for_each(assert_no_real_api),
        Value::Object(map) => map.values().for_each(assert_no_real_api),
        _ => {}
    }
}

fn deploy_body(sha: &str, environment: &str) -> Value {
    json!({
        "ref": sha,
        "environment": environment,
        "auto_merge": false,
        "required_contexts": [],
        "payload": {"dep": "01J00000000000000000000000", "train": ["a", "b"]},
        "production_environment": environment == "production",
        "description": "git-train: deploy",
    })
}

// -- tests -------------------------------------------------------------------------------

#[test]
fn every_operation_answers_with_the_fields_of_githubs_examples() {
    let gh = GitHub::start("acme/api");
    let base = gh.url();
    let api = format!("{base}/repos/acme/api");
    gh.add_commit(SHA, "first");
    gh.add_commit(SHA2, "second");
    gh.set_commit_status(
        SHA2,
        "ci/build",
        "success",
        Some("https://ci.example.com/1"),
    );
    gh.set_check_run(SHA2, "test", "completed", Some("success"));
    let user = example("simple-user.json");

    let created = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA2, "staging"),
    )
    .send(&gh)
    .expect(201)
    .json();
    assert_shape(&created, &example("deployment.json"), "created deployment");
    assert_shape(&created["creator"], &user, "deployment creator");
    let id = created["id"].as_u64().unwrap();
    assert_eq!(created["url"], format!("{api}/deployments/{id}"));
    assert_eq!(
        created["statuses_url"],
        format!("{api}/deployments/{id}/statuses")
    );
    assert_eq!(created["repository_url"], api);
    assert_eq!(created["sha"], SHA2);
    assert_eq!(created["ref"], SHA2);
    assert_eq!(created["environment"], "staging");
    assert_eq!(created["original_environment"], "staging");
    assert_eq!(created["production_environment"], false);
    assert_eq!(created["payload"]["dep"], "01J00000000000000000000000");
    assert_eq!(created["creator"]["login"], "alice");
    assert_eq!(created["creator"]["url"], format!("{base}/users/alice"));
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let status = Call::post(
        &gh,
        &format!("/repos/acme/api/deployments/{id}/statuses"),
        &json!({"state": "in_progress", "log_url": "https://ci.example.com/run/7"}),
    )
    .send(&gh)
    .expect(201);
    assert_eq!(
        status.header("location").unwrap(),
        status.json()["url"].as_str().unwrap()
    );
    let status = status.json();
    assert_shape(
        &status,
        &example("deployment-status.json"),
        "created status",
    );
    assert_shape(&status["creator"], &user, "status creator");
    assert_eq!(status["state"], "in_progress");
    assert_eq!(status["environment"], "staging");
    assert_eq!(status["log_url"], "https://ci.example.com/run/7");
    assert_eq!(status["target_url"], "https://ci.example.com/run/7");
    assert_eq!(status["deployment_url"], format!("{api}/deployments/{id}"));

    let list = Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200)
        .json();
    assert_shape(&list[0], &example("deployment.json"), "listed deployment");
    let one = Call::get(&gh, &format!("/repos/acme/api/deployments/{id}"))
        .send(&gh)
        .expect(200)
        .json();
    assert_shape(&one, &example("deployment.json"), "deployment");
    assert_eq!(one["id"], id);
    let statuses = Call::get(&gh, &format!("/repos/acme/api/deployments/{id}/statuses"))
        .send(&gh)
        .expect(200)
        .json();
    assert_shape(
        &statuses[0],
        &example("deployment-status.json"),
        "listed status",
    );

    let combined = Call::get(&gh, &format!("/repos/acme/api/commits/{SHA2}/status"))
        .send(&gh)
        .expect(200)
        .json();
    let combined_example = example("combined-status.json");
    assert_shape(&combined, &combined_example, "combined status");
    assert_shape(
        &combined["statuses"][0],
        &combined_example["statuses"][0],
        "commit status",
    );
    assert_shape(
        &combined["repository"],
        &combined_example["repository"],
        "status repository",
    );
    assert_eq!(combined["sha"], SHA2);
    assert_eq!(combined["statuses"][0]["context"], "ci/build");
    assert_eq!(
        combined["statuses"][0]["target_url"],
        "https://ci.example.com/1"
    );

    let runs = Call::get(&gh, &format!("/repos/acme/api/commits/{SHA2}/check-runs"))
        .send(&gh)
        .expect(200)
        .json();
    let runs_example = example("check-runs.json");
    assert_shape(&runs, &runs_example, "check runs");
    assert_shape(
        &runs["check_runs"][0],
        &runs_example["check_runs"][0],
        "check run",
    );
    assert_eq!(runs["total_count"], 1);
    assert_eq!(runs["check_runs"][0]["head_sha"], SHA2);

    let commits = Call::get(&gh, "/repos/acme/api/commits")
        .send(&gh)
        .expect(200)
        .json();
    assert_shape(&commits[0], &example("commits.json")[0], "commit");
    assert_eq!(commits[0]["sha"], SHA2);
    assert_eq!(commits[0]["parents"][0]["sha"], SHA);
    assert_eq!(commits[1]["sha"], SHA);

    let envs = Call::get(&gh, "/repos/acme/api/environments")
        .send(&gh)
        .expect(200)
        .json();
    let envs_example = example("environments.json");
    assert_shape(&envs, &envs_example, "environments");
    assert_shape(
        &envs["environments"][0],
        &envs_example["environments"][0],
        "environment",
    );
    assert_eq!(envs["environments"][0]["name"], "staging");

    let repo = Call::get(&gh, "/repos/acme/api")
        .send(&gh)
        .expect(200)
        .json();
    assert_shape(&repo, &example("repository.json"), "repository");
    assert_eq!(repo["full_name"], "acme/api");
    assert_eq!(repo["id"], REPO_ID);
    assert_eq!(repo["owner"]["login"], "acme");
    assert_eq!(repo["deployments_url"], format!("{api}/deployments"));

    let rate = Call::get(&gh, "/rate_limit").send(&gh).expect(200).json();
    assert_shape(&rate, &example("rate-limit.json"), "rate limit");
    assert_eq!(rate["rate"]["limit"], 5000);

    let me = Call::get(&gh, "/user").send(&gh).expect(200).json();
    assert_shape(&me, &example("user.json"), "authenticated user");
    assert_eq!(me["login"], "alice");

    for answer in [
        created, status, list, one, statuses, combined, runs, commits, envs, repo, me,
    ] {
        assert_no_real_api(&answer);
    }
}

#[test]
fn deployments_are_kept_filtered_and_listed_newest_first() {
    let gh = GitHub::start("acme/api");
    let a = gh.add_deployment(SHA, "staging", "bob", json!({"dep": "a"}));
    let b = gh.add_deployment(SHA2, "production", "github-actions[bot]", json!({}));
    let c = gh.add_deployment(SHA2, "staging", "bob", json!({"dep": "c"}));
    assert!(a < b && b < c);

    let ids = |answer: Value| -> Vec<u64> {
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_u64().unwrap())
            .collect()
    };
    let all = Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200)
        .json();
    assert_eq!(ids(all.clone()), vec![c, b, a]);
    assert_eq!(all[1]["creator"]["login"], "github-actions[bot]");
    assert_eq!(all[1]["creator"]["type"], "Bot");
    assert_eq!(all[1]["production_environment"], true);
    let staging = Call::get(&gh, "/repos/acme/api/deployments?environment=staging")
        .send(&gh)
        .json();
    assert_eq!(ids(staging), vec![c, a]);
    let by_sha = Call::get(
        &gh,
        &format!("/repos/acme/api/deployments?sha={SHA2}&environment=staging"),
    )
    .send(&gh)
    .json();
    assert_eq!(ids(by_sha), vec![c]);
    let by_ref = Call::get(&gh, &format!("/repos/acme/api/deployments?ref={SHA}"))
        .send(&gh)
        .json();
    assert_eq!(ids(by_ref), vec![a]);

    // The same repository by id, as `Link` URLs name it, and owner/name in any case.
    let by_id = Call::get(&gh, &format!("/repositories/{REPO_ID}/deployments"))
        .send(&gh)
        .json();
    assert_eq!(ids(by_id), vec![c, b, a]);
    Call::get(&gh, &format!("/repos/ACME/Api/deployments/{a}"))
        .send(&gh)
        .expect(200);

    let missing = Call::get(&gh, "/repos/acme/api/deployments/999999")
        .send(&gh)
        .expect(404)
        .json();
    assert_eq!(missing["message"], "Not Found");
    assert!(missing["documentation_url"]
        .as_str()
        .unwrap()
        .starts_with("https://docs.github.com/"));

    let helper: Vec<u64> = gh
        .deployments()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect();
    assert_eq!(helper, vec![c, b, a]);

    gh.add_deployment_status(a, "success", Some("https://ci.example.com/a"));
    gh.add_deployment_status(a, "failure", None);
    let statuses = Call::get(&gh, &format!("/repos/acme/api/deployments/{a}/statuses"))
        .send(&gh)
        .json();
    assert_eq!(statuses[0]["state"], "failure");
    assert_eq!(statuses[1]["state"], "success");
    assert_eq!(statuses[1]["log_url"], "https://ci.example.com/a");
    assert_eq!(gh.deployment_statuses(a).len(), 2);
}

#[test]
fn pages_follow_link_headers_formatted_as_github_does() {
    let gh = GitHub::start("acme/api");
    let base = gh.url();
    for i in 0..250 {
        gh.add_deployment(SHA, "production", "bob", json!({"n": i}));
    }
    let first = Call::get(&gh, "/repos/acme/api/deployments?per_page=100")
        .send(&gh)
        .expect(200);
    let pages = format!("{base}/repositories/{REPO_ID}/deployments?per_page=100&page=");
    assert_eq!(
        first.header("link").unwrap(),
        format!("<{pages}2>; rel=\"next\", <{pages}3>; rel=\"last\"")
    );
    let second = Call::get(&gh, "/repos/acme/api/deployments?per_page=100&page=2").send(&gh);
    assert_eq!(
        second.header("link").unwrap(),
        format!(
            "<{pages}1>; rel=\"prev\", <{pages}3>; rel=\"next\", <{pages}3>; rel=\"last\", <{pages}1>; rel=\"first\""
        )
    );

    // Following rel="next" exactly reads every deployment once, newest first.
    let mut seen = Vec::new();
    let mut next = Some(format!("{base}/repos/acme/api/deployments?per_page=100"));
    let mut requests = 0;
    while let Some(url) = next {
        let target = url
            .strip_prefix(&base)
            .expect("absolute URL on this server");
        let answer = Call::get(&gh, target).send(&gh).expect(200);
        seen.extend(
            answer
                .json()
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_u64().unwrap()),
        );
        next = answer.link("next");
        requests += 1;
    }
    assert_eq!(requests, 3);
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first");
    let last = Call::get(&gh, "/repos/acme/api/deployments?per_page=100&page=3").send(&gh);
    assert_eq!(last.link("next"), None);
    assert_eq!(last.link("prev"), Some(format!("{pages}2")));

    // per_page: 30 by default, at most 100; a page past the end is empty.
    let default = Call::get(&gh, "/repos/acme/api/deployments").send(&gh);
    assert_eq!(default.json().as_array().unwrap().len(), 30);
    assert_eq!(
        default.link("last"),
        Some(format!("{base}/repositories/{REPO_ID}/deployments?page=9"))
    );
    let capped = Call::get(&gh, "/repos/acme/api/deployments?per_page=500").send(&gh);
    assert_eq!(capped.json().as_array().unwrap().len(), 100);
    assert_eq!(
        capped.link("next"),
        Some(format!(
            "{base}/repositories/{REPO_ID}/deployments?per_page=500&page=2"
        ))
    );
    let past = Call::get(&gh, "/repos/acme/api/deployments?per_page=100&page=4").send(&gh);
    assert_eq!(past.json(), json!([]));

    // Other query parameters stay where they were; `page` is replaced in place.
    let filtered = Call::get(
        &gh,
        "/repos/acme/api/deployments?page=1&environment=production&per_page=50",
    )
    .send(&gh);
    assert_eq!(
        filtered.link("next"),
        Some(format!(
            "{base}/repositories/{REPO_ID}/deployments?page=2&environment=production&per_page=50"
        ))
    );

    // The owner/name form, when asked for.
    gh.links_by_repository_id(false);
    let named = Call::get(&gh, "/repos/acme/api/deployments?per_page=100").send(&gh);
    assert_eq!(
        named.link("next"),
        Some(format!(
            "{base}/repos/acme/api/deployments?per_page=100&page=2"
        ))
    );
}

#[test]
fn statuses_and_check_runs_page_too() {
    let gh = GitHub::start("acme/api");
    for i in 0..45 {
        gh.set_commit_status(SHA, &format!("ctx-{i:02}"), "success", None);
        gh.set_check_run(SHA, &format!("run-{i:02}"), "completed", Some("success"));
    }
    let id = gh.add_deployment(SHA, "production", "bob", json!({}));
    for _ in 0..35 {
        gh.add_deployment_status(id, "in_progress", None);
    }

    let runs = Call::get(
        &gh,
        &format!("/repos/acme/api/commits/{SHA}/check-runs?per_page=20"),
    )
    .send(&gh);
    assert_eq!(runs.json()["total_count"], 45);
    assert_eq!(runs.json()["check_runs"].as_array().unwrap().len(), 20);
    let last = runs.link("last").unwrap();
    assert!(
        last.ends_with(&format!("/commits/{SHA}/check-runs?per_page=20&page=3")),
        "{last}"
    );
    let third = Call::get(&gh, last.strip_prefix(&gh.url()).unwrap())
        .send(&gh)
        .json();
    assert_eq!(third["check_runs"].as_array().unwrap().len(), 5);

    let combined = Call::get(
        &gh,
        &format!("/repos/acme/api/commits/{SHA}/status?per_page=40"),
    )
    .send(&gh);
    assert_eq!(combined.json()["total_count"], 45);
    assert_eq!(combined.json()["statuses"].as_array().unwrap().len(), 40);
    assert!(combined
        .link("next")
        .unwrap()
        .ends_with("/status?per_page=40&page=2"));

    let statuses = Call::get(&gh, &format!("/repos/acme/api/deployments/{id}/statuses")).send(&gh);
    assert_eq!(statuses.json().as_array().unwrap().len(), 30);
    assert!(statuses
        .link("next")
        .unwrap()
        .ends_with(&format!("/deployments/{id}/statuses?page=2")));
}

#[test]
fn a_matching_etag_answers_304_without_body_or_cost() {
    let gh = GitHub::start("acme/api");
    gh.add_deployment(SHA, "production", "bob", json!({}));
    let first = Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200);
    let etag = first.header("etag").unwrap().to_string();
    assert!(etag.starts_with("W/\"") && etag.len() == 64 + 4, "{etag}");
    let before = first.remaining();

    let again = Call::get(&gh, "/repos/acme/api/deployments")
        .header("If-None-Match", &etag)
        .send(&gh)
        .expect(304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.remaining(), before, "a 304 costs nothing");
    assert_eq!(gh.rate_remaining(), before);

    // The same body has the same ETag; a change makes a new one, and costs one request.
    let same = Call::get(&gh, "/repos/acme/api/deployments").send(&gh);
    assert_eq!(same.header("etag"), Some(etag.as_str()));
    assert_eq!(same.remaining(), before - 1);
    gh.add_deployment(SHA2, "production", "bob", json!({}));
    let changed = Call::get(&gh, "/repos/acme/api/deployments")
        .header("If-None-Match", &etag)
        .send(&gh)
        .expect(200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_eq!(changed.json().as_array().unwrap().len(), 2);
    assert_eq!(changed.remaining(), before - 2);

    // Strong or weak, in a list: compared weakly, as GitHub does.
    let tag = changed.header("etag").unwrap().to_string();
    let strong = tag.trim_start_matches("W/").to_string();
    Call::get(&gh, "/repos/acme/api/deployments")
        .header("If-None-Match", &format!("\"other\", {strong}"))
        .send(&gh)
        .expect(304);

    // Every GET has one.
    for target in [
        "/repos/acme/api",
        "/user",
        "/rate_limit",
        "/repos/acme/api/environments",
    ] {
        let answer = Call::get(&gh, target).send(&gh).expect(200);
        let tag = answer.header("etag").unwrap().to_string();
        Call::get(&gh, target)
            .header("If-None-Match", &tag)
            .send(&gh)
            .expect(304);
    }
    let log = gh.requests();
    assert_eq!(log[1].if_none_match.as_deref(), Some(etag.as_str()));
    assert_eq!(log[1].status, 304);
}

#[test]
fn rate_limit_headers_count_down_and_an_empty_budget_refuses() {
    let gh = GitHub::start("acme/api");
    let answer = Call::get(&gh, "/repos/acme/api").send(&gh).expect(200);
    assert_eq!(answer.header("x-ratelimit-limit"), Some("5000"));
    assert_eq!(answer.header("x-ratelimit-remaining"), Some("4999"));
    assert_eq!(answer.header("x-ratelimit-used"), Some("1"));
    assert_eq!(answer.header("x-ratelimit-resource"), Some("core"));
    let reset: u64 = answer.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(reset > now && reset <= now + 3600);
    // GET /rate_limit is free.
    let rate = Call::get(&gh, "/rate_limit").send(&gh).expect(200);
    assert_eq!(rate.remaining(), 4999);
    assert_eq!(rate.json()["resources"]["core"]["remaining"], 4999);

    gh.set_rate_remaining(1);
    Call::get(&gh, "/repos/acme/api").send(&gh).expect(200);
    let refused = Call::get(&gh, "/repos/acme/api").send(&gh).expect(403);
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-used"), Some("5000"));
    assert!(refused.header("x-ratelimit-reset").is_some());
    assert!(refused.header("retry-after").is_none());
    assert!(refused.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("API rate limit exceeded"));
    let posted = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    );
    posted.send(&gh).expect(403);
    assert!(gh.deployments().is_empty(), "a refused POST does nothing");
    let rate = Call::get(&gh, "/rate_limit").send(&gh).expect(200);
    assert_eq!(rate.json()["rate"]["remaining"], 0);

    // When the reset time passes, the budget is whole again: the server's clock is
    // moved past it, no test waits for it.
    gh.set_rate_reset_in(Duration::from_secs(1));
    let still = Call::get(&gh, "/repos/acme/api").send(&gh).expect(403);
    let reset: u64 = still.header("x-ratelimit-reset").unwrap().parse().unwrap();
    gh.advance_clock(Duration::from_secs(2));
    let back = Call::get(&gh, "/repos/acme/api").send(&gh).expect(200);
    assert_eq!(back.remaining(), 4999);
    let next: u64 = back.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        next >= reset + 3600,
        "a new hour from the server's now: {reset} {next}"
    );
}

#[test]
fn requests_without_the_token_are_refused_and_the_log_never_holds_it() {
    let gh = GitHub::start("acme/api");
    let none = Call::get(&gh, "/repos/acme/api/deployments")
        .without("Authorization")
        .send(&gh)
        .expect(401)
        .json();
    assert_eq!(none["message"], "Requires authentication");
    assert_eq!(none["documentation_url"], "https://docs.github.com/rest");
    let wrong = Call::get(&gh, "/repos/acme/api/deployments")
        .header(
            "Authorization",
            "Bearer ghp_wrongwrongwrongwrongwrongwrongwrong",
        )
        .send(&gh)
        .expect(401)
        .json();
    assert_eq!(wrong["message"], "Bad credentials");
    Call::get(&gh, "/repos/acme/api/deployments")
        .header("Authorization", &format!("token {}", gh.token()))
        .send(&gh)
        .expect(200);
    // GitHub refuses requests without a User-Agent.
    Call::get(&gh, "/repos/acme/api")
        .without("User-Agent")
        .send(&gh)
        .expect(403);
    assert_eq!(
        gh.rate_remaining(),
        4999,
        "only the accepted request counted"
    );

    let log = gh.requests();
    let schemes: Vec<Option<&str>> = log.iter().map(|r| r.auth_scheme.as_deref()).collect();
    assert_eq!(
        schemes,
        vec![None, Some("Bearer"), Some("token"), Some("Bearer")]
    );
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 200, 403]
    );
    assert!(
        !format!("{log:?}").contains(gh.token()),
        "the token is never logged"
    );
    assert!(gh.token().starts_with("ghp_") && gh.token().len() == 40);
    assert_ne!(
        gh.token(),
        GitHub::start("acme/api").token(),
        "each server has its own"
    );
}

#[test]
fn unknown_paths_are_not_found_and_a_trailing_question_mark_is_fine() {
    let gh = GitHub::start("acme/api");
    for target in [
        "/repos/acme/api/pulls",
        "/repos/acme/other/deployments",
        "/repos/acme/api/deployments/nope",
        "/nothing",
    ] {
        let body = Call::get(&gh, target).send(&gh).expect(404).json();
        assert_eq!(body["message"], "Not Found", "{target}");
        assert!(body["documentation_url"].is_string());
    }
    Call::get(&gh, "/repos/acme/api/deployments?")
        .send(&gh)
        .expect(200);
    Call::get(&gh, "/repos/acme/api?").send(&gh).expect(200);
    Call::get(&gh, "/rate_limit?").send(&gh).expect(200);
    assert_eq!(gh.requests().last().unwrap().path, "/rate_limit?");
}

#[test]
fn the_combined_status_rolls_up_as_github_does() {
    let gh = GitHub::start("acme/api");
    let state = |gh: &GitHub| -> (String, u64) {
        let body = Call::get(gh, &format!("/repos/acme/api/commits/{SHA}/status"))
            .send(gh)
            .json();
        (
            body["state"].as_str().unwrap().to_string(),
            body["total_count"].as_u64().unwrap(),
        )
    };
    assert_eq!(state(&gh), ("pending".to_string(), 0), "no statuses at all");
    gh.set_commit_status(SHA, "build", "success", None);
    assert_eq!(state(&gh), ("success".to_string(), 1));
    gh.set_commit_status(SHA, "lint", "pending", None);
    assert_eq!(state(&gh), ("pending".to_string(), 2));
    gh.set_commit_status(SHA, "build", "error", None);
    assert_eq!(
        state(&gh),
        ("failure".to_string(), 2),
        "the newest status of a context counts"
    );
    gh.set_commit_status(SHA, "build", "success", None);
    gh.set_commit_status(SHA, "lint", "failure", None);
    assert_eq!(state(&gh).0, "failure");
    gh.set_commit_status(SHA, "lint", "success", None);
    assert_eq!(state(&gh), ("success".to_string(), 2));

    // A branch resolves; an unknown ref does not.
    gh.set_branch("main", SHA);
    let body = Call::get(&gh, "/repos/acme/api/commits/main/status")
        .send(&gh)
        .expect(200)
        .json();
    assert_eq!(body["sha"], SHA);
    // 404, as GitHub's description of this operation has it (200 or 404).
    Call::get(&gh, "/repos/acme/api/commits/nope/status")
        .send(&gh)
        .expect(404);
}

#[test]
fn check_runs_carry_status_and_conclusion() {
    let gh = GitHub::start("acme/api");
    let body = Call::get(&gh, &format!("/repos/acme/api/commits/{SHA}/check-runs"))
        .send(&gh)
        .json();
    assert_eq!(body, json!({"total_count": 0, "check_runs": []}));
    gh.set_check_run(SHA, "build", "in_progress", None);
    gh.set_check_run(SHA, "lint", "completed", Some("neutral"));
    gh.set_check_run(SHA2, "build", "completed", Some("failure"));
    let body = Call::get(&gh, &format!("/repos/acme/api/commits/{SHA}/check-runs"))
        .send(&gh)
        .json();
    assert_eq!(body["total_count"], 2);
    let build = &body["check_runs"][0];
    assert_eq!(
        (build["name"].as_str(), build["status"].as_str()),
        (Some("build"), Some("in_progress"))
    );
    assert_eq!(build["conclusion"], Value::Null);
    assert_eq!(build["completed_at"], Value::Null);
    assert_eq!(body["check_runs"][1]["conclusion"], "neutral");

    gh.set_check_run(SHA, "build", "completed", Some("success"));
    let body = Call::get(
        &gh,
        &format!("/repos/acme/api/commits/{SHA}/check-runs?status=completed"),
    )
    .send(&gh)
    .json();
    assert_eq!(body["total_count"], 2, "updated in place");
    assert_eq!(body["check_runs"][0]["conclusion"], "success");
    assert!(body["check_runs"][0]["completed_at"].is_string());
}

#[test]
fn creating_deployments_and_statuses_is_validated_as_github_does() {
    let gh = GitHub::start("acme/api");
    let create = |body: &Value| Call::post(&gh, "/repos/acme/api/deployments", body).send(&gh);

    let missing_ref = create(&json!({"environment": "production"}))
        .expect(422)
        .json();
    assert_eq!(
        missing_ref["message"],
        "Invalid request.\n\n\"ref\" wasn't supplied."
    );
    let unknown = create(&json!({"ref": "no-such-branch"})).expect(422).json();
    assert_eq!(unknown["message"], "No ref found for: no-such-branch");
    Call::post(&gh, "/repos/acme/api/deployments", &json!({}))
        .raw_body("{not json")
        .send(&gh)
        .expect(400);

    // Without `required_contexts: []`, GitHub checks the commit's statuses itself.
    gh.set_commit_status(SHA, "ci", "failure", None);
    let conflict = create(&json!({"ref": SHA, "environment": "production"}))
        .expect(409)
        .json();
    assert_eq!(
        conflict["message"],
        format!("Conflict: Commit status checks failed for {SHA}.")
    );
    assert_eq!(
        conflict["errors"][0]["contexts"][0],
        json!({"context": "ci", "state": "failure"})
    );
    assert!(gh.deployments().is_empty());
    let made = create(&deploy_body(SHA, "production")).expect(201).json();
    assert_eq!(made["production_environment"], true);

    // Defaults: environment production, task deploy, a JSON string payload is parsed.
    gh.set_branch("main", SHA2);
    let defaults = create(
        &json!({"ref": "main", "payload": "{\"deploy\": \"migrate\"}", "required_contexts": []}),
    )
    .expect(201)
    .json();
    assert_eq!(defaults["sha"], SHA2);
    assert_eq!(defaults["ref"], "main");
    assert_eq!(defaults["environment"], "production");
    assert_eq!(defaults["task"], "deploy");
    assert_eq!(defaults["payload"], json!({"deploy": "migrate"}));

    let id = made["id"].as_u64().unwrap();
    let post_status = |body: &Value| {
        Call::post(
            &gh,
            &format!("/repos/acme/api/deployments/{id}/statuses"),
            body,
        )
        .send(&gh)
    };
    let bad = post_status(&json!({"state": "done"})).expect(422).json();
    assert_eq!(bad["message"], "Validation Failed");
    post_status(&json!({"description": "x"})).expect(422);
    post_status(&json!({"state": "success", "description": "x".repeat(141)})).expect(422);
    Call::post(
        &gh,
        "/repos/acme/api/deployments/424242/statuses",
        &json!({"state": "success"}),
    )
    .send(&gh)
    .expect(404);
    let ok = post_status(&json!({"state": "success", "target_url": "https://ci.example.com/9", "environment_url": "https://api.acme.example"}))
        .expect(201)
        .json();
    assert_eq!(ok["log_url"], "https://ci.example.com/9");
    assert_eq!(ok["environment_url"], "https://api.acme.example");
    assert_eq!(gh.deployment_statuses(id).len(), 1);
}

#[test]
fn a_success_makes_earlier_non_production_deployments_inactive() {
    let gh = GitHub::start("acme/api");
    let old = gh.add_deployment(SHA, "staging", "bob", json!({}));
    gh.add_deployment_status(old, "success", None);
    let prod = gh.add_deployment(SHA, "production", "bob", json!({}));
    gh.add_deployment_status(prod, "success", None);
    let new = gh.add_deployment(SHA2, "staging", "bob", json!({}));
    gh.add_deployment_status(new, "success", None);
    assert_eq!(gh.deployment_statuses(old)[0]["state"], "inactive");
    assert_eq!(
        gh.deployment_statuses(prod)[0]["state"],
        "success",
        "production stays"
    );
    assert_eq!(gh.deployment_statuses(new)[0]["state"], "success");
}

#[test]
fn the_workflow_posts_its_statuses_after_a_deployment_is_created() {
    let gh = GitHub::start("acme/api");
    gh.workflow(&[
        ("queued", Duration::ZERO),
        ("in_progress", Duration::from_millis(50)),
        ("success", Duration::from_millis(300)),
    ]);
    let started = Instant::now();
    let made = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    )
    .send(&gh)
    .expect(201)
    .json();
    let id = made["id"].as_u64().unwrap();
    let statuses = gh.wait_for_statuses(id, 3, Duration::from_secs(5));
    assert!(started.elapsed() >= Duration::from_millis(350));
    let states: Vec<&str> = statuses
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["success", "in_progress", "queued"]);
    let listed = Call::get(&gh, &format!("/repos/acme/api/deployments/{id}/statuses"))
        .send(&gh)
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[0]["state"], "success", "newest first");
    for status in listed.as_array().unwrap() {
        assert_eq!(status["log_url"], gh.run_url(id));
        assert_eq!(status["target_url"], gh.run_url(id));
        assert_eq!(status["creator"]["login"], "github-actions[bot]");
        assert_eq!(status["environment"], "production");
    }

    // Deployments made elsewhere start it too; an empty workflow is off.
    let other = gh.add_deployment(SHA2, "production", "bob", json!({}));
    assert_eq!(
        gh.wait_for_statuses(other, 3, Duration::from_secs(5)).len(),
        3
    );
    gh.workflow(&[]);
    let quiet = gh.add_deployment(SHA2, "production", "bob", json!({}));
    std::thread::sleep(Duration::from_millis(100));
    assert!(gh.deployment_statuses(quiet).is_empty());
}

#[test]
fn the_request_log_has_method_path_and_post_bodies() {
    let gh = GitHub::start("acme/api");
    let body = deploy_body(SHA, "production");
    Call::post(&gh, "/repos/acme/api/deployments", &body)
        .send(&gh)
        .expect(201);
    Call::get(&gh, "/repos/acme/api/deployments?per_page=100")
        .header("If-None-Match", "W/\"x\"")
        .send(&gh)
        .expect(200);
    let log = gh.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].method.as_str(), log[0].path.as_str()),
        ("POST", "/repos/acme/api/deployments")
    );
    assert_eq!(log[0].body, Some(body));
    assert_eq!(log[0].status, 201);
    assert_eq!(log[0].header("user-agent"), Some("github-server-test"));
    assert!(log[0].header("authorization").is_none());
    assert_eq!(log[1].path, "/repos/acme/api/deployments?per_page=100");
    assert_eq!(log[1].if_none_match.as_deref(), Some("W/\"x\""));
    assert_eq!(log[1].body, None);
    gh.clear_requests();
    assert!(gh.requests().is_empty());
}

// -- faults ------------------------------------------------------------------------------

#[test]
fn fault_status_answers_5xx_for_the_next_matching_requests_only() {
    let gh = GitHub::start("acme/api");
    gh.fault("POST", "/deployments", Fault::Status(502), 1);
    gh.fault("GET", "/deployments", Fault::Status(503), 2);
    gh.fault("*", "/environments", Fault::Status(500), 1);
    let post = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    );
    let answer = post.send(&gh).expect(502);
    assert_eq!(answer.json()["message"], "Server Error");
    assert!(gh.deployments().is_empty(), "a 502 did nothing");
    post.send(&gh).expect(201);
    assert_eq!(gh.deployments().len(), 1);

    let get = Call::get(&gh, "/repos/acme/api/deployments");
    assert_eq!(
        get.send(&gh).expect(503).json()["message"],
        "Service Unavailable"
    );
    get.send(&gh).expect(503);
    get.send(&gh).expect(200);
    Call::get(&gh, "/repos/acme/api/environments")
        .send(&gh)
        .expect(500);
    Call::get(&gh, "/repos/acme/api/environments")
        .send(&gh)
        .expect(200);
    let statuses: Vec<u16> = gh.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![502, 201, 503, 503, 200, 500, 200]);
}

#[test]
fn fault_lost_does_the_work_then_answers_an_error() {
    let gh = GitHub::start("acme/api");
    gh.fault("POST", "/deployments", Fault::Lost(502), 1);
    Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    )
    .send(&gh)
    .expect(502);
    assert_eq!(
        gh.deployments().len(),
        1,
        "the deployment was made all the same"
    );
}

#[test]
fn fault_rate_limited_answers_403_or_429_with_or_without_retry_after() {
    let gh = GitHub::start("acme/api");
    gh.fault(
        "GET",
        "/repos/acme/api",
        Fault::RateLimited {
            status: 403,
            retry_after: Some(7),
        },
        1,
    );
    gh.fault(
        "GET",
        "/repos/acme/api",
        Fault::RateLimited {
            status: 429,
            retry_after: None,
        },
        1,
    );
    gh.fault("GET", "/repos/acme/api", Fault::Exhausted, 1);
    let get = Call::get(&gh, "/repos/acme/api");

    let secondary = get.send(&gh).expect(403);
    assert_eq!(secondary.header("retry-after"), Some("7"));
    assert_eq!(secondary.header("x-ratelimit-remaining"), Some("5000"));
    assert!(secondary.json()["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    let too_many = get.send(&gh).expect(429);
    assert_eq!(too_many.header("retry-after"), None);
    assert!(too_many.header("x-ratelimit-reset").is_some());

    let exhausted = get.send(&gh).expect(403);
    assert_eq!(exhausted.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(exhausted.header("retry-after"), None);
    let reset: u64 = exhausted
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > 0);
    assert!(exhausted.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("API rate limit exceeded"));

    assert_eq!(
        get.send(&gh).expect(200).remaining(),
        4999,
        "refusals cost nothing"
    );
}

#[test]
fn fault_slow_answers_late() {
    let gh = GitHub::start("acme/api");
    gh.fault("GET", "/user", Fault::Slow(Duration::from_millis(400)), 1);
    let started = Instant::now();
    Call::get(&gh, "/user").send(&gh).expect(200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let started = Instant::now();
    Call::get(&gh, "/user").send(&gh).expect(200);
    assert!(started.elapsed() < Duration::from_millis(400));
}

#[test]
fn fault_hang_never_answers() {
    let gh = GitHub::start("acme/api");
    gh.fault("GET", "/user", Fault::Hang, 1);
    let error = Call::get(&gh, "/user")
        .timeout(Duration::from_millis(500))
        .try_send(&gh)
        .err()
        .expect("no answer");
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{error:?}"
    );
    assert_eq!(gh.requests()[0].status, 0);
    Call::get(&gh, "/user").send(&gh).expect(200);
}

#[test]
fn fault_malformed_json_answers_a_body_that_does_not_parse() {
    let gh = GitHub::start("acme/api");
    gh.fault("POST", "/deployments", Fault::MalformedJson, 1);
    gh.fault("GET", "/deployments", Fault::MalformedJson, 1);
    let answer = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    )
    .send(&gh)
    .expect(201);
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(gh.deployments().len(), 1, "the work was done");
    let answer = Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200);
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    assert_eq!(answer.header("etag"), None, "a garbled answer has no ETag");
    Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200)
        .json();
}

#[test]
fn fault_truncated_json_promises_more_than_it_sends() {
    let gh = GitHub::start("acme/api");
    gh.add_deployment(SHA, "production", "bob", json!({}));
    gh.fault("GET", "/deployments", Fault::TruncatedJson, 1);
    let answer = Call::get(&gh, "/repos/acme/api/deployments")
        .try_send(&gh)
        .unwrap();
    assert_eq!(answer.status, 200);
    let promised: usize = answer.header("content-length").unwrap().parse().unwrap();
    assert!(!answer.body.is_empty());
    assert!(
        answer.body.len() < promised,
        "{} of {promised}",
        answer.body.len()
    );
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200)
        .json();
}

#[test]
fn fault_reset_closes_the_connection_without_answering() {
    let gh = GitHub::start("acme/api");
    gh.fault("POST", "/deployments", Fault::Reset, 1);
    let error = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    )
    .try_send(&gh)
    .err()
    .expect("no answer");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error:?}");
    assert!(gh.deployments().is_empty());
    assert_eq!(gh.requests()[0].status, 0);
    assert!(
        gh.requests()[0].body.is_some(),
        "the body was read and logged"
    );
}

#[test]
fn fault_conflict_and_unprocessable_answer_as_github_does() {
    let gh = GitHub::start("acme/api");
    gh.fault("POST", "/deployments", Fault::Conflict, 1);
    gh.fault("POST", "/deployments", Fault::Unprocessable, 1);
    gh.fault("POST", "/statuses", Fault::Unprocessable, 1);
    let post = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "production"),
    );
    let conflict = post.send(&gh).expect(409).json();
    assert_eq!(
        conflict["message"],
        format!("Conflict merging main into {SHA}.")
    );
    assert!(conflict["documentation_url"]
        .as_str()
        .unwrap()
        .ends_with("#create-a-deployment"));
    let unprocessable = post.send(&gh).expect(422).json();
    assert_eq!(unprocessable["message"], format!("No ref found for: {SHA}"));
    assert!(gh.deployments().is_empty());
    let id = post.send(&gh).expect(201).json()["id"].as_u64().unwrap();
    let status = Call::post(
        &gh,
        &format!("/repos/acme/api/deployments/{id}/statuses"),
        &json!({"state": "success"}),
    )
    .send(&gh)
    .expect(422)
    .json();
    assert_eq!(status["message"], "Validation Failed");
}

#[test]
fn fault_next_elsewhere_links_the_next_page_to_another_origin() {
    let gh = GitHub::start("acme/api");
    gh.add_deployment(SHA, "production", "bob", json!({}));
    gh.fault(
        "GET",
        "/deployments",
        Fault::NextElsewhere("http://127.0.0.1:9".into()),
        1,
    );
    let first = Call::get(&gh, "/repos/acme/api/deployments?per_page=100")
        .send(&gh)
        .expect(200);
    assert_eq!(first.json().as_array().unwrap().len(), 1);
    assert_eq!(
        first.header("link"),
        Some("<http://127.0.0.1:9/repos/acme/api/deployments?per_page=100&page=2>; rel=\"next\"")
    );
    // Once, and the rest of the answer is as normal.
    let again = Call::get(&gh, "/repos/acme/api/deployments?per_page=100")
        .send(&gh)
        .expect(200);
    assert_eq!(again.header("link"), None);
    assert_eq!(again.json(), first.json());
}

#[test]
fn fault_early_end_promises_a_next_page_that_is_empty() {
    let gh = GitHub::start("acme/api");
    for _ in 0..5 {
        gh.add_deployment(SHA, "production", "bob", json!({}));
    }
    gh.fault("GET", "/deployments", Fault::EarlyEnd, 1);
    let first = Call::get(&gh, "/repos/acme/api/deployments?per_page=2")
        .send(&gh)
        .expect(200);
    assert_eq!(first.json().as_array().unwrap().len(), 2);
    let next = first.link("next").unwrap();
    let empty = Call::get(&gh, next.strip_prefix(&gh.url()).unwrap())
        .send(&gh)
        .expect(200);
    assert_eq!(empty.json(), json!([]));
    assert_eq!(empty.link("next"), None);

    // Once: a list that ends naturally still gets a promised empty page past its end.
    gh.fault("GET", "/deployments", Fault::EarlyEnd, 1);
    let all = Call::get(&gh, "/repos/acme/api/deployments").send(&gh);
    assert_eq!(all.json().as_array().unwrap().len(), 5);
    let next = all.link("next").unwrap();
    assert!(next.ends_with("?page=2"));
    assert_eq!(
        Call::get(&gh, next.strip_prefix(&gh.url()).unwrap())
            .send(&gh)
            .json(),
        json!([])
    );
    assert_eq!(
        Call::get(&gh, "/repos/acme/api/deployments?per_page=2&page=2")
            .send(&gh)
            .json()
            .as_array()
            .unwrap()
            .len(),
        2,
        "later reads are whole again"
    );
}

#[test]
fn requests_github_would_question_are_refused() {
    let gh = GitHub::start("acme/api");
    let path = format!("/repos/acme/api/commits/{SHA}/status");
    Call::get(&gh, &path).send(&gh).expect(200);

    let twice = Call::get(&gh, &path)
        .also("X-GitHub-Api-Version", "2022-11-28")
        .send(&gh)
        .expect(400)
        .json();
    assert!(
        twice["message"].as_str().unwrap().contains("once"),
        "{twice}"
    );
    for agent in ["octocrab", "reqwest/0.12", ""] {
        Call::get(&gh, &path)
            .header("User-Agent", agent)
            .send(&gh)
            .expect(403);
    }
    Call::get(&gh, &path)
        .also("User-Agent", "git-train/0.1.0")
        .send(&gh)
        .expect(403);
    Call::get(&gh, &path)
        .without("User-Agent")
        .send(&gh)
        .expect(403);
    Call::get(&gh, &path)
        .without("Accept")
        .send(&gh)
        .expect(400);
    Call::get(&gh, &path)
        .header("User-Agent", "git-train/0.1.0")
        .send(&gh)
        .expect(200);

    let create = "/repos/acme/api/deployments";
    Call::post(&gh, create, &deploy_body(SHA, "staging"))
        .header("Content-Type", "text/plain")
        .send(&gh)
        .expect(415);
    for (field, value) in [
        ("auto_merge", json!("false")),
        ("required_contexts", json!("")),
        ("production_environment", json!("yes")),
        ("payload", json!(42)),
        ("description", json!(7)),
    ] {
        let mut body = deploy_body(SHA, "staging");
        body[field] = value;
        let refused = Call::post(&gh, create, &body).send(&gh).expect(422).json();
        assert!(
            refused["message"].as_str().unwrap().contains(field),
            "{refused}"
        );
    }
    assert!(gh.deployments().is_empty(), "nothing refused was made");
    let made = Call::post(&gh, create, &deploy_body(SHA, "staging"))
        .send(&gh)
        .expect(201)
        .json();
    let statuses = format!("/repos/acme/api/deployments/{}/statuses", made["id"]);
    for body in [
        json!({"state": "success", "log_url": 3}),
        json!({"state": "success", "auto_inactive": "no"}),
        json!({"state": "success", "description": "x".repeat(141)}),
    ] {
        Call::post(&gh, &statuses, &body).send(&gh).expect(422);
    }
    Call::post(
        &gh,
        &statuses,
        &json!({"state": "success", "description": "é".repeat(140)}),
    )
    .send(&gh)
    .expect(201);
}

#[test]
fn verbatim_mode_answers_githubs_examples_unchanged() {
    let gh = GitHub::start("acme/api");
    gh.verbatim(true);
    let made = Call::post(
        &gh,
        "/repos/acme/api/deployments",
        &deploy_body(SHA, "staging"),
    )
    .send(&gh)
    .expect(201)
    .json();
    assert_eq!(made, example("deployment.json"));
    assert_eq!(made["sha"], "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d");
    assert_eq!(made["environment"], "production");
    assert_eq!(made["payload"], json!({}));
    assert_eq!(gh.deployments().len(), 1, "the POST still made it");
    let list = Call::get(&gh, "/repos/acme/api/deployments")
        .send(&gh)
        .expect(200)
        .json();
    assert_eq!(list, json!([example("deployment.json")]));
    let status = Call::post(
        &gh,
        "/repos/acme/api/deployments/1/statuses",
        &json!({"state": "success"}),
    )
    .send(&gh)
    .expect(201)
    .json();
    assert_eq!(status, example("deployment-status.json"));
    let combined = Call::get(&gh, &format!("/repos/acme/api/commits/{SHA}/status"))
        .send(&gh)
        .expect(200)
        .json();
    assert_eq!(combined, example("combined-status.json"));
    // Still checked as GitHub checks.
    Call::get(&gh, "/repos/acme/api/deployments")
        .header("User-Agent", "octocrab")
        .send(&gh)
        .expect(403);
}
