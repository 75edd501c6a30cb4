//! `.git/train/index/ids`: every deployment id of the index's deployments file, with
//! where its line starts, sorted by id. `report --deployment` and every lookup by id
//! read a few of its pages (a binary search) instead of searching the whole
//! deployments file (13 MB on a ledger of 71,000 deployments: a quarter of a
//! `report`).
//!
//! Its first line names the deployments file it was written for (length, and on
//! Unix inode and modification time): written after that file, it is ignored when
//! the two do not match (a crash between the two writes, a reader between them),
//! and the caller searches the deployments file itself.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::error::Result;
use crate::file::write_parts_atomically;

const MAGIC: &str = "git-train-ids 1";

/// What identifies one version of the deployments file.
fn stamp(meta: &fs::Metadata) -> String {
    let mut stamp = meta.len().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let _ = write!(
            stamp,
            " {} {}.{}",
            meta.ino(),
            meta.mtime(),
            meta.mtime_nsec()
        );
    }
    #[cfg(not(unix))]
    if let Ok(at) = meta.modified() {
        let _ = write!(stamp, " {at:?}");
    }
    stamp
}

/// Writes the ids of `text`, the deployments file just written in `dir`.
pub fn write(dir: &Path, text: &str) -> Result<()> {
    Ids::of(&[text]).write(dir)
}

/// The lines of an ids file, before the deployments file they describe is written
/// (so that they are found while it is).
pub struct Ids(String);

impl Ids {
    /// The ids of the deployments file made of `parts`, one after the other (each
    /// of whole lines).
    pub fn of(parts: &[&str]) -> Ids {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut ids: Vec<(&str, usize)> = Vec::with_capacity(len / 150);
        let mut at = 0;
        for line in parts.iter().flat_map(|p| p.split_inclusive('\n')) {
            if let Some(dep) = super::index::line_dep(line) {
                ids.push((dep, at));
            }
            at += line.len();
        }
        // By id, then by place: the first line of an id is the first in the file.
        ids.sort_unstable();
        let mut out = String::with_capacity(ids.len() * 36);
        for (dep, at) in ids {
            out.push_str(dep);
            out.push(' ');
            out.push_str(itoa::Buffer::new().format(at));
            out.push('\n');
        }
        Ids(out)
    }

    /// Writes them for the deployments file now in `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let meta = fs::metadata(dir.join("deployments"))?;
        let head = format!("{MAGIC} {}\n", stamp(&meta));
        write_parts_atomically(&dir.join("ids"), &[head.as_bytes(), self.0.as_bytes()])
    }
}

/// Where the lines of deployment `dep` start in the deployments file described by
/// `deployments`, in file order; None when the ids file is missing, unreadable or
/// written for another version of that file.
pub fn offsets(dir: &Path, deployments: &fs::Metadata, dep: &str) -> Option<Vec<usize>> {
    let file = fs::File::open(dir.join("ids")).ok()?;
    let map = super::mmap::Mapped::open(&file)?;
    let text = map.bytes();
    let nl = memchr::memchr(b'\n', text)?;
    if text[..nl] != *format!("{MAGIC} {}", stamp(deployments)).as_bytes() {
        return None;
    }
    let body = &text[nl + 1..];
    let line_at = |start: usize| {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        (&body[start..end], end)
    };
    fn id_of(line: &[u8]) -> &[u8] {
        let space = memchr::memchr(b' ', line).unwrap_or(line.len());
        &line[..space]
    }
    // The first line whose id is not below `dep`: `lo` and `hi` are line starts.
    let (mut lo, mut hi) = (0, body.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = memchr::memrchr(b'\n', &body[lo..mid]).map_or(lo, |i| lo + i + 1);
        let (line, end) = line_at(start);
        if id_of(line) < dep.as_bytes() {
            lo = (end + 1).min(body.len());
        } else {
            hi = start;
        }
    }
    let mut found = Vec::new();
    let mut at = lo;
    while at < body.len() {
        let (line, end) = line_at(at);
        if id_of(line) != dep.as_bytes() {
            break;
        }
        let offset = std::str::from_utf8(&line[dep.len()..]).ok()?.trim();
        found.push(offset.parse().ok()?);
        at = end + 1;
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(commit: char, dep: &str) -> String {
        format!(
            "{} {dep} production 1 success - - by - 0 - - - - - -\n",
            commit.to_string().repeat(40)
        )
    }

    #[test]
    fn every_line_of_an_id_is_found_in_file_order_and_a_stale_file_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let deps = ["01B", "01A", "01C", "01A", "01", "01AA", "01Z"];
        let text: String = deps
            .iter()
            .enumerate()
            .map(|(i, d)| line(char::from(b'a' + i as u8), d))
            .collect();
        let starts: Vec<usize> = text
            .split_inclusive('\n')
            .scan(0, |at, l| {
                let start = *at;
                *at += l.len();
                Some(start)
            })
            .collect();
        let path = dir.path().join("deployments");
        fs::write(&path, &text).unwrap();
        // Made from two parts (01A in both) as a rebuild makes it: as from one.
        let (first, second) = text.split_at(starts[2]);
        let ids = Ids::of(&[first, second]);
        assert_eq!(ids.0, Ids::of(&[&text]).0);
        ids.write(dir.path()).unwrap();
        let meta = fs::metadata(&path).unwrap();
        for dep in ["01B", "01A", "01C", "01", "01AA", "01Z"] {
            let want: Vec<usize> = deps
                .iter()
                .zip(&starts)
                .filter(|(d, _)| **d == dep)
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(offsets(dir.path(), &meta, dep), Some(want), "{dep}");
            let at = offsets(dir.path(), &meta, dep).unwrap()[0];
            assert_eq!(text[at..].split(' ').nth(1), Some(dep));
        }
        for missing in ["0", "01AB", "01D", "02", "zzz"] {
            assert_eq!(
                offsets(dir.path(), &meta, missing),
                Some(vec![]),
                "{missing}"
            );
        }
        // The deployments file rewritten (a line more): these ids no longer hold.
        fs::write(&path, format!("{text}{}", line('z', "01Y"))).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(offsets(dir.path(), &meta, "01A"), None);
        fs::remove_file(dir.path().join("ids")).unwrap();
        assert_eq!(offsets(dir.path(), &meta, "01A"), None);
    }
}
