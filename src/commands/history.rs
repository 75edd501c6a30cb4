//! `git train history [ENV]`: deployments, newest first.

use serde::Serialize;

use crate::context::Context;
use crate::domain::{CommitId, CommitInfo, Deployment, EventView, State, Timestamp};
use crate::error::Result;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// Only this environment
    pub env: Option<String>,
    /// How many deployments to show
    #[arg(short = 'n', long = "count", default_value_t = 20, value_name = "N")]
    pub count: usize,
    /// Deployments of every repository on the watch list, each line naming its repository
    #[arg(long)]
    pub all: bool,
    /// Newest deployments left out before the `count` shown (a page further back).
    #[arg(skip)]
    pub skip: usize,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct History {
    pub version: u32,
    /// When the ledger was last synced with the remote (none without a remote).
    pub synced: Option<super::Freshness>,
    pub deployments: Vec<Item>,
}

#[derive(Clone, Serialize)]
pub struct Item {
    pub dep: String,
    /// The shortest prefix of `dep`, at least 8 characters, no other id has.
    pub short_id: String,
    pub env: String,
    pub sha: String,
    pub subject: String,
    pub state: State,
    pub by: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Seconds from start to the first final state.
    pub duration_s: Option<i64>,
    pub rollback: bool,
    pub forced: Option<String>,
    pub from: Option<String>,
    pub desc: Option<String>,
    pub log: Option<String>,
    pub url: Option<String>,
    pub gh: Option<GhRef>,
}

#[derive(Clone, Serialize)]
pub struct GhRef {
    pub repo: String,
    pub id: u64,
}

pub fn run(ctx: &Context, args: &Args) -> Result<History> {
    ctx.open_deployments()?;
    let env = args.env.as_deref().map(|e| ctx.known_env(e)).transpose()?;
    let wanted = args.count.saturating_add(args.skip);
    let (chosen, window, bad) =
        ctx.ledger
            .recent_and_ids(env.as_ref().map(|e| e.as_str()), wanted, ID_MARGIN)?;
    ctx.warn_bad_lines(&bad);
    let mut ids: Vec<String> = window.into_iter().map(|e| e.dep).collect();
    ids.sort();
    ids.dedup();
    // Each line from the index alone (it keeps what is shown); the lines of the
    // shown notes that do not parse are said as reading those notes would say them.
    let skipped = ctx.ledger.skipped_lines()?;
    let mut warned = std::collections::HashSet::new();
    let mut deployments = Vec::with_capacity(chosen.len().saturating_sub(args.skip));
    for entry in chosen.iter().skip(args.skip) {
        if let Some(text) = skipped
            .get(&entry.commit)
            .filter(|_| warned.insert(entry.commit))
        {
            ctx.warn_bad_lines(&crate::ledger::parse_note(entry.commit, text).1);
        }
        deployments.push(item_of_entry(ctx, entry, short_id(&ids, &entry.dep)));
    }
    Ok(History {
        version: super::JSON_VERSION,
        synced: super::freshness(ctx),
        deployments,
    })
}

/// One deployment with every event of it, and the train it brought.
#[derive(Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub item: Item,
    /// Its events, oldest first.
    pub events: Vec<EventItem>,
    /// The first-parent commits from `from` (not included) to its commit, newest
    /// first, at most `train_limit`; None when `from` is unknown (a first deployment)
    /// or this clone lacks one of the two.
    pub train: Option<Vec<CommitInfo>>,
    /// True when the train is longer than what `train` holds.
    pub train_more: bool,
}

#[derive(Serialize)]
pub struct EventItem {
    pub at: Timestamp,
    pub state: State,
    pub by: String,
    pub desc: Option<String>,
    pub log: Option<String>,
    pub url: Option<String>,
}

/// The deployment with id `dep`, or None when the ledger has none.
pub fn one(ctx: &Context, dep: &str, train_limit: usize) -> Result<Option<Detail>> {
    let ledger = ctx.open_deployments()?;
    let Some(entry) = ledger.deployment_by_id(dep)? else {
        return Ok(None);
    };
    let Some(d) = ledger.deployment(entry.commit, &entry.dep)? else {
        return Ok(None);
    };
    let events = d
        .events
        .iter()
        .map(|e| EventItem {
            at: e.at,
            state: e.state,
            by: e.by.clone(),
            desc: e.desc().map(str::to_string),
            log: e.log().map(str::to_string),
            url: e.url().map(str::to_string),
        })
        .collect();
    let base = d.from().and_then(CommitId::parse);
    let repo = ctx.repo();
    let (train, train_more) = match base {
        Some(base) if repo.has_commit(entry.commit) && repo.has_commit(base) => {
            let walked = repo.train(entry.commit, Some(base), train_limit)?;
            let commits = walked
                .commits
                .iter()
                .map(|oid| repo.commit_info(*oid))
                .collect::<Result<Vec<_>>>()?;
            (Some(commits), !walked.complete)
        }
        _ => (None, false),
    };
    Ok(Some(Detail {
        item: item_of(ctx, entry.commit, &d, d.dep.clone()),
        events,
        train,
        train_more,
    }))
}

