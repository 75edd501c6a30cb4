//! What every command's human output shares: marks, columns cut to the terminal,
//! times, freshness. Each command's own rendering is next to its run, in
//! `cli/commands/<name>.rs`; JSON output is the serde form of the same data.

use super::ui::Style;
pub(crate) use crate::domain::time::format_age;
pub(crate) use crate::domain::{CiState, State, Timestamp};

pub(crate) fn ci_mark(s: &Style, ci: CiState) -> String {
    match ci {
        CiState::Success => s.green("✓"),
        CiState::Failure => s.red("✗"),
        CiState::Pending => s.yellow("●"),
        CiState::None => s.dim("·"),
    }
}

pub(crate) fn state(s: &Style, state: State) -> String {
    let text = format!("{:<11}", state.as_str());
    match state {
        State::Success => s.green(&text),
        State::Failure | State::Error => s.red(&text),
        State::Inactive => s.dim(&text),
        _ => s.yellow(&text),
    }
}

/// The first seven characters of a sha (all of it if shorter).
pub(crate) fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// One field from the ledger, a commit or a lock: control characters shown escaped
/// so that it stays on its line (the terminal module escapes everything again).
pub(crate) use super::terminal::field as clean;

/// A field in exactly `width` columns (display width): cut with `…` or padded.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    super::width::pad(&clean(text), width)
}

/// The width the flexible column (the subject) gets in lines of `fixed` other
/// columns: what the terminal leaves, at least `min`; without a terminal, `natural`
/// (the longest value, so nothing is cut).
pub(crate) fn flexible(s: &Style, fixed: usize, min: usize, natural: usize) -> usize {
    match s.width {
        Some(cols) => cols.saturating_sub(fixed).max(min).min(natural.max(min)),
        None => natural,
    }
}

/// Every line cut to the terminal's width (nothing without one): for lines with no
/// column of their own to give way.
pub(crate) fn fit(s: &Style, text: String) -> String {
    match s.width {
        Some(cols) => super::width::fit_lines(&text, cols),
        None => text,
    }
}

pub(crate) fn when(t: Timestamp) -> String {
    // 2026-11-25T10:15:02.114Z -> 2026-11-25 10:15Z
    let full = t.to_string();
    format!("{} {}Z", &full[..10], &full[11..16])
}

/// How fresh the ledger is, for people: "ledger synced 3m ago", "ledger never
/// synced: `git train sync`".
pub(crate) fn freshness(s: &Style, f: &crate::commands::Freshness, now: Timestamp) -> String {
    match f.synced_at {
        Some(at) => s.dim(&format!(
            "ledger synced {} ago",
            format_age(now.millis_since(at))
        )),
        None => s.yellow("ledger never synced: `git train sync`"),
    }
}

/// A clone that never synced and has no ledger: say so, not "never deployed".
pub(crate) fn no_ledger_yet(f: Option<&crate::commands::Freshness>) -> Option<String> {
    let f = f?;
    (f.synced_at.is_none() && !f.ledger).then(|| {
        format!(
            "no ledger here yet: `git train sync` brings the team's from {}\n",
            clean(&f.remote)
        )
    })
}
