//! The GitHub REST client: octocrab for the transport (its raw methods, so every
//! header is ours to read), conditional GETs with ETags kept under `.git/train/`,
//! rate limits handled as GitHub documents them, and no automatic repeat of a POST.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use octocrab::Octocrab;
use serde_json::Value;

use super::auth::ApiUrl;
use crate::error::{Error, Kind, Result};

enum Request<'a> {
    Get(HeaderMap),
    Post(&'a Value),
}

/// How the API answered a request that did not succeed.
#[derive(Debug)]
pub enum ApiError {
    /// No answer: refused, reset, timed out, or the body did not arrive whole.
    Transport(String),
    /// An HTTP error with GitHub's message.
    Status {
        status: u16,
        message: String,
        errors: Vec<String>,
    },
    /// Rate limited and waiting would take too long.
    RateLimited { until_secs: Option<u64> },
    /// Rate limited: GitHub asks to wait this long before asking again.
    Wait(Duration),
    /// The body was not the JSON GitHub sends.
    Malformed(String),
    /// A `Link: rel="next"` to another server: not followed (the token would go too).
    OffHost { link: String },
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The `Link: <...>; rel="next"` target.
    pub next: Option<String>,
    /// Answered 304 from the ETag cache.
    pub cached: bool,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Cached {
    etag: String,
    body: Value,
    next: Option<String>,
}

/// One request, for `-v`: never the token, never a body.
pub struct Logged {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub cached: bool,
}

pub struct Client {
    octo: Octocrab,
    rt: &'static tokio::runtime::Runtime,
    /// The longest one request (answer and body) may take.
    timeout: Duration,
    base: ApiUrl,
    etags: RefCell<HashMap<String, Cached>>,
    etags_path: Option<PathBuf>,
    etags_dirty: RefCell<bool>,
    pub log: RefCell<Vec<Logged>>,
    /// `x-ratelimit-remaining` / `x-ratelimit-limit` of the last answer that had them.
    pub budget: RefCell<Option<(u64, u64)>>,
    /// Longest wait for a rate limit before giving up (exit 3).
    max_wait: Duration,
    /// `x-ratelimit-reset` of the last rate-limited answer.
    reset: RefCell<Option<u64>>,
}

const ETAG_ENTRIES: usize = 2000;

impl Client {
    pub fn new(
        base: &ApiUrl,
        token: String,
        timeout: Duration,
        max_wait: Duration,
        cache_dir: Option<PathBuf>,
    ) -> Result<Client> {
        let rt = runtime()?;
        // Defence in depth against two parsers reading one text two ways: the HTTP
        // client must see the very host and port that `ApiUrl` checked.
        let uri: http::Uri = base.as_str().parse().map_err(|e| {
            Error::usage(format!("`[github] api = \"{base}\"` is not a URL: {e}"))
                .hint("for GitHub Enterprise use https://HOST/api/v3")
        })?;
        if uri.authority().map(|a| a.as_str().to_ascii_lowercase()) != Some(base.authority()) {
            return Err(Error::usage(format!(
                "`[github] api = \"{base}\"` names its host ambiguously"
            ))
            .hint("write it as https://HOST/api/v3"));
        }
        let base = base.clone();
        let octo = shared_octocrab(rt, &base, &uri, token)?;
        let etags_path = cache_dir.map(|d| d.join("etags.json"));
        let etags = etags_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Client {
            octo,
            rt,
            timeout,
            base,
            etags: RefCell::new(etags),
            etags_path,
            etags_dirty: RefCell::new(false),
            log: RefCell::new(Vec::new()),
            budget: RefCell::new(None),
            max_wait,
            reset: RefCell::new(None),
        })
    }

    /// Whether a URL GitHub handed us (a `Link`) stays on the API server.
    pub fn same_origin(&self, url: &str) -> bool {
        self.base.same_origin(url)
    }

    /// A GET that may repeat: conditional on the stored ETag; a 304 reuses the stored
    /// answer and costs no rate limit. A rate limit is waited out as GitHub asks (up to
    /// `max_wait`); transport errors and 5xx are tried again twice.
    pub fn get(&self, path: &str) -> Result<Answer, ApiError> {
        self.retried(|| self.get_once(path))
    }

