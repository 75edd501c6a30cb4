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
use crate::domain::event::{decode_field, encode_field};
use crate::domain::{Deployment, State, Timestamp};
use crate::error::Result;
use crate::file::write_atomically;
use crate::ledger::lockfile::LockFile;
use crate::ledger::repo::Repo;
use crate::ledger::{self, BadLine, Notes};

const DEPLOYED_PREFIX: &str = "refs/train/deployed/";
const HEAD_MAGIC: &str = "git-train-index 4";

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
}

impl Entry {
    fn of(d: &Deployment, commit: CommitId) -> Entry {
        Entry {
            commit,
            dep: d.dep.clone(),
            env: d.env.clone(),
            started: d.started_at(),
            state: d.state(),
            success_at: d.success_at(),
            succeeded_at: d.first_success_at(),
        }
    }

    fn to_line(&self) -> String {
        let ms = |t: Option<Timestamp>| t.map(|t| t.0.to_string()).unwrap_or_else(|| "-".into());
        format!(
            "{} {} {} {} {} {} {}\n",
            self.commit,
            self.dep,
            crate::domain::event::encode_field(&self.env),
            self.started.0,
            self.state,
            ms(self.success_at),
            ms(self.succeeded_at),
        )
    }

    fn parse(line: &str) -> Option<Entry> {
        let mut f = line.split(' ');
        let entry = Entry {
            commit: CommitId::parse(f.next()?)?,
            dep: f.next()?.to_string(),
            env: crate::domain::event::decode_field(f.next()?)?,
            started: Timestamp(f.next()?.parse().ok()?),
            state: State::parse(f.next()?)?,
            success_at: optional_ms(f.next()?)?,
            succeeded_at: optional_ms(f.next()?)?,
        };
        Some(entry)
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
    };
    for line in lines {
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
    let entries = read_entries(&dir(repo).join("deployments")).unwrap_or_default();
    Ok(Index {
        entries,
        snapshot,
        bad_lines,
    })
}

/// The newest `n` deployments, of one environment or all, newest first. Reads the
/// index file backwards from its end and parses only what it returns.
pub fn recent(
    repo: &Repo,
    clock: Clock,
    env: Option<&str>,
    n: usize,
) -> Result<(Vec<Entry>, Vec<BadLine>)> {
    let bad = match up_to_date(repo, clock)? {
        Some(_) => Vec::new(),
        None => catch_up(repo, clock)?.1,
    };
    let wanted = env.map(encode_field);
    let mut out = Vec::new();
    let mut file = match fs::File::open(dir(repo).join("deployments")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((out, bad)),
        Err(e) => return Err(e.into()),
    };
    let mut end = file.metadata()?.len();
    let mut carry: Vec<u8> = Vec::new();
    const BLOCK: u64 = 64 * 1024;
    while out.len() < n {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&carry);
        // The first line of a block may be cut: keep it for the next block.
        let (head, body) = match (start, block.iter().position(|&b| b == b'\n')) {
            (0, _) => (Vec::new(), &block[..]),
            (_, Some(i)) => (block[..=i].to_vec(), &block[i + 1..]),
            (_, None) => (block.clone(), &block[..0]),
        };
        for line in body.split(|&b| b == b'\n').rev() {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            if line.is_empty()
                || wanted
                    .as_deref()
                    .is_some_and(|w| line.split(' ').nth(2) != Some(w))
            {
                continue;
            }
            if let Some(e) = Entry::parse(line) {
                out.push(e);
                if out.len() == n {
                    break;
                }
            }
        }
        if start == 0 {
            break;
        }
        carry = head;
        end = start;
    }
    Ok((out, bad))
}

