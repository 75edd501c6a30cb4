//! What the daemon has already announced, per repository, kept across restarts in
//! `$XDG_STATE_HOME/git-train/daemon.json` (else `~/.local/state/git-train/`), so
//! that a restart does not repeat old news.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Announced {
    pub version: u32,
    /// By repository (the watched path). A repository without an entry has not had
    /// its first round: what it shows then is the starting point, not news.
    #[serde(default)]
    pub repos: BTreeMap<String, RepoAnnounced>,
    /// Not to be saved (the file is a newer git-train's, or cannot be read).
    #[serde(skip)]
    pub read_only: bool,
}

impl Default for Announced {
    fn default() -> Self {
        Announced {
            version: VERSION,
            repos: BTreeMap::new(),
            read_only: false,
        }
    }
}

#[derive(Serialize, Deserialize, Default, Clone, Debug, PartialEq)]
pub struct RepoAnnounced {
    /// The state each recent deployment (`DEP ENV`) was last seen in.
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// The CI state each recent trunk commit was last seen in.
    #[serde(default)]
    pub ci: BTreeMap<String, String>,
    /// Stale commits already announced (`ENV SHA`), with when (ms since the epoch).
    #[serde(default)]
    pub stale: BTreeMap<String, i64>,
    /// Commits of the user's told live (`ENV SHA`), with when (ms since the epoch).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shipped: BTreeMap<String, i64>,
}

pub fn path() -> Result<PathBuf> {
    Ok(super::config::state_dir()?.join("daemon.json"))
}

/// The last good copy: the file as it was before the last save.
fn good_path(path: &Path) -> PathBuf {
    path.with_extension("json.good")
}

/// Where a damaged file is set aside: `daemon.json.bad`, or the first free
/// `daemon.json.bad.N`, so that a second damage keeps the first for a look.
fn bad_path(path: &Path) -> PathBuf {
    let first = path.with_extension("json.bad");
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| path.with_extension(format!("json.bad.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

enum Read {
    Missing,
    Good(Announced),
    Newer(u32),
    Damaged(String),
    Unreadable(String),
}

fn read(path: &Path) -> Read {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Missing,
        Err(e) => return Read::Unreadable(e.to_string()),
    };
    // The version first, so that a newer layout is recognised as such.
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    match serde_json::from_slice::<Version>(&bytes) {
        Ok(v) if v.version > VERSION => return Read::Newer(v.version),
        _ => {}
    }
    match serde_json::from_slice::<Announced>(&bytes) {
        Ok(a) if a.version == VERSION => Read::Good(a),
        Ok(a) => Read::Damaged(format!("version {}", a.version)),
        Err(e) => Read::Damaged(e.to_string()),
    }
}

impl Announced {
    /// Reads the file. A missing file is a fresh start (or the last good copy, when
    /// a save was cut short). One that does not parse is set aside (`.bad`, never
    /// over an earlier one) and the last good copy is read instead, so stale commits
    /// already told are not told again. A file of a newer git-train is left alone:
    /// `read_only` is set and nothing is saved over it. Each case warns once.
    pub fn load(path: &Path) -> (Announced, Option<String>) {
        match read(path) {
            Read::Good(a) => (a, None),
            Read::Missing => match read(&good_path(path)) {
                Read::Good(a) => (a, None),
                _ => (Announced::default(), None),
            },
            Read::Newer(v) => (
                Announced {
                    read_only: true,
                    ..Announced::default()
                },
                Some(format!(
                    "{} was written by a newer git-train (version {v}, this one knows {VERSION}): leaving it as it is; what is announced now is not remembered across restarts",
                    path.display()
                )),
            ),
            Read::Unreadable(e) => (
                Announced {
                    read_only: true,
                    ..Announced::default()
                },
                Some(format!(
                    "could not read {} ({e}): what is announced is not remembered across restarts until it can be",
                    path.display()
                )),
            ),
            Read::Damaged(e) => {
                let bad = bad_path(path);
                let _ = std::fs::rename(path, &bad);
                let (fresh, from) = match read(&good_path(path)) {
                    Read::Good(a) => (a, "going on from its last good copy"),
                    _ => (Announced::default(), "starting afresh"),
                };
                (
                    fresh,
                    Some(format!(
                        "{} is damaged ({e}): set aside as {}, {from}",
                        path.display(),
                        bad.display()
                    )),
                )
            }
        }
    }

    /// Writes the file (write and rename), keeping the one it replaces as the last
    /// good copy. Does nothing when it is `read_only`.
    pub fn save(&self, path: &Path) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(e.to_string()))?;
        if path.is_file() {
            let _ = std::fs::rename(path, good_path(path));
        }
        crate::file::write_atomically(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sets_a_damaged_file_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/daemon.json");
        assert_eq!(Announced::load(&path), (Announced::default(), None));
        let mut a = Announced::default();
        a.repos
            .entry("/src/api".into())
            .or_default()
            .stale
            .insert("production abc".into(), 1);
        a.save(&path).unwrap();
        assert_eq!(Announced::load(&path).0, a);

        std::fs::write(&path, "{not json").unwrap();
        let (fresh, warning) = Announced::load(&path);
        assert_eq!(fresh, Announced::default());
        assert!(warning.unwrap().contains("damaged"));
        assert!(path.with_extension("json.bad").exists());
    }

    #[test]
    fn a_damaged_file_goes_on_from_the_last_good_copy_and_keeps_each_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        let mut a = Announced::default();
        a.repos
            .entry("/src/api".into())
            .or_default()
            .stale
            .insert("production abc".into(), 1);
        a.save(&path).unwrap();
        let mut b = a.clone();
        b.repos
            .get_mut("/src/api")
            .unwrap()
            .stale
            .insert("production def".into(), 2);
        b.save(&path).unwrap();

        // Cut short: the last good copy is read.
        std::fs::write(&path, "{\"version\": 1, \"repos\": {\"/src/a").unwrap();
        let (read, warning) = Announced::load(&path);
        assert_eq!(read, a);
        assert!(warning.unwrap().contains("last good copy"));
        std::fs::write(&path, "again").unwrap();
        Announced::load(&path);
        assert!(path.with_extension("json.bad").exists());
        assert!(path.with_extension("json.bad.2").exists());

        // Saved over nothing: the good copy is read when the file is missing.
        std::fs::remove_file(&path).ok();
        assert_eq!(Announced::load(&path).0, a);
    }

    #[test]
    fn a_newer_file_is_never_overwritten_and_a_folder_in_its_place_is_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        let newer = "{\"version\": 2, \"repos\": {}, \"more\": true}";
        std::fs::write(&path, newer).unwrap();
        let (a, warning) = Announced::load(&path);
        assert!(a.read_only);
        assert!(warning.unwrap().contains("newer git-train"));
        a.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), newer);

        let folder = dir.path().join("other.json");
        std::fs::create_dir(&folder).unwrap();
        let (a, warning) = Announced::load(&folder);
        assert!(warning.is_some());
        assert!(a.read_only);
        a.save(&folder).unwrap();
        assert!(folder.is_dir());
    }
}
