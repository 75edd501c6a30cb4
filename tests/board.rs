//! `git train board` (issue 20): the board started on a free loopback port against
//! real repositories, asked over plain HTTP/1.1 (raw sockets, so a test can send any
//! `Host`), and looked at by a headless Chromium.
//!
//! `UPDATE_SCREENSHOTS=1 cargo test --test board` writes the browser test's
//! screenshots into docs/ (the README shows them).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Repo, World, BIN};

/// The clock of every command here: ages on the page are fixed.
const NOW: &str = "2026-11-25T15:00:00Z";
const CHROMIUM: &str = "/usr/bin/chromium";

const CONFIG: &str = r#"forge = "local"

[github]
repo = "acme/api"

[env.staging]
stale_after = "3d"
# A deployment waits while .git/hold exists: one can be kept under way.
run = "while [ -e .git/hold ]; do sleep 0.1; done"

[env.production]
after = "staging"
production = true
stale_after = "24h"
run = "test ! -e .git/fail-next"
"#;

/// A running board; stopped when dropped.
struct Board {
    child: Child,
    port: u16,
    url: String,
    stderr: PathBuf,
}

impl Board {
    fn start(repo: &Repo, args: &[&str]) -> Board {
        let stderr = repo
            .world
            .path(&format!("board-{}.err", std::process::id()));
        let mut child = repo
            .cmd(BIN)
            .env("GIT_TRAIN_NOW", NOW)
            .arg("board")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "{url:?}: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        let port = url["http://127.0.0.1:".len()..url.len() - 1]
            .parse()
            .unwrap();
        Board {
            child,
            port,
            url,
            stderr,
        }
    }

    fn get(&self, path: &str) -> Reply {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        ))
    }

    fn send(&self, request: &str) -> Reply {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        // Generous: the hostile ledger's first page rebuilds an index of 100,000
        // deployments in a debug build, on a machine shared with other builds.
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        Reply::parse(&raw)
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "the board's stderr:\n{}",
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn ok(self) -> Reply {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }
}

/// Commits as `author` at `at`.
fn commit(repo: &Repo, at: &str, author: &str, subject: &str) -> String {
    let file = repo.dir.join("file.txt");
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str(subject);
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    repo.git(&["add", "file.txt"]);
    let email = format!(
        "{}@example.com",
        author.split(' ').next().unwrap().to_lowercase()
    );
    let out = repo
        .cmd("git")
        .args(["commit", "-q", "-m", subject])
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", author)
        .env("GIT_COMMITTER_EMAIL", &email)
        .env("GIT_AUTHOR_DATE", at)
        .env("GIT_COMMITTER_DATE", at)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    repo.rev("HEAD")
}

/// git-train as `who` at `now`.
fn train_as(repo: &Repo, who: &str, now: &str, args: &[&str]) -> common::Run {
    repo.git(&["config", "user.email", &format!("{who}@example.com")]);
    repo.train_at(now, args)
}

fn ci(repo: &Repo, state: &str, rev: &str) {
    repo.train_at(
        "2026-11-25T14:00:00Z",
        &["report", state, "--commit", rev, "--context", "build"],
    )
    .ok();
}

/// A team's repository a few days into a busy week: staging and production, a
/// failed production deployment, a lock, CI of every kind, stale commits, and a
/// subject that is an XSS payload.
struct Demo<'w> {
    repo: Repo<'w>,
    staging: String,
    production: String,
    xss: String,
}

const XSS: &str = "Escape <script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\"> in notes (#109)";

