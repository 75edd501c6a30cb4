//! A stateful stand-in for GitHub's REST API, for one repository, in integration tests.
//!
//! It answers with the shapes of GitHub's own example responses (copied unchanged into
//! `tests/fixtures/github/`, see the README there), filling in the fields that vary.
//! Created deployments are listed afterwards and statuses accumulate; lists page with
//! `Link` headers, GETs carry ETags and answer 304 to a matching `If-None-Match` (free
//! of budget), every authenticated answer carries `x-ratelimit-*` headers, and faults
//! can be switched on for the next N matching requests.
//!
//! The server runs on its own thread with its own tokio runtime, so synchronous tests
//! and the spawned `git-train` binary can both talk to it. It binds to 127.0.0.1 only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The repository id GitHub's examples use; `Link` headers name it.
pub const REPO_ID: u64 = 1296269;
/// The login the server's token belongs to, unless `set_user` changes it.
pub const USER: &str = "alice";
/// Who posts the workflow's statuses.
pub const WORKFLOW_BOT: &str = "github-actions[bot]";

const DOCS: &str = "https://docs.github.com/rest";
const DOC_LIST_DEPLOYMENTS: &str =
    "https://docs.github.com/rest/deployments/deployments#list-deployments";
const DOC_CREATE_DEPLOYMENT: &str =
    "https://docs.github.com/rest/deployments/deployments#create-a-deployment";
const DOC_GET_DEPLOYMENT: &str =
    "https://docs.github.com/rest/deployments/deployments#get-a-deployment";
const DOC_LIST_STATUSES: &str =
    "https://docs.github.com/rest/deployments/statuses#list-deployment-statuses";
const DOC_CREATE_STATUS: &str =
    "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status";
const DOC_COMBINED: &str =
    "https://docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference";
const DOC_CHECK_RUNS: &str =
    "https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference";
const DOC_COMMITS: &str = "https://docs.github.com/rest/commits/commits#list-commits";
const DOC_RATE_PRIMARY: &str =
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-primary-rate-limits";
const DOC_RATE_SECONDARY: &str =
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits";

