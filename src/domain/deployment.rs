//! Deployments folded from the event lines of one note.

use std::collections::BTreeMap;

use super::event::{sort_events, Event, EventView, State};
use super::time::Timestamp;

/// How far after the reading machine's clock a success may be dated and still count
/// for what an environment runs. A later date is a clock far ahead, or a line
/// written by hand: it would outrank every real deployment until that date.
pub const FUTURE_LIMIT_MS: i64 = 60 * 60 * 1000;

/// Whether a success dated `at` counts for what an environment runs, read at `now`.
pub fn counts(at: Timestamp, now: Timestamp) -> bool {
    at <= now.plus_millis(FUTURE_LIMIT_MS)
}

/// One deployment of one commit to one environment, with all its events in order
/// (events read whole, or `BorrowedEvent`s while indexing).
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment<E = Event> {
    pub dep: String,
    pub env: String,
    pub commit: String,
    pub events: Vec<E>,
}

impl<E: EventView> Deployment<E> {
    pub fn state(&self) -> State {
        self.last().state()
    }

    fn first(&self) -> &E {
        &self.events[0]
    }

    fn last(&self) -> &E {
        &self.events[self.events.len() - 1]
    }

    pub fn started_at(&self) -> Timestamp {
        self.first().at()
    }

    /// When it reached its first final state.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|e| e.state().is_final())
            .map(|e| e.at())
    }

    /// When it succeeded, if success is still its state.
    pub fn success_at(&self) -> Option<Timestamp> {
        (self.state() == State::Success).then(|| self.last().at())
    }

    /// When it first succeeded, whatever happened after.
    pub fn first_success_at(&self) -> Option<Timestamp> {
        self.events
            .iter()
            .find(|e| e.state() == State::Success)
            .map(|e| e.at())
    }

    pub fn by(&self) -> &str {
        self.first().by()
    }

    fn oldest<'a>(&'a self, get: impl Fn(&'a E) -> Option<&'a str>) -> Option<&'a str> {
        self.events.iter().find_map(get)
    }

    fn newest<'a>(&'a self, get: impl Fn(&'a E) -> Option<&'a str>) -> Option<&'a str> {
        self.events.iter().rev().find_map(get)
    }

    pub fn from(&self) -> Option<&str> {
        self.oldest(E::from)
    }
    pub fn desc(&self) -> Option<&str> {
        self.newest(E::desc)
    }
    pub fn forced(&self) -> Option<&str> {
        self.oldest(E::forced)
    }
    pub fn log(&self) -> Option<&str> {
        self.newest(E::log)
    }
    pub fn url(&self) -> Option<&str> {
        self.newest(E::url)
    }
    pub fn rollback(&self) -> bool {
        self.events.iter().any(E::rollback)
    }
    /// Its newest event retired the environment (nothing of it came after).
    pub fn retired(&self) -> bool {
        self.last().retired()
    }
    pub fn gh(&self) -> Option<(&str, u64)> {
        self.events.iter().find_map(E::gh)
    }
}

/// Groups the events of one commit's note by deployment id. Events without a `dep`
/// are returned apart so the caller can warn about them.
pub fn fold<E: EventView>(commit: &str, events: Vec<E>) -> (Vec<Deployment<E>>, Vec<E>) {
    let mut by_dep: BTreeMap<(String, String), Vec<E>> = BTreeMap::new();
    let mut orphans = Vec::new();
    for event in events {
        match event.dep() {
            Some(dep) => {
                let key = (dep.to_string(), event.subject().to_string());
                by_dep.entry(key).or_default().push(event);
            }
            None => orphans.push(event),
        }
    }
    // A deployment moved to another environment (an event there says `moved` from
    // here) is one deployment, in the environment it moved to: its earlier events
    // join it. Moves may chain, so repeat until none is left.
    loop {
        let mv = by_dep.iter().find_map(|((dep, env), events)| {
            events
                .iter()
                .filter_map(E::moved)
                .find(|from| *from != env && by_dep.contains_key(&(dep.clone(), from.to_string())))
                .map(|from| ((dep.clone(), from.to_string()), (dep.clone(), env.clone())))
        });
        let Some((from, to)) = mv else { break };
        let moved = by_dep.remove(&from).unwrap_or_default();
        by_dep.entry(to).or_default().extend(moved);
    }
    let deployments = by_dep
        .into_iter()
        .map(|((dep, env), mut events)| {
            sort_events(&mut events);
            Deployment {
                dep,
                env,
                commit: commit.to_string(),
                events,
            }
        })
        .collect();
    (deployments, orphans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> Event {
        Event::parse(line).unwrap()
    }

    #[test]
    fn a_moved_deployment_is_one_deployment_in_its_new_environment() {
        let lines = [
            r#"2026-11-25T10:00:00.000Z staging queued alice {"dep":"D1","v":1}"#,
            r#"2026-11-25T10:01:00.000Z staging in_progress bot {"dep":"D1","v":1}"#,
            r#"2026-11-25T10:02:00.000Z production success bot {"dep":"D1","v":1,"moved":"staging"}"#,
            r#"2026-11-25T10:03:00.000Z staging success bob {"dep":"D2","v":1}"#,
        ];
        let (deps, _) = fold("c", lines.iter().map(|l| ev(l)).collect());
        assert_eq!(deps.len(), 2);
        let d1 = deps.iter().find(|d| d.dep == "D1").unwrap();
        assert_eq!(d1.env, "production");
        assert_eq!(d1.events.len(), 3);
        assert_eq!(d1.state(), State::Success);
        assert_eq!(d1.by(), "alice");
        assert_eq!(deps.iter().find(|d| d.dep == "D2").unwrap().env, "staging");
    }

    #[test]
    fn a_success_counts_up_to_the_limit_after_the_clock() {
        let now = Timestamp::parse("2026-12-01T10:00:00.000Z").unwrap();
        assert!(counts(now, now));
        assert!(counts(Timestamp(0), now));
        assert!(counts(now.plus_millis(FUTURE_LIMIT_MS), now));
        assert!(!counts(now.plus_millis(FUTURE_LIMIT_MS + 1), now));
    }

    #[test]
    fn folds_and_orders_ties_by_state_list() {
        let events = vec![
            ev(r#"2026-01-01T00:00:00.000Z prod success a {"dep":"D1","v":1}"#),
            ev(r#"2026-01-01T00:00:00.000Z prod queued a {"dep":"D1","v":1,"from":"f"}"#),
            ev(r#"2026-01-01T00:00:00.000Z prod in_progress a {"dep":"D1","v":1}"#),
            ev(r#"2026-01-02T00:00:00.000Z prod failure b {"dep":"D2","v":1,"log":"L"}"#),
        ];
        let (deps, orphans) = fold("c0ffee", events);
        assert!(orphans.is_empty());
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[0].state(), State::Success);
        assert_eq!(deps[0].from(), Some("f"));
        assert!(deps[0].success_at().is_some());
        assert_eq!(deps[1].state(), State::Failure);
        assert_eq!(deps[1].log(), Some("L"));
        assert_eq!(deps[1].success_at(), None);
    }
}
