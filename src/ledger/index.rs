//! The local index of the deploy ledger: `refs/train/deployed/ENV` (what each
//! environment runs) and `.git/train/index/` (every deployment, for `history`).
//! Both are derived from `refs/notes/deploys`: brought up to date from the diff
//! between the notes version they were built from and the current one, rebuilt from
//! scratch when that version is unknown, and checked on every use.
//!
//! What an environment runs is its newest success by date, leaving out successes
//! dated more than an hour after the clock of the machine reading them
//! (`domain::deployment::counts`): a clock far ahead, or a hand-written line, cannot
//! pin an environment. Those are listed apart (`Snapshot::future`) for a warning,
//! and the head says for which clock it holds, so it is worked out again when the
//! clock reaches one of them (or goes back before a success it counted).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use git2::{ErrorCode, Oid, Repository};

use crate::domain::CommitId;

use crate::clock::Clock;
use crate::domain::deployment::{counts, fold};
use crate::domain::event::{
    decode_field, encode_field, encode_field_into, BorrowedEvent, EventView,
};
use crate::domain::{Deployment, State, Timestamp};
use crate::error::Result;
use crate::file::{write_atomically, write_parts_atomically};
use crate::ledger::lockfile::LockFile;
use crate::ledger::repo::Repo;
use crate::ledger::{self, BadLine, Notes};

mod tally;
use tally::Tally;

const DEPLOYED_PREFIX: &str = "refs/train/deployed/";
const HEAD_MAGIC: &str = "git-train-index 6";

/// One deployment as the index keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub commit: CommitId,
    pub dep: String,
    pub env: String,
    pub started: Timestamp,
    pub state: State,
    /// When it succeeded, if success is still its state.
    pub success_at: Option<Timestamp>,
    /// When it first succeeded, whatever happened after.
    pub succeeded_at: Option<Timestamp>,
    /// What `history` shows of it, so that it does not read a note per line.
    pub shown: Shown,
}

/// What `history` shows of a deployment besides its commit, id, state and start
/// (the `Deployment` accessors of the same names).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Shown {
    pub by: String,
    pub finished_at: Option<Timestamp>,
    pub rollback: bool,
    pub forced: Option<String>,
    pub from: Option<String>,
    pub desc: Option<String>,
    pub log: Option<String>,
    pub url: Option<String>,
    pub gh: Option<(String, u64)>,
}

impl Entry {
    fn of<E: EventView>(d: &Deployment<E>, commit: CommitId) -> Entry {
        let text = |t: Option<&str>| t.map(str::to_string);
        Entry {
            commit,
            dep: d.dep.clone(),
            env: d.env.clone(),
            started: d.started_at(),
            state: d.state(),
            success_at: d.success_at(),
            succeeded_at: d.first_success_at(),
            shown: Shown {
                by: d.by().to_string(),
                finished_at: d.finished_at(),
                rollback: d.rollback(),
                forced: text(d.forced()),
                from: text(d.from()),
                desc: text(d.desc()),
                log: text(d.log()),
                url: text(d.url()),
                gh: d.gh().map(|(repo, id)| (repo.to_string(), id)),
            },
        }
    }

    /// The index line, at the end of `out`. Text fields are percent-encoded (no
    /// space, no `+`): `-` for none, `+TEXT` for some (an empty text is `+`).
    fn write_line(&self, out: &mut String) {
        let number = |out: &mut String, n: i64| {
            out.push_str(itoa::Buffer::new().format(n));
        };
        let ms = |out: &mut String, t: Option<Timestamp>| match t {
            Some(t) => {
                out.push(' ');
                number(out, t.0);
            }
            None => out.push_str(" -"),
        };
        let text = |out: &mut String, t: &Option<String>| match t {
            Some(t) => {
                out.push_str(" +");
                encode_field_into(out, t);
            }
            None => out.push_str(" -"),
        };
        let s = &self.shown;
        self.commit.push_hex(out);
        out.push(' ');
        out.push_str(&self.dep);
        out.push(' ');
        encode_field_into(out, &self.env);
        out.push(' ');
        number(out, self.started.0);
        out.push(' ');
        out.push_str(self.state.as_str());
        ms(out, self.success_at);
        ms(out, self.succeeded_at);
        out.push(' ');
        encode_field_into(out, &s.by);
        ms(out, s.finished_at);
        out.push_str(if s.rollback { " 1" } else { " 0" });
        for t in [&s.forced, &s.from, &s.desc, &s.log, &s.url] {
            text(out, t);
        }
        match &s.gh {
            Some((repo, id)) => {
                out.push_str(" +");
                encode_field_into(out, repo);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*id));
            }
            None => out.push_str(" -"),
        }
        out.push('\n');
    }

    fn parse(line: &str) -> Option<Entry> {
        let mut f = line.split(' ');
        let text = |field: &str| -> Option<Option<String>> {
            match field {
                "-" => Some(None),
                t => decode_field(t.strip_prefix('+')?).map(Some),
            }
        };
        let entry = Entry {
            commit: CommitId::parse(f.next()?)?,
            dep: f.next()?.to_string(),
            env: decode_field(f.next()?)?,
            started: Timestamp(f.next()?.parse().ok()?),
            state: State::parse(f.next()?)?,
            success_at: optional_ms(f.next()?)?,
            succeeded_at: optional_ms(f.next()?)?,
            shown: Shown {
                by: decode_field(f.next()?)?,
                finished_at: optional_ms(f.next()?)?,
                rollback: match f.next()? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
                forced: text(f.next()?)?,
                from: text(f.next()?)?,
                desc: text(f.next()?)?,
                log: text(f.next()?)?,
                url: text(f.next()?)?,
                gh: match f.next()? {
                    "-" => None,
                    gh => {
                        let (repo, id) = gh.strip_prefix('+')?.rsplit_once(':')?;
                        Some((decode_field(repo)?, id.parse().ok()?))
                    }
                },
            },
        };
        f.next().is_none().then_some(entry)
    }
}

fn optional_ms(field: &str) -> Option<Option<Timestamp>> {
    match field {
        "-" => Some(None),
        ms => ms.parse().ok().map(|ms| Some(Timestamp(ms))),
    }
}

/// What each environment runs: its newest successful deployment.
pub type Deployed = BTreeMap<String, CommitId>;

pub struct Index {
    /// Every deployment, oldest first.
    pub entries: Vec<Entry>,
    pub snapshot: Snapshot,
    /// Lines that did not parse while (re)indexing; the caller warns.
    pub bad_lines: Vec<BadLine>,
}

fn dir(repo: &Repo) -> PathBuf {
    repo.train_dir().join("index")
}

/// A deployment that has not reached a final state.
#[derive(Clone, Debug, PartialEq)]
pub struct Open {
    pub env: String,
    pub dep: String,
    pub commit: CommitId,
}

/// A success dated too far after the reading clock to count (a clock far ahead, or
/// a hand-written line).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Future {
    pub env: String,
    pub at: Timestamp,
    pub dep: String,
    pub commit: CommitId,
}

/// What `status` and the hook need: what each environment runs and what is under way.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Snapshot {
    /// Environments whose commit this clone has; `refs/train/deployed/ENV` names it.
    pub deployed: Deployed,
    pub open: Vec<Open>,
    /// Environments that run a commit this clone has not fetched yet (the ledger
    /// came through a sync or GitHub): no ref can name it until `git fetch`.
    pub unfetched: Deployed,
    /// Successes left out because they are dated too far after the clock.
    pub future: Vec<Future>,
}

