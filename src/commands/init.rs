//! `git train init`: set the repository up so git shows and merges the ledger.
//! Idempotent: a second run changes nothing and says so.

use serde::Serialize;

use crate::context::Context;
use crate::error::Result;
use crate::ledger;

#[derive(Serialize)]
pub struct Initialized {
    pub version: u32,
    /// What this run changed; empty when everything was already set.
    pub changed: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn run(ctx: &Context) -> Result<Initialized> {
    let mut changed = Vec::new();
    let mut warnings = Vec::new();
    let mut config = ctx
        .repo
        .git
        .config()?
        .open_level(git2::ConfigLevel::Local)?;

    // `git log` shows the deploy notes.
    let display = multivar(&config, "notes.displayRef")?;
    if !display.iter().any(|v| v == ledger::DEPLOYS) {
        // An always-failing pattern makes libgit2 add a value instead of replacing one.
        config.set_multivar("notes.displayRef", "^$a", ledger::DEPLOYS)?;
        changed.push(format!("notes.displayRef = {}", ledger::DEPLOYS));
    }
    // `git notes merge` of the ledgers is the sorted union of their lines.
    for name in ["deploys", "ci"] {
        let key = format!("notes.{name}.mergeStrategy");
        if config.get_string(&key).ok().as_deref() != Some("cat_sort_uniq") {
            config.set_str(&key, "cat_sort_uniq")?;
            changed.push(format!("{key} = cat_sort_uniq"));
        }
    }
    // Deploy records must not follow commits through rebase: a rebased commit was
    // never deployed.
    let all = ctx.repo.git.config()?;
    for value in multivar(&all, "notes.rewriteRef")? {
        if value == ledger::DEPLOYS || value == "refs/notes/*" {
            warnings.push(format!(
                "notes.rewriteRef = {value} copies deploy records onto rebased commits that were never deployed; \
                 set it to the refs you need, without refs/notes/deploys"
            ));
        }
    }
    Ok(Initialized {
        version: super::JSON_VERSION,
        changed,
        warnings,
    })
}

fn multivar(config: &git2::Config, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Ok(entries) = config.multivar(name, None) {
        let mut entries = entries;
        while let Some(entry) = entries.next() {
            if let Some(v) = entry?.value() {
                out.push(v.to_string());
            }
        }
    }
    Ok(out)
}
