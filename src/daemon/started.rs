//! The deployments a person followed in a terminal on this machine: `deploy` and
//! `rollback` that ask or show their train and wait for the end add the
//! deployment's id to `$XDG_STATE_HOME/git-train/started` (one id a line, the
//! newest 500). The daemon raises no desktop popup for them unless
//! `[daemon] own_deployments = true`: the person saw the outcome where they typed.
//! A deploy from a script or CI (no terminal), or with `--no-wait`, is not added:
//! its end is news to whoever started it.

use std::collections::HashSet;
use std::path::PathBuf;

/// How many ids are kept: far more than a day of one person's deploys.
const KEPT: usize = 500;

fn path() -> Option<PathBuf> {
    super::config::state_dir().ok().map(|d| d.join("started"))
}

/// Adds a deployment; a failure to write is harmless (a popup more), so ignored.
pub fn record(dep: &str) {
    let Some(path) = path() else { return };
    let mut ids: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    ids.push(dep.to_string());
    let skip = ids.len().saturating_sub(KEPT);
    let mut text = ids[skip..].join("\n");
    text.push('\n');
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::file::write_atomically(&path, text.as_bytes());
}

/// The deployments followed in a terminal here.
pub fn load() -> HashSet<String> {
    path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