const DEPLOYMENT_STATES: &[&str] = &[
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

/// Something to go wrong with the next matching requests (see [`GitHub::fault`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status (500, 502, 503, ...) with a GitHub error body; nothing is done.
    Status(u16),
    /// A secondary rate limit: 403 or 429, with `retry-after: N` when given; the
    /// `x-ratelimit-*` headers show the real, non-zero budget. Nothing is done.
    RateLimited {
        status: u16,
        retry_after: Option<u64>,
    },
    /// The primary rate limit: 403 with `x-ratelimit-remaining: 0` and the current
    /// `x-ratelimit-reset`. Nothing is done and the real budget is left as it is.
    Exhausted,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Never answer; the connection stays open until the server stops.
    Hang,
    /// Do the work, then answer 200/201 with a body that is not valid JSON.
    MalformedJson,
    /// Do the work, then send the status line, headers with the full `Content-Length`,
    /// half of the body, and close the connection.
    TruncatedJson,
    /// Close the connection with a TCP reset, without answering; nothing is done.
    Reset,
    /// 409 as GitHub answers a create-deployment conflict; nothing is done.
    Conflict,
    /// 422 as GitHub answers an unknown ref (or a status it refuses); nothing is done.
    Unprocessable,
    /// A list answers normally, but its `Link` promises a next page, and that page is `[]`.
    EarlyEnd,
    /// Do the work (a POST creates its deployment), then answer this status instead,
    /// as when GitHub times out after committing.
    Lost(u16),
    /// A list answers normally, but its `Link` names the next page on this other
    /// origin (`http://HOST:PORT`), as a hostile or misconfigured proxy might.
    NextElsewhere(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// Path with query, as sent.
    pub path: String,
    pub if_none_match: Option<String>,
    /// `Bearer`, `token`, ... as sent; never the token.
    pub auth_scheme: Option<String>,
    /// The status answered; 0 when no answer was sent (`Hang`, `Reset`).
    pub status: u16,
    /// The JSON body of a POST (a string when it was not JSON).
    pub body: Option<Value>,
    /// Every header but `authorization`, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The test GitHub server. Dropping it stops the server.
pub struct GitHub {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHub {
    /// Starts a server for one repository, `"owner/name"`, on a free port of 127.0.0.1.
    pub fn start(repo: &str) -> GitHub {
        let (owner, name) = repo.split_once('/').expect("repository as owner/name");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local address").port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let site = Site {
            base: format!("http://127.0.0.1:{port}"),
            owner: owner.to_string(),
            repo: name.to_string(),
        };
        let shared = Arc::new(Shared {
            token: make_token(port),
            runtime: runtime.handle().clone(),
            state: Mutex::new(State::new(site)),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let server = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("github-{port}"))
            .spawn(move || runtime.block_on(serve(server, listener, stopped)))
            .expect("server thread");
        GitHub {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The API base, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.lock().site.base.clone()
    }

    /// The only token the server accepts (`Authorization: Bearer T` or `token T`).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// `"owner/name"`.
    pub fn repo(&self) -> String {
        let st = self.shared.lock();
        format!("{}/{}", st.site.owner, st.site.repo)
    }

    /// Records a commit status (a new status for `context`; the newest one counts).
    pub fn set_commit_status(
        &self,
        sha: &str,
        context: &str,
        state: &str,
        target_url: Option<&str>,
    ) {
        let mut st = self.shared.lock();
        st.add_commit_status(sha, context, state, target_url);
    }

    /// Creates the check run `name` of a commit, or updates it.
    pub fn set_check_run(&self, sha: &str, name: &str, status: &str, conclusion: Option<&str>) {
        let mut st = self.shared.lock();
        st.set_check_run(sha, name, status, conclusion);
    }

    /// A deployment made elsewhere (the web, another tool); starts the workflow if set.
    pub fn add_deployment(
        &self,
        sha: &str,
        environment: &str,
        creator: &str,
        payload: Value,
    ) -> u64 {
        let (id, steps) = {
            let mut st = self.shared.lock();
            let id = st.create_deployment(NewDeployment {
                sha: sha.to_string(),
                reference: sha.to_string(),
                task: "deploy".to_string(),
                payload,
                environment: environment.to_string(),
                description: Value::String(String::new()),
                creator: creator.to_string(),
                transient: false,
                production: environment == "production",
            });
            (id, st.workflow.clone())
        };
        self.shared.start_workflow(id, steps);
        id
    }

    /// A status posted elsewhere (by the workflow's own steps, say), by `github-actions[bot]`.
    pub fn add_deployment_status(&self, id: u64, state: &str, log_url: Option<&str>) {
        let mut st = self.shared.lock();
        st.create_status(
            id,
            NewStatus {
                state: state.to_string(),
                log_url: log_url.map(str::to_string),
                creator: WORKFLOW_BOT.to_string(),
                auto_inactive: true,
                ..NewStatus::default()
            },
        )
        .expect("deployment exists");
    }

    /// Every deployment, newest first (as GitHub lists them).
    pub fn deployments(&self) -> Vec<Value> {
        let st = self.shared.lock();
        st.deployments.iter().rev().cloned().collect()
    }

    /// The statuses of a deployment, newest first (as GitHub lists them).
    pub fn deployment_statuses(&self, id: u64) -> Vec<Value> {
        let st = self.shared.lock();
        st.statuses
            .get(&id)
            .map(|list| list.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// Waits until a deployment has at least `count` statuses; returns them newest first.
    pub fn wait_for_statuses(&self, id: u64, count: usize, timeout: Duration) -> Vec<Value> {
        let until = Instant::now() + timeout;
        loop {
            let list = self.deployment_statuses(id);
            if list.len() >= count || Instant::now() >= until {
                return list;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The team's deploy workflow: after each later deployment is created, each step
    /// waits its delay (after the previous step) and posts its state (`STATE@ENV`:
    /// with `environment: ENV`, which moves the deployment there), by
    /// `github-actions[bot]`, with `log_url` set to [`GitHub::run_url`]. Empty: off.
    pub fn workflow(&self, steps: &[(&str, Duration)]) {
        let mut st = self.shared.lock();
        st.workflow = steps.iter().map(|(s, d)| (s.to_string(), *d)).collect();
    }

    /// The `log_url` the workflow gives the statuses of a deployment.
    pub fn run_url(&self, id: u64) -> String {
        self.shared.lock().run_url(id)
    }

    /// Makes the next `times` requests whose method is `method` (any when `"*"` or
    /// empty) and whose path with query contains `path_contains` go wrong. Faults are
    /// used in the order they were set.
    pub fn fault(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        let mut st = self.shared.lock();
        st.faults.push(FaultRule {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            fault,
            times,
        });
    }

    /// Drops every fault not yet used.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Sets the remaining primary budget; at 0 every request but `GET /rate_limit` is
    /// refused with 403 until the reset time.
    pub fn set_rate_remaining(&self, n: u64) {
        let mut st = self.shared.lock();
        st.refresh_window();
        st.rate.remaining = n.min(st.rate.limit);
    }

    /// Moves the budget's reset (`x-ratelimit-reset`) to `after` from the server's
    /// now; when it passes, the budget is full again.
    pub fn set_rate_reset_in(&self, after: Duration) {
        let mut st = self.shared.lock();
        st.rate.reset = st.now() + after.as_secs_f64().ceil() as u64;
    }

    /// Moves the server's own clock (rate-limit windows, `x-ratelimit-reset`, and the
    /// times it stamps when not frozen) forward by `by`, so that a test waits for a
    /// reset without sleeping. The client's clock is not moved: a client that waits
    /// for `x-ratelimit-reset` itself still reads it against the real time.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.lock().offset += by;
    }

    /// The remaining primary budget.
    pub fn rate_remaining(&self) -> u64 {
        let mut st = self.shared.lock();
        st.refresh_window();
        st.rate.remaining
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Adds a commit on the default branch (`main`), for `GET /commits`.
    pub fn add_commit(&self, sha: &str, message: &str) {
        let mut st = self.shared.lock();
        st.commits.push((sha.to_string(), message.to_string()));
        st.branches.insert("main".to_string(), sha.to_string());
    }

    /// Points a branch at a commit, so it can be used as a ref.
    pub fn set_branch(&self, name: &str, sha: &str) {
        let mut st = self.shared.lock();
        st.branches.insert(name.to_string(), sha.to_string());
    }

    /// Creates an environment (deployments create theirs by themselves).
    pub fn add_environment(&self, name: &str) {
        self.shared.lock().ensure_environment(name);
    }

    /// Changes who the token belongs to (`GET /user`, creator of what the client makes).
    pub fn set_user(&self, login: &str) {
        self.shared.lock().user = login.to_string();
    }

    /// Stamps everything made from now on with this time (RFC 3339), not the clock.
    pub fn freeze_time(&self, rfc3339: &str) {
        let t = humantime::parse_rfc3339(rfc3339).expect("RFC 3339 time");
        self.shared.lock().frozen = Some(t);
    }

    /// Answers every deployment, status and CI request with GitHub's own example body
    /// unchanged (deployment 1 of a84d88e to `production`, an empty payload, a
    /// `success` status, green CI), as a server that does not echo what it was sent.
    /// Requests are still checked, and POSTs still change the server's state.
    pub fn verbatim(&self, on: bool) {
        self.shared.lock().verbatim = on;
    }

    /// `Link` URLs name the repository by id, `/repositories/1296269/...`, as GitHub's
    /// do (the default), or by `/repos/owner/name/...`. The server answers both.
    pub fn links_by_repository_id(&self, on: bool) {
        self.shared.lock().links_by_id = on;
    }
}

impl Drop for GitHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server plumbing

/// A workflow: each state, after its delay.
type Steps = Vec<(String, Duration)>;
/// The deployment a request created, and the workflow to run for it.
type Created = Option<(u64, Steps)>;

struct Shared {
    token: String,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_workflow(self: &Arc<Self>, id: u64, steps: Steps) {
        if steps.is_empty() {
            return;
        }
        let me = self.clone();
        self.runtime.spawn(async move {
            for (state, delay) in steps {
                tokio::time::sleep(delay).await;
                let mut st = me.lock();
                let log_url = st.run_url(id);
                // `success@production`: a status that moves the deployment there.
                let (state, environment) = match state.split_once('@') {
                    Some((state, env)) => (state.to_string(), Some(env.to_string())),
                    None => (state, None),
                };
                let _ = st.create_status(
                    id,
                    NewStatus {
                        state,
                        environment,
                        log_url: Some(log_url),
                        creator: WORKFLOW_BOT.to_string(),
                        auto_inactive: true,
                        ..NewStatus::default()
                    },
                );
            }
        });
    }
}

async fn serve(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let reset = Arc::new(AtomicBool::new(false));
                let io = TokioIo::new(Conn { stream, reset: reset.clone() });
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(shared.clone(), reset.clone(), req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        }
    }
}

/// A connection that can end with a TCP reset instead of a clean close.
struct Conn {
    stream: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // SO_LINGER 0: close() sends RST and drops anything unsent.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A response body: whole, or cut short (half sent, then the connection fails).
enum WireBody {
    Whole(Option<Bytes>),
    Cut {
        part: Option<Bytes>,
        pause: Pin<Box<tokio::time::Sleep>>,
    },
}

impl hyper::body::Body for WireBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            WireBody::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            WireBody::Cut { part, pause } => {
                if let Some(part) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(part))));
                }
                // The pause lets hyper flush the half body before the failure closes.
                match pause.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::other("truncated")))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, WireBody::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            WireBody::Whole(Some(b)) => SizeHint::with_exact(b.len() as u64),
            WireBody::Whole(None) => SizeHint::with_exact(0),
            WireBody::Cut { .. } => SizeHint::default(),
        }
    }
}

/// A request, read whole.
struct Call {
    method: String,
    /// Path and query as sent.
    target: String,
    path: String,
    /// Raw `key=value` items of the query, in order.
    query: Vec<String>,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Call {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, key: &str) -> Option<String> {
        self.query.iter().find_map(|item| {
            let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }

    fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// An answer before it goes on the wire.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "content-type".to_string(),
                "application/json; charset=utf-8".to_string(),
            )],
            body: serde_json::to_vec(body).expect("JSON"),
        }
    }

    fn error(status: u16, message: &str, doc: &str) -> Reply {
        Reply::json(
            status,
            &json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
        )
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

async fn handle(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    req: hyper::Request<hyper::body::Incoming>,
) -> io::Result<hyper::Response<WireBody>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let call = Call {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        target,
        body,
    };

    let (entry, fault) = shared.lock().arrive(&call);
    let mut conditional = true;
    let mut early_end = false;
    let mut reply = None;
    match &fault {
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Reset) => {
            reset.store(true, Ordering::SeqCst);
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        }
        Some(Fault::Slow(pause)) => tokio::time::sleep(*pause).await,
        Some(Fault::MalformedJson | Fault::TruncatedJson | Fault::Lost(_)) => conditional = false,
        Some(Fault::EarlyEnd) => early_end = true,
        Some(Fault::NextElsewhere(_)) => {}
        Some(refusal) => reply = Some(shared.lock().refuse(&call, refusal)),
        None => {}
    }
    let reply = match reply {
        Some(reply) => reply,
        None => {
            let (reply, created) = shared.answer(&call, conditional, early_end);
            if let Some((id, steps)) = created {
                shared.start_workflow(id, steps);
            }
            reply
        }
    };
    let mut reply = match fault {
        Some(Fault::Lost(status)) => shared.lock().lost(reply, status),
        _ => reply,
    };
    if let (Some(Fault::NextElsewhere(origin)), 200) = (&fault, reply.status) {
        let page = call
            .param("page")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(1);
        let mut query: Vec<String> = call
            .query
            .iter()
            .filter(|q| q.split('=').next() != Some("page"))
            .cloned()
            .collect();
        query.push(format!("page={}", page + 1));
        let next = format!(
            "<{}{}?{}>; rel=\"next\"",
            origin.trim_end_matches('/'),
            call.path,
            query.join("&")
        );
        reply.headers.retain(|(n, _)| n != "link");
        reply.headers.push(("link".to_string(), next));
    }
    if matches!(fault, Some(Fault::MalformedJson | Fault::TruncatedJson)) {
        // A client must not cache a garbled answer.
        reply
            .headers
            .retain(|(n, _)| !matches!(n.as_str(), "etag" | "cache-control" | "vary"));
    }
    shared.lock().log[entry].status = reply.status;

    let mut response = hyper::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    let body = match fault {
        Some(Fault::MalformedJson) => {
            let mut bytes = reply.body[..reply.body.len() / 2].to_vec();
            bytes.extend_from_slice(b"<!-- unicorn -->");
            WireBody::Whole(Some(Bytes::from(bytes)))
        }
        Some(Fault::TruncatedJson) => {
            response = response.header("content-length", reply.body.len());
            WireBody::Cut {
                part: Some(Bytes::copy_from_slice(&reply.body[..reply.body.len() / 2])),
                pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
            }
        }
        _ if reply.body.is_empty() => WireBody::Whole(None),
        _ => WireBody::Whole(Some(Bytes::from(reply.body))),
    };
    response.body(body).map_err(io::Error::other)
}

