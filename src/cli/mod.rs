//! The command line: parse, run, render, map the outcome to an exit status.

pub mod args;
pub mod board;
pub mod completions;
pub mod daemon;
pub mod hook;
pub mod manpage;
pub mod render;
pub mod terminal;
pub mod ui;
pub mod width;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use crate::commands::{self, deploy, history, report, status};
use crate::context::Context;
use crate::domain::State;
use crate::error::{Error, Kind, Result};
use args::{ChannelsAction, Cli, Command};
use ui::{Style, TermUi};

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            if e.kind() == clap::error::ErrorKind::InvalidSubcommand {
                // clap's "similar subcommand" tip also names hidden plumbing.
                let hidden = ["run-deployment", "'hook'", "__complete"];
                let text: String = e
                    .to_string()
                    .lines()
                    .filter(|l| !(l.contains("tip:") && hidden.iter().any(|h| l.contains(h))))
                    .map(|l| format!("{l}\n"))
                    .collect();
                terminal::stderr(&text.replace("\n\n\n", "\n\n"), false);
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    let style = Style::new(cli.color);
    terminal::set_stdout_colour(style.color);
    let json = cli.json();
    match run(cli, style) {
        Ok(code) => ExitCode::from(code),
        Err(e) if json && e.kind != Kind::BrokenPipe => {
            terminal::stderr(&json_error(&e), false);
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            if e.kind != Kind::BrokenPipe {
                let stderr_style = Style {
                    color: style.color || std::env::var_os("GIT_TRAIN_FORCE_COLOR").is_some(),
                    width: width::stderr_columns(),
                };
                let wrap = |line: String| match stderr_style.width {
                    Some(cols) => width::wrap(&line, cols, "  "),
                    None => line,
                };
                let mut text = wrap(format!("{} {}", stderr_style.red("error:"), e.message));
                text.push('\n');
                for hint in &e.hints {
                    text.push_str(&wrap(format!("{} {hint}", stderr_style.bold("hint:"))));
                    text.push('\n');
                }
                terminal::stderr(&text, stderr_style.color);
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// An error as a script reads it: `{"version":1,"error":{"kind","message","hint"}}`
/// on stderr, one line; the exit status is the same as in text.
fn json_error(e: &Error) -> String {
    let kind = match e.kind {
        Kind::Usage => "usage",
        Kind::Refused => "refused",
        Kind::Forge => "forge",
        Kind::Internal => "internal",
        Kind::BrokenPipe => "broken_pipe",
    };
    let doc = serde_json::json!({
        "version": commands::JSON_VERSION,
        "error": {
            "kind": kind,
            "message": e.message,
            "hint": e.hints.first(),
            "hints": e.hints,
        }
    });
    format!("{doc}\n")
}

/// Writes a read command's data to stdout; a closed pipe ends the program quietly.
fn emit(text: &str) -> Result<()> {
    terminal::stdout(text).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Error::new(Kind::BrokenPipe, "the output's reader went away")
        } else {
            Error::internal(format!("could not write the output: {e}"))
        }
    })
}

/// Writes what a command that changed something has to say. Its outcome is already
/// recorded (or about to be), so a closed or full stdout must not end it early nor
/// decide its exit status: `deploy | true` deploys, and exits as the deployment ends.
fn tell(text: &str) {
    let _ = terminal::stdout(text);
}

/// `show` for a command that changed something: see `tell`.
fn tell_result<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        if let Ok(text) = serde_json::to_string_pretty(value) {
            tell(&format!("{text}\n"));
        }
    } else {
        tell(&fitted(human(value)));
    }
}

/// Human output cut to the terminal's width, line by line (nothing cut in a pipe).
/// Renderers let their flexible column give way first; this holds for every line.
fn fitted(text: String) -> String {
    match width::stdout_columns() {
        Some(cols) => width::fit_lines(&text, cols),
        None => text,
    }
}

/// A command's result on stdout: its JSON document, or its human rendering.
fn show<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) -> Result<()> {
    if json {
        emit_json(value)
    } else {
        emit(&fitted(human(value)))
    }
}

