//! Delivery metrics of one environment, computed from its deployments: deployment
//! frequency, lead time for changes, change failure rate, time to restore, and the
//! size of the train. Plain data in, numbers out; the window (and so the clock) and
//! the walk of trains are passed in.

use std::collections::{HashMap, HashSet};

use super::deployment::Deployment;
use super::event::State;
use super::time::Timestamp;

pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;

/// How a deployment ended, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded(Timestamp),
    /// `failure` or `error`.
    Failed(Timestamp),
    /// Still under way, or made inactive before it had an outcome.
    Unfinished,
}

impl Outcome {
    /// The newest verdict (success against failure/error) wins, dated by the first
    /// event of its final run: `success` then a reported `failure` is a failure, a
    /// failed deployment that was retried to `success` is a success. `inactive`
    /// (GitHub's mark of a superseded deployment) changes nothing.
    pub fn of(d: &Deployment) -> Outcome {
        let mut outcome = Outcome::Unfinished;
        for e in &d.events {
            outcome = match (e.state, outcome) {
                (State::Success, Outcome::Succeeded(_)) => outcome,
                (State::Success, _) => Outcome::Succeeded(e.at),
                (State::Failure | State::Error, Outcome::Failed(_)) => outcome,
                (State::Failure | State::Error, _) => Outcome::Failed(e.at),
                _ => outcome,
            };
        }
        outcome
    }

    pub fn succeeded_at(self) -> Option<Timestamp> {
        match self {
            Outcome::Succeeded(at) => Some(at),
            _ => None,
        }
    }

    /// When it succeeded or failed.
    pub fn ended_at(self) -> Option<Timestamp> {
        match self {
            Outcome::Succeeded(at) | Outcome::Failed(at) => Some(at),
            Outcome::Unfinished => None,
        }
    }
}

/// One deployment to the environment, as the metrics see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Deploy {
    pub id: String,
    pub commit: String,
    pub started: Timestamp,
    pub outcome: Outcome,
    pub rollback: bool,
    pub forced: bool,
    /// The commit the environment ran before.
    pub from: Option<String>,
}

impl Deploy {
    pub fn of(d: &Deployment) -> Deploy {
        Deploy {
            id: d.dep.clone(),
            commit: d.commit.clone(),
            started: d.started_at(),
            outcome: Outcome::of(d),
            rollback: d.rollback(),
            forced: d.forced().is_some(),
            from: d.from().map(str::to_string),
        }
    }
}

/// The instants `since <= t < until` that the metrics cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since: Timestamp,
    pub until: Timestamp,
}

impl Window {
    pub fn contains(self, t: Timestamp) -> bool {
        self.since <= t && t < self.until
    }

    pub fn millis(self) -> i64 {
        self.until.millis_since(self.since).max(1)
    }

    /// Days of 24 hours counted back from `until`; the oldest may be partial.
    pub fn days(self) -> usize {
        buckets(self.millis(), DAY_MS)
    }

    /// Weeks of 7 days counted back from `until`; the oldest may be partial.
    pub fn weeks(self) -> usize {
        buckets(self.millis(), WEEK_MS)
    }

    /// The bucket of `t` (in the window) among `count` buckets of `size`, oldest first.
    fn bucket(self, t: Timestamp, size: i64, count: usize) -> usize {
        let back = (self.until.millis_since(t) - 1).max(0) / size;
        count - 1 - usize::try_from(back).unwrap_or(0).min(count - 1)
    }
}

fn buckets(millis: i64, size: i64) -> usize {
    usize::try_from((millis + size - 1) / size)
        .unwrap_or(1)
        .max(1)
}

/// A commit a deployment brought, with its committer date.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub sha: String,
    pub committed: Timestamp,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Counts {
    /// Deployments started in the window.
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub unfinished: usize,
    pub rollbacks: usize,
    pub forced: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Frequency {
    pub successful: usize,
    pub per_day: f64,
    pub per_week: f64,
    /// Days (of `Window::days`) with at least one successful deployment.
    pub deploy_days: usize,
    pub days: usize,
    /// Successful deployments in each week of `Window::weeks`, oldest first.
    pub weekly: Vec<usize>,
}

/// Median and 90th percentile of a set of durations, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub median_ms: Option<f64>,
    pub p90_ms: Option<i64>,
    pub max_ms: Option<i64>,
}

