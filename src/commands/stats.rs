//! `git train stats`: delivery metrics of one environment from the ledger alone
//! (deployment frequency, lead time for changes, change failure rate, time to
//! restore, train size). The numbers come from `domain::stats`; this gathers the
//! deployments and walks the trains.

use std::collections::HashMap;

use serde::Serialize;

use crate::context::Context;
use crate::domain::stats::{self, Change, Deploy, Outcome, Spread, Window, DAY_MS};
use crate::domain::time::parse_duration;
use crate::domain::{CommitId, Timestamp};
use crate::error::{Error, Result};
use crate::ledger::{Deployments, Entry};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// The environment (default: the one marked `production = true`, else production)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Start of the window: a duration before now (30d, 2w) or a date (2026-09-01,
    /// RFC 3339); default: 90 days before --until
    #[arg(long, value_name = "DURATION|DATE")]
    pub since: Option<String>,
    /// End of the window (not included), as for --since; default: now
    #[arg(long, value_name = "DURATION|DATE")]
    pub until: Option<String>,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

/// The window when none is given: this many days before `--until` (default now).
pub const DEFAULT_DAYS: i64 = 90;

/// A train longer than this is counted up to it (history rewritten under a deploy).
const TRAIN_LIMIT: usize = 1_000_000;

#[derive(Serialize)]
pub struct Stats {
    pub version: u32,
    pub env: String,
    pub window: WindowInfo,
    pub deployments: stats::Counts,
    pub frequency: stats::Frequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: stats::ChangeFailure,
    pub time_to_restore: TimeToRestore,
    pub train: stats::TrainSize,
    pub definitions: Definitions,
}

#[derive(Serialize)]
pub struct WindowInfo {
    pub since: Timestamp,
    pub until: Timestamp,
    /// Its length in days (fractional when the ends are not whole days apart).
    pub days: f64,
}

#[derive(Serialize)]
pub struct LeadTime {
    pub commits: usize,
    pub median_s: Option<f64>,
    pub p90_s: Option<f64>,
    pub max_s: Option<f64>,
}

#[derive(Serialize)]
pub struct TimeToRestore {
    pub restored: usize,
    pub unrestored: usize,
    pub median_s: Option<f64>,
}

/// What each number means, in the JSON document itself.
#[derive(Serialize)]
pub struct Definitions {
    pub window: &'static str,
    pub deployment_frequency: &'static str,
    pub lead_time: &'static str,
    pub change_failure_rate: &'static str,
    pub time_to_restore: &'static str,
    pub train: &'static str,
    pub median: &'static str,
    pub p90: &'static str,
}

pub const DEFINITIONS: Definitions = Definitions {
    window: "a deployment is in the window when it started in it: since <= started < until",
    deployment_frequency: "successful deployments (rollbacks included) per day and per week of \
        the window; deploy days: days (24 h, counted back from until) with at least one",
    lead_time: "for each trunk commit a successful deployment in the window brought: from its \
        committer date to that deployment's success. A deployment brings the first-parent \
        commits between the commit of the previous successful non-rollback deployment and its \
        own; a commit counts once, at its first",
    change_failure_rate: "finished deployments in the window that failed (failure or error) or \
        that a rollback or a forced deployment in the window replaced, out of all finished \
        deployments in the window (rollbacks included; a rollback fails only by failing)",
    time_to_restore: "from the end of a failed deployment, or the success of a deployment a \
        rollback replaced, to the next successful deployment",
    train: "commits brought per successful non-rollback deployment in the window (a redeploy \
        brings 0); the first deployment of an environment has no known train",
    median: "the middle value; the mean of the two middle values for an even count",
    p90: "nearest rank: the smallest value that at least 90% of the values do not exceed",
};

pub fn run(ctx: &Context, args: &Args) -> Result<Stats> {
    let (env, window, deploys) = gather(ctx, args)?;
    let computed = measure(ctx, &deploys, window, &mut HashMap::new())?;
    Ok(report(env, window, &computed))
}

