//! Locks between git-train processes: an exclusive `flock` on a file. The kernel
//! releases it when the holder exits, however it exits, so a lock is never left
//! behind and two processes never hold it at once. The file holds the holder's pid
//! for messages.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub struct LockFile {
    /// Held open: closing it releases the lock. None where the file cannot be made
    /// (a read-only `.git`): the work then runs unlocked, every step being idempotent.
    _file: Option<File>,
}

/// Who holds a lock that could not be taken.
pub struct Held {
    pub pid: Option<u32>,
}

impl LockFile {
    /// Takes the lock, waiting up to `patience` for the holder to finish.
    pub fn acquire(path: &Path, patience: Duration) -> Result<LockFile> {
        let deadline = Instant::now() + patience;
        loop {
            match LockFile::try_acquire(path) {
                Ok(lock) => return Ok(lock),
                Err(held) if Instant::now() < deadline => {
                    let _ = held;
                    std::thread::sleep(Duration::from_millis(3));
                }
                Err(held) => {
                    let who = held.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                    return Err(Error::refused(format!(
                        "another git-train{who} has held {} for {}s",
                        path.display(),
                        patience.as_secs()
                    ))
                    .hint("wait for it to finish, then try again"));
                }
            }
        }
    }

    /// Takes the lock if nobody holds it.
    pub fn try_acquire(path: &Path) -> std::result::Result<LockFile, Held> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path);
        let Ok(mut file) = file else {
            return Ok(LockFile { _file: None });
        };
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(Held {
                pid: text.trim().parse().ok(),
            });
        }
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = writeln!(file, "{}", std::process::id());
        Ok(LockFile { _file: Some(file) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = LockFile::try_acquire(&path).ok().unwrap();
        let held = LockFile::try_acquire(&path).err().unwrap();
        assert_eq!(held.pid, Some(std::process::id()));
        assert!(LockFile::acquire(&path, Duration::from_millis(20)).is_err());
        drop(first);
        assert!(LockFile::acquire(&path, Duration::from_millis(20)).is_ok());
    }
}