impl Shared {
    /// The normal answer, and the deployment it created with the workflow to run.
    fn answer(&self, call: &Call, conditional: bool, early_end: bool) -> (Reply, Created) {
        let mut st = self.lock();
        if let Some(refusal) = questionable_headers(call) {
            return (refusal, None);
        }
        if call.header("user-agent").is_none() {
            let text = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n";
            let reply = Reply {
                status: 403,
                headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
                body: text.as_bytes().to_vec(),
            };
            return (reply, None);
        }
        match call.header("authorization").map(split_auth) {
            None => return (Reply::error(401, "Requires authentication", DOCS), None),
            Some((_, token)) if token != self.token => {
                return (Reply::error(401, "Bad credentials", DOCS), None)
            }
            Some(_) => {}
        }
        st.refresh_window();
        let free = call.path == "/rate_limit";
        let (mut reply, created) = if st.rate.remaining == 0 && !free {
            (st.exhausted_reply(), None)
        } else {
            st.route(call, early_end)
        };
        if st.verbatim && !matches!(reply.status, 400 | 403 | 404 | 415 | 422 | 429) {
            if let Some((status, body)) = st.verbatim_answer(call) {
                reply = Reply::json(status, &body);
            }
        }
        if call.method == "GET" && reply.status == 200 {
            let tag = etag(&reply.body);
            let matched = conditional
                && call
                    .header("if-none-match")
                    .is_some_and(|inm| etag_matches(inm, &tag));
            reply = reply
                .header("etag", tag)
                .header("cache-control", "private, max-age=60, s-maxage=60")
                .header(
                    "vary",
                    "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding",
                );
            if matched {
                reply.status = 304;
                reply.body.clear();
                reply
                    .headers
                    .retain(|(n, _)| n != "content-type" && n != "link");
            }
        }
        if reply.status != 304 && !free {
            st.rate.remaining = st.rate.remaining.saturating_sub(1);
        }
        st.decorate(&mut reply, None);
        (reply, created)
    }
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Clone)]
struct Site {
    base: String,
    owner: String,
    repo: String,
}

struct Rate {
    limit: u64,
    remaining: u64,
    reset: u64,
}

struct FaultRule {
    method: String,
    path_contains: String,
    fault: Fault,
    times: usize,
}

struct NewDeployment {
    sha: String,
    reference: String,
    task: String,
    payload: Value,
    environment: String,
    description: Value,
    creator: String,
    transient: bool,
    production: bool,
}

#[derive(Default)]
struct NewStatus {
    state: String,
    description: String,
    log_url: Option<String>,
    target_url: Option<String>,
    environment: Option<String>,
    environment_url: String,
    creator: String,
    auto_inactive: bool,
}

struct State {
    site: Site,
    user: String,
    user_ids: BTreeMap<String, u64>,
    deployments: Vec<Value>,
    statuses: HashMap<u64, Vec<Value>>,
    commit_statuses: Vec<(String, Value)>,
    check_runs: Vec<Value>,
    commits: Vec<(String, String)>,
    branches: BTreeMap<String, String>,
    environments: Vec<Value>,
    next_id: u64,
    frozen: Option<SystemTime>,
    /// How far the server's clock runs ahead of the real one ([`GitHub::advance_clock`]).
    offset: Duration,
    rate: Rate,
    faults: Vec<FaultRule>,
    workflow: Steps,
    /// Pages an `EarlyEnd` promised, answered `[]`: (canonical path, page).
    empty_pages: Vec<(String, u64)>,
    links_by_id: bool,
    /// Answer with GitHub's examples unchanged (see [`GitHub::verbatim`]).
    verbatim: bool,
    log: Vec<Request>,
    seq: u64,
}

impl State {
    fn new(site: Site) -> State {
        let mut st = State {
            site,
            user: USER.to_string(),
            user_ids: BTreeMap::new(),
            deployments: Vec::new(),
            statuses: HashMap::new(),
            commit_statuses: Vec::new(),
            check_runs: Vec::new(),
            commits: Vec::new(),
            branches: BTreeMap::new(),
            environments: Vec::new(),
            next_id: 1,
            frozen: None,
            offset: Duration::ZERO,
            rate: Rate {
                limit: 5000,
                remaining: 5000,
                reset: epoch_now() + 3600,
            },
            faults: Vec::new(),
            workflow: Vec::new(),
            empty_pages: Vec::new(),
            links_by_id: true,
            verbatim: false,
            log: Vec::new(),
            seq: 0,
        };
        st.user_id(USER);
        st
    }

    fn repo_api(&self) -> String {
        format!(
            "{}/repos/{}/{}",
            self.site.base, self.site.owner, self.site.repo
        )
    }

    fn html(&self) -> String {
        format!("https://github.com/{}/{}", self.site.owner, self.site.repo)
    }

    fn run_url(&self, id: u64) -> String {
        format!(
            "{}/{}/{}/actions/runs/{}",
            self.site.base,
            self.site.owner,
            self.site.repo,
            7_000_000 + id
        )
    }

    /// One id sequence for everything, as GitHub's ids only grow.
    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The server's now, in seconds since the epoch: the real clock plus `offset`.
    fn now(&self) -> u64 {
        epoch_now() + self.offset.as_secs()
    }

    fn stamp(&self) -> String {
        let now = self
            .frozen
            .unwrap_or_else(|| SystemTime::now() + self.offset);
        humantime::format_rfc3339_seconds(now).to_string()
    }

    fn refresh_window(&mut self) {
        let now = self.now();
        if now >= self.rate.reset {
            self.rate.remaining = self.rate.limit;
            self.rate.reset = now + 3600;
        }
    }