    /// A request that may repeat, tried again as `get` says.
    fn retried<T>(&self, mut once: impl FnMut() -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut attempt: u32 = 0;
        loop {
            let err = match once() {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            attempt += 1;
            match &err {
                ApiError::Transport(_)
                | ApiError::Status {
                    status: 500..=599, ..
                } if attempt <= 2 => {
                    std::thread::sleep(Duration::from_millis(300 * u64::from(attempt)));
                }
                ApiError::Wait(wait) if attempt <= 3 && *wait <= self.max_wait => {
                    std::thread::sleep(*wait)
                }
                ApiError::Wait(_) => {
                    return Err(ApiError::RateLimited {
                        until_secs: self.reset.borrow().to_owned(),
                    })
                }
                _ => return Err(err),
            }
        }
    }

    /// The ETag of the answer kept for `path`.
    pub fn etag(&self, path: &str) -> Option<String> {
        self.etags.borrow().get(path).map(|c| c.etag.clone())
    }

    /// Whether `path` still answers what had `etag`: one conditional GET (tried
    /// again as `get` tries), whose answer is not kept.
    pub fn unchanged(&self, path: &str, etag: &str) -> Result<bool, ApiError> {
        self.retried(|| {
            let (parts, bytes) = self.get_if_none_match(path, Some(etag))?;
            let status = parts.status;
            self.record(
                "GET",
                path,
                status.as_u16(),
                status == StatusCode::NOT_MODIFIED,
            );
            if status == StatusCode::NOT_MODIFIED {
                Ok(true)
            } else if status.is_success() {
                Ok(false)
            } else {
                Err(self.failure(status, &parts.headers, &bytes))
            }
        })
    }

    /// One GET, conditional on `etag` when there is one.
    fn get_if_none_match(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<(http::response::Parts, Vec<u8>), ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(v) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            headers.insert(http::header::IF_NONE_MATCH, v);
        }
        self.send(path, Request::Get(headers))
    }

