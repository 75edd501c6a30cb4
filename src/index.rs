//! The local index of the deploy ledger: `refs/train/deployed/ENV` (what each
//! environment runs) and `.git/train/index/` (every deployment, for `history`).
//! Both are derived from `refs/notes/deploys`: brought up to date from the diff
//! between the notes version they were built from and the current one, rebuilt from
//! scratch when that version is unknown, and checked on every use.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use git2::{ErrorCode, Oid, Repository};

use crate::domain::deployment::fold;
use crate::domain::{Deployment, State, Timestamp};
use crate::error::Result;
use crate::ledger::{self, BadLine, Notes};
use crate::repo::Repo;

const DEPLOYED_PREFIX: &str = "refs/train/deployed/";
const HEAD_MAGIC: &str = "git-train-index 2";

/// One deployment as the index keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub commit: Oid,
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
    fn of(d: &Deployment, commit: Oid) -> Entry {
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
            commit: Oid::from_str(f.next()?).ok()?,
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
pub type Deployed = BTreeMap<String, Oid>;

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
    pub commit: Oid,
}

/// What `status` and the hook need: what each environment runs and what is under way.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Snapshot {
    pub deployed: Deployed,
    pub open: Vec<Open>,
}

/// The small file read on every command: the notes version the index was built
/// from, and the snapshot then.
struct Head {
    notes: Option<Oid>,
    snapshot: Snapshot,
}

fn read_head(path: &Path) -> Option<Head> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    if lines.next()? != HEAD_MAGIC {
        return None;
    }
    let notes = match lines.next()?.strip_prefix("notes ")? {
        "-" => None,
        oid => Some(Oid::from_str(oid).ok()?),
    };
    let mut snapshot = Snapshot::default();
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["deployed", env, oid] => {
                let env = crate::domain::event::decode_field(env)?;
                snapshot.deployed.insert(env, Oid::from_str(oid).ok()?);
            }
            ["open", env, dep, oid] => snapshot.open.push(Open {
                env: crate::domain::event::decode_field(env)?,
                dep: dep.to_string(),
                commit: Oid::from_str(oid).ok()?,
            }),
            _ => return None,
        }
    }
    Some(Head { notes, snapshot })
}

fn current_refs(git: &Repository) -> Result<Deployed> {
    let mut out = Deployed::new();
    for r in git.references_glob(&format!("{DEPLOYED_PREFIX}*"))? {
        let r = r?;
        if let (Some(name), Some(oid)) = (r.name(), r.target()) {
            out.insert(name[DEPLOYED_PREFIX.len()..].to_string(), oid);
        }
    }
    Ok(out)
}

/// What each environment runs, bringing the index up to date first if the notes
/// moved or the refs were changed by hand. This is the fast path of `status` and
/// the pre-push hook: when nothing changed it reads one small file and the refs.
pub fn snapshot(repo: &Repo) -> Result<Snapshot> {
    let notes_tip = notes_tip(&repo.git)?;
    if let Some(head) = read_head(&dir(repo).join("head")) {
        if head.notes == notes_tip && current_refs(&repo.git)? == head.snapshot.deployed {
            return Ok(head.snapshot);
        }
    }
    Ok(refresh(repo)?.snapshot)
}

