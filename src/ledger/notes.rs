//! The ledger in git notes: reading notes at any fan-out, and writing them as
//! compare-and-swap commits of a 2/38 fan-out tree (DESIGN.md section 3).

use std::collections::BTreeMap;
use std::time::Duration;

use git2::{ErrorCode, FileMode, Oid, Repository, Tree, TreeBuilder};

use super::repo::Repo;
use crate::domain::event::LineError;
use crate::domain::{CommitId, Event};

pub const DEPLOYS: &str = "refs/notes/deploys";
pub const CI: &str = "refs/notes/ci";
/// Locks released by force, each recorded on its lock commit.
pub const LOCKS: &str = "refs/notes/locks";

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("git: {}", .0.message())]
    Git(#[from] git2::Error),
    #[error("{refname} kept moving under us: {attempts} attempts to write failed")]
    Contended { refname: String, attempts: u32 },
}

impl From<LedgerError> for crate::error::Error {
    fn from(e: LedgerError) -> Self {
        let hint = match &e {
            LedgerError::Contended { .. } => "another git-train is writing; try again",
            LedgerError::Git(_) => "check that .git is writable and the disk is not full",
        };
        crate::error::Error::internal(e.to_string()).hint(hint)
    }
}

type Result<T> = std::result::Result<T, LedgerError>;

/// A line of a note that did not parse: kept in the note, skipped by readers.
#[derive(Debug, Clone)]
pub struct BadLine {
    pub commit: CommitId,
    pub line: String,
    pub reason: LineError,
}

/// Splits a note into events and the lines that did not parse.
pub fn parse_note(commit: CommitId, text: &str) -> (Vec<Event>, Vec<BadLine>) {
    parse_lines(commit, text, Event::parse)
}

/// `parse_note`, each line read by `parse` (`Event::parse`, `BorrowedEvent::parse`).
pub fn parse_lines<'a, E>(
    commit: CommitId,
    text: &'a str,
    parse: impl Fn(&'a str) -> std::result::Result<E, LineError>,
) -> (Vec<E>, Vec<BadLine>) {
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse(line) {
            Ok(e) => events.push(e),
            Err(reason) => bad.push(BadLine {
                commit,
                line: line.to_string(),
                reason,
            }),
        }
    }
    (events, bad)
}

/// git's `cat_sort_uniq`: the sorted union of the lines, empty lines dropped.
pub fn cat_sort_uniq<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let bytes = cat_sort_uniq_bytes(texts.into_iter().map(str::as_bytes));
    String::from_utf8(bytes).expect("lines of UTF-8 text stay UTF-8")
}

/// `cat_sort_uniq` on bytes, as git does it: a note another tool wrote in another
/// encoding keeps every byte.
pub fn cat_sort_uniq_bytes<'a>(texts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = texts
        .into_iter()
        .flat_map(|t| t.split(|&b| b == b'\n'))
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort_unstable();
    lines.dedup();
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out
}

/// Text to read events from, copied only when some bytes are not UTF-8.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A note's text by its blob (from `Notes::all_blobs`), in any repository handle of
/// the same repository: a rebuild reads notes from two threads.
pub(super) fn read_blob(repo: &Repository, blob: Oid) -> Result<String> {
    Ok(lossy(repo.find_blob(blob)?.content().to_vec()))
}

/// Why the object a notes ref points at is not a ledger (None: it is one). A notes
/// commit's tree holds notes named by hex object ids (at any fan-out); git keeps
/// other files beside them, so only a tree without a single note counts as
/// something else (a branch pushed there).
pub(super) fn not_a_ledger(repo: &Repository, oid: Oid) -> Option<String> {
    let object = match repo.find_object(oid, None) {
        Ok(o) => o,
        Err(e) => return Some(format!("unreadable ({})", e.message())),
    };
    let commit = match object.kind() {
        Some(git2::ObjectType::Commit) => object.peel_to_commit().ok()?,
        Some(kind) => return Some(format!("a {kind}")),
        None => return Some("an object of unknown type".into()),
    };
    let tree = match commit.tree() {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "a commit whose tree is unreadable ({})",
                e.message()
            ))
        }
    };
    let is_note = |e: &git2::TreeEntry| {
        e.name().is_some_and(|n| {
            n.len() >= 2 && n.len() <= 40 && n.bytes().all(|b| b.is_ascii_hexdigit())
        })
    };
    if tree.is_empty() || tree.iter().any(|e| is_note(&e)) {
        return None;
    }
    let id = CommitId::from(commit.id());
    Some(format!("a commit of files, not of notes ({})", id.short()))
}

