//! `git train board`: a read-only web page of every environment's train, served
//! from the ledger by the command itself (hyper's server lives here and nowhere
//! else). Pages are rendered on the server from what `status`, `history` and `stats`
//! return (`commands::board`); a small script (optional: without it every page is
//! complete, and a reload shows the news) follows an event stream and refetches the
//! page when the ledger changes (`live`).
//!
//! Safety: it listens on loopback unless told otherwise; a request whose `Host` is
//! not the address it reached or `localhost` is refused (DNS rebinding); only GET
//! and HEAD; every text from commits, the ledger and locks is escaped (`html::esc`);
//! no inline script or style (Content-Security-Policy); the pages are bounded
//! (fields clipped, trains cut, history paged) and rendering is cached per ledger
//! change and limited to `RENDERS` at a time.

pub mod html;
pub mod live;
pub mod svg;

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{broadcast, mpsc, Semaphore};

use crate::commands::board as pages;
use crate::context::{Context, Ui};
use crate::error::{Error, Kind, Result};
use html::{Site as SiteRef, Tab};

/// Pages rendered at the same time (the machine has few cores; git work blocks).
const RENDERS: usize = 2;
/// Open connections, event streams included; more are turned away.
const CONNECTIONS: usize = 128;
/// Open event streams.
const STREAMS: usize = 64;
/// A rendered page is served again while its repository's refs do not change, for
/// at most this long (ages on it grow old).
const CACHE_FOR: Duration = Duration::from_secs(10);
/// Rendered pages kept.
const CACHE_ENTRIES: usize = 256;
/// A comment on an idle event stream this often keeps proxies and the browser sure
/// the board is there.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// The furthest page of history served (50 deployments each).
const MAX_PAGE: usize = 100_000;

const CSS: &str = include_str!("assets/board.css");
const JS: &str = include_str!("assets/board.js");
const ICON: &str = include_str!("assets/icon.svg");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What to serve, and where.
pub struct Options {
    pub listen: SocketAddr,
    /// The repositories (work trees); one, or the watch list with `follow_watch_list`.
    pub repos: Vec<PathBuf>,
    /// `--all`: serve the daemon's watch list and follow its changes.
    pub follow_watch_list: bool,
    /// The per-user config file (the watch list); its folder is watched.
    pub config_file: Option<PathBuf>,
}

/// One repository served.
pub struct Site {
    /// The path as given (the watch list's spelling).
    pub key: String,
    pub path: PathBuf,
    /// Its folder's name, shown.
    pub name: String,
    generation: AtomicU64,
}

