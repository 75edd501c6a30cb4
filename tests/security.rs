//! Issue 12: where the token may go, what reaches a terminal, and exit codes that
//! tell the truth. Each test here failed before its fix.
mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use common::{World, BIN};

/// A stand-in for an attacker's server: records every request it is sent.
struct Collector {
    listener: TcpListener,
}

impl Collector {
    fn bind(addr: &str) -> Option<Collector> {
        let listener = TcpListener::bind(addr).ok()?;
        listener.set_nonblocking(true).unwrap();
        Some(Collector { listener })
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Everything the server was sent since the last call.
    fn received(&self) -> String {
        let mut all = String::new();
        while let Ok((mut stream, _)) = self.listener.accept() {
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            all.push_str(&String::from_utf8_lossy(&buf));
            all.push_str("\n--\n");
        }
        all
    }
}

#[test]
fn an_api_url_with_userinfo_never_receives_the_token() {
    let w = World::new();
    let repo = w.repo("r", 2);
    // The old check read the text before the last `:` of the authority; the HTTP
    // client connects to the host after `@`. Port 80 on 127.0.0.2 (root in CI) is
    // where such a URL leads; a second collector on an ordinary port covers the
    // forms that carry a port.
    let at80 = Collector::bind("127.0.0.2:80");
    let other = Collector::bind("127.0.0.1:0").unwrap();
    let port = other.port();
    let mut urls = Vec::new();
    if at80.is_some() {
        urls.extend([
            "http://127.0.0.1:x@127.0.0.2".to_string(),
            "http://[::1]:x@127.0.0.2".to_string(),
            "http://localhost:x@127.0.0.2".to_string(),
        ]);
    } else {
        eprintln!(
            "note: cannot bind 127.0.0.2:80 here; the port-80 forms are covered by unit tests"
        );
    }
    urls.extend([
        format!("http://127.0.0.1:x@127.0.0.1:{port}"),
        format!("http://localhost:{port}@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/api\nhost=github.com"),
        format!("http://127.0.0.1:{port}\t@evil"),
        "https://trusted.host:x@127.0.0.2/api/v3".to_string(),
    ]);
    repo.git(&["config", "train.githubHost", "trusted.host"]);
    for url in &urls {
        repo.write(
            ".train.toml",
            &format!(
                "forge = \"github\"\n[checks]\nrequire = false\n[github]\nrepo = \"acme/api\"\napi = {}\n",
                toml_string(url)
            ),
        );
        for args in [&["deploy", "staging", "--yes"][..], &["sync"], &["init"]] {
            let out = repo
                .cmd(BIN)
                .env("GH_TOKEN", "ghp_collected_secret")
                .args(args)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if args[0] != "init" {
                assert_eq!(out.status.code(), Some(2), "{url:?} {args:?}: {err}");
                assert!(err.contains("hint:"), "{url:?} {args:?}: {err}");
            }
            assert!(!err.contains("ghp_collected_secret"), "{err}");
            let mut seen = other.received();
            if let Some(c) = &at80 {
                seen.push_str(&c.received());
            }
            assert!(
                !seen.contains("ghp_collected_secret") && seen.is_empty(),
                "{url:?} {args:?}: a request reached the collector:\n{seen}"
            );
        }
    }
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Writes the clipboard (OSC 52), clears the screen, rings the bell.
const PAYLOAD: &str = "\u{1b}]52;c;cGF5bG9hZA==\u{7}\u{1b}[2J";

#[track_caller]
fn assert_inert(what: &str, out: &std::process::Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.iter().any(|b| *b == 0x1b || *b == 0x07),
            "{what}: raw escape on {stream}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

fn as_toml(s: &str) -> String {
    toml_string(s)
}

#[test]
fn no_escape_sequence_from_commits_locks_or_config_reaches_a_terminal() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\nmax_train = 1\n[env.production]\n");
    repo.train(&["deploy", "staging", "--yes"]).ok();
    // A commit whose author and subject carry the payload.
    std::fs::write(repo.dir.join("p.txt"), "p").unwrap();
    repo.git(&["add", "p.txt"]);
    let author = format!("Mallory{PAYLOAD} <m@example.com>");
    let subject = format!("innocent{PAYLOAD} subject");
    repo.git(&["commit", "-q", "--author", &author, "-m", &subject]);
    repo.commit("after");
    let run = |what: &str, args: &[&str]| {
        let out = repo.cmd(BIN).args(args).output().unwrap();
        assert_inert(what, &out);
        out
    };
    // The train listing (commit author, subject) of deploy and rollback.
    run("deploy train", &["deploy", "production", "--yes"]);
    run("rollback train", &["rollback", "production", "--yes"]);
    run("status", &["status"]);
    run("history", &["history"]);
    // The pre-push hook names the oldest undeployed commit.
    let tip = repo.rev("HEAD");
    let mut hook = repo
        .cmd(BIN)
        .args(["hook", "pre-push", "origin", "/nowhere"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    hook.stdin
        .take()
        .unwrap()
        .write_all(format!("refs/heads/main {tip} refs/heads/main {}\n", "0".repeat(40)).as_bytes())
        .unwrap();
    let out = hook.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("innocent"),
        "the hook named the commit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_inert("pre-push hook", &out);

    // A lock whose holder and reason carry the payload, met by someone else.
    repo.git(&[
        "config",
        "user.email",
        &format!("mallory{PAYLOAD}@example.com"),
    ]);
    run("lock", &["lock", "staging", "--reason", PAYLOAD]);
    repo.git(&["config", "user.email", "bob@example.com"]);
    for (what, args) in [
        (
            "deploy refused by lock",
            &["deploy", "staging", "--yes"][..],
        ),
        ("lock refused", &["lock", "staging"]),
        ("unlock refused", &["unlock", "staging"]),
        ("locks", &["locks"]),
        (
            "unlock --force",
            &["unlock", "staging", "--force", "--reason", "gone home"],
        ),
    ] {
        let out = run(what, args);
        let text = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("mallory"), "{what} names the holder: {text}");
    }

    // Configuration errors echo keys and values from .train.toml.
    for (what, toml) in [
        ("unknown key", format!("{} = 1\n", as_toml(PAYLOAD))),
        ("bad value", format!("forge = {}\n", as_toml(PAYLOAD))),
        ("bad env name", format!("[env.{}]\n", as_toml(PAYLOAD))),
        (
            "bad duration",
            format!("[env.staging]\nstale_after = {}\n", as_toml(PAYLOAD)),
        ),
    ] {
        repo.write(".train.toml", &toml);
        let out = run(what, &["status"]);
        assert_eq!(out.status.code(), Some(2), "{what}");
        run(what, &["deploy", "staging", "--yes"]);
        let hook = repo
            .cmd(BIN)
            .args(["hook", "pre-push", "origin", "/nowhere"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            hook.status.code(),
            Some(0),
            "a hook never blocks by accident"
        );
        assert_inert(&format!("{what} through the hook"), &hook);
    }
}

#[test]
fn the_daemon_log_shows_payloads_inert() {
    let w = World::new();
    let repo = w.repo("web", 1);
    repo.config_without_ci(&format!(
        "[env.staging]\nrun = {}\n",
        as_toml(&format!("echo '{PAYLOAD}' >&2; true"))
    ));
    repo.train(&["watch"]).ok();
    let daemon = || {
        let mut cmd = repo.cmd(BIN);
        cmd.current_dir(w.root.path())
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .args(["daemon", "--once", "-v"]);
        cmd.output().unwrap()
    };
    daemon();
    std::fs::write(repo.dir.join("p.txt"), "p").unwrap();
    repo.git(&["add", "p.txt"]);
    repo.git(&[
        "commit",
        "-q",
        "--author",
        &format!("M{PAYLOAD} <m@example.com>"),
        "-m",
        &format!("subject{PAYLOAD}"),
    ]);
    repo.git(&["config", "user.email", &format!("by{PAYLOAD}@example.com")]);
    repo.train(&["deploy", "staging", "--yes"]).ok();
    let out = daemon();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notify: web"), "{err}");
    assert_inert("daemon log", &out);
}

/// `n` more commits on main, made at once with `git fast-import`.
fn many_commits(repo: &common::Repo, n: usize) {
    let mut stream = String::new();
    for i in 0..n {
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter Alice <alice@example.com> {} +0000\ndata <<EOM\nbulk change {i} with a subject long enough to fill the pipe quickly\nEOM\n",
            1_763_000_000 + i
        ));
        if i == 0 {
            stream.push_str("from refs/heads/main^0\n");
        }
        stream.push_str(&format!("M 644 inline bulk.txt\ndata <<EOM\n{i}\nEOM\n\n"));
    }
    let mut child = repo
        .cmd("git")
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    repo.git(&["reset", "-q", "--hard", "main"]);
}

/// Runs `git-train ARGS | READER` under bash; returns git-train's own exit status
/// (PIPESTATUS[0]) and its stderr.
fn piped(repo: &common::Repo, args: &str, reader: &str) -> (i32, String) {
    let script = format!("'{BIN}' {args} 2>\"$ERR\" | {reader}; exit ${{PIPESTATUS[0]}}");
    let err = repo.world.path("piped.err");
    let out = repo
        .cmd("bash")
        .env("ERR", &err)
        .args(["-c", &script])
        .output()
        .unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_closed_pipe_ends_a_read_quietly_but_never_a_deploy() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\n[env.broken]\nrun = \"exit 7\"\n");
    many_commits(&repo, 400);
    // Far more than a pipe buffer (64 KiB): the reader leaves while we write.
    let size = repo
        .train(&["status", "-n", "400", "--json"])
        .ok()
        .stdout
        .len();
    assert!(size > 96 * 1024, "{size}");
    let (code, err) = piped(&repo, "status -n 400 --json", "head -c 1 >/dev/null");
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let (code, err) = piped(&repo, "history --json -n 400", "head -c 1 >/dev/null");
    assert_eq!(code, 0, "{err}");

    // A deploy whose reader is gone before it prints still deploys, and exits as
    // the deployment ended.
    let (code, err) = piped(&repo, "deploy staging --yes", "true");
    assert_eq!(code, 0, "{err}");
    let lines = repo.all_lines();
    assert!(
        lines.iter().any(|l| l.contains(" staging success ")),
        "the deploy happened: {lines:?}"
    );
    let (code, err) = piped(&repo, "deploy broken --yes", "head -c 1 >/dev/null");
    assert_eq!(
        code, 1,
        "a failed deploy is a failure whoever reads it: {err}"
    );
    let (code, _) = piped(&repo, "deploy broken --yes --json", "true");
    assert_eq!(code, 1);
    // Writes that fail on stderr (a full disk) end nothing early either.
    let out = repo
        .cmd("bash")
        .args([
            "-c",
            &format!("'{BIN}' deploy staging HEAD~1 --yes 2>/dev/full >/dev/full"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert!(
        repo.all_lines()
            .iter()
            .filter(|l| l.contains(" staging success "))
            .count()
            >= 2
    );
}

#[test]
fn a_terminal_hang_up_mid_deploy_closes_the_deployment_without_a_panic() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.config_without_ci("[env.staging]\nrun = \"sleep 3\"\n");
    // The deploy runs on a pseudo-terminal whose other end is closed after a
    // second: the kernel hangs it up (SIGHUP, then EIO on every write).
    let script = format!(
        r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv("{BIN}", ["git-train", "deploy", "staging", "--yes"])
time.sleep(1.0)
os.close(fd)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"#
    );
    let out = repo.cmd("python3").args(["-c", &script]).output().unwrap();
    let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_ne!(code, "101", "panicked");
    assert_eq!(code, "1", "{}", String::from_utf8_lossy(&out.stderr));
    let lines = repo.all_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" staging error ") && l.contains("interrupted")),
        "{lines:?}"
    );
    repo.train(&["status"]).ok();
}

#[test]
fn a_huge_duration_is_a_configuration_error_not_a_panic() {
    let w = World::new();
    let repo = w.repo("r", 1);
    for key in ["poll", "timeout", "max_wait", "follow"] {
        repo.write(
            ".train.toml",
            &format!(
                "forge = \"github\"\n[github]\nrepo = \"acme/api\"\napi = \"http://127.0.0.1:9\"\n{key} = \"18446744073709551615s\"\n"
            ),
        );
        let out = repo.train(&["deploy", "staging", "--yes"]).code(2);
        assert!(
            out.stderr.contains(".train.toml:5:") && out.stderr.contains(&format!("`{key}`")),
            "{key}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    repo.write(
        ".train.toml",
        "[env.production]\nstale_after = \"9999999999999d\"\n",
    );
    repo.train(&["status"]).code(2);
    std::fs::remove_file(repo.dir.join(".train.toml")).unwrap();
    let config = w.path("home/.config/git-train");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "watch = []\n[daemon]\npoll = \"18446744073709551615s\"\n",
    )
    .unwrap();
    let out = repo.train(&["daemon", "--once"]).code(2);
    assert!(
        out.stderr.contains("config.toml") && out.stderr.contains("poll"),
        "{}",
        out.stderr
    );
}