impl Spread {
    pub fn of(mut values: Vec<i64>) -> Spread {
        values.sort_unstable();
        Spread {
            count: values.len(),
            median_ms: median(&values),
            p90_ms: percentile(&values, 90),
            max_ms: values.last().copied(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ChangeFailure {
    /// Finished deployments that failed or were replaced by a rollback or a forced
    /// deployment in the window.
    pub failed_changes: usize,
    /// Finished deployments in the window.
    pub deployments: usize,
    pub rate: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restore {
    pub times: Spread,
    /// Failed deployments with no successful one after them yet.
    pub unrestored: usize,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TrainSize {
    /// Successful, non-rollback deployments in the window whose train is known.
    pub deployments: usize,
    pub median: Option<f64>,
    pub max: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub counts: Counts,
    pub frequency: Frequency,
    pub lead_time: Spread,
    pub change_failure: ChangeFailure,
    pub restore: Restore,
    pub train: TrainSize,
}

/// The middle value; the mean of the two middle values for an even count.
pub fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0),
    }
}

/// Nearest rank: the smallest value that at least `p` percent of values do not exceed.
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

/// Computes the metrics of one environment over `window`.
///
/// `deploys` are the environment's deployments: every one that started in the window
/// or after it, and before it at least back to its newest successful non-rollback
/// deployment (the base of the first train). `train(tip, base)` lists the commits a
/// deployment of `tip` brings when the environment ran `base`: the first-parent
/// commits of `tip` that `base` lacks.
pub fn compute<E>(
    deploys: &[Deploy],
    window: Window,
    mut train: impl FnMut(&str, &str) -> Result<Vec<Change>, E>,
) -> Result<Stats, E> {
    let mut order: Vec<&Deploy> = deploys.iter().collect();
    order.sort_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)));
    let inside: Vec<&Deploy> = order
        .iter()
        .copied()
        .filter(|d| window.contains(d.started))
        .collect();

    let counts = count(&inside);
    let frequency = frequency(&inside, window);
    let (lead_time, train) = lead_times(&order, window, &mut train)?;
    let (change_failure, restore) = failures(&order, &inside);
    Ok(Stats {
        counts,
        frequency,
        lead_time,
        change_failure,
        restore,
        train,
    })
}

fn count(inside: &[&Deploy]) -> Counts {
    let mut c = Counts {
        total: inside.len(),
        ..Counts::default()
    };
    for d in inside {
        match d.outcome {
            Outcome::Succeeded(_) => c.succeeded += 1,
            Outcome::Failed(_) => c.failed += 1,
            Outcome::Unfinished => c.unfinished += 1,
        }
        c.rollbacks += usize::from(d.rollback);
        c.forced += usize::from(d.forced);
    }
    c
}

fn frequency(inside: &[&Deploy], window: Window) -> Frequency {
    let days = window.days();
    let weeks = window.weeks();
    let mut weekly = vec![0; weeks];
    let mut deploy_days = HashSet::new();
    let mut successful = 0;
    for d in inside {
        if let Outcome::Succeeded(_) = d.outcome {
            successful += 1;
            weekly[window.bucket(d.started, WEEK_MS, weeks)] += 1;
            deploy_days.insert(window.bucket(d.started, DAY_MS, days));
        }
    }
    let span = window.millis() as f64;
    Frequency {
        successful,
        per_day: successful as f64 * DAY_MS as f64 / span,
        per_week: successful as f64 * WEEK_MS as f64 / span,
        deploy_days: deploy_days.len(),
        days,
        weekly,
    }
}

