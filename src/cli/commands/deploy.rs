//! `git train deploy` and `git train rollback` on the command line: the train, the
//! question, the lease, the deployment followed to its end; and the detached runner
//! of `deploy --no-wait`.

use std::fmt::Write;
use std::path::Path;

use crate::cli::args::Cli;
use crate::cli::render::*;
use crate::cli::ui::{Style, TermUi};
use crate::cli::{fitted, offline, sync_after, tell, tell_result, Cx};
use crate::commands::deploy::{self, Args, Outcome, Prepared, RollbackArgs, RunDeploymentArgs};
use crate::commands::flags::ConfirmFlags;
use crate::commands::sync::around_deploy;
use crate::error::{Error, Result};

pub fn deploy(cx: &Cx, a: &Args) -> Result<u8> {
    let (ctx, forge) = (cx.ctx, cx.forge);
    // A bad name is refused before the network is asked anything.
    ctx.env(&a.env)?;
    deploy::refuse_offline_github(forge, a.offline.offline, "deploy")?;
    let off = offline(ctx, a.offline.offline);
    around_deploy(ctx, forge, off)?;
    ctx.deploy_env(&a.env, a.new_env)?;
    if a.when_green {
        deploy::wait_for_green(ctx, forge, a.rev.as_deref(), a.timeout, off)?;
    }
    let prepared = deploy::prepare(ctx, forge, a)?;
    let again = |sha: &str| {
        around_deploy(ctx, forge, off)?;
        let mut a = a.clone();
        a.rev = Some(sha.to_string());
        deploy::prepare(ctx, forge, &a)
    };
    finish(cx, prepared, &a.confirm, a.output.json, &again)
}

pub fn rollback(cx: &Cx, a: &RollbackArgs) -> Result<u8> {
    let (ctx, forge) = (cx.ctx, cx.forge);
    ctx.env(&a.env)?;
    deploy::refuse_offline_github(forge, a.offline.offline, "roll back")?;
    let off = offline(ctx, a.offline.offline);
    around_deploy(ctx, forge, off)?;
    ctx.deploy_env(&a.env, false)?;
    let prepared = deploy::prepare_rollback(ctx, forge, a)?;
    let again = |sha: &str| {
        around_deploy(ctx, forge, off)?;
        let mut a = a.clone();
        a.to = Some(sha.to_string());
        deploy::prepare_rollback(ctx, forge, &a)
    };
    finish(cx, prepared, &a.confirm, a.output.json, &again)
}

/// The detached runner of `deploy --no-wait`: it records even a failure to open its
/// configuration, so it runs before the command context is made.
pub fn run_deployment(dir: &Path, cli: &Cli, a: &RunDeploymentArgs) -> Result<u8> {
    let ui = || Box::new(TermUi::new(cli.quiet, cli.color)) as Box<dyn crate::context::Ui>;
    let (ctx, state) = crate::forge::local::run_deployment(dir, &a.env, &a.sha, &a.dep, ui)?;
    deploy::tell_detached_end(&ctx, &a.sha, &a.dep);
    if let Ok(env) = crate::domain::EnvName::new(&a.env) {
        deploy::release_lease(&ctx, &env, &a.dep, a.offline.offline);
    }
    let forge = crate::forge::open_or_unavailable(&ctx);
    sync_after(&ctx, forge.as_ref(), a.offline.offline);
    Ok(if state == State::Success { 0 } else { 1 })
}

/// The train and the question, then the lease, the deployment and its outcome.
fn finish(
    cx: &Cx,
    prepared: Prepared,
    confirm: &ConfirmFlags,
    json: bool,
    again: &dyn Fn(&str) -> Result<Prepared>,
) -> Result<u8> {
    let (ctx, forge, style) = (cx.ctx, cx.forge, &cx.style);
    for dep in &prepared.concurrent {
        ctx.ui.warn(&format!(
            "deployment {dep} to {} is still under way",
            prepared.plan.env
        ));
    }
    // -q: no train (and no progress, see TermUi); the outcome line is data.
    if !json && !cx.quiet {
        tell(&fitted(plan(style, &prepared, ctx.now())));
    }
    if json && !confirm.yes && ctx.ui.interactive() {
        return Err(
            Error::usage("--json never asks: a deploy with --json needs --yes")
                .hint("add --yes (nothing was recorded)"),
        );
    }
    if !confirm.yes && ctx.ui.interactive() {
        let verb = if prepared.plan.rollback {
            "Roll back"
        } else {
            "Deploy"
        };
        let question = format!(
            "{verb} {} to {}?",
            prepared.plan.commit.short(),
            prepared.plan.env
        );
        if !ctx.ui.confirm(&question) {
            return Err(Error::refused("not deployed").hint("nothing was recorded"));
        }
    }
    // One deployment of an environment at a time, across clones.
    let lease = deploy::LeaseArgs {
        queue: confirm.queue,
        forced: confirm.force.then(|| confirm.reason.clone()).flatten(),
    };
    let (prepared, _) = deploy::take_lease(ctx, forge, prepared, &lease, again)?;
    let offline = prepared.plan.offline;
    let (env, dep) = (prepared.plan.env.clone(), prepared.plan.dep.clone());
    // A person follows it here to its end: the daemon need not tell them again.
    if ctx.ui.interactive() && !json && !confirm.no_wait {
        crate::daemon::started::record(&dep);
    }
    let outcome = deploy::carry_out(ctx, forge, prepared, !confirm.no_wait);
    // A `--no-wait` deployment's runner releases the lease at its end.
    if outcome.as_ref().map_or(true, |o| o.state.is_final()) {
        deploy::release_lease(ctx, &env, &dep, offline);
    }
    let outcome = outcome?;
    sync_after(ctx, forge, offline);
    if json {
        tell_result(true, &outcome, |_| String::new());
    } else {
        tell(&fitted(render_outcome(style, &outcome)));
    }
    match outcome.state {
        State::Failure | State::Error => {
            if let Some(log) = &outcome.log {
                show_log_tail(ctx, log);
            }
            Ok(1)
        }
        _ => Ok(0),
    }
}

