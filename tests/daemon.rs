//! The daemon (issue 5) against a private D-Bus session bus with a test notification
//! server on it, and the test GitHub server: what it notifies, what an idle round
//! costs, what it does without a bus or with a server that never answers, how fast a
//! ref change wakes it, that it tells each stale commit once, the service files, the
//! watch list and its lock.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::github::GitHub;
use common::{Repo, Run, World, BIN};
use serde_json::json;

// ---------------------------------------------------------------------------------
// A private session bus and a notification server on it.

/// `dbus-daemon` with a configuration of its own that lists no service folders, so
/// nothing else is ever activated on it. Stopped when dropped.
struct Bus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().join("bus").display()
            ),
        )
        .unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dbus-daemon (Debian package dbus) runs the test session bus");
        let mut address = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Bus {
            child,
            address,
            _dir: dir,
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A notification as it arrived at the server.
#[derive(Clone, Debug)]
struct Arrived {
    app: String,
    summary: String,
    body: String,
    /// The id the server gave it.
    id: u32,
    /// The popup it replaces (0: none).
    replaces: u32,
    /// Its hints, each value as text.
    hints: HashMap<String, String>,
    expire: i32,
}

struct Server {
    arrived: Arc<Mutex<Vec<Arrived>>>,
    /// Take the call and never answer it.
    hang: bool,
    next: AtomicU32,
    /// What GetCapabilities answers.
    capabilities: Vec<String>,
}

/// A hint's value as text.
fn hint_text(value: &zbus::OwnedVariant) -> String {
    use zbus::Variant;
    match &**value {
        Variant::Str(s) => s.to_string(),
        Variant::U8(n) => n.to_string(),
        Variant::I32(n) => n.to_string(),
        Variant::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        hints: HashMap<String, zbus::OwnedVariant>,
        expire_timeout: i32,
    ) -> u32 {
        // As servers do: a popup replaced keeps its id.
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            self.next.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.arrived.lock().unwrap().push(Arrived {
            app: app_name,
            summary,
            body,
            id,
            replaces: replaces_id,
            hints: hints
                .iter()
                .map(|(k, v)| (k.clone(), hint_text(v)))
                .collect(),
            expire: expire_timeout,
        });
        if self.hang {
            std::future::pending::<()>().await;
        }
        id
    }

    fn get_capabilities(&self) -> Vec<String> {
        self.capabilities.clone()
    }

    #[zbus(out_args("name", "vendor", "version", "spec_version"))]
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "test-notifications".into(),
            "git-train tests".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// The test notification server, `org.freedesktop.Notifications` on a bus.
struct Notifications {
    arrived: Arc<Mutex<Vec<Arrived>>>,
    _connection: zbus::Connection,
    _runtime: tokio::runtime::Runtime,
}

impl Notifications {
    fn start(bus: &Bus, hang: bool) -> Notifications {
        Notifications::advertising(bus, hang, &["body"])
    }

    /// A server whose GetCapabilities answers `capabilities` (dunst: `body-markup`).
    fn advertising(bus: &Bus, hang: bool, capabilities: &[&str]) -> Notifications {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let arrived: Arc<Mutex<Vec<Arrived>>> = Arc::default();
        let server = Server {
            arrived: Arc::clone(&arrived),
            hang,
            next: AtomicU32::new(0),
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
        };
        let connection = runtime
            .block_on(async {
                zbus::connection::Builder::address(bus.address.as_str())
                    .name("org.freedesktop.Notifications")
                    .serve_at("/org/freedesktop/Notifications", server)
                    .build()
                    .await
            })
            .expect("the test notification server connects to the bus");
        Notifications {
            arrived,
            _connection: connection,
            _runtime: runtime,
        }
    }

    fn arrived(&self) -> Vec<Arrived> {
        self.arrived.lock().unwrap().clone()
    }

    /// Waits until at least `n` notifications arrived; returns them all.
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Arrived> {
        let until = Instant::now() + timeout;
        loop {
            let list = self.arrived();
            if list.len() >= n || Instant::now() >= until {
                return list;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

// ---------------------------------------------------------------------------------
// Running the daemon.

fn daemon_cmd(w: &World, bus: Option<&str>, args: &[&str]) -> Command {
    // The figures can be taken of another build (the release one):
    // GIT_TRAIN_FIGURES_BIN=target/release/git-train.
    let bin = std::env::var_os("GIT_TRAIN_FIGURES_BIN").unwrap_or_else(|| BIN.into());
    let mut cmd = Command::new(bin);
    w.env(&mut cmd);
    cmd.current_dir(w.root.path())
        .stdin(Stdio::null())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            bus.unwrap_or("unix:path=/nonexistent/git-train-test-bus"),
        )
        .args(args);
    cmd
}

fn once(w: &World, bus: Option<&str>, extra: &[(&str, &str)]) -> Run {
    let mut cmd = daemon_cmd(w, bus, &["daemon", "--once"]);
    cmd.envs(extra.iter().copied());
    Run::of(cmd.output().unwrap())
}

/// A daemon running in the background, its stderr collected line by line.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = Arc::clone(&lines);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `n` lines contain `needle`.
    #[track_caller]
    fn wait_for(&self, needle: &str, n: usize, timeout: Duration) -> Duration {
        let start = Instant::now();
        while self.count(needle) < n {
            if start.elapsed() > timeout {
                panic!(
                    "no {n} lines with {needle:?} within {timeout:?}:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        start.elapsed()
    }

    /// SIGTERM, as systemd stops it; returns its exit status code.
    fn stop(mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const READY: Duration = Duration::from_secs(30);

fn user_config(w: &World) -> PathBuf {
    w.path("home/.config/git-train/config.toml")
}

fn write_user_config(w: &World, text: &str) {
    let path = user_config(w);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

fn github_repo<'w>(w: &'w World, gh: &GitHub, name: &str) -> Repo<'w> {
    let repo = w.repo(name, 3);
    repo.write(
        ".train.toml",
        &format!(
            "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{}\"\nmax_wait = \"3s\"\ntimeout = \"3s\"\n",
            gh.url()
        ),
    );
    repo
}

fn local_repo<'w>(w: &'w World, name: &str, extra: &str) -> Repo<'w> {
    let repo = w.repo(name, 2);
    repo.config_without_ci(&format!("[env.staging]\n[env.production]\n{extra}"));
    repo
}

// ---------------------------------------------------------------------------------

#[test]
fn a_deployment_status_change_notifies_once_and_an_idle_round_gets_only_304s() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let gh = GitHub::start("acme/api");
    let repo = github_repo(&w, &gh, "api");
    repo.train(&["watch"]).ok();
    let sha = repo.rev("HEAD~1");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({}));
    gh.add_deployment_status(id, "in_progress", None);
    // Watched by someone whose commits these are not: no ship notice besides.
    let token = [
        ("GH_TOKEN", gh.token()),
        ("GIT_COMMITTER_EMAIL", "dana@example.com"),
    ];

    // The first round is the starting point: imported, not announced.
    let out = once(&w, Some(&bus.address), &token).ok();
    assert!(server.arrived().is_empty(), "{:?}", server.arrived());
    assert!(!out.stderr.contains("notify:"), "{}", out.stderr);
    assert!(
        repo.note("deploys", &sha)
            .contains(" production in_progress "),
        "the deployment is in the ledger"
    );

    gh.add_deployment_status(id, "success", Some("https://ci.example/7"));
    let out = once(&w, Some(&bus.address), &token).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(arrived[0].app, "git-train");
    assert_eq!(arrived[0].summary, "api: production succeeded");
    assert_eq!(
        arrived[0].body,
        format!(
            "{} change 2\ndeployment to production succeeded, by octocat\nlog: https://ci.example/7",
            short(&sha)
        )
    );
    assert!(repo.note("deploys", &sha).contains(" production success "));
    assert!(!out.stderr.contains(gh.token()), "the token leaked");

    // Nothing changed: nothing to tell, and every request answered 304 (free).
    gh.clear_requests();
    let out = once(&w, Some(&bus.address), &token).ok();
    assert_eq!(server.arrived().len(), 1, "{}", out.stderr);
    let requests = gh.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| r.method == "GET" && r.status == 304 && r.if_none_match.is_some()),
        "an idle round only gets 304s: {requests:?}"
    );
}

#[test]
fn ci_finishing_on_a_trunk_commit_of_mine_notifies_once_and_others_commits_do_not() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let gh = GitHub::start("acme/api");
    let repo = github_repo(&w, &gh, "api");
    let mine = repo.rev("HEAD");
    repo.write("bob.txt", "bob\n");
    repo.git(&["add", "bob.txt"]);
    let out = repo
        .cmd("git")
        .args(["commit", "-q", "-m", "bob's change"])
        .env("GIT_AUTHOR_EMAIL", "bob@example.com")
        .output()
        .unwrap();
    assert!(out.status.success());
    let bobs = repo.rev("HEAD");
    repo.train(&["watch"]).ok();
    let token = [("GH_TOKEN", gh.token())];
    gh.set_commit_status(&mine, "ci/build", "pending", None);
    once(&w, Some(&bus.address), &token).ok();

    gh.set_check_run(&mine, "lint", "in_progress", None);
    gh.set_commit_status(&bobs, "ci/build", "failure", None);
    once(&w, Some(&bus.address), &token).ok();
    assert!(
        server.arrived().is_empty(),
        "still pending; bob's is not mine"
    );

    gh.set_commit_status(&mine, "ci/build", "success", None);
    gh.set_check_run(&mine, "lint", "completed", Some("failure"));
    let out = once(&w, Some(&bus.address), &token).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(
        arrived[0].summary,
        format!("api: CI failed on {}", short(&mine))
    );
    assert_eq!(
        arrived[0].body,
        format!("{} change 3\nCI failure on main: lint", short(&mine))
    );

    // A re-run that passes is news too, once a failure is asked about again (a
    // minute later); then nothing more.
    gh.set_check_run(&mine, "lint", "completed", Some("success"));
    once(&w, Some(&bus.address), &token).ok();
    assert_eq!(server.arrived().len(), 1, "the failure was read just now");
    let later = git_train::domain::Timestamp::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 61,
    )
    .to_string();
    let later = [("GH_TOKEN", gh.token()), ("GIT_TRAIN_NOW", later.as_str())];
    once(&w, Some(&bus.address), &later).ok();
    once(&w, Some(&bus.address), &later).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 2, "{arrived:?}");
    assert_eq!(
        arrived[1].summary,
        format!("api: CI passed on {}", short(&mine))
    );
}

