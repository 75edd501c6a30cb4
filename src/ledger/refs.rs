//! The refs under one prefix (`refs/train/deployed/`, `refs/train/locks/`), read the
//! way git reads them: the loose files under that folder, and the matching lines of
//! `packed-refs` found by binary search in the mapped file. libgit2's
//! `references_glob` parses and copies the whole packed-refs file first: 95% of the
//! pre-push hook at 51,000 refs (tags).
//!
//! Anything this does not expect (a ref it cannot read, an unsorted packed-refs
//! with a peeled line out of place) falls back to libgit2.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use git2::{Oid, Repository};

use super::mmap::Mapped;

/// Every direct ref whose name starts with `prefix` (which ends with `/`), by name.
pub fn under(git: &Repository, prefix: &str) -> Result<BTreeMap<String, Oid>, git2::Error> {
    match read(git.commondir(), prefix) {
        Some(refs) => Ok(refs),
        None => by_libgit2(git, prefix),
    }
}

fn by_libgit2(git: &Repository, prefix: &str) -> Result<BTreeMap<String, Oid>, git2::Error> {
    let mut out = BTreeMap::new();
    for r in git.references_glob(&format!("{prefix}*"))? {
        let r = r?;
        if let (Some(name), Some(oid)) = (r.name(), r.target()) {
            out.insert(name.to_string(), oid);
        }
    }
    Ok(out)
}

/// Whether any ref starts with `prefix` (e.g. `refs/replace/`).
pub fn any_under(git_dir: &Path, prefix: &str) -> bool {
    read(git_dir, prefix).is_none_or(|refs| !refs.is_empty())
}

fn read(git_dir: &Path, prefix: &str) -> Option<BTreeMap<String, Oid>> {
    let mut out = packed(git_dir, prefix)?;
    loose(&git_dir.join(prefix), prefix, &mut out)?;
    Some(out)
}

/// The loose refs under `dir` (named `prefix...`), over the packed ones.
fn loose(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Oid>) -> Option<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for entry in entries {
        let entry = entry.ok()?;
        let name = entry.file_name().into_string().ok()?;
        let refname = format!("{prefix}{name}");
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            loose(&entry.path(), &format!("{refname}/"), out)?;
            continue;
        }
        // A ref being written (git and libgit2 take `NAME.lock`); libgit2 skips them.
        if name.ends_with(".lock") {
            continue;
        }
        let text = match std::fs::read_to_string(entry.path()) {
            Ok(text) => text,
            // Deleted between listing and reading: it is gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.remove(&refname);
                continue;
            }
            Err(_) => return None,
        };
        let text = text.trim_end();
        if text.starts_with("ref:") {
            // Symbolic: libgit2's glob lists it without a direct target; not ours.
            out.remove(&refname);
            continue;
        }
        if text.len() != 40 {
            return None;
        }
        out.insert(refname, Oid::from_str(text).ok()?);
    }
    Some(())
}

/// The packed refs that start with `prefix`.
fn packed(git_dir: &Path, prefix: &str) -> Option<BTreeMap<String, Oid>> {
    let mut out = BTreeMap::new();
    let file = match File::open(git_dir.join("packed-refs")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(out),
        Err(_) => return None,
    };
    let map = Mapped::open(&file)?;
    let b = map.bytes();
    let mut start = 0;
    let mut sorted = false;
    if b.starts_with(b"# pack-refs with:") {
        let end = line_end(b, 0);
        sorted = b[..end]
            .split(|&c| c == b' ')
            .any(|t| t == b"sorted" || t == b"sorted\n");
        start = (end + 1).min(b.len());
    }
    let mut at = if sorted {
        first_at_or_after(b, start, prefix.as_bytes())
    } else {
        start
    };
    while at < b.len() {
        let end = line_end(b, at);
        let line = &b[at..end];
        at = end + 1;
        if line.first() == Some(&b'^') || line.first() == Some(&b'#') || line.is_empty() {
            continue;
        }
        if line.len() < 42 || line[40] != b' ' {
            return None;
        }
        let name = &line[41..];
        if !name.starts_with(prefix.as_bytes()) {
            if sorted && name > prefix.as_bytes() {
                break;
            }
            continue;
        }
        let oid = Oid::from_str(std::str::from_utf8(&line[..40]).ok()?).ok()?;
        out.insert(std::str::from_utf8(name).ok()?.to_string(), oid);
    }
    Some(out)
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |i| from + i)
}

/// The start of the first record (`SHA NAME` line) from `lo` whose name is not
/// below `prefix`, in a sorted packed-refs: git's own binary search
/// (refs/packed-backend.c), where a record is its line and any `^` peeled lines.
fn first_at_or_after(b: &[u8], lo: usize, prefix: &[u8]) -> usize {
    let (mut lo, mut hi) = (lo, b.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // Back to the start of the record holding mid.
        let mut rec = mid;
        while rec > lo && (b[rec - 1] != b'\n' || b[rec] == b'^') {
            rec -= 1;
        }
        let end = line_end(b, rec);
        let name = b.get(rec + 41..end).unwrap_or(&[]);
        if name < prefix {
            // Past this record and its peeled lines.
            let mut next = line_end(b, mid) + 1;
            while next < hi && b[next] == b'^' {
                next = line_end(b, next) + 1;
            }
            lo = next.min(hi);
        } else {
            hi = rec;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_refs_under_a_prefix_are_found_sorted_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let sha = |n: u32| format!("{n:040x}");
        let mut names: Vec<String> = (0..500).map(|i| format!("refs/tags/v{i:04}")).collect();
        names.push("refs/train/deployed/production".into());
        names.push("refs/train/deployed/staging".into());
        names.push("refs/train/locks/production".into());
        names.push("refs/heads/main".into());
        names.sort();
        for sorted in [true, false] {
            let mut text = String::from(if sorted {
                "# pack-refs with: peeled fully-peeled sorted \n"
            } else {
                "# pack-refs with: peeled \n"
            });
            let mut order = names.clone();
            if !sorted {
                order.reverse();
            }
            for (i, n) in order.iter().enumerate() {
                text.push_str(&format!("{} {n}\n", sha(i as u32 + 1)));
                if n.starts_with("refs/tags/") {
                    text.push_str(&format!("^{}\n", sha(9000 + i as u32)));
                }
            }
            std::fs::write(dir.path().join("packed-refs"), &text).unwrap();
            let found = packed(dir.path(), "refs/train/deployed/").unwrap();
            let got: Vec<&str> = found.keys().map(String::as_str).collect();
            assert_eq!(
                got,
                [
                    "refs/train/deployed/production",
                    "refs/train/deployed/staging"
                ]
            );
            assert_eq!(packed(dir.path(), "refs/tags/").unwrap().len(), 500);
            assert_eq!(packed(dir.path(), "refs/heads/").unwrap().len(), 1);
            assert!(packed(dir.path(), "refs/replace/").unwrap().is_empty());
            assert_eq!(packed(dir.path(), "refs/train/").unwrap().len(), 3);
        }
    }
}
