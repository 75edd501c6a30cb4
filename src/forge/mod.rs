//! Forges: where deployments are created and CI states come from. The commands
//! talk to the trait only (DESIGN.md section 4).

pub mod local;

use git2::Oid;

use crate::context::Context;
use crate::domain::{CiSummary, CommitInfo, EnvName, State};
use crate::error::Result;

/// A deployment about to be made: everything decided, nothing recorded yet.
#[derive(Clone, Debug)]
pub struct Plan {
    pub env: EnvName,
    pub commit: Oid,
    /// What the environment ran before.
    pub from: Option<Oid>,
    pub rollback: bool,
    /// Why CI or a lock was overridden.
    pub forced: Option<String>,
    pub desc: Option<String>,
    /// The commits this deployment brings (or, for a rollback, takes away).
    pub train: Vec<CommitInfo>,
    /// Do not sync with the remote (the background run of --no-wait inherits it).
    pub offline: bool,
}

pub trait Forge {
    fn name(&self) -> &'static str;

    /// The CI state of a commit.
    fn ci(&self, ctx: &Context, commit: Oid) -> Result<CiSummary>;

    /// Creates the deployment and records it as `queued`; returns its id.
    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String>;

    /// Carries a created deployment to a final state, recording every state it
    /// passes through. With `wait` false it only sets it going and returns.
    fn complete(&self, ctx: &Context, plan: &Plan, dep: &str, wait: bool) -> Result<State>;
}

/// The forge the configuration asks for.
pub fn open(_ctx: &Context) -> Box<dyn Forge> {
    Box::new(local::Local)
}
