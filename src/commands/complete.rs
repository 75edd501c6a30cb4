//! `git train __complete envs|revs`: the words the shell completion offers after a
//! command, read fresh each time (environments from `.train.toml` and the ledger's
//! index, revisions from refs and recent trunk). It never fails loudly: a word list
//! that cannot be made is empty. Everything goes through one `git` call each, so it
//! stays within a few milliseconds.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::Config;

#[derive(clap::Args, Debug, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct CompleteArgs {
    /// `envs` or `revs`
    pub what: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    /// For fish 3.6.0 only, whose git completion does not hand `git train` to
    /// git-train's: a snippet for conf.d that does.
    FishGit,
}

/// Environments: those the configuration names, and those the ledger has seen.
pub fn environments(dir: &Path) -> Vec<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    if let Some(top) = git(dir, &["rev-parse", "--show-toplevel"]) {
        if let Ok(config) = Config::load(Path::new(top.trim())) {
            names.extend(config.env.keys().cloned());
        }
    }
    if let Some(refs) = git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/train/deployed/",
        ],
    ) {
        names.extend(
            refs.lines()
                .filter_map(|r| r.strip_prefix("refs/train/deployed/"))
                .map(str::to_string),
        );
    }
    names.into_iter().collect()
}

/// Revisions: branches, tags and the newest trunk commits (short shas).
pub fn revisions(dir: &Path) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(refs) = git(
        dir,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            "--count=200",
            "refs/heads/",
            "refs/tags/",
        ],
    ) {
        words.extend(refs.lines().map(str::to_string));
    }
    let top = git(dir, &["rev-parse", "--show-toplevel"]);
    let trunk = top
        .and_then(|t| Config::load(Path::new(t.trim())).ok())
        .and_then(|c| c.trunk)
        .unwrap_or_else(|| "HEAD".into());
    if let Some(shas) = git(
        dir,
        &[
            "rev-list",
            "-n",
            "10",
            "--first-parent",
            "--abbrev-commit",
            &trunk,
            "--",
        ],
    ) {
        words.extend(shas.lines().map(str::to_string));
    }
    words
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
