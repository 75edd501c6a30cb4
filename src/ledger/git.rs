//! Where libgit2's types meet git-train's: object ids, errors, and the signature the
//! ledger's commits are made with.

use git2::{Oid, Repository, Signature};

use crate::domain::CommitId;
use crate::error::Error;

impl From<Oid> for CommitId {
    fn from(oid: Oid) -> CommitId {
        let mut bytes = [0u8; 20];
        // libgit2 is built for SHA-1 here: an id is 20 bytes.
        bytes.copy_from_slice(&oid.as_bytes()[..20]);
        CommitId::from_bytes(bytes)
    }
}

impl From<CommitId> for Oid {
    fn from(id: CommitId) -> Oid {
        Oid::from_bytes(id.as_bytes()).expect("20 bytes are a SHA-1 object id")
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Error {
        let message = e.message().to_string();
        let error = Error::internal(format!("git: {message}"));
        // What the file system refused: say what to check, wherever it was met.
        let error = if [
            "Read-only file system",
            "Permission denied",
            "No space left",
        ]
        .iter()
        .any(|m| message.contains(m))
        {
            error.hint("check that .git is writable and the disk has room; nothing was recorded")
        } else {
            error
        };
        error.with_source(e)
    }
}

/// Who git-train commits notes and locks as: the git user, else itself.
pub fn signature(git: &Repository) -> Result<Signature<'static>, git2::Error> {
    git.signature()
        .map(|s| s.to_owned())
        .or_else(|_| Signature::now("git-train", "git-train@localhost"))
}