impl Site {
    fn new(path: &Path) -> Site {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Site {
            key: path.display().to_string(),
            path: path.to_path_buf(),
            name,
            generation: AtomicU64::new(0),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    fn bump(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The repositories served, in order; with `--all` the list follows the watch list.
pub struct Sites {
    list: RwLock<Vec<Arc<Site>>>,
    pub follow_watch_list: bool,
    changes: AtomicU64,
}

impl Sites {
    fn all(&self) -> Vec<Arc<Site>> {
        self.list.read().map(|l| l.clone()).unwrap_or_default()
    }

    fn find(&self, key: &str) -> Option<Arc<Site>> {
        self.all().into_iter().find(|s| s.key == key)
    }

    /// Serves `paths` from now on; returns the sites added and the keys removed.
    fn replace(&self, paths: &[PathBuf]) -> (Vec<Arc<Site>>, Vec<String>) {
        let Ok(mut list) = self.list.write() else {
            return (Vec::new(), Vec::new());
        };
        let keys: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let removed: Vec<String> = list
            .iter()
            .filter(|s| !keys.contains(&s.key))
            .map(|s| s.key.clone())
            .collect();
        let mut added = Vec::new();
        let next: Vec<Arc<Site>> = paths
            .iter()
            .map(|p| {
                let key = p.display().to_string();
                match list.iter().find(|s| s.key == key) {
                    Some(s) => Arc::clone(s),
                    None => {
                        let s = Arc::new(Site::new(p));
                        added.push(Arc::clone(&s));
                        s
                    }
                }
            })
            .collect();
        *list = next;
        (added, removed)
    }

    /// A change to the list itself: every page is new.
    fn bump_all(&self) -> u64 {
        for s in self.all() {
            s.bump();
        }
        self.changes.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The board, bound to its address and not serving yet.
pub struct Board {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    options: Options,
}

impl Board {
    pub fn bind(options: Options) -> Result<Board> {
        let listener = std::net::TcpListener::bind(options.listen).map_err(|e| {
            let error = Error::usage(format!("cannot listen on {}: {e}", options.listen));
            if e.kind() == std::io::ErrorKind::AddrInUse {
                error.hint("give another port: --listen 127.0.0.1:0 takes a free one")
            } else {
                error.hint("give an address of this machine: --listen 127.0.0.1:7878")
            }
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::internal(format!("cannot set up the listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::internal(format!("cannot read the listening address: {e}")))?;
        Ok(Board {
            listener,
            addr,
            options,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where a browser on this machine finds it.
    pub fn url(&self) -> String {
        let shown = if self.addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), self.addr.port())
        } else {
            self.addr
        };
        format!("http://{shown}/")
    }

    /// Serves until Ctrl-C or SIGTERM. `warn` gets what the board cannot do (no ref
    /// watching: it polls the refs).
    pub fn serve(self, warn: &dyn Fn(&str)) -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(RENDERS + 2)
            .thread_name("git-train-board")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the board's runtime: {e}")))?;
        let sites = Arc::new(Sites {
            list: RwLock::new(
                self.options
                    .repos
                    .iter()
                    .map(|p| Arc::new(Site::new(p)))
                    .collect(),
            ),
            follow_watch_list: self.options.follow_watch_list,
            changes: AtomicU64::new(0),
        });
        let (changes, _) = broadcast::channel(64);
        let server = Arc::new(Server {
            sites: Arc::clone(&sites),
            changes: changes.clone(),
            cache: Mutex::new(HashMap::new()),
            renders: Arc::new(Semaphore::new(RENDERS)),
            streams: Arc::new(Semaphore::new(STREAMS)),
        });
        let config_file = self.options.config_file.clone();
        let outcome = runtime.block_on(async move {
            if let Some(w) = live::start(sites, changes, config_file) {
                warn(&w);
            }
            let listener = tokio::net::TcpListener::from_std(self.listener)
                .map_err(|e| Error::internal(format!("cannot listen: {e}")))?;
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|e| Error::internal(format!("cannot catch SIGTERM: {e}")))?;
            let connections = Arc::new(Semaphore::new(CONNECTIONS));
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _peer)) = accepted else { continue };
                        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                            // Too many open: this one is closed at once.
                            continue;
                        };
                        let Ok(local) = stream.local_addr() else { continue };
                        let server = Arc::clone(&server);
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let server = Arc::clone(&server);
                                async move { Ok::<_, Infallible>(server.handle(req, local).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(Duration::from_secs(10))
                                .max_buf_size(16 * 1024)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                            drop(permit);
                        });
                    }
                    _ = tokio::signal::ctrl_c() => break,
                    _ = terminate.recv() => break,
                }
            }
            Ok(())
        });
        // Open event streams and renders under way end with the process.
        runtime.shutdown_background();
        outcome
    }
}

/// A response body: all of it at once, or an event stream.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// A page as rendered: kept in the cache and served as it is.
struct Rendered {
    status: StatusCode,
    html: Bytes,
    took: Duration,
}

struct Cached {
    generation: u64,
    made: Instant,
    page: Arc<Rendered>,
}

struct Server {
    sites: Arc<Sites>,
    changes: broadcast::Sender<u64>,
    cache: Mutex<HashMap<String, Cached>>,
    renders: Arc<Semaphore>,
    streams: Arc<Semaphore>,
}

/// A page of one site.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Page {
    Overview,
    History { env: Option<String>, page: usize },
    Deployment(String),
    Stats { env: Option<String> },
}

impl Page {
    /// The cache key: the same page however its query was spelled.
    fn key(&self) -> String {
        format!("{self:?}")
    }
}

enum Route {
    Asset(&'static str, &'static str),
    Events,
    All,
    Site(usize, Page),
    NotFound,
}

impl Server {
    async fn handle(&self, req: Request<Incoming>, local: SocketAddr) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "the board is read-only: GET and HEAD only\n",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let authority_ok = req
            .uri()
            .authority()
            .is_none_or(|a| host_allowed(a.as_str(), local));
        if !host.is_some_and(|h| host_allowed(h, local)) || !authority_ok {
            return plain(
                StatusCode::MISDIRECTED_REQUEST,
                "refused: the Host of this request is neither the board's address nor localhost\n",
            );
        }
        let response = match self.route(req.uri().path(), req.uri().query()) {
            Route::Asset(kind, body) => asset(kind, body),
            Route::Events => self.events(),
            Route::All => self.all().await,
            Route::Site(i, page) => self.site(i, page).await,
            Route::NotFound => {
                let main = html::error(
                    "Not found",
                    &["the board has an overview, history and stats".to_string()],
                );
                let page = html::page(
                    "Not found",
                    None,
                    Tab::None,
                    false,
                    &main,
                    &[],
                    crate::context::now(),
                );
                html_response(StatusCode::NOT_FOUND, Bytes::from(page), None)
            }
        };
        if head {
            let (mut parts, body) = response.into_parts();
            if let Body::Full(Some(data)) = &body {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
            }
            return Response::from_parts(parts, Body::Full(None));
        }
        response
    }