#[test]
fn without_a_bus_or_with_a_server_that_never_answers_the_daemon_logs_and_goes_on() {
    let w = World::new();
    let repo = local_repo(&w, "web", "");
    repo.train(&["watch"]).ok();
    once(&w, None, &[]).ok();

    // No session bus at all.
    repo.train(&["deploy", "staging", "--yes"]).ok();
    let started = Instant::now();
    let out = once(&w, None, &[]).ok();
    // Without a bus the send fails at once: no waiting at all.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        out.stderr
            .matches("cannot show desktop notifications")
            .count(),
        1,
        "{}",
        out.stderr
    );
    out.says("no D-Bus session bus");
    out.says("notify: web: staging succeeded");

    // A bus without a notification server.
    let empty = Bus::start();
    repo.train(&["deploy", "production", "--yes"]).ok();
    let started = Instant::now();
    let out = once(&w, Some(&empty.address), &[]).ok();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        out.stderr
            .contains("no notification server on the session bus"),
        "{}",
        out.stderr
    );
    out.says("notify: web: production succeeded");

    // A notification server that takes the call and never answers: one wait of a
    // few seconds, then the rest are logged.
    let bus = Bus::start();
    let server = Notifications::start(&bus, true);
    repo.train(&["deploy", "production", "HEAD~1", "--yes"])
        .ok();
    repo.train(&["deploy", "staging", "HEAD~1", "--yes"]).ok();
    let started = Instant::now();
    let out = once(&w, Some(&bus.address), &[]).ok();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "the round took {took:?}");
    assert!(took >= Duration::from_secs(3), "it waited for the server");
    assert_eq!(server.arrived().len(), 1, "sent once, then only logged");
    assert_eq!(
        out.stderr.matches("did not answer within 3s").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("notify: web: ").count(),
        2,
        "{}",
        out.stderr
    );
}

