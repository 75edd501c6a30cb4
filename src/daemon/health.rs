//! What the daemon tells about itself: `$XDG_STATE_HOME/git-train/daemon-status.json`
//! (else `~/.local/state/git-train/`), written when a round of the watched
//! repositories ends and something in it changed (when only the times of the rounds
//! moved, every 10 seconds at most), read by `git train daemon status`.
//! Whether a daemon runs is asked of its lock (held while it runs, released by the
//! kernel when it dies), not of the file, which a killed daemon leaves behind.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::error::{Error, Kind, Result};

pub const VERSION: u32 = 1;

/// The file's content.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Health {
    pub version: u32,
    pub pid: u32,
    pub started_at: Timestamp,
    /// When the daemon last finished a round of its repositories.
    pub updated_at: Timestamp,
    pub poll_secs: u64,
    /// The per-user config file with the watch list.
    pub config: String,
    pub repositories: Vec<RepoHealth>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RepoHealth {
    /// The watch-list entry (its work tree).
    pub path: String,
    /// How notifications name it.
    pub name: String,
    /// Another work tree of this watched repository: told through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    /// Its refs are watched (else: polled only).
    pub refs_watched: bool,
    /// When its last round ended.
    pub last_round: Option<Timestamp>,
    /// When a round last ended without a problem (its forge answered).
    pub last_answer: Option<Timestamp>,
    /// Why its last round did not get an answer.
    pub problem: Option<Problem>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// No GitHub token: none in GH_TOKEN/GITHUB_TOKEN, `gh` or git's credentials.
    NoToken,
    /// GitHub refused the token (401).
    Unauthorized,
    /// The forge did not answer (refused, reset, timed out) or failed (5xx).
    Unreachable,
    /// The rate limit is used up.
    RateLimited,
    /// The path is not a repository (any more, or not yet).
    NotARepository,
    /// Anything else: the message says.
    Other,
}

impl ProblemKind {
    pub fn words(self) -> &'static str {
        match self {
            ProblemKind::NoToken => "no token",
            ProblemKind::Unauthorized => "token refused (401)",
            ProblemKind::Unreachable => "unreachable",
            ProblemKind::RateLimited => "rate limited",
            ProblemKind::NotARepository => "not a repository",
            ProblemKind::Other => "failed",
        }
    }

    /// What a round's error was, from the errors the forge and the ledger make.
    pub fn of(e: &Error) -> ProblemKind {
        let m = e.message.as_str();
        if m.starts_with("no GitHub token") {
            ProblemKind::NoToken
        } else if m.starts_with("GitHub refused the token") {
            ProblemKind::Unauthorized
        } else if m.starts_with("GitHub's rate limit") {
            ProblemKind::RateLimited
        } else if m.starts_with("could not reach") || m.starts_with("GitHub failed") {
            ProblemKind::Unreachable
        } else if m.starts_with("not a git repository") || m.starts_with("not a repository") {
            ProblemKind::NotARepository
        } else if e.kind == Kind::Forge {
            ProblemKind::Unreachable
        } else {
            ProblemKind::Other
        }
    }
}

pub fn path() -> Result<PathBuf> {
    Ok(super::config::state_dir()?.join("daemon-status.json"))
}

impl Health {
    /// The same but for when things happened: rounds that only moved the times
    /// need not be written each time.
    pub fn same_but_times(&self, other: &Health) -> bool {
        let timeless = |h: &Health| {
            let mut h = h.clone();
            h.updated_at = Timestamp(0);
            for r in &mut h.repositories {
                r.last_round = None;
                r.last_answer = None;
            }
            h
        };
        timeless(self) == timeless(other)
    }

    /// The file as the last daemon left it; None when there is none (or it cannot
    /// be read: it is only ever rewritten whole).
    pub fn read(path: &Path) -> Option<Health> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<Health>(&bytes)
            .ok()
            .filter(|h| h.version == VERSION)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(e.to_string()))?;
        crate::file::write_atomically(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::github::client::ApiError;

    #[test]
    fn problems_are_told_apart_by_the_errors_the_forge_makes() {
        let api = "http://127.0.0.1:1";
        let kind = |e: ApiError| ProblemKind::of(&e.into_error("list deployments", api));
        assert_eq!(
            kind(ApiError::Status {
                status: 401,
                message: "Bad credentials".into(),
                errors: Vec::new()
            }),
            ProblemKind::Unauthorized
        );
        assert_eq!(
            kind(ApiError::Transport("connection refused".into())),
            ProblemKind::Unreachable
        );
        assert_eq!(
            kind(ApiError::Status {
                status: 502,
                message: "Bad Gateway".into(),
                errors: Vec::new()
            }),
            ProblemKind::Unreachable
        );
        assert_eq!(
            kind(ApiError::RateLimited { until_secs: None }),
            ProblemKind::RateLimited
        );
        let none = crate::forge::github::auth::no_token("github.com");
        assert_eq!(ProblemKind::of(&none), ProblemKind::NoToken);
    }
}
