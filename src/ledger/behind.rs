//! `.git/train/behind`: how far environments were found behind trunk tips, so that
//! `status` does not walk the same commits again. Each line is a fact about commits,
//! which never change: how many first-parent commits of TIP the commit BASE lacks
//! (counting at most LIMIT). `status` with an environment 15,000 commits behind
//! walked them all on every run (250 ms without a commit-graph, 3 ms with one);
//! now only when trunk moved, and then only the commits it gained when the
//! environment runs a commit of trunk's first-parent line.
//!
//! Only a cache: a missing, damaged or unwritable file is walked around. Not used
//! where git's view of history can change under the same ids (a shallow clone,
//! grafts, replace refs): `Repo::behind` decides. Read once per process, written
//! when `status` found something new.

use std::fmt::Write as _;
use std::path::Path;

use super::repo::Behind;
use crate::domain::CommitId;
use crate::error::Result;

const MAGIC: &str = "git-train behind 1";
/// Facts kept, newest first: a few per environment.
const KEEP: usize = 32;

/// What was found for one tip, base and limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Known {
    pub tip: CommitId,
    pub base: CommitId,
    pub limit: usize,
    pub behind: Behind,
    /// `base` is on the first-parent line of `tip`.
    pub reached: bool,
}

impl Known {
    fn line(&self, out: &mut String) {
        let flag = |b: bool| if b { "1" } else { "0" };
        let b = &self.behind;
        let _ = write!(
            out,
            "{} {} {} {} {} {} {} ",
            self.tip,
            self.base,
            self.limit,
            b.count,
            flag(b.complete),
            flag(b.on_trunk),
            flag(self.reached)
        );
        match b.oldest {
            Some(oldest) => {
                let _ = writeln!(out, "{oldest}");
            }
            None => out.push_str("-\n"),
        }
    }

    fn parse(line: &str) -> Option<Known> {
        let mut f = line.split(' ');
        let flag = |f: Option<&str>| match f? {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        };
        let known = Known {
            tip: CommitId::parse(f.next()?)?,
            base: CommitId::parse(f.next()?)?,
            limit: f.next()?.parse().ok()?,
            behind: Behind {
                count: f.next()?.parse().ok()?,
                complete: flag(f.next())?,
                on_trunk: flag(f.next())?,
                oldest: None,
            },
            reached: flag(f.next())?,
        };
        let oldest = match f.next()? {
            "-" => None,
            oldest => Some(CommitId::parse(oldest)?),
        };
        let sound =
            known.behind.count <= known.limit && (oldest.is_some() == (known.behind.count > 0));
        (f.next().is_none() && sound).then_some(Known {
            behind: Behind {
                oldest,
                ..known.behind
            },
            ..known
        })
    }
}

/// The facts in the file; none when it is missing or not of this format (a line
/// that does not read is left out).
pub fn load(path: &Path) -> Vec<Known> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Vec::new();
    }
    lines.filter_map(Known::parse).collect()
}

/// `found` first, then the others of `known` that are about other tips, bases or
/// limits, at most `KEEP` in all.
pub fn add(known: &mut Vec<Known>, found: Known) {
    known.retain(|k| (k.tip, k.base, k.limit) != (found.tip, found.base, found.limit));
    known.insert(0, found);
    known.truncate(KEEP);
}

/// Writes `known` in place of the file.
pub fn save(path: &Path, known: &[Known]) -> Result<()> {
    let mut text = String::with_capacity(64 + known.len() * 100);
    text.push_str(MAGIC);
    text.push('\n');
    for k in known {
        k.line(&mut text);
    }
    crate::file::write_atomically(path, text.as_bytes())
}
