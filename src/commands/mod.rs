//! The commands. Each takes the context and its arguments and returns data; the cli
//! layer renders it.

pub mod board;
pub mod channels;
pub mod complete;
pub mod controls;
pub mod daemon;
pub mod deploy;
pub mod env;
pub mod flags;
pub mod fleet;
pub mod history;
pub mod hook;
pub mod init;
pub mod lock;
pub mod report;
pub mod stale;
pub mod stats;
pub mod status;
pub mod sync;

/// Version of every `--json` document.
pub const JSON_VERSION: u32 = 1;

/// How fresh the ledger is: when it was last synced with the remote. Only said when
/// there is a remote (without one the local ledger is the whole ledger).
#[derive(serde::Serialize, Clone, Debug)]
pub struct Freshness {
    pub remote: String,
    /// The last sync whose fetch and merge went through; None: never.
    pub synced_at: Option<crate::domain::Timestamp>,
    /// This clone has a deploy ledger (`refs/notes/deploys`).
    pub ledger: bool,
}

pub fn freshness(ctx: &crate::context::Context) -> Option<Freshness> {
    let remote = ctx.remote()?;
    Some(Freshness {
        remote: remote.name,
        synced_at: ctx.ledger.last_synced(),
        ledger: ctx.ledger.has_ledger(),
    })
}