/// The small file read on every command: the notes version the index was built
/// from, what each environment ran then (with the time it succeeded, so an update
/// needs only the changed notes), and what was under way.
struct Head {
    notes: Option<CommitId>,
    deployed: BTreeMap<String, Best>,
    open: Vec<Open>,
    /// Successes that did not count for the clock the head was made with, sorted.
    future: Vec<Future>,
    /// Each environment's newest deployment (by start, then id), whatever its state:
    /// `status` says when it failed, and these are the environments the ledger knows,
    /// without reading every deployment.
    newest: BTreeMap<String, Entry>,
    /// The length of the journal written with this head (0: none), so that a journal
    /// lost or left from another head is noticed (and the index rebuilt).
    journal: u64,
    /// Each environment's latest success time, at least (a retracted one may stay):
    /// a new success needs to look for successes dated after it only below this.
    last_success: BTreeMap<String, Timestamp>,
}

impl Head {
    /// Whether the head gives the same answer at `now` as it did when it was made:
    /// every success it counted still counts, and none it left out does yet. (The
    /// newest counted success of each environment is the latest one it counted.)
    fn holds_at(&self, now: Timestamp) -> bool {
        self.deployed.values().all(|b| counts(b.at, now))
            && self.future.iter().all(|f| !counts(f.at, now))
    }

    fn snapshot(&self, git: &Repository) -> Snapshot {
        let mut snapshot = Snapshot {
            open: self.open.clone(),
            future: self.future.clone(),
            ..Snapshot::default()
        };
        for (env, Best { commit: oid, .. }) in &self.deployed {
            // A name that cannot be a ref component (another tool's `review/pr-1`)
            // has no ref and is not shown.
            if crate::domain::EnvName::new(env).is_err() {
                continue;
            }
            if git.odb().is_ok_and(|odb| odb.exists(Oid::from(*oid))) {
                snapshot.deployed.insert(env.clone(), *oid);
            } else {
                snapshot.unfetched.insert(env.clone(), *oid);
            }
        }
        snapshot
    }
}

fn read_head(path: &Path) -> Option<Head> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != HEAD_MAGIC {
        return None;
    }
    let notes = match lines.next()?.strip_prefix("notes ")? {
        "-" => None,
        oid => Some(CommitId::parse(oid)?),
    };
    let mut head = Head {
        notes,
        deployed: BTreeMap::new(),
        open: Vec::new(),
        future: Vec::new(),
        newest: BTreeMap::new(),
        journal: 0,
        last_success: BTreeMap::new(),
    };
    for line in lines {
        if let Some(rest) = line.strip_prefix("success ") {
            let (env, ms) = rest.split_once(' ')?;
            head.last_success
                .insert(decode_field(env)?, Timestamp(ms.parse().ok()?));
            continue;
        }
        if let Some(len) = line.strip_prefix("journal ") {
            head.journal = len.parse().ok()?;
            continue;
        }
        if let Some(entry) = line.strip_prefix("newest ") {
            let e = Entry::parse(entry)?;
            head.newest.insert(e.env.clone(), e);
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["deployed", env, oid, ms, started, dep] => {
                let best = Best {
                    at: Timestamp(ms.parse().ok()?),
                    started: Timestamp(started.parse().ok()?),
                    dep: dep.to_string(),
                    commit: CommitId::parse(oid)?,
                };
                head.deployed.insert(decode_field(env)?, best);
            }
            ["open", env, dep, oid] => head.open.push(Open {
                env: decode_field(env)?,
                dep: dep.to_string(),
                commit: CommitId::parse(oid)?,
            }),
            ["future", env, ms, dep, oid] => head.future.push(Future {
                env: decode_field(env)?,
                at: Timestamp(ms.parse().ok()?),
                dep: dep.to_string(),
                commit: CommitId::parse(oid)?,
            }),
            _ => return None,
        }
    }
    Some(head)
}

fn write_head(dir: &Path, head: &Head) -> Result<()> {
    let mut text = format!(
        "{HEAD_MAGIC}\nnotes {}\n",
        head.notes
            .map(|o| o.to_string())
            .unwrap_or_else(|| "-".into())
    );
    for (env, b) in &head.deployed {
        text.push_str(&format!(
            "deployed {} {} {} {} {}\n",
            encode_field(env),
            b.commit,
            b.at.0,
            b.started.0,
            b.dep
        ));
    }
    for open in &head.open {
        text.push_str(&format!(
            "open {} {} {}\n",
            encode_field(&open.env),
            open.dep,
            open.commit
        ));
    }
    for f in &head.future {
        text.push_str(&format!(
            "future {} {} {} {}\n",
            encode_field(&f.env),
            f.at.0,
            f.dep,
            f.commit
        ));
    }
    for e in head.newest.values() {
        text.push_str("newest ");
        e.write_line(&mut text);
    }
    for (env, at) in &head.last_success {
        text.push_str(&format!("success {} {}\n", encode_field(env), at.0));
    }
    if head.journal != 0 {
        text.push_str(&format!("journal {}\n", head.journal));
    }
    write_atomically(&dir.join("head"), text.as_bytes())
}

fn current_refs(git: &Repository) -> Result<Deployed> {
    Ok(super::refs::under(git, DEPLOYED_PREFIX)?
        .into_iter()
        .map(|(name, oid)| (name[DEPLOYED_PREFIX.len()..].to_string(), oid.into()))
        .collect())
}

