//! A loopback server standing in for Slack, Discord and webhooks (tests/channels.rs,
//! tests/stale.rs): it records every request and answers 200 unless told otherwise;
//! it binds to 127.0.0.1 only and stops when dropped. And what those tests read of a
//! post: a Slack message's text, the README's JSON Schemas and a validator for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// A token-like path, as Slack's incoming webhooks have: it must never show.
pub const TOKEN: &str = "T0TESTTEAM/B0TESTHOOK/q8ZkX2vR7mP4nL9sW3cY6tJ1";

/// How the server answers on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Never answers; the connection stays open.
    Hang,
}

#[derive(Clone, Debug)]
pub struct Posted {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Posted {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Seen {
    posted: Vec<Posted>,
    answers: HashMap<String, Answer>,
}

/// The loopback server: records every request; answers 200 unless told otherwise.
/// It binds to 127.0.0.1 only and stops when dropped.
pub struct Hooks {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hooks {
    pub fn start() -> Hooks {
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
    pub fn url(&self, hook: &str) -> String {
        format!("http://127.0.0.1:{}/{hook}/{TOKEN}", self.port)
    }

    pub fn answer(&self, hook: &str, answer: Answer) {
        self.seen
            .lock()
            .unwrap()
            .answers
            .insert(format!("/{hook}/{TOKEN}"), answer);
    }

    /// What one hook got, in order.
    pub fn posted(&self, hook: &str) -> Vec<Posted> {
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

    /// How many posts arrived, on every path.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().posted.len()
    }

    pub fn all(&self) -> Vec<Posted> {
        self.seen.lock().unwrap().posted.clone()
    }

    /// Waits until a hook got `n` posts (a `--no-wait` runner posts in the background).
    pub fn wait_for(&self, hook: &str, n: usize) -> Vec<Posted> {
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

/// What a Slack body says, all its texts together.
pub fn slack_text(p: &Posted) -> String {
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

/// A JSON Schema README.md documents after the marker `<!-- NAME -->`.
pub fn documented_schema(name: &str) -> Value {
    let readme = include_str!("../../README.md");
    let start = readme
        .find(&format!("<!-- {name} -->"))
        .unwrap_or_else(|| panic!("README.md documents the {name}"));
    let block = &readme[start..];
    let open = block.find("```json\n").unwrap() + 8;
    let close = block[open..].find("```").unwrap() + open;
    serde_json::from_str(&block[open..close]).expect("the documented schema is JSON")
}

/// A validator for the part of JSON Schema the README uses: `$ref` into `$defs`,
/// `type` (one or a list), `const`, `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `oneOf`, `minimum`.
pub fn validate(schema: &Value, value: &Value, at: &str, root: &Value) -> Vec<String> {
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
