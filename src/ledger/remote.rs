//! The team's remote, reached through the `git` program so the user's credentials,
//! ssh set-up and proxies apply (DESIGN.md section 3). Everything local is libgit2.
//!
//! Every `git fetch` and `git push` runs under a timeout (`remote_timeout` in
//! .train.toml, default 60 s), in a process group of its own, so that a remote that
//! accepts the connection and never answers cannot hang a command: at the timeout
//! the whole group (git, ssh, a credential helper) is killed.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::repo::Repo;
use crate::config::Config;
use crate::error::{Error, Kind, Result};

pub struct Remote {
    pub name: String,
    workdir: PathBuf,
    timeout: Duration,
}

/// The outcome of pushing one ref.
#[derive(Debug, PartialEq, Eq)]
pub enum PushStatus {
    Done,
    /// The remote had moved, or the lease did not hold: read again and retry.
    Rejected(String),
    /// The server refused the update (a hook, a protected ref, permissions): its
    /// reason, and what it said (the `remote:` lines). Retrying will not help.
    Refused {
        reason: String,
        said: Vec<String>,
    },
}

impl PushStatus {
    /// A refusal as one text: the reason, then the server's lines.
    pub fn refusal(reason: &str, said: &[String]) -> String {
        let mut text = reason.to_string();
        for line in said {
            text.push_str("\nremote: ");
            text.push_str(line);
        }
        text
    }
}

impl Remote {
    /// The repository's configured remote (`remote` in .train.toml), if it has it.
    pub fn of(repo: &Repo, config: &Config) -> Option<Remote> {
        let name = config.remote_name();
        if !repo.has_remote(name) {
            return None;
        }
        Some(Remote {
            name: name.to_string(),
            workdir: repo.workdir(),
            timeout: config.remote_timeout(),
        })
    }

