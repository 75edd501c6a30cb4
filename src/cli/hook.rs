//! `git train hook ...`: what the installed git hooks call. A hook must never get
//! in the way by accident: anything that goes wrong (a broken .train.toml, an odd
//! repository) is a warning and the push goes on. Only a threshold the team marked
//! `block = true` stops it.

use std::io::Read;
use std::path::Path;

use super::args::{Cli, HookArgs, HookCommand, PrePushArgs};
use super::render;
use super::ui::TermUi;
use crate::commands::hook;
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
            ui.note(&render::never_deployed(env));
        } else if env.alarming() {
            ui.warn(&render::pre_push_warning(env, report.trunk.as_deref(), now));
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
