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
}

impl Default for Announced {
    fn default() -> Self {
        Announced {
            version: VERSION,
            repos: BTreeMap::new(),
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
}

pub fn path() -> Result<PathBuf> {
    Ok(super::config::state_dir()?.join("daemon.json"))
}

impl Announced {
    /// Reads the file. A missing file is a fresh start; one that does not parse is
    /// set aside (renamed `.bad`) with a warning, and the daemon starts afresh.
    pub fn load(path: &Path) -> (Announced, Option<String>) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Announced::default(), None)
            }
            Err(e) => {
                return (
                    Announced::default(),
                    Some(format!("could not read {}: {e}", path.display())),
                )
            }
        };
        match serde_json::from_slice::<Announced>(&bytes) {
            Ok(a) if a.version == VERSION => (a, None),
            Ok(a) => (
                Announced::default(),
                Some(format!(
                    "{} has version {}, not {VERSION}: starting afresh",
                    path.display(),
                    a.version
                )),
            ),
            Err(e) => {
                let _ = std::fs::rename(path, path.with_extension("json.bad"));
                (
                    Announced::default(),
                    Some(format!(
                        "{} is damaged ({e}): set aside as daemon.json.bad, starting afresh",
                        path.display()
                    )),
                )
            }
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::internal(e.to_string()))?;
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
}
