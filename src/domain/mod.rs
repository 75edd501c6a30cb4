//! Plain data of the domain: events, deployments, CI rollups, environment names,
//! commit ids and time. No I/O here; the clock is passed in.

pub mod ci;
pub mod commit;
pub mod deployment;
pub mod env;
pub mod event;
pub mod freeze;
pub mod stats;
pub mod time;
pub mod trailers;

pub use ci::{CiState, CiSummary};
pub use commit::CommitId;
pub use deployment::Deployment;
pub use env::EnvName;
pub use event::{BorrowedEvent, Event, EventView, Fields, State};
pub use time::Timestamp;

/// A trunk commit as the commands show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
    pub author: String,
    pub author_email: String,
    pub at: Timestamp,
}

impl CommitInfo {
    pub fn short(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}
