//! Shell completion scripts, generated from the clap definitions (`clap_complete`).

use clap::CommandFactory;
use clap_complete::Shell as Generator;

use super::args::{Cli, Shell};

/// The completion script for `git-train` in `shell`. For bash it also completes
/// `git train ...`: git's own bash completion calls `_git_train` for it.
pub fn render(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    let mut out = Vec::new();
    if shell == Shell::Bash {
        let mut cmd = without_hidden(Cli::command(), "git__train");
        // clap_complete 4.6 names bash functions inconsistently when the program
        // name has a '-' (the subcommands then never complete): generate under a
        // name without one, and register the result for git-train.
        clap_complete::generate(generator, &mut cmd, "git__train", &mut out);
        let text = String::from_utf8_lossy(&out)
            .replace("-o default git__train\n", "-o default git-train\n");
        return text + BASH_GIT_SUBCOMMAND;
    }
    let mut cmd = without_hidden(Cli::command(), "git-train");
    clap_complete::generate(generator, &mut cmd, "git-train", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The command as completions should offer it: the generators list hidden
/// subcommands (plumbing like `hook`) unless they are left out.
fn without_hidden(cmd: clap::Command, name: &'static str) -> clap::Command {
    clap::Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                // The generators name their functions after these.
                .map(|s| s.clone().bin_name(format!("{name} {}", s.get_name()))),
        )
}

/// git's bash completion completes `git train ARGS` with `_git_train` when it is
/// defined; this hands the words after `train` to the generated `_git__train`.
const BASH_GIT_SUBCOMMAND: &str = r#"
_git_train() {
    local i=1
    while [ "$i" -lt "$COMP_CWORD" ] && [ "${COMP_WORDS[i]}" != train ]; do
        i=$((i + 1))
    done
    local COMP_WORDS=(git-train "${COMP_WORDS[@]:i+1}")
    local COMP_CWORD=$((COMP_CWORD - i))
    local COMP_LINE="${COMP_WORDS[*]}"
    local COMP_POINT=${#COMP_LINE}
    _git__train git-train "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;
