//! git-train: continuous deployment of a busy trunk, with the ledger in git notes.
//!
//! Layers, each depending only on those below it (DESIGN.md section 8):
//! `cli` -> `commands` -> `forge` -> `ledger` (the one layer that touches git), `config`
//! -> `domain`.

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
