//! `git train hook ...`: what the installed git hooks call. A hook must never get
//! in the way by accident: anything that goes wrong (a broken .train.toml, an odd
//! repository) is a warning and the push goes on. Only a threshold the team marked
//! `block = true` stops it.

use std::fmt::Write;

use std::io::Read;
use std::path::Path;

use crate::cli::args::Cli;
use crate::cli::render::*;
use crate::cli::ui::TermUi;
use crate::commands::hook::{self, HookArgs, HookCommand, PrePushArgs};
use crate::context::{Context, Ui};
use crate::domain::Timestamp;
use crate::error::{Error, Result};

pub fn run(dir: &Path, cli: &Cli, args: &HookArgs) -> Result<u8> {
    let HookCommand::PrePush(a) = &args.hook;
    let ui = TermUi::new(cli.quiet, cli.color);
    let mut stdin = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut stdin) {
        ui.warn(&format!(
            "git-train pre-push: cannot read the pushed refs: {e}"
        ));
        return Ok(0);
    }
    let refs = String::from_utf8_lossy(&stdin);
    let checked = Context::open(dir, Box::new(TermUi::new(cli.quiet, cli.color)))
        .and_then(|ctx| check(&ctx, a, &refs));
    let (report, now) = match checked {
        Ok(done) => done,
        Err(e) => {
            ui.warn(&format!(
                "git-train pre-push: {}; this push was not checked",
                e.message
            ));
            return Ok(0);
        }
    };
    for env in &report.environments {
        if env.deployed.is_none() {
            ui.note(&never_deployed(env));
        } else if env.alarming() {
            ui.warn(&pre_push_warning(env, report.trunk.as_deref(), now));
        }
    }
    let blocking: Vec<&str> = report.blocking().map(|e| e.name.as_str()).collect();
    if blocking.is_empty() {
        return Ok(0);
    }
    let names = blocking.join(", ");
    Err(Error::refused(format!(
        "push refused: block = true for {names} in .train.toml"
    ))
    .hint(format!(
        "deploy first (`git train deploy {}`), or push anyway with `git push --no-verify`",
        blocking[0]
    )))
}

fn check(ctx: &Context, a: &PrePushArgs, refs: &str) -> Result<(hook::PrePush, Timestamp)> {
    let args = hook::Args {
        remote: &a.remote,
        url: a.url.as_deref(),
        refs,
    };
    Ok((hook::pre_push(ctx, &args)?, ctx.now()))
}

/// A push of trunk left an environment over its `max_train` or `stale_after`.
pub fn pre_push_warning(
    e: &crate::commands::hook::EnvTrain,
    trunk: Option<&str>,
    now: Timestamp,
) -> String {
    let n = e.undeployed;
    let mut out = format!(
        "after this push, {} lacks {n}{} commit{} of {}",
        e.name,
        if e.more { "+" } else { "" },
        if n == 1 { "" } else { "s" },
        trunk.unwrap_or("trunk")
    );
    if let (true, Some(max)) = (e.too_long, e.max_train) {
        let _ = write!(out, ", more than max_train = {max}");
    }
    if let Some(c) = &e.oldest {
        let subject: String = if c.subject.chars().count() > 50 {
            c.subject.chars().take(49).chain(['…']).collect()
        } else {
            c.subject.clone()
        };
        let _ = write!(
            out,
            "; the oldest{}, {} \"{subject}\", is {} old",
            if e.more { " counted" } else { "" },
            c.short(),
            format_age(now.millis_since(c.at))
        );
    }
    if let (true, Some(limit)) = (e.too_old, e.stale_after) {
        let limit = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        let _ = write!(out, ", older than stale_after = {}", format_age(limit));
    }
    let _ = write!(out, "\n  `git train deploy {}` ships them", e.name);
    out
}

pub fn never_deployed(e: &crate::commands::hook::EnvTrain) -> String {
    format!(
        "git-train: {} was never deployed, so its train is not counted; `git train deploy {}` starts it",
        e.name, e.name
    )
}
