//! The CI state of a commit: the rollup of the newest status of each context.

use std::collections::BTreeMap;

use super::event::{Event, EventView, State};
use super::time::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CiState {
    /// No status was ever reported.
    None,
    Pending,
    Success,
    Failure,
}

impl CiState {
    pub fn as_str(self) -> &'static str {
        match self {
            CiState::None => "none",
            CiState::Pending => "pending",
            CiState::Success => "success",
            CiState::Failure => "failure",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CiContext {
    pub name: String,
    pub state: State,
    pub url: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CiSummary {
    pub state: CiState,
    pub contexts: Vec<CiContext>,
}

impl CiSummary {
    pub fn none() -> CiSummary {
        CiSummary {
            state: CiState::None,
            contexts: Vec::new(),
        }
    }

    /// Contexts that keep the commit from passing.
    pub fn blocking(&self) -> impl Iterator<Item = &CiContext> {
        self.contexts.iter().filter(|c| c.state != State::Success)
    }
}

/// Rolls up the statuses of one commit, ignoring the named contexts.
pub fn rollup(events: &[Event], ignore: &[String]) -> CiSummary {
    let mut newest: BTreeMap<&str, &Event> = BTreeMap::new();
    for event in events {
        if ignore.iter().any(|i| i == &event.subject) {
            continue;
        }
        let key = (event.at, event.state.rank());
        match newest.get(event.subject.as_str()) {
            Some(seen) if (seen.at, seen.state.rank()) > key => {}
            _ => {
                newest.insert(&event.subject, event);
            }
        }
    }
    let contexts: Vec<CiContext> = newest
        .into_values()
        .map(|e| CiContext {
            name: e.subject.clone(),
            state: e.state,
            url: e.url().map(str::to_string),
            at: e.at,
        })
        .collect();
    summarize(contexts)
}

/// The rollup of the current state of each context: failed if any failed, passed
/// if all passed, pending otherwise; none without any context.
pub fn summarize(contexts: Vec<CiContext>) -> CiSummary {
    let state = if contexts.is_empty() {
        CiState::None
    } else if contexts
        .iter()
        .any(|c| matches!(c.state, State::Failure | State::Error))
    {
        CiState::Failure
    } else if contexts.iter().all(|c| c.state == State::Success) {
        CiState::Success
    } else {
        CiState::Pending
    };
    CiSummary { state, contexts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> Event {
        Event::parse(line).unwrap()
    }

    #[test]
    fn newest_status_per_context_wins() {
        let events = [
            ev(r#"2026-01-01T00:00:00.000Z build failure ci {"v":1}"#),
            ev(r#"2026-01-01T00:01:00.000Z build success ci {"v":1}"#),
            ev(r#"2026-01-01T00:00:30.000Z lint success ci {"v":1}"#),
        ];
        assert_eq!(rollup(&events, &[]).state, CiState::Success);
    }

    #[test]
    fn failure_beats_pending_and_ignored_contexts_do_not_count() {
        let events = [
            ev(r#"2026-01-01T00:00:00.000Z build pending ci {"v":1}"#),
            ev(r#"2026-01-01T00:00:00.000Z cov failure ci {"v":1}"#),
        ];
        assert_eq!(rollup(&events, &[]).state, CiState::Failure);
        assert_eq!(rollup(&events, &["cov".into()]).state, CiState::Pending);
        assert_eq!(rollup(&[], &[]).state, CiState::None);
    }
}