fn notes_tip(git: &Repository) -> Result<Option<Oid>> {
    match git.refname_to_id(ledger::DEPLOYS) {
        Ok(oid) => Ok(Some(oid)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The whole index, brought up to date.
pub fn refresh(repo: &Repo) -> Result<Index> {
    let dir = dir(repo);
    fs::create_dir_all(&dir)?;
    let _lock = IndexLock::acquire(&dir.join("lock"));
    let notes = Notes::load(&repo.git, ledger::DEPLOYS)?;
    let previous = read_head(&dir.join("head"))
        .and_then(|head| read_entries(&dir.join("deployments")).map(|e| (head.notes, e)));
    let mut bad_lines = Vec::new();
    let mut entries = match previous {
        Some((built_from, entries)) if built_from == notes.tip => entries,
        // Bring it up to date from the diff, when the version it was built from is known.
        Some((built_from, mut entries))
            if built_from.is_none_or(|o| repo.git.find_commit(o).is_ok()) =>
        {
            let changed: HashSet<Oid> = notes.changed_since(built_from)?.into_iter().collect();
            entries.retain(|e| !changed.contains(&e.commit));
            for commit in changed {
                entries.extend(index_note(&notes, commit, &mut bad_lines)?);
            }
            entries
        }
        _ => {
            let mut entries = Vec::new();
            for (commit, _) in notes.all()? {
                entries.extend(index_note(&notes, commit, &mut bad_lines)?);
            }
            entries
        }
    };
    entries.sort_by(|a, b| (a.started, &a.dep).cmp(&(b.started, &b.dep)));
    let snapshot = Snapshot {
        deployed: newest_success(&entries),
        open: entries
            .iter()
            .filter(|e| !e.state.is_final())
            .map(|e| Open {
                env: e.env.clone(),
                dep: e.dep.clone(),
                commit: e.commit,
            })
            .collect(),
    };
    write_entries(&dir, &entries)?;
    update_refs(&repo.git, &snapshot.deployed)?;
    write_head(&dir, notes.tip, &snapshot)?;
    Ok(Index {
        entries,
        snapshot,
        bad_lines,
    })
}

fn index_note(notes: &Notes, commit: Oid, bad: &mut Vec<BadLine>) -> Result<Vec<Entry>> {
    let Some(text) = notes.read(commit)? else {
        return Ok(Vec::new());
    };
    let (events, bad_lines) = ledger::parse_note(commit, &text);
    bad.extend(bad_lines);
    let (deployments, _) = fold(&commit.to_string(), events);
    Ok(deployments.iter().map(|d| Entry::of(d, commit)).collect())
}

fn newest_success(entries: &[Entry]) -> Deployed {
    let mut best: BTreeMap<&str, (Timestamp, Oid)> = BTreeMap::new();
    for e in entries {
        if let Some(at) = e.success_at {
            match best.get(e.env.as_str()) {
                Some((seen, _)) if *seen > at => {}
                _ => {
                    best.insert(&e.env, (at, e.commit));
                }
            }
        }
    }
    best.into_iter()
        .map(|(env, (_, c))| (env.to_string(), c))
        .collect()
}

fn update_refs(git: &Repository, deployed: &Deployed) -> Result<()> {
    let current = current_refs(git)?;
    for (env, oid) in deployed {
        if current.get(env) != Some(oid) && crate::domain::EnvName::new(env).is_ok() {
            git.reference(
                &format!("{DEPLOYED_PREFIX}{env}"),
                *oid,
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

fn write_entries(dir: &Path, entries: &[Entry]) -> Result<()> {
    let mut text = String::with_capacity(entries.len() * 100);
    for e in entries {
        text.push_str(&e.to_line());
    }
    write_atomically(&dir.join("deployments"), text.as_bytes())
}

fn write_head(dir: &Path, notes: Option<Oid>, snapshot: &Snapshot) -> Result<()> {
    let mut text = format!(
        "{HEAD_MAGIC}\nnotes {}\n",
        notes.map(|o| o.to_string()).unwrap_or_else(|| "-".into())
    );
    let enc = crate::domain::event::encode_field;
    for (env, oid) in &snapshot.deployed {
        text.push_str(&format!("deployed {} {oid}\n", enc(env)));
    }
    for open in &snapshot.open {
        text.push_str(&format!(
            "open {} {} {}\n",
            enc(&open.env),
            open.dep,
            open.commit
        ));
    }
    write_atomically(&dir.join("head"), text.as_bytes())
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Serialises index updates between processes. Not getting it after a while (a
/// crashed holder) only costs a redundant rebuild: every step is idempotent.
struct IndexLock(Option<PathBuf>);

impl IndexLock {
    fn acquire(path: &Path) -> IndexLock {
        for _ in 0..300 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return IndexLock(Some(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(10));
                    if stale {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return IndexLock(None),
            }
        }
        IndexLock(None)
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// The deployments of one commit, read from the notes.
pub fn deployments_of(notes: &Notes, commit: Oid) -> Result<(Vec<Deployment>, Vec<BadLine>)> {
    let Some(text) = notes.read(commit)? else {
        return Ok((Vec::new(), Vec::new()));
    };
    let (events, bad) = ledger::parse_note(commit, &text);
    Ok((fold(&commit.to_string(), events).0, bad))
}
