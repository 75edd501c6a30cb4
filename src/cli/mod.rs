//! The command line: parse, run, render, map the outcome to an exit status.

pub mod args;
pub mod commands;
pub mod manpage;
pub mod render;
pub mod terminal;
pub mod ui;
pub mod width;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Kind, Result};
use args::{Cli, Command};
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
        "version": crate::commands::JSON_VERSION,
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
pub(crate) fn emit(text: &str) -> Result<()> {
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
pub(crate) fn tell(text: &str) {
    let _ = terminal::stdout(text);
}

/// `show` for a command that changed something: see `tell`.
pub(crate) fn tell_result<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
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
pub(crate) fn fitted(text: String) -> String {
    match width::stdout_columns() {
        Some(cols) => width::fit_lines(&text, cols),
        None => text,
    }
}

/// A command's result on stdout: its JSON document, or its human rendering.
pub(crate) fn show<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<()> {
    if json {
        emit_json(value)
    } else {
        emit(&fitted(human(value)))
    }
}

pub(crate) fn emit_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::internal(e.to_string()))?;
    emit(&format!("{text}\n"))
}

/// What every command's cli part gets: the command context, the forge, and the
/// global flags.
pub struct Cx<'a> {
    pub ctx: &'a Context,
    pub forge: &'a dyn crate::forge::Forge,
    pub style: Style,
    pub quiet: bool,
    pub verbose: bool,
}

impl Cx<'_> {
    /// What a command that changed something says (nothing with -q, unless --json).
    pub fn said<T: Serialize>(&self, json: bool, value: &T, human: impl FnOnce(&T) -> String) {
        if json || !self.quiet {
            tell_result(json, value, human);
        }
    }
}

fn run(cli: Cli, style: Style) -> Result<u8> {
    use self::commands::*;
    let dir = match &cli.repo {
        Some(name) => crate::commands::fleet::resolve(name)?,
        None => cli.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
    };
    // These need no repository of their own, or must not fail for want of a good one.
    match &cli.command {
        Command::Status(a) if a.all => return fleet::status(&cli, style, a),
        Command::History(a) if a.all => return fleet::history(&cli, style, a),
        Command::Sync(a) if a.all => return fleet::sync(&cli, a),
        Command::Completions(a) => return completions::run(a),
        Command::Complete(a) => return completions::words(&dir, a),
        Command::Hook(a) => return hook::run(&dir, &cli, a),
        Command::Daemon(a) => return daemon::daemon(&cli, a),
        Command::Watch(a) => return daemon::watch(&dir, &cli, a),
        Command::Unwatch(a) => return daemon::unwatch(&dir, &cli, a),
        Command::Board(a) => return board::run(&dir, &cli, a),
        Command::RunDeployment(a) => return deploy::run_deployment(&dir, &cli, a),
        _ => {}
    }
    let ui = Box::new(TermUi::new(cli.quiet, cli.color));
    let ctx = Context::open(&dir, ui)?;
    let forge = crate::forge::open_or_unavailable(&ctx);
    let cx = Cx {
        ctx: &ctx,
        forge: forge.as_ref(),
        style,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    let result = match &cli.command {
        Command::Init(a) => init::run(&cx, a),
        Command::Status(a) => status::run(&cx, a),
        Command::Deploy(a) => deploy::deploy(&cx, a),
        Command::Rollback(a) => deploy::rollback(&cx, a),
        Command::History(a) => history::run(&cx, a),
        Command::Stats(a) => stats::run(&cx, a),
        Command::Stale(a) => stale::run(&cx, a),
        Command::Report(a) => report::run(&cx, a),
        Command::Sync(a) => sync::run(&cx, a),
        Command::Lock(a) => lock::lock(&cx, a),
        Command::Unlock(a) => lock::unlock(&cx, a),
        Command::Locks(a) => lock::list(&cx, a),
        Command::Channels(a) => channels::run(&cx, a),
        Command::Env(a) => env::run(&cx, a),
        // Run above, before the repository is opened.
        Command::RunDeployment(_)
        | Command::Completions(_)
        | Command::Hook(_)
        | Command::Complete(_)
        | Command::Daemon(_)
        | Command::Watch(_)
        | Command::Unwatch(_)
        | Command::Board(_) => Ok(0),
    };
    if cli.verbose {
        for line in forge.verbose().into_iter().chain(ctx.notify.verbose()) {
            ctx.ui.note(&line);
        }
    }
    result
}

/// Says when the remote is skipped on purpose; returns the flag.
pub(crate) fn offline(ctx: &Context, offline: bool) -> bool {
    if offline {
        ctx.ui
            .note("offline: not syncing with the remote; run `git train sync` later");
    }
    offline
}

/// The sync after a command that recorded something: a failure here loses nothing
/// (the events are in the local ledger), so it is a warning.
pub(crate) fn sync_after(ctx: &Context, forge: &dyn crate::forge::Forge, offline: bool) {
    if let Err(e) = crate::commands::sync::around(ctx, forge, offline) {
        ctx.ui.warn(&format!(
            "recorded locally but not shared: {}; run `git train sync` later",
            e.message
        ));
    }
}
