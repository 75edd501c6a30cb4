//! `git train report` on the command line: run it, show what it returns.

use crate::cli::render::*;
use crate::cli::Cx;
use crate::commands::report::{self, Args, Reported};
use crate::error::Result;

pub fn run(cx: &Cx, a: &Args) -> Result<u8> {
    let r = report::run(cx.ctx, cx.forge, a)?;
    cx.said(a.output.json, &r, render);
    Ok(0)
}

pub fn render(r: &Reported) -> String {
    match &r.dep {
        Some(dep) => format!(
            "recorded {} for deployment {dep} to {} ({})\n",
            r.state,
            r.name,
            short(&r.sha)
        ),
        None => format!("recorded {} {} on {}\n", r.name, r.state, short(&r.sha)),
    }
}