fn notes_tip(git: &Repository) -> Result<Option<CommitId>> {
    match git.refname_to_id(ledger::DEPLOYS) {
        Ok(oid) => Ok(Some(oid.into())),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What each environment runs, bringing the index up to date first if the notes
/// moved or the refs were changed by hand. This is the fast path of `status` and
/// the pre-push hook: when nothing changed it reads one small file and the refs.
pub fn snapshot(repo: &Repo, clock: Clock) -> Result<Snapshot> {
    match up_to_date(repo, clock)? {
        Some(snapshot) => Ok(snapshot),
        None => Ok(catch_up(repo, clock)?.0),
    }
}

/// The whole index, up to date, with every deployment oldest first.
pub fn refresh(repo: &Repo, clock: Clock) -> Result<Index> {
    let (snapshot, bad_lines) = catch_up(repo, clock)?;
    let entries = read_all(&dir(repo)).unwrap_or_default();
    Ok(Index {
        entries,
        snapshot,
        bad_lines,
    })
}

/// The id of an index line, `COMMIT DEP ENV STARTED ...`: its second field.
pub(super) fn line_dep(line: &str) -> Option<&str> {
    line.split(' ').nth(1)
}

/// An index line's id and start, without parsing the rest of it.
fn line_dep_and_start(line: &str) -> Option<(&str, Timestamp)> {
    let mut f = line.splitn(5, ' ');
    let (_commit, dep, _env) = (f.next()?, f.next()?, f.next()?);
    let started = Timestamp(f.next()?.parse().ok()?);
    f.next()?;
    Some((dep, started))
}

/// A deployment's id and start, without the rest of its line: what `history` needs
/// of the deployments around those it shows to make their short ids (parsing whole
/// lines for them was 40% of a `history`).
#[derive(Clone, Debug, PartialEq)]
pub struct IdAt {
    pub started: Timestamp,
    pub dep: String,
}

impl IdAt {
    fn of(entry: &Entry) -> Self {
        IdAt {
            started: entry.started,
            dep: entry.dep.clone(),
        }
    }
}

/// The newest `n` deployments, of one environment or all, newest first. Reads the
/// index file backwards from its end and parses only what it returns.
pub fn recent(
    repo: &Repo,
    clock: Clock,
    env: Option<&str>,
    n: usize,
) -> Result<(Vec<Entry>, Vec<BadLine>)> {
    if n == 0 {
        return Ok((Vec::new(), catch_up_if_needed(repo, clock)?));
    }
    let mut out: Vec<Entry> = Vec::new();
    let bad = newest_first(repo, clock, env, |met| {
        match met {
            Met::Line { line, .. } => out.extend(Entry::parse(line)),
            Met::Journal(entry) => out.push(entry.clone()),
        }
        out.len() == n
    })?;
    Ok((out, bad))
}

/// What `text.split(|&b| b == b'\n').rev()` gives, found with memrchr: splitting
/// byte by byte was most of reading the newest deployments (a fifth of `history`).
fn lines_backwards(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut end = Some(text.len());
    let mut breaks = memchr::memrchr_iter(b'\n', text);
    std::iter::from_fn(move || {
        let e = end?;
        match breaks.next() {
            Some(at) => {
                end = Some(at);
                Some(&text[at + 1..e])
            }
            None => {
                end = None;
                Some(&text[..e])
            }
        }
    })
}

/// The bad lines a catch-up met, if the index was not up to date.
fn catch_up_if_needed(repo: &Repo, clock: Clock) -> Result<Vec<BadLine>> {
    Ok(match up_to_date(repo, clock)? {
        Some(_) => Vec::new(),
        None => catch_up(repo, clock)?.1,
    })
}

/// The newest `n` deployments of `env` (or of all), newest first, and the ids and
/// starts of the deployments of every environment from the newest down to `margin`
/// past the oldest of those: what `history` shows, and what its short ids must
/// differ from, read in one pass.
pub fn recent_and_ids(
    repo: &Repo,
    clock: Clock,
    env: Option<&str>,
    n: usize,
    margin: usize,
) -> Result<(Vec<Entry>, Vec<IdAt>, Vec<BadLine>)> {
    if n == 0 {
        return Ok((Vec::new(), Vec::new(), catch_up_if_needed(repo, clock)?));
    }
    let wanted = env.map(encode_field);
    let mut chosen: Vec<Entry> = Vec::new();
    let mut ids: Vec<IdAt> = Vec::new();
    let mut past = 0;
    let bad = newest_first(repo, clock, None, |met| {
        let (id, entry) = match met {
            Met::Line { line, dep, started } => {
                let ours = wanted.as_deref().is_none_or(|w| env_field(line) == Some(w));
                (
                    IdAt {
                        started,
                        dep: dep.to_string(),
                    },
                    (ours && chosen.len() < n)
                        .then(|| Entry::parse(line))
                        .flatten(),
                )
            }
            Met::Journal(entry) => {
                let ours = env.is_none_or(|env| entry.env == env);
                (
                    IdAt::of(entry),
                    (ours && chosen.len() < n).then(|| entry.clone()),
                )
            }
        };
        // Met newest first: once `n` are chosen, the last is the oldest.
        let full = chosen.len() == n;
        if full
            && chosen
                .last()
                .is_some_and(|oldest| id.started < oldest.started)
        {
            past += 1;
        }
        chosen.extend(entry);
        ids.push(id);
        full && past == margin
    })?;
    if chosen.len() < n {
        // All were met: the ids down to `margin` past the oldest chosen.
        let mut past = 0;
        let end = chosen.last().map_or(0, |oldest| {
            ids.iter()
                .position(|id| {
                    past += usize::from(id.started < oldest.started);
                    past == margin
                })
                .map_or(ids.len(), |at| at + 1)
        });
        ids.truncate(end);
    }
    Ok((chosen, ids, bad))
}

/// What going back through the index meets: a line of the index file, or a
/// deployment of the journal (newer than the file, and in its place by start).
enum Met<'a> {
    /// The line, with its id and start (its place in the order).
    Line {
        line: &'a str,
        dep: &'a str,
        started: Timestamp,
    },
    Journal(&'a Entry),
}

/// An index line's environment field (encoded as the file keeps it).
fn env_field(line: &str) -> Option<&str> {
    line.split(' ').nth(2)
}

/// The deployments of one environment or all, newest first (in the index's order:
/// start, then id), handed to `each` until it says that was enough. Reads the
/// index file backwards from its end, a block at a time.
fn newest_first(
    repo: &Repo,
    clock: Clock,
    env: Option<&str>,
    mut each: impl FnMut(Met<'_>) -> bool,
) -> Result<Vec<BadLine>> {
    let bad = catch_up_if_needed(repo, clock)?;
    let wanted = env.map(encode_field);
    let dir = dir(repo);
    let journal = Journal::read(&dir).unwrap_or_default();
    // The journal's deployments of `env`, newest last, to be taken from the end.
    let mut pending: Vec<&Entry> = journal
        .entries
        .iter()
        .filter(|e| env.is_none_or(|env| e.env == env))
        .collect();
    let mut file = match fs::File::open(dir.join("deployments")) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut end = match &file {
        Some(f) => f.metadata()?.len(),
        None => 0,
    };
    let mut carry: Vec<u8> = Vec::new();
    const BLOCK: u64 = 64 * 1024;
    'blocks: while let Some(file) = file.as_mut().filter(|_| end > 0) {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        // The first line of a block may be cut: keep it for the next block.
        let (head, body) = match (start, memchr::memchr(b'\n', &block)) {
            (0, _) => (Vec::new(), &block[..]),
            (_, Some(i)) => (block[..=i].to_vec(), &block[i + 1..]),
            (_, None) => (block.clone(), &block[..0]),
        };
        for line in lines_backwards(body) {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            if line.is_empty()
                || wanted
                    .as_deref()
                    .is_some_and(|w| env_field(line) != Some(w))
                || journal.supersedes(line)
            {
                continue;
            }
            let Some((dep, started)) = line_dep_and_start(line) else {
                continue;
            };
            // Journal lines after this one in the index's order come first.
            while let Some(&j) = pending
                .last()
                .filter(|j| (started, dep) < (j.started, j.dep.as_str()))
            {
                pending.pop();
                if each(Met::Journal(j)) {
                    return Ok(bad);
                }
            }
            if each(Met::Line { line, dep, started }) {
                return Ok(bad);
            }
        }
        if start == 0 {
            break 'blocks;
        }
        carry = head;
        end = start;
    }
    while let Some(j) = pending.pop() {
        if each(Met::Journal(j)) {
            break;
        }
    }
    Ok(bad)
}

/// The deployment with id `dep`, from the index brought up to date. Parses only its
/// line: `report --deployment` parsing all 14,000 lines took a fifth of its time.
pub fn find(repo: &Repo, clock: Clock, dep: &str) -> Result<Option<Entry>> {
    if up_to_date(repo, clock)?.is_none() {
        catch_up(repo, clock)?;
    }
    let dir = dir(repo);
    let journal = Journal::read(&dir).unwrap_or_default();
    let in_journal = journal.entries.iter().find(|e| e.dep == dep);
    let file = match fs::File::open(dir.join("deployments")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(in_journal.cloned()),
        Err(e) => return Err(e.into()),
    };
    // A line is `COMMIT DEP ...`, the commit 40 hex digits: the lines that hold the
    // id are found in the ids file (or else by searching the mapped file), and only
    // they are parsed.
    let in_file = match super::mmap::Mapped::open(&file) {
        Some(map) => {
            let text = map.bytes();
            let line_at = |start: usize| {
                let rest = text.get(start..)?;
                let end = memchr::memchr(b'\n', rest).map_or(text.len(), |i| start + i);
                std::str::from_utf8(&text[start..end]).ok()
            };
            let holds = |line: &str| line_dep(line) == Some(dep);
            let listed = file
                .metadata()
                .ok()
                .and_then(|meta| ledger::ids::offsets(&dir, &meta, dep))
                .and_then(|offsets| {
                    offsets
                        .into_iter()
                        .map(|at| line_at(at).filter(|l| holds(l)))
                        .collect::<Option<Vec<&str>>>()
                });
            let lines: Vec<&str> = match listed {
                Some(lines) => lines,
                None => {
                    let needle = format!(" {dep} ");
                    memchr::memmem::find_iter(text, needle.as_bytes())
                        .filter(|&at| at >= 40 && (at == 40 || text[at - 41] == b'\n'))
                        .filter_map(|at| line_at(at - 40))
                        .collect()
                }
            };
            lines
                .into_iter()
                .filter(|line| !journal.supersedes(line))
                .find_map(Entry::parse)
        }
        None => fs::read_to_string(dir.join("deployments"))?
            .lines()
            .filter(|line| line_dep(line) == Some(dep) && !journal.supersedes(line))
            .find_map(Entry::parse),
    };
    // The first in the index's order (a journal line comes before an equal one).
    Ok(match (in_journal, in_file) {
        (Some(j), Some(f)) => Some(if newer(j, &f) && j != &f {
            f
        } else {
            j.clone()
        }),
        (j, f) => f.or(j.cloned()),
    })
}

/// Each environment's newest deployment (whatever its state), from the index brought
/// up to date: the environments the ledger knows, without reading every deployment.
pub fn newest(repo: &Repo, clock: Clock) -> Result<BTreeMap<String, Entry>> {
    if up_to_date(repo, clock)?.is_none() {
        catch_up(repo, clock)?;
    }
    Ok(read_head(&dir(repo).join("head"))
        .map(|h| h.newest)
        .unwrap_or_default())
}

/// The snapshot, when the index is current (nothing to catch up).
fn up_to_date(repo: &Repo, clock: Clock) -> Result<Option<Snapshot>> {
    let notes_tip = notes_tip(&repo.git)?;
    if let Some(head) = read_head(&dir(repo).join("head")) {
        let snapshot = head.snapshot(&repo.git);
        if head.notes == notes_tip
            && head.holds_at(clock.now())
            && journal_len(&dir(repo)) == head.journal
            && current_refs(&repo.git)? == snapshot.deployed
        {
            return Ok(Some(snapshot));
        }
    }
    Ok(None)
}

/// Brings the index up to date with the notes: nothing to do when they did not move;
/// from the diff of the two notes versions when the old one is known (only the
/// changed notes are read, the index file is rewritten without parsing it); from
/// scratch otherwise.
pub fn catch_up(repo: &Repo, clock: Clock) -> Result<(Snapshot, Vec<BadLine>)> {
    let dir = dir(repo);
    fs::create_dir_all(&dir)?;
    let _lock = LockFile::acquire(&dir.join("lock"), std::time::Duration::from_secs(120))?;
    let notes = Notes::load(repo, ledger::DEPLOYS)?;
    let mut bad_lines = Vec::new();
    let entries_path = dir.join("deployments");
    let previous = read_head(&dir.join("head"))
        .filter(|h| entries_path.exists() && journal_len(&dir) == h.journal);
    let now = clock.now();
    let head = match previous {
        Some(head) if head.notes == notes.tip() && head.holds_at(now) => head,
        // Only the clock moved past what the head was made for.
        Some(head) if head.notes == notes.tip() => recount(&dir, head, now)?,
        Some(head) if head.notes.is_none_or(|o| repo.has_commit(o)) => {
            update(&dir, &notes, head, now, &mut bad_lines)?
        }
        _ => rebuild(&dir, &notes, now, &mut bad_lines)?,
    };
    let snapshot = head.snapshot(&repo.git);
    update_refs(&repo.git, &snapshot.deployed)?;
    Ok((snapshot, bad_lines))
}

fn rebuild(
    dir: &Path,
    notes: &Notes,
    now: Timestamp,
    bad_lines: &mut Vec<BadLine>,
) -> Result<Head> {
    let entries = read_notes(notes, bad_lines)?;
    write_skipped(dir, &[], bad_lines, true)?;
    // In the index's order: start, then id, then the order of the notes and of the
    // deployments in each, however they were read. Sorted as small keys: moving
    // the entries themselves was a fifth of a rebuild.
    let mut keys: Vec<(Timestamp, &str, usize, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, (note, e))| (e.started, e.dep.as_str(), *note, i))
        .collect();
    keys.sort_unstable();
    // The lines written in two halves on two threads, each half tallied for the
    // head as it is written; then, while this thread writes the file (the halves
    // one after the other, not joined first) and the head, the other finds the
    // ids for the ids cache.
    let lines = |part: &[(Timestamp, &str, usize, usize)]| {
        let mut text = String::with_capacity(part.len() * 200);
        let mut tally = Tally::new(now);
        for &(_, _, _, i) in part {
            let entry = &entries[i].1;
            entry.write_line(&mut text);
            tally.add(entry);
        }
        (text, tally)
    };
    let (first, second) = keys.split_at(keys.len() / 2);
    let (text, rest, tally) = std::thread::scope(|scope| {
        let other = scope.spawn(|| lines(second));
        let (text, tally) = lines(first);
        let (rest, later) = join(other.join());
        (text, rest, tally.then(later))
    });
    let head = std::thread::scope(|scope| {
        let ids = scope.spawn(|| ledger::ids::Ids::of(&[&text, &rest]));
        write_parts_atomically(
            &dir.join("deployments"),
            &[text.as_bytes(), rest.as_bytes()],
        )?;
        Journal::remove(dir)?;
        let head = Head {
            notes: notes.tip(),
            deployed: tally.deployed(),
            open: tally.open(),
            future: tally.future(),
            newest: tally.newest(),
            journal: 0,
            last_success: tally.last_success(BTreeMap::new()),
        };
        write_head(dir, &head)?;
        // Only a cache: without it, lookups search the file.
        let _ = join(ids.join()).write(dir);
        Ok::<_, crate::error::Error>(head)
    })?;
    drop(keys);
    // Freeing 14,000 entries (eight strings each) took 5 ms, and the lines are
    // 13 MB to unmap: done beside what the command goes on to do.
    drop_aside((entries, text, rest));
    Ok(head)
}

/// Drops `value` on a thread of its own, not waited for (a process that ends
/// first frees it all at once).
fn drop_aside<T: Send + 'static>(value: T) {
    // Without a thread, the closure not run drops it here.
    let _ = std::thread::Builder::new()
        .name("git-train: free".into())
        .spawn(move || drop(value));
}