    /// Logs a request on arrival and takes the fault it meets, if any.
    fn arrive(&mut self, call: &Call) -> (usize, Option<Fault>) {
        let body = (call.method == "POST").then(|| {
            call.json()
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&call.body).into_owned()))
        });
        self.log.push(Request {
            method: call.method.clone(),
            path: call.target.clone(),
            if_none_match: call.header("if-none-match").map(str::to_string),
            auth_scheme: call
                .header("authorization")
                .map(|v| split_auth(v).0.to_string()),
            status: 0,
            body,
            headers: call
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
                .cloned()
                .collect(),
        });
        let fault = self
            .faults
            .iter_mut()
            .find(|rule| {
                rule.times > 0
                    && (rule.method.is_empty()
                        || rule.method == "*"
                        || rule.method.eq_ignore_ascii_case(&call.method))
                    && call.target.contains(&rule.path_contains)
            })
            .map(|rule| {
                rule.times -= 1;
                rule.fault.clone()
            });
        self.faults.retain(|rule| rule.times > 0);
        (self.log.len() - 1, fault)
    }

    /// Rate-limit and GitHub headers every authenticated answer carries.
    fn decorate(&mut self, reply: &mut Reply, remaining: Option<u64>) {
        self.seq += 1;
        let remaining = remaining.unwrap_or(self.rate.remaining);
        let seq = self.seq;
        reply.headers.extend([
            ("x-ratelimit-limit".to_string(), self.rate.limit.to_string()),
            ("x-ratelimit-remaining".to_string(), remaining.to_string()),
            (
                "x-ratelimit-used".to_string(),
                (self.rate.limit - remaining).to_string(),
            ),
            ("x-ratelimit-reset".to_string(), self.rate.reset.to_string()),
            ("x-ratelimit-resource".to_string(), "core".to_string()),
            (
                "x-github-api-version-selected".to_string(),
                "2022-11-28".to_string(),
            ),
            (
                "x-github-media-type".to_string(),
                "github.v3; format=json".to_string(),
            ),
            (
                "x-github-request-id".to_string(),
                format!("C0DE:7E57:{seq:06X}:{seq:07X}:{:08X}", self.rate.reset),
            ),
        ]);
    }

    fn exhausted_reply(&self) -> Reply {
        let message = format!(
            "API rate limit exceeded for user ID {}. If you reach out to GitHub Support for help, please include the request ID C0DE:7E57:{:06X} and timestamp {} UTC.",
            self.user_ids.get(&self.user).copied().unwrap_or(1),
            self.seq + 1,
            self.stamp().replace('T', " ").trim_end_matches('Z'),
        );
        Reply::error(403, &message, DOC_RATE_PRIMARY)
    }

    /// The answer of a fault that refuses the request without doing it.
    fn refuse(&mut self, call: &Call, fault: &Fault) -> Reply {
        self.refresh_window();
        let creating = call.method == "POST" && call.path.ends_with("/deployments");
        let reference = call
            .json()
            .ok()
            .and_then(|b| b.get("ref").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let mut remaining = None;
        let mut reply = match fault {
            Fault::Status(status) => Reply::error(*status, reason(*status), DOCS),
            Fault::RateLimited {
                status,
                retry_after,
            } => {
                let message = format!(
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID C0DE:7E57:{:06X}.",
                    self.seq + 1
                );
                let reply = Reply::error(*status, &message, DOC_RATE_SECONDARY);
                match retry_after {
                    Some(secs) => reply.header("retry-after", secs.to_string()),
                    None => reply,
                }
            }
            Fault::Exhausted => {
                remaining = Some(0);
                self.exhausted_reply()
            }
            Fault::Conflict if creating => {
                let message = format!("Conflict merging main into {reference}.");
                Reply::error(409, &message, DOC_CREATE_DEPLOYMENT)
            }
            Fault::Conflict => Reply::error(409, "Conflict", DOCS),
            Fault::Unprocessable if creating => {
                let message = format!("No ref found for: {reference}");
                Reply::error(422, &message, DOC_CREATE_DEPLOYMENT)
            }
            Fault::Unprocessable => {
                validation_failed("DeploymentStatus", "state", DOC_CREATE_STATUS)
            }
            other => unreachable!("{other:?} is not a refusal"),
        };
        if matches!(
            fault,
            Fault::Status(_) | Fault::Conflict | Fault::Unprocessable
        ) {
            self.rate.remaining = self.rate.remaining.saturating_sub(1);
        }
        self.decorate(&mut reply, remaining);
        reply
    }

    /// The work was done; the answer is lost and replaced by a bare error.
    fn lost(&mut self, done: Reply, status: u16) -> Reply {
        let mut reply = Reply::error(status, reason(status), DOCS);
        reply.headers.extend(
            done.headers
                .into_iter()
                .filter(|(n, _)| n.starts_with("x-")),
        );
        reply
    }

    // -- routing ----------------------------------------------------------------------

    fn route(&mut self, call: &Call, early_end: bool) -> (Reply, Created) {
        let get = call.method == "GET";
        let post = call.method == "POST";
        match call.path.as_str() {
            "/rate_limit" if get => return (self.rate_limit(), None),
            "/user" if get => return (self.authenticated_user(), None),
            _ => {}
        }
        let Some((rest, link_base)) = self.repo_path(&call.path) else {
            return (not_found(DOCS), None);
        };
        let canonical = format!("/repos/{}/{}{}", self.site.owner, self.site.repo, rest);
        let link_path = format!("{link_base}{rest}");
        let list = ListCtx {
            canonical: &canonical,
            link_path: &link_path,
            early_end,
        };
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        match segments.as_slice() {
            [] if get => (self.repository_reply(), None),
            ["deployments"] if get => (self.list_deployments(call, &list), None),
            ["deployments"] if post => self.post_deployment(call),
            ["deployments", id] if get => (self.get_deployment(id), None),
            ["deployments", id, "statuses"] if get => (self.list_statuses(call, &list, id), None),
            ["deployments", id, "statuses"] if post => (self.post_status(call, id), None),
            ["commits"] if get => (self.list_commits(call, &list), None),
            ["environments"] if get => (self.list_environments(call, &list), None),
            ["commits", reference @ .., "status"] if get && !reference.is_empty() => {
                let reference = percent_decode(&reference.join("/"));
                (self.combined_status(call, &list, &reference), None)
            }
            ["commits", reference @ .., "check-runs"] if get && !reference.is_empty() => {
                let reference = percent_decode(&reference.join("/"));
                (self.list_check_runs(call, &list, &reference), None)
            }
            _ => (not_found(DOCS), None),
        }
    }

    /// The part after `/repos/{owner}/{repo}` or `/repositories/{id}`, and the prefix
    /// `Link` URLs use.
    fn repo_path<'p>(&self, path: &'p str) -> Option<(&'p str, String)> {
        let by_id = format!("/repositories/{REPO_ID}");
        let by_name = format!("/repos/{}/{}", self.site.owner, self.site.repo);
        let (rest, prefix) = if let Some(rest) = path.strip_prefix(&by_id) {
            (rest, by_id)
        } else if path.len() >= by_name.len()
            && path.is_char_boundary(by_name.len())
            && path[..by_name.len()].eq_ignore_ascii_case(&by_name)
        {
            let rest = &path[by_name.len()..];
            (rest, if self.links_by_id { by_id } else { by_name })
        } else {
            return None;
        };
        (rest.is_empty() || rest.starts_with('/')).then_some((rest, prefix))
    }

    /// Resolves a ref (full sha, or a branch) to a sha.
    fn resolve(&self, reference: &str) -> Option<String> {
        if reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some(reference.to_ascii_lowercase());
        }
        let name = reference.strip_prefix("refs/heads/").unwrap_or(reference);
        self.branches.get(name).cloned()
    }

    // -- lists -------------------------------------------------------------------------

    fn paginate(
        &mut self,
        call: &Call,
        list: &ListCtx,
        items: Vec<Value>,
    ) -> (Vec<Value>, Option<String>) {
        let per_page = match call.param("per_page").and_then(|s| s.parse::<u64>().ok()) {
            None | Some(0) => 30,
            Some(n) => n.min(100),
        };
        let page = call
            .param("page")
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&p| p >= 1)
            .unwrap_or(1);
        let promised = self
            .empty_pages
            .iter()
            .position(|(path, p)| path == list.canonical && *p == page);
        let mut last = (items.len() as u64).div_ceil(per_page).max(1);
        let slice: Vec<Value> = if let Some(i) = promised {
            self.empty_pages.remove(i);
            last = page;
            Vec::new()
        } else {
            items
                .into_iter()
                .skip(((page - 1) * per_page) as usize)
                .take(per_page as usize)
                .collect()
        };
        if list.early_end && promised.is_none() {
            last = last.max(page + 1);
            self.empty_pages
                .push((list.canonical.to_string(), page + 1));
        }
        let mut rels = Vec::new();
        if page > 1 {
            rels.push(("prev", page - 1));
        }
        if page < last {
            rels.push(("next", page + 1));
            rels.push(("last", last));
        }
        if page > 1 {
            rels.push(("first", 1));
        }
        let link = rels
            .iter()
            .map(|(rel, p)| format!("<{}>; rel=\"{rel}\"", self.page_url(call, list, *p)))
            .collect::<Vec<_>>()
            .join(", ");
        (slice, (!link.is_empty()).then_some(link))
    }

    fn page_url(&self, call: &Call, list: &ListCtx, page: u64) -> String {
        let mut query = call.query.clone();
        let item = format!("page={page}");
        match query
            .iter_mut()
            .find(|q| q.split('=').next() == Some("page"))
        {
            Some(existing) => *existing = item,
            None => query.push(item),
        }
        format!("{}{}?{}", self.site.base, list.link_path, query.join("&"))
    }

    fn list_reply(body: &Value, link: Option<String>) -> Reply {
        let reply = Reply::json(200, body);
        match link {
            Some(link) => reply.header("link", link),
            None => reply,
        }
    }

    fn list_deployments(&mut self, call: &Call, list: &ListCtx) -> Reply {
        let filters: Vec<(&str, String)> = ["sha", "ref", "task", "environment"]
            .into_iter()
            .filter_map(|key| call.param(key).map(|v| (key, v)))
            .filter(|(_, v)| v != "none")
            .collect();
        let items: Vec<Value> = self
            .deployments
            .iter()
            .rev()
            .filter(|d| {
                filters
                    .iter()
                    .all(|(k, v)| d[*k].as_str() == Some(v.as_str()))
            })
            .cloned()
            .collect();
        let (page, link) = self.paginate(call, list, items);
        State::list_reply(&Value::Array(page), link)
    }

    fn list_statuses(&mut self, call: &Call, list: &ListCtx, id: &str) -> Reply {
        let Some(id) = self
            .deployment_index(id)
            .map(|i| self.deployments[i]["id"].as_u64().unwrap_or(0))
        else {
            return not_found(DOC_LIST_STATUSES);
        };
        let items: Vec<Value> = self
            .statuses
            .get(&id)
            .map(|l| l.iter().rev().cloned().collect())
            .unwrap_or_default();
        let (page, link) = self.paginate(call, list, items);
        State::list_reply(&Value::Array(page), link)
    }

    fn list_commits(&mut self, call: &Call, list: &ListCtx) -> Reply {
        if self.commits.is_empty() {
            return Reply::error(409, "Git Repository is empty.", DOC_COMMITS);
        }
        let start = match call.param("sha") {
            None => self.commits.len() - 1,
            Some(reference) => {
                let sha = self.resolve(&reference);
                match self
                    .commits
                    .iter()
                    .position(|(s, _)| Some(s) == sha.as_ref())
                {
                    Some(i) => i,
                    None => return not_found(DOC_COMMITS),
                }
            }
        };
        let items: Vec<Value> = (0..=start).rev().map(|i| self.commit_json(i)).collect();
        let (page, link) = self.paginate(call, list, items);
        State::list_reply(&Value::Array(page), link)
    }

    fn list_environments(&mut self, call: &Call, list: &ListCtx) -> Reply {
        let all = self.environments.clone();
        let total = all.len();
        let (page, link) = self.paginate(call, list, all);
        State::list_reply(&json!({"total_count": total, "environments": page}), link)
    }

    fn list_check_runs(&mut self, call: &Call, list: &ListCtx, reference: &str) -> Reply {
        let Some(sha) = self.resolve(reference) else {
            return Reply::error(
                422,
                &format!("No commit found for SHA: {reference}"),
                DOC_CHECK_RUNS,
            );
        };
        let name = call.param("check_name");
        let status = call.param("status");
        let items: Vec<Value> = self
            .check_runs
            .iter()
            .filter(|r| r["head_sha"] == sha.as_str())
            .filter(|r| name.as_deref().is_none_or(|n| r["name"] == n))
            .filter(|r| status.as_deref().is_none_or(|s| r["status"] == s))
            .cloned()
            .collect();
        let total = items.len();
        let (page, link) = self.paginate(call, list, items);
        State::list_reply(&json!({"total_count": total, "check_runs": page}), link)
    }

    fn combined_status(&mut self, call: &Call, list: &ListCtx, reference: &str) -> Reply {
        // GitHub's description of this operation answers 200 or 404 (the check-runs
        // list above answers 422, as GitHub does, though its description lists 200
        // alone).
        let Some(sha) = self.resolve(reference) else {
            return Reply::error(
                404,
                &format!("No commit found for SHA: {reference}"),
                DOC_COMBINED,
            );
        };
        let latest = self.latest_statuses(&sha);
        let state = rollup(latest.iter().map(|s| s["state"].as_str().unwrap_or("")));
        let total = latest.len();
        let (page, link) = self.paginate(call, list, latest);
        let mut body = fixture(COMBINED_STATUS);
        self.rewrite_repo_urls(&mut body);
        body["state"] = json!(state);
        body["statuses"] = Value::Array(page);
        body["sha"] = json!(sha);
        body["total_count"] = json!(total);
        body["repository"] = self.minimal_repository(body["repository"].take());
        body["commit_url"] = json!(format!("{}/commits/{sha}", self.repo_api()));
        body["url"] = json!(format!("{}/commits/{sha}/status", self.repo_api()));
        State::list_reply(&body, link)
    }

    /// The newest status of each context of a commit, oldest context first.
    fn latest_statuses(&self, sha: &str) -> Vec<Value> {
        let mut latest: Vec<Value> = Vec::new();
        for (_, status) in self.commit_statuses.iter().filter(|(s, _)| s == sha) {
            match latest
                .iter_mut()
                .find(|l| l["context"] == status["context"])
            {
                Some(slot) => *slot = status.clone(),
                None => latest.push(status.clone()),
            }
        }
        latest
    }

    // -- single objects ----------------------------------------------------------------

    /// The example answer of the operation `call` asks for, when it is one of those
    /// `verbatim` mode answers.
    fn verbatim_answer(&self, call: &Call) -> Option<(u16, Value)> {
        let (rest, _) = self.repo_path(&call.path)?;
        let segments: Vec<&str> = rest.split('/').skip(1).collect();
        let get = call.method == "GET";
        Some(match segments.as_slice() {
            // The example stands for what exists: nothing before the first POST.
            ["deployments"] if get && self.deployments.is_empty() => (200, json!([])),
            ["deployments"] if get => (200, json!([fixture(DEPLOYMENT)])),
            ["deployments"] => (201, fixture(DEPLOYMENT)),
            ["deployments", _] if get => (200, fixture(DEPLOYMENT)),
            ["deployments", _, "statuses"] if get => (200, json!([fixture(DEPLOYMENT_STATUS)])),
            ["deployments", _, "statuses"] => (201, fixture(DEPLOYMENT_STATUS)),
            ["commits", .., "status"] if get => (200, fixture(COMBINED_STATUS)),
            ["commits", .., "check-runs"] if get => (200, fixture(CHECK_RUNS)),
            _ => return None,
        })
    }

    fn deployment_index(&self, id: &str) -> Option<usize> {
        let id: u64 = id.parse().ok()?;
        self.deployments.iter().position(|d| d["id"] == id)
    }

    fn get_deployment(&self, id: &str) -> Reply {
        match self.deployment_index(id) {
            Some(i) => Reply::json(200, &self.deployments[i]),
            None => not_found(DOC_GET_DEPLOYMENT),
        }
    }

    fn post_deployment(&mut self, call: &Call) -> (Reply, Created) {
        let Ok(body) = call.json() else {
            return (
                Reply::error(400, "Problems parsing JSON", DOC_CREATE_DEPLOYMENT),
                None,
            );
        };
        let Some(reference) = body.get("ref").and_then(Value::as_str) else {
            return (invalid_request("ref", DOC_CREATE_DEPLOYMENT), None);
        };
        let typed: &[(&str, &[&str])] = &[
            ("task", &["string"]),
            ("auto_merge", &["boolean"]),
            ("required_contexts", &["array of strings"]),
            ("payload", &["object", "string"]),
            ("environment", &["string"]),
            ("description", &["string", "null"]),
            ("transient_environment", &["boolean"]),
            ("production_environment", &["boolean"]),
        ];
        if let Some(reply) = mistyped(&body, typed, DOC_CREATE_DEPLOYMENT) {
            return (reply, None);
        }
        let Some(sha) = self.resolve(reference) else {
            let message = format!("No ref found for: {reference}");
            return (Reply::error(422, &message, DOC_CREATE_DEPLOYMENT), None);
        };
        // Without `required_contexts: []` GitHub checks the commit's statuses itself.
        let latest = self.latest_statuses(&sha);
        let required: Vec<String> = match body.get("required_contexts").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect(),
            None => latest
                .iter()
                .filter_map(|s| s["context"].as_str().map(str::to_string))
                .collect(),
        };
        let failing: Vec<Value> = required
            .iter()
            .filter_map(|context| {
                let state = latest
                    .iter()
                    .find(|s| s["context"] == context.as_str())
                    .and_then(|s| s["state"].as_str())
                    .unwrap_or("missing");
                (state != "success").then(|| json!({"context": context, "state": state}))
            })
            .collect();
        if !failing.is_empty() {
            let reply = Reply::json(
                409,
                &json!({
                    "message": format!("Conflict: Commit status checks failed for {reference}."),
                    "errors": [{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}],
                    "documentation_url": DOC_CREATE_DEPLOYMENT,
                    "status": "409",
                }),
            );
            return (reply, None);
        }
        let environment = body
            .get("environment")
            .and_then(Value::as_str)
            .unwrap_or("production")
            .to_string();
        let payload = match body.get("payload") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
            Some(other) => other.clone(),
        };
        let id = self.create_deployment(NewDeployment {
            sha,
            reference: reference.to_string(),
            task: body
                .get("task")
                .and_then(Value::as_str)
                .unwrap_or("deploy")
                .to_string(),
            payload,
            production: body
                .get("production_environment")
                .and_then(Value::as_bool)
                .unwrap_or(environment == "production"),
            environment,
            description: body.get("description").cloned().unwrap_or(json!("")),
            creator: self.user.clone(),
            transient: body
                .get("transient_environment")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
        let created = self.deployments.last().cloned().unwrap_or_default();
        (
            Reply::json(201, &created),
            Some((id, self.workflow.clone())),
        )
    }

    fn post_status(&mut self, call: &Call, id: &str) -> Reply {
        let Some(index) = self.deployment_index(id) else {
            return not_found(DOC_CREATE_STATUS);
        };
        let id = self.deployments[index]["id"].as_u64().unwrap_or(0);
        let Ok(body) = call.json() else {
            return Reply::error(400, "Problems parsing JSON", DOC_CREATE_STATUS);
        };
        let typed: &[(&str, &[&str])] = &[
            ("target_url", &["string"]),
            ("log_url", &["string"]),
            ("description", &["string"]),
            ("environment", &["string"]),
            ("environment_url", &["string"]),
            ("auto_inactive", &["boolean"]),
        ];
        if let Some(reply) = mistyped(&body, typed, DOC_CREATE_STATUS) {
            return reply;
        }
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        let Some(state) = text("state") else {
            return invalid_request("state", DOC_CREATE_STATUS);
        };
        if !DEPLOYMENT_STATES.contains(&state.as_str()) {
            return validation_failed("DeploymentStatus", "state", DOC_CREATE_STATUS);
        }
        let description = text("description").unwrap_or_default();
        if description.chars().count() > 140 {
            return validation_failed("DeploymentStatus", "description", DOC_CREATE_STATUS);
        }
        let new = NewStatus {
            state,
            description,
            log_url: text("log_url"),
            target_url: text("target_url"),
            environment: text("environment"),
            environment_url: text("environment_url").unwrap_or_default(),
            creator: self.user.clone(),
            auto_inactive: body
                .get("auto_inactive")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        };
        match self.create_status(id, new) {
            Some(status) => {
                let location = status["url"].as_str().unwrap_or_default().to_string();
                Reply::json(201, &status).header("location", location)
            }
            None => not_found(DOC_CREATE_STATUS),
        }
    }

    fn repository_reply(&mut self) -> Reply {
        let mut repo = fixture(REPOSITORY);
        self.rewrite_repo_urls(&mut repo);
        let mut repo = self.minimal_repository(repo);
        repo["default_branch"] = json!("main");
        repo["clone_url"] = json!(format!("{}.git", self.html()));
        repo["svn_url"] = json!(self.html());
        repo["mirror_url"] = Value::Null;
        repo["permissions"] =
            json!({"admin": false, "maintain": false, "push": true, "triage": true, "pull": true});
        Reply::json(200, &repo)
    }

    fn rate_limit(&mut self) -> Reply {
        let mut body = fixture(RATE_LIMIT);
        let core = json!({
            "limit": self.rate.limit,
            "used": self.rate.limit - self.rate.remaining,
            "remaining": self.rate.remaining,
            "reset": self.rate.reset,
        });
        body["resources"]["core"] = core.clone();
        body["rate"] = core;
        Reply::json(200, &body)
    }

    fn authenticated_user(&mut self) -> Reply {
        let login = self.user.clone();
        let mut user = fixture(USER_PROFILE);
        let simple = self.user_json(&login);
        if let (Some(user), Some(simple)) = (user.as_object_mut(), simple.as_object()) {
            for (key, value) in simple {
                user.insert(key.clone(), value.clone());
            }
        }
        user["name"] = json!(login);
        user["email"] = json!(format!("{login}@example.com"));
        Reply::json(200, &user)
    }

    // -- making things -----------------------------------------------------------------

    fn user_id(&mut self, login: &str) -> u64 {
        let known = match login {
            "github-actions[bot]" => Some(41898282),
            "dependabot[bot]" => Some(49699333),
            _ => None,
        };
        let next = 1 + self.user_ids.len() as u64;
        *self
            .user_ids
            .entry(login.to_string())
            .or_insert(known.unwrap_or(next))
    }

    /// A simple user object, as in every `creator`.
    fn user_json(&mut self, login: &str) -> Value {
        let id = self.user_id(login);
        let bot = login.strip_suffix("[bot]");
        let escaped = login.replace('[', "%5B").replace(']', "%5D");
        let mut user = fixture(SIMPLE_USER);
        rewrite(
            &mut user,
            "https://api.github.com/users/octocat",
            &format!("{}/users/{escaped}", self.site.base),
        );
        user["login"] = json!(login);
        user["id"] = json!(id);
        user["node_id"] = json!(node_id(if bot.is_some() { "Bot" } else { "User" }, id));
        user["avatar_url"] = json!(format!("https://avatars.githubusercontent.com/u/{id}?v=4"));
        user["html_url"] = json!(match bot {
            Some(app) => format!("https://github.com/apps/{app}"),
            None => format!("https://github.com/{login}"),
        });
        user["type"] = json!(if bot.is_some() { "Bot" } else { "User" });
        user
    }

    /// Points the example's `octocat/Hello-World` URLs at this server and repository.
    fn rewrite_repo_urls(&self, value: &mut Value) {
        let full = format!("{}/{}", self.site.owner, self.site.repo);
        rewrite(value, "octocat/Hello-World", &full);
        rewrite(value, "https://api.github.com", &self.site.base);
        rewrite(value, "http://api.github.com", &self.site.base);
    }

    fn minimal_repository(&mut self, mut repo: Value) -> Value {
        let owner = self.site.owner.clone();
        repo["id"] = json!(REPO_ID);
        repo["node_id"] = json!(node_id("Repository", REPO_ID));
        repo["name"] = json!(self.site.repo);
        repo["full_name"] = json!(format!("{}/{}", self.site.owner, self.site.repo));
        repo["owner"] = self.user_json(&owner);
        repo["html_url"] = json!(self.html());
        repo["url"] = json!(self.repo_api());
        repo["description"] = json!("The test repository");
        repo["private"] = json!(true);
        repo["visibility"] = json!("private");
        repo
    }

    fn create_deployment(&mut self, new: NewDeployment) -> u64 {
        let id = self.next_id();
        let now = self.stamp();
        let api = self.repo_api();
        let creator = self.user_json(&new.creator);
        let mut d = fixture(DEPLOYMENT);
        d["url"] = json!(format!("{api}/deployments/{id}"));
        d["id"] = json!(id);
        d["node_id"] = json!(node_id("Deployment", id));
        d["sha"] = json!(new.sha);
        d["ref"] = json!(new.reference);
        d["task"] = json!(new.task);
        d["payload"] = new.payload;
        d["original_environment"] = json!(new.environment);
        d["environment"] = json!(new.environment);
        d["description"] = new.description;
        d["creator"] = creator;
        d["created_at"] = json!(now);
        d["updated_at"] = json!(now);
        d["statuses_url"] = json!(format!("{api}/deployments/{id}/statuses"));
        d["repository_url"] = json!(api);
        d["transient_environment"] = json!(new.transient);
        d["production_environment"] = json!(new.production);
        self.ensure_environment(&new.environment);
        self.deployments.push(d);
        id
    }

    /// Adds a status to a deployment, as GitHub does (with `auto_inactive`).
    fn create_status(&mut self, id: u64, new: NewStatus) -> Option<Value> {
        let index = self.deployments.iter().position(|d| d["id"] == id)?;
        let sid = self.next_id();
        let now = self.stamp();
        let api = self.repo_api();
        let previous_env = self
            .statuses
            .get(&id)
            .and_then(|l| l.last())
            .and_then(|s| s["environment"].as_str().map(str::to_string));
        let environment = new
            .environment
            .clone()
            .or(previous_env)
            .or_else(|| {
                self.deployments[index]["environment"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let url = new
            .log_url
            .clone()
            .or(new.target_url.clone())
            .unwrap_or_default();
        let mut s = fixture(DEPLOYMENT_STATUS);
        s["url"] = json!(format!("{api}/deployments/{id}/statuses/{sid}"));
        s["id"] = json!(sid);
        s["node_id"] = json!(node_id("DeploymentStatus", sid));
        s["state"] = json!(new.state);
        s["creator"] = self.user_json(&new.creator);
        s["description"] = json!(new.description);
        s["environment"] = json!(environment);
        s["target_url"] = json!(url);
        s["created_at"] = json!(now);
        s["updated_at"] = json!(now);
        s["deployment_url"] = json!(format!("{api}/deployments/{id}"));
        s["repository_url"] = json!(api);
        s["environment_url"] = json!(new.environment_url);
        s["log_url"] = json!(url);
        let deployment = &mut self.deployments[index];
        deployment["updated_at"] = json!(now);
        if new.environment.is_some() {
            deployment["environment"] = json!(environment);
        }
        self.statuses.entry(id).or_default().push(s.clone());

        // GitHub marks earlier successful deployments to the same non-production,
        // non-transient environment inactive when a new one succeeds.
        if new.state == "success" && new.auto_inactive {
            let earlier: Vec<u64> = self
                .deployments
                .iter()
                .filter(|d| {
                    d["id"].as_u64().unwrap_or(0) < id
                        && d["environment"] == environment.as_str()
                        && d["transient_environment"] != true
                        && d["production_environment"] != true
                })
                .filter_map(|d| d["id"].as_u64())
                .filter(|d| {
                    self.statuses
                        .get(d)
                        .and_then(|l| l.last())
                        .map(|s| s["state"] == "success")
                        == Some(true)
                })
                .collect();
            for other in earlier {
                self.create_status(
                    other,
                    NewStatus {
                        state: "inactive".to_string(),
                        creator: new.creator.clone(),
                        ..NewStatus::default()
                    },
                );
            }
        }
        Some(s)
    }

    fn ensure_environment(&mut self, name: &str) {
        if self.environments.iter().any(|e| e["name"] == name) {
            return;
        }
        let id = 161088068 + self.environments.len() as u64;
        let now = self.stamp();
        let all = fixture(ENVIRONMENTS);
        let mut env = all["environments"][0].clone();
        env["id"] = json!(id);
        env["node_id"] = json!(node_id("Environment", id));
        env["name"] = json!(name);
        env["url"] = json!(format!("{}/environments/{name}", self.repo_api()));
        env["html_url"] = json!(format!(
            "{}/deployments/activity_log?environments_filter={name}",
            self.html()
        ));
        env["created_at"] = json!(now);
        env["updated_at"] = json!(now);
        env["protection_rules"] = json!([]);
        env["deployment_branch_policy"] = Value::Null;
        self.environments.push(env);
    }

    fn add_commit_status(
        &mut self,
        sha: &str,
        context: &str,
        state: &str,
        target_url: Option<&str>,
    ) {
        let id = self.next_id();
        let now = self.stamp();
        let mut s = fixture(COMBINED_STATUS)["statuses"][0].clone();
        s["url"] = json!(format!("{}/statuses/{sha}", self.repo_api()));
        s["avatar_url"] = json!("https://avatars.githubusercontent.com/u/41898282?v=4");
        s["id"] = json!(id);
        s["node_id"] = json!(node_id("Status", id));
        s["state"] = json!(state);
        s["description"] = Value::Null;
        s["target_url"] = json!(target_url);
        s["context"] = json!(context);
        s["created_at"] = json!(now);
        s["updated_at"] = json!(now);
        self.commit_statuses.push((sha.to_string(), s));
    }

    fn set_check_run(&mut self, sha: &str, name: &str, status: &str, conclusion: Option<&str>) {
        let now = self.stamp();
        let completed = (status == "completed").then(|| now.clone());
        if let Some(run) = self
            .check_runs
            .iter_mut()
            .find(|r| r["head_sha"] == sha && r["name"] == name)
        {
            run["status"] = json!(status);
            run["conclusion"] = json!(conclusion);
            run["completed_at"] = json!(completed);
            return;
        }
        let id = self.next_id();
        let api = self.repo_api();
        let html = self.html();
        let mut run = fixture(CHECK_RUNS)["check_runs"][0].clone();
        self.rewrite_repo_urls(&mut run);
        run["id"] = json!(id);
        run["head_sha"] = json!(sha);
        run["node_id"] = json!(node_id("CheckRun", id));
        run["external_id"] = json!("");
        run["url"] = json!(format!("{api}/check-runs/{id}"));
        run["html_url"] = json!(format!("{html}/runs/{id}"));
        run["details_url"] = json!(format!("{html}/runs/{id}"));
        run["status"] = json!(status);
        run["conclusion"] = json!(conclusion);
        run["started_at"] = json!(now);
        run["completed_at"] = json!(completed);
        run["output"] = json!({
            "title": null, "summary": null, "text": null, "annotations_count": 0,
            "annotations_url": format!("{api}/check-runs/{id}/annotations"),
        });
        run["name"] = json!(name);
        run["check_suite"] = json!({"id": 5_000_000 + id});
        run["pull_requests"] = json!([]);
        self.check_runs.push(run);
    }

    fn commit_json(&mut self, index: usize) -> Value {
        let (sha, message) = self.commits[index].clone();
        let parent = index.checked_sub(1).map(|i| self.commits[i].0.clone());
        let api = self.repo_api();
        let user = self.user.clone();
        let mut c = fixture(COMMITS)[0].clone();
        self.rewrite_repo_urls(&mut c);
        c["url"] = json!(format!("{api}/commits/{sha}"));
        c["sha"] = json!(sha);
        c["node_id"] = json!(base64(format!("06:Commit{REPO_ID}:{sha}").as_bytes()));
        c["html_url"] = json!(format!("{}/commit/{sha}", self.html()));
        c["comments_url"] = json!(format!("{api}/commits/{sha}/comments"));
        let person =
            json!({"name": user, "email": format!("{user}@example.com"), "date": self.stamp()});
        c["commit"]["url"] = json!(format!("{api}/git/commits/{sha}"));
        c["commit"]["author"] = person.clone();
        c["commit"]["committer"] = person;
        c["commit"]["message"] = json!(message);
        c["commit"]["tree"] = json!({"url": format!("{api}/git/trees/{sha}"), "sha": sha});
        c["author"] = self.user_json(&user);
        c["committer"] = self.user_json(&user);
        c["parents"] = match parent {
            Some(p) => {
                json!([{"url": format!("{api}/commits/{p}"), "sha": p, "html_url": format!("{}/commit/{p}", self.html())}])
            }
            None => json!([]),
        };
        c
    }
}

struct ListCtx<'a> {
    /// `/repos/{owner}/{repo}/...`, whatever form the request used.
    canonical: &'a str,
    /// The path `Link` URLs use.
    link_path: &'a str,
    early_end: bool,
}

// ---------------------------------------------------------------------------------------
// Helpers

const DEPLOYMENT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/deployment.json"
));
const DEPLOYMENT_STATUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/deployment-status.json"
));
const COMBINED_STATUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/combined-status.json"
));
const CHECK_RUNS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/check-runs.json"
));
const COMMITS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/commits.json"
));
const ENVIRONMENTS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/environments.json"
));
const REPOSITORY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/repository.json"
));
const RATE_LIMIT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/rate-limit.json"
));
const USER_PROFILE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/user.json"
));
const SIMPLE_USER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/github/simple-user.json"
));