#[test]
fn a_commit_or_a_deploy_in_a_watched_repository_wakes_the_daemon_at_once() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    write_user_config(&w, "# mine\n[daemon]\npoll = \"1h\"\n");
    let repo = local_repo(&w, "web", "");
    repo.train(&["watch"]).ok();
    let daemon = Running::start(daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]));
    daemon.wait_for("ready: watching 1 repository", 1, READY);

    let sha = repo.commit("wake up");
    let took = daemon.wait_for("refs changed", 1, Duration::from_secs(2));
    eprintln!("a commit woke the daemon after {took:?}");

    repo.train(&["deploy", "staging", "--yes"]).ok();
    let start = Instant::now();
    let arrived = server.wait_for(1, Duration::from_secs(2));
    assert_eq!(arrived.len(), 1, "{}", daemon.lines().join("\n"));
    eprintln!("a deploy was announced after {:?}", start.elapsed());
    assert_eq!(arrived[0].summary, "web: staging succeeded");
    assert!(arrived[0]
        .body
        .starts_with(&format!("{} wake up\n", short(&sha))));

    // CI finishing on a trunk commit of mine, recorded by the local CI ledger.
    repo.train(&[
        "report",
        "failure",
        "--commit",
        "HEAD",
        "--context",
        "build",
    ])
    .ok();
    let arrived = server.wait_for(2, Duration::from_secs(2));
    assert_eq!(arrived.len(), 2, "{}", daemon.lines().join("\n"));
    assert_eq!(
        arrived[1].summary,
        format!("web: CI failed on {}", short(&sha))
    );
    assert_eq!(
        arrived[1].body,
        format!("{} wake up\nCI failure on main: build", short(&sha))
    );

    // Its own ledger and index writes wake nothing.
    std::thread::sleep(Duration::from_millis(500));
    let wakes = daemon.count("refs changed");
    let rounds = daemon.count("round:");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(daemon.count("refs changed"), wakes);
    assert_eq!(
        daemon.count("round:"),
        rounds,
        "{}",
        daemon.lines().join("\n")
    );

    // A repository watched while the daemon runs is followed at once.
    let api = local_repo(&w, "api", "");
    api.train(&["watch"]).ok();
    daemon.wait_for("round:", rounds + 1, Duration::from_secs(2));
    api.train(&["deploy", "production", "--yes"]).ok();
    let arrived = server.wait_for(3, Duration::from_secs(2));
    assert_eq!(arrived.len(), 3, "{}", daemon.lines().join("\n"));
    assert_eq!(arrived[2].summary, "api: production succeeded");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_repository_cloned_again_or_one_that_appears_later_gets_its_ref_watch_back() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let web = local_repo(&w, "web", "");
    web.git(&["add", ".train.toml"]);
    web.git(&["commit", "-q", "-m", "train"]);
    let origin = w.path("web.git");
    web.git(&["clone", "-q", "--bare", ".", origin.to_str().unwrap()]);
    let later = w.path("later");
    write_user_config(
        &w,
        &format!(
            "watch = [\"{}\", \"{}\"]\n[daemon]\npoll = \"1h\"\n",
            web.dir.display(),
            later.display()
        ),
    );
    let daemon = Running::start(daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]));
    daemon.wait_for("ready: watching 2 repositories", 1, READY);
    assert_eq!(daemon.count("later: not a repository"), 1);

    // Deleted and cloned again at the same path: a new git folder.
    std::fs::remove_dir_all(&web.dir).unwrap();
    let mut clone = web.cmd("git");
    clone.current_dir(w.root.path()).args([
        "clone",
        "-q",
        origin.to_str().unwrap(),
        web.dir.to_str().unwrap(),
    ]);
    assert!(clone.status().unwrap().success());
    web.git(&["config", "user.email", "alice@example.com"]);
    web.git(&["config", "user.name", "Alice"]);
    daemon.wait_for("web: a repository again, its refs watched", 1, READY);
    daemon.wait_for("web: checked in", 2, READY);
    let wakes = daemon.count("web: refs changed");
    web.commit("after the clone");
    daemon.wait_for("web: refs changed", wakes + 1, Duration::from_secs(3));
    web.train(&["deploy", "staging", "--yes"]).ok();
    let arrived = server.wait_for(1, Duration::from_secs(3));
    assert_eq!(arrived.len(), 1, "{}", daemon.lines().join("\n"));
    assert_eq!(arrived[0].summary, "web: staging succeeded");

    // A watch-list path that becomes a repository after the daemon started.
    let repo = local_repo(&w, "later", "");
    daemon.wait_for("later: a repository again, its refs watched", 1, READY);
    daemon.wait_for("later: checked in", 1, READY);
    repo.train(&["deploy", "production", "--yes"]).ok();
    let arrived = server.wait_for(2, Duration::from_secs(3));
    assert_eq!(arrived.len(), 2, "{}", daemon.lines().join("\n"));
    assert_eq!(arrived[1].summary, "later: production succeeded");
    assert_eq!(daemon.stop(), Some(0));
}

/// A commit by someone else than the World's Alice.
fn commit_as(repo: &Repo, name: &str, email: &str, message: &str) -> String {
    let file = repo.dir.join(format!("{name}.txt"));
    std::fs::write(&file, message).unwrap();
    repo.git(&["add", "."]);
    let out = repo
        .cmd("git")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .args(["commit", "-q", "-m", message])
        .output()
        .unwrap();
    assert!(out.status.success());
    repo.rev("HEAD")
}

#[test]
fn a_ship_notice_tells_each_author_once_that_their_commits_are_live() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let repo = local_repo(&w, "api", "");
    repo.train(&["watch"]).ok();
    repo.train(&["deploy", "production", "--yes"]).ok();
    // Bob's daemon: his own per-user folders, his own identity.
    let bob_home = w.path("bob");
    let bob_config = bob_home.join(".config/git-train/config.toml");
    std::fs::create_dir_all(bob_config.parent().unwrap()).unwrap();
    std::fs::write(
        &bob_config,
        format!("watch = [\"{}\"]\n", repo.dir.display()),
    )
    .unwrap();
    let bob_once = || {
        let mut cmd = daemon_cmd(&w, Some(&bus.address), &["daemon", "--once"]);
        cmd.env("HOME", &bob_home)
            .env("XDG_CONFIG_HOME", bob_home.join(".config"))
            .env("GIT_COMMITTER_EMAIL", "bob@example.com");
        Run::of(cmd.output().unwrap())
    };
    // The starting points.
    once(&w, Some(&bus.address), &[]).ok();
    bob_once().ok();
    assert!(server.arrived().is_empty());

    let typo = repo.commit("Fix typo");
    let bobs = commit_as(&repo, "Bob", "bob@example.com", "Speed up the cache");
    let retries = repo.commit("Add retries");
    // Carol deploys: who deploys knows it is live, the authors are told.
    let mut deploy = repo.cmd(BIN);
    deploy
        .env("GIT_COMMITTER_EMAIL", "carol@example.com")
        .args(["deploy", "production", "--yes"]);
    Run::of(deploy.output().unwrap()).ok();

    let out = once(&w, Some(&bus.address), &[]).ok();
    let live = |server: &Notifications| -> Vec<Arrived> {
        server
            .arrived()
            .into_iter()
            .filter(|a| a.summary.contains(" live in "))
            .collect()
    };
    let arrived = live(&server);
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(
        arrived[0].summary,
        "api: 2 of your commits are live in production"
    );
    assert_eq!(
        arrived[0].body,
        format!(
            "{} Add retries\n{} Fix typo\ndeployed to production by carol@example.com",
            short(&retries),
            short(&typo)
        )
    );

    let out = bob_once().ok();
    let arrived = live(&server);
    assert_eq!(arrived.len(), 2, "{arrived:?}\n{}", out.stderr);
    assert_eq!(
        arrived[1].summary,
        format!("api: {} is live in production", short(&bobs))
    );
    assert_eq!(
        arrived[1].body,
        format!(
            "{} Speed up the cache is live in production, deployed by carol@example.com",
            short(&bobs)
        )
    );

    // Once: later rounds tell nothing more.
    once(&w, Some(&bus.address), &[]).ok();
    bob_once().ok();
    assert_eq!(live(&server).len(), 2);
}

/// A github-forge repository whose API is `api`.
fn github_repo_at<'w>(w: &'w World, api: &str, name: &str) -> Repo<'w> {
    let repo = w.repo(name, 2);
    repo.write(
        ".train.toml",
        &format!(
            "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{api}\"\nmax_wait = \"1s\"\ntimeout = \"1s\"\n"
        ),
    );
    repo
}

fn daemon_status(w: &World) -> serde_json::Value {
    let mut cmd = daemon_cmd(w, None, &["daemon", "status", "--json"]);
    Run::of(cmd.output().unwrap()).ok().json()
}