/// What a scoped thread returned; its panic goes on here.
fn join<T>(joined: std::thread::Result<T>) -> T {
    joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The deployments to `env` whose success is dated after `at`, from the index
/// brought up to date; usually none, told from the index's head alone.
pub fn successes_after(repo: &Repo, clock: Clock, env: &str, at: Timestamp) -> Result<Vec<Entry>> {
    catch_up(repo, clock)?;
    let dir = dir(repo);
    let bound = read_head(&dir.join("head")).and_then(|h| h.last_success.get(env).copied());
    if bound.is_some_and(|b| b <= at) {
        return Ok(Vec::new());
    }
    Ok(read_all(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.env == env && e.success_at.is_some_and(|s| s > at))
        .collect())
}

/// `a` comes after `b` in the index's order (start, then id), or with it.
fn newer(a: &Entry, b: &Entry) -> bool {
    (a.started, &a.dep) >= (b.started, &b.dep)
}

/// The head for another clock, from the deployments file (the notes did not move).
fn recount(dir: &Path, old: Head, now: Timestamp) -> Result<Head> {
    let all = read_all(dir).unwrap_or_default();
    let tally = Tally::of(&all, now);
    let head = Head {
        deployed: tally.deployed(),
        future: tally.future(),
        newest: tally.newest(),
        last_success: tally.last_success(BTreeMap::new()),
        ..old
    };
    write_head(dir, &head)?;
    Ok(head)
}

fn update(
    dir: &Path,
    notes: &Notes,
    old: Head,
    now: Timestamp,
    bad_lines: &mut Vec<BadLine>,
) -> Result<Head> {
    let changed: HashSet<CommitId> = notes.changed_since(old.notes)?.into_iter().collect();
    let mut fresh = Vec::new();
    for commit in &changed {
        fresh.extend(index_note(notes, *commit, bad_lines)?);
    }
    fresh.sort_by(|a, b| (a.started, &a.dep).cmp(&(b.started, &b.dep)));
    let tally = Tally::of(&fresh, now);
    let changed_list: Vec<CommitId> = changed.iter().copied().collect();
    write_skipped(dir, &changed_list, bad_lines, false)?;

    // The changed commits' deployments go to the journal, which is small: one event
    // costs what its commit's note holds, not what the whole ledger holds. When the
    // journal has grown to an eighth of the file, both are written as one file.
    let Some(mut journal) = Journal::read(dir) else {
        return rebuild(dir, notes, now, bad_lines);
    };
    journal.replace(&changed, &fresh);
    let journal_len = if journal.len_bytes() > JOURNAL_MAX {
        compact(dir, &journal)?;
        0
    } else {
        journal.write(dir)?
    };

    // The clock moved past what the old head was made for: count everything again.
    if !old.holds_at(now) {
        let open = open_of_update(old.open, &changed, &tally);
        let head = Head {
            notes: notes.tip(),
            open,
            journal: journal_len,
            ..old
        };
        return recount(dir, head, now);
    }
    // What runs where changes only through the changed notes, unless the commit an
    // environment ran was among them and they no longer hold a success as new as
    // the one it had (a retraction): then that environment is worked out again from
    // the whole file. (A new event on the running commit, as often as not, keeps it.)
    let mut deployed = old.deployed;
    let fresh_best = tally.deployed();
    let stale: Vec<String> = deployed
        .iter()
        .filter(|(env, seen)| {
            changed.contains(&seen.commit)
                && fresh_best.get(*env).is_none_or(|b| b.key() < seen.key())
        })
        .map(|(env, _)| env.clone())
        .collect();
    for env in &stale {
        deployed.remove(env);
    }
    for (env, best) in fresh_best {
        let newer = deployed
            .get(&env)
            .is_none_or(|seen| best.key() >= seen.key());
        if newer && !stale.contains(&env) {
            deployed.insert(env, best);
        }
    }
    if !stale.is_empty() {
        let all = read_all(dir).unwrap_or_default();
        for (env, found) in Tally::of(&all, now).deployed() {
            if stale.contains(&env) {
                deployed.insert(env, found);
            }
        }
    }
    // The newest deployment of each environment: among the fresh ones, unless it was
    // on a changed commit and no fresh one is as new (its note lost it).
    let mut newest = old.newest;
    let mut lost = Vec::new();
    for n in newest.values() {
        if changed.contains(&n.commit) {
            lost.push(n.clone());
        }
    }
    for n in &lost {
        newest.remove(&n.env);
    }
    for e in &fresh {
        if newest.get(&e.env).is_none_or(|n| newer(e, n)) {
            newest.insert(e.env.clone(), e.clone());
        }
    }
    if lost
        .iter()
        .any(|l| newest.get(&l.env).is_none_or(|n| !newer(n, l)))
    {
        let all = read_all(dir).unwrap_or_default();
        newest = Tally::of(&all, now).newest();
    }
    let last_success = tally.last_success(old.last_success);
    let mut future: Vec<Future> = old
        .future
        .into_iter()
        .filter(|f| !changed.contains(&f.commit))
        .collect();
    future.extend(tally.future());
    future.sort();
    let head = Head {
        notes: notes.tip(),
        deployed,
        open: open_of_update(old.open, &changed, &tally),
        future,
        newest,
        journal: journal_len,
        last_success,
    };
    write_head(dir, &head)?;
    Ok(head)
}

/// The open deployments after the notes of `changed` were indexed again as `fresh`.
fn open_of_update(old: Vec<Open>, changed: &HashSet<CommitId>, fresh: &Tally) -> Vec<Open> {
    let mut open: Vec<Open> = old
        .into_iter()
        .filter(|o| !changed.contains(&o.commit))
        .collect();
    open.extend(fresh.open());
    sort_open(&mut open);
    open
}

fn sort_open(open: &mut [Open]) {
    open.sort_by(|a, b| (&a.env, &a.dep, a.commit).cmp(&(&b.env, &b.dep, b.commit)));
}

/// The deployments of every note, each with the number (in `Notes::all`) of the note
/// it came from. Reading and parsing every note is most of a rebuild. The notes are
/// read from the pack files here (`ledger::pack`: each delta inflated once); those
/// not in a pack (written since the last `git gc`) through one `git cat-file
/// --batch`, or libgit2 when git cannot be started.
fn read_notes(notes: &Notes, bad_lines: &mut Vec<BadLine>) -> Result<Vec<(usize, Entry)>> {
    read_notes_with(
        notes,
        bad_lines,
        Readers {
            packs: true,
            git: true,
        },
    )
}

/// The readers `read_notes` may use besides libgit2 (all but in tests).
#[derive(Clone, Copy)]
struct Readers {
    packs: bool,
    git: bool,
}

fn read_notes_with(
    notes: &Notes,
    bad_lines: &mut Vec<BadLine>,
    readers: Readers,
) -> Result<Vec<(usize, Entry)>> {
    use ledger::pack::{Kind, Packs};
    let packs = Packs::open(&notes.git().commondir().join("objects"));
    let all = notes.all_blobs(readers.packs.then_some(&packs))?;
    let mut found = Vec::with_capacity(all.len());
    let mut rest = Vec::new();
    // Looked up in the order of their ids, so that the pack index (28 MB for a
    // million objects, mapped) is read front to back, not paged in at random; in
    // two halves on two threads (7 ms on one for 12,000 notes).
    let mut by_id: Vec<usize> = (0..all.len()).collect();
    // By the ids' first eight bytes (enough for the order of the pages): comparing
    // whole `Oid`s goes through libgit2's `git_oid_cmp`, 2.5 ms for 12,000.
    by_id.sort_unstable_by_key(|&i| ledger::pack::id_prefix(all[i].1.as_bytes()));
    let locate = |part: &[usize]| -> Vec<_> {
        part.iter()
            .map(|&i| (i, packs.locate(&all[i].1).filter(|_| readers.packs)))
            .collect()
    };
    let located = if by_id.len() >= 512 {
        let (first, second) = by_id.split_at(by_id.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| locate(second));
            let mut located = locate(first);
            located.extend(join(other.join()));
            located
        })
    } else {
        locate(&by_id)
    };
    for (i, at) in located {
        match at {
            Some(at) => found.push((at, i)),
            None => rest.push(i),
        }
    }
    rest.sort_unstable();
    let chains = packs.chains(&found.iter().map(|(at, _)| *at).collect::<Vec<_>>());
    let mut found: Vec<_> = found
        .into_iter()
        .zip(&chains.starts)
        .map(|((at, i), &start)| (start, at, i))
        .collect();
    found.sort_unstable();
    // In runs of whole delta chains (a chain split between two threads would be
    // inflated by both), in pack order, each taken by the next thread free: in
    // two fixed halves, one thread finished 10 to 20 ms after the other.
    let runs = runs_of_chains(&found, found.len().div_ceil(64).max(32));
    let threads = if found.len() >= 512 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut reader = packs.reader_for(&chains);
        let mut done = Vec::new();
        loop {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(run) = runs.get(n) else { break };
            let mut read = NotesRead::default();
            for &(_, at, i) in *run {
                match reader.read_at(at) {
                    Some((Kind::Blob, bytes)) => read.add(i, all[i].0, &bytes),
                    _ => read.unread.push(i),
                }
            }
            // The chains of the run are done with.
            reader.forget();
            done.push((n, read));
        }
        done
    };
    let mut parts = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut parts = work();
        for other in others {
            parts.extend(join(other.join()));
        }
        parts
    });
    // In the order of the runs, however the threads took them.
    parts.sort_unstable_by_key(|(n, _)| *n);
    let mut read = NotesRead::default();
    read.entries
        .reserve(parts.iter().map(|(_, p)| p.entries.len()).sum());
    for (_, part) in parts {
        read.append(part);
    }
    rest.append(&mut read.unread);
    let blobs: Vec<Oid> = rest.iter().map(|&i| all[i].1).collect();
    // A few loose notes (written since the last `git gc`) are read by libgit2 sooner
    // than a git process starts; many (a pack this reader does not read) by git.
    let through_git = if readers.git && rest.len() >= 64 {
        ledger::batch::each_blob(notes.git().path(), &blobs, |n, bytes| {
            read.add(rest[n], all[rest[n]].0, bytes);
            Ok(())
        })
    } else {
        None
    };
    match through_git {
        Some(done) => done?,
        // Few, or git could not be started.
        None => {
            for &i in &rest {
                let text = ledger::notes::read_blob(notes.git(), all[i].1)?;
                read.add(i, all[i].0, text.as_bytes());
            }
        }
    }
    // The skipped lines in the order of the notes, as the entries are sorted.
    read.bad.sort_by_key(|(note, _)| *note);
    bad_lines.extend(read.bad.into_iter().map(|(_, b)| b));
    Ok(read.entries)
}