/// Walks the train of every successful non-rollback deployment in the window, in
/// the order they succeeded, from the previous successful non-rollback deployment.
fn lead_times<E>(
    order: &[&Deploy],
    window: Window,
    train: &mut impl FnMut(&str, &str) -> Result<Vec<Change>, E>,
) -> Result<(Spread, TrainSize), E> {
    let mut successes: Vec<(Timestamp, &Deploy)> = order
        .iter()
        .filter_map(|d| d.outcome.succeeded_at().map(|at| (at, *d)))
        .collect();
    successes.sort_by(|a, b| (a.0, a.1.started, &a.1.id).cmp(&(b.0, b.1.started, &b.1.id)));
    let mut base: Option<&str> = None;
    let mut counted: HashSet<String> = HashSet::new();
    let mut leads = Vec::new();
    let mut sizes = Vec::new();
    for (at, d) in successes {
        if d.rollback {
            continue;
        }
        if window.contains(d.started) {
            // The first deployment of all has no known train; it is left out.
            if let Some(base) = base {
                let mut brought = 0;
                if base != d.commit {
                    for change in train(&d.commit, base)? {
                        if counted.insert(change.sha) {
                            brought += 1;
                            leads.push(at.millis_since(change.committed));
                        }
                    }
                }
                sizes.push(brought as i64);
            }
        }
        base = Some(&d.commit);
    }
    sizes.sort_unstable();
    let size = TrainSize {
        deployments: sizes.len(),
        median: median(&sizes),
        max: sizes.last().map(|&s| usize::try_from(s).unwrap_or(0)),
    };
    Ok((Spread::of(leads), size))
}

/// The deployment that a rollback or forced deployment `x` replaced: the newest
/// finished deployment of the commit it names in `from`, else (no `from`) the
/// newest one that had succeeded by the time `x` started.
fn replaced<'a>(order: &[&'a Deploy], position: usize, x: &Deploy) -> Option<&'a Deploy> {
    let earlier = order[..position].iter().rev();
    match &x.from {
        Some(from) => earlier
            .filter(|d| d.outcome != Outcome::Unfinished)
            .find(|d| &d.commit == from)
            .copied(),
        None => earlier
            .filter(|d| d.outcome.succeeded_at().is_some_and(|at| at <= x.started))
            .find(|d| d.id != x.id)
            .copied(),
    }
}