/// The window's numbers, and the same numbers for each week of it, oldest first
/// (weeks counted back from `until`, the oldest may be partial): the board's charts.
/// The ledger is read and each train walked once.
pub fn run_weekly(ctx: &Context, args: &Args) -> Result<(Stats, Vec<Stats>)> {
    let (env, window, deploys) = gather(ctx, args)?;
    let mut trains = HashMap::new();
    let computed = measure(ctx, &deploys, window, &mut trains)?;
    let mut weeks = Vec::new();
    let mut until = window.until;
    while until > window.since {
        let since = Timestamp(until.plus_millis(-stats::WEEK_MS).0.max(window.since.0));
        let week = Window { since, until };
        weeks.push(report(
            env.clone(),
            week,
            &measure(ctx, &deploys, week, &mut trains)?,
        ));
        until = since;
    }
    weeks.reverse();
    Ok((report(env, window, &computed), weeks))
}

/// The environment, the window, and its deployments: every one from the window
/// on, and before it back to the newest successful non-rollback deployment (the
/// base of the first train).
fn gather(ctx: &Context, args: &Args) -> Result<(String, Window, Vec<Deploy>)> {
    let window = window(ctx.now(), args.since.as_deref(), args.until.as_deref())?;
    let env = match &args.env {
        Some(name) => ctx.env(name)?.as_str().to_string(),
        None => ctx.config.production_env(),
    };
    ctx.open_deployments()?;
    let index = ctx.ledger.index()?;
    ctx.warn_bad_lines(&index.bad_lines);
    let entries: Vec<&Entry> = index.entries.iter().filter(|e| e.env == env).collect();
    if entries.is_empty() && args.env.is_some() && ctx.config.env.is_empty() {
        return Err(unknown_env(&env, &index.entries));
    }

    let mut loader = Loader {
        ctx,
        notes: ctx.ledger.deployments()?,
    };
    // Everything from the window on, and before it back to the newest successful
    // non-rollback deployment: the base of the first train.
    let first = entries.partition_point(|e| e.started < window.since);
    let mut deploys = Vec::with_capacity(entries.len() - first + 1);
    for entry in entries[..first].iter().rev() {
        if let Some(d) = loader.deploy(entry)? {
            let base = matches!(d.outcome, Outcome::Succeeded(_)) && !d.rollback;
            deploys.push(d);
            if base {
                break;
            }
        }
    }
    for entry in &entries[first..] {
        deploys.extend(loader.deploy(entry)?);
    }
    Ok((env, window, deploys))
}

/// Trains already walked, by (tip, base).
type Trains = HashMap<(String, String), Vec<Change>>;

