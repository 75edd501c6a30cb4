//! The controls a deploy passes besides CI, order and locks: rollback safety from
//! `Rollback: unsafe` trailers, and revert awareness. Each answers with what it
//! would refuse and what to do, for `deploy::plan` to refuse with (or to record as
//! forced).

use crate::domain::CommitId;
use crate::ledger::commit_set::CommitSet;

use crate::context::Context;
use crate::domain::trailers;
use crate::domain::EnvName;
use crate::error::Result;

/// How many trunk commits after the target are searched for reverts.
const REVERT_WINDOW: usize = 1000;

/// A refusal: what is wrong, and what to do about it.
pub struct Refusal {
    pub why: String,
    pub hint: String,
}

/// Taking `env` back from `current` to `target` (an ancestor) passes every commit
/// in between: one marked `Rollback: unsafe` stops it.
pub fn rollback_safety(
    ctx: &Context,
    env: &EnvName,
    taken_away: &[CommitId],
    target: CommitId,
) -> Result<Option<Refusal>> {
    // Commits read before and found safe are not read again (their messages never
    // change); the version names the rule `trailers::rollback_unsafe` applies.
    let safe = CommitSet::open(
        &ctx.repo().train_dir().join("rollback-safe"),
        "git-train rollback-safe 1",
    );
    let unread: Vec<CommitId> = taken_away
        .iter()
        .copied()
        .filter(|c| !safe.contains(*c))
        .collect();
    let messages = ctx.repo().messages(&unread)?;
    let mut read_safe = Vec::with_capacity(unread.len());
    let mut refusal = None;
    for (oid, message) in unread.iter().zip(&messages) {
        match trailers::rollback_unsafe(message) {
            None => read_safe.push(*oid),
            Some(trailer) if refusal.is_none() => refusal = Some((*oid, trailer)),
            Some(_) => {}
        }
    }
    // A cache: a failure to write it only means reading again next time.
    let _ = safe.add(&read_safe);
    // The newest unsafe commit taken away is the one to name.
    let Some((oid, trailer)) = refusal else {
        return Ok(None);
    };
    let info = ctx.repo().commit_info(oid)?;
    Ok(Some(Refusal {
        why: format!(
            "{} \"{}\" says `Rollback: {}`; taking {env} back to {} would undo it",
            info.short(),
            info.subject,
            trailer,
            target.short()
        ),
        hint: format!(
            "deploy a fix forward instead (`git train deploy {env}`), or roll back only to {} or later",
            info.short()
        ),
    }))
}

/// Deploying `target` brings `train`; a trunk commit after `target` that reverts one
/// of them means the train ships what the team already took back.
pub fn revert_awareness(
    ctx: &Context,
    env: &EnvName,
    train: &[CommitId],
    target: CommitId,
    tip: CommitId,
) -> Result<Option<Refusal>> {
    if train.is_empty() || tip == target {
        return Ok(None);
    }
    let after = ctx.repo().train(tip, Some(target), REVERT_WINDOW)?;
    if !after.reached_base {
        // `target` is not on trunk below the window: nothing is known to revert it.
        return Ok(None);
    }
    // Oldest first, so the first revert met is the one to ship.
    let messages = ctx.repo().messages(&after.commits)?;
    for (r, message) in after.commits.iter().zip(&messages).rev() {
        let Some(sha) = trailers::reverted(message) else {
            continue;
        };
        if let Some(x) = train.iter().find(|x| x.to_string().starts_with(&sha)) {
            let xi = ctx.repo().commit_info(*x)?;
            let ri = ctx.repo().commit_info(*r)?;
            return Ok(Some(Refusal {
                why: format!(
                    "the train brings {} \"{}\", which {} \"{}\" reverts later on trunk",
                    xi.short(),
                    xi.subject,
                    ri.short(),
                    ri.subject
                ),
                hint: format!(
                    "deploy the revert or later: `git train deploy {env} {}`",
                    ri.short()
                ),
            }));
        }
    }
    Ok(None)
}
