//! The manual pages, generated from the clap definitions (`clap_mangen`), so that
//! they cannot drift from the flags, plus the sections clap knows nothing about:
//! configuration, files, exit status, environment. `man/` holds the generated pages,
//! committed; `tests/manpage.rs` fails when they differ from what this renders
//! (`UPDATE_MAN=1 cargo test --test manpage` writes them).

use clap::CommandFactory;
use clap_mangen::Man;

use super::args::Cli;

const MANUAL: &str = "Git Train Manual";

/// `git-train.1`: every command with its flags, the configuration, files, exit
/// status and environment.
pub fn render() -> Vec<u8> {
    let mut root = Cli::command();
    root.build();
    let version = root.get_version().unwrap_or_default().to_string();
    let man = Man::new(root.clone())
        .title("GIT-TRAIN")
        .source(format!("git-train {version}"))
        .manual(MANUAL);
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let mut synopsis = Vec::new();
    let _ = man.render_synopsis_section(&mut synopsis);
    // clap_mangen leaves out the value of a short-only option (`[-C ]`).
    let synopsis = String::from_utf8_lossy(&synopsis)
        .replace("[\\fB\\-C \\fR]", "[\\fB\\-C\\fR \\fIPATH\\fR]")
        .replace(
            "[\\fB\\-\\-color\\fR]",
            "[\\fB\\-\\-color\\fR \\fIWHEN\\fR]",
        );
    out.extend_from_slice(synopsis.as_bytes());
    let _ = man.render_description_section(&mut out);
    out.extend_from_slice(b".SH OPTIONS\nThese apply to every command.\n");
    out.extend(body(|w| man.render_options_section(w)));

    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in commands() {
        let name = sub.get_name().to_string();
        let man = Man::new(sub);
        out.extend_from_slice(format!(".SS \"git train {name}\"\n").as_bytes());
        out.extend(body(|w| man.render_synopsis_section(w)));
        out.extend_from_slice(b".PP\n");
        out.extend(body(|w| man.render_description_section(w)));
        out.extend(body(|w| man.render_options_section(w)));
    }
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    out.extend_from_slice(format!(".SH VERSION\nv{version}\n").as_bytes());
    once_prelude(&out)
}

/// Each section rendered alone starts with the roff crate's two-line prelude
/// (the `Aq` string); the page needs it once.
fn once_prelude(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let mut seen = std::collections::HashSet::new();
    text.split_inclusive('\n')
        .filter(|l| {
            !(l.starts_with(".ie \\n(.g .ds Aq") || l.starts_with(".el .ds Aq")) || seen.insert(*l)
        })
        .collect::<String>()
        .into_bytes()
}

/// Every page: `git-train.1`, and `git-train-COMMAND.1` for each command (what
/// `man git-train-deploy` shows), as file name and contents.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut pages = vec![("git-train.1".to_string(), render())];
    let version = Cli::command().get_version().unwrap_or_default().to_string();
    for sub in commands() {
        let page = format!("git-train-{}", sub.get_name());
        let man = Man::new(sub)
            .title(page.to_uppercase())
            .source(format!("git-train {version}"))
            .manual(MANUAL);
        let mut out = Vec::new();
        let _ = man.render(&mut out);
        out.extend_from_slice(SUB_PAGE_FOOTER.as_bytes());
        pages.push((format!("{page}.1"), out));
    }
    pages
}

/// The visible commands, each named as a page (`git-train-deploy`) and as typed
/// (`git train deploy`), in the order `--help` lists them. Global flags are left to
/// the main page.
fn commands() -> Vec<clap::Command> {
    Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| {
            let name = s.get_name().to_string();
            s.clone()
                .display_name(format!("git-train-{name}"))
                .bin_name(format!("git train {name}"))
        })
        .collect()
}

