//! Every command-line flag, defined once; the man page and completions are
//! generated from these definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands::{
    board, channels, complete, daemon, deploy, env, history, hook, init, lock, report, stale,
    stats, status, sync,
};

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
                channels::ChannelsAction::Test(t) => t.output.json,
            },
            Command::Env(a) => match &a.action {
                env::EnvAction::Retire(r) => r.output.json,
            },
            Command::Watch(a) | Command::Unwatch(a) => a.output.json,
            Command::Board(_) => false,
            Command::Daemon(a) => match &a.action {
                Some(daemon::DaemonAction::Install(s))
                | Some(daemon::DaemonAction::Uninstall(s))
                | Some(daemon::DaemonAction::Status(s)) => s.output.json,
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
// Each command's arguments are built when it is used, not at every start: building
// them all was a tenth of `git train history` (0.15 to 0.3 ms of its start).
#[command(defer = true)]
pub enum Command {
    /// Set the repository up: git log shows deploys, notes merge by sorted union,
    /// the pre-push hook
    ///
    /// Sets notes.displayRef to refs/notes/deploys and the notes merge strategy of
    /// the ledgers to cat_sort_uniq, and installs the pre-push hook in the folder git
    /// runs hooks from (core.hooksPath is honoured): git-train's lines go between
    /// marker lines, after whatever the hook file already holds. Running it again
    /// changes nothing; --uninstall takes it all out again.
    Init(init::Args),

    /// Show trunk, CI and where each commit is deployed
    ///
    /// One line per environment (the commit it runs, how many trunk commits it
    /// lacks, the age of the oldest of them), then the newest trunk commits with
    /// their CI state and a marker for every environment that runs them.
    Status(status::Args),

    /// Deploy a trunk commit (default: the tip) to an environment
    ///
    /// Prints the train (the commits between what ENV runs and REV) and asks on a
    /// terminal. Refuses when CI did not pass, or when the environment that must
    /// come first (`after`) does not run REV yet; --force --reason TEXT overrides
    /// and records the reason. Deploying an ancestor of what ENV runs is a rollback
    /// and is marked so.
    Deploy(deploy::Args),

    /// Deploy the commit an environment ran before its current one
    Rollback(deploy::RollbackArgs),

    /// List deployments, newest first
    History(history::Args),

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
    Stats(stats::Args),

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
    Stale(stale::Args),

    /// Record a CI status on a commit, or a new state of a deployment
    ///
    /// For CI jobs: `git train report success --commit HEAD --context build`.
    /// For deploy jobs: `git train report success --deployment ID`.
    Report(report::Args),

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
    Board(board::BoardArgs),

    /// Fetch, merge and push the ledger and the locks through the remote
    ///
    /// Fetches the remote's notes into refs/train/remotes/REMOTE/, merges them into
    /// refs/notes/deploys (and refs/notes/ci, refs/notes/locks) as the sorted union of
    /// lines per commit, and pushes without force; when someone pushed first, it
    /// fetches, merges and pushes again. Fetch and push run the git program, so your
    /// credentials and ssh set-up apply. Each waits at most `remote_timeout`
    /// (.train.toml, default 60s) for the remote; a refusal by the server (a hook) is
    /// shown with its reason and not retried.
    Sync(sync::Args),

    /// Lock an environment so that only you deploy there
    ///
    /// Creates refs/train/locks/ENV on the remote atomically: of two people locking
    /// at once, exactly one gets it. Without a remote the lock is local.
    Lock(lock::LockArgs),

    /// Release your lock on an environment (--force: someone else's, recorded)
    Unlock(lock::UnlockArgs),

    /// List environment locks
    Locks(lock::LocksArgs),

    /// Check a team channel: `git train channels test NAME` posts a test message
    ///
    /// `git train channels test NAME [--json]` posts a test message to the channel
    /// `[channels.NAME]` of .train.toml, with the URL of its environment variable (or
    /// of `git config train.channel.NAME.url`), and says whether it answered; exit
    /// status 1 when it did not. Deployments, rollbacks and locks are posted to the
    /// channels of their environment by the command that records them (see TEAM
    /// CHANNELS in git-train(1)).
    Channels(channels::ChannelsArgs),

    /// Manage environments: `git train env retire NAME` retires one made by mistake
    ///
    /// `git train env retire NAME [-m REASON]` records that NAME is retired (an
    /// `inactive` event with `"retired":true` on its newest deployment) and syncs
    /// it: `status` no longer lists it and `deploy` no longer counts it as known;
    /// `history NAME` keeps its deployments. Deploying to NAME again brings it back.
    Env(env::EnvArgs),

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
    Daemon(daemon::DaemonArgs),

    /// Add a repository to the daemon's watch list
    Watch(daemon::WatchArgs),

    /// Take a repository off the daemon's watch list
    Unwatch(daemon::WatchArgs),

    /// Run a deployment in the background (used by deploy --no-wait)
    #[command(hide = true)]
    RunDeployment(deploy::RunDeploymentArgs),

    /// Print a shell completion script
    ///
    /// bash: `git train completions bash > ~/.local/share/bash-completion/completions/git-train`;
    /// zsh: write `_git-train` into a folder of your fpath; fish: write
    /// `git-train.fish` into ~/.config/fish/completions, and, for `git train` in
    /// fish 3.6.0, `fish-git` into ~/.config/fish/conf.d/git-train.fish. install.sh
    /// does this.
    Completions(complete::CompletionsArgs),

    /// Run by the git hooks that `git train init` installs
    #[command(hide = true)]
    Hook(hook::HookArgs),

    /// The words shell completion offers (`envs` or `revs`), one a line
    #[command(hide = true, name = "__complete")]
    Complete(complete::CompleteArgs),
}
