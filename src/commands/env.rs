//! `git train env retire NAME`: an environment made by mistake (`deploy stagign
//! --new-env`) leaves `status` and the list of known environments. It is recorded
//! as an event, so every clone sees it after a sync: an `inactive` line with
//! `"retired":true` on the environment's newest deployment. The ledger keeps
//! everything (`history NAME` still lists its deployments); deploying to NAME again
//! (with `--new-env`) brings it back.

use serde::Serialize;

use crate::context::Context;
use crate::domain::{EnvName, Fields, State, Timestamp};
use crate::error::{Error, Result};

#[derive(clap::Args, Debug, Clone)]
#[command(disable_help_subcommand = true)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub action: EnvAction,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum EnvAction {
    /// Retire an environment made by mistake: gone from status, kept in history
    ///
    /// Records an `inactive` event with `"retired":true` on the environment's newest
    /// deployment, and syncs it. `status` no longer lists the environment, and
    /// `deploy` no longer counts it as known (nor suggests it); `history NAME`
    /// still shows its deployments. A deploy to NAME later (`--new-env`) brings it
    /// back. An environment of .train.toml is retired by removing its section there.
    Retire(RetireArgs),
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RetireArgs {
    /// The environment to retire
    pub env: String,
    /// Why, recorded with the event
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub offline: super::flags::OfflineFlag,
    #[command(flatten)]
    pub output: super::flags::JsonFlag,
}

#[derive(Serialize)]
pub struct Retired {
    pub version: u32,
    pub env: String,
    /// False when it was retired already (nothing recorded).
    pub changed: bool,
    /// The deployment the event was recorded on, and its commit.
    pub dep: String,
    pub sha: String,
    pub by: String,
    pub at: Timestamp,
}

pub fn retire(ctx: &Context, args: &RetireArgs) -> Result<Retired> {
    let name = args.env.as_str();
    let env = EnvName::new(name).map_err(|m| {
        Error::usage(m).hint("environment names use letters, digits, '.', '_' and '-'")
    })?;
    if ctx.config.env.contains_key(name) {
        return Err(Error::usage(format!(
            "{name} is an environment of .train.toml ([env.{name}])"
        ))
        .hint(format!(
            "remove [env.{name}] from .train.toml to stop using it; its history stays"
        )));
    }
    ctx.open_deployments()?;
    let newest = ctx.ledger.newest()?;
    let Some(last) = newest.get(name) else {
        let known: Vec<&str> = newest.keys().map(String::as_str).collect();
        let mut e = Error::usage(format!("no deployment to '{name}' in the ledger"));
        if let Some(c) = crate::config::closest(name, &known) {
            e = e.hint(format!("did you mean {c}?"));
        }
        return Err(e.hint("`git train history` lists the environments deployed to"));
    };
    let me = ctx.ledger.me().to_string();
    if ctx.ledger.retired_of(&newest)?.contains(name) {
        return Ok(Retired {
            version: super::JSON_VERSION,
            env: name.to_string(),
            changed: false,
            dep: last.dep.clone(),
            sha: last.commit.to_string(),
            by: me,
            at: ctx.now(),
        });
    }
    if let Some(open) = ctx.ledger.snapshot()?.open.iter().find(|o| o.env == name) {
        return Err(Error::refused(format!(
            "deployment {} to {name} is still under way",
            open.dep
        ))
        .hint("retire it once the deployment has ended"));
    }
    let at = ctx.now();
    let fields = Fields {
        dep: Some(last.dep.clone()),
        desc: Some(match &args.reason {
            Some(r) => format!("environment retired: {r}"),
            None => "environment retired".to_string(),
        }),
        retired: true,
        ..Fields::default()
    };
    let event = ctx.ledger.event(&env, State::Inactive, at, fields);
    ctx.ledger
        .record(last.commit, &[event], &format!("retire {name}"))?;
    Ok(Retired {
        version: super::JSON_VERSION,
        env: name.to_string(),
        changed: true,
        dep: last.dep.clone(),
        sha: last.commit.to_string(),
        by: me,
        at,
    })
}