fn measure(
    ctx: &Context,
    deploys: &[Deploy],
    window: Window,
    trains: &mut Trains,
) -> Result<stats::Stats> {
    let mut missing = 0;
    let computed = stats::compute(deploys, window, |tip, base| -> Result<Vec<Change>> {
        let key = (tip.to_string(), base.to_string());
        if let Some(known) = trains.get(&key) {
            return Ok(known.clone());
        }
        let (Some(tip), Some(base)) = (CommitId::parse(tip), CommitId::parse(base)) else {
            missing += 1;
            return Ok(Vec::new());
        };
        if !ctx.repo().has_commit(tip) || !ctx.repo().has_commit(base) {
            missing += 1;
            return Ok(Vec::new());
        }
        let walked = ctx.repo().train(tip, Some(base), TRAIN_LIMIT)?;
        let changes = walked
            .commits
            .iter()
            .map(|oid| {
                Ok(Change {
                    sha: oid.to_string(),
                    committed: ctx.repo().commit_info(*oid)?.at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        trains.insert(key, changes.clone());
        Ok(changes)
    })?;
    if missing > 0 {
        ctx.ui.warn(&format!(
            "{missing} deployment{} of commits this clone does not have: their commits are not in the lead time",
            if missing == 1 { "" } else { "s" }
        ));
    }
    Ok(computed)
}

/// Deployments read from the notes, each commit's note once.
struct Loader<'a> {
    ctx: &'a Context,
    notes: Deployments<'a>,
}

impl Loader<'_> {
    fn deploy(&mut self, entry: &Entry) -> Result<Option<Deploy>> {
        let found = self
            .notes
            .find(entry.commit, &entry.dep, Some(&entry.env))?
            .map(Deploy::of);
        self.ctx.warn_bad_lines(&self.notes.take_skipped());
        Ok(found)
    }
}

fn unknown_env(env: &str, entries: &[Entry]) -> Error {
    let mut known: Vec<&str> = entries.iter().map(|e| e.env.as_str()).collect();
    known.sort_unstable();
    known.dedup();
    let hint = if known.is_empty() {
        "the ledger has no deployments yet".to_string()
    } else {
        format!("environments in the ledger: {}", known.join(", "))
    };
    Error::usage(format!("no deployments to '{env}' in the ledger")).hint(hint)
}

/// The window from `--since` and `--until`: each a duration before now or a date.
pub fn window(now: Timestamp, since: Option<&str>, until: Option<&str>) -> Result<Window> {
    let until = match until {
        Some(text) => instant(now, text, "--until")?,
        None => now,
    };
    let since = match since {
        Some(text) => instant(now, text, "--since")?,
        None => until.plus_millis(-DEFAULT_DAYS * DAY_MS),
    };
    if since >= until {
        return Err(Error::usage(format!(
            "the window is empty: --since ({since}) is not before --until ({until})"
        ))
        .hint("give an earlier --since or a later --until"));
    }
    Ok(Window { since, until })
}

fn instant(now: Timestamp, text: &str, flag: &str) -> Result<Timestamp> {
    if let Some(at) = Timestamp::parse_loose(text.trim()) {
        return Ok(at);
    }
    // As git reads `--since`: `yesterday`, `2 weeks`, `3 days ago`.
    let words = text.trim().to_ascii_lowercase();
    let words = words.strip_suffix(" ago").unwrap_or(&words).trim();
    let words = match words {
        "yesterday" => "1d",
        "last week" => "1w",
        "last month" => "30d",
        "last year" => "365d",
        other => other,
    };
    if let Some(d) = parse_duration(words) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        // Nothing in the ledger is older than the epoch; the window stays bounded.
        return Ok(Timestamp(now.plus_millis(ms.saturating_neg()).0.max(0)));
    }
    Err(Error::usage(format!(
        "{flag} '{}' is neither a duration nor a date",
        text.escape_debug()
    ))
    .hint(format!(
        "give a duration before now ({flag} 90d, \"2 weeks\", yesterday) or a date ({flag} 2026-09-01, 2026-09-01T12:00:00Z)"
    )))
}

fn seconds(ms: f64) -> f64 {
    ms / 1000.0
}

fn lead_time(s: &Spread) -> LeadTime {
    LeadTime {
        commits: s.count,
        median_s: s.median_ms.map(seconds),
        p90_s: s.p90_ms.map(|ms| seconds(ms as f64)),
        max_s: s.max_ms.map(|ms| seconds(ms as f64)),
    }
}

fn report(env: String, window: Window, s: &stats::Stats) -> Stats {
    Stats {
        version: super::JSON_VERSION,
        env,
        window: WindowInfo {
            since: window.since,
            until: window.until,
            days: window.millis() as f64 / DAY_MS as f64,
        },
        deployments: s.counts.clone(),
        frequency: s.frequency.clone(),
        lead_time: lead_time(&s.lead_time),
        change_failure_rate: s.change_failure.clone(),
        time_to_restore: TimeToRestore {
            restored: s.restore.times.count,
            unrestored: s.restore.unrestored,
            median_s: s.restore.times.median_ms.map(seconds),
        },
        train: s.train.clone(),
        definitions: DEFINITIONS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_from_durations_and_dates() {
        let now = Timestamp::parse("2026-11-25T10:00:00.000Z").unwrap();
        let w = window(now, None, None).unwrap();
        assert_eq!(w.until, now);
        assert_eq!(w.since.to_string(), "2026-08-27T10:00:00.000Z");
        let w = window(now, Some("2w"), Some("2026-11-20")).unwrap();
        assert_eq!(w.since.to_string(), "2026-11-11T10:00:00.000Z");
        assert_eq!(w.until.to_string(), "2026-11-20T00:00:00.000Z");
        let w = window(now, None, Some("1d")).unwrap();
        assert_eq!(w.since.to_string(), "2026-08-26T10:00:00.000Z");
        for (since, until) in [
            (Some("yesterdayish"), None),
            (None, Some("soon")),
            (Some("2026-11-30"), None),
            (Some("1d"), Some("2d")),
        ] {
            let e = window(now, since, until).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{since:?} {until:?}");
            assert!(!e.hints.is_empty());
        }
    }
}
