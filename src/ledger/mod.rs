//! The ledger: the one layer that touches git (DESIGN.md section 8). Notes and their
//! fan-out, the index of what runs where, locks, the remote, the repository itself.

pub mod index;
pub mod lockfile;
pub mod locks;
pub mod notes;
pub mod remote;
pub mod repo;

pub use notes::{
    append, append_many, cat_sort_uniq, cat_sort_uniq_bytes, merge, not_a_ledger, parse_note,
    stop_writes, write, BadLine, LedgerError, Merged, Notes, Written, CI, DEPLOYS,
};