fn emit_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::internal(e.to_string()))?;
    emit(&format!("{text}\n"))
}

fn run(cli: Cli, style: Style) -> Result<u8> {
    let dir = match &cli.repo {
        Some(name) => commands::fleet::resolve(name)?,
        None => cli.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
    };
    // Across the watch list: no repository of their own.
    let ui = || Box::new(TermUi::new(true, cli.color)) as Box<dyn crate::context::Ui>;
    match &cli.command {
        Command::Status(a) if a.all => {
            let all = commands::fleet::status_all(a.env.as_deref(), &ui)?;
            show(a.output.json, &all, |v| {
                render::status_all(&style, v, crate::context::now())
            })?;
            return Ok(0);
        }
        Command::History(a) if a.all => {
            let all = commands::fleet::history_all(a.env.as_deref(), a.count, &ui)?;
            show(a.output.json, &all, |v| render::history_all(&style, v))?;
            return Ok(0);
        }
        Command::Sync(a) if a.all => {
            let all = commands::fleet::sync_all(&ui)?;
            tell_result(a.output.json, &all, render::synced_all);
            // Every repository was tried; one that failed makes the whole a failure.
            return Ok(if all.repositories.iter().all(|r| r.ok) {
                0
            } else {
                1
            });
        }
        _ => {}
    }
    // These need no repository of their own, or must not fail for want of a good one.
    match &cli.command {
        Command::Completions(a) => {
            emit(&completions::render(a.shell))?;
            return Ok(0);
        }
        Command::Hook(a) => return hook::run(&dir, &cli, a),
        Command::Complete(a) => {
            let words = match a.what.as_str() {
                "envs" => commands::complete::environments(&dir),
                "revs" => commands::complete::revisions(&dir),
                "repos" => commands::fleet::watched()
                    .map(|all| all.into_iter().map(|w| w.name).collect())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let mut text = words.join("\n");
            text.push('\n');
            let _ = emit(&text);
            return Ok(0);
        }
        Command::Daemon(_) | Command::Watch(_) | Command::Unwatch(_) => {
            return daemon::run(&dir, &cli)
        }
        Command::Board(a) => return board::run(&dir, &cli, a),
        // A detached runner records even a failure to open its configuration.
        Command::RunDeployment(a) => {
            let ui = || Box::new(TermUi::new(cli.quiet, cli.color)) as Box<dyn crate::context::Ui>;
            let (ctx, state) =
                crate::forge::local::run_deployment(&dir, &a.env, &a.sha, &a.dep, ui)?;
            deploy::tell_detached_end(&ctx, &a.sha, &a.dep);
            if let Ok(env) = crate::domain::EnvName::new(&a.env) {
                deploy::release_lease(&ctx, &env, &a.dep, a.offline.offline);
            }
            let forge = crate::forge::open_or_unavailable(&ctx);
            sync_after(&ctx, forge.as_ref(), a.offline.offline);
            return Ok(if state == State::Success { 0 } else { 1 });
        }
        _ => {}
    }
    let ui = Box::new(TermUi::new(cli.quiet, cli.color));
    let ctx = Context::open(&dir, ui)?;
    let forge = crate::forge::open_or_unavailable(&ctx);
    let verbose = cli.verbose;
    let result = dispatch(cli, style, &ctx, forge.as_ref());
    if verbose {
        for line in forge.verbose().into_iter().chain(ctx.notify.verbose()) {
            ctx.ui.note(&line);
        }
    }
    result
}

fn dispatch(cli: Cli, style: Style, ctx: &Context, forge: &dyn crate::forge::Forge) -> Result<u8> {
    match cli.command {
        Command::Init(a) => {
            let done = commands::init::run(
                ctx,
                &commands::init::Args {
                    uninstall: a.uninstall,
                },
            )?;
            for w in &done.warnings {
                ctx.ui.warn(w);
            }
            // The first sync: the team's ledger, so status and git log show it at once.
            if !a.uninstall {
                if let Err(e) = commands::sync::around(ctx, forge, false) {
                    ctx.ui.warn(&format!(
                        "could not sync the ledger yet: {}; run `git train sync` later",
                        e.message
                    ));
                }
            }
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &done, render::init);
            }
            Ok(0)
        }
        Command::Status(a) => {
            if a.refresh {
                forge.refresh_ci(ctx, a.count)?;
            }
            let st = status::run(
                ctx,
                &status::Args {
                    count: a.count,
                    env: a.env,
                },
            )?;
            show(a.output.json, &st, |v| render::status(&style, v, ctx.now()))?;
            Ok(0)
        }
        Command::Deploy(a) => {
            // A bad name is refused before the network is asked anything.
            ctx.env(&a.env)?;
            deploy::refuse_offline_github(forge, a.offline.offline, "deploy")?;
            let off = offline(ctx, a.offline.offline);
            commands::sync::around_deploy(ctx, forge, off)?;
            ctx.deploy_env(&a.env, a.new_env)?;
            if a.when_green {
                deploy::wait_for_green(ctx, forge, a.rev.as_deref(), a.timeout, off)?;
            }
            let args = |rev: Option<String>| deploy::Args {
                env: a.env.clone(),
                rev,
                force: a.confirm.force,
                reason: a.confirm.reason.clone(),
                desc: a.description.clone(),
                offline: off,
            };
            let prepared = deploy::prepare(ctx, forge, &args(a.rev.clone()))?;
            let again = |sha: &str| {
                commands::sync::around_deploy(ctx, forge, off)?;
                deploy::prepare(ctx, forge, &args(Some(sha.to_string())))
            };
            finish_deploy(
                ctx,
                forge,
                &style,
                prepared,
                &a.confirm,
                a.output.json,
                cli.quiet,
                &again,
            )
        }
        Command::Rollback(a) => {
            ctx.env(&a.env)?;
            deploy::refuse_offline_github(forge, a.offline.offline, "roll back")?;
            let off = offline(ctx, a.offline.offline);
            commands::sync::around_deploy(ctx, forge, off)?;
            ctx.deploy_env(&a.env, false)?;
            let args = |to: Option<String>| deploy::RollbackArgs {
                env: a.env.clone(),
                to,
                force: a.confirm.force,
                reason: a.confirm.reason.clone(),
                offline: off,
            };
            let prepared = deploy::prepare_rollback(ctx, forge, &args(a.to.clone()))?;
            let again = |sha: &str| {
                commands::sync::around_deploy(ctx, forge, off)?;
                deploy::prepare_rollback(ctx, forge, &args(Some(sha.to_string())))
            };
            finish_deploy(
                ctx,
                forge,
                &style,
                prepared,
                &a.confirm,
                a.output.json,
                cli.quiet,
                &again,
            )
        }
        Command::History(a) => {
            let h = history::run(
                ctx,
                &history::Args {
                    env: a.env,
                    count: a.count,
                    skip: 0,
                },
            )?;
            // `-n 0` asks for no lines, which is not "no deployments yet".
            let count = a.count;
            show(a.output.json, &h, |v| {
                if count == 0 {
                    String::new()
                } else {
                    render::history(&style, v, ctx.now())
                }
            })?;
            Ok(0)
        }
        Command::Stats(a) => {
            let st = commands::stats::run(
                ctx,
                &commands::stats::Args {
                    env: a.env,
                    since: a.since,
                    until: a.until,
                },
            )?;
            show(a.output.json, &st, |v| render::stats(&style, v))?;
            Ok(0)
        }
        Command::Stale(a) => {
            let mut found = commands::stale::run(
                ctx,
                &commands::stale::Args {
                    envs: a.envs,
                    older_than: a.older_than,
                },
            )?;
            if !a.post {
                show(a.output.json, &found, |v| render::stale(&style, v))?;
                return Ok(0);
            }
            commands::stale::post(ctx, &mut found, a.again)?;
            if cli.verbose {
                for line in &found.log {
                    ctx.ui.note(line);
                }
            }
            for env in &found.environments {
                for d in env.digest.iter().flatten() {
                    if let Some(why) = &d.why {
                        ctx.ui.warn(&format!(
                            "could not post the digest of {} to channel {}: {why}",
                            env.name, d.channel
                        ));
                    }
                }
            }
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &found, |v| render::stale(&style, v));
            }
            Ok(if found.failed() { 1 } else { 0 })
        }
        Command::Report(a) => {
            let r = report::run(
                ctx,
                forge,
                &report::Args {
                    state: a.state,
                    commit: a.commit,
                    deployment: a.deployment,
                    context: a.context,
                    url: a.url,
                    log_url: a.log_url,
                    description: a.description,
                },
            )?;
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &r, render::reported);
            }
            Ok(0)
        }
        // Run above, before the repository is opened.
        Command::RunDeployment(_)
        | Command::Completions(_)
        | Command::Hook(_)
        | Command::Complete(_)
        | Command::Daemon(_)
        | Command::Watch(_)
        | Command::Unwatch(_)
        | Command::Board(_) => Ok(0),
        Command::Sync(a) => {
            let synced = commands::sync::run(ctx, forge)?;
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &synced, render::synced);
            }
            Ok(0)
        }
        Command::Lock(a) => {
            let done =
                commands::lock::lock(ctx, &a.env, a.reason, offline(ctx, a.offline.offline))?;
            sync_after(ctx, forge, a.offline.offline);
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &done, render::lock_outcome);
            }
            Ok(0)
        }
        Command::Unlock(a) => {
            let off = offline(ctx, a.offline.offline);
            let done = commands::lock::unlock(ctx, &a.env, a.force, a.reason, off)?;
            sync_after(ctx, forge, a.offline.offline);
            if a.output.json || !cli.quiet {
                tell_result(a.output.json, &done, render::lock_outcome);
            }
            Ok(0)
        }
        Command::Channels(a) => match a.action {
            ChannelsAction::Test(t) => {
                let tested = commands::channels::test(ctx, &t.name)?;
                if cli.verbose {
                    for line in &tested.log {
                        ctx.ui.note(line);
                    }
                }
                if t.output.json || !cli.quiet {
                    tell_result(t.output.json, &tested, render::channel_tested);
                }
                Ok(0)
            }
        },
        Command::Locks(a) => {
            let list = commands::lock::list(ctx, offline(ctx, a.offline.offline))?;
            show(a.output.json, &list, |v| {
                render::locks(&style, v, ctx.now())
            })?;
            Ok(0)
        }
    }
}

