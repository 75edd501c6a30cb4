//! `git train deploy ENV [REV]` and `git train rollback ENV [--to REV]`: decide what
//! a deployment would do (`prepare`), then make it (`carry_out`). The cli shows the
//! plan and asks in between.

use serde::Serialize;

use crate::context::Context;
use crate::domain::deployment::counts;
use crate::domain::{CiState, CiSummary, CommitId, CommitInfo, EnvName, State, Timestamp};
use crate::error::{Error, Result};
use crate::forge::{Forge, Plan};
use crate::notify;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunDeploymentArgs {
    pub env: String,
    pub sha: String,
    pub dep: String,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// The environment, e.g. staging or production
    pub env: String,
    /// The commit to deploy (default: the tip of trunk)
    pub rev: Option<String>,
    /// A description recorded with the deployment
    #[arg(short = 'm', long = "description", value_name = "TEXT")]
    pub description: Option<String>,
    /// While REV's CI is pending, wait for it, then deploy (locks, freezes and the
    /// rest are checked when it deploys); failing CI or the timeout: exit 1
    #[arg(long)]
    pub when_green: bool,
    /// How long --when-green waits
    #[arg(long, value_name = "DURATION", default_value = "30m", requires = "when_green", value_parser = super::flags::parse_duration)]
    pub timeout: std::time::Duration,
    /// ENV is a new environment (needed once the ledger or .train.toml knows others)
    #[arg(long)]
    pub new_env: bool,
    #[command(flatten)]
    pub confirm: super::flags::ConfirmFlags,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RollbackArgs {
    /// The environment to roll back
    pub env: String,
    /// The commit to go back to (default: the one that ran before the current one)
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    #[command(flatten)]
    pub confirm: super::flags::ConfirmFlags,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

/// What a deployment will do, shown before it is made.
pub struct Prepared {
    pub plan: Plan,
    /// Commits in the train beyond those listed in `plan.train`.
    pub more: usize,
    /// The count stopped at its limit: there are more than `plan.train.len() + more`.
    pub more_unknown: bool,
    pub first: bool,
    pub redeploy: bool,
    pub ci: CiSummary,
    /// CI was not asked: a rollback to a commit that ran here successfully before.
    pub ci_skipped: bool,
    /// Open deployments to the same environment.
    pub concurrent: Vec<String>,
}

#[derive(Serialize)]
pub struct Outcome {
    pub version: u32,
    pub dep: String,
    pub env: String,
    pub sha: String,
    pub state: State,
    pub rollback: bool,
    pub forced: Option<String>,
    pub from: Option<String>,
    pub train: Vec<CommitInfo>,
    pub train_total: usize,
    pub waited: bool,
    pub log: Option<String>,
    pub url: Option<String>,
    pub at: Timestamp,
    /// The environment it was asked for, when GitHub moved it to `env` since.
    pub moved_from: Option<String>,
}

/// How many train commits are listed; the rest are counted.
const SHOWN: usize = 30;
const COUNTED: usize = 10_000;

pub fn prepare(ctx: &Context, forge: &dyn Forge, args: &Args) -> Result<Prepared> {
    let env = ctx.env(&args.env)?;
    let mut forced = forced_reason(args.confirm.force, args.confirm.reason.as_deref())?;
    ctx.open_deployments()?;
    let trunk = ctx.repo().trunk(&ctx.config)?;
    let target = match &args.rev {
        Some(rev) => ctx.repo().resolve(rev)?,
        None => trunk.tip,
    };
    let mut overridden = Vec::new();
    if !ctx.repo().contains(trunk.tip, target)? {
        let short = target.short();
        // A branch commit (a hotfix, a test build) goes only with --force --reason,
        // and the reason recorded says that it was not on trunk.
        match forced.take() {
            Some(reason) => {
                overridden.push(format!("{short} is not on trunk"));
                forced = Some(format!("not on trunk ({}): {reason}", trunk.name));
            }
            None => {
                return Err(Error::usage(format!(
                    "{short} is not on trunk ({})",
                    trunk.refname
                ))
                .hint(format!(
                    "git-train deploys commits merged into {}; merge and push it first",
                    trunk.name
                ))
                .hint(format!(
                    "to deploy it anyway: `git train deploy {} {short} --force --reason TEXT` (recorded)",
                    args.env
                )))
            }
        }
    }
    plan(
        ctx,
        forge,
        Wanted {
            env,
            target,
            forced,
            desc: args.description.clone(),
            rollback: false,
            offline: args.offline.offline,
            overridden,
        },
    )
}

pub fn prepare_rollback(ctx: &Context, forge: &dyn Forge, args: &RollbackArgs) -> Result<Prepared> {
    let env = ctx.env(&args.env)?;
    let forced = forced_reason(args.confirm.force, args.confirm.reason.as_deref())?;
    ctx.open_deployments()?;
    let index = ctx.ledger.index()?;
    let Some(current) = index.snapshot.deployed.get(env.as_str()).copied() else {
        return Err(Error::refused(format!(
            "{env} was never deployed successfully; nothing to roll back"
        ))
        .hint("`git train history` lists deployments"));
    };
    let target = match &args.to {
        Some(rev) => {
            let target = ctx.repo().resolve(rev)?;
            if target == current || !ctx.repo().contains(current, target)? {
                return Err(Error::usage(format!(
                    "{} is not older than what {env} runs ({})",
                    target.short(),
                    current.short()
                ))
                .hint(format!(
                    "to move {env} forward, use `git train deploy {env} {rev}`"
                )));
            }
            target
        }
        None => {
            // The newest commit that ran successfully here before the current one
            // (a success dated too far after the clock does not count).
            let now = ctx.now();
            let mut earlier: Vec<_> = index
                .entries
                .iter()
                .filter(|e| {
                    e.env == env.as_str()
                        && e.commit != current
                        && e.succeeded_at.is_some_and(|at| counts(at, now))
                })
                .collect();
            earlier.sort_by_key(|e| e.succeeded_at);
            let mut found = None;
            for e in earlier.iter().rev() {
                if ctx.repo().contains(current, e.commit)? {
                    found = Some(e.commit);
                    break;
                }
            }
            found.ok_or_else(|| {
                Error::refused(format!(
                    "{env} ran no older commit successfully before {}",
                    current.short()
                ))
                .hint(format!(
                    "give the commit: `git train rollback {env} --to REV`"
                ))
            })?
        }
    };
    // The CI gate is skipped only for a commit that already ran here successfully:
    // it passed (or was forced) then, and a rollback is no time to wait for CI.
    let ran_here = index.entries.iter().any(|e| {
        e.env == env.as_str()
            && e.commit == target
            && e.succeeded_at.is_some_and(|at| counts(at, ctx.now()))
    });
    plan(
        ctx,
        forge,
        Wanted {
            env,
            target,
            forced,
            desc: None,
            rollback: ran_here,
            offline: args.offline.offline,
            overridden: Vec::new(),
        },
    )
}

/// `deploy --when-green`: waits while the commit's CI is pending (or has not
/// started), then returns so the deploy is planned and checked at that moment. A
/// failing CI, the timeout or Ctrl-C end it with nothing recorded.
pub fn wait_for_green(
    ctx: &Context,
    forge: &dyn Forge,
    rev: Option<&str>,
    timeout: std::time::Duration,
    offline: bool,
) -> Result<()> {
    let target = match rev {
        Some(rev) => ctx.repo().resolve(rev)?,
        None => ctx.repo().trunk(&ctx.config)?.tip,
    };
    let interrupt = crate::interrupt::Interrupt::catch();
    let started = std::time::Instant::now();
    let poll = ctx
        .config
        .github
        .poll
        .unwrap_or(std::time::Duration::from_secs(2))
        .min(std::time::Duration::from_secs(10));
    let mut said = false;
    loop {
        let ci = forge.ci(ctx, target)?;
        match ci.state {
            CiState::Success => {
                ctx.ui.done();
                if said {
                    ctx.ui.step(&format!("CI passed on {}", target.short()));
                }
                return Ok(());
            }
            CiState::Failure => {
                ctx.ui.done();
                let failing: Vec<String> = ci
                    .blocking()
                    .map(|c| format!("{} is {}", c.name, c.state))
                    .collect();
                return Err(Error::refused(format!(
                    "CI failed on {} ({}): not deployed",
                    target.short(),
                    failing.join(", ")
                ))
                .hint("fix CI and push; nothing was recorded"));
            }
            CiState::Pending | CiState::None => {}
        }
        if started.elapsed() >= timeout {
            ctx.ui.done();
            return Err(Error::refused(format!(
                "CI on {} did not pass within {}: not deployed",
                target.short(),
                humantime::format_duration(timeout)
            ))
            .hint("wait longer with --timeout, e.g. --timeout 1h; nothing was recorded"));
        }
        if interrupt.happened() {
            ctx.ui.done();
            return Err(
                Error::refused("interrupted while waiting for CI: not deployed")
                    .hint("nothing was recorded"),
            );
        }
        let running: Vec<&str> = ci
            .contexts
            .iter()
            .filter(|c| c.state == crate::domain::State::Pending)
            .map(|c| c.name.as_str())
            .collect();
        if !said {
            ctx.ui.step(&format!(
                "waiting for CI on {} (at most {})",
                target.short(),
                humantime::format_duration(timeout)
            ));
            said = true;
        }
        let what = if running.is_empty() {
            "no CI status yet".to_string()
        } else {
            format!("still running: {}", running.join(", "))
        };
        ctx.ui.progress(&format!(
            "waiting for CI on {}: {what} ({})",
            target.short(),
            crate::domain::time::format_age(started.elapsed().as_millis() as i64)
        ));
        let until = std::time::Instant::now() + poll;
        while std::time::Instant::now() < until && !interrupt.happened() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // CI recorded elsewhere reaches this clone through the remote.
        if let Err(e) = super::sync::around(ctx, forge, offline) {
            ctx.ui
                .warn(&format!("could not sync while waiting: {}", e.message));
        }
    }
}

/// `--offline` means no network at all, and a GitHub deployment is made on GitHub:
/// refused at once, before any request, saying what works offline.
pub fn refuse_offline_github(forge: &dyn Forge, offline: bool, verb: &str) -> Result<()> {
    if offline && forge.name() == "github" {
        return Err(Error::usage(format!(
            "cannot {verb} offline with the github forge: a GitHub deployment is made on GitHub, which --offline does not reach"
        ))
        .hint("drop --offline to deploy through GitHub; offline, `git train status`, `history`, `locks` and `stats` work from the ledger, and `forge = \"local\"` in .train.toml deploys without GitHub"));
    }
    Ok(())
}

fn forced_reason(force: bool, reason: Option<&str>) -> Result<Option<String>> {
    match (force, reason.map(str::trim)) {
        (true, Some(r)) if !r.is_empty() => Ok(Some(r.to_string())),
        (true, _) => Err(Error::usage("--force needs --reason TEXT")
            .hint("say why, e.g. --reason \"hotfix for INC-42\"; it is recorded")),
        (false, Some(_)) => {
            Err(Error::usage("--reason goes with --force").hint("add --force, or drop --reason"))
        }
        (false, None) => Ok(None),
    }
}

/// What the user asked for, checked for syntax but not yet against the ledger.
struct Wanted {
    env: EnvName,
    target: CommitId,
    forced: Option<String>,
    desc: Option<String>,
    /// A rollback to a commit that ran here successfully before (skips the CI gate).
    rollback: bool,
    offline: bool,
    /// Refusals already overridden by `forced` (a commit not on trunk).
    overridden: Vec<String>,
}

fn plan(ctx: &Context, forge: &dyn Forge, wanted: Wanted) -> Result<Prepared> {
    let Wanted {
        env,
        target,
        forced,
        desc,
        rollback: asked_rollback,
        offline,
        overridden,
    } = wanted;
    let snapshot = ctx.ledger.snapshot()?;
    super::status::warn_future(ctx, &snapshot.future, Some(env.as_str()));
    if let Some(missing) = snapshot.unfetched.get(env.as_str()) {
        return Err(Error::usage(format!(
            "{env} runs {}, which this clone has not fetched",
            missing.short()
        ))
        .hint("run `git fetch`, then deploy again"));
    }
    let current = snapshot.deployed.get(env.as_str()).copied();
    let rollback = match current {
        Some(c) => c != target && ctx.repo().contains(c, target)?,
        None => false,
    };
    let env_config = ctx.config.env(&env);

    // CI gate. A rollback to a commit that ran here before skips it: it passed (or
    // was forced) then, and a rollback is no time to wait for CI.
    let ci = if asked_rollback {
        CiSummary::none()
    } else {
        forge.ci(ctx, target)?
    };
    let mut overrides = overridden;
    let mut hints = Vec::new();
    if ctx.config.requires_checks(&env) && ci.state != CiState::Success && !asked_rollback {
        let failing: Vec<String> = ci
            .blocking()
            .map(|c| format!("{} is {}", c.name, c.state))
            .collect();
        let why = match ci.state {
            CiState::None => "has no CI status".to_string(),
            _ => format!("did not pass CI ({})", failing.join(", ")),
        };
        overrides.push(format!("{} {why}", target.short()));
        hints.push(match ci.state {
            CiState::None => format!(
                "record CI with `git train report success --commit {}` or set `require_checks = false` for {env}",
                target.short()
            ),
            _ => "wait for CI or fix it".to_string(),
        });
    }

    // Order of environments: `after` must run the commit first.
    if let (Some(after), false) = (&env_config.after, rollback) {
        let has = match snapshot.deployed.get(after) {
            Some(a) => ctx.repo().contains(*a, target)?,
            None => false,
        };
        if !has {
            overrides.push(format!(
                "{after} does not run {} yet; {env} comes after {after}",
                target.short()
            ));
            hints.push(format!(
                "deploy it there first: `git train deploy {after} {}`",
                target.short()
            ));
        }
    }
    // Locks: only the holder deploys.
    if let Some(held) = ctx.ledger.lock_of(&env)? {
        if held.lock.by != ctx.me() && !held.expired(ctx.now()) {
            overrides.push(format!(
                "{env} is {}",
                crate::commands::lock::describe(ctx, &held)
            ));
            hints.push(format!(
                "ask {} to run `git train unlock {env}`",
                held.lock.by
            ));
        }
    }
    let (walked, first, redeploy) = match current {
        None => (ctx.repo().train(target, None, 1)?, true, false),
        Some(c) if c == target => (ctx.repo().train(target, Some(c), 0)?, false, true),
        Some(c) if rollback => (ctx.repo().train(c, Some(target), COUNTED)?, false, false),
        Some(c) => (ctx.repo().train(target, Some(c), COUNTED)?, false, false),
    };
    // What a rollback takes away must allow it (`Rollback: unsafe`); what a deploy
    // brings must not be something trunk reverted since.
    let control = if rollback {
        super::controls::rollback_safety(ctx, &env, &walked.commits, target)?
    } else if !redeploy {
        let tip = ctx.repo().trunk(&ctx.config)?.tip;
        let brought = if first {
            // A first deployment brings everything: the revert window bounds it.
            ctx.repo().train(target, None, 1000)?.commits
        } else {
            walked.commits.clone()
        };
        super::controls::revert_awareness(ctx, &env, &brought, target, tip)?
    } else {
        None
    };
    if let Some(c) = control {
        overrides.push(c.why);
        hints.push(c.hint);
    }
    // Freeze windows: no deploy, and no rollback, while one holds the environment.
    if let Some(f) = crate::domain::freeze::frozen(&ctx.config.freeze, env.as_str(), ctx.now()) {
        let why = f
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        overrides.push(format!(
            "{env} is frozen until {}{why} ([[freeze]] {} in .train.toml)",
            f.until_local, f.index
        ));
        hints.push(format!("wait until {}", f.until_local));
    }
    if !overrides.is_empty() && forced.is_none() {
        hints.push("or override with --force --reason TEXT (recorded)".into());
        return Err(Error::refused(format!(
            "refusing to deploy to {env}: {}",
            overrides.join("; ")
        ))
        .hint(hints.join("; ")));
    }
    let forced = if overrides.is_empty() { None } else { forced };

    let total = walked.commits.len();
    let train = walked
        .commits
        .iter()
        .take(SHOWN)
        .map(|o| ctx.repo().commit_info(*o))
        .collect::<Result<Vec<_>>>()?;
    let concurrent = snapshot
        .open
        .iter()
        .filter(|o| o.env == env.as_str())
        .map(|o| o.dep.clone())
        .collect();
    Ok(Prepared {
        more: total - train.len(),
        more_unknown: !walked.complete && !first,
        first,
        redeploy,
        ci,
        ci_skipped: asked_rollback,
        concurrent,
        plan: Plan {
            dep: crate::ledger::new_id(ctx.now()),
            env,
            commit: target,
            from: current,
            rollback,
            forced,
            desc,
            train,
            offline,
        },
    })
}

/// How a deploy meets a deployment of the same environment under way.
pub struct LeaseArgs {
    /// Wait for it to end (`--queue`), then plan again.
    pub queue: bool,
    /// Take the lease over (`--force --reason`), recorded.
    pub forced: Option<String>,
}

/// Takes the environment's deploy lease for `prepared` (DESIGN.md section 8, deploy
/// leases): refused while another deployment of the environment is under way, unless
/// `--queue` (wait, then plan again with `again`, re-checking CI, locks and the rest)
/// or `--force --reason` (take it over, recorded).
pub fn take_lease(
    ctx: &Context,
    forge: &dyn Forge,
    mut prepared: Prepared,
    args: &LeaseArgs,
    again: &dyn Fn(&str) -> Result<Prepared>,
) -> Result<(Prepared, Option<crate::ledger::Remote>)> {
    let remote = if prepared.plan.offline {
        None
    } else {
        ctx.remote()
    };
    let env = prepared.plan.env.clone();
    let interrupt = crate::interrupt::Interrupt::catch();
    let started = std::time::Instant::now();
    let mut take_over = None;
    let mut waited = false;
    loop {
        let taken = ctx.ledger.take_lease(
            &env,
            &prepared.plan.dep,
            prepared.plan.commit,
            remote.as_ref(),
            take_over.as_ref(),
        )?;
        let held = match taken {
            crate::ledger::Leased::Now(_) => break,
            crate::ledger::Leased::Busy(held) => held,
        };
        let who = under_way(ctx, &held);
        if let Some(reason) = &args.forced {
            ctx.ui.warn(&format!("taking over the deploy lease: {who}"));
            let why = format!("{reason} (took over the deploy lease of {})", held.lease.by);
            prepared.plan.forced = Some(match prepared.plan.forced.take() {
                Some(f) if f != *reason => format!("{f}; {why}"),
                _ => why,
            });
            take_over = Some(held);
            continue;
        }
        if !args.queue {
            ctx.ui.done();
            return Err(Error::refused(format!("not deployed: {who}")).hint(format!(
                "wait for it with --queue, or take over with --force --reason TEXT (recorded); `git train history {env}` shows it"
            )));
        }
        if !waited {
            ctx.ui.step(&format!("waiting: {who}"));
            waited = true;
        }
        if interrupt.happened() {
            ctx.ui.done();
            return Err(Error::refused("interrupted while queued: not deployed")
                .hint("nothing was recorded"));
        }
        ctx.ui.progress(&format!(
            "queued behind {}'s deployment of {} to {env} ({})",
            held.lease.by,
            short_sha(&held.lease.sha),
            crate::domain::time::format_age(started.elapsed().as_millis() as i64)
        ));
        std::thread::sleep(std::time::Duration::from_millis(500));
        // Its end reaches this clone through the remote's ledger.
        if let Err(e) = super::sync::around(ctx, forge, prepared.plan.offline) {
            ctx.ui
                .warn(&format!("could not sync while queued: {}", e.message));
        }
    }
    ctx.ui.done();
    if waited {
        ctx.ui.step(&format!("{env} is free: planning again"));
        let dep = prepared.plan.dep.clone();
        match again(&prepared.plan.commit.to_string()) {
            Ok(mut fresh) => {
                fresh.plan.dep = dep;
                prepared = fresh;
            }
            Err(e) => {
                let _ = ctx.ledger.release_lease(&env, &dep, remote.as_ref());
                return Err(e);
            }
        }
    }
    Ok((prepared, remote))
}

/// Releases the deploy lease of a deployment that ended here, or never started; a
/// failure is a warning (the next deploy takes it over once the ledger shows the end).
pub fn release_lease(ctx: &Context, env: &EnvName, dep: &str, offline: bool) {
    let remote = if offline { None } else { ctx.remote() };
    if let Err(e) = ctx.ledger.release_lease(env, dep, remote.as_ref()) {
        ctx.ui.warn(&format!(
            "could not release the deploy lease on {env}: {}; the next deploy takes it over once this deployment's end is synced",
            e.message
        ));
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// "staging is being deployed by bob@example.com: 1a2b3c4 since 10:15:02 (deployment ...)"
pub fn under_way(ctx: &Context, held: &crate::ledger::HeldLease) -> String {
    let since = held
        .since()
        .map(|at| {
            format!(
                " since {} ({} ago)",
                at,
                crate::domain::time::format_age(ctx.now().0 - at.0)
            )
        })
        .unwrap_or_default();
    format!(
        "{} is being deployed by {}: {}{since}, deployment {}",
        held.lease.env,
        held.lease.by,
        short_sha(&held.lease.sha),
        held.lease.dep
    )
}

/// Makes the deployment: creates it at the forge and carries it to its end (or,
/// with `wait` false, sets it going). Each state is told once, by the process that
/// records it: here the request to a forge that does not run deployments itself
/// (GitHub, whose workflow reports the rest), and the end this process recorded.
/// The local forge tells the start as it records `in_progress`, and a `--no-wait`
/// runner its own end.
pub fn carry_out(
    ctx: &Context,
    forge: &dyn Forge,
    prepared: Prepared,
    wait: bool,
) -> Result<Outcome> {
    let plan = &prepared.plan;
    let interrupt = crate::interrupt::Interrupt::catch();
    let dep = forge.create(ctx, plan)?;
    if !forge.runs_deployments() {
        tell(ctx, plan.commit, &dep, false);
    }
    let state = if interrupt.happened() {
        let desc = Some("interrupted".into());
        let event = ctx
            .ledger
            .state_event(&plan.env, &dep, State::Error, ctx.now(), desc);
        ctx.ledger
            .record(plan.commit, &[event], "git-train: interrupted")?;
        tell(ctx, plan.commit, &dep, true);
        State::Error
    } else {
        let completed = forge.complete(ctx, plan, &dep, wait);
        // A deployment set going (`--no-wait`) has its end told by its runner.
        let ended_here = completed.as_ref().map_or(true, |state| state.is_final());
        if forge.runs_deployments() && ended_here {
            tell(ctx, plan.commit, &dep, true);
        }
        completed?
    };
    let log = ctx.ledger.log_path(&dep);
    // Where it runs is what the ledger says: GitHub may have moved it.
    let env = ctx
        .ledger
        .deployment(plan.commit, &dep)?
        .map_or_else(|| plan.env.to_string(), |d| d.env);
    Ok(Outcome {
        version: super::JSON_VERSION,
        moved_from: (env != plan.env.as_str()).then(|| plan.env.to_string()),
        env,
        sha: plan.commit.to_string(),
        state,
        rollback: plan.rollback,
        forced: plan.forced.clone(),
        from: plan.from.map(|o| o.to_string()),
        train_total: plan.train.len() + prepared.more,
        train: plan.train.clone(),
        waited: wait,
        log: log.exists().then(|| log.display().to_string()),
        url: ctx.config.env(&plan.env).url,
        at: ctx.now(),
        dep,
    })
}

/// The end of a `--no-wait` deployment, told by the detached runner that recorded
/// it (`git train run-deployment`).
pub fn tell_detached_end(ctx: &Context, sha: &str, dep: &str) {
    if let Ok(commit) = ctx.repo().resolve(sha) {
        tell(ctx, commit, dep, true);
    }
}

/// Tells the deployment's newest state, as the ledger has it (`end`: only when it
/// is a final one; a run that could not start may have recorded nothing new).
fn tell(ctx: &Context, commit: CommitId, dep: &str, end: bool) {
    ctx.tell(|| {
        let found = notify::recorded::deployment_by_id(ctx, commit, dep)?;
        Ok(found
            .filter(|d| !end || d.state.is_final())
            .map(notify::Event::Deployment))
    });
}