fn demo(world: &World) -> Demo<'_> {
    let repo = world.repo("api", 0);
    repo.write(".train.toml", CONFIG);
    repo.git(&["add", ".train.toml"]);
    commit(
        &repo,
        "2026-11-17T09:00:00Z",
        "Alice Liddell",
        "Add .train.toml",
    );
    for (at, who, subject) in [
        (
            "2026-11-18T10:12:00Z",
            "Alice Liddell",
            "Add health endpoint (#101)",
        ),
        (
            "2026-11-18T14:40:00Z",
            "Bob Builder",
            "Rate-limit login attempts (#102)",
        ),
        (
            "2026-11-19T09:05:00Z",
            "Carol Danvers",
            "Bump serde to 1.0.215 (#103)",
        ),
        (
            "2026-11-19T11:30:00Z",
            "Dave Grohl",
            "Cache user lookups (#104)",
        ),
    ] {
        let c = commit(&repo, at, who, subject);
        ci(&repo, "success", &c);
    }
    train_as(
        &repo,
        "alice",
        "2026-11-19T16:00:00Z",
        &["deploy", "staging", "--yes"],
    )
    .ok();
    train_as(
        &repo,
        "bob",
        "2026-11-19T17:00:00Z",
        &["deploy", "production", "--yes"],
    )
    .ok();
    for (at, who, subject) in [
        (
            "2026-11-20T10:00:00Z",
            "Erin Brockovich",
            "Fix pagination off-by-one in /orders (#105)",
        ),
        (
            "2026-11-21T15:20:00Z",
            "Alice Liddell",
            "Add OpenAPI docs for /orders (#106)",
        ),
        (
            "2026-11-22T09:45:00Z",
            "Frank Ocean",
            "Retry webhook deliveries with backoff (#107)",
        ),
        (
            "2026-11-23T08:30:00Z",
            "Bob Builder",
            "Migrate sessions to Redis (#108)",
        ),
    ] {
        let c = commit(&repo, at, who, subject);
        ci(&repo, "success", &c);
    }
    let staging = repo.rev("HEAD");
    train_as(
        &repo,
        "carol",
        "2026-11-23T10:00:00Z",
        &["deploy", "staging", "--yes"],
    )
    .ok();
    let production = repo.rev("HEAD~2");
    train_as(
        &repo,
        "carol",
        "2026-11-23T11:00:00Z",
        &["deploy", "production", &production, "--yes"],
    )
    .ok();
    std::fs::write(repo.dir.join(".git/fail-next"), "").unwrap();
    train_as(
        &repo,
        "dave",
        "2026-11-24T11:00:00Z",
        &["deploy", "production", "--yes"],
    )
    .code(1);
    std::fs::remove_file(repo.dir.join(".git/fail-next")).unwrap();
    let xss = commit(&repo, "2026-11-24T13:10:00Z", "Grace Hopper", XSS);
    ci(&repo, "success", &xss);
    for (at, who, subject, state) in [
        (
            "2026-11-24T16:00:00Z",
            "Heidi Lamarr",
            "Speed up order search with a trigram index (#110)",
            "success",
        ),
        (
            "2026-11-25T09:30:00Z",
            "Carol Danvers",
            "Log request ids on every response (#111)",
            "failure",
        ),
        (
            "2026-11-25T13:15:00Z",
            "Dave Grohl",
            "Drop the legacy v1 endpoints (#112)",
            "pending",
        ),
    ] {
        let c = commit(&repo, at, who, subject);
        ci(&repo, state, &c);
    }
    train_as(
        &repo,
        "dave",
        "2026-11-25T14:30:00Z",
        &[
            "lock",
            "production",
            "-m",
            "Black Friday: production waits until Monday",
        ],
    )
    .ok();
    repo.git(&["config", "user.email", "alice@example.com"]);
    Demo {
        repo,
        staging,
        production,
        xss,
    }
}

#[test]
fn the_overview_names_each_environment_with_its_commit_and_the_trains() {
    let world = World::new();
    let d = demo(&world);
    let board = Board::start(&d.repo, &[]);
    let page = board.get("/").ok();
    let html = &page.body;
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for (env, sha) in [("staging", &d.staging), ("production", &d.production)] {
        let start = html.find(&format!("data-env=\"{env}\"")).expect(env);
        let lane = &html[start..start + html[start..].find("</li>").unwrap()];
        assert!(lane.contains(&format!("<h2>{env}</h2>")), "{lane}");
        assert!(
            lane.contains(&format!(
                "runs <code class=\"sha\" title=\"{sha}\">{}</code>",
                &sha[..7]
            )),
            "{lane}"
        );
    }
    // Pipeline order: staging's lane before production's.
    assert!(html.find("data-env=\"staging\"") < html.find("data-env=\"production\""));
    assert!(
        html.contains("4</span> commits waiting for staging"),
        "{html}"
    );
    assert!(
        html.contains("2</span> commits waiting for production"),
        "{html}"
    );
    // The failed production deployment, the lock, CI marks, stale commits, PR links.
    assert!(html.contains("last deployment failed"));
    assert!(html.contains("Black Friday: production waits until Monday"));
    for ci in ["ci-success", "ci-failure", "ci-pending"] {
        assert!(html.contains(ci), "{ci}");
    }
    assert!(html.contains("class=\"commit stale\""));
    assert!(html.contains("href=\"https://github.com/acme/api/pull/112\""));
    assert!(html.len() < 100_000, "{} bytes", html.len());
    // The stylesheet and the script come from the binary; nothing from elsewhere,
    // and nothing inline.
    assert!(!html.contains("<script>") && !html.contains(" style="));
    assert!(!html.contains("src=\"http") && !html.contains("url("));
    for link in html.split("href=\"").skip(1) {
        assert!(
            link.starts_with('/') || link.starts_with("https://github.com/acme/api/pull/"),
            "{}",
            &link[..link.len().min(80)]
        );
    }
    let css = board.get("/assets/board.css").ok();
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(!css.body.contains("url(") && !css.body.contains("@import"));
    assert!(board
        .get("/assets/board.js")
        .ok()
        .body
        .contains("EventSource"));
}

