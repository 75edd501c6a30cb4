//! Many services from one place: the repositories on the daemon's watch list by
//! name (`-R NAME`), and `status --all`, `history --all`, `sync --all` across them.
//! Reads go to each repository's local ledger only (fast, offline); `sync --all`
//! runs a few repositories at a time, each under its own remote timeout.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use super::history::{self, Item};
use super::status::{self, EnvStatus};
use crate::context::{Context, Ui};
use crate::domain::State;
use crate::error::{Error, Result};

/// One repository of the watch list: its path, the name `-R` knows it by.
#[derive(Clone, Debug, Serialize)]
pub struct Watched {
    pub name: String,
    pub path: PathBuf,
}

/// The watch list, in its order.
pub fn watched() -> Result<Vec<Watched>> {
    let (config, _) = crate::daemon::config::load()?;
    Ok(config
        .watch
        .iter()
        .map(|p| {
            let path = PathBuf::from(p);
            Watched {
                name: folder_name(&path),
                path,
            }
        })
        .collect())
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `owner/name` of the repository's `origin` URL (any host).
fn remote_slug(path: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["config", "--get", "remote.origin.url"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let url = url.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = url.rsplit(['/', ':']);
    let name = parts.next()?;
    let owner = parts.next()?;
    (!name.is_empty() && !owner.is_empty()).then(|| format!("{owner}/{name}"))
}

/// The watched repository `-R NAME` means: its folder name, or `owner/name` of its
/// remote. None or several is a usage error that lists what there is.
pub fn resolve(name: &str) -> Result<PathBuf> {
    let all = watched()?;
    let found: Vec<&Watched> = all
        .iter()
        // `owner/name` asks git for each remote URL: only when that is what was given.
        .filter(|w| {
            w.name == name || (name.contains('/') && remote_slug(&w.path).as_deref() == Some(name))
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.path.clone()),
        [] => {
            let names: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
            Err(
                Error::usage(format!("no watched repository is called '{name}'")).hint(
                    if names.is_empty() {
                        "the watch list is empty: `git train watch PATH` adds a repository"
                            .to_string()
                    } else {
                        format!(
                            "watched: {}; `git train watch PATH` adds one",
                            names.join(", ")
                        )
                    },
                ),
            )
        }
        many => {
            let paths: Vec<String> = many.iter().map(|w| w.path.display().to_string()).collect();
            Err(Error::usage(format!(
                "'{name}' names {} watched repositories",
                many.len()
            ))
            .hint(format!(
                "they are {}; give -C PATH, or `owner/name` of the one you mean",
                paths.join(" and ")
            )))
        }
    }
}

/// `git train status --all`: one block per watched repository.
#[derive(Serialize)]
pub struct AllStatus {
    pub version: u32,
    pub repositories: Vec<RepoStatus>,
}

#[derive(Serialize)]
pub struct RepoStatus {
    pub name: String,
    pub path: PathBuf,
    /// Why it could not be read (missing from disk, not a repository, bad config).
    pub error: Option<String>,
    pub trunk: Option<String>,
    /// When its ledger was last synced with the remote (none without a remote).
    pub synced: Option<super::Freshness>,
    pub environments: Vec<EnvLine>,
}

#[derive(Serialize)]
pub struct EnvLine {
    #[serde(flatten)]
    pub env: EnvStatus,
    /// The environment's newest deployment failed (or ended in error).
    pub failed: Option<Failed>,
}

#[derive(Serialize)]
pub struct Failed {
    pub dep: String,
    pub state: State,
    pub sha: String,
    pub desc: Option<String>,
}

/// How many of an environment's newest deployments `status --all` looks at to see
/// whether the newest one failed.
const RECENT: usize = 50;

pub fn status_all(env: Option<&str>, ui: &dyn Fn() -> Box<dyn Ui>) -> Result<AllStatus> {
    let repositories = watched()?
        .into_iter()
        .map(|w| match repo_status(&w, env, ui()) {
            Ok(r) => r,
            Err(e) => RepoStatus {
                name: w.name,
                path: w.path,
                error: Some(e.message),
                trunk: None,
                synced: None,
                environments: Vec::new(),
            },
        })
        .collect();
    Ok(AllStatus {
        version: super::JSON_VERSION,
        repositories,
    })
}

fn repo_status(w: &Watched, env: Option<&str>, ui: Box<dyn Ui>) -> Result<RepoStatus> {
    if !w.path.exists() {
        return Err(Error::usage(format!("{} is missing", w.path.display())));
    }
    let ctx = Context::open(&w.path, ui)?;
    let st = status::run(
        &ctx,
        &status::Args {
            count: 0,
            env: env.map(str::to_string),
            ..Default::default()
        },
    )?;
    let recent = history::run(
        &ctx,
        &history::Args {
            env: env.map(str::to_string),
            count: RECENT,
            skip: 0,
            ..Default::default()
        },
    )?;
    let environments = st
        .environments
        .into_iter()
        .map(|e| {
            let failed = recent
                .deployments
                .iter()
                .find(|d| d.env == e.name)
                .filter(|d| matches!(d.state, State::Failure | State::Error))
                .map(|d| Failed {
                    dep: d.dep.clone(),
                    state: d.state,
                    sha: d.sha.clone(),
                    desc: d.desc.clone(),
                });
            EnvLine { env: e, failed }
        })
        .collect();
    Ok(RepoStatus {
        name: w.name.clone(),
        path: w.path.clone(),
        error: None,
        trunk: Some(st.trunk),
        synced: st.synced,
        environments,
    })
}

/// `git train history --all`: deployments of every watched repository, newest first.
#[derive(Serialize)]
pub struct AllHistory {
    pub version: u32,
    pub deployments: Vec<RepoItem>,
    /// Repositories that could not be read, and why.
    pub unreadable: Vec<Unreadable>,
}

#[derive(Serialize)]
pub struct RepoItem {
    pub repository: String,
    #[serde(flatten)]
    pub item: Item,
}

#[derive(Serialize)]
pub struct Unreadable {
    pub repository: String,
    pub error: String,
}

pub fn history_all(
    env: Option<&str>,
    count: usize,
    ui: &dyn Fn() -> Box<dyn Ui>,
) -> Result<AllHistory> {
    let mut deployments = Vec::new();
    let mut unreadable = Vec::new();
    for w in watched()? {
        let read = if w.path.exists() {
            Context::open(&w.path, ui()).and_then(|ctx| {
                history::run(
                    &ctx,
                    &history::Args {
                        env: env.map(str::to_string),
                        count,
                        skip: 0,
                        ..Default::default()
                    },
                )
            })
        } else {
            Err(Error::usage(format!("{} is missing", w.path.display())))
        };
        match read {
            Ok(h) => deployments.extend(h.deployments.into_iter().map(|item| RepoItem {
                repository: w.name.clone(),
                item,
            })),
            Err(e) => unreadable.push(Unreadable {
                repository: w.name,
                error: e.message,
            }),
        }
    }
    deployments.sort_by_key(|d| std::cmp::Reverse(d.item.started_at));
    deployments.truncate(count);
    Ok(AllHistory {
        version: super::JSON_VERSION,
        deployments,
        unreadable,
    })
}

/// `git train sync --all`: each repository's outcome.
#[derive(Serialize)]
pub struct AllSynced {
    pub version: u32,
    pub repositories: Vec<RepoSynced>,
}

#[derive(Serialize)]
pub struct RepoSynced {
    pub name: String,
    pub path: PathBuf,
    pub ok: bool,
    /// What it did, or why it failed.
    pub message: String,
}

/// Repositories synced at the same time.
const PARALLEL: usize = 4;

pub fn sync_all(ui: &(dyn Fn() -> Box<dyn Ui> + Sync)) -> Result<AllSynced> {
    let all = watched()?;
    let mut repositories: Vec<Option<RepoSynced>> = (0..all.len()).map(|_| None).collect();
    for (chunk, slots) in all.chunks(PARALLEL).zip(repositories.chunks_mut(PARALLEL)) {
        std::thread::scope(|scope| {
            for (w, slot) in chunk.iter().zip(slots.iter_mut()) {
                scope.spawn(move || {
                    *slot = Some(sync_one(w, ui()));
                });
            }
        });
    }
    Ok(AllSynced {
        version: super::JSON_VERSION,
        repositories: repositories.into_iter().flatten().collect(),
    })
}

fn sync_one(w: &Watched, ui: Box<dyn Ui>) -> RepoSynced {
    let outcome = if w.path.exists() {
        Context::open(&w.path, ui).and_then(|ctx| {
            let forge = crate::forge::open_or_unavailable(&ctx);
            super::sync::run(&ctx, forge.as_ref())
        })
    } else {
        Err(Error::usage(format!("{} is missing", w.path.display())))
    };
    let (ok, message) = match outcome {
        Ok(s) => (
            true,
            match &s.remote {
                Some(r) => format!("synced with {r}"),
                None => "imported from the forge".to_string(),
            },
        ),
        Err(e) => (false, e.one_line()),
    };
    RepoSynced {
        name: w.name.clone(),
        path: w.path.clone(),
        ok,
        message,
    }
}