/// One notes ref as of one commit, loaded once; lookups use the tree directly.
pub struct Notes<'r> {
    repo: &'r Repository,
    tip: Option<Oid>,
    tree: Option<Tree<'r>>,
}

impl<'r> Notes<'r> {
    pub fn load(repo: &'r Repo, refname: &str) -> Result<Notes<'r>> {
        Notes::load_in(&repo.git, refname)
    }

    fn load_in(repo: &'r Repository, refname: &str) -> Result<Notes<'r>> {
        let tip = match repo.refname_to_id(refname) {
            Ok(oid) => Some(oid),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        Notes::at(repo, tip)
    }

    fn at(repo: &'r Repository, tip: Option<Oid>) -> Result<Notes<'r>> {
        let tree = match tip {
            Some(oid) => Some(repo.find_commit(oid)?.tree()?),
            None => None,
        };
        Ok(Notes { repo, tip, tree })
    }

    /// The repository handle the notes are read with.
    pub(super) fn git(&self) -> &'r Repository {
        self.repo
    }

    /// The notes commit this is (None: the ref does not exist yet).
    pub fn tip(&self) -> Option<CommitId> {
        self.tip.map(CommitId::from)
    }

    fn tree(&self) -> Option<&Tree<'r>> {
        self.tree.as_ref()
    }

    /// Where the note of `commit` is in the tree (2/38, flat or 2/2/36), and its blob.
    fn locate(&self, commit: CommitId) -> Option<(String, Oid)> {
        let tree = self.tree.as_ref()?;
        let hex = commit.to_string();
        let candidates = [
            format!("{}/{}", &hex[..2], &hex[2..]),
            hex.clone(),
            format!("{}/{}/{}", &hex[..2], &hex[2..4], &hex[4..]),
        ];
        candidates.into_iter().find_map(|path| {
            let entry = tree.get_path(std::path::Path::new(&path)).ok()?;
            (entry.kind() == Some(git2::ObjectType::Blob)).then(|| (path, entry.id()))
        })
    }

    /// A note as text to read events from (bytes that are not UTF-8 shown as U+FFFD;
    /// such a line does not parse and is skipped).
    pub fn read(&self, commit: CommitId) -> Result<Option<String>> {
        Ok(self.read_raw(commit)?.map(lossy))
    }

    /// A note's bytes, as stored: what writes start from, so no byte is changed.
    pub fn read_raw(&self, commit: CommitId) -> Result<Option<Vec<u8>>> {
        match self.locate(commit) {
            Some((_, blob)) => Ok(Some(self.repo.find_blob(blob)?.content().to_vec())),
            None => Ok(None),
        }
    }

    /// The annotated object of every note, at whatever fan-out it was written.
    pub fn all(&self) -> Result<Vec<CommitId>> {
        let mut out = Vec::new();
        if let Some(tree) = &self.tree {
            collect(self.repo, tree, String::new(), &mut out)?;
        }
        Ok(out.into_iter().map(|(commit, _)| commit.into()).collect())
    }

    /// Every note as `all` lists them, with the blob `read` would read for each: the
    /// one found in the tree walk, without looking each up again by path (a commit
    /// with notes at two fan-outs is looked up as `read` does). With `packs`, the
    /// trees are read raw (from the packs where they are there) and parsed here, as
    /// a rebuild does: libgit2 took 15 ms to read and parse the 257 trees of 12,000
    /// notes.
    pub fn all_blobs(&self, packs: Option<&super::pack::Packs>) -> Result<Vec<(CommitId, Oid)>> {
        let mut out = Vec::new();
        if let Some(tree) = &self.tree {
            let packed = packs.and_then(|packs| {
                let odb = self.repo.odb().ok()?;
                collect_packed_root(packs, odb, tree.id())
            });
            match packed {
                Some(found) => out = found,
                None => collect(self.repo, tree, String::new(), &mut out)?,
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        let twice: std::collections::HashSet<Oid> = out
            .iter()
            .filter(|(c, _)| !seen.insert(*c))
            .map(|(c, _)| *c)
            .collect();
        for (commit, blob) in &mut out {
            if twice.contains(commit) {
                if let Some((_, found)) = self.locate((*commit).into()) {
                    *blob = found;
                }
            }
        }
        Ok(out.into_iter().map(|(c, b)| (c.into(), b)).collect())
    }

    /// The annotated objects whose notes differ between `older` and this version.
    pub fn changed_since(&self, older: Option<CommitId>) -> Result<Vec<CommitId>> {
        let old = Notes::at(self.repo, older.map(Oid::from))?;
        let mut notes = Vec::new();
        diff(
            self.repo,
            old.tree.as_ref(),
            self.tree.as_ref(),
            "",
            &mut notes,
        )?;
        let mut out: Vec<CommitId> = notes.into_iter().map(|(commit, _)| commit.into()).collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// The notes (at any fan-out) that are in one tree and not the same in the other.
/// Folders that are the same object in both are skipped unread: libgit2's tree diff
/// walks every entry of both trees, a third of the cost of recording one event on a
/// ledger of 12,000 notes.
fn diff(
    repo: &Repository,
    old: Option<&Tree>,
    new: Option<&Tree>,
    prefix: &str,
    out: &mut Vec<(Oid, Oid)>,
) -> Result<()> {
    let entries = |tree: Option<&Tree>| -> BTreeMap<String, (Option<git2::ObjectType>, Oid)> {
        tree.into_iter()
            .flat_map(|t| t.iter())
            .filter_map(|e| Some((e.name()?.to_string(), (e.kind(), e.id()))))
            .collect()
    };
    let (old, new) = (entries(old), entries(new));
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let path = format!("{prefix}{name}");
        if !path.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let (a, b) = (old.get(name), new.get(name));
        if a.map(|e| e.1) == b.map(|e| e.1) {
            continue;
        }
        let tree = |side: Option<&(Option<git2::ObjectType>, Oid)>| match side {
            Some((Some(git2::ObjectType::Tree), oid)) if path.len() < 40 => {
                repo.find_tree(*oid).map(Some)
            }
            _ => Ok(None),
        };
        let (ta, tb) = (tree(a)?, tree(b)?);
        if ta.is_some() && tb.is_some() {
            diff(repo, ta.as_ref(), tb.as_ref(), &path, out)?;
            continue;
        }
        for (side, sub) in [(a, ta), (b, tb)] {
            match (side, sub) {
                (_, Some(sub)) => collect(repo, &sub, path.clone(), out)?,
                (Some((Some(git2::ObjectType::Blob), blob)), None) if path.len() == 40 => {
                    out.push((Oid::from_str(&path)?, *blob));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn collect(
    repo: &Repository,
    tree: &Tree,
    prefix: String,
    out: &mut Vec<(Oid, Oid)>,
) -> Result<()> {
    for entry in tree.iter() {
        let Some(name) = entry.name() else { continue };
        let path = format!("{prefix}{name}");
        if !path.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        match entry.kind() {
            Some(git2::ObjectType::Tree) if path.len() < 40 => {
                let sub = repo.find_tree(entry.id())?;
                collect(repo, &sub, path, out)?;
            }
            Some(git2::ObjectType::Blob) if path.len() == 40 => {
                out.push((Oid::from_str(&path)?, entry.id()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where `collect_packed` reads trees: the packs, else (a tree written since the
/// last `git gc`) libgit2's object database, where there is one.
struct Trees<'p> {
    packs: super::pack::Reader<'p>,
    odb: Option<git2::Odb<'p>>,
}

impl Trees<'_> {
    fn read(&mut self, id: Oid) -> Option<super::pack::Object> {
        match self.packs.read(&id) {
            Some((super::pack::Kind::Tree, bytes)) => Some(bytes),
            Some(_) => None,
            None => {
                let object = self.odb.as_ref()?.read(id).ok()?;
                (object.kind() == git2::ObjectType::Tree).then(|| object.data().to_vec().into())
            }
        }
    }
}

/// An entry of a notes tree that `collect` follows.
enum Found {
    /// A folder of the fan-out.
    Folder(Oid),
    /// A note: the annotated object and its blob.
    Note(Oid, Oid),
}

/// The entries of a tree at `path` that `collect` follows, in order; None when it
/// does not parse as libgit2 parses trees.
fn entries(bytes: &[u8], path: &mut String, mut each: impl FnMut(&str, Found)) -> Option<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        // MODE SP NAME NUL ID, the mode in octal.
        let space = memchr::memchr(b' ', rest)?;
        let mode = octal(&rest[..space])?;
        rest = &rest[space + 1..];
        let nul = memchr::memchr(0, rest)?;
        let name = &rest[..nul];
        let id = Oid::from_bytes(rest.get(nul + 1..nul + 21)?).ok()?;
        rest = &rest[nul + 21..];
        if name.is_empty() {
            // libgit2 refuses the tree.
            return None;
        }
        if !name.iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        let at = path.len();
        // Only hex digits: ASCII.
        path.push_str(std::str::from_utf8(name).ok()?);
        match mode & 0o170000 {
            0o040000 if path.len() < 40 => each(path, Found::Folder(id)),
            // A gitlink is a commit; every other mode a blob, as libgit2 reads them.
            0o160000 | 0o040000 => {}
            // Parsed here: `Oid::from_str` asks libgit2, a call per note.
            _ if path.len() == 40 => each(path, Found::Note(CommitId::parse(path)?.into(), id)),
            _ => {}
        }
        path.truncate(at);
    }
    Some(())
}

/// A tree entry's mode: octal digits, at least one; None past `u32`.
fn octal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |mode, &d| match d {
        b'0'..=b'7' => mode.checked_mul(8)?.checked_add(u32::from(d - b'0')),
        _ => None,
    })
}

/// `collect`, each tree read raw and parsed here; None when one is not there or
/// does not parse (libgit2 reads them all then, and says what is wrong).
fn collect_packed(
    trees: &mut Trees,
    tree: Oid,
    path: &mut String,
    out: &mut Vec<(Oid, Oid)>,
) -> Option<()> {
    let folders = notes_and_folders(trees, tree, path, out)?;
    let found = read_folders(trees, &folders)?;
    place(out, &folders, found);
    Some(())
}

/// A folder of the fan-out to read: where its notes go in the notes listed
/// with it, its path and its tree.
type Folder = (usize, String, Oid);

/// The notes of one tree, into `out`, and its folders (read after it, their notes
/// put in their places: listed in tree order, as libgit2's walk lists them).
fn notes_and_folders(
    trees: &mut Trees,
    tree: Oid,
    path: &mut String,
    out: &mut Vec<(Oid, Oid)>,
) -> Option<Vec<Folder>> {
    let bytes = trees.read(tree)?;
    let mut folders = Vec::new();
    entries(&bytes, path, |path, found| match found {
        Found::Note(commit, blob) => out.push((commit, blob)),
        Found::Folder(id) => folders.push((out.len(), path.to_string(), id)),
    })?;
    Some(folders)
}

/// The notes of each folder.
fn read_folders(trees: &mut Trees, folders: &[Folder]) -> Option<Vec<Vec<(Oid, Oid)>>> {
    folders
        .iter()
        .map(|(_, path, id)| {
            let mut notes = Vec::new();
            collect_packed(trees, *id, &mut path.clone(), &mut notes)?;
            Some(notes)
        })
        .collect()
}

/// Puts each folder's notes at its place in `out`.
fn place(out: &mut Vec<(Oid, Oid)>, folders: &[Folder], found: Vec<Vec<(Oid, Oid)>>) {
    let listed = std::mem::take(out);
    out.reserve(listed.len() + found.iter().map(Vec::len).sum::<usize>());
    let mut listed = listed.into_iter();
    let mut taken = 0;
    for ((at, _, _), notes) in folders.iter().zip(found) {
        out.extend(listed.by_ref().take(at - taken));
        taken = *at;
        out.extend(notes);
    }
    out.extend(listed);
}

/// `collect_packed` from the root of the notes tree, its folders read in two
/// halves on two threads when there are many (a ledger of 12,000 notes has 256,
/// 800 KB to inflate and parse); None as `collect_packed`. What the other thread
/// cannot read from the packs is read here, through `odb` if need be.
fn collect_packed_root<'p>(
    packs: &'p super::pack::Packs,
    odb: git2::Odb<'p>,
    root: Oid,
) -> Option<Vec<(Oid, Oid)>> {
    let mut trees = Trees {
        packs: packs.reader(),
        odb: Some(odb),
    };
    let mut out = Vec::new();
    let folders = notes_and_folders(&mut trees, root, &mut String::new(), &mut out)?;
    let found = if folders.len() < 32 {
        read_folders(&mut trees, &folders)?
    } else {
        let (mine, theirs) = folders.split_at(folders.len() / 2);
        let (found, other) = std::thread::scope(|scope| {
            let other = scope.spawn(|| {
                let mut trees = Trees {
                    packs: packs.reader(),
                    odb: None,
                };
                read_folders(&mut trees, theirs)
            });
            (read_folders(&mut trees, mine), other.join())
        });
        let mut found = found?;
        match other {
            Ok(Some(other)) => found.extend(other),
            // Not all in the packs: read here, as without a thread.
            Ok(None) => found.extend(read_folders(&mut trees, theirs)?),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        found
    };
    place(&mut out, &folders, found);
    Some(out)
}

/// The outcome of a write.
pub struct Written {
    /// The notes commit before and after; equal when nothing changed.
    pub old: Option<CommitId>,
    pub new: Option<CommitId>,
}

/// Writes notes as one commit on top of the current tip, retrying from the new tip
/// whenever another writer moved the ref in between. `change` gets the current notes
/// and returns the new full text of each note to change; it may run several times.
pub fn write<F>(repo: &Repo, refname: &str, message: &str, change: F) -> Result<Written>
where
    F: FnMut(&Notes) -> Result<Vec<(CommitId, String)>>,
{
    let mut change = change;
    commit_notes(&repo.git, refname, message, None, |notes| {
        Ok(change(notes)?
            .into_iter()
            .map(|(c, t)| (c, t.into_bytes()))
            .collect())
    })
}

fn commit_notes<F>(
    repo: &Repository,
    refname: &str,
    message: &str,
    merged: Option<Oid>,
    mut change: F,
) -> Result<Written>
where
    F: FnMut(&Notes) -> Result<Vec<(CommitId, Vec<u8>)>>,
{
    const ATTEMPTS: u32 = 200;
    let sig = super::git::signature(repo)?;
    for attempt in 0..ATTEMPTS {
        let notes = Notes::load_in(repo, refname)?;
        let mut changes = change(&notes)?;
        changes.retain(|(commit, text)| {
            notes.read_raw(*commit).ok().flatten().as_deref() != Some(text.as_slice())
        });
        if changes.is_empty() && merged.is_none() {
            return Ok(Written {
                old: notes.tip(),
                new: notes.tip(),
            });
        }
        let tree = build_tree(repo, &notes, &changes)?;
        let tree = repo.find_tree(tree)?;
        let mut parents = Vec::new();
        if let Some(tip) = notes.tip {
            parents.push(repo.find_commit(tip)?);
        }
        if let Some(other) = merged {
            parents.push(repo.find_commit(other)?);
        }
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
        match swap(repo, refname, notes.tip, commit, message) {
            Ok(()) => {
                return Ok(Written {
                    old: notes.tip(),
                    new: Some(commit.into()),
                })
            }
            Err(e) if is_contention(&e) => backoff(attempt),
            Err(e) => return Err(e.into()),
        }
    }
    Err(LedgerError::Contended {
        refname: refname.to_string(),
        attempts: ATTEMPTS,
    })
}

/// Held (shared) while a notes ref is moved. `stop_writes` takes it for good.
static MOVING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// For a process about to exit while threads may still write (the daemon's rounds):
/// waits up to `wait` for the ref moves under way to end and lets no new one begin,
/// so that none is cut in half (a `.lock` file left behind would block every later
/// write). False when one was still under way after `wait`.
pub fn stop_writes(wait: Duration) -> bool {
    let until = std::time::Instant::now() + wait;
    loop {
        match MOVING.try_write() {
            Ok(guard) => {
                std::mem::forget(guard);
                return true;
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                std::mem::forget(e.into_inner());
                return true;
            }
            Err(std::sync::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(std::sync::TryLockError::WouldBlock) => return false,
        }
    }
}

/// Moves `refname` from `old` (None: absent) to `new`, failing if it is not at `old`.
fn swap(
    repo: &Repository,
    refname: &str,
    old: Option<Oid>,
    new: Oid,
    message: &str,
) -> std::result::Result<(), git2::Error> {
    let _moving = MOVING.read().unwrap_or_else(|e| e.into_inner());
    match old {
        // "Absent" is checked under the ref's lock only this way: with `force` false,
        // libgit2 looks before it locks, and of two first writers the second would
        // overwrite the first.
        None => repo
            .reference_matching(refname, new, true, Oid::zero(), message)
            .map(|_| ()),
        Some(old) => repo
            .reference_matching(refname, new, true, old, message)
            .map(|_| ()),
    }
}

/// How a merge of another copy of a ledger went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Merged {
    UpToDate,
    FastForward,
    Merged,
}

/// Merges another copy of a notes ref into `refname`: the sorted union of lines per
/// note (git's `cat_sort_uniq`), as a merge commit, or a fast-forward when one
/// contains the other. Nothing of either side is lost.
pub(super) fn merge(
    repo: &Repository,
    refname: &str,
    theirs: Oid,
    message: &str,
) -> Result<Merged> {
    for attempt in 0..200 {
        let ours = Notes::load_in(repo, refname)?;
        let outcome = match ours.tip {
            Some(o) if o == theirs || repo.graph_descendant_of(o, theirs)? => {
                return Ok(Merged::UpToDate)
            }
            None => swap(repo, refname, None, theirs, message).map(|_| Merged::FastForward),
            Some(o) if repo.graph_descendant_of(theirs, o)? => {
                swap(repo, refname, Some(o), theirs, message).map(|_| Merged::FastForward)
            }
            Some(o) => {
                let base = repo.merge_base(o, theirs).ok();
                let their_notes = Notes::at(repo, Some(theirs))?;
                let changed = their_notes.changed_since(base.map(CommitId::from))?;
                let written = commit_notes(repo, refname, message, Some(theirs), |current| {
                    if current.tip != Some(o) {
                        // Moved under us: start over with the new tip.
                        return Err(LedgerError::Git(git2::Error::new(
                            ErrorCode::Modified,
                            git2::ErrorClass::Reference,
                            "moved",
                        )));
                    }
                    let mut changes = Vec::with_capacity(changed.len());
                    for commit in &changed {
                        let mine = current.read_raw(*commit)?.unwrap_or_default();
                        let other = their_notes.read_raw(*commit)?.unwrap_or_default();
                        changes.push((*commit, cat_sort_uniq_bytes([&mine[..], &other[..]])));
                    }
                    Ok(changes)
                });
                match written {
                    Ok(_) => Ok(Merged::Merged),
                    Err(LedgerError::Git(e)) => Err(e),
                    Err(e) => return Err(e),
                }
            }
        };
        match outcome {
            Ok(m) => return Ok(m),
            Err(e) if is_contention(&e) => backoff(attempt),
            Err(e) => return Err(e.into()),
        }
    }
    Err(LedgerError::Contended {
        refname: refname.to_string(),
        attempts: 200,
    })
}

/// Appends event lines to the note of `commit`, keeping every line already there.
pub fn append(
    repo: &Repo,
    refname: &str,
    commit: CommitId,
    lines: &[String],
    message: &str,
) -> Result<Written> {
    append_many(repo, refname, &[(commit, lines.to_vec())], message)
}

/// Appends event lines to the notes of many commits, as one ledger commit, keeping
/// every byte already there.
pub fn append_many(
    repo: &Repo,
    refname: &str,
    batch: &[(CommitId, Vec<String>)],
    message: &str,
) -> Result<Written> {
    let mut by_commit: BTreeMap<CommitId, Vec<&[u8]>> = BTreeMap::new();
    for (commit, lines) in batch {
        by_commit
            .entry(*commit)
            .or_default()
            .extend(lines.iter().map(|l| l.as_bytes()));
    }
    commit_notes(&repo.git, refname, message, None, |notes| {
        let mut changes = Vec::with_capacity(by_commit.len());
        for (commit, lines) in &by_commit {
            let old = notes.read_raw(*commit)?.unwrap_or_default();
            let new = cat_sort_uniq_bytes(std::iter::once(&old[..]).chain(lines.iter().copied()));
            changes.push((*commit, new));
        }
        Ok(changes)
    })
}

fn is_contention(e: &git2::Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked | ErrorCode::NotFound
    )
}

fn backoff(attempt: u32) {
    // Jitter from the clock's low bits keeps concurrent writers from retrying in step.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = 2u64.pow(attempt.min(5));
    std::thread::sleep(Duration::from_millis(base + u64::from(nanos % 7)));
}

/// The new root tree: each changed note at `xx/38`, any copy at another fan-out removed.
fn build_tree(repo: &Repository, notes: &Notes, changes: &[(CommitId, Vec<u8>)]) -> Result<Oid> {
    let mut root = repo.treebuilder(notes.tree())?;
    let mut by_prefix: BTreeMap<String, Vec<(String, Oid, Option<String>)>> = BTreeMap::new();
    for (commit, text) in changes {
        let hex = commit.to_string();
        let blob = repo.blob(text)?;
        let old_path = notes.locate(*commit).map(|(p, _)| p);
        if old_path.as_deref() == Some(hex.as_str()) {
            root.remove(&hex)?;
        }
        by_prefix.entry(hex[..2].to_string()).or_default().push((
            hex[2..].to_string(),
            blob,
            old_path,
        ));
    }
    for (prefix, entries) in by_prefix {
        let existing = subtree(repo, &root, &prefix)?;
        let mut sub = repo.treebuilder(existing.as_ref())?;
        for (rest, blob, old_path) in entries {
            if let Some(old) = old_path.filter(|p| p.len() == 42) {
                // 2/2/36: take it out of the deeper level.
                let deeper = &old[3..5];
                if let Some(tree) = subtree(repo, &sub, deeper)? {
                    let mut inner = repo.treebuilder(Some(&tree))?;
                    inner.remove(&old[6..])?;
                    if inner.is_empty() {
                        sub.remove(deeper)?;
                    } else {
                        sub.insert(deeper, inner.write()?, FileMode::Tree.into())?;
                    }
                }
            }
            sub.insert(&rest, blob, FileMode::Blob.into())?;
        }
        root.insert(&prefix, sub.write()?, FileMode::Tree.into())?;
    }
    Ok(root.write()?)
}

fn subtree<'r>(
    repo: &'r Repository,
    builder: &TreeBuilder,
    name: &str,
) -> Result<Option<Tree<'r>>> {
    match builder.get(name)? {
        Some(entry) if entry.kind() == Some(git2::ObjectType::Tree) => {
            Ok(Some(repo.find_tree(entry.id())?))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cat_sort_uniq_matches_git() {
        assert_eq!(cat_sort_uniq(["b\na\n", "a\n\nc"]), "a\nb\nc\n");
        assert_eq!(cat_sort_uniq([""]), "");
    }

    #[test]
    fn modes_read_as_the_standard_library_reads_them() {
        for mode in [
            "100644",
            "40000",
            "160000",
            "0",
            "7",
            "37777777777",
            "40000000000",
        ] {
            assert_eq!(
                octal(mode.as_bytes()),
                u32::from_str_radix(mode, 8).ok(),
                "{mode}"
            );
        }
        for bad in ["", "8", "+7", "1 0", "-1", "0x10"] {
            assert_eq!(octal(bad.as_bytes()), None, "{bad}");
        }
    }

    /// `git gc` in `dir`: every object packed.
    fn git_gc(dir: &std::path::Path) {
        crate::ledger::testing::git(dir, &["gc", "-q"]);
    }

    /// The walk of raw trees lists what libgit2's lists, on a notes tree with every
    /// odd entry: fan-outs 2/38, 2/2/36 and flat, a note at two fan-outs, names that
    /// are not hex or are too short, a folder of 40 digits, a gitlink, a symlink, and
    /// an executable note; loose and packed.
    #[test]
    fn the_raw_tree_walk_lists_what_libgit2_lists() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let hex = |i: u8| format!("{i:02x}{}", "ab".repeat(19));
        let blob = |text: &str| git.blob(text.as_bytes()).unwrap();
        let tree = |entries: &[(&str, Oid, i32)]| {
            let mut b = git.treebuilder(None).unwrap();
            for (name, id, mode) in entries {
                b.insert(name, *id, *mode).unwrap();
            }
            b.write().unwrap()
        };
        let (note, exe) = (blob("a\n"), blob("b\n"));
        let h = (hex(1), hex(2), hex(3), hex(4), hex(5));
        let deep = tree(&[(&h.1[4..], note, 0o100644)]);
        let mid = tree(&[(&h.1[2..4], deep, 0o040000), ("README", note, 0o100644)]);
        let two = tree(&[(&h.0[2..], note, 0o100644), (&h.2[2..], exe, 0o100755)]);
        let root = tree(&[
            (&h.0[..2], two, 0o040000),
            (&h.1[..2], mid, 0o040000),
            (&h.0, blob("flat twin\n"), 0o100644),
            (&h.3, note, 0o120000),
            (&h.4, note, 0o160000),
            (&hex(6), two, 0o040000),
            ("abc", note, 0o100644),
            ("not-hex", two, 0o040000),
        ]);
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let root = git.find_tree(root).unwrap();
        git.commit(Some(DEPLOYS), &sig, &sig, "notes", &root, &[])
            .unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let lists = || {
            let notes = Notes::load(&repo, DEPLOYS).unwrap();
            let packs = super::super::pack::Packs::open(&dir.path().join(".git/objects"));
            let raw = notes.all_blobs(Some(&packs)).unwrap();
            let mut found = Vec::new();
            let mut trees = Trees {
                packs: packs.reader(),
                odb: Some(git.odb().unwrap()),
            };
            assert!(
                collect_packed(&mut trees, root.id(), &mut String::new(), &mut found).is_some()
            );
            (raw, notes.all_blobs(None).unwrap())
        };
        let (raw, libgit2) = lists();
        assert_eq!(raw, libgit2);
        // 01 at two fan-outs, 02 at 2/2/36, 04 a symlink; not the rest.
        assert_eq!(raw.len(), 4, "{raw:?}");
        git_gc(dir.path());
        let (raw, packed_libgit2) = lists();
        assert_eq!(raw, packed_libgit2);
        assert_eq!(raw, libgit2);
    }

    /// Read on two threads (a root of many folders), the walk lists what libgit2's
    /// lists, in its order: with notes flat between the folders, packed, and with a
    /// folder of the other thread's half written since `git gc` (not in the packs).
    #[test]
    fn the_raw_tree_walk_on_two_threads_lists_what_libgit2_lists() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let root = |changed: &str| {
            let mut root = git.treebuilder(None).unwrap();
            for i in 0..64u8 {
                let mut folder = git.treebuilder(None).unwrap();
                for j in 0..3u8 {
                    let text = match i {
                        60 => format!("{changed} {j}\n"),
                        _ => format!("{i} {j}\n"),
                    };
                    let name = format!("{j:02x}{}", "cd".repeat(18));
                    let blob = git.blob(text.as_bytes()).unwrap();
                    folder.insert(&name, blob, 0o100644).unwrap();
                }
                let folder = folder.write().unwrap();
                root.insert(format!("{:02x}", i * 4), folder, 0o040000)
                    .unwrap();
                if i % 16 == 1 {
                    let name = format!("{:02x}{}", i * 4 + 1, "ef".repeat(19));
                    let blob = git.blob(format!("flat {i}\n").as_bytes()).unwrap();
                    root.insert(&name, blob, 0o100644).unwrap();
                }
            }
            git.find_tree(root.write().unwrap()).unwrap()
        };
        let lists = || {
            let repo = Repo::open(dir.path()).unwrap();
            let notes = Notes::load(&repo, DEPLOYS).unwrap();
            let packs = super::super::pack::Packs::open(&dir.path().join(".git/objects"));
            let raw = notes.all_blobs(Some(&packs)).unwrap();
            assert_eq!(raw, notes.all_blobs(None).unwrap());
            raw
        };
        let first = git
            .commit(Some(DEPLOYS), &sig, &sig, "notes", &root("a"), &[])
            .unwrap();
        git_gc(dir.path());
        let packed = lists();
        assert_eq!(packed.len(), 64 * 3 + 4);
        // Folder f0 (in the second half) and the root written again, loose.
        let first = git.find_commit(first).unwrap();
        git.commit(Some(DEPLOYS), &sig, &sig, "more", &root("b"), &[&first])
            .unwrap();
        let loose = lists();
        assert_eq!(loose.len(), packed.len());
        let differ: Vec<usize> = (0..loose.len())
            .filter(|&i| loose[i] != packed[i])
            .collect();
        assert_eq!(differ.len(), 3, "folder f0's three notes");
        assert!(differ.iter().all(|&i| i > packed.len() / 2));
    }

    #[test]
    fn changed_since_finds_notes_at_every_fan_out_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let git = Repository::init(dir.path()).unwrap();
        let repo = Repo::open(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = git
            .find_tree(git.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let commits: Vec<CommitId> = (0..40)
            .map(|i| {
                git.commit(None, &sig, &sig, &format!("c{i}"), &tree, &[])
                    .unwrap()
                    .into()
            })
            .collect();
        let note = |i: usize, text: &str| (commits[i], text.to_string());
        let tip = |repo: &Repo| repo.git.refname_to_id(DEPLOYS).ok().map(CommitId::from);
        let changed = |older| {
            let mut out = Notes::load(&repo, DEPLOYS)
                .unwrap()
                .changed_since(older)
                .unwrap();
            out.sort();
            out
        };
        let sorted = |mut v: Vec<CommitId>| {
            v.sort();
            v
        };

        let all: Vec<(CommitId, String)> = (0..30).map(|i| note(i, "a\n")).collect();
        write(&repo, DEPLOYS, "all", |_| Ok(all.clone())).unwrap();
        assert_eq!(changed(None), sorted(commits[..30].to_vec()));
        let first = tip(&repo);
        assert_eq!(changed(first), Vec::<CommitId>::new());

        // Changed, added, and one written flat by libgit2 (another tool's writer).
        write(&repo, DEPLOYS, "more", |_| {
            Ok(vec![note(3, "a\nb\n"), note(31, "x\n")])
        })
        .unwrap();
        git.note(
            &sig,
            &sig,
            Some(DEPLOYS),
            commits[35].into(),
            "flat\n",
            false,
        )
        .unwrap();
        assert_eq!(
            changed(first),
            sorted(vec![commits[3], commits[31], commits[35]])
        );

        // Rewriting the flat note moves it to 2/38: both places are one change.
        let second = tip(&repo);
        write(&repo, DEPLOYS, "move", |_| {
            Ok(vec![note(35, "flat\nmore\n")])
        })
        .unwrap();
        assert_eq!(changed(second), vec![commits[35]]);
    }
}