    fn get_once(&self, path: &str) -> Result<Answer, ApiError> {
        let cached = self.etags.borrow().get(path).cloned();
        let (parts, bytes) =
            self.get_if_none_match(path, cached.as_ref().map(|c| c.etag.as_str()))?;
        let status = parts.status;
        if status == StatusCode::NOT_MODIFIED {
            self.record("GET", path, 304, true);
            if let Some(c) = cached {
                return Ok(Answer {
                    status: 304,
                    body: c.body,
                    next: c.next,
                    cached: true,
                });
            }
        }
        self.record("GET", path, status.as_u16(), false);
        if !status.is_success() {
            return Err(self.failure(status, &parts.headers, &bytes));
        }
        let body: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))?;
        let next = next_link(&parts.headers);
        // An answer whose next page is on another server is refused by every list:
        // not kept, or every later 304 would bring the refused link back with it.
        let keep = next.as_deref().is_none_or(|n| self.same_origin(n));
        if let Some(etag) = parts
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|_| keep)
        {
            let mut etags = self.etags.borrow_mut();
            if etags.len() >= ETAG_ENTRIES {
                etags.clear();
            }
            etags.insert(
                path.to_string(),
                Cached {
                    etag: etag.to_string(),
                    body: body.clone(),
                    next: next.clone(),
                },
            );
            *self.etags_dirty.borrow_mut() = true;
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
            next,
            cached: false,
        })
    }

    /// Every page of a list, following `Link: rel="next"` exactly. `key` names the
    /// array inside an object answer (`check_runs`), None for a bare array.
    pub fn get_all(&self, path: &str, key: Option<&str>) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(page) = next {
            // A `next` link to another server would take the token with it.
            if !self.same_origin(&page) {
                return Err(ApiError::OffHost { link: page });
            }
            let answer = self.get(&page)?;
            let items = match key {
                Some(k) => answer.body.get(k).cloned(),
                None => Some(answer.body.clone()),
            };
            match items {
                Some(Value::Array(items)) => {
                    let empty = items.is_empty();
                    out.extend(items);
                    // A page that ends the list early ends it.
                    next = if empty { None } else { answer.next };
                }
                _ => return Err(ApiError::Malformed(format!("{page}: expected a list"))),
            }
            pages += 1;
            if pages > 1000 {
                break;
            }
        }
        Ok(out)
    }

    /// A POST, sent exactly once whatever happens: a repeated create would make a
    /// second deployment.
    pub fn post(&self, path: &str, body: &Value) -> Result<Answer, ApiError> {
        let (parts, bytes) = self.send(path, Request::Post(body))?;
        self.record("POST", path, parts.status.as_u16(), false);
        if !parts.status.is_success() {
            return Err(match self.failure(parts.status, &parts.headers, &bytes) {
                ApiError::Wait(_) => ApiError::RateLimited {
                    until_secs: *self.reset.borrow(),
                },
                other => other,
            });
        }
        let body: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))?;
        Ok(Answer {
            status: parts.status.as_u16(),
            body,
            next: None,
            cached: false,
        })
    }

    /// One request on the wire: its answer's head and whole body, the rate-limit
    /// budget noted. Never repeated here; `get` decides what may be.
    fn send(
        &self,
        path: &str,
        request: Request<'_>,
    ) -> Result<(http::response::Parts, Vec<u8>), ApiError> {
        let uri = path.to_string();
        let timeout = self.timeout;
        let result = self.rt.block_on(async {
            let exchange = async {
                let response = match request {
                    Request::Get(headers) => {
                        self.octo._get_with_headers(uri, Some(headers)).await?
                    }
                    Request::Post(body) => self.octo._post(uri, Some(body)).await?,
                };
                let (parts, body) = response.into_parts();
                let bytes = http_body_util::BodyExt::collect(body)
                    .await?
                    .to_bytes()
                    .to_vec();
                Ok::<_, octocrab::Error>((parts, bytes))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result.map_err(|e| describe(&e)),
                Err(_) => Err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                )),
            }
        });
        let (parts, bytes) = result.map_err(ApiError::Transport)?;
        self.note_budget(&parts.headers);
        Ok((parts, bytes))
    }

    fn record(&self, method: &'static str, path: &str, status: u16, cached: bool) {
        let path = path
            .strip_prefix(self.base.as_str())
            .unwrap_or(path)
            .to_string();
        self.log.borrow_mut().push(Logged {
            method,
            path,
            status,
            cached,
        });
    }

    fn note_budget(&self, headers: &HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let (Some(remaining), Some(limit)) =
            (num("x-ratelimit-remaining"), num("x-ratelimit-limit"))
        {
            *self.budget.borrow_mut() = Some((remaining, limit));
        }
    }

    /// An error answer. A rate limit becomes `Wait` (how long GitHub asks us to),
    /// which `get` waits out and `post` never does.
    fn failure(&self, status: StatusCode, headers: &HeaderMap, bytes: &[u8]) -> ApiError {
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"))
            .to_string();
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|errs| {
                errs.iter()
                    .map(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let limited = matches!(status.as_u16(), 403 | 429)
            && (header("retry-after").is_some()
                || header("x-ratelimit-remaining") == Some("0")
                || message.to_lowercase().contains("rate limit"));
        if limited {
            *self.reset.borrow_mut() = reset_at(headers);
            return ApiError::Wait(rate_limit_wait(headers));
        }
        ApiError::Status {
            status: status.as_u16(),
            message,
            errors,
        }
    }

    /// Writes the ETag cache back (called once at the end).
    pub fn save(&self) {
        if !*self.etags_dirty.borrow() {
            return;
        }
        if let Some(path) = &self.etags_path {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Ok(bytes) = serde_json::to_vec(&*self.etags.borrow()) {
                let _ = crate::file::write_atomically(path, &bytes);
            }
        }
    }
}

/// The process's HTTP runtime: one worker thread that drives every GitHub
/// connection, made once (the clients below live on it).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("git-train-http")
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("could not start the HTTP runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// An octocrab client for one API, token and timeout, made once per process and
/// shared: making one reads every root certificate of the system, which a daemon
/// round of twenty repositories would otherwise do twenty times. Its connections
/// are kept between requests too. The token is held in memory only.
fn shared_octocrab(
    rt: &'static tokio::runtime::Runtime,
    base: &ApiUrl,
    uri: &http::Uri,
    token: String,
) -> Result<Octocrab> {
    struct Made {
        base: String,
        token: String,
        octo: Octocrab,
    }
    static MADE: Mutex<Vec<Made>> = Mutex::new(Vec::new());
    let mut made = MADE
        .lock()
        .map_err(|_| Error::internal("the GitHub clients' lock is poisoned"))?;
    if let Some(m) = made
        .iter()
        .find(|m| m.base == base.as_str() && m.token == token)
    {
        return Ok(m.octo.clone());
    }
    let octo = {
        // octocrab starts its request queue on the runtime it is made in.
        let _guard = rt.enter();
        build_octocrab(uri, &token).map_err(|e| {
            Error::new(
                Kind::Forge,
                format!("could not set up the GitHub client: {e}"),
            )
            .hint("the system needs root certificates (the ca-certificates package)")
        })?
    };
    // A new token for the same API (the old one was refused) replaces the old client.
    made.retain(|m| m.base != base.as_str());
    made.push(Made {
        base: base.as_str().to_string(),
        token,
        octo: octo.clone(),
    });
    Ok(octo)
}

impl Drop for Client {
    fn drop(&mut self) {
        self.save();
    }
}

/// How long GitHub asks us to wait: `retry-after`, else until `x-ratelimit-reset`
/// when nothing remains, else a minute (its documented minimum for secondary limits).
fn rate_limit_wait(headers: &HeaderMap) -> Duration {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(secs) = text("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs);
    }
    if text("x-ratelimit-remaining").as_deref() == Some("0") {
        if let Some(reset) = reset_at(headers) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            return Duration::from_secs(reset.saturating_sub(now) + 1);
        }
    }
    Duration::from_secs(60)
}

fn reset_at(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `scheme://host:port` of a URL.
/// The `rel="next"` target of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// A transport failure in a few plain words: which of the usual things went wrong,
/// not the chain of every layer that passed it on.
fn describe(e: &octocrab::Error) -> String {
    use std::error::Error as _;
    let mut chain = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    let said = [
        ("dns error", "the host name does not resolve (DNS)"),
        (
            "failed to lookup address",
            "the host name does not resolve (DNS)",
        ),
        ("connection refused", "the connection was refused"),
        ("connection reset", "the connection was reset"),
        ("timed out", "the connection timed out"),
        (
            "certificate",
            "the server's TLS certificate was not accepted",
        ),
        (
            "invalid peer",
            "the server's TLS certificate was not accepted",
        ),
        ("tls", "the TLS handshake failed"),
        ("incomplete", "the answer was cut off"),
        ("unexpected eof", "the answer was cut off"),
        ("end of file", "the answer was cut off"),
        ("error reading a body", "the answer was cut off"),
        (
            "connection closed",
            "the connection closed before an answer",
        ),
    ];
    if let Some((_, words)) = said.iter().find(|(needle, _)| all.contains(needle)) {
        return words.to_string();
    }
    // Else the innermost cause, which names what happened rather than where.
    chain.pop().unwrap_or_default()
}

impl ApiError {
    /// Like `into_error`, but a 404 names what GitHub did not find (`missing`: "commit
    /// 1a2b3c4 in acme/api").
    pub fn into_error_naming(self, what: &str, missing: &str, api: &str) -> Error {
        match self {
            ApiError::Status { status: 404, .. } => Error::usage(format!(
                "GitHub found no {missing} (404) to {what}"
            ))
            .hint("check that it is on GitHub (pushed, not deleted), `[github] repo` in .train.toml, and that the token can see the repository"),
            other => other.into_error(what, api),
        }
    }

    /// The user-facing error, with what to do next. `what` says what was attempted.
    pub fn into_error(self, what: &str, api: &str) -> Error {
        match self {
            ApiError::Transport(detail) => Error::new(
                Kind::Forge,
                format!("could not reach GitHub at {api} to {what}: {detail}"),
            )
            .hint("check the network connection (or `[github] api` in .train.toml) and try again; nothing was recorded from this answer"),
            ApiError::OffHost { link } => Error::new(
                Kind::Forge,
                format!(
                    "GitHub's answer to {what} links its next page to {link}, which is not {api}: not followed, so the token stays with {api}"
                ),
            )
            .hint("nothing from the rest of that list was read; if the API moved, set `[github] api` in .train.toml"),
            ApiError::Wait(_) => ApiError::RateLimited { until_secs: None }.into_error(what, api),
            ApiError::RateLimited { until_secs } => {
                let when = until_secs
                    .map(|s| format!(" until {}", crate::domain::Timestamp::from_secs(s as i64)))
                    .unwrap_or_default();
                Error::new(
                    Kind::Forge,
                    format!("GitHub's rate limit is used up{when}; could not {what}"),
                )
                .hint("nothing was recorded; try again later (`-v` shows the remaining budget)")
            }
            ApiError::Malformed(detail) => Error::new(
                Kind::Forge,
                format!("GitHub answered with malformed JSON to {what}: {detail}"),
            )
            .hint("try again; nothing was recorded"),
            ApiError::Status {
                status: 401,
                message,
                ..
            } => Error::usage(format!("GitHub refused the token ({message}) to {what}"))
                .hint("set GH_TOKEN, or log in with `gh auth login`"),
            ApiError::Status { status: 404, .. } => Error::usage(format!(
                "GitHub has no such repository or deployment (404) to {what}"
            ))
            .hint("check `[github] repo` in .train.toml and that the token can see the repository"),
            ApiError::Status {
                status,
                message,
                errors,
            } if status >= 500 => Error::new(
                Kind::Forge,
                format!(
                    "GitHub failed ({status} {message}) to {what}{}",
                    join(&errors)
                ),
            )
            .hint("GitHub is having trouble; try again"),
            ApiError::Status {
                status,
                message,
                errors,
            } => Error::refused(format!(
                "GitHub refused to {what}: {status} {message}{}",
                join(&errors)
            )),
        }
    }
}

fn join(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", errors.join("; "))
    }
}

/// What every request says about itself, as GitHub asks of API clients: who we
/// are (`git-train/VERSION`), the media type, and the API version, each exactly
/// once. octocrab's default stack appends its own `User-Agent: octocrab` (a second
/// value, not a replacement) and its request builder already adds the API version,
/// so the stack is assembled here and these are set, not added.
#[derive(Clone)]
struct Identify<S> {
    inner: S,
}

pub const USER_AGENT: &str = concat!("git-train/", env!("CARGO_PKG_VERSION"));
const API_VERSION: &str = "2022-11-28";

impl<S, B> tower_service::Service<http::Request<B>> for Identify<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let headers = req.headers_mut();
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static(API_VERSION),
        );
        self.inner.call(req)
    }
}

/// octocrab over hyper with rustls (ring, the system's roots), redirects followed
/// (credentials are not carried to another host), no retry layer (a POST is sent
/// once; `get` decides what is asked again), the token only for the API's own host.
fn build_octocrab(base: &http::Uri, token: &str) -> std::result::Result<Octocrab, String> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(|e| e.to_string())?
        .https_or_http()
        .enable_http1()
        .build();
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, octocrab::OctoBody>(connector);
    let service = tower_http::follow_redirect::FollowRedirect::new(Identify { inner: http });
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the token has characters a header cannot carry".to_string())?;
    auth.set_sensitive(true);
    let octo = octocrab::OctocrabBuilder::new_empty()
        .with_service(service)
        .with_layer(&octocrab::service::middleware::base_uri::BaseUriLayer::new(
            base.clone(),
        ))
        .with_layer(
            &octocrab::service::middleware::auth_header::AuthHeaderLayer::new(
                Some(auth),
                base.clone(),
                // No uploads: the token goes to the API's own host only.
                base.clone(),
            ),
        )
        .with_auth(octocrab::AuthState::None)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(octo)
}