/// The deployment with id `dep`, from the index brought up to date. Parses only its
/// line: `report --deployment` parsing all 14,000 lines took a fifth of its time.
pub fn find(repo: &Repo, clock: Clock, dep: &str) -> Result<Option<Entry>> {
    if up_to_date(repo, clock)?.is_none() {
        catch_up(repo, clock)?;
    }
    let text = match fs::read_to_string(dir(repo).join("deployments")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // A line is `COMMIT DEP ...`, the commit 40 hex digits.
    Ok(text
        .lines()
        .filter(|line| line.split(' ').nth(1) == Some(dep))
        .find_map(Entry::parse))
}

/// The snapshot, when the index is current (nothing to catch up).
fn up_to_date(repo: &Repo, clock: Clock) -> Result<Option<Snapshot>> {
    let notes_tip = notes_tip(&repo.git)?;
    if let Some(head) = read_head(&dir(repo).join("head")) {
        let snapshot = head.snapshot(&repo.git);
        if head.notes == notes_tip
            && head.holds_at(clock.now())
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
    let previous = read_head(&dir.join("head")).filter(|_| entries_path.exists());
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
    let mut entries = Vec::new();
    for commit in notes.all()? {
        entries.extend(index_note(notes, commit, bad_lines)?);
    }
    entries.sort_by(|a, b| (a.started, &a.dep).cmp(&(b.started, &b.dep)));
    let mut text = String::with_capacity(entries.len() * 110);
    for e in &entries {
        text.push_str(&e.to_line());
    }
    write_atomically(&dir.join("deployments"), text.as_bytes())?;
    let head = Head {
        notes: notes.tip(),
        deployed: newest_success(entries.iter(), now),
        open: open_of(entries.iter()),
        future: future_of(entries.iter(), now),
    };
    write_head(dir, &head)?;
    Ok(head)
}

/// The head for another clock, from the deployments file (the notes did not move).
fn recount(dir: &Path, old: Head, now: Timestamp) -> Result<Head> {
    let all = read_entries(&dir.join("deployments")).unwrap_or_default();
    let head = Head {
        deployed: newest_success(all.iter(), now),
        future: future_of(all.iter(), now),
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

    // Rewrite the file: drop the lines of changed commits, merge the new ones in by
    // start time. Lines are compared by their first fields only.
    let path = dir.join("deployments");
    let old_text = fs::read_to_string(&path)?;
    let mut text = String::with_capacity(old_text.len() + fresh.len() * 110);
    let mut incoming = fresh.iter().peekable();
    // Shas compared as text: parsing every line's took a fifth of recording an event.
    let changed_hex: HashSet<String> = changed.iter().map(CommitId::to_string).collect();
    for line in old_text.lines() {
        if line.get(..40).is_some_and(|h| changed_hex.contains(h)) {
            continue;
        }
        // Same order as a rebuild: by start, then by deployment id.
        let key = match incoming.peek() {
            Some(_) => {
                let mut f = line.split(' ');
                let dep = f.nth(1).unwrap_or("");
                let started = f.nth(1).and_then(|f| f.parse::<i64>().ok()).unwrap_or(0);
                (started, dep)
            }
            None => (0, ""),
        };
        while let Some(e) = incoming.next_if(|e| (e.started.0, e.dep.as_str()) <= key) {
            text.push_str(&e.to_line());
        }
        text.push_str(line);
        text.push('\n');
    }
    for e in incoming {
        text.push_str(&e.to_line());
    }
    write_atomically(&path, text.as_bytes())?;

    // The clock moved past what the old head was made for: count everything again.
    if !old.holds_at(now) {
        let open = open_of_update(old.open, &changed, &fresh);
        let head = Head {
            notes: notes.tip(),
            open,
            ..old
        };
        return recount(dir, head, now);
    }
    // What runs where changes only through the changed notes, unless the commit an
    // environment ran was among them and they no longer hold a success as new as
    // the one it had (a retraction): then that environment is worked out again from
    // the whole file. (A new event on the running commit, as often as not, keeps it.)
    let mut deployed = old.deployed;
    let fresh_best = newest_success(fresh.iter(), now);
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
        let all = read_entries(&path).unwrap_or_default();
        for (env, found) in newest_success(all.iter(), now) {
            if stale.contains(&env) {
                deployed.insert(env, found);
            }
        }
    }
    let mut future: Vec<Future> = old
        .future
        .into_iter()
        .filter(|f| !changed.contains(&f.commit))
        .collect();
    future.extend(future_of(fresh.iter(), now));
    future.sort();
    let head = Head {
        notes: notes.tip(),
        deployed,
        open: open_of_update(old.open, &changed, &fresh),
        future,
    };
    write_head(dir, &head)?;
    Ok(head)
}

/// The open deployments after the notes of `changed` were indexed again as `fresh`.
fn open_of_update(old: Vec<Open>, changed: &HashSet<CommitId>, fresh: &[Entry]) -> Vec<Open> {
    let mut open: Vec<Open> = old
        .into_iter()
        .filter(|o| !changed.contains(&o.commit))
        .collect();
    open.extend(open_of(fresh.iter()));
    sort_open(&mut open);
    open
}

/// The successes that do not count at `now`, sorted.
fn future_of<'a>(entries: impl Iterator<Item = &'a Entry>, now: Timestamp) -> Vec<Future> {
    let mut out: Vec<Future> = entries
        .filter_map(|e| {
            let at = e.success_at?;
            (!counts(at, now)).then(|| Future {
                env: e.env.clone(),
                at,
                dep: e.dep.clone(),
                commit: e.commit,
            })
        })
        .collect();
    out.sort();
    out
}

/// The deployments not yet ended, sorted (by environment, then id: oldest first),
/// so that an update and a rebuild write the same head.
fn open_of<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<Open> {
    let mut open: Vec<Open> = entries
        .filter(|e| !e.state.is_final())
        .map(|e| Open {
            env: e.env.clone(),
            dep: e.dep.clone(),
            commit: e.commit,
        })
        .collect();
    sort_open(&mut open);
    open
}

fn sort_open(open: &mut [Open]) {
    open.sort_by(|a, b| (&a.env, &a.dep, a.commit).cmp(&(&b.env, &b.dep, b.commit)));
}

fn index_note(notes: &Notes, commit: CommitId, bad: &mut Vec<BadLine>) -> Result<Vec<Entry>> {
    let (deployments, bad_lines) = deployments_of(notes, commit)?;
    bad.extend(bad_lines);
    Ok(deployments.iter().map(|d| Entry::of(d, commit)).collect())
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

/// Each environment's newest success that counts at `now`.
fn newest_success<'a>(
    entries: impl Iterator<Item = &'a Entry>,
    now: Timestamp,
) -> BTreeMap<String, Best> {
    let mut best: BTreeMap<String, Best> = BTreeMap::new();
    for e in entries {
        let Some(at) = e.success_at.filter(|at| counts(*at, now)) else {
            continue;
        };
        let candidate = Best {
            commit: e.commit,
            at,
            started: e.started,
            dep: e.dep.clone(),
        };
        if best
            .get(&e.env)
            .is_none_or(|seen| candidate.key() >= seen.key())
        {
            best.insert(e.env.clone(), candidate);
        }
    }
    best
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

fn read_entries(path: &Path) -> Option<Vec<Entry>> {
    let file = fs::File::open(path).ok()?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        out.push(Entry::parse(&line.ok()?)?);
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