/// What GitHub questions before it looks at a request: a repeated
/// `X-GitHub-Api-Version`, a missing or library-default `User-Agent`, no `Accept`,
/// and a POST body that does not say it is JSON.
fn questionable_headers(call: &Call) -> Option<Reply> {
    let versions: Vec<&str> = call
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-github-api-version"))
        .map(|(_, v)| v.as_str())
        .collect();
    if versions.len() > 1 {
        let message = format!(
            "Invalid API version provided: '{}'. Send the X-GitHub-Api-Version header once.",
            versions.join(", ")
        );
        return Some(Reply::error(400, &message, DOCS));
    }
    let agents: Vec<&str> = call
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.as_str())
        .collect();
    let library_default = |ua: &str| {
        let product = ua
            .split('/')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        product.is_empty()
            || [
                "octocrab",
                "hyper",
                "reqwest",
                "curl",
                "python-requests",
                "go-http-client",
            ]
            .contains(&product.as_str())
    };
    if agents.len() > 1 || agents.iter().any(|ua| library_default(ua)) {
        let message = format!(
            "Request forbidden by administrative rules. Please send one User-Agent that names your application, not {:?} (https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent).",
            agents
        );
        return Some(Reply::error(403, &message, DOCS));
    }
    if !agents.is_empty() && call.header("accept").is_none() {
        return Some(Reply::error(
            400,
            "Missing Accept header: send application/vnd.github+json",
            DOCS,
        ));
    }
    if call.method == "POST" {
        let json = call
            .header("content-type")
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|t| t == "application/json");
        if !json {
            return Some(Reply::error(
                415,
                "Unsupported 'Content-Type' header: send application/json",
                DOCS,
            ));
        }
    }
    None
}

