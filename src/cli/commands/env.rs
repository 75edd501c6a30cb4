//! `git train env retire` on the command line.

use crate::cli::render::clean;
use crate::cli::{offline, sync_after, Cx};
use crate::commands::env::{self, EnvAction, EnvArgs, Retired};
use crate::error::Result;

pub fn run(cx: &Cx, a: &EnvArgs) -> Result<u8> {
    match &a.action {
        EnvAction::Retire(r) => {
            let done = env::retire(cx.ctx, r)?;
            if done.changed {
                sync_after(cx.ctx, cx.forge, offline(cx.ctx, r.offline.offline));
            }
            cx.said(r.output.json, &done, render);
            Ok(0)
        }
    }
}

pub fn render(r: &Retired) -> String {
    let env = clean(&r.env);
    if r.changed {
        format!(
            "retired {env}: gone from status, its deployments stay in `git train history {env}`\n"
        )
    } else {
        format!("{env} was retired already\n")
    }
}