    fn git(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.workdir)
            .stdin(Stdio::null())
            // A sync must never hang on a password prompt.
            .env("GIT_TERMINAL_PROMPT", "0");
        cmd
    }

    fn unreachable(&self, what: &str, stderr: &[u8]) -> Error {
        let text = String::from_utf8_lossy(stderr);
        let detail = reason(&text);
        Error::new(
            Kind::Forge,
            format!("could not {what} {}: {}", self.name, printable(detail)),
        )
        .hint(
            "check the network and your access (`git fetch` should work); --offline works without the remote",
        )
    }

    /// Runs git under the timeout, its output collected; at the timeout its process
    /// group is killed and the error names the remote and the setting.
    fn run(&self, what: &str, mut cmd: Command) -> Result<Output> {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: at the timeout, git and everything it started (ssh, a
            // credential helper) are killed together.
            .process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(2) is async-signal-safe. A Ctrl-C reaches only git-train's
        // own process group, so the child is made to die with git-train (strictly:
        // with the thread that spawns it, the main thread in every command).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::internal(format!("cannot run git: {e}"))
                .hint("git-train needs the git program on PATH")
        })?;
        let deadline = Instant::now() + self.timeout;
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        let status = match wait_until(&mut child, deadline)? {
            Some(status) => status,
            None => {
                crate::interrupt::signal_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                return Err(self.timed_out(what));
            }
        };
        // Output left open by something that outlived git is not waited for long.
        let grace = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        let stdout = stdout.recv_timeout(grace).unwrap_or_default();
        let stderr = stderr.recv_timeout(grace).unwrap_or_default();
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    fn timed_out(&self, what: &str) -> Error {
        let limit = humantime::format_duration(self.timeout);
        let pushed = if what == "push to" {
            " (a push cut off may still have reached it: `git train sync` and `git train locks` show)"
        } else {
            ""
        };
        Error::new(
            Kind::Forge,
            format!(
                "could not {what} {name}: {name} did not answer within {limit}{pushed}",
                name = self.name
            ),
        )
        .hint(format!(
            "check the network and that `git fetch {}` works; git-train waits `remote_timeout` ({limit}, in .train.toml) for the remote; --offline works without it",
            self.name
        ))
    }

    /// Fetches the remote's ledgers into `refs/train/remotes/REMOTE/*` and mirrors its
    /// locks into `refs/train/locks/*`. Never force-fetches into `refs/notes/*`.
    pub fn fetch(&self, ledgers: &[&str]) -> Result<()> {
        self.fetch_also(ledgers, &[])
    }

    /// `fetch`, and in the same `git fetch` the refspecs in `also` (trunk before a
    /// deploy: `+refs/heads/main:refs/remotes/origin/main`).
    pub fn fetch_also(&self, ledgers: &[&str], also: &[String]) -> Result<()> {
        // Two commands of one clone fetching at once can meet on a local ref (git:
        // "cannot lock ref ...: is at X but expected Y"): the other one got there
        // first, so fetch again (a few times) rather than fail.
        let mut attempt = 0;
        loop {
            let mut cmd = self.git();
            cmd.args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--prune",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
            ])
            .arg(&self.name);
            for ledger in ledgers {
                // A pattern, so a remote that has no such ref yet is not an error.
                cmd.arg(format!("+refs/notes/{ledger}*:{}*", self.tracking(ledger)));
            }
            cmd.arg("+refs/train/locks/*:refs/train/locks/*");
            cmd.arg("+refs/train/leases/*:refs/train/leases/*");
            cmd.args(also);
            let out = self.run("fetch from", cmd)?;
            if out.status.success() {
                return Ok(());
            }
            let raced = String::from_utf8_lossy(&out.stderr).contains("cannot lock ref");
            attempt += 1;
            if !raced || attempt >= 8 {
                return Err(self.unreachable("fetch from", &out.stderr));
            }
            std::thread::sleep(std::time::Duration::from_millis(30 * attempt));
        }
    }

    /// Where the remote's copy of a ledger is kept.
    pub fn tracking(&self, ledger: &str) -> String {
        format!("refs/train/remotes/{}/{ledger}", self.name)
    }

    /// Pushes refspecs without force (leases where given), one status per refspec.
    /// A lease (`--force-with-lease=REF:EXPECT`) lets a refspec replace what REF holds
    /// only while it holds EXPECT; a `+` refspec would disable that check, so
    /// compare-and-swap callers never use one.
    pub fn push(&self, refspecs: &[String], leases: &[String]) -> Result<Vec<PushStatus>> {
        let mut cmd = self.git();
        // --no-verify: these are git-train's own refs; a user's pre-push hook (tests,
        // linters) has nothing to check in them.
        cmd.args(["push", "--porcelain", "--no-verify"]);
        for lease in leases {
            cmd.arg(format!("--force-with-lease={lease}"));
        }
        cmd.arg(&self.name).args(refspecs);
        let out = self.run("push to", cmd)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let said = remote_lines(&out.stderr);
        let mut statuses = Vec::new();
        for spec in refspecs {
            let line = stdout
                .lines()
                .find(|l| pushed_to(l) == Some(destination(spec)));
            statuses.push(match line {
                Some(l) if l.starts_with('!') => {
                    status_of_refusal(l.split('\t').nth(2).unwrap_or(""), &said)
                }
                Some(_) => PushStatus::Done,
                None => return Err(self.unreachable("push to", &out.stderr)),
            });
        }
        Ok(statuses)
    }
}

/// The ref a refspec writes: `[+]SRC:DST` (SRC empty for a delete).
fn destination(spec: &str) -> &str {
    spec.rsplit_once(':').map(|(_, dst)| dst).unwrap_or(spec)
}

/// The ref of a `git push --porcelain` status line, `FLAG \t FROM:TO \t SUMMARY`.
/// FROM is a ref, an object id or `(delete)`; ref names cannot hold a `:`.
fn pushed_to(line: &str) -> Option<&str> {
    line.split('\t').nth(1)?.rsplit_once(':').map(|(_, to)| to)
}

/// `[rejected] (fetch first)`, `(non-fast-forward)`, `(stale info)`: the remote
/// moved. `[remote rejected] (REASON)`: the server said no, unless REASON is its ref
/// update losing a race (the ref moved at the server meanwhile).
fn status_of_refusal(summary: &str, said: &[String]) -> PushStatus {
    let summary = printable(summary.trim());
    let Some(reason) = summary.strip_prefix("[remote rejected]") else {
        return PushStatus::Rejected(summary);
    };
    let reason = reason.trim().trim_start_matches('(').trim_end_matches(')');
    let raced = ["failed to update ref", "failed to delete", "failed to lock"]
        .iter()
        .any(|r| reason.starts_with(r))
        || said.iter().any(|l| l.contains("cannot lock ref"));
    if raced {
        return PushStatus::Rejected(summary);
    }
    PushStatus::Refused {
        reason: reason.to_string(),
        said: said.to_vec(),
    }
}

