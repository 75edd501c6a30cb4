//! The daemon stays live (issue 12, item 10): a watched repository whose forge
//! accepts the connection and never answers stalls neither the other repositories
//! nor a stop. Notifications are read from the daemon's log (`notify: ...`, written
//! before each is sent), so no session bus is needed.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Repo, World, BIN};

/// A loopback TCP server that accepts every connection and never answers.
struct Silent {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

/// A loopback port nobody listens on yet: connections to it are refused.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Silent {
    fn start() -> Silent {
        Silent::on(0)
    }

    fn on(port: u16) -> Silent {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
                });
            }
        });
        Silent { port, accepted }
    }

    fn wait_for_a_connection(&self, limit: Duration) {
        let until = Instant::now() + limit;
        while self.accepted.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < until,
                "nobody connected to the silent forge"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The daemon in the background, its stderr collected line by line.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(w: &World) -> Running {
        let mut cmd = Command::new(BIN);
        w.env(&mut cmd);
        cmd.current_dir(w.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .env("GH_TOKEN", "test-token-for-a-silent-forge")
            .args(["-v", "daemon"]);
        let mut child = cmd.spawn().unwrap();
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

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// How long until a line contains `needle`; None after `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGTERM, as systemd stops it: how long until it exited, and its status.
    fn stop(&mut self) -> (Duration, Option<i32>) {
        let start = Instant::now();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        while start.elapsed() < Duration::from_secs(120) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (start.elapsed(), status.code());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (start.elapsed(), None)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_user_config(w: &World, text: &str) {
    let path = w.path("home/.config/git-train/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn canonical(repo: &Repo) -> PathBuf {
    std::fs::canonicalize(&repo.dir).unwrap()
}

/// A repository on the GitHub forge whose API never answers (GitHub's own timeout,
/// 30s a request, repeated: minutes a round), and one on the local forge.
fn two_repositories(w: &World, port: u16, poll: &str) -> (PathBuf, PathBuf) {
    let stuck = w.repo("stuck", 2);
    stuck.write(
        ".train.toml",
        &format!(
            "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"http://127.0.0.1:{port}\"\n"
        ),
    );
    let web = w.repo("web", 2);
    web.config_without_ci("[env.staging]\n[env.production]\n");
    let (stuck, web) = (canonical(&stuck), canonical(&web));
    write_user_config(
        w,
        &format!(
            "watch = [\"{}\", \"{}\"]\n[daemon]\npoll = \"{poll}\"\n",
            stuck.display(),
            web.display()
        ),
    );
    (stuck, web)
}

#[test]
fn a_forge_that_never_answers_stalls_neither_the_other_repositories_nor_a_stop() {
    let w = World::new();
    let silent = Silent::start();
    let (_stuck, web_dir) = two_repositories(&w, silent.port, "2s");
    let web = Repo {
        dir: web_dir,
        world: &w,
    };
    let poll = Duration::from_secs(2);

    let mut daemon = Running::start(&w);
    silent.wait_for_a_connection(Duration::from_secs(30));
    // The other repository's first round ends while the forge hangs.
    let first_round = daemon.wait_for("/web: checked in", Duration::from_secs(20));

    web.train(&["deploy", "staging"]).ok();
    let announced = daemon.wait_for("notify: web: staging succeeded", 2 * poll);

    // A stop while the forge still hangs.
    let (took, status) = daemon.stop();
    eprintln!("first round of web after {first_round:?}, announced after {announced:?}, stopped after {took:?} with {status:?}");
    assert!(
        first_round.is_some() && announced.is_some(),
        "the deployment was not announced within two poll intervals:\n{}",
        daemon.log()
    );
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM took {took:?}\n{}",
        daemon.log()
    );
    assert_eq!(status, Some(0), "{}", daemon.log());
}

#[test]
fn sigterm_during_the_first_round_ends_the_daemon_at_once() {
    let w = World::new();
    let silent = Silent::start();
    two_repositories(&w, silent.port, "60s");
    let mut daemon = Running::start(&w);
    silent.wait_for_a_connection(Duration::from_secs(30));
    let (took, status) = daemon.stop();
    eprintln!("stopped after {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM took {took:?}\n{}",
        daemon.log()
    );
    assert_eq!(status, Some(0), "{}", daemon.log());
    // The ledger of the repository in its round is as it was: no lock left behind.
    let stuck = w.path("stuck");
    assert!(!stuck.join(".git/refs/notes/deploys.lock").exists());
}

#[test]
fn sigterm_during_a_later_round_whose_forge_hangs_ends_the_daemon_at_once() {
    let w = World::new();
    // At first the forge refuses connections: the first rounds end quickly.
    let port = free_port();
    two_repositories(&w, port, "1s");
    let mut daemon = Running::start(&w);
    assert!(
        daemon
            .wait_for("round: 2 repositories", Duration::from_secs(60))
            .is_some(),
        "{}",
        daemon.log()
    );
    // Then it accepts and never answers: the next poll hangs in it.
    let silent = Silent::on(port);
    silent.wait_for_a_connection(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    let (took, status) = daemon.stop();
    eprintln!("stopped after {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "SIGTERM took {took:?}\n{}",
        daemon.log()
    );
    assert_eq!(status, Some(0), "{}", daemon.log());
}