/// Says when the remote is skipped on purpose; returns the flag.
fn offline(ctx: &Context, offline: bool) -> bool {
    if offline {
        ctx.ui
            .note("offline: not syncing with the remote; run `git train sync` later");
    }
    offline
}

/// The sync after a command that recorded something: a failure here loses nothing
/// (the events are in the local ledger), so it is a warning.
fn sync_after(ctx: &Context, forge: &dyn crate::forge::Forge, offline: bool) {
    if let Err(e) = commands::sync::around(ctx, forge, offline) {
        ctx.ui.warn(&format!(
            "recorded locally but not shared: {}; run `git train sync` later",
            e.message
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_deploy(
    ctx: &Context,
    forge: &dyn crate::forge::Forge,
    style: &Style,
    prepared: deploy::Prepared,
    confirm: &args::ConfirmFlags,
    json: bool,
    quiet: bool,
    again: &dyn Fn(&str) -> Result<deploy::Prepared>,
) -> Result<u8> {
    for dep in &prepared.concurrent {
        ctx.ui.warn(&format!(
            "deployment {dep} to {} is still under way",
            prepared.plan.env
        ));
    }
    // -q: no train (and no progress, see TermUi); the outcome line is data.
    if !json && !quiet {
        tell(&fitted(render::plan(style, &prepared, ctx.now())));
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
            &prepared.plan.commit.to_string()[..7],
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
        tell(&fitted(render::outcome(style, &outcome)));
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

fn show_log_tail(ctx: &Context, path: &str) {
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
