//! The team's remote, reached through the `git` program so the user's credentials,
//! ssh set-up and proxies apply (DESIGN.md section 3). Everything local is libgit2.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, Kind, Result};

pub struct Remote {
    pub name: String,
    workdir: PathBuf,
}

/// The outcome of pushing one ref.
#[derive(Debug, PartialEq, Eq)]
pub enum PushStatus {
    Done,
    /// The remote had moved, or the lease did not hold.
    Rejected(String),
}

impl Remote {
    /// The configured remote, if the repository has it.
    pub fn find(repo: &crate::repo::Repo, name: &str) -> Option<Remote> {
        repo.git.find_remote(name).ok()?;
        Some(Remote {
            name: name.to_string(),
            workdir: repo.workdir(),
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
        let detail = String::from_utf8_lossy(stderr);
        let detail = detail
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        Error::new(Kind::Forge, format!("could not {what} {}: {detail}", self.name)).hint(
            "check the network and your access (`git fetch` should work); --offline works without the remote",
        )
    }

    /// Fetches the remote's ledgers into `refs/train/remotes/REMOTE/*` and mirrors its
    /// locks into `refs/train/locks/*`. Never force-fetches into `refs/notes/*`.
    pub fn fetch(&self, ledgers: &[&str]) -> Result<()> {
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
        let out = cmd.output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.unreachable("fetch from", &out.stderr))
        }
    }

    /// Where the remote's copy of a ledger is kept.
    pub fn tracking(&self, ledger: &str) -> String {
        format!("refs/train/remotes/{}/{ledger}", self.name)
    }

    /// Pushes refspecs without force (leases where given), one status per refspec.
    pub fn push(&self, refspecs: &[String], leases: &[String]) -> Result<Vec<PushStatus>> {
        let mut cmd = self.git();
        // --no-verify: these are git-train's own refs; a user's pre-push hook (tests,
        // linters) has nothing to check in them.
        cmd.args(["push", "--porcelain", "--no-verify"]);
        for lease in leases {
            cmd.arg(format!("--force-with-lease={lease}"));
        }
        cmd.arg(&self.name).args(refspecs);
        let out = cmd.output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut statuses = Vec::new();
        for spec in refspecs {
            let line = stdout
                .lines()
                .find(|l| l.split('\t').nth(1) == Some(spec.as_str()));
            statuses.push(match line {
                Some(l) if l.starts_with('!') => {
                    PushStatus::Rejected(l.split('\t').nth(2).unwrap_or("").to_string())
                }
                Some(_) => PushStatus::Done,
                None => return Err(self.unreachable("push to", &out.stderr)),
            });
        }
        Ok(statuses)
    }
}
