//! A lock file between git-train processes working on one repository.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Serialises work on one repository between processes (index updates, syncs). The lock file holds the holder's
/// pid, so a lock left by a process that died is taken over at once.
pub struct LockFile(Option<PathBuf>);

impl LockFile {
    pub fn acquire(path: &Path) -> LockFile {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    let _ = write!(file, "{}", std::process::id());
                    return LockFile(Some(path.to_path_buf()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    let dead = holder.is_some_and(|pid| !crate::interrupt::alive(pid));
                    // An empty file is a holder between create and write: give it time.
                    let old = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(10));
                    if dead || (holder.is_none() && old) || std::time::Instant::now() > deadline {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(3));
                }
                // A read-only .git: work without the lock; every step is idempotent.
                Err(_) => return LockFile(None),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}