/// Why git could not reach a remote, from its stderr: its first `fatal:` (or
/// `error:`) line, which names the cause ("'/srv/x' does not appear to be a git
/// repository", "Failed to connect to ... Connection refused"), not the last line of
/// its advice ("and the repository exists."). When that line is only git's generic
/// "Could not read from remote repository.", the line before it (ssh's own reason)
/// says more.
fn reason(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let first = lines
        .iter()
        .position(|l| l.starts_with("fatal:") || l.starts_with("error:"));
    match first {
        Some(i) => {
            let line = lines[i];
            let said = line
                .strip_prefix("fatal:")
                .or_else(|| line.strip_prefix("error:"))
                .unwrap_or(line)
                .trim();
            if said.starts_with("Could not read from remote repository") && i > 0 {
                lines[i - 1]
            } else {
                said
            }
        }
        None => lines.last().copied().unwrap_or(""),
    }
}

/// What the server said, from git's stderr: the `remote:` lines, made printable.
fn remote_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(|l| printable(l.trim()))
        .filter(|l| !l.is_empty())
        .take(20)
        .collect()
}

/// Text from a server or from git's stderr, with control characters shown as `?`
/// (error messages reach the terminal as they are).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Reads a pipe to its end in a thread; the bytes arrive on the channel.
fn collect(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(bytes);
        });
    }
    rx
}

/// Waits for the child until the deadline; None when it is still running then.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<std::process::ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_lines_are_matched_by_the_ref_they_write() {
        assert_eq!(
            pushed_to("!\t(delete):refs/train/locks/staging\t[rejected] (stale info)"),
            Some("refs/train/locks/staging")
        );
        assert_eq!(
            destination(":refs/train/locks/staging"),
            "refs/train/locks/staging"
        );
        assert_eq!(
            pushed_to("*\tabc123:refs/train/locks/x\t[new reference]"),
            Some("refs/train/locks/x")
        );
        assert_eq!(destination("refs/notes/ci:refs/notes/ci"), "refs/notes/ci");
    }

    #[test]
    fn a_server_refusal_is_told_from_a_moved_remote() {
        let said = vec!["frozen until 18:00".to_string()];
        assert_eq!(
            status_of_refusal("[remote rejected] (pre-receive hook declined)", &said),
            PushStatus::Refused {
                reason: "pre-receive hook declined".into(),
                said: said.clone()
            }
        );
        assert!(matches!(
            status_of_refusal("[rejected] (fetch first)", &said),
            PushStatus::Rejected(_)
        ));
        assert!(matches!(
            status_of_refusal("[remote rejected] (failed to update ref)", &[]),
            PushStatus::Rejected(_)
        ));
        assert_eq!(printable("a\u{1b}[2Jb"), "a?[2Jb");
    }
}

#[cfg(test)]
mod reasons {
    use super::reason;

    #[test]
    fn the_reason_is_gits_first_fatal_line_not_its_advice() {
        let missing = "fatal: '/srv/nope' does not appear to be a git repository\n\
                       fatal: Could not read from remote repository.\n\n\
                       Please make sure you have the correct access rights\n\
                       and the repository exists.\n";
        assert_eq!(
            reason(missing),
            "'/srv/nope' does not appear to be a git repository"
        );
        let ssh = "ssh: connect to host git.example port 22: Connection refused\r\n\
                   fatal: Could not read from remote repository.\n\n\
                   Please make sure you have the correct access rights\n\
                   and the repository exists.\n";
        assert_eq!(
            reason(ssh),
            "ssh: connect to host git.example port 22: Connection refused"
        );
        let http = "fatal: unable to access 'http://127.0.0.1:9/x/': Failed to connect to \
                    127.0.0.1 port 9 after 0 ms: Couldn't connect to server\n";
        assert!(reason(http).starts_with("unable to access"));
        assert_eq!(reason("something odd\n\n"), "something odd");
        assert_eq!(reason(""), "");
    }
}
