//! `git train channels test NAME`: post a test message to a team channel, to check
//! its URL, its secret and that it answers, before a deployment needs it.

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::notify::{self, channel, ChannelTest};

#[derive(clap::Args, Debug, Clone)]
#[command(disable_help_subcommand = true)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub action: ChannelsAction,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ChannelsAction {
    /// Post a test message to a team channel
    Test(TestArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct TestArgs {
    /// The channel, as named in `[channels.NAME]`
    pub name: String,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct Tested {
    pub version: u32,
    pub channel: String,
    /// `slack`, `discord` or `webhook`.
    pub kind: &'static str,
    /// The environments whose deployments it gets.
    pub environments: Vec<String>,
    /// What `-v` shows: what was posted and the answer's status.
    #[serde(skip)]
    pub log: Vec<String>,
}

pub fn test(ctx: &Context, name: &str) -> Result<Tested> {
    let Some(channel) = channel::open(&ctx.config, name, &|key| ctx.git_config(key)) else {
        let known: Vec<&str> = ctx.config.channels.keys().map(String::as_str).collect();
        let hint = if known.is_empty() {
            format!("add [channels.{name}] to .train.toml (see TEAM CHANNELS in git-train(1))")
        } else {
            format!("known channels: {}", known.join(", "))
        };
        return Err(Error::usage(format!(
            "no channel '{}' in .train.toml",
            name.escape_debug()
        ))
        .hint(hint));
    };
    let event = notify::Event::Test(ChannelTest {
        repository: notify::recorded::repository(ctx),
        channel: name.to_string(),
        by: ctx.me().to_string(),
        at: ctx.now(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start a runtime to post: {e}")))?;
    let posted = runtime.block_on(channel.post(&event));
    let log = notify::Sink::verbose(&channel);
    let kind = ctx
        .config
        .channels
        .get(name)
        .and_then(|c| c.kinds().first().map(|(kind, _)| kind.key()))
        .unwrap_or("webhook");
    match posted {
        Ok(()) => Ok(Tested {
            version: super::JSON_VERSION,
            channel: name.to_string(),
            kind,
            environments: ctx
                .config
                .env
                .iter()
                .filter(|(_, e)| e.channels.iter().any(|c| c == name))
                .map(|(env, _)| env.clone())
                .collect(),
            log,
        }),
        Err(why) => Err(
            Error::refused(format!("could not post to {}: {why}", channel.label()))
                .hint("a deployment goes on when a channel fails, with a warning like this one"),
        ),
    }
}