fn failures(order: &[&Deploy], inside: &[&Deploy]) -> (ChangeFailure, Restore) {
    let in_window: HashSet<&str> = inside.iter().map(|d| d.id.as_str()).collect();
    let position: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();
    let mut failed: Vec<&Deploy> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    // Incidents: failed deployments and those a rollback replaced, with when they began.
    let mut incidents: Vec<(&Deploy, Timestamp)> = Vec::new();
    for d in inside {
        if let Outcome::Failed(at) = d.outcome {
            if seen.insert(&d.id) {
                failed.push(d);
                incidents.push((d, at));
            }
        }
    }
    for x in inside.iter().filter(|x| x.rollback || x.forced) {
        let Some(r) = position
            .get(x.id.as_str())
            .and_then(|&at| replaced(order, at, x))
        else {
            continue;
        };
        // A rollback is the remedy, not a change: it fails only by failing itself.
        if r.rollback || !in_window.contains(r.id.as_str()) || !seen.insert(&r.id) {
            continue;
        }
        failed.push(r);
        if x.rollback {
            if let Some(at) = r.outcome.ended_at() {
                incidents.push((r, at));
            }
        }
    }
    let finished = inside
        .iter()
        .filter(|d| d.outcome != Outcome::Unfinished)
        .count();
    let change_failure = ChangeFailure {
        failed_changes: failed.len(),
        deployments: finished,
        rate: (finished > 0).then(|| failed.len() as f64 / finished as f64),
    };

    let mut success_times: Vec<(Timestamp, &str)> = order
        .iter()
        .filter_map(|d| d.outcome.succeeded_at().map(|at| (at, d.id.as_str())))
        .collect();
    success_times.sort_unstable();
    let mut times = Vec::new();
    let mut unrestored = 0;
    for (d, began) in incidents {
        let first_after = success_times.partition_point(|(at, _)| *at <= began);
        match success_times[first_after..]
            .iter()
            .find(|(_, id)| *id != d.id)
        {
            Some((at, _)) => times.push(at.millis_since(began)),
            None => unrestored += 1,
        }
    }
    let restore = Restore {
        times: Spread::of(times),
        unrestored,
    };
    (change_failure, restore)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn t(hours: i64) -> Timestamp {
        Timestamp(1_800_000_000_000 + hours * H)
    }

    fn dep(id: &str, commit: &str, started: i64, outcome: Outcome) -> Deploy {
        Deploy {
            id: id.into(),
            commit: commit.into(),
            started: t(started),
            outcome,
            rollback: false,
            forced: false,
            from: None,
        }
    }

    fn ok(hours: i64) -> Outcome {
        Outcome::Succeeded(t(hours))
    }

    fn failed(hours: i64) -> Outcome {
        Outcome::Failed(t(hours))
    }

    /// A linear trunk c0, c1, ... with commit `ci` made at hour `i`.
    fn trunk(tip: &str, base: &str) -> Result<Vec<Change>, ()> {
        let n = |s: &str| s[1..].parse::<i64>().unwrap();
        Ok((n(base) + 1..=n(tip))
            .rev()
            .map(|i| Change {
                sha: format!("c{i}"),
                committed: t(i),
            })
            .collect())
    }

    fn window(from: i64, to: i64) -> Window {
        Window {
            since: t(from),
            until: t(to),
        }
    }

    #[test]
    fn percentiles_by_nearest_rank_and_median_by_the_middle() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5.0));
        assert_eq!(median(&[1, 2, 4, 9]), Some(3.0));
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), Some(9));
        assert_eq!(
            percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90),
            Some(10)
        );
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 90), None);
    }

    #[test]
    fn window_buckets_count_back_from_its_end() {
        let w = window(0, 24 * 10);
        assert_eq!((w.days(), w.weeks()), (10, 2));
        assert_eq!(w.bucket(t(24 * 10 - 1), WEEK_MS, 2), 1);
        assert_eq!(w.bucket(t(24 * 3), WEEK_MS, 2), 1);
        assert_eq!(w.bucket(t(24 * 3 - 1), WEEK_MS, 2), 0);
        assert_eq!(w.bucket(t(0), DAY_MS, 10), 0);
        assert!(w.contains(t(0)) && !w.contains(t(240)));
    }

    #[test]
    fn outcome_follows_the_newest_verdict() {
        let line = |s: &str| crate::domain::Event::parse(s).unwrap();
        let d = |lines: &[&str]| Deployment {
            dep: "D".into(),
            env: "p".into(),
            commit: "c".into(),
            events: lines.iter().map(|l| line(l)).collect(),
        };
        let q =
            r#"2026-01-01T00:00:00.000Z p queued a {"dep":"D","v":1,"from":"b","rollback":true}"#;
        let s1 = r#"2026-01-01T00:01:00.000Z p success a {"dep":"D","v":1}"#;
        let f2 = r#"2026-01-01T00:02:00.000Z p failure a {"dep":"D","v":1}"#;
        let i3 = r#"2026-01-01T00:03:00.000Z p inactive a {"dep":"D","v":1}"#;
        let at = |s: &str| Timestamp::parse(&s[..24]).unwrap();
        assert_eq!(Outcome::of(&d(&[q])), Outcome::Unfinished);
        assert_eq!(Outcome::of(&d(&[q, s1, i3])), Outcome::Succeeded(at(s1)));
        assert_eq!(Outcome::of(&d(&[q, s1, f2, i3])), Outcome::Failed(at(f2)));
        let dp = Deploy::of(&d(&[q, s1]));
        assert!(dp.rollback && !dp.forced);
        assert_eq!(dp.from.as_deref(), Some("b"));
    }

    /// A week of production: c0 deployed before the window (the base), c3 at hour
    /// 10, c5 failing at hour 20, c6 at hour 30 and taken back by a rollback to c3
    /// at hour 32, c8 forced at hour 40 with c7 running, and an unfinished c9.
    fn week() -> Vec<Deploy> {
        let mut rollback = dep("R", "c3", 32, ok(33));
        rollback.rollback = true;
        rollback.from = Some("c6".into());
        let mut forced = dep("F", "c8", 50, ok(51));
        forced.forced = true;
        forced.from = Some("c7".into());
        vec![
            dep("A", "c0", -5, ok(-5)),
            dep("B", "c3", 10, ok(11)),
            dep("C", "c5", 20, failed(21)),
            dep("D", "c6", 30, ok(31)),
            rollback,
            dep("E", "c7", 40, ok(41)),
            forced,
            dep("G", "c9", 60, Outcome::Unfinished),
        ]
    }

    #[test]
    fn computes_every_metric_of_a_known_week() {
        let s = compute(&week(), window(0, 24 * 7), trunk).unwrap();
        assert_eq!(
            s.counts,
            Counts {
                total: 7,
                succeeded: 5,
                failed: 1,
                unfinished: 1,
                rollbacks: 1,
                forced: 1,
            }
        );
        // Successes at hours 10, 30, 32, 40, 50: all on days 0, 1 and 2 of 7.
        assert_eq!(s.frequency.successful, 5);
        assert_eq!(s.frequency.per_week, 5.0);
        assert!((s.frequency.per_day - 5.0 / 7.0).abs() < 1e-12);
        assert_eq!((s.frequency.deploy_days, s.frequency.days), (3, 7));
        assert_eq!(s.frequency.weekly, vec![5]);
        // B brings c1..c3 (succeeds at 11: 10h, 9h, 8h); D brings c4..c6 from c3
        // (31: 27h, 26h, 25h); E brings c7 from c6, not c4..c6 again (41: 34h); F
        // brings c8 (51: 43h). Sorted: 8 9 10 25 26 27 34 43.
        assert_eq!(s.lead_time.count, 8);
        assert_eq!(s.lead_time.median_ms, Some(25.5 * H as f64));
        assert_eq!(s.lead_time.p90_ms, Some(43 * H));
        assert_eq!(s.lead_time.max_ms, Some(43 * H));
        // Trains of B, D, E, F: 3, 3, 1, 1.
        assert_eq!(
            s.train,
            TrainSize {
                deployments: 4,
                median: Some(2.0),
                max: Some(3),
            }
        );
        // Failed: C (failure), D (rolled back), E (replaced by forced F); of 6 finished.
        assert_eq!(s.change_failure.failed_changes, 3);
        assert_eq!(s.change_failure.deployments, 6);
        assert_eq!(s.change_failure.rate, Some(0.5));
        // C failed at 21, next success D at 31: 10h; D succeeded at 31, the rollback
        // restored at 33: 2h. Not E: a forced deployment is not a restore.
        assert_eq!(s.restore.times.count, 2);
        assert_eq!(s.restore.times.median_ms, Some(6.0 * H as f64));
        assert_eq!(s.restore.unrestored, 0);
    }

    #[test]
    fn the_window_cuts_by_start_and_keeps_the_base_from_before() {
        // Only D, R and E started in [30, 45).
        let s = compute(&week(), window(30, 45), trunk).unwrap();
        assert_eq!(s.counts.total, 3);
        // D from base c3 (B, before the window): c4..c6; E from c6: c7.
        assert_eq!(s.lead_time.count, 4);
        assert_eq!(s.train.max, Some(3));
        // D was rolled back; E's replacement F started after the window.
        assert_eq!(s.change_failure.failed_changes, 1);
        assert_eq!(s.change_failure.deployments, 3);
        assert_eq!(s.frequency.weekly, vec![3]);
    }

    #[test]
    fn a_forced_deployment_after_a_rollback_does_not_blame_the_rollback() {
        let mut rollback = dep("R", "c1", 3, ok(3));
        rollback.rollback = true;
        rollback.from = Some("c2".into());
        let mut forced = dep("F", "c3", 4, ok(4));
        forced.forced = true;
        forced.from = Some("c1".into());
        let deploys = vec![
            dep("A", "c1", 1, ok(1)),
            dep("B", "c2", 2, ok(2)),
            rollback,
            forced,
        ];
        let s = compute(&deploys, window(0, 24), trunk).unwrap();
        // B was rolled back; R, replaced by the forced F, is not a failed change.
        assert_eq!(s.change_failure.failed_changes, 1);
        assert_eq!(s.change_failure.deployments, 4);
        // F brings c3 from c2, the newest non-rollback deployment.
        assert_eq!(s.lead_time.count, 2);
        assert_eq!(s.train.median, Some(1.0));
        assert_eq!(s.restore.times.median_ms, Some(H as f64));
    }

    #[test]
    fn an_empty_window_has_no_numbers() {
        let s = compute(&[], window(0, 24), trunk).unwrap();
        assert_eq!(s.frequency.successful, 0);
        assert_eq!(s.lead_time.median_ms, None);
        assert_eq!(s.change_failure.rate, None);
        assert_eq!(s.restore.times.median_ms, None);
        assert_eq!(s.train.median, None);
    }

    #[test]
    fn a_failure_without_a_later_success_is_unrestored() {
        let deploys = vec![dep("A", "c1", 1, ok(1)), dep("B", "c2", 2, failed(3))];
        let s = compute(&deploys, window(0, 24), trunk).unwrap();
        assert_eq!(s.restore.unrestored, 1);
        assert_eq!(s.restore.times.count, 0);
        // The first deployment of all has no known train.
        assert_eq!(s.train.deployments, 0);
    }
}
