//! `git train init`: set the repository up so git shows and merges the ledger, and
//! install the pre-push hook. Idempotent: a second run changes nothing and says so.
//! `--uninstall` undoes it, leaving the user's own hook lines.

use std::path::Path;

use serde::Serialize;

use crate::context::Context;
use crate::error::Result;
use crate::hooks::{self, Action};
use crate::ledger;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Take out what init set up: git-train's hook lines (yours stay) and its notes settings
    #[arg(long)]
    pub uninstall: bool,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct Initialized {
    pub version: u32,
    /// True when this run undid the set-up (`--uninstall`).
    pub uninstalled: bool,
    /// What this run changed, one sentence each; empty when nothing needed changing.
    pub changed: Vec<String>,
    /// Each hook git-train installs: where git looks for it and what this run did.
    pub hooks: Vec<HookReport>,
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
pub struct HookReport {
    pub name: String,
    /// The file, relative to the work tree when it is inside it.
    pub path: String,
    pub action: Action,
}

pub fn run(ctx: &Context, args: &Args) -> Result<Initialized> {
    if args.uninstall {
        return uninstall(ctx);
    }
    let mut changed = Vec::new();
    let mut warnings = Vec::new();
    let mut config = ctx.repo().local_config()?;

    // `git log` shows the deploy notes.
    let display = config.values("notes.displayRef")?;
    if !display.iter().any(|v| v == ledger::DEPLOYS) {
        config.add("notes.displayRef", ledger::DEPLOYS)?;
        changed.push(format!("set notes.displayRef = {}", ledger::DEPLOYS));
    }
    // `git notes merge` of the ledgers is the sorted union of their lines.
    for name in ["deploys", "ci"] {
        let key = format!("notes.{name}.mergeStrategy");
        if config.get(&key).as_deref() != Some("cat_sort_uniq") {
            config.set(&key, "cat_sort_uniq")?;
            changed.push(format!("set {key} = cat_sort_uniq"));
        }
    }
    // Deploy records must not follow commits through rebase: a rebased commit was
    // never deployed.
    let all = ctx.repo().config()?;
    for value in all.values("notes.rewriteRef")? {
        if value == ledger::DEPLOYS || value == "refs/notes/*" {
            warnings.push(format!(
                "notes.rewriteRef = {value} copies deploy records onto rebased commits that were never deployed; \
                 set it to the refs you need, without refs/notes/deploys"
            ));
        }
    }
    // A bare repository (a server's copy) is pushed to, never pushed from, and no
    // one deploys out of it: no hook, no watch.
    let hooks = if ctx.repo().work_tree().is_none() {
        changed.push("a bare repository: no pre-push hook, not added to the watch list".into());
        Vec::new()
    } else {
        let hooks = install_hooks(ctx, &mut changed, &mut warnings)?;
        let (watched, warning) = super::daemon::follow_on_init(ctx, true);
        changed.extend(watched);
        warnings.extend(warning);
        hooks
    };
    Ok(Initialized {
        version: super::JSON_VERSION,
        uninstalled: false,
        changed,
        hooks,
        warnings,
    })
}

fn install_hooks(
    ctx: &Context,
    changed: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<HookReport>> {
    let workdir = ctx.repo().workdir();
    let dir = hooks::dir(&workdir)?;
    let mut reports = Vec::new();
    for (name, shim) in hooks::HOOKS {
        let path = dir.join(name);
        let shown = shown_path(&workdir, &path);
        let action = hooks::install(&path, &hooks::block(shim))?;
        let said = match action {
            Action::Created => format!("installed the {name} hook: {shown}"),
            Action::Added => {
                format!("added git-train's lines to the {name} hook {shown}, after its own")
            }
            Action::Updated => format!("updated git-train's lines in the {name} hook {shown}"),
            Action::MadeExecutable => format!("made the {name} hook {shown} executable"),
            Action::Skipped => {
                warnings.push(format!(
                    "{shown} is not a shell script, so it was left alone; to get git-train's \
                     warnings, have it run `git-train hook {name} REMOTE URL` with the \
                     pushed refs on stdin"
                ));
                String::new()
            }
            _ => String::new(),
        };
        if !said.is_empty() {
            changed.push(said);
        }
        reports.push(HookReport {
            name: name.to_string(),
            path: shown,
            action,
        });
    }
    Ok(reports)
}

/// Undoes what `init` set: git-train's hook lines (the user's stay) and the notes
/// settings, where they still have the values `init` gave them.
fn uninstall(ctx: &Context) -> Result<Initialized> {
    let mut changed = Vec::new();
    let workdir = ctx.repo().workdir();
    let dir = hooks::dir(&workdir)?;
    let mut reports = Vec::new();
    for (name, _) in hooks::HOOKS {
        let path = dir.join(name);
        let shown = shown_path(&workdir, &path);
        let action = hooks::uninstall(&path)?;
        match action {
            Action::Deleted => changed.push(format!(
                "deleted the {name} hook {shown}: it held only git-train's lines"
            )),
            Action::Removed => changed.push(format!(
                "removed git-train's lines from the {name} hook {shown}; its own lines stay"
            )),
            _ => {}
        }
        reports.push(HookReport {
            name: name.to_string(),
            path: shown,
            action,
        });
    }
    let mut config = ctx.repo().local_config()?;
    if config
        .values("notes.displayRef")?
        .iter()
        .any(|v| v == ledger::DEPLOYS)
    {
        config.remove_matching("notes.displayRef", &format!("^{}$", ledger::DEPLOYS))?;
        changed.push(format!("unset notes.displayRef = {}", ledger::DEPLOYS));
    }
    for name in ["deploys", "ci"] {
        let key = format!("notes.{name}.mergeStrategy");
        if config.get(&key).as_deref() == Some("cat_sort_uniq") {
            config.remove(&key)?;
            changed.push(format!("unset {key}"));
        }
    }
    let (unwatched, warning) = super::daemon::follow_on_init(ctx, false);
    changed.extend(unwatched);
    Ok(Initialized {
        version: super::JSON_VERSION,
        uninstalled: true,
        changed,
        hooks: reports,
        warnings: warning.into_iter().collect(),
    })
}

fn shown_path(workdir: &Path, path: &Path) -> String {
    path.strip_prefix(workdir)
        .unwrap_or(path)
        .display()
        .to_string()
}