    fn route(&self, path: &str, query: Option<&str>) -> Route {
        match path {
            "/assets/board.css" => return Route::Asset("text/css; charset=utf-8", CSS),
            "/assets/board.js" => return Route::Asset("text/javascript; charset=utf-8", JS),
            "/assets/icon.svg" | "/favicon.ico" => return Route::Asset("image/svg+xml", ICON),
            "/events" => return Route::Events,
            _ => {}
        }
        let multi = self.sites.follow_watch_list;
        let (site, rest) = if multi {
            if path == "/" {
                return Route::All;
            }
            let Some(rest) = path.strip_prefix("/r/") else {
                return Route::NotFound;
            };
            let (n, rest) = rest.split_once('/').unwrap_or((rest, ""));
            let Ok(n) = n.parse::<usize>() else {
                return Route::NotFound;
            };
            (n, format!("/{rest}"))
        } else {
            (0, path.to_string())
        };
        let params = Params::parse(query);
        let page = match rest.as_str() {
            "/" => Page::Overview,
            "/history" => Page::History {
                env: params.env,
                page: params.page.min(MAX_PAGE),
            },
            "/stats" => Page::Stats { env: params.env },
            other => match other.strip_prefix("/deploy/") {
                Some(id) if crate::domain::event::valid_id(id) => Page::Deployment(id.into()),
                _ => return Route::NotFound,
            },
        };
        Route::Site(site, page)
    }

    /// One page of one site, from the cache while its refs did not move.
    async fn site(&self, index: usize, page: Page) -> Response<Body> {
        let sites = self.sites.all();
        let Some(site) = sites.get(index).cloned() else {
            return html_response(
                StatusCode::NOT_FOUND,
                Bytes::from(html::page(
                    "Not found",
                    None,
                    Tab::None,
                    true,
                    &html::error("No such repository", &["it left the watch list".into()]),
                    &[],
                    crate::context::now(),
                )),
                None,
            );
        };
        let multi = self.sites.follow_watch_list;
        let key = format!("{}\0{}", site.key, page.key());
        let generation = site.generation();
        if let Some(hit) = self.cached(&key, generation) {
            return html_response(hit.status, hit.html.clone(), None);
        }
        let Ok(_permit) = self.renders.acquire().await else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
        };
        let base = if multi {
            format!("/r/{index}")
        } else {
            String::new()
        };
        let rendered = {
            let site = Arc::clone(&site);
            tokio::task::spawn_blocking(move || render_site(&site, &base, multi, &page)).await
        };
        let rendered = match rendered {
            Ok(r) => Arc::new(r),
            Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "the page failed\n"),
        };
        self.keep(key, generation, Arc::clone(&rendered));
        html_response(rendered.status, rendered.html.clone(), Some(rendered.took))
    }

    /// `--all`: every repository's overview, one section each.
    async fn all(&self) -> Response<Body> {
        let sites = self.sites.all();
        let generation: u64 = sites.iter().map(|s| s.generation()).sum::<u64>()
            + self.sites.changes.load(Ordering::Relaxed);
        let key = "\0all".to_string();
        if let Some(hit) = self.cached(&key, generation) {
            return html_response(hit.status, hit.html.clone(), None);
        }
        let Ok(_permit) = self.renders.acquire().await else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping\n");
        };
        let rendered = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut main = String::new();
            let mut warnings = Vec::new();
            if sites.is_empty() {
                main.push_str(&html::error(
                    "The watch list is empty",
                    &["`git train watch` in a repository adds it".into()],
                ));
            }
            for (i, site) in sites.iter().enumerate() {
                let base = format!("/r/{i}");
                let (section, w) = section(site, &base);
                main.push_str(&section);
                warnings.extend(w);
            }
            let page = html::page(
                "All repositories",
                None,
                Tab::Overview,
                true,
                &main,
                &warnings,
                crate::context::now(),
            );
            Rendered {
                status: StatusCode::OK,
                html: Bytes::from(page),
                took: started.elapsed(),
            }
        })
        .await;
        let Ok(rendered) = rendered.map(Arc::new) else {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "the page failed\n");
        };
        self.keep(key, generation, Arc::clone(&rendered));
        html_response(rendered.status, rendered.html.clone(), Some(rendered.took))
    }

    fn cached(&self, key: &str, generation: u64) -> Option<Arc<Rendered>> {
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(key)?;
        (hit.generation == generation && hit.made.elapsed() < CACHE_FOR)
            .then(|| Arc::clone(&hit.page))
    }

    fn keep(&self, key: String, generation: u64, page: Arc<Rendered>) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| c.made.elapsed() < CACHE_FOR);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Cached {
                generation,
                made: Instant::now(),
                page,
            },
        );
    }

    /// The event stream: `change` each time a served repository's refs move.
    fn events(&self) -> Response<Body> {
        let Ok(permit) = Arc::clone(&self.streams).try_acquire_owned() else {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many open event streams\n",
            );
        };
        let mut changes = self.changes.subscribe();
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        tokio::spawn(async move {
            let _permit = permit;
            if tx
                .send(Bytes::from_static(b"retry: 1000\n: git train board\n\n"))
                .await
                .is_err()
            {
                return;
            }
            let mut keepalive = tokio::time::interval(KEEPALIVE);
            keepalive.tick().await;
            loop {
                let message = tokio::select! {
                    change = changes.recv() => match change {
                        Ok(generation) => format!("event: change\ndata: {generation}\n\n"),
                        Err(broadcast::error::RecvError::Lagged(_)) => "event: change\ndata: 0\n\n".to_string(),
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = keepalive.tick() => ": keepalive\n\n".to_string(),
                    _ = tx.closed() => return,
                };
                if tx.send(Bytes::from(message)).await.is_err() {
                    return;
                }
            }
        });
        response(
            StatusCode::OK,
            "text/event-stream",
            "no-store",
            Body::Stream(rx),
        )
    }
}

