//! A set of commits kept in a file of `.git/train/`, for facts about a commit that
//! its content decides and so never change: `.git/train/rollback-safe` holds the
//! commits read and found without a `Rollback: unsafe` trailer. A rollback over
//! 3,000 commits reads 3,000 messages (20 ms through `git cat-file`, more through
//! libgit2); the next rollback over them reads none.
//!
//! The file is a header line naming what the set means (its version changes when
//! the rule that decides it does), then the ids as sorted 20-byte records, looked
//! up by binary search in the mapped file. A missing or foreign file is an empty
//! set; writers replace it whole (the last of two racing writers wins, and what
//! the other added is only read again later).

use std::path::{Path, PathBuf};

use crate::domain::CommitId;
use crate::error::Result;

const RECORD: usize = 20;

pub struct CommitSet {
    path: PathBuf,
    header: String,
    map: Option<super::mmap::Mapped>,
}

impl CommitSet {
    /// The set in `path`, if its header is `header` (else empty).
    pub fn open(path: &Path, header: &str) -> CommitSet {
        let header = format!("{header}\n");
        let map = std::fs::File::open(path)
            .ok()
            .and_then(|f| super::mmap::Mapped::open(&f))
            .filter(|m| {
                let b = m.bytes();
                b.starts_with(header.as_bytes()) && (b.len() - header.len()) % RECORD == 0
            });
        CommitSet {
            path: path.to_path_buf(),
            header,
            map,
        }
    }

    fn records(&self) -> &[u8] {
        self.map
            .as_ref()
            .map_or(&[][..], |m| &m.bytes()[self.header.len()..])
    }

    pub fn contains(&self, commit: CommitId) -> bool {
        let oid: git2::Oid = commit.into();
        let records = self.records();
        let key = oid.as_bytes();
        let (mut lo, mut hi) = (0, records.len() / RECORD);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match records[mid * RECORD..(mid + 1) * RECORD].cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// Writes the set with `more` added (nothing when they are all in it).
    pub fn add(&self, more: &[CommitId]) -> Result<()> {
        let mut new: Vec<[u8; RECORD]> = more
            .iter()
            .filter(|c| !self.contains(**c))
            .filter_map(|&c| git2::Oid::from(c).as_bytes().try_into().ok())
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        new.sort_unstable();
        new.dedup();
        let old = self.records().chunks_exact(RECORD);
        let mut out = Vec::with_capacity(self.header.len() + (old.len() + new.len()) * RECORD);
        out.extend_from_slice(self.header.as_bytes());
        // Both sorted: merged in order.
        let mut new = new.iter().peekable();
        for record in old {
            while let Some(n) = new.next_if(|n| n.as_slice() < record) {
                out.extend_from_slice(n);
            }
            out.extend_from_slice(record);
        }
        for n in new {
            out.extend_from_slice(n);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::file::write_atomically(&self.path, &out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> CommitId {
        let hex = format!("{:08x}{}", n.wrapping_mul(2_654_435_761), "ab".repeat(16));
        CommitId::parse(&hex).unwrap()
    }

    #[test]
    fn holds_what_was_added_across_writes_and_nothing_under_another_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train/set");
        let set = CommitSet::open(&path, "test-set 1");
        assert!(!set.contains(id(1)));
        set.add(&(0..50).map(id).collect::<Vec<_>>()).unwrap();
        let set = CommitSet::open(&path, "test-set 1");
        set.add(&(25..120).step_by(3).map(id).collect::<Vec<_>>())
            .unwrap();
        let set = CommitSet::open(&path, "test-set 1");
        let mut held = 0;
        for n in 0..150 {
            let want = n < 50 || (25..120).step_by(3).any(|m| m == n);
            assert_eq!(set.contains(id(n)), want, "{n}");
            held += usize::from(want);
        }
        // Each once, sorted.
        let bytes = std::fs::read(&path).unwrap();
        let records: Vec<&[u8]> = bytes["test-set 1\n".len()..].chunks(RECORD).collect();
        assert_eq!(records.len(), held);
        assert!(records.windows(2).all(|w| w[0] < w[1]));
        assert!(!CommitSet::open(&path, "test-set 2").contains(id(1)));
        std::fs::write(&path, "test-set 1\nshort").unwrap();
        assert!(!CommitSet::open(&path, "test-set 1").contains(id(1)));
    }
}