/// `items` (sorted by their chain's start, the first field) cut into runs of about
/// `size`, none splitting a chain.
fn runs_of_chains<K: PartialEq, T>(items: &[(K, T, usize)], size: usize) -> Vec<&[(K, T, usize)]> {
    let mut runs = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut end = size.clamp(1, rest.len());
        while end < rest.len() && rest[end].0 == rest[end - 1].0 {
            end += 1;
        }
        let (run, tail) = rest.split_at(end);
        runs.push(run);
        rest = tail;
    }
    runs
}

/// What `read_notes` read so far: each entry and skipped line with its note's number.
#[derive(Default)]
struct NotesRead {
    entries: Vec<(usize, Entry)>,
    bad: Vec<(usize, BadLine)>,
    /// Notes not readable from the packs.
    unread: Vec<usize>,
}

impl NotesRead {
    fn add(&mut self, note: usize, commit: CommitId, bytes: &[u8]) {
        // Checked as UTF-8 first: `from_utf8_lossy` goes through the text in chunks,
        // several times slower when (as nearly always) nothing is to be replaced.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let (entries, skipped) = entries_of_note(commit, &text);
        self.bad.extend(skipped.into_iter().map(|b| (note, b)));
        self.entries.extend(entries.into_iter().map(|e| (note, e)));
    }

