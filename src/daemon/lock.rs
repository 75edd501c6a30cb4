//! One daemon per user: an exclusive `flock` on `$XDG_RUNTIME_DIR/git-train/daemon.lock`
//! (else the per-user config folder). The kernel releases it when the holder dies, so
//! a lock left by a dead process is simply taken over; the file holds the holder's pid
//! for the message a second daemon gives.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ledger::lockfile::LockFile;

pub struct DaemonLock {
    /// Held: dropping it releases the lock.
    _lock: LockFile,
    pub path: PathBuf,
}

/// Where the lock lives.
pub fn path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        if dir.is_absolute() && dir.is_dir() {
            return Ok(dir.join("git-train").join("daemon.lock"));
        }
    }
    Ok(super::config::config_dir()?.join("daemon.lock"))
}

/// Whether a daemon holds the lock now, and its pid: asked with a shared lock that
/// is let go at once, so nothing is taken from a daemon that runs.
pub fn holder(path: &Path) -> Option<Option<u32>> {
    use std::io::Read;
    use std::os::unix::io::AsRawFd;
    let mut file = std::fs::File::open(path).ok()?;
    // SAFETY: flock(2) on a descriptor this function owns.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        // Closing the file lets it go; a daemon starting this instant retries.
        return None;
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    Some(text.trim().parse().ok())
}

impl DaemonLock {
    pub fn acquire(path: &Path) -> Result<DaemonLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
        }
        match LockFile::try_acquire(path) {
            Ok(lock) => Ok(DaemonLock {
                _lock: lock,
                path: path.to_path_buf(),
            }),
            Err(held) => {
                let holder = held
                    .pid
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default();
                Err(Error::refused(format!(
                    "another git-train daemon is already running for this user{holder}"
                ))
                .hint(format!(
                    "one is enough: it watches every repository in your watch list (lock: {})",
                    path.display()
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_a_dead_ones_lock_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("git-train/daemon.lock");
        // Left by a process that died: the file is there, the lock is not.
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "999999999\n").unwrap();
        let first = DaemonLock::acquire(&path).unwrap();
        let pid = std::process::id();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{pid}\n"));
        let second = DaemonLock::acquire(&path).err().unwrap();
        assert_eq!(second.exit_code(), 1);
        assert!(
            second.message.contains(&format!("(pid {pid})")),
            "{}",
            second.message
        );
        assert_eq!(holder(&path), Some(Some(pid)));
        drop(first);
        assert_eq!(holder(&path), None);
        DaemonLock::acquire(&path).unwrap();
    }
}