/// The first optional field of a request body whose JSON type the description does
/// not allow, as GitHub's 422 names it.
fn mistyped(body: &Value, fields: &[(&str, &[&str])], doc: &str) -> Option<Reply> {
    for (field, types) in fields {
        let Some(value) = body.get(*field) else {
            continue;
        };
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(items) if items.iter().all(Value::is_string) => "array of strings",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types.contains(&kind) {
            let reply = Reply::json(
                422,
                &json!({
                    "message": format!("Invalid request.\n\nFor 'properties/{field}', {value} is not {}.", types.join(" or ")),
                    "documentation_url": doc,
                    "status": "422",
                }),
            );
            return Some(reply);
        }
    }
    None
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Replaces `from` with `to` in every string of a JSON value.
fn rewrite(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| rewrite(v, from, to)),
        _ => {}
    }
}

fn not_found(doc: &str) -> Reply {
    Reply::error(404, "Not Found", doc)
}

fn invalid_request(field: &str, doc: &str) -> Reply {
    Reply::error(
        422,
        &format!("Invalid request.\n\n\"{field}\" wasn't supplied."),
        doc,
    )
}

fn validation_failed(resource: &str, field: &str, doc: &str) -> Reply {
    Reply::json(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": "invalid", "field": field}],
            "documentation_url": doc,
            "status": "422",
        }),
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        500 => "Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        504 => "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
        400 => "Bad Request",
        401 => "Bad credentials",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        422 => "Validation Failed",
        _ => "Error",
    }
}