#[test]
fn daemon_status_says_what_runs_and_why_each_repository_did_not_answer() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let web = local_repo(&w, "web", "");
    let api = github_repo(&w, &gh, "api");
    // Nobody listens there: refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = github_repo_at(&w, &format!("http://127.0.0.1:{port}"), "down");
    for r in [&web, &api, &down] {
        r.train(&["watch"]).ok();
    }
    let status = daemon_status(&w);
    assert_eq!(status["running"], false);
    assert_eq!(status["repositories"].as_array().unwrap().len(), 3);
    assert!(status["repositories"][0]["last_round"].is_null());

    // A refused token, an unreachable API and a local repository that is fine.
    let out = once(&w, None, &[("GH_TOKEN", "not-the-token")]);
    assert_eq!(out.code, 0, "one repository answered: {}", out.stderr);
    let status = daemon_status(&w);
    assert_eq!(status["running"], false);
    let repos = status["repositories"].as_array().unwrap();
    let of = |name: &str| repos.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(of("api")["problem"]["kind"], "unauthorized", "{status:#}");
    assert_eq!(of("down")["problem"]["kind"], "unreachable", "{status:#}");
    assert!(of("web")["problem"].is_null());
    assert!(of("web")["last_answer"].is_string());
    assert!(of("api")["last_answer"].is_null());
    let shown = Run::of(
        daemon_cmd(&w, None, &["daemon", "status"])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(
        shown.stdout.starts_with("daemon: not running"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("token refused (401), never answered"),
        "{}",
        shown.stdout
    );
    assert!(!shown.stdout.contains("not-the-token"));

    // No token at all, and nothing else watched: every round failed, exit 1.
    web.train(&["unwatch"]).ok();
    let (path, _) = {
        let bin = w.path("no-gh");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("gh");
        std::fs::write(&script, "#!/bin/sh\nexit 1\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (
            format!(
                "{}:{}:{}",
                bin.display(),
                std::path::Path::new(BIN).parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            (),
        )
    };
    let out = once(&w, None, &[("PATH", &path)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("every watched repository failed its round: api (no token), down (no token)"),
        "{}",
        out.stderr
    );
    let status = daemon_status(&w);
    let repos = status["repositories"].as_array().unwrap();
    assert!(
        repos.iter().all(|r| r["problem"]["kind"] == "no_token"),
        "{status:#}"
    );

    // A running daemon is seen running, with its pid.
    write_user_config(
        &w,
        &format!(
            "watch = [\"{}\"]\n[daemon]\npoll = \"1h\"\n",
            web.dir.display()
        ),
    );
    let daemon = Running::start(daemon_cmd(&w, None, &["daemon"]));
    daemon.wait_for("ready: watching 1 repository", 1, READY);
    let until = Instant::now() + READY;
    let status = loop {
        let status = daemon_status(&w);
        if status["updated_at"].is_string() || Instant::now() > until {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], daemon.child.id());
    assert!(
        status["repositories"][0]["refs_watched"] == true,
        "{status:#}"
    );
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(daemon_status(&w)["running"], false);
}

#[test]
fn a_forge_silent_for_long_is_told_once() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = github_repo_at(&w, &format!("http://127.0.0.1:{port}"), "down");
    down.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(
        &w,
        &format!("{text}[daemon]\npoll = \"1s\"\nunreachable_after = \"3s\"\n"),
    );
    let mut cmd = daemon_cmd(&w, Some(&bus.address), &["daemon"]);
    cmd.env("GH_TOKEN", "a-token");
    let daemon = Running::start(cmd);
    let arrived = server.wait_for(1, Duration::from_secs(20));
    assert_eq!(arrived.len(), 1, "{}", daemon.lines().join("\n"));
    assert!(
        arrived[0]
            .summary
            .starts_with("git-train: no news from down for "),
        "{arrived:?}"
    );
    assert!(
        arrived[0].body.contains("could not reach GitHub"),
        "{arrived:?}"
    );
    // Told once, however long it lasts.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(server.arrived().len(), 1, "{:?}", server.arrived());
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_stale_commit_is_announced_once_across_rounds_and_restarts() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let repo = local_repo(&w, "api", "stale_after = \"1d\"\n");
    // Deployed before the rounds below (their clock is fixed): a success dated after
    // the reading clock would not count yet.
    repo.train_at(
        "2026-11-20T11:00:00Z",
        &["deploy", "production", "HEAD~1", "--yes"],
    )
    .ok();
    let mine = repo.rev("HEAD");
    // Someone else's commit waits just as long: not mine, not announced by default.
    repo.write("other.txt", "bob\n");
    repo.git(&["add", "other.txt"]);
    let out = repo
        .cmd("git")
        .args(["commit", "-q", "-m", "bob's change"])
        .env("GIT_AUTHOR_EMAIL", "bob@example.com")
        .output()
        .unwrap();
    assert!(out.status.success());
    repo.train(&["watch"]).ok();
    // Commits are from 2026-11-20 10:00; three days later.
    let now = [("GIT_TRAIN_NOW", "2026-11-23T10:00:00Z")];

    let out = once(&w, Some(&bus.address), &now).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(
        arrived[0].summary,
        format!("api: {} waits for production", short(&mine))
    );
    assert_eq!(
        arrived[0].body,
        "change 2\nnot deployed to production after 3d (stale_after 1d)"
    );

    once(&w, Some(&bus.address), &now).ok();
    write_user_config(
        &w,
        &format!(
            "watch = [\"{}\"]\n[daemon]\npoll = \"1s\"\n",
            std::fs::canonicalize(&repo.dir).unwrap().display()
        ),
    );
    let mut cmd = daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]);
    cmd.envs(now);
    let daemon = Running::start(cmd);
    daemon.wait_for("round:", 4, READY);
    assert_eq!(daemon.stop(), Some(0));
    once(&w, Some(&bus.address), &now).ok();
    assert_eq!(server.arrived().len(), 1, "{:?}", server.arrived());
}

