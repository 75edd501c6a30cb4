//! Ctrl-C, SIGTERM and SIGHUP while a deployment is open: caught, so the
//! deployment can be closed as `error` instead of being left `in_progress`; and the
//! processes a deployment runs: whether one lives, stopping its process group.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::SigId;

pub struct Interrupt {
    flag: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl Interrupt {
    /// Catches the signals until dropped.
    pub fn catch() -> Interrupt {
        let flag = Arc::new(AtomicBool::new(false));
        let ids = [SIGINT, SIGTERM, SIGHUP]
            .into_iter()
            .filter_map(|sig| signal_hook::flag::register(sig, Arc::clone(&flag)).ok())
            .collect();
        Interrupt { flag, ids }
    }

    pub fn happened(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Whether a process is still running. A zombie (dead, not yet waited for by its
/// parent: an init that does not reap, in a container) is not.
pub fn alive(pid: u32) -> bool {
    let Ok(id) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(id, 0) };
    let exists = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !zombie(pid)
}

/// The state field of `/proc/PID/stat` is `Z` (Linux; false elsewhere).
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The name may hold spaces and parentheses: the state follows the last ')'.
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("Z")
    })
}

/// Sends a signal to a whole process group.
pub fn signal_group(pgid: u32, signal: i32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        // SAFETY: plain kill(2) on a process group we started.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}

/// When a process started, in clock ticks since boot (`/proc/PID/stat`, field 22).
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// SIGKILL to the run command's process group, unless its number now belongs to
/// another process (the group is then empty: a number is not given again while a
/// group uses it). True when something was signalled.
pub fn stop_group(pgid: u32, start: Option<u64>) -> bool {
    if let (Some(want), Some(now)) = (start, process_start(pgid)) {
        if want != now {
            return false;
        }
    }
    let Ok(group) = i32::try_from(pgid) else {
        return false;
    };
    if group <= 1 {
        return false;
    }
    // SAFETY: kill(2) on the process group this deployment's run command had.
    unsafe { libc::kill(-group, libc::SIGKILL) == 0 }
}
