//! `git train channels` on the command line: run it, show what it returns.

use crate::cli::Cx;
use crate::commands::channels::{self, ChannelsAction, ChannelsArgs, Tested};
use crate::error::Result;

pub fn run(cx: &Cx, a: &ChannelsArgs) -> Result<u8> {
    match &a.action {
        ChannelsAction::Test(t) => {
            let tested = channels::test(cx.ctx, &t.name)?;
            if cx.verbose {
                for line in &tested.log {
                    cx.ctx.ui.note(line);
                }
            }
            cx.said(t.output.json, &tested, render);
            Ok(0)
        }
    }
}

pub fn render(t: &Tested) -> String {
    let gets = if t.environments.is_empty() {
        "no environment posts there yet".to_string()
    } else {
        format!("it gets the deployments of {}", t.environments.join(", "))
    };
    format!(
        "posted a test message to channel {} ({}); {gets}\n",
        t.channel, t.kind
    )
}