    fn append(&mut self, mut other: NotesRead) {
        self.entries.append(&mut other.entries);
        self.bad.append(&mut other.bad);
        self.unread.append(&mut other.unread);
    }
}

/// The index entries of one note's text, and its lines that do not parse: one
/// reader for a rebuild and an update, so that the two cannot differ.
fn entries_of_note(commit: CommitId, text: &str) -> (Vec<Entry>, Vec<BadLine>) {
    let (events, skipped) = ledger::notes::parse_lines(commit, text, BorrowedEvent::parse);
    let (deployments, _) = fold(&commit.to_string(), events);
    let entries = deployments.iter().map(|d| Entry::of(d, commit)).collect();
    (entries, skipped)
}

fn index_note(notes: &Notes, commit: CommitId, bad: &mut Vec<BadLine>) -> Result<Vec<Entry>> {
    let Some(text) = notes.read(commit)? else {
        return Ok(Vec::new());
    };
    let (entries, skipped) = entries_of_note(commit, &text);
    bad.extend(skipped);
    Ok(entries)
}

/// An environment's newest success: what it runs.
#[derive(Clone, Debug, PartialEq)]
struct Best {
    commit: CommitId,
    at: Timestamp,
    started: Timestamp,
    dep: String,
}

impl Best {
    /// Newest by the time of the success; ties (one clock, a fixed clock) by start,
    /// then id and commit, so that the order of reading never decides.
    fn key(&self) -> (Timestamp, Timestamp, &str, CommitId) {
        (self.at, self.started, &self.dep, self.commit)
    }
}

fn update_refs(git: &Repository, deployed: &Deployed) -> Result<()> {
    let current = current_refs(git)?;
    for (env, oid) in deployed {
        if current.get(env) != Some(oid) {
            git.reference(
                &format!("{DEPLOYED_PREFIX}{env}"),
                Oid::from(*oid),
                true,
                "git-train: index",
            )?;
        }
    }
    for env in current.keys().filter(|e| !deployed.contains_key(*e)) {
        if let Ok(mut r) = git.find_reference(&format!("{DEPLOYED_PREFIX}{env}")) {
            r.delete()?;
        }
    }
    Ok(())
}

