//! Flag groups several commands share; each command's own flags are in its file.

use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct JsonFlag {
    /// Print one JSON document (versioned) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct OfflineFlag {
    /// Do not sync with the remote before and after (says so)
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ConfirmFlags {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,
    /// Override a refusal (CI not passed, environment order, a deployment under
    /// way); needs --reason
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the refusal is overridden; recorded in the ledger
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    /// Return once the deployment is created; do not follow it to its end
    #[arg(long)]
    pub no_wait: bool,
    /// While another deployment of ENV is under way, wait for it to end, then deploy
    /// (CI, locks and the rest are checked again then)
    #[arg(long)]
    pub queue: bool,
}

/// A duration flag: 30m, 2h, 90s.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::domain::time::parse_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration like 30m, 2h or 90s"))
}
