//! `git train sync`: bring in what the forge has, then share the ledger through the
//! remote (the rounds of fetch, merge and push are the ledger's: `Ledger::sync`).

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Kind, Result};
use crate::forge::Forge;
use crate::ledger::{LedgerSync, Remote};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Sync every repository on the watch list (a few at a time, each under its
    /// remote timeout) and report each
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct Synced {
    pub version: u32,
    /// The git remote, if the repository has it.
    pub remote: Option<String>,
    /// What the forge brought in (GitHub: deployments made elsewhere).
    pub imported: Option<crate::forge::Imported>,
    pub ledgers: Vec<LedgerSync>,
    /// Fetch-merge-push rounds it took (more than 1: someone pushed in between).
    pub rounds: u32,
    pub locks: usize,
}

/// `git train sync`: imports from the forge, then shares the ledger through the
/// remote. Without a remote (and nothing to import) it is an error.
pub fn run(ctx: &Context, forge: &dyn Forge) -> Result<Synced> {
    let imported = import(ctx, forge)?;
    let name = ctx.config.remote_name();
    match ctx.remote() {
        Some(remote) => shared(ctx, &remote, &[]).map(|s| Synced { imported, ..s }),
        None if imported.is_some() => Ok(Synced {
            version: super::JSON_VERSION,
            remote: None,
            imported,
            ledgers: Vec::new(),
            rounds: 0,
            locks: lock_count(ctx),
        }),
        None => Err(Error::usage(format!(
            "no remote '{name}': the ledger stays in this repository"
        ))
        .hint(
            "add the team's remote (`git remote add origin URL`), or set `remote` in .train.toml",
        )),
    }
}

/// The sync around `deploy`, `lock` and friends: none offline; the forge's import
/// and the remote's ledger where there are.
pub fn around(ctx: &Context, forge: &dyn Forge, offline: bool) -> Result<Option<Synced>> {
    around_also(ctx, forge, offline, &[])
}

/// The sync before `deploy` and `rollback`: the trunk branch is fetched with the
/// ledger, in the same fetch, so the remote's tip is what is deployed by default.
pub fn around_deploy(ctx: &Context, forge: &dyn Forge, offline: bool) -> Result<Option<Synced>> {
    let also = match ctx.remote() {
        Some(remote) if !offline => {
            let name = ctx.repo().trunk_name(&ctx.config)?;
            vec![format!(
                "+refs/heads/{name}:refs/remotes/{}/{name}",
                remote.name
            )]
        }
        _ => Vec::new(),
    };
    around_also(ctx, forge, offline, &also)
}

fn around_also(
    ctx: &Context,
    forge: &dyn Forge,
    offline: bool,
    also: &[String],
) -> Result<Option<Synced>> {
    if offline {
        return Ok(None);
    }
    let imported = import(ctx, forge)?;
    match ctx.remote() {
        Some(remote) => match shared(ctx, &remote, also) {
            Ok(s) => Ok(Some(Synced { imported, ..s })),
            // Fetched and merged, but others kept pushing first, or the server
            // refused the push: the local view is fresh, and the events wait in the
            // local ledger for the next sync. Not a reason to stop.
            Err(e) if e.kind == Kind::Refused => {
                ctx.ui.warn(&e.message);
                Ok(None)
            }
            Err(e) => Err(e),
        },
        None => Ok(None),
    }
}

fn shared(ctx: &Context, remote: &Remote, also: &[String]) -> Result<Synced> {
    let shared = ctx.ledger.sync_also(remote, ctx.ui.as_ref(), also)?;
    Ok(Synced {
        version: super::JSON_VERSION,
        remote: Some(remote.name.clone()),
        imported: None,
        ledgers: shared.ledgers,
        rounds: shared.rounds,
        locks: lock_count(ctx),
    })
}

/// What the forge brings in. Without a credential for it (no GitHub token) the
/// ledger and the locks still travel through git's remote: that is said once, and
/// the sync goes on without the forge. Any other failure of the forge is an error.
fn import(ctx: &Context, forge: &dyn Forge) -> Result<Option<crate::forge::Imported>> {
    match forge.import(ctx) {
        Err(e) if e.is_no_credential() && ctx.remote().is_some() => {
            ctx.ui.warn(&format!(
                "GitHub was not asked, the ledger and locks went through git only: {}",
                e.one_line()
            ));
            Ok(None)
        }
        other => other,
    }
}

fn lock_count(ctx: &Context) -> usize {
    ctx.ledger.locks().map(|l| l.len()).unwrap_or(0)
}