/// The query parameters the board reads; anything else is ignored.
#[derive(Default)]
struct Params {
    env: Option<String>,
    page: usize,
}

impl Params {
    fn parse(query: Option<&str>) -> Params {
        let mut p = Params::default();
        let Some(query) = query else { return p };
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "env" if !v.is_empty() && v.len() <= 200 => p.env = Some(v.into_owned()),
                "page" => p.page = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        p
    }
}

/// Whether a request's `Host` names the board: the address the connection reached
/// (as an IP address), or `localhost`, with the port.
fn host_allowed(host: &str, local: SocketAddr) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let port = local.port();
    let ip = match local.ip() {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{v6}]"),
        },
        v4 => v4.to_string(),
    };
    let mut allowed = vec![format!("{ip}:{port}"), format!("localhost:{port}")];
    if port == 80 {
        allowed.push(ip);
        allowed.push("localhost".into());
    }
    allowed.contains(&host)
}

/// A response with the headers every answer of the board carries.
fn response(
    status: StatusCode,
    kind: &'static str,
    cache: &'static str,
    body: Body,
) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let body = Body::Full(Some(Bytes::from_static(text.as_bytes())));
    response(status, "text/plain; charset=utf-8", "no-store", body)
}

fn asset(kind: &'static str, body: &'static str) -> Response<Body> {
    let body = Body::Full(Some(Bytes::from_static(body.as_bytes())));
    response(StatusCode::OK, kind, "max-age=300", body)
}