/// Deployments beyond the oldest shown that `short_id` compares with. Ids that
/// share 8 or more characters were made within the same second, so they sit next
/// to each other in the ledger's order: the newest deployments of every
/// environment down to `ID_MARGIN` past the oldest shown are enough.
const ID_MARGIN: usize = 200;

/// The shortest prefix of `dep` (at least 8 characters) that no other id in the
/// sorted `ids` starts with. ULIDs made in the same second share 10 characters.
pub fn short_id(ids: &[String], dep: &str) -> String {
    let common = |other: &str| {
        dep.bytes()
            .zip(other.bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    let at = ids.partition_point(|i| i.as_str() < dep);
    let mut need = 0;
    for other in [
        at.checked_sub(1).and_then(|i| ids.get(i)),
        ids.get(at),
        ids.get(at + 1),
    ]
    .into_iter()
    .flatten()
    .filter(|o| o.as_str() != dep)
    {
        need = need.max(common(other) + 1);
    }
    dep.chars().take(need.max(8)).collect()
}

/// A line of `history` from the index entry: the same as `item_of` on its deployment.
fn item_of_entry(ctx: &Context, e: &crate::ledger::Entry, short_id: String) -> Item {
    let subject = ctx.repo().subject(e.commit).unwrap_or_default();
    let local_log = ctx.ledger.log_path(&e.dep);
    let s = &e.shown;
    Item {
        dep: e.dep.clone(),
        short_id,
        env: e.env.clone(),
        sha: e.commit.to_string(),
        subject,
        state: e.state,
        by: s.by.clone(),
        started_at: e.started,
        finished_at: s.finished_at,
        duration_s: s.finished_at.map(|f| f.millis_since(e.started) / 1000),
        rollback: s.rollback,
        forced: s.forced.clone(),
        from: s.from.clone(),
        desc: s.desc.clone(),
        log: s
            .log
            .clone()
            .or_else(|| local_log.exists().then(|| local_log.display().to_string())),
        url: s.url.clone(),
        gh: s.gh.as_ref().map(|(repo, id)| GhRef {
            repo: repo.clone(),
            id: *id,
        }),
    }
}

fn item_of(ctx: &Context, commit: CommitId, d: &Deployment, short_id: String) -> Item {
    let subject = ctx.repo().subject(commit).unwrap_or_default();
    let local_log = ctx.ledger.log_path(&d.dep);
    Item {
        dep: d.dep.clone(),
        short_id,
        env: d.env.clone(),
        sha: d.commit.clone(),
        subject,
        state: d.state(),
        by: d.by().to_string(),
        started_at: d.started_at(),
        finished_at: d.finished_at(),
        duration_s: d
            .finished_at()
            .map(|f| f.millis_since(d.started_at()) / 1000),
        rollback: d.rollback(),
        forced: d.forced().map(str::to_string),
        from: d.from().map(str::to_string),
        desc: d.desc().map(str::to_string),
        log: d
            .log()
            .map(str::to_string)
            .or_else(|| local_log.exists().then(|| local_log.display().to_string())),
        url: d.url().map(str::to_string),
        gh: d.gh().map(|(repo, id)| GhRef {
            repo: repo.to_string(),
            id,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::short_id;

    #[test]
    fn short_ids_are_unique_prefixes_of_at_least_eight() {
        let ids: Vec<String> = [
            "01JNM8K3Q4AAAAAAAAAAAAAAAA",
            "01JNM8K3Q4ZC8R1E5V3T7Y9B2D",
            "01JNM8K3Q4ZD8R1E5V3T7Y9B2D",
            "01JPAAAAAAAAAAAAAAAAAAAAAA",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(short_id(&ids, &ids[0]), "01JNM8K3Q4A");
        assert_eq!(short_id(&ids, &ids[1]), "01JNM8K3Q4ZC");
        assert_eq!(short_id(&ids, &ids[2]), "01JNM8K3Q4ZD");
        assert_eq!(short_id(&ids, &ids[3]), "01JPAAAA");
    }
}