#[test]
fn install_and_uninstall_write_the_unit_and_run_the_service_manager() {
    let w = World::new();
    let log = w.path("manager.log");
    let manager = w.path("manager.sh");
    std::fs::write(
        &manager,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexit \"${{FAIL:-0}}\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&manager, std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = std::fs::canonicalize(BIN).unwrap();
    let run = |kind: &str, args: &[&str], fail: bool| {
        let mut cmd = daemon_cmd(&w, None, args);
        cmd.env(
            "GIT_TRAIN_SERVICE_MANAGER",
            format!("{kind}:{}", manager.display()),
        );
        if fail {
            cmd.env("FAIL", "1");
        }
        Run::of(cmd.output().unwrap())
    };
    let ran = || std::fs::read_to_string(&log).unwrap_or_default();

    // systemd
    let unit = w.path("home/.config/systemd/user/git-train.service");
    let out = run("systemctl", &["daemon", "install"], false).ok();
    assert!(
        out.stdout.contains("installed the systemd user unit"),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!("\nExecStart={} daemon\n", program.display())),
        "{text}"
    );
    assert!(text.contains("\nWantedBy=default.target\n"), "{text}");
    // How the service gets a GitHub token: said at install, and an optional file.
    assert!(
        text.contains("\nEnvironmentFile=-%h/.config/git-train/env\n"),
        "{text}"
    );
    for way in [
        "gh auth token",
        "git credential fill",
        "~/.config/git-train/env",
    ] {
        assert!(out.stdout.contains(way), "{way}: {}", out.stdout);
    }
    for line in [
        "After=graphical-session.target",
        "PartOf=graphical-session.target",
        "EnvironmentFile=-%h/.config/git-train/env",
    ] {
        assert!(text.contains(&format!("\n{line}\n")), "{line}: {text}");
    }
    // A man page that is not installed would fail `systemd-analyze verify`.
    assert!(!text.contains("Documentation="), "{text}");
    let analyze = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .env("HOME", w.path("home"))
        .output();
    match analyze {
        Ok(out) => assert!(
            out.status.success(),
            "systemd-analyze verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("no systemd-analyze ({e}): the unit's text is checked only"),
    }
    assert_eq!(
        ran(),
        "--user daemon-reload\n--user enable --now git-train.service\n"
    );
    let out = run("systemctl", &["daemon", "uninstall", "--json"], false)
        .ok()
        .json();
    assert_eq!(out["changed"], true);
    assert!(!unit.exists());
    assert!(ran().ends_with("--user disable --now git-train.service\n--user daemon-reload\n"));
    let out = run("systemctl", &["daemon", "uninstall"], false).ok();
    assert!(
        out.stdout.contains("no systemd user unit to uninstall"),
        "{}",
        out.stdout
    );

    // A service manager that fails: said, exit 1, the unit stays for a retry.
    let out = run("systemctl", &["daemon", "install"], true).code(1);
    assert!(
        out.stderr
            .contains("`systemctl --user daemon-reload` failed"),
        "{}",
        out.stderr
    );
    assert!(unit.exists());
    run("systemctl", &["daemon", "uninstall"], false).ok();

    // launchd
    std::fs::remove_file(&log).unwrap();
    let plist = w.path("home/Library/LaunchAgents/org.git-train.daemon.plist");
    run("launchctl", &["daemon", "install"], false).ok();
    let text = std::fs::read_to_string(&plist).unwrap();
    assert!(
        text.contains(&format!(
            "<array>\n    <string>{}</string>\n    <string>daemon</string>\n  </array>",
            program.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("<key>PATH</key>\n    <string>/opt/homebrew/bin:/usr/local/bin:"),
        "a Homebrew gh is found: {text}"
    );
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    assert_eq!(ran(), format!("bootstrap gui/{uid} {}\n", plist.display()));
    // Installed again: the loaded agent is taken out first.
    run("launchctl", &["daemon", "install"], false).ok();
    assert!(ran().ends_with(&format!(
        "bootout gui/{uid}/org.git-train.daemon\nbootstrap gui/{uid} {}\n",
        plist.display()
    )));
    run("launchctl", &["daemon", "uninstall"], false).ok();
    assert!(!plist.exists());
    assert!(ran().ends_with(&format!("bootout gui/{uid}/org.git-train.daemon\n")));
}

#[test]
fn a_second_daemon_exits_1_and_a_dead_ones_lock_is_taken_over() {
    let w = World::new();
    let first = Running::start(daemon_cmd(&w, None, &["daemon"]));
    first.wait_for("ready:", 1, READY);
    let out = once(&w, None, &[]).code(1);
    assert!(
        out.stderr.contains(&format!(
            "another git-train daemon is already running for this user (pid {})",
            first.child.id()
        )),
        "{}",
        out.stderr
    );
    // Killed without a chance to clean up: the next one starts all the same.
    drop(first);
    once(&w, None, &[]).ok();
}

#[test]
fn watch_unwatch_and_init_edit_the_watch_list_and_keep_the_rest_of_the_file() {
    let w = World::new();
    let repo = w.repo("r", 1);
    let dir = std::fs::canonicalize(&repo.dir).unwrap();
    let shown = dir.display().to_string();
    write_user_config(&w, "# my settings\n[daemon]\npoll = \"5m\" # slow\n");

    let out = repo.train(&["watch"]).ok();
    assert!(
        out.stdout
            .starts_with(&format!("the daemon now watches {shown} (watch list: ")),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    assert!(text.starts_with("# my settings\n"), "{text}");
    assert!(text.contains("poll = \"5m\" # slow"), "{text}");
    assert!(
        text.contains(&format!("watch = [\n    \"{shown}\",\n]")),
        "{text}"
    );
    let out = repo.train(&["watch", "--json"]).ok().json();
    assert_eq!(out["changed"], false);
    assert_eq!(out["repository"], shown.as_str());

    // From elsewhere, by path.
    let out = Run::of(daemon_cmd(&w, None, &["unwatch", &shown]).output().unwrap()).ok();
    assert!(
        out.stdout.starts_with("the daemon no longer watches"),
        "{}",
        out.stdout
    );
    assert!(!std::fs::read_to_string(user_config(&w))
        .unwrap()
        .contains(&shown));

    // init puts it on the list, init --uninstall takes it off.
    let out = repo.train(&["init"]).ok();
    assert!(
        out.stdout
            .contains("added the repository to the daemon's watch list"),
        "{}",
        out.stdout
    );
    assert!(std::fs::read_to_string(user_config(&w))
        .unwrap()
        .contains(&shown));
    repo.train(&["init", "--uninstall"]).ok();
    assert!(!std::fs::read_to_string(user_config(&w))
        .unwrap()
        .contains(&shown));

    // Errors name the file, the line and the key.
    write_user_config(&w, "watch = []\n[daemon]\npoll = \"soon\"\n");
    let out = once(&w, None, &[]).code(2);
    let path = user_config(&w).display().to_string();
    assert!(
        out.stderr.contains(&format!("{path}:3: ")),
        "{}",
        out.stderr
    );
    out.says("poll");
    let out = repo.train(&["watch"]).code(2);
    assert!(
        out.stderr.contains(&format!("{path}:3: ")),
        "{}",
        out.stderr
    );
    write_user_config(&w, "[daemon.mine_only]\ncolour = true\n");
    let out = once(&w, None, &[]).code(2);
    assert!(
        out.stderr.contains(&format!("{path}:2: ")),
        "{}",
        out.stderr
    );
    out.says("colour");
}

/// The figures of the closing note: resident memory while watching 20 repositories,
/// and the requests an idle round sends.
/// The daemon's CPU time so far (user and system), from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// A `gh` that counts its calls and prints the token: the systemd case, where no
/// GH_TOKEN is set and the token comes from `gh auth token`.
fn fake_gh(w: &World, token: &str) -> (String, PathBuf) {
    let calls = w.path("gh-calls");
    let body = format!("echo \"$*\" >> '{}'\necho {token}\n", calls.display());
    (gh_script(w, &body), calls)
}

/// A PATH whose `gh` is a shell script of `body`, then git-train's folder.
fn gh_script(w: &World, body: &str) -> String {
    let bin = w.path("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("gh");
    std::fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}:{}",
        bin.display(),
        std::path::Path::new(BIN).parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn figures_memory_cpu_and_requests_of_idle_rounds_with_20_repositories() {
    let w = World::new();
    let bus = Bus::start();
    let _server = Notifications::start(&bus, false);
    let gh = GitHub::start("acme/api");
    let (_origin, clones) = w.origin_and_clones(20, 3);
    for clone in &clones {
        clone.git(&["config", "user.email", "alice@example.com"]);
        clone.write(
            ".train.toml",
            &format!(
                "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"{}\"\ntimeout = \"3s\"\nmax_wait = \"3s\"\n[env.production]\nstale_after = \"1d\"\n",
                gh.url()
            ),
        );
        clone.train(&["watch"]).ok();
    }
    let head = clones[0].rev("HEAD");
    // CI has finished on the trunk commits; one deployment, finished.
    for rev in ["HEAD", "HEAD~1", "HEAD~2"] {
        gh.set_commit_status(&clones[0].rev(rev), "ci/build", "success", None);
    }
    let id = gh.add_deployment(&head, "production", "octocat", json!({}));
    gh.add_deployment_status(id, "success", None);

    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"2s\"\n"));
    // No GH_TOKEN, as under systemd: the token comes from `gh auth token`.
    let (path, gh_calls) = fake_gh(&w, gh.token());
    let mut cmd = daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]);
    cmd.env("PATH", path);
    let daemon = Running::start(cmd);
    let pid = daemon.child.id();
    daemon.wait_for("ready: watching 20 repositories", 1, READY);
    daemon.wait_for("round: 20 repositories", 2, READY);
    gh.clear_requests();
    daemon.wait_for("round: 20 repositories", 3, READY);
    let requests = gh.requests();
    // Ten idle rounds, timed by the daemon's own CPU clock (in ticks of 10 ms).
    let before = cpu_time(pid);
    let state = w.path("home/.local/state/git-train/daemon.json");
    let imports: Vec<PathBuf> = clones
        .iter()
        .map(|c| c.dir.join(".git/train/github/import.json"))
        .collect();
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let state_at = modified(&state);
    let imports_at: Vec<_> = imports.iter().map(modified).collect();
    daemon.wait_for("round: 20 repositories", 13, READY);
    let cpu = cpu_time(pid) - before;
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        .unwrap();
    let round = daemon
        .lines()
        .into_iter()
        .rev()
        .find(|l| l.contains("round: 20 repositories"))
        .unwrap();
    let calls = std::fs::read_to_string(&gh_calls).unwrap_or_default();
    eprintln!(
        "FIGURES: watching 20 repositories: VmRSS {rss}; an idle round sent {} requests, {} answered 304; {}; CPU {} ms over 10 idle rounds ({:.1} ms a round); `gh` ran {} times",
        requests.len(),
        requests.iter().filter(|r| r.status == 304).count(),
        round.split("round: ").nth(1).unwrap_or(""),
        cpu.as_millis(),
        cpu.as_millis() as f64 / 10.0,
        calls.lines().count(),
    );
    // A repository: its deployment list, conditional. The CI of its trunk commits
    // had finished when the first round read it, so idle rounds do not ask again
    // (until it is ten minutes old; `sync` and `status --refresh` ask every time).
    assert_eq!(
        requests.len(),
        20,
        "conditional requests only: {requests:?}"
    );
    assert!(requests.iter().all(|r| r.status == 304), "{requests:?}");
    // The token is asked for once per API host, not per repository per round.
    assert_eq!(calls.lines().count(), 1, "{calls}");
    // Idle rounds write neither the state file nor the import cursors.
    assert_eq!(modified(&state), state_at);
    let imports_now: Vec<_> = imports.iter().map(modified).collect();
    assert_eq!(imports_now, imports_at);
    assert!(
        !daemon.lines().join("\n").contains(gh.token()),
        "the token leaked"
    );
    // With GIT_TRAIN_FIGURES_MINUTE set: the CPU of one idle minute at poll = 60s
    // (a figure for the closing note; a minute is too long for every run).
    if std::env::var_os("GIT_TRAIN_FIGURES_MINUTE").is_some() {
        write_user_config(&w, &format!("{text}[daemon]\npoll = \"60s\"\n"));
        daemon.wait_for("polling every 60s from now", 1, READY);
        std::thread::sleep(Duration::from_secs(5));
        let before = cpu_time(pid);
        std::thread::sleep(Duration::from_secs(60));
        let minute = cpu_time(pid) - before;
        eprintln!(
            "FIGURES: one idle minute at poll = 60s: CPU {} ms",
            minute.as_millis()
        );
    }
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn the_daemon_never_runs_commands_from_a_watched_repository() {
    let w = World::new();
    let repo = w.repo("watched", 3);
    repo.config_without_ci("[env.staging]\nrun = \"touch pwned\"\nstale_after = \"1s\"\n[env.production]\nrun = \"touch pwned\"\n",
    );
    repo.train(&["deploy", "staging", "HEAD~2", "--offline"])
        .ok();
    std::fs::remove_file(repo.dir.join("pwned")).unwrap();
    repo.train(&["watch"]).ok();
    for _ in 0..2 {
        let out = once(&w, None, &[]);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    repo.commit("more work");
    once(&w, None, &[]);
    assert!(
        !repo.dir.join("pwned").exists(),
        "the daemon ran a command from .train.toml"
    );
}

// ---------------------------------------------------------------------------------
// Issue 21: the daemon as a desktop user lives with it.

#[test]
fn a_server_that_reads_markup_gets_the_subject_escaped_and_the_summary_plain() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::advertising(&bus, false, &["body", "body-markup"]);
    let repo = local_repo(&w, "web", "");
    repo.train(&["watch"]).ok();
    once(&w, Some(&bus.address), &[]).ok();
    let sha = repo.commit("Add retries <fast path> & <b>bold</b> (#131)");
    repo.train(&["deploy", "staging", "--yes"]).ok();
    let out = once(&w, Some(&bus.address), &[]).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(arrived[0].summary, "web: staging succeeded");
    assert!(
        arrived[0].body.starts_with(&format!(
            "{} Add retries &lt;fast path&gt; &amp; &lt;b&gt;bold&lt;/b&gt; (#131)\n",
            short(&sha)
        )),
        "{}",
        arrived[0].body
    );
    // The log shows it as it reads.
    out.says("Add retries <fast path> & <b>bold</b>");
}

/// A quiet round (nothing moved: refs, `.train.toml`, the CI cache, GitHub's
/// deployment list) asks GitHub one conditional GET and stops; it still misses
/// nothing: a stale commit at the instant it crosses its threshold, a deployment made
/// on GitHub, an edited `.train.toml`.
#[test]
fn quiet_rounds_miss_no_stale_commit_no_new_deployment_and_no_edited_config() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let gh = GitHub::start("acme/api");
    let repo = github_repo(&w, &gh, "api");
    for rev in ["HEAD", "HEAD~1", "HEAD~2"] {
        gh.set_commit_status(&repo.rev(rev), "ci/build", "success", None);
    }
    let id = gh.add_deployment(&repo.rev("HEAD~2"), "production", "octocat", json!({}));
    gh.add_deployment_status(id, "success", None);
    // The commits are dated 2026-11-20 10:00: HEAD~1 and HEAD wait for production
    // long enough 25 seconds after the test starts (a margin for a loaded machine).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let age = now - 1_795_168_800;
    let toml = std::fs::read_to_string(repo.dir.join(".train.toml")).unwrap();
    repo.write(
        ".train.toml",
        &format!("{toml}[env.production]\nstale_after = \"{}s\"\n", age + 25),
    );
    repo.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    let mut cmd = daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]);
    cmd.env("GH_TOKEN", gh.token());
    let daemon = Running::start(cmd);
    daemon.wait_for("ready: watching 1 repository", 1, READY);
    let all = || daemon.lines().join("\n");
    daemon.wait_for("(quiet: nothing moved)", 2, READY);
    assert!(server.arrived().is_empty(), "{:?}", server.arrived());
    gh.clear_requests();
    daemon.wait_for("(quiet: nothing moved)", 4, READY);
    let requests = gh.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.status == 304 && r.path.contains("/deployments?")),
        "a quiet round asks for the deployment list only: {requests:?}"
    );

    // Waits for a popup whose summary is `summary`.
    let popup = |summary: &str, within: Duration| {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if server.arrived().iter().any(|a| a.summary == summary) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no popup {summary:?}: {:?}\n{}", server.arrived(), all());
    };

    // The threshold passes: that round is a full one.
    for rev in ["HEAD~1", "HEAD"] {
        let summary = format!("api: {} waits for production", short(&repo.rev(rev)));
        popup(&summary, Duration::from_secs(45));
    }

    // A deployment made on GitHub.
    let id = gh.add_deployment(&repo.rev("HEAD~1"), "staging", "octocat", json!({}));
    gh.add_deployment_status(id, "success", None);
    let deployed = "api: staging succeeded";
    popup(deployed, READY);

    // `.train.toml` edited, no ref moved: staging's own threshold is seen.
    let quiet = daemon.count("(quiet: nothing moved)");
    daemon.wait_for("(quiet: nothing moved)", quiet + 2, READY);
    let toml = std::fs::read_to_string(repo.dir.join(".train.toml")).unwrap();
    repo.write(
        ".train.toml",
        &format!("{toml}[env.staging]\nstale_after = \"1h\"\n"),
    );
    let waits = format!("api: {} waits for staging", short(&repo.rev("HEAD")));
    popup(&waits, READY);
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_deployment_is_one_popup_that_changes_and_a_failure_stays() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let gh = GitHub::start("acme/api");
    let repo = github_repo(&w, &gh, "api");
    repo.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    let mut cmd = daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]);
    // Watched by someone whose commits these are not: no ship notice besides.
    cmd.env("GH_TOKEN", gh.token())
        .env("GIT_COMMITTER_EMAIL", "dana@example.com");
    let daemon = Running::start(cmd);
    daemon.wait_for("ready: watching 1 repository", 1, READY);

    let sha = repo.rev("HEAD~1");
    let id = gh.add_deployment(&sha, "production", "octocat", json!({}));
    gh.add_deployment_status(id, "queued", None);
    let all = || daemon.lines().join("\n");
    assert_eq!(server.wait_for(1, READY).len(), 1, "{}", all());
    gh.add_deployment_status(id, "in_progress", None);
    assert_eq!(server.wait_for(2, READY).len(), 2, "{}", all());
    gh.add_deployment_status(id, "success", None);
    let arrived = server.wait_for(3, READY);
    assert_eq!(arrived.len(), 3, "{}", all());
    let first = arrived[0].id;
    assert_eq!(arrived[0].replaces, 0);
    assert_eq!(arrived[1].replaces, first, "{arrived:?}");
    assert_eq!(arrived[2].replaces, first, "{arrived:?}");
    assert_eq!(arrived[2].summary, "api: production succeeded");
    let tag = arrived[0].hints.get("x-dunst-stack-tag").cloned();
    assert!(tag.is_some(), "{arrived:?}");
    for a in &arrived {
        assert_eq!(a.hints.get("x-dunst-stack-tag"), tag.as_ref());
        assert_eq!(a.hints.get("x-canonical-private-synchronous"), tag.as_ref());
    }

    // Another deployment is another popup; its failure is critical and stays.
    let other = gh.add_deployment(&sha, "production", "octocat", json!({}));
    gh.add_deployment_status(other, "failure", None);
    let arrived = server.wait_for(4, READY);
    assert_eq!(arrived.len(), 4, "{}", all());
    assert_eq!(arrived[3].summary, "api: production failed");
    assert_eq!(arrived[3].replaces, 0);
    assert_ne!(arrived[3].hints.get("x-dunst-stack-tag"), tag.as_ref());
    assert_eq!(
        arrived[3].hints.get("urgency").map(String::as_str),
        Some("2")
    );
    assert_eq!(arrived[3].expire, 0, "shown until dismissed");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_newly_watched_repository_with_a_backlog_of_stale_commits_is_one_notification() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let repo = local_repo(&w, "api", "stale_after = \"1d\"\n");
    repo.train_at(
        "2026-11-20T11:00:00Z",
        &["deploy", "production", "HEAD", "--yes"],
    )
    .ok();
    for i in 0..4 {
        repo.commit(&format!("waiting {i}"));
    }
    repo.train(&["watch"]).ok();
    let now = [("GIT_TRAIN_NOW", "2026-11-23T10:00:00Z")];
    let out = once(&w, Some(&bus.address), &now).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(arrived[0].summary, "api: 4 commits wait for production");
    once(&w, Some(&bus.address), &now).ok();
    assert_eq!(server.arrived().len(), 1, "{:?}", server.arrived());

    // Later, one more is told as itself.
    let sha = repo.commit("one more");
    once(&w, Some(&bus.address), &now).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 2, "{arrived:?}");
    assert_eq!(
        arrived[1].summary,
        format!("api: {} waits for production", short(&sha))
    );
}