fn html_response(status: StatusCode, html: Bytes, took: Option<Duration>) -> Response<Body> {
    let body = Body::Full(Some(html));
    let mut r = response(status, "text/html; charset=utf-8", "no-store", body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // How long the server took, for whoever measures (a cached page says nothing).
    let timing = match took {
        Some(t) => format!("render;dur={:.2}", t.as_secs_f64() * 1000.0),
        None => "cache;desc=hit".to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&timing) {
        h.insert("server-timing", v);
    }
    r
}

/// What reading the ledger had to say, shown on the page (each once).
struct PageUi {
    warnings: Rc<RefCell<Vec<String>>>,
}

impl Ui for PageUi {
    fn warn(&self, message: &str) {
        let mut w = self.warnings.borrow_mut();
        if w.len() < 20 && !w.iter().any(|m| m == message) {
            w.push(message.to_string());
        }
    }
    fn note(&self, _message: &str) {}
}

/// Opens the repository for one page: the context is made where it is used
/// (the repository handle is not `Sync`). Why it cannot be opened is not shown: a
/// configuration error may quote a value (a webhook URL, a token) from the file.
fn open(site: &Site) -> (Result<Context>, Rc<RefCell<Vec<String>>>) {
    let warnings = Rc::new(RefCell::new(Vec::new()));
    let ui = Box::new(PageUi {
        warnings: Rc::clone(&warnings),
    });
    let ctx = Context::open(&site.path, ui).map_err(|e| {
        Error::new(
            e.kind,
            "this repository or its configuration cannot be read right now",
        )
        .hint("`git train status` in it says why; the board shows no configuration text")
    });
    (ctx, warnings)
}

fn web_url(ctx: &Context) -> Option<String> {
    crate::forge::github_web(ctx)
}

fn render_site(site: &Site, base: &str, multi: bool, page: &Page) -> Rendered {
    let started = Instant::now();
    let (ctx, warnings) = open(site);
    let now = ctx
        .as_ref()
        .map(|c| c.now())
        .unwrap_or_else(|_| crate::context::now());
    let r = SiteRef {
        base,
        name: &site.name,
    };
    let (status, title, tab, main) = match ctx.and_then(|ctx| body(&ctx, &r, multi, page)) {
        Ok(Some((title, tab, main))) => (StatusCode::OK, title, tab, main),
        // A deployment id the ledger does not know.
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "No such deployment".to_string(),
            Tab::None,
            html::error(
                "No such deployment",
                &[
                    "the ledger has no deployment with this id; `git train history` lists them"
                        .into(),
                ],
            ),
        ),
        Err(e) => (
            status_of(&e),
            e.message.clone(),
            Tab::None,
            html::error(&e.message, &e.hints),
        ),
    };
    let page = html::page(&title, Some(&r), tab, multi, &main, &warnings.borrow(), now);
    Rendered {
        status,
        html: Bytes::from(page),
        took: started.elapsed(),
    }
}

/// A page's title, tab and content; None: no such deployment.
fn body(
    ctx: &Context,
    site: &SiteRef,
    multi: bool,
    page: &Page,
) -> Result<Option<(String, Tab, String)>> {
    Ok(Some(match page {
        Page::Overview => {
            let o = pages::overview(ctx, web_url(ctx))?;
            (
                site.name.to_string(),
                Tab::Overview,
                html::overview(site, &o, multi),
            )
        }
        Page::History { env, page } => {
            let h = pages::history_page(ctx, env.clone(), *page, web_url(ctx))?;
            (
                format!("History of {}", site.name),
                Tab::History,
                html::history(site, &h),
            )
        }
        Page::Deployment(dep) => match pages::deployment(ctx, dep, web_url(ctx))? {
            Some(d) => (
                format!("Deployment to {}", d.detail.item.env),
                Tab::None,
                html::deployment(site, &d),
            ),
            None => return Ok(None),
        },
        Page::Stats { env } => {
            let s = pages::stats_page(ctx, env.clone())?;
            (
                format!("Stats of {}", site.name),
                Tab::Stats,
                html::stats(site, &s),
            )
        }
    }))
}

/// `--all`: one repository's overview as a section of the page.
fn section(site: &Site, base: &str) -> (String, Vec<String>) {
    let (ctx, warnings) = open(site);
    let r = SiteRef {
        base,
        name: &site.name,
    };
    let main = match ctx.and_then(|ctx| pages::overview(&ctx, web_url(&ctx))) {
        Ok(o) => html::overview(&r, &o, true),
        Err(e) => {
            let mut hints = vec![format!("in {}", site.key)];
            hints.extend(e.hints.iter().cloned());
            format!(
                "<section class=\"overview broken\">{}</section>",
                html::error(&format!("{}: {}", site.name, e.message), &hints)
            )
        }
    };
    let w = warnings.borrow().clone();
    (main, w)
}

fn status_of(e: &Error) -> StatusCode {
    match e.kind {
        Kind::Usage | Kind::Refused => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_boards_own_host_names() {
        let local: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert!(host_allowed("127.0.0.1:7878", local));
        assert!(host_allowed("localhost:7878", local));
        assert!(host_allowed("LOCALHOST:7878", local));
        for bad in [
            "evil.example:7878",
            "127.0.0.1:80",
            "localhost",
            "127.0.0.1",
            "127.0.0.1:7878.evil.example",
            "",
        ] {
            assert!(!host_allowed(bad, local), "{bad}");
        }
        let v6: SocketAddr = "[::1]:9000".parse().unwrap();
        assert!(host_allowed("[::1]:9000", v6));
        assert!(!host_allowed("::1:9000", v6));
    }

    #[test]
    fn queries_read_only_what_the_board_knows() {
        let p = Params::parse(Some("env=prod%2Deu&page=3&x=<script>"));
        assert_eq!(p.env.as_deref(), Some("prod-eu"));
        assert_eq!(p.page, 3);
        let p = Params::parse(Some("page=-1&env="));
        assert_eq!(p.page, 0);
        assert_eq!(p.env, None);
    }
}
