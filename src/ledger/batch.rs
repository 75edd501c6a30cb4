//! Many objects at once through `git cat-file --batch`. Notes are stored as deltas
//! of one another; reading tens of thousands of them (an index rebuild) through
//! libgit2 spends most of its time in its delta-base cache, which evicts by scanning
//! every entry under a lock. git's own cache makes the same pass several times
//! faster. Thousands of commits (the messages a rollback passes) are also read
//! faster by git than looked up one by one through libgit2.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use git2::Oid;

use crate::error::{Error, Result};

/// Calls `each` with the index (in `blobs`) and content of every blob, in order.
/// None: git could not be started (the caller reads them another way).
pub fn each_blob(
    git_dir: &Path,
    blobs: &[Oid],
    each: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Option<Result<()>> {
    each_object(git_dir, "blob", blobs, each)
}

/// Calls `each` with the index (in `ids`) and raw content of every object, in
/// order; each must be of type `kind` (`blob`, `commit`). None: git could not be
/// started.
pub fn each_object(
    git_dir: &Path,
    kind: &str,
    ids: &[Oid],
    mut each: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Option<Result<()>> {
    let mut child = Command::new("git")
        // Objects as libgit2 reads them (it does not follow `refs/replace/`).
        .arg("--no-replace-objects")
        .arg("--git-dir")
        .arg(git_dir)
        // Answers buffered, not flushed one by one: git-train reads to the end.
        .args(["cat-file", "--batch", "--buffer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    let mut asked = String::with_capacity(ids.len() * 41);
    for id in ids {
        asked.push_str(&id.to_string());
        asked.push('\n');
    }
    let read = std::thread::scope(|scope| {
        // git answers while it is still being asked: the questions go from a thread
        // of their own, or both ends would wait on full pipes.
        scope.spawn(move || {
            let _ = stdin.write_all(asked.as_bytes());
        });
        let mut out = BufReader::with_capacity(1 << 16, stdout);
        let mut header = Vec::new();
        let mut body = Vec::new();
        let mut read = || -> Result<()> {
            for (i, id) in ids.iter().enumerate() {
                header.clear();
                out.read_until(b'\n', &mut header)?;
                let text = String::from_utf8_lossy(&header);
                let mut words = text.split_whitespace();
                let size = match (words.next(), words.next(), words.next()) {
                    (Some(_), Some(k), Some(size)) if k == kind => size.parse::<usize>().ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    Error::internal(format!(
                        "git cat-file: {kind} {id} is not readable ({})",
                        text.trim()
                    ))
                })?;
                body.resize(size + 1, 0);
                out.read_exact(&mut body)?;
                each(i, &body[..size])?;
            }
            Ok(())
        };
        let read = read();
        if read.is_err() {
            // Stops git before the asking thread is waited for: it may be blocked
            // writing to git, which is blocked writing answers no one reads.
            let _ = child.kill();
        }
        read
    });
    let status = child.wait();
    Some(read.and_then(|()| match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(Error::internal("git cat-file --batch failed")),
    }))
}
