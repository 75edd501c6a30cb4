//! git-train: continuous deployment of a busy trunk, with the ledger in git notes.
//!
//! Layers, each depending only on those below it (DESIGN.md section 8):
//! `cli` (parse, run one command, print; `cli::commands::<name>` beside each
//! `commands::<name>`) -> `commands` (each command's flags and run, returning data),
//! `daemon`, `board` -> `forge` (local, GitHub) and `notify` (structured events to
//! the desktop and team channels) -> `ledger` (the one layer that touches git) ->
//! `config`, `clock` -> `domain` (plain data, no I/O).

pub mod board;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod context;
pub mod daemon;
pub mod domain;
pub mod error;
pub mod file;
pub mod forge;
pub mod hooks;
pub mod interrupt;
pub mod ledger;
pub mod notify;
