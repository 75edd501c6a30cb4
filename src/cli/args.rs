//! Every command-line flag, defined once; the man page and completions are
//! generated from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Configuration: .train.toml at the repository root (see CONFIGURATION in git-train(1)).
Exit status: 0 done; 1 refused or failed; 2 usage or configuration error;
3 the forge could not be reached (nothing was recorded).";

/// Deploy a busy trunk as a commit train, with the ledger in git notes.
///
/// git-train records every deployment as a git note on the deployed commit
/// (refs/notes/deploys), so `status`, `history` and plain `git log` work offline on
/// every clone. `deploy` takes what is merged but not deployed, checks that CI
/// passed, and deploys it to an environment; `rollback` deploys an older commit.
#[derive(Parser, Debug)]
#[command(name = "git-train", bin_name = "git train", version, after_help = AFTER_HELP)]
#[command(max_term_width = 100)]
pub struct Cli {
    /// Run as if started in PATH
    #[arg(short = 'C', value_name = "PATH", global = true)]
    pub dir: Option<PathBuf>,

    /// Run in the watched repository NAME (its folder name, or owner/name of its
    /// remote), from anywhere
    #[arg(
        short = 'R',
        long = "repo",
        value_name = "NAME",
        global = true,
        conflicts_with = "dir"
    )]
    pub repo: Option<String>,

    /// When to use colours (NO_COLOR in the environment means never)
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true, value_name = "WHEN")]
    pub color: ColorWhen,

    /// Print only data and errors: no progress, no notes
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print the forge requests made and the rate limit left (GitHub), and the team
    /// channels posted to with their answers' status
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command was asked for JSON: then its errors are JSON too.
    pub fn json(&self) -> bool {
        match &self.command {
            Command::Init(a) => a.output.json,
            Command::Status(a) => a.output.json,
            Command::Deploy(a) => a.output.json,
            Command::Rollback(a) => a.output.json,
            Command::History(a) => a.output.json,
            Command::Stats(a) => a.output.json,
            Command::Stale(a) => a.output.json,
            Command::Report(a) => a.output.json,
            Command::Sync(a) => a.output.json,
            Command::Lock(a) => a.output.json,
            Command::Unlock(a) => a.output.json,
            Command::Locks(a) => a.output.json,
            Command::Channels(a) => match &a.action {
                ChannelsAction::Test(t) => t.output.json,
            },
            Command::Watch(a) | Command::Unwatch(a) => a.output.json,
            Command::Board(_) => false,
            Command::Daemon(a) => match &a.action {
                Some(DaemonAction::Install(s))
                | Some(DaemonAction::Uninstall(s))
                | Some(DaemonAction::Status(s)) => s.output.json,
                None => false,
            },
            Command::RunDeployment(_)
            | Command::Completions(_)
            | Command::Hook(_)
            | Command::Complete(_) => false,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set the repository up: git log shows deploys, notes merge by sorted union,
    /// the pre-push hook
    ///
    /// Sets notes.displayRef to refs/notes/deploys and the notes merge strategy of
    /// the ledgers to cat_sort_uniq, and installs the pre-push hook in the folder git
    /// runs hooks from (core.hooksPath is honoured): git-train's lines go between
    /// marker lines, after whatever the hook file already holds. Running it again
    /// changes nothing; --uninstall takes it all out again.
    Init(InitArgs),

    /// Show trunk, CI and where each commit is deployed
    ///
    /// One line per environment (the commit it runs, how many trunk commits it
    /// lacks, the age of the oldest of them), then the newest trunk commits with
    /// their CI state and a marker for every environment that runs them.
    Status(StatusArgs),

    /// Deploy a trunk commit (default: the tip) to an environment
    ///
    /// Prints the train (the commits between what ENV runs and REV) and asks on a
    /// terminal. Refuses when CI did not pass, or when the environment that must
    /// come first (`after`) does not run REV yet; --force --reason TEXT overrides
    /// and records the reason. Deploying an ancestor of what ENV runs is a rollback
    /// and is marked so.
    Deploy(DeployArgs),

    /// Deploy the commit an environment ran before its current one
    Rollback(RollbackArgs),

    /// List deployments, newest first
    History(HistoryArgs),

    /// Delivery metrics of an environment, from the ledger alone
    ///
    /// Over a window (default: the 90 days before now): deployment frequency
    /// (successful deployments per day and per week, and on how many days), lead time
    /// for changes (from a commit's committer date to the success of the deployment
    /// that first brought it; median and 90th percentile), change failure rate
    /// (deployments that failed, or that a rollback or a forced deployment replaced,
    /// out of all finished ones), time to restore (from a failure, or from a
    /// deployment a rollback replaced, to the next success; median) and the train
    /// (commits per deployment). --json carries the definitions with the numbers.
    Stats(StatsArgs),

    /// List the trunk commits that wait longest for each environment; --post tells
    /// the team
    ///
    /// For each environment (default: those with `stale_after`; when none has it,
    /// all), the first-parent trunk commits it does not run yet that were committed
    /// (merged) longer ago than --older-than (default: the environment's
    /// `stale_after`, else 24h), oldest first: sha, subject, author, age and
    /// pull-request number, under what the environment runs and who deployed it.
    /// Offline, from the ledger; an environment never deployed is not counted.
    /// "nothing waits" when none waits. --post sends one digest per environment
    /// where commits wait to its team channels (`[env.X] channels`): how many wait
    /// and the oldest, the authors (Slack mentions through `[people]`), the oldest
    /// ten, the command that ships them. Each channel gets an environment's digest
    /// once a day (UTC; .git/train/digests.json remembers it), so a retried
    /// workflow does not post twice; --again posts anyway. A channel that fails is
    /// a warning and exit status 1, and is tried again by the next run.
    Stale(StaleArgs),

    /// Record a CI status on a commit, or a new state of a deployment
    ///
    /// For CI jobs: `git train report success --commit HEAD --context build`.
    /// For deploy jobs: `git train report success --deployment ID`.
    Report(ReportArgs),

    /// Serve a live web page of every environment's train (read-only, on this machine)
    ///
    /// The overview shows each environment in pipeline order (`after`): the commit
    /// it runs, who deployed it and when, a deployment under way, a failed one, its
    /// lock; and between them the train, the trunk commits not yet in the next
    /// environment, with CI, authors, ages and pull-request links (GitHub); stale
    /// ones (`stale_after`) stand out. History lists deployments (by environment,
    /// paged), each with its own page of events and its train; Stats draws the
    /// `stats` numbers week by week. An open page updates within a second of a
    /// change to the ledger, trunk or a lock; without JavaScript a reload shows it.
    /// It listens on 127.0.0.1:7878 unless --listen names another address (then
    /// anyone who can reach that address can read the page), answers only GET and
    /// HEAD, refuses requests whose Host is not its address or localhost, and prints
    /// its URL. Ctrl-C stops it.
    Board(BoardArgs),

    /// Fetch, merge and push the ledger and the locks through the remote
    ///
    /// Fetches the remote's notes into refs/train/remotes/REMOTE/, merges them into
    /// refs/notes/deploys (and refs/notes/ci, refs/notes/locks) as the sorted union of
    /// lines per commit, and pushes without force; when someone pushed first, it
    /// fetches, merges and pushes again. Fetch and push run the git program, so your
    /// credentials and ssh set-up apply. Each waits at most `remote_timeout`
    /// (.train.toml, default 60s) for the remote; a refusal by the server (a hook) is
    /// shown with its reason and not retried.
    Sync(SyncArgs),

    /// Lock an environment so that only you deploy there
    ///
    /// Creates refs/train/locks/ENV on the remote atomically: of two people locking
    /// at once, exactly one gets it. Without a remote the lock is local.
    Lock(LockArgs),

    /// Release your lock on an environment (--force: someone else's, recorded)
    Unlock(UnlockArgs),

    /// List environment locks
    Locks(LocksArgs),

    /// Check a team channel: `git train channels test NAME` posts a test message
    ///
    /// `git train channels test NAME [--json]` posts a test message to the channel
    /// `[channels.NAME]` of .train.toml, with the URL of its environment variable (or
    /// of `git config train.channel.NAME.url`), and says whether it answered; exit
    /// status 1 when it did not. Deployments, rollbacks and locks are posted to the
    /// channels of their environment by the command that records them (see TEAM
    /// CHANNELS in git-train(1)).
    Channels(ChannelsArgs),

    /// Run the notifier: desktop notifications for deployments, CI and stale commits
    ///
    /// One daemon per user watches the repositories of the watch list (`git train
    /// watch`, `git train init`). Each round it asks each repository's forge for news
    /// with conditional requests only (an idle round costs no rate limit), writes new
    /// deployment events into the ledger and refreshes the CI state of your trunk
    /// commits; it also wakes within moments when a repository's refs change. It
    /// notifies when a deployment of a followed environment changes state, when CI
    /// finishes on a trunk commit of yours, and when a commit of yours has waited
    /// longer than `stale_after` for an environment (once per commit and
    /// environment). It logs to stderr (`-v`: every round), and never runs a command
    /// from a repository's configuration. Settings: the per-user config.toml (see
    /// DAEMON in git-train(1)).
    Daemon(DaemonArgs),

    /// Add a repository to the daemon's watch list
    Watch(WatchArgs),

    /// Take a repository off the daemon's watch list
    Unwatch(WatchArgs),

    /// Run a deployment in the background (used by deploy --no-wait)
    #[command(hide = true)]
    RunDeployment(RunDeploymentArgs),

    /// Print a shell completion script
    ///
    /// bash: `git train completions bash > ~/.local/share/bash-completion/completions/git-train`;
    /// zsh: write `_git-train` into a folder of your fpath; fish: write
    /// `git-train.fish` into ~/.config/fish/completions. install.sh does this.
    Completions(CompletionsArgs),

    /// Run by the git hooks that `git train init` installs
    #[command(hide = true)]
    Hook(HookArgs),

    /// The words shell completion offers (`envs` or `revs`), one a line
    #[command(hide = true, name = "__complete")]
    Complete(CompleteArgs),
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Print one JSON document (versioned) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Take out what init set up: git-train's hook lines (yours stay) and its notes settings
    #[arg(long)]
    pub uninstall: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// How many trunk commits to show
    #[arg(short = 'n', long = "count", default_value_t = 10, value_name = "N")]
    pub count: usize,
    /// Show only this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Every repository on the daemon's watch list, one block each (local ledgers only)
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
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

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The environment, e.g. staging or production
    pub env: String,
    /// The commit to deploy (default: the tip of trunk)
    pub rev: Option<String>,
    /// A description recorded with the deployment
    #[arg(short = 'm', long = "description", value_name = "TEXT")]
    pub description: Option<String>,
    /// While REV's CI is pending, wait for it, then deploy (locks, freezes and the
    /// rest are checked when it deploys); failing CI or the timeout: exit 1
    #[arg(long)]
    pub when_green: bool,
    /// How long --when-green waits
    #[arg(long, value_name = "DURATION", default_value = "30m", requires = "when_green", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
    /// ENV is a new environment (needed once the ledger or .train.toml knows others)
    #[arg(long)]
    pub new_env: bool,
    #[command(flatten)]
    pub confirm: ConfirmFlags,
    #[command(flatten)]
    pub offline: OfflineFlag,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The environment to roll back
    pub env: String,
    /// The commit to go back to (default: the one that ran before the current one)
    #[arg(long, value_name = "REV")]
    pub to: Option<String>,
    #[command(flatten)]
    pub confirm: ConfirmFlags,
    #[command(flatten)]
    pub offline: OfflineFlag,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// The environment (default: the one marked `production = true`, else production)
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Start of the window: a duration before now (30d, 2w) or a date (2026-09-01,
    /// RFC 3339); default: 90 days before --until
    #[arg(long, value_name = "DURATION|DATE")]
    pub since: Option<String>,
    /// End of the window (not included), as for --since; default: now
    #[arg(long, value_name = "DURATION|DATE")]
    pub until: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct StaleArgs {
    /// Only this environment (repeat for more)
    #[arg(long = "env", value_name = "ENV")]
    pub envs: Vec<String>,
    /// List the commits that have waited longer than this (30m, 24h, 2d)
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub older_than: Option<std::time::Duration>,
    /// Post each environment's digest to its team channels, once a day per channel
    #[arg(long)]
    pub post: bool,
    /// With --post: post even to the channels that got today's digest already
    #[arg(long, requires = "post")]
    pub again: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only this environment
    pub env: Option<String>,
    /// How many deployments to show
    #[arg(short = 'n', long = "count", default_value_t = 20, value_name = "N")]
    pub count: usize,
    /// Deployments of every repository on the watch list, each line naming its repository
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// pending, success, failure, error (CI); also queued, in_progress, inactive (deployments)
    pub state: String,
    /// The commit the CI status is for
    #[arg(long, value_name = "REV", conflicts_with = "deployment")]
    pub commit: Option<String>,
    /// The deployment the state is for (its id, as `history` shows)
    #[arg(long, value_name = "ID")]
    pub deployment: Option<String>,
    /// The CI status context (one per CI job)
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub context: String,
    /// Link to the CI run (commit statuses) or the environment (deployments)
    #[arg(long, alias = "environment-url", value_name = "URL")]
    pub url: Option<String>,
    /// Link to the deploy log
    #[arg(long, value_name = "URL")]
    pub log_url: Option<String>,
    /// A short description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct OfflineFlag {
    /// Do not sync with the remote before and after (says so)
    #[arg(long)]
    pub offline: bool,
}

#[derive(Args, Debug)]
pub struct BoardArgs {
    /// The address to listen on (default 127.0.0.1:7878; port 0 takes a free one)
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Open the page in the default browser
    #[arg(long)]
    pub open: bool,
    /// Serve every repository on the daemon's watch list, one section each
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Sync every repository on the watch list (a few at a time, each under its
    /// remote timeout) and report each
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct LockArgs {
    /// The environment to lock
    pub env: String,
    /// Why, shown to whoever tries to deploy
    #[arg(long, short = 'm', value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub offline: OfflineFlag,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// The environment to unlock
    pub env: String,
    /// Release someone else's lock; recorded in refs/notes/locks
    #[arg(long)]
    pub force: bool,
    /// Why a lock is released by force
    #[arg(long, value_name = "TEXT", requires = "force")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub offline: OfflineFlag,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct LocksArgs {
    #[command(flatten)]
    pub offline: OfflineFlag,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
#[command(disable_help_subcommand = true)]
pub struct ChannelsArgs {
    #[command(subcommand)]
    pub action: ChannelsAction,
}

#[derive(Subcommand, Debug)]
pub enum ChannelsAction {
    /// Post a test message to a team channel
    Test(ChannelTestArgs),
}

#[derive(Args, Debug)]
pub struct ChannelTestArgs {
    /// The channel, as named in `[channels.NAME]`
    pub name: String,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct RunDeploymentArgs {
    pub env: String,
    pub sha: String,
    pub dep: String,
    #[command(flatten)]
    pub offline: OfflineFlag,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, disable_help_subcommand = true)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub action: Option<DaemonAction>,
    /// Do one round of every watched repository, then exit
    #[arg(long)]
    pub once: bool,
}

#[derive(Subcommand, Debug)]
pub enum DaemonAction {
    /// Run the daemon at login: a systemd user unit (Linux) or a launchd agent (macOS)
    ///
    /// Writes ~/.config/systemd/user/git-train.service (or
    /// ~/Library/LaunchAgents/org.git-train.daemon.plist) to run this binary, by its
    /// absolute path, as `git-train daemon`, and enables and starts it
    /// (`systemctl --user enable --now`, `launchctl bootstrap gui/UID`).
    Install(ServiceArgs),
    /// Stop the daemon's service and remove its unit or agent file
    Uninstall(ServiceArgs),
    /// Whether a daemon runs, what it watches, and how each repository last answered
    ///
    /// Reads the daemon's lock and the file it writes after each round of its
    /// repositories (~/.local/state/git-train/daemon-status.json): when each
    /// watched repository last answered, and why one did not (no token, token
    /// refused, unreachable, not a repository).
    Status(ServiceArgs),
}

#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// The repository (default: the current one)
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub output: JsonFlag,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Args, Debug)]
pub struct CompleteArgs {
    /// `envs` or `revs`
    pub what: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct HookArgs {
    #[command(subcommand)]
    pub hook: HookCommand,
}

#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// Warn when a push of trunk leaves a long or old train of undeployed commits
    ///
    /// Reads the refs being pushed from stdin, as git gives them to the pre-push hook.
    PrePush(PrePushArgs),
}

#[derive(Args, Debug)]
pub struct PrePushArgs {
    /// The remote pushed to (its name, or its URL when it has none)
    pub remote: String,
    /// The URL pushed to
    pub url: Option<String>,
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    crate::domain::time::parse_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration like 30m, 2h or 90s"))
}
