//! The commands. Each takes the context and its arguments and returns data; the cli
//! layer renders it.

pub mod board;
pub mod channels;
pub mod complete;
pub mod controls;
pub mod daemon;
pub mod deploy;
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