#[test]
fn two_work_trees_of_one_repository_are_told_once() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let repo = local_repo(&w, "web", "");
    repo.git(&["add", ".train.toml"]);
    repo.git(&["commit", "-q", "-m", "train config"]);
    let tree = w.root.path().join("web-second");
    repo.git(&["worktree", "add", "-q", tree.to_str().unwrap()]);
    repo.train(&["watch"]).ok();
    Run::of(
        daemon_cmd(&w, None, &["watch", tree.to_str().unwrap()])
            .output()
            .unwrap(),
    )
    .ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    assert_eq!(text.matches("web").count(), 2, "{text}");
    let out = once(&w, Some(&bus.address), &[]).ok();
    out.says("another work tree of");
    repo.train(&["deploy", "staging", "--yes"]).ok();
    let out = once(&w, Some(&bus.address), &[]).ok();
    let arrived = server.arrived();
    assert_eq!(arrived.len(), 1, "{arrived:?}\n{}", out.stderr);
    assert_eq!(arrived[0].summary, "web: staging succeeded");
    assert_eq!(out.stderr.matches("notify: ").count(), 1, "{}", out.stderr);

    // The entry that watched it taken off the list: the other work tree takes over.
    let main = std::fs::canonicalize(&repo.dir).unwrap();
    Run::of(
        daemon_cmd(&w, None, &["unwatch", main.to_str().unwrap()])
            .output()
            .unwrap(),
    )
    .ok();
    repo.train(&["deploy", "production", "--yes"]).ok();
    let out = once(&w, Some(&bus.address), &[]).ok();
    // Its first round there: the starting point.
    assert_eq!(server.arrived().len(), 1, "{}", out.stderr);
}

