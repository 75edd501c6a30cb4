//! Test harness: real git repositories in temporary folders, with an isolated git
//! configuration and fixed dates, and the built `git-train` binary on PATH.
#![allow(dead_code)]
pub mod github;
pub mod hooks;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-train");

/// The start of a `.train.toml` whose deploys need no CI.
pub const NO_CI: &str = "[checks]\nrequire = false\n";

pub struct World {
    pub root: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(root.path().join("home")).unwrap();
        std::fs::write(root.path().join("gitconfig"), "").unwrap();
        World { root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// Environment every process in a test gets.
    pub fn env(&self, cmd: &mut Command) {
        let bin_dir = Path::new(BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("GIT_CONFIG_GLOBAL", self.path("gitconfig"))
            .env("GIT_CONFIG_SYSTEM", self.path("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("TZ", "UTC")
            .env("LANG", "C")
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            // No GIT_COMMITTER_NAME/EMAIL: like git, git-train takes them before
            // the configured user, and each clone has its own user.
            .env("GIT_AUTHOR_DATE", "2026-11-20T10:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-11-20T10:00:00Z")
            .env("NO_COLOR", "1");
    }

    /// A new repository with `commits` commits on main.
    pub fn repo(&self, name: &str, commits: usize) -> Repo<'_> {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo { dir, world: self };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "alice@example.com"]);
        repo.git(&["config", "user.name", "Alice"]);
        for i in 1..=commits {
            repo.commit(&format!("change {i}"));
        }
        repo
    }

    /// A bare origin with one commit, and `n` clones of it.
    pub fn origin_and_clones(&self, n: usize, commits: usize) -> (PathBuf, Vec<Repo<'_>>) {
        let seed = self.repo("seed", commits);
        let origin = self.path("origin.git");
        seed.git(&["clone", "-q", "--bare", ".", origin.to_str().unwrap()]);
        let mut clones = Vec::new();
        for i in 0..n {
            let name = format!("clone{i}");
            let dir = self.path(&name);
            let mut cmd = Command::new("git");
            self.env(&mut cmd);
            let out = cmd
                .args([
                    "clone",
                    "-q",
                    origin.to_str().unwrap(),
                    dir.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let repo = Repo { dir, world: self };
            repo.git(&["config", "user.email", &format!("user{i}@example.com")]);
            repo.git(&["config", "user.name", &format!("User {i}")]);
            clones.push(repo);
        }
        (origin, clones)
    }
}

pub struct Repo<'w> {
    pub dir: PathBuf,
    pub world: &'w World,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Asserts that stderr says `text`, showing all of it when not.
    #[track_caller]
    pub fn says(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr does not say {text:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Polls `done` until it holds; fails the test naming `what` after `within`. For
/// what another process does in its own time (never a bound on how fast it is).
#[track_caller]
pub fn eventually(what: &str, within: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
}

impl Repo<'_> {
    pub fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        self.world.env(&mut cmd);
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        cmd
    }

    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.cmd("git").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn train(&self, args: &[&str]) -> Run {
        Run::of(self.cmd(BIN).args(args).output().unwrap())
    }

    /// A commit by the world's author; its sha.
    pub fn commit(&self, message: &str) -> String {
        self.commit_by(None, message)
    }

    /// A commit by `author` ("Name <email>"); its sha.
    pub fn commit_as(&self, author: &str, message: &str) -> String {
        self.commit_by(Some(author), message)
    }

    fn commit_by(&self, author: Option<&str>, message: &str) -> String {
        let file = self.dir.join("file.txt");
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(message);
        text.push('\n');
        std::fs::write(&file, text).unwrap();
        self.git(&["add", "file.txt"]);
        match author {
            Some(a) => self.git(&["commit", "-q", "--author", a, "-m", message]),
            None => self.git(&["commit", "-q", "-m", message]),
        };
        self.rev("HEAD")
    }

    pub fn rev(&self, rev: &str) -> String {
        self.git(&["rev-parse", rev]).trim().to_string()
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.join(rel), text).unwrap();
    }

    /// Writes `.train.toml` as `[checks] require = false` (deploys need no CI) and
    /// then `rest` (environments and the like).
    pub fn config_without_ci(&self, rest: &str) {
        self.write(".train.toml", &format!("{NO_CI}{rest}"));
    }

    /// Marks a commit green in the local CI ledger.
    pub fn ci_pass(&self, rev: &str) {
        self.train(&["report", "success", "--commit", rev, "--context", "build"])
            .ok();
    }

    /// The raw note text of a commit in a notes ref.
    pub fn note(&self, notes_ref: &str, rev: &str) -> String {
        let out = self
            .cmd("git")
            .args(["notes", "--ref", notes_ref, "show", rev])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Replaces a commit's deploy note with these bytes, as another tool would, with
    /// plain git.
    pub fn set_note(&self, rev: &str, bytes: &[u8]) {
        let file = self.world.path("note.bin");
        std::fs::write(&file, bytes).unwrap();
        self.git(&[
            "notes",
            "--ref",
            "deploys",
            "add",
            "-f",
            "-F",
            file.to_str().unwrap(),
            rev,
        ]);
    }

    /// Every event line of the deploy ledger, as plain git reads it.
    pub fn all_lines(&self) -> Vec<String> {
        let list = self
            .cmd("git")
            .args(["notes", "--ref", "deploys", "list"])
            .output()
            .unwrap();
        let mut lines = Vec::new();
        for row in String::from_utf8_lossy(&list.stdout).lines() {
            let blob = row.split_whitespace().next().unwrap();
            let text = self.git(&["cat-file", "-p", blob]);
            lines.extend(text.lines().map(str::to_string));
        }
        lines.sort();
        lines
    }
}

impl Repo<'_> {
    /// git-train with its clock fixed at `now` (`GIT_TRAIN_NOW`): what it records is
    /// dated then, and what is dated more than an hour later does not count yet.
    pub fn train_at(&self, now: &str, args: &[&str]) -> Run {
        Run::of(
            self.cmd(BIN)
                .env("GIT_TRAIN_NOW", now)
                .args(args)
                .output()
                .unwrap(),
        )
    }
}