/// GitHub's rollup: failure if any context failed or errored, pending if there are
/// none or one is pending, success when every context succeeded.
fn rollup<'a>(states: impl Iterator<Item = &'a str>) -> &'static str {
    let states: Vec<&str> = states.collect();
    if states.iter().any(|s| *s == "failure" || *s == "error") {
        "failure"
    } else if states.is_empty() || states.iter().any(|s| *s != "success") {
        "pending"
    } else {
        "success"
    }
}

/// `("Bearer", "T")` from `Bearer T`.
fn split_auth(value: &str) -> (&str, &str) {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") =>
        {
            (scheme, rest.trim())
        }
        Some((scheme, _)) => (scheme, ""),
        None => (value, ""),
    }
}

/// A weak ETag of a body, shaped like GitHub's (`W/"` and 64 hex digits).
fn etag(body: &[u8]) -> String {
    let mut hex = String::new();
    for seed in 0..4u64 {
        let mut h: u64 = 0xcbf29ce484222325 ^ seed.wrapping_mul(0x9e3779b97f4a7c15);
        for b in body {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        hex.push_str(&format!("{h:016x}"));
    }
    format!("W/\"{hex}\"")
}

/// Weak comparison, as `If-None-Match` uses.
fn etag_matches(header: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(tag))
}

