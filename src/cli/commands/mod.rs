//! Each command on the command line: its run (the flags are in the command's own
//! file under `src/commands/`), and the human rendering of what it returns, side by
//! side. `cli::run` is a match of one line per command.

pub mod board;
pub mod channels;
pub mod completions;
pub mod daemon;
pub mod deploy;
pub mod env;
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
