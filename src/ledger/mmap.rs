//! A file mapped read-only into memory, as git maps its commit-graph and packed-refs:
//! a lookup touches the pages it reads, not the whole file (12 MB of commit-graph or
//! 3.6 MB of packed-refs read per command would cost more than the lookups).

use std::fs::File;

#[cfg(not(unix))]
pub struct Mapped(Vec<u8>);

#[cfg(not(unix))]
impl Mapped {
    pub fn open(mut file: &File) -> Option<Mapped> {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
        Some(Mapped(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(unix)]
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

#[cfg(unix)]
impl Mapped {
    /// The whole file, or None when it cannot be mapped (then read it otherwise).
    pub fn open(file: &File) -> Option<Mapped> {
        let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
        if len == 0 {
            return Some(Mapped {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a private read-only mapping of a file git replaces by renaming,
        // never rewrites in place; it is unmapped in drop.
        let ptr = unsafe {
            use std::os::unix::io::AsRawFd;
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Mapped { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: ptr maps len readable bytes for as long as self lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

// SAFETY: the mapping is read-only and private; nothing writes through it, so any
// thread may read it, and it may be unmapped from any thread.
#[cfg(unix)]
unsafe impl Send for Mapped {}
#[cfg(unix)]
unsafe impl Sync for Mapped {}

#[cfg(unix)]
impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmaps exactly what open mapped.
            unsafe {
                libc::munmap(self.ptr, self.len);
            }
        }
    }
}