#[test]
fn a_notification_sent_while_the_server_is_away_is_shown_when_it_is_back() {
    let w = World::new();
    let bus = Bus::start();
    let repo = local_repo(&w, "web", "");
    repo.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    let daemon = Running::start(daemon_cmd(&w, Some(&bus.address), &["-v", "daemon"]));
    daemon.wait_for("ready: watching 1 repository", 1, READY);

    // No notification server yet: a failure, critical.
    repo.config_without_ci("[env.staging]\nrun = \"exit 3\"\n[env.production]\n");
    repo.train(&["deploy", "staging", "--yes"]);
    daemon.wait_for("notify: web: staging failed", 1, READY);
    daemon.wait_for("cannot show desktop notifications", 1, READY);
    // Rounds go on; the cause is said once.
    let rounds = daemon.count("round:");
    daemon.wait_for("round:", rounds + 2, READY);
    assert_eq!(daemon.count("cannot show desktop notifications"), 1);

    let server = Notifications::start(&bus, false);
    let arrived = server.wait_for(1, READY);
    assert_eq!(arrived.len(), 1, "{}", daemon.lines().join("\n"));
    assert_eq!(arrived[0].summary, "web: staging failed");
    assert_eq!(
        arrived[0].hints.get("urgency").map(String::as_str),
        Some("2")
    );
    daemon.wait_for("desktop notifications work again", 1, READY);
    // Shown once: not again at the next rounds.
    let rounds = daemon.count("round:");
    daemon.wait_for("round:", rounds + 2, READY);
    assert_eq!(server.arrived().len(), 1);
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_new_poll_setting_applies_at_once() {
    let w = World::new();
    let repo = local_repo(&w, "web", "");
    repo.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1h\"\n"));
    let daemon = Running::start(daemon_cmd(&w, None, &["-v", "daemon"]));
    daemon.wait_for("ready: watching 1 repository", 1, READY);
    let rounds = daemon.count("round:");
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    daemon.wait_for("polling every 1s from now", 1, Duration::from_secs(5));
    daemon.wait_for("round:", rounds + 3, Duration::from_secs(8));
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn notifications_use_words_give_the_local_log_and_tell_clones_of_one_name_apart() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let first = w.repo("work/api", 2);
    first.config_without_ci("[env.staging]\nrun = \"echo deployed\"\n");
    let second = local_repo(&w, "forks/api", "");
    first.train(&["watch"]).ok();
    second.train(&["watch"]).ok();
    once(&w, Some(&bus.address), &[]).ok();
    first.train(&["deploy", "staging", "--yes"]).ok();
    second.train(&["deploy", "production", "--yes"]).ok();
    let out = once(&w, Some(&bus.address), &[]).ok();
    let mut arrived = server.arrived();
    arrived.sort_by(|a, b| a.summary.cmp(&b.summary));
    assert_eq!(arrived.len(), 2, "{arrived:?}\n{}", out.stderr);
    assert_eq!(arrived[0].summary, "forks/api: production succeeded");
    assert_eq!(arrived[1].summary, "work/api: staging succeeded");
    assert!(
        arrived[1]
            .body
            .contains("\ndeployment to staging succeeded, by "),
        "{}",
        arrived[1].body
    );
    let log = arrived[1].body.lines().last().unwrap().to_string();
    assert!(log.starts_with("log: /"), "{}", arrived[1].body);
    let path = log.trim_start_matches("log: ");
    assert!(
        std::fs::read_to_string(path).unwrap().contains("deployed"),
        "{path}"
    );
}