fn node_id(kind: &str, id: u64) -> String {
    base64(format!("0{}:{kind}{id}", kind.len()).as_bytes())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token shaped like a classic personal access token, different for each server.
fn make_token(port: u16) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ (u64::from(port) << 32) ^ u64::from(std::process::id());
    let mut token = String::from("ghp_");
    for _ in 0..36 {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545F4914F6CDD1D);
        token.push(ALPHABET[(r >> 58) as usize % ALPHABET.len()] as char);
    }
    token
}

/// How tests point git-train at this server.
impl GitHub {
    /// A repository with three commits whose `.train.toml` uses this server as the
    /// GitHub forge (short poll and timeouts, for tests), followed by `extra` TOML.
    pub fn configured<'w>(
        &self,
        world: &'w super::World,
        name: &str,
        extra: &str,
    ) -> super::Repo<'w> {
        let repo = world.repo(name, 3);
        repo.write(
            ".train.toml",
            &format!(
                "forge = \"github\"\n{extra}\n[github]\nrepo = \"{}\"\napi = \"{}\"\npoll = \"50ms\"\nmax_wait = \"2s\"\ntimeout = \"2s\"\n",
                self.repo(),
                self.url()
            ),
        );
        repo
    }

    /// Fails the test if this server's token is in any file of the repository (work
    /// tree and `.git`) or anywhere git can show (loose objects are compressed).
    pub fn assert_token_nowhere(&self, repo: &super::Repo) {
        let token = self.token().as_bytes();
        let mut stack = vec![repo.dir.clone()];
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    files += 1;
                    assert!(
                        !bytes.windows(token.len()).any(|w| w == token),
                        "the token is in {}",
                        path.display()
                    );
                }
            }
        }
        assert!(files > 10, "searched only {files} files");
        let everything = repo.git(&["log", "--all", "-p", "--notes=*", "--format=%B%N"]);
        assert!(
            !everything.contains(self.token()),
            "the token is in git's history"
        );
    }

    /// Runs git-train with this server's token, and fails the test if the token or a
    /// panic shows in what it printed.
    pub fn train(&self, repo: &super::Repo, args: &[&str]) -> super::Run {
        let out = repo
            .cmd(super::BIN)
            .env("GH_TOKEN", self.token())
            .args(args)
            .output()
            .expect("run git-train");
        let run = super::Run::of(out);
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(self.token()), "the token leaked: {text}");
            assert!(!text.contains("panicked"), "a panic: {text}");
        }
        run
    }
}