#[test]
fn text_from_commits_the_ledger_and_locks_is_escaped() {
    let world = World::new();
    let repo = world.repo("web", 1);
    repo.config_without_ci("[env.staging]\n");
    repo.git(&["add", ".train.toml"]);
    repo.commit("config");
    let evil = "<script>alert('subject')</script>";
    repo.commit(evil);
    repo.train_at(
        NOW,
        &[
            "deploy",
            "staging",
            "--yes",
            "-m",
            "<b onmouseover=alert(1)>desc</b>",
        ],
    )
    .ok();
    repo.train_at(
        NOW,
        &["lock", "staging", "-m", "<iframe src=//evil.example>"],
    )
    .ok();
    let board = Board::start(&repo, &[]);
    let overview = board.get("/").ok().body;
    let history = board.get("/history").ok().body;
    let dep = history
        .split("/deploy/")
        .nth(1)
        .map(|s| s[..26].to_string())
        .unwrap();
    let detail = board.get(&format!("/deploy/{dep}")).ok().body;
    for html in [&overview, &history, &detail] {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<iframe") && !html.contains("<b onmouseover"));
    }
    assert!(overview.contains("&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;"));
    assert!(overview.contains("&lt;iframe src=//evil.example&gt;"));
    assert!(detail.contains("&lt;b onmouseover=alert(1)&gt;desc&lt;/b&gt;"));
}