/// `.git/train/index/skipped`: the lines of the notes that do not parse, one
/// `COMMIT LINE` each, so that `history` warns about those of the notes it shows
/// without reading the notes. `changed` are the commits whose notes were read again
/// (their old lines dropped); `all` when every note was.
fn write_skipped(dir: &Path, changed: &[CommitId], bad: &[BadLine], all: bool) -> Result<()> {
    let path = dir.join("skipped");
    let old = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let changed_hex: HashSet<String> = changed.iter().map(CommitId::to_string).collect();
    let mut text = String::new();
    if !all {
        for line in old.lines() {
            if !line.get(..40).is_some_and(|h| changed_hex.contains(h)) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    for b in bad {
        text.push_str(&format!("{} {}\n", b.commit, b.line));
    }
    if text == old {
        return Ok(());
    }
    if text.is_empty() {
        fs::remove_file(&path)?;
        return Ok(());
    }
    write_atomically(&path, text.as_bytes())
}

/// The lines that do not parse of each note that has some, by commit, as the note
/// holds them (parse them again with `parse_note` for the reasons).
pub fn skipped(repo: &Repo) -> Result<std::collections::HashMap<CommitId, String>> {
    let mut out: std::collections::HashMap<CommitId, String> = Default::default();
    let text = match fs::read_to_string(dir(repo).join("skipped")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for line in text.lines() {
        if let Some((commit, rest)) = line.split_once(' ') {
            if let Some(commit) = CommitId::parse(commit) {
                let note = out.entry(commit).or_default();
                note.push_str(rest);
                note.push('\n');
            }
        }
    }
    Ok(out)
}

/// A journal longer than this is folded into the deployments file: every reader
/// of the index reads the journal whole, and a fold rewrites the file (once per
/// a few hundred changed deployments).
const JOURNAL_MAX: u64 = if cfg!(test) { 2 * 1024 } else { 64 * 1024 };

/// The journal file's length (0: none).
fn journal_len(dir: &Path) -> u64 {
    fs::metadata(Journal::path(dir)).map_or(0, |m| m.len())
}

/// `.git/train/index/journal`: the deployments of the commits whose notes changed
/// since the deployments file was written. Their lines in that file are superseded.
/// Lines: `- COMMIT` for each such commit, then its deployments as index lines.
#[derive(Default)]
struct Journal {
    /// The commits it supersedes, as hex.
    changed: HashSet<String>,
    /// Their deployments, in the index's order (start, then id).
    entries: Vec<Entry>,
}

impl Journal {
    fn path(dir: &Path) -> PathBuf {
        dir.join("journal")
    }

    /// The journal; empty when there is none, None when it does not read.
    fn read(dir: &Path) -> Option<Journal> {
        let text = match fs::read_to_string(Journal::path(dir)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Journal::default()),
            Err(_) => return None,
        };
        let mut journal = Journal::default();
        for line in text.lines() {
            match line.strip_prefix("- ") {
                Some(commit) => {
                    journal.changed.insert(commit.to_string());
                }
                None => journal.entries.push(Entry::parse(line)?),
            }
        }
        Some(journal)
    }

    /// Whether an index line is superseded by the journal.
    fn supersedes(&self, line: &str) -> bool {
        !self.changed.is_empty() && line.get(..40).is_some_and(|h| self.changed.contains(h))
    }

    /// The notes of `changed` now hold `fresh` (sorted).
    fn replace(&mut self, changed: &HashSet<CommitId>, fresh: &[Entry]) {
        self.entries.retain(|e| !changed.contains(&e.commit));
        self.changed.extend(changed.iter().map(CommitId::to_string));
        self.entries.extend(fresh.iter().cloned());
        self.entries
            .sort_by(|a, b| (a.started, &a.dep).cmp(&(b.started, &b.dep)));
    }

    fn len_bytes(&self) -> u64 {
        (self.changed.len() * 43 + self.entries.len() * 110) as u64
    }

    /// Writes it and returns its length.
    fn write(&self, dir: &Path) -> Result<u64> {
        let mut changed: Vec<&String> = self.changed.iter().collect();
        changed.sort();
        let mut text = String::with_capacity(self.len_bytes() as usize);
        for c in changed {
            text.push_str("- ");
            text.push_str(c);
            text.push('\n');
        }
        for e in &self.entries {
            e.write_line(&mut text);
        }
        write_atomically(&Journal::path(dir), text.as_bytes())?;
        Ok(text.len() as u64)
    }

    fn remove(dir: &Path) -> Result<()> {
        match fs::remove_file(Journal::path(dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Every deployment in the index's order: the file without the lines the journal
/// supersedes, with the journal's merged in by start time (a journal line before a
/// file line of the same start and id), as a rebuild would write them.
fn read_all(dir: &Path) -> Option<Vec<Entry>> {
    let journal = Journal::read(dir)?;
    let file = read_entries(&dir.join("deployments"), &journal)?;
    let mut out = Vec::with_capacity(file.len() + journal.entries.len());
    let mut incoming = journal.entries.into_iter().peekable();
    for e in file {
        while let Some(j) = incoming.next_if(|j| (j.started, &j.dep) <= (e.started, &e.dep)) {
            out.push(j);
        }
        out.push(e);
    }
    out.extend(incoming);
    Some(out)
}

/// The deployments file and the journal written as one file; the journal removed.
fn compact(dir: &Path, journal: &Journal) -> Result<()> {
    let path = dir.join("deployments");
    let old_text = fs::read_to_string(&path)?;
    let mut text = String::with_capacity(old_text.len() + journal.entries.len() * 110);
    let mut incoming = journal.entries.iter().peekable();
    for line in old_text.lines() {
        if journal.supersedes(line) {
            continue;
        }
        // Same order as a rebuild: by start, then by deployment id.
        let key = match incoming.peek() {
            Some(_) => line_dep_and_start(line).map_or((Timestamp(0), ""), |(d, s)| (s, d)),
            None => (Timestamp(0), ""),
        };
        while let Some(e) = incoming.next_if(|e| (e.started, e.dep.as_str()) <= key) {
            e.write_line(&mut text);
        }
        text.push_str(line);
        text.push('\n');
    }
    for e in incoming {
        e.write_line(&mut text);
    }
    write_atomically(&path, text.as_bytes())?;
    let _ = ledger::ids::write(dir, &text);
    Journal::remove(dir)
}

fn read_entries(path: &Path, journal: &Journal) -> Option<Vec<Entry>> {
    let file = fs::File::open(path).ok()?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.ok()?;
        if !journal.supersedes(&line) {
            out.push(Entry::parse(&line)?);
        }
    }
    Some(out)
}

/// The deployments of one commit, read from the notes.
pub fn deployments_of(notes: &Notes, commit: CommitId) -> Result<(Vec<Deployment>, Vec<BadLine>)> {
    let Some(text) = notes.read(commit)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let (events, bad) = ledger::parse_note(commit, &text);
    Ok((fold(&commit.to_string(), events).0, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Event, Fields};

    proptest::proptest! {
        /// The lines backwards are what splitting at every newline and reversing
        /// gives: empty lines, no newline at all, one at either end.
        #[test]
        fn lines_backwards_are_a_reversed_split(
            text in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', b' ']), 0..40)
        ) {
            let want: Vec<&[u8]> = text.split(|&b| b == b'\n').rev().collect();
            proptest::prop_assert_eq!(lines_backwards(&text).collect::<Vec<_>>(), want);
        }
    }

    /// A new repository with a line of `n` empty commits, oldest first.
    fn line_of_commits(n: usize) -> (tempfile::TempDir, Repository, Vec<CommitId>) {
        let tmp = tempfile::tempdir().unwrap();
        let git = Repository::init(tmp.path()).unwrap();
        let sig =
            git2::Signature::new("A", "a@example.com", &git2::Time::new(1_600_000_000, 0)).unwrap();
        let tree_id = git.index().unwrap().write_tree().unwrap();
        let mut commits: Vec<CommitId> = Vec::new();
        for i in 0..n {
            let tree = git.find_tree(tree_id).unwrap();
            let parents: Vec<git2::Commit> = commits
                .last()
                .map(|c| git.find_commit(Oid::from(*c)).unwrap())
                .into_iter()
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let oid = git
                .commit(Some("HEAD"), &sig, &sig, &format!("c{i}"), &tree, &refs)
                .unwrap();
            commits.push(oid.into());
        }
        (tmp, git, commits)
    }

    /// Events on old and new commits, one ledger commit each, so that the journal
    /// grows and is folded into the file several times: after every one the index
    /// reads as a rebuild from the same notes does, and `recent` and `find` agree.
    /// Runs are about the size asked, cover every item in order, and never cut
    /// a chain (equal first fields) in two: a chain split between two threads is
    /// inflated by both.
    #[test]
    fn runs_of_chains_cut_between_chains_only() {
        let chains = [1, 1, 1, 2, 3, 3, 3, 3, 3, 4, 5, 5, 6, 7, 7, 7, 7, 7, 7, 8];
        let items: Vec<(u32, (), usize)> = chains.iter().map(|&c| (c, (), 0)).collect();
        for size in [0, 1, 2, 3, 4, 7, 100] {
            let runs = runs_of_chains(&items, size);
            assert_eq!(runs.concat(), items, "size {size}");
            for pair in runs.windows(2) {
                assert_ne!(pair[0].last().unwrap().0, pair[1][0].0, "size {size}");
            }
            let want = size.max(1);
            for (n, run) in runs.iter().enumerate() {
                // Short only at the end; longer only to finish the chain it cut.
                assert!(run.len() >= want || n == runs.len() - 1, "size {size}");
                let cut = run[want.min(run.len()) - 1].0;
                assert!(
                    run[want.min(run.len())..].iter().all(|i| i.0 == cut),
                    "size {size}"
                );
            }
        }
        assert!(runs_of_chains::<u32, ()>(&[], 4).is_empty());
    }

    #[test]
    fn the_journal_reads_as_a_rebuild() {
        let (tmp, _git, commits) = line_of_commits(40);
        let repo = Repo::open(tmp.path()).unwrap();
        let clock = Clock::fixed(Timestamp(1_700_000_000_000));
        let dir = dir(&repo);
        let mut folded = 0;
        let mut deps: Vec<String> = Vec::new();
        for step in 0..120u32 {
            // Mostly new deployments, some events on old ones (out of order).
            let i = if step % 3 == 0 {
                (step as usize * 7) % 40
            } else {
                step as usize % 40
            };
            let env = ["staging", "production", "qa"][step as usize % 3];
            // Now and then an id again, on another commit (a hand-written line):
            // `find` gives its first line in the index's order, as before.
            let dep = match step % 11 {
                10 => deps[step as usize - 5].clone(),
                _ => crate::ledger::new_id(Timestamp(1_600_000_000_000 + i64::from(step) * 1000)),
            };
            deps.push(dep.clone());
            let at = 1_600_000_000_000 + i64::from(step % 17) * 60_000;
            let event = |state, at| Event {
                at: Timestamp(at),
                subject: env.to_string(),
                state,
                by: "a@example.com".into(),
                fields: Fields {
                    dep: Some(dep.clone()),
                    ..Fields::default()
                }
                .into_map(),
            };
            let lines = vec![
                event(State::Queued, at).to_line(),
                event(
                    if step % 5 == 0 {
                        State::Failure
                    } else {
                        State::Success
                    },
                    at + 30_000,
                )
                .to_line(),
            ];
            crate::ledger::append(&repo, ledger::DEPLOYS, commits[i], &lines, "test").unwrap();
            catch_up(&repo, clock).unwrap();
            folded += usize::from(journal_len(&dir) == 0);

            let other = tempfile::tempdir().unwrap();
            let notes = Notes::load(&repo, ledger::DEPLOYS).unwrap();
            let rebuilt = rebuild(other.path(), &notes, clock.now(), &mut Vec::new()).unwrap();
            let all = read_all(other.path()).unwrap();
            assert_eq!(read_all(&dir).unwrap(), all, "step {step}");
            let head = read_head(&dir.join("head")).unwrap();
            assert_eq!(head.deployed, rebuilt.deployed, "step {step}");
            assert_eq!(head.open, rebuilt.open, "step {step}");
            assert_eq!(head.newest, rebuilt.newest, "step {step}");
            for env in [None, Some("staging"), Some("qa")] {
                let want: Vec<Entry> = all
                    .iter()
                    .rev()
                    .filter(|e| env.is_none_or(|env| e.env == env))
                    .take(7)
                    .cloned()
                    .collect();
                assert_eq!(recent(&repo, clock, env, 7).unwrap().0, want, "step {step}");
                // In one pass: the newest n, and every id down to `margin` past
                // the oldest of them (none when there is none).
                for (n, margin) in [(0, 3), (1, 1), (7, 3), (7, 10), (1000, 3)] {
                    let want: Vec<Entry> = all
                        .iter()
                        .rev()
                        .filter(|e| env.is_none_or(|env| e.env == env))
                        .take(n)
                        .cloned()
                        .collect();
                    let mut window = Vec::new();
                    if let Some(oldest) = want.last() {
                        let mut past = 0;
                        for e in all.iter().rev() {
                            window.push(IdAt::of(e));
                            past += usize::from(e.started < oldest.started);
                            if past == margin {
                                break;
                            }
                        }
                    }
                    let (chosen, ids, _) = recent_and_ids(&repo, clock, env, n, margin).unwrap();
                    assert_eq!(chosen, want, "step {step} n {n}");
                    assert_eq!(ids, window, "step {step} n {n} margin {margin}");
                }
            }
            for dep in [&dep, &deps[step as usize / 2]] {
                let first = all.iter().find(|e| &e.dep == dep).cloned();
                assert_eq!(find(&repo, clock, dep).unwrap(), first, "step {step}");
            }
            // Once folded, the ids file answers for the deployments file.
            if folded > 0 {
                let meta = fs::metadata(dir.join("deployments")).unwrap();
                assert!(
                    ledger::ids::offsets(&dir, &meta, &dep).is_some(),
                    "step {step}"
                );
            }
        }
        assert!(folded >= 2, "the journal was folded {folded} times");
    }

    /// The notes read from the packs (on two threads), through `git cat-file
    /// --batch` and by libgit2 are the same: the same entries of the same notes, the
    /// same lines refused.
    #[test]
    fn notes_read_from_packs_through_git_and_by_libgit2_are_the_same() {
        let (tmp, git, commits) = line_of_commits(600);
        let sig = git2::Signature::new("A", "a@example.com", &git2::Time::new(0, 0)).unwrap();
        for (i, commit) in commits.iter().enumerate() {
            let dep = crate::ledger::new_id(Timestamp(1_600_000_000_000 + i as i64 * 1000));
            let mut note = format!(
                "2020-09-13T12:26:40.000Z production queued a@example.com {{\"dep\":\"{dep}\"}}\n"
            )
            .into_bytes();
            if i % 7 == 0 {
                note.extend_from_slice("not an event ünïcode\n".as_bytes());
            }
            git.note(
                &sig,
                &sig,
                Some(ledger::DEPLOYS),
                Oid::from(*commit),
                &String::from_utf8_lossy(&note),
                true,
            )
            .unwrap();
        }
        let repo = Repo::open(tmp.path()).unwrap();
        let read = |readers: Readers| {
            let notes = Notes::load(&repo, ledger::DEPLOYS).unwrap();
            let mut bad = Vec::new();
            let mut entries = read_notes_with(&notes, &mut bad, readers).unwrap();
            entries.sort_by_key(|(note, _)| *note);
            let mut bad: Vec<_> = bad.into_iter().map(|b| (b.commit, b.line)).collect();
            bad.sort();
            (entries, bad)
        };
        let through_git = read(Readers {
            packs: false,
            git: true,
        });
        let here = read(Readers {
            packs: false,
            git: false,
        });
        assert_eq!(through_git.0.len(), 600);
        assert_eq!(through_git.1.len(), 86);
        assert_eq!(through_git, here);
        // Packed, as after a clone: read from the packs, the same again.
        crate::ledger::testing::git(tmp.path(), &["gc", "-q", "--aggressive"]);
        let notes = Notes::load(&repo, ledger::DEPLOYS).unwrap();
        let packs = ledger::pack::Packs::open(&tmp.path().join(".git/objects"));
        let mut reader = packs.reader();
        for (_, blob) in notes.all_blobs(None).unwrap() {
            let (kind, bytes) = reader.read(&blob).expect("every note is in the pack");
            assert_eq!(kind, ledger::pack::Kind::Blob);
            assert_eq!(&*bytes, git.find_blob(blob).unwrap().content());
        }
        assert_eq!(
            read(Readers {
                packs: true,
                git: false
            }),
            here
        );
    }
}