/// A section's body: what `render` writes, without its `.SH` heading lines.
fn body(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Vec<u8> {
    let mut raw = Vec::new();
    let _ = render(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    text.split_inclusive('\n')
        .filter(|l| !l.starts_with(".SH "))
        .collect::<String>()
        .into_bytes()
}

const SUB_PAGE_FOOTER: &str = r#".SH "SEE ALSO"
\fBgit\-train\fR(1) for the global options (\fB\-C\fR, \fB\-\-color\fR, \fB\-q\fR), the configuration, the files and the exit status.
"#;

/// Written in roff by hand: what clap does not know. Keep CONFIGURATION in step
/// with `config.rs` (a test parses the example below with it).
const EXTRA_SECTIONS: &str = r#".SH CONFIGURATION
git\-train reads \fI.train.toml\fR at the root of the work tree, committed and shared
by the team. Every key is optional; with no file at all git\-train uses the defaults.
An error in the file names the file, the line and the key.
.TP
\fBtrunk\fR = \fI"main"\fR
The branch deployments are taken from. Default: the remote's HEAD branch, else the
first of main, master and trunk that exists.
.TP
\fBremote\fR = \fI"origin"\fR
The remote that shares the ledger and the locks. Default: origin.
.TP
\fBremote_timeout\fR = \fI"60s"\fR
The longest wait for one \fBgit fetch\fR or \fBgit push\fR to the remote (sync,
deploy, lock, locks, unlock). A remote that does not answer by then is given up:
git and what it started are stopped, and the command ends with exit status 3
without recording anything. Default: 60s.
.TP
\fBforge\fR = \fI"github"\fR | \fI"local"\fR
Where deployments are created and CI states come from. Default: from the remote URL.
.SS "[github]"
.TP
\fBrepo\fR = \fI"owner/name"\fR
The GitHub repository. Default: from the remote URL.
.TP
\fBapi\fR = \fI"https://api.github.com"\fR
The API base; for GitHub Enterprise \fIhttps://HOST/api/v3\fR.
.TP
\fBpoll\fR = \fI"5s"\fR
How often \fBdeploy\fR asks GitHub for new deployment statuses. Default: 5s.
.TP
\fBtimeout\fR = \fI"30s"\fR
The longest wait for one answer from GitHub. Default: 30s.
.TP
\fBmax_wait\fR = \fI"60s"\fR
The longest wait for a rate limit to lift before giving up (exit status 3). Default: 60s.
.TP
\fBfollow\fR = \fI"60m"\fR
How long \fBdeploy\fR follows a deployment before it returns. Default: 60m.
.TP
\fBexport\fR = \fIfalse\fR
When true, \fBsync\fR also shows deployments recorded only in the ledger (local
forge, imports) on GitHub, as deployments with the task \fBgit\-train\-export\fR; a
deploy workflow must then skip that task. Default: false.
.SS "[checks]"
.TP
\fBignore\fR = \fI["codecov/patch"]\fR
CI status contexts that never block a deploy.
.TP
\fBrequire\fR = \fItrue\fR
Whether a deploy needs passing CI. Default: true.
.SS "[env.NAME]"
One table per environment. When there are any, they are the list of environments,
and any other name is refused.
.TP
\fBrun\fR = \fI"./deploy.sh staging"\fR
Local forge: the command that deploys, run with \fBsh \-c\fR in the work tree, with
\fBGIT_TRAIN_ENV\fR, \fBGIT_TRAIN_SHA\fR and \fBGIT_TRAIN_DEPLOYMENT\fR in its
environment. Its exit status decides success or failure. Only \fBdeploy\fR and
\fBrollback\fR run it; hooks never do.
.TP
\fBproduction\fR = \fItrue\fR
This environment is production (GitHub's production_environment).
.TP
\fBafter\fR = \fI"staging"\fR
A commit must run on that environment before it is deployed here.
.TP
\fBstale_after\fR = \fI"24h"\fR
Undeployed trunk commits older than this are stale: the pre\-push hook warns, and
the daemon tells each commit's author once (durations like 90m, 24h, 7d).
.TP
\fBmax_train\fR = \fI20\fR
The pre\-push hook warns when a push of trunk leaves more undeployed commits than this.
.TP
\fBurl\fR = \fI"https://grafana.example/d/api"\fR
Shown after a successful deploy, e.g. a dashboard.
.TP
\fBblock\fR = \fItrue\fR
The pre\-push hook refuses a push of trunk that passes \fBmax_train\fR or
\fBstale_after\fR for this environment, instead of only warning.
\fBgit push \-\-no\-verify\fR pushes anyway. Default: false.
.TP
\fBrequire_checks\fR = \fIfalse\fR
Overrides \fB[checks] require\fR for this environment.
.TP
\fBchannels\fR = \fI["prod\-deploys", "all"]\fR
The team channels (\fB[channels.NAME]\fR) its deployments, rollbacks and locks
are posted to (see TEAM CHANNELS). A name with no such table is an error.
.SS "[channels.NAME]"
One table per team channel, with exactly one of \fBslack\fR, \fBdiscord\fR and
\fBwebhook\fR. Each names the \fIenvironment variable\fR that holds the
channel's webhook URL, never the URL itself: the URL is a secret and this file is
committed. Without the variable, \fBgit config train.channel.NAME.url\fR holds
it (for a laptop).
.TP
\fBslack\fR = \fI"SLACK_PROD_DEPLOYS"\fR
A Slack incoming webhook.
.TP
\fBdiscord\fR = \fI"DISCORD_DEPLOYS"\fR
A Discord webhook.
.TP
\fBwebhook\fR = \fI"DEPLOY_HOOK_URL"\fR
Any web server: it gets each event as a JSON document (\fB"version": 1\fR).
.TP
\fBsecret\fR = \fI"DEPLOY_HOOK_SECRET"\fR
Webhooks: the environment variable (or \fBgit config
train.channel.NAME.secret\fR) holding a key; each body is then signed with
HMAC\-SHA256 in the header \fBX\-Git\-Train\-Signature: sha256=\fR\fIHEX\fR,
and nothing is posted unsigned when the key is missing.
.TP
\fBtimeout\fR = \fI"5s"\fR
The longest wait for the channel to take one message (at most 60s). Default: 5s.
.SS "[people]"
.TP
\fB"alice@example.com"\fR = \fI"U024BE7LH"\fR
How Slack messages mention someone: their git email (or GitHub login) and their
Slack member id.
.SS "[[freeze]]"
A window in which \fBdeploy\fR and \fBrollback\fR refuse (exit 1) to touch the
environments named; \fB\-\-force \-\-reason\fR \fITEXT\fR overrides it and the
reason is recorded. \fBstatus\fR shows "frozen until ...". Several may be given.
.TP
\fBenvironments\fR = \fI["production"]\fR
The environments it holds (\fB"*"\fR: all).
.TP
\fBweekly\fR = \fI{ from = "Fri 16:00", to = "Mon 09:00" }\fR
Every week, from a weekday and time to another (it may wrap the week).
.TP
\fBfrom\fR = \fI"2026\-12\-24T00:00"\fR, \fBto\fR = \fI"2027\-01\-02T00:00"\fR
Once, from a local date and time to another (the end not included).
.TP
\fBtimezone\fR = \fI"Asia/Seoul"\fR
The IANA time zone the times are in (git\-train's own zone data). Default: UTC.
.TP
\fBreason\fR = \fI"no Friday deploys"\fR
Shown in refusals and in \fBstatus\fR.
.SS Example
.RS 4
.nf
trunk = "main"
remote = "origin"
remote_timeout = "60s"
forge = "local"

[github]
repo = "acme/api"
api = "https://api.github.com"
poll = "5s"
timeout = "30s"
max_wait = "60s"
follow = "60m"
export = false

[checks]
ignore = ["codecov/patch"]
require = true

[env.staging]
run = "./deploy.sh staging"

[env.production]
production = true
after = "staging"
stale_after = "24h"
max_train = 20
url = "https://grafana.example/d/api"
block = false
require_checks = true
channels = ["prod-deploys", "all"]

[channels.prod-deploys]
slack = "SLACK_PROD_DEPLOYS"
timeout = "5s"

[channels.all]
webhook = "DEPLOY_HOOK_URL"
secret = "DEPLOY_HOOK_SECRET"

[channels.chat]
discord = "DISCORD_DEPLOYS"

[people]
"alice@example.com" = "U024BE7LH"

[[freeze]]
environments = ["production"]
weekly = { from = "Fri 16:00", to = "Mon 09:00" }
timezone = "Asia/Seoul"
reason = "no Friday deploys"
.fi
.RE
.SH "PRE-PUSH HOOK"
\fBgit train init\fR installs a pre\-push hook. When a push moves trunk on the
team's remote, it prints on stderr, for each environment with \fBmax_train\fR or
\fBstale_after\fR that the push leaves over one of them, how many trunk commits the
environment does not run yet and how old the oldest is. It exits 0 unless that
environment has \fBblock = true\fR. It reads only the local repository (no network,
no command from the configuration) and does nothing when git\-train is not on PATH.
Deletions, tags and notes are not checked.
.SH "TEAM CHANNELS"
Each deployment to an environment with \fBchannels\fR is posted to them: when it
is requested (github forge) or started, when it succeeds, fails (with the exit
status or the failing step) or errors, with the rollback and forced marks (and
the reason), and each lock and unlock (forced unlocks marked). A message names the
repository, the environment, the short sha and subject, who (a Slack mention
when \fB[people]\fR knows them), the train (ten commits, then how many more), and
links: pull requests and the comparison on GitHub, the environment's \fBurl\fR,
the log; once it ended, how long it took. Every event is posted once, by the
process that records it: with the local forge, the \fBdeploy\fR that runs the
command (or its \fB\-\-no\-wait\fR runner); with the github forge, \fBdeploy\fR
posts the request and \fBgit train report\fR in the deploy workflow each state it
reports. The daemon never posts. A channel that is down, slow or answers an error
is a warning: the deployment, the ledger and the exit status do not change, and
nothing is posted twice (after a timeout, a command posts no more to that
channel). The URL is never printed or stored; \fB\-v\fR shows the channel's name
and the answer's status. Only https is used, except to a loopback address.
\fBgit train channels test NAME\fR posts a test message.
.PP
\fBgit train stale \-\-post\fR (a scheduled workflow) posts each environment's
digest of the commits that wait longer than its \fBstale_after\fR to its channels:
how many and the oldest, what it runs and who deployed it, the authors (mentioned
through \fB[people]\fR), the oldest ten commits and the command that ships them;
nothing where nothing waits. Each channel gets an environment's digest once a UTC
day (\fI.git/train/digests.json\fR remembers it; \fB\-\-again\fR posts anyway); a
channel that fails is a warning and exit status 1, and the next run posts to it.
Webhooks get the digest as JSON of kind \fBdigest\fR.
.SH DAEMON
\fBgit train daemon\fR (one per user; \fBgit train daemon install\fR runs it at
login) watches the repositories of the watch list. Each round it asks each one's
forge for news with conditional requests only, writes new deployment events into the
ledger and refreshes the CI state of your trunk commits; a ref change (a commit, a
deploy, a fetch) wakes it at once. It raises a desktop notification when a deployment
of a followed environment changes state, when CI finishes on a trunk commit of yours,
and when a commit of yours has waited longer than \fBstale_after\fR for an
environment (once per commit and environment), and when a successful deployment
carries commits of yours (once, all of them in one notification). \fBgit train
daemon status\fR says whether it runs and when each repository last answered. It
never runs a command from a repository's configuration. Its settings, in the
per\-user \fIconfig.toml\fR:
.TP
\fBwatch\fR = \fI["/home/alice/src/api"]\fR
The watched repositories (their work trees); \fBgit train watch\fR,
\fBunwatch\fR and \fBinit\fR edit this list.
.TP
\fB[daemon] poll\fR = \fI"60s"\fR
How often each forge is asked. Default: 60s.
.TP
\fB[daemon] environments\fR = \fI["production"]\fR
The environments whose deployments, stale commits and shipped commits notify. Default: all.
.TP
\fB[daemon] unreachable_after\fR = \fI"10m"\fR
A repository whose forge has not answered this long (no token, a refused token,
unreachable) is told once on the desktop. Default: 10m.
.TP
\fB[daemon] own_deployments\fR = \fIfalse\fR
Popups also for the deployments you followed to their end in a terminal on this
machine (\fBdeploy\fR and \fBrollback\fR without \fB--no-wait\fR note their id in
\fI$XDG_STATE_HOME/git-train/started\fR). Default: false, you saw their end there.
.TP
\fB[daemon.mine_only] deployments\fR = \fIfalse\fR, \fBci\fR = \fItrue\fR, \fBstale\fR = \fItrue\fR
Notify only about your own commits (author email = your git \fBuser.email\fR); a
deployment is yours when you made it or it brings a commit of yours. Defaults as shown.
.SH FILES
.TP
\fI.train.toml\fR
The team's configuration, at the root of the work tree (see CONFIGURATION).
.TP
\fIrefs/notes/deploys\fR
The ledger: one note per deployed commit, one line per event
(\fBAT ENV STATE BY {JSON}\fR). Shared through the remote.
.TP
\fIrefs/notes/ci\fR
CI statuses recorded with \fBgit train report \-\-commit\fR, in the same line format.
.TP
\fIrefs/notes/locks\fR
A record of locks taken and released by force.
.TP
\fIrefs/train/deployed/ENV\fR
The commit ENV runs now (its newest successful deployment); a local index, rebuilt
from the notes. \fBgit log refs/train/deployed/production..main\fR lists what
production lacks.
.TP
\fIrefs/train/locks/ENV\fR
The lock on ENV: a commit whose message says who holds it and why. Created and
deleted on the remote atomically.
.TP
\fIrefs/train/remotes/REMOTE/\fR
The remote's ledgers as last fetched, before they are merged.
.TP
\fI.git/train/\fR
Local cache: the index, logs of deploy commands (\fI.git/train/logs/\fR), the day
each digest of \fBstale \-\-post\fR was posted to each channel
(\fIdigests.json\fR). Safe to delete.
.TP
\fIHOOKS/pre\-push\fR
The pre\-push hook, in the folder git runs hooks from (\fBgit rev\-parse
\-\-git\-path hooks\fR; \fIcore.hooksPath\fR is honoured). git\-train's lines sit
between \fB# >>> git\-train >>>\fR and \fB# <<< git\-train <<<\fR.
.TP
\fI$XDG_CONFIG_HOME/git\-train/config.toml\fR
Per\-user settings of the daemon (see DAEMON); \fI~/.config/git\-train/\fR without
\fBXDG_CONFIG_HOME\fR.
.TP
\fI$XDG_STATE_HOME/git\-train/daemon.json\fR
What the daemon already announced, so a restart does not repeat it
(\fI~/.local/state/git\-train/\fR without \fBXDG_STATE_HOME\fR).
.TP
\fI$XDG_RUNTIME_DIR/git\-train/daemon.lock\fR
The daemon's lock: a second daemon exits 1. In the per\-user config folder without
\fBXDG_RUNTIME_DIR\fR.
.TP
\fI~/.config/systemd/user/git\-train.service\fR, \fI~/Library/LaunchAgents/org.git\-train.daemon.plist\fR
The service \fBgit train daemon install\fR writes (systemd, launchd).
.SH "EXIT STATUS"
.TP
\fB0\fR
Done. A closed pipe (\fB| head\fR) also exits 0.
.TP
\fB1\fR
Refused or failed: CI did not pass, the environment is locked, the deployment
failed, the question was not confirmed, or the pre\-push hook blocked a push.
.TP
\fB2\fR
Bad arguments or configuration, or not a git repository; a hint says what to do.
.TP
\fB3\fR
The forge could not be reached or rate\-limited the request; nothing was recorded.
.SH ENVIRONMENT
.TP
\fBNO_COLOR\fR
When set and not empty, no colours (as \fB\-\-color never\fR).
.TP
\fBGIT_TRAIN_FORCE_COLOR\fR
Colour error messages even when stderr is not a terminal.
.TP
\fBGIT_TRAIN_NOW\fR
A fixed clock for reproducible demos and tests: an RFC 3339 time or a date (YYYY\-MM\-DD).
.TP
\fBGIT_TRAIN_ENV\fR, \fBGIT_TRAIN_SHA\fR, \fBGIT_TRAIN_DEPLOYMENT\fR
Set for an environment's \fBrun\fR command: the environment, the commit and the
deployment id.
.TP
\fBGH_TOKEN\fR, \fBGITHUB_TOKEN\fR
The GitHub token, in this order; without them, the output of \fBgh auth token\fR,
else \fBgit credential fill\fR for the API host. Never printed or stored.
.TP
\fBGITHUB_EVENT_NAME\fR, \fBGITHUB_EVENT_PATH\fR
In a GitHub Actions job started by a \fBdeployment\fR event, \fBgit train report\fR
takes the deployment from the event when \fB\-\-deployment\fR is not given.
.TP
\fBDBUS_SESSION_BUS_ADDRESS\fR
The session bus the daemon's notifications go to (Linux).
.TP
\fBGIT_TRAIN_SERVICE_MANAGER\fR
Replaces the program \fBgit train daemon install\fR and \fBuninstall\fR run, for
tests: \fICOMMAND\fR, or \fBsystemctl:\fR\fICOMMAND\fR / \fBlaunchctl:\fR\fICOMMAND\fR
to choose the kind of service. It gets the arguments \fBsystemctl\fR or
\fBlaunchctl\fR would.
.SH "SEE ALSO"
\fBgit\-notes\fR(1), \fBgithooks\fR(5), and \fBgit\-train\-COMMAND\fR(1) for each command.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_example_is_valid() {
        let text = EXTRA_SECTIONS;
        let start = text.find(".RS 4\n.nf\n").unwrap() + 10;
        let end = text.find(".fi\n.RE").unwrap();
        let example = &text[start..end];
        crate::config::Config::parse(std::path::Path::new(".train.toml"), example.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        // Every key the example sets is documented above it.
        for line in example.lines() {
            if let Some((key, _)) = line.split_once(" = ") {
                assert!(
                    text.contains(&format!("\\fB{key}\\fR = ")),
                    "{key} is not documented"
                );
            }
        }
    }

    /// A key added to config.rs fails this until CONFIGURATION documents it.
    #[test]
    fn every_configuration_key_is_documented() {
        let source = include_str!("../config.rs");
        let mut in_config_struct = false;
        let mut keys = Vec::new();
        for line in source.lines() {
            if line.starts_with("pub struct ") {
                in_config_struct = line.contains("Config ") && !line.contains("ConfigError");
            } else if line.starts_with('}') {
                in_config_struct = false;
            } else if in_config_struct {
                if let Some(field) = line.trim().strip_prefix("pub ") {
                    if let Some((name, _)) = field.split_once(':') {
                        keys.push(name.to_string());
                    }
                }
            }
        }
        assert!(keys.len() > 10, "{keys:?}");
        for key in keys {
            let table = matches!(
                key.as_str(),
                "github" | "checks" | "env" | "channels" | "people" | "freeze"
            );
            let documented = if table {
                EXTRA_SECTIONS.contains(&format!(".SS \"[{key}"))
                    || EXTRA_SECTIONS.contains(&format!(".SS \"[[{key}]]"))
            } else {
                EXTRA_SECTIONS.contains(&format!("\\fB{key}\\fR = "))
            };
            assert!(
                documented,
                "`{key}` of .train.toml is missing from CONFIGURATION in manpage.rs"
            );
        }
    }

    #[test]
    fn the_main_page_has_every_command_and_flag() {
        let page = String::from_utf8(render()).unwrap();
        let mut flags = 0;
        for mut sub in commands() {
            let name = sub.get_name().to_string();
            assert!(
                page.contains(&format!(".SS \"git train {name}\"")),
                "{name}"
            );
            // A command's arguments are made when it is built (`defer`).
            sub.build();
            for arg in sub.get_arguments() {
                flags += 1;
                if let Some(long) = arg.get_long() {
                    let escaped = long.replace('-', "\\-");
                    assert!(
                        page.contains(&format!("\\-\\-{escaped}")),
                        "{name} --{long}"
                    );
                }
            }
        }
        assert!(flags > 50, "{flags} arguments checked");
        for section in ["CONFIGURATION", "FILES", "\"EXIT STATUS\"", "ENVIRONMENT"] {
            assert!(page.contains(&format!(".SH {section}\n")), "{section}");
        }
    }
}