#[test]
fn a_request_for_another_host_is_refused_and_only_get_and_head_are_answered() {
    let world = World::new();
    let repo = world.repo("api", 2);
    let board = Board::start(&repo, &[]);
    let port = board.port;
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
        "localhost".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let r = board.send(&format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, 421, "{host}");
        assert!(!r.body.contains("<html"), "{host}");
    }
    // An absolute URI naming another host, and no Host at all.
    let r = board.send(&format!(
        "GET http://evil.example:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 421);
    let r = board.send("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 421);
    let r = board.send(&format!(
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200);
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = board.send(&format!(
            "{method} / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
    }
    let head = board.send(&format!(
        "HEAD /history HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(
        head.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 0
    );
    let csp = board.get("/").ok();
    assert!(csp
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(board.get("/nothing-here").status, 404);
    assert_eq!(board.get("/deploy/not-an-id").status, 404);

    // Ctrl-C stops it, at once and without complaint.
    let mut board = board;
    let pid = i32::try_from(board.child.id()).unwrap();
    // SAFETY: a signal to the board this test started.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = board.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still serving");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// Reads from an event stream until `want` arrives; None after `within`.
fn read_until(
    stream: &mut TcpStream,
    seen: &mut String,
    want: &str,
    within: Duration,
) -> Option<Instant> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        let left = within.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => return None,
        }
    }
    Some(Instant::now())
}

#[test]
fn a_deploy_from_the_terminal_reaches_an_open_event_stream_within_a_second() {
    let world = World::new();
    let repo = world.repo("api", 3);
    repo.config_without_ci("[env.staging]\n");
    repo.git(&["add", ".train.toml"]);
    let first = repo.commit("config");
    repo.train_at("2026-11-25T14:00:00Z", &["deploy", "staging", "--yes"])
        .ok();
    let next = repo.commit("Next change");
    let board = Board::start(&repo, &[]);
    assert!(board.get("/").ok().body.contains(&first[..7]));

    let mut stream = TcpStream::connect(("127.0.0.1", board.port)).unwrap();
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
        board.port
    )
    .unwrap();
    let mut seen = String::new();
    read_until(
        &mut stream,
        &mut seen,
        ": git train board",
        Duration::from_secs(5),
    )
    .expect("the event stream opens");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    // Nothing is announced while nothing changes.
    assert!(read_until(&mut stream, &mut seen, "event:", Duration::from_millis(500)).is_none());

    let started = Instant::now();
    repo.train_at("2026-11-25T14:30:00Z", &["deploy", "staging", "--yes"])
        .ok();
    let deployed = Instant::now();
    let arrived = read_until(
        &mut stream,
        &mut seen,
        "event: change",
        Duration::from_secs(5),
    )
    .expect("a change event");
    let latency = arrived.saturating_duration_since(deployed);
    eprintln!(
        "board: the deploy reached the event stream {} ms after the command ended \
         ({} ms after it started; the command took {} ms)",
        latency.as_millis(),
        arrived.saturating_duration_since(started).as_millis(),
        deployed.duration_since(started).as_millis()
    );
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    // And the page shows it.
    let html = board.get("/").ok().body;
    let lane = &html[html.find("data-env=\"staging\"").unwrap()..];
    assert!(lane.contains(&format!("title=\"{next}\"")), "{lane}");
}

#[test]
/// 20,000 deployments on one note (a debug build of the whole page takes seconds on
/// a loaded CI machine at 100,000; the paging and the bounds are the same).
fn a_hostile_ledger_keeps_every_page_bounded() {
    let world = World::new();
    let repo = world.repo("api", 1);
    repo.config_without_ci("[env.staging]\n");
    repo.git(&["add", ".train.toml"]);
    repo.commit("config");
    // A megabyte subject, and 100,000 deployments with huge descriptions.
    let message = world.path("huge-message");
    std::fs::write(&message, format!("Huge {}\n", "x".repeat(1 << 20))).unwrap();
    repo.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-F",
        message.to_str().unwrap(),
    ]);
    let target = repo.rev("HEAD");
    let mut note = String::with_capacity(14 << 20);
    let long = "d".repeat(5_000);
    for i in 0..20_000u32 {
        let dep = format!("01JNM8K3Q4ZC8R1E5V{i:08}");
        let desc = if i % 1000 == 0 { long.as_str() } else { "ok" };
        note.push_str(&format!(
            "2026-11-{:02}T10:{:02}:{:02}.{:03}Z staging success bot@example.com {{\"dep\":\"{dep}\",\"v\":1,\"desc\":\"{desc}\"}}\n",
            1 + i / 86_400 % 20,
            i / 60 % 60,
            i % 60,
            i % 1000
        ));
    }
    let mut lines: Vec<&str> = note.lines().collect();
    lines.sort_unstable();
    let mut sorted = lines.join("\n");
    sorted.push('\n');
    repo.set_note(&target, sorted.as_bytes());
    let board = Board::start(&repo, &[]);
    for path in [
        "/",
        "/history",
        "/history?page=3",
        "/history?page=399",
        "/stats",
    ] {
        let started = Instant::now();
        let r = board.get(path).ok();
        eprintln!(
            "board: {path}: {} bytes in {} ms",
            r.body.len(),
            started.elapsed().as_millis()
        );
        assert!(r.body.len() < 100_000, "{path}: {} bytes", r.body.len());
    }
    let history = board.get("/history").ok().body;
    assert!(history.contains("rel=\"next\""));
    assert_eq!(history.matches("<tr class=").count(), 50);
    let last = board.get("/history?page=399").ok().body;
    assert_eq!(last.matches("<tr class=").count(), 50);
    assert!(!last.contains("rel=\"next\""));
    assert!(board
        .get("/history?page=400")
        .ok()
        .body
        .contains("No older deployments"));
}

#[test]
fn all_serves_every_repository_on_the_watch_list() {
    let world = World::new();
    let api = world.repo("api", 2);
    let web = world.repo("web", 3);
    for r in [&api, &web] {
        r.config_without_ci("[env.staging]\n");
        r.git(&["add", ".train.toml"]);
        r.commit("config");
        r.train_at(NOW, &["deploy", "staging", "--yes"]).ok();
        r.train(&["watch"]).ok();
    }
    let board = Board::start(&api, &["--all"]);
    let all = board.get("/").ok().body;
    assert!(
        all.contains(">api</a>") && all.contains(">web</a>"),
        "{all}"
    );
    assert!(all.contains(&api.rev("HEAD")[..7]) && all.contains(&web.rev("HEAD")[..7]));
    let second = board.get("/r/1/history").ok().body;
    assert!(second.contains(&web.rev("HEAD")[..7]), "{second}");
    assert_eq!(board.get("/r/7/").status, 404);
    assert_eq!(board.get("/history").status, 404);
}

/// Runs Chromium headless on a new empty profile; its stdout.
fn chromium(world: &World, args: &[&str]) -> String {
    let profile = tempfile::tempdir_in(world.root.path()).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .env("HOME", world.path("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// Width and height of a PNG file.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn a_browser_renders_the_board_and_screenshots_show_it() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!(
            "\n\n######## SKIPPED: {CHROMIUM} is not installed, so the board was NOT tested in a \
             browser. Install Debian's chromium (apt-get install chromium; .ci/run does) ########\n\n"
        );
        return;
    }
    let world = World::new();
    let d = demo(&world);
    // A staging deployment under way: its run command waits for .git/hold.
    let hold = Hold::new(d.repo.dir.join(".git/hold"));
    let running = d.repo.rev("HEAD~1");
    train_as(
        &d.repo,
        "erin",
        "2026-11-25T14:58:00Z",
        &[
            "deploy",
            "staging",
            &running,
            "--yes",
            "--no-wait",
            "--force",
            "--reason",
            "hotfix",
        ],
    )
    .ok();
    d.repo.git(&["config", "user.email", "alice@example.com"]);
    let board = Board::start(&d.repo, &[]);

    let dom = chromium(&world, &["--dump-dom", &board.url]);
    // The script ran; the lanes and the train are in the DOM.
    assert!(dom.contains("data-board=\"script\""), "{dom}");
    for env in ["staging", "production"] {
        assert!(dom.contains(&format!("data-env=\"{env}\"")), "{env}");
    }
    assert!(dom.contains("deploying"));
    assert!(dom.contains(&format!("title=\"{}\"", d.xss)));
    // The payload stayed text: no element of its own, nothing it meant to run.
    assert!(
        dom.contains("Escape &lt;script&gt;document.title="),
        "{dom}"
    );
    assert!(!dom.contains("<img src=\"x\"") && !dom.contains("data-pwned"));
    assert!(!dom.contains("<title>pwned"));
    let history = chromium(&world, &["--dump-dom", &format!("{}history", board.url)]);
    assert!(history.contains("<table class=\"deployments\">"));
    let stats = chromium(&world, &["--dump-dom", &format!("{}stats", board.url)]);
    assert!(stats.matches("<svg class=\"bars\"").count() == 4, "{stats}");

    let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        world.path("shots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (name, w, h) in [
        ("board-desktop.png", 1280, 900),
        ("board-phone.png", 390, 844),
    ] {
        let file = dir.join(name);
        chromium(
            &world,
            &[
                &format!("--screenshot={}", file.display()),
                &format!("--window-size={w},{h}"),
                &board.url,
            ],
        );
        assert_eq!(png_size(&file), (w, h), "{name}");
        eprintln!("board: screenshot {}", file.display());
    }
    drop(hold);
}

/// A file whose existence keeps a deployment running; removed however the test ends.
struct Hold(PathBuf);

impl Hold {
    fn new(path: PathBuf) -> Hold {
        std::fs::write(&path, "").unwrap();
        Hold(path)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_lock_taken_for_a_while_shows_its_time_left_and_once_expired_is_no_lock() {
    let world = World::new();
    let repo = world.repo("web", 1);
    repo.config_without_ci("[env.staging]\n[env.production]\n");
    for env in ["staging", "production"] {
        repo.train_at(NOW, &["deploy", env, "--yes", "-q"]).ok();
    }
    // Taken three hours before the board's clock for one hour: expired.
    repo.train_at(
        "2026-11-25T12:00:00Z",
        &["lock", "staging", "--for", "1h", "-m", "db move"],
    )
    .ok();
    repo.train_at(NOW, &["lock", "production", "--for", "2h"])
        .ok();
    let board = Board::start(&repo, &[]);
    let overview = board.get("/").ok().body;
    assert!(
        overview.contains("not locked (the lock of alice@example.com expired)"),
        "{overview}"
    );
    assert!(overview.contains("2h left"), "{overview}");
    assert_eq!(
        overview
            .matches("<span class=\"tag bad\">locked</span>")
            .count(),
        1
    );
}