/// Runs `git-train ARGS` in a pseudo-terminal (util-linux `script`), as a person
/// types it: stdin and stderr are a terminal.
fn in_a_terminal(repo: &Repo, args: &str) -> Run {
    let line = format!("{} {args} </dev/tty", common::BIN);
    let mut cmd = repo.cmd("script");
    cmd.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    Run::of(cmd.output().unwrap())
}

#[test]
fn a_deployment_followed_in_a_terminal_here_raises_no_popup_unless_asked() {
    let w = World::new();
    let bus = Bus::start();
    let server = Notifications::start(&bus, false);
    let repo = local_repo(&w, "api", "");
    repo.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    // The first round is the starting point.
    once(&w, Some(&bus.address), &[]).ok();

    // Followed to its end in a terminal on this machine: seen there already.
    let out = in_a_terminal(&repo, "deploy staging --yes");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("staging now runs"), "{}", out.stdout);
    let out = once(&w, Some(&bus.address), &[]).ok();
    assert!(
        server.arrived().is_empty(),
        "{:?}\n{}",
        server.arrived(),
        out.stderr
    );

    // A deploy from a script (no terminal) is news.
    repo.commit("change 3");
    repo.train(&["deploy", "staging", "--yes", "-q"]).ok();
    once(&w, Some(&bus.address), &[]).ok();
    assert_eq!(server.arrived().len(), 1, "{:?}", server.arrived());

    // `own_deployments = true`: popups for your own terminal deploys too.
    write_user_config(&w, &format!("{text}[daemon]\nown_deployments = true\n"));
    repo.commit("change 4");
    let out = in_a_terminal(&repo, "deploy staging --yes");
    assert_eq!(out.code, 0, "{}", out.stdout);
    once(&w, Some(&bus.address), &[]).ok();
    assert_eq!(server.arrived().len(), 2, "{:?}", server.arrived());
}

#[test]
fn a_watched_folder_that_is_gone_is_said_once_not_once_per_way_of_finding_it() {
    let w = World::new();
    let repo = local_repo(&w, "api", "");
    repo.train(&["watch"]).ok();
    let gone = w.repo("gone", 1);
    gone.train(&["watch"]).ok();
    std::fs::remove_dir_all(&gone.dir).unwrap();
    // A daemon over several rounds: the missing folder is one warning in all.
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    let daemon = Running::start(daemon_cmd(&w, None, &["daemon", "-v"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.count("round:") < 3 {
        assert!(Instant::now() < deadline, "{}", daemon.lines().join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let said: Vec<String> = daemon
        .lines()
        .into_iter()
        .filter(|l| l.contains("gone") && l.contains("warning"))
        .collect();
    assert_eq!(said.len(), 1, "{}", daemon.lines().join("\n"));
    assert!(said[0].contains("git train unwatch"), "{said:?}");
}

#[test]
fn without_a_token_the_daemon_says_so_once_not_every_round_and_never_prints_one() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let api = github_repo(&w, &gh, "api");
    api.train(&["watch"]).ok();
    let text = std::fs::read_to_string(user_config(&w)).unwrap();
    write_user_config(&w, &format!("{text}[daemon]\npoll = \"1s\"\n"));
    // A `gh` that is logged out: it fails, though it prints something like a token
    // (which is not to be taken, nor shown).
    let path = gh_script(
        &w,
        &format!("echo {}\necho 'not logged in' >&2\nexit 1\n", gh.token()),
    );
    let mut cmd = daemon_cmd(&w, None, &["-v", "daemon"]);
    cmd.env("PATH", &path);
    let daemon = Running::start(cmd);
    daemon.wait_for("round: 1 repository", 4, READY);
    let lines = daemon.lines();
    assert_eq!(daemon.stop(), Some(0));
    let said: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("no GitHub token"))
        .collect();
    assert_eq!(
        said.len(),
        1,
        "once, not every round:\n{}",
        lines.join("\n")
    );
    assert_eq!(
        said[0].matches("no GitHub token").count(),
        1,
        "once in its line too: {}",
        said[0]
    );
    assert!(
        said[0].contains(&api.dir.display().to_string()),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("GH_TOKEN"),
        "it says where a token comes from: {}",
        said[0]
    );
    for line in &lines {
        assert!(!line.contains(gh.token()), "a token: {line}");
        assert!(!line.contains("ghp_"), "a token: {line}");
    }
    assert!(gh.requests().is_empty(), "{:?}", gh.requests());
}

#[test]
fn a_round_asks_again_for_finished_ci_only_once_it_is_ten_minutes_old() {
    let w = World::new();
    let gh = GitHub::start("acme/api");
    let repo = github_repo(&w, &gh, "api");
    repo.train(&["watch"]).ok();
    for rev in ["HEAD", "HEAD~1", "HEAD~2"] {
        gh.set_commit_status(&repo.rev(rev), "ci/build", "success", None);
    }
    let at = |now: &'static str| [("GH_TOKEN", gh.token()), ("GIT_TRAIN_NOW", now)];
    let ci_asked = |gh: &GitHub| {
        gh.requests()
            .iter()
            .filter(|r| r.path.contains("/status") || r.path.contains("/check-runs"))
            .count()
    };
    once(&w, None, &at("2026-12-01T09:00:00Z")).ok();
    assert!(ci_asked(&gh) >= 6, "{:?}", gh.requests());
    gh.clear_requests();
    // Finished, and read a minute ago: not asked.
    once(&w, None, &at("2026-12-01T09:01:00Z")).ok();
    assert_eq!(ci_asked(&gh), 0, "{:?}", gh.requests());
    gh.clear_requests();
    // Ten minutes on: asked again (conditional, so 304s).
    once(&w, None, &at("2026-12-01T09:11:00Z")).ok();
    let asked: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/status") || r.path.contains("/check-runs"))
        .collect();
    assert!(!asked.is_empty(), "{:?}", gh.requests());
    assert!(asked.iter().all(|r| r.status == 304), "{asked:?}");
}