fn show_log_tail(ctx: &crate::context::Context, path: &str) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(10)..];
    let mut msg = format!("the last lines of {path}:");
    for l in tail {
        msg.push_str("\n  ");
        msg.push_str(l);
    }
    ctx.ui.note(&msg);
}

pub fn plan(s: &Style, p: &Prepared, now: Timestamp) -> String {
    let mut out = String::new();
    let plan = &p.plan;
    let short = plan.commit.short();
    let total = plan.train.len() + p.more;
    let headline = if p.first {
        format!("First deployment to {}: {short}", plan.env)
    } else if p.redeploy {
        format!("{} already runs {short}; deploying it again", plan.env)
    } else if plan.rollback {
        format!(
            "Rolling {} back to {short}, taking away {total}{} commit{}:",
            plan.env,
            if p.more_unknown { "+" } else { "" },
            if total == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Deploying {short} to {}: a train of {total}{} commit{}:",
            plan.env,
            if p.more_unknown { "+" } else { "" },
            if total == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(out, "{}", s.bold(&headline));
    if !p.first {
        let natural = plan
            .train
            .iter()
            .map(|c| crate::cli::width::of(&clean(&c.subject)))
            .max()
            .unwrap_or(0);
        let bys: Vec<String> = plan
            .train
            .iter()
            .map(|c| {
                let by = format!(
                    "{}, {} ago",
                    clean(&c.author),
                    format_age(now.millis_since(c.at))
                );
                crate::cli::width::cut(&by, 30).into_owned()
            })
            .collect();
        // One subject width for every row, so the authors line up.
        let by_w = bys
            .iter()
            .map(|b| crate::cli::width::of(b))
            .max()
            .unwrap_or(0);
        let subject_w = flexible(s, 2 + 7 + 1 + 1 + by_w, 10, natural);
        for (c, by) in plan.train.iter().zip(&bys) {
            let _ = writeln!(
                out,
                "  {} {} {}",
                s.yellow(c.short()),
                truncate(&c.subject, subject_w),
                s.dim(by)
            );
        }
        if p.more > 0 {
            let _ = writeln!(out, "  {}", s.dim(&format!("... and {} more", p.more)));
        }
    }
    let ci = match p.ci.state {
        _ if p.ci_skipped => s.dim("CI not asked: it ran here successfully before"),
        CiState::Success => s.green("CI passed"),
        CiState::None => s.yellow("no CI status"),
        CiState::Pending => s.yellow("CI pending"),
        CiState::Failure => s.red("CI failed"),
    };
    let _ = writeln!(out, "  {ci}");
    if let Some(reason) = &plan.forced {
        let _ = writeln!(out, "  {}", s.red(&clean(&format!("forced: {reason}"))));
    }
    fit(s, out)
}

pub fn render_outcome(s: &Style, o: &Outcome) -> String {
    let short = short(&o.sha);
    let kind = if o.rollback { "rollback" } else { "deployment" };
    let mut line = match o.state {
        State::Success => format!(
            "{} {} now runs {short} ({kind} {})",
            s.green("✓"),
            o.env,
            o.dep
        ),
        State::Failure | State::Error => {
            format!(
                "{} {kind} {} of {short} to {} ended in {}",
                s.red("✗"),
                o.dep,
                o.env,
                o.state
            )
        }
        _ => format!(
            "{} {kind} {} of {short} to {} is {}; follow it with `git train history {}`",
            s.yellow("●"),
            o.dep,
            o.env,
            o.state,
            o.env
        ),
    };
    if let Some(from) = &o.moved_from {
        let _ = write!(
            line,
            "\n  {}",
            s.yellow(&format!(
                "asked for {}; GitHub moved the deployment to {}",
                clean(from),
                clean(&o.env)
            ))
        );
    }
    if let (State::Success, Some(url)) = (o.state, &o.url) {
        let _ = write!(line, "\n  {}", clean(url));
    }
    line.push('\n');
    line
}
