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
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut cmd, "git-train", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if shell == Shell::Bash {
        text.push_str(BASH_GIT_SUBCOMMAND);
    }
    text
}

/// git's bash completion completes `git train ARGS` with `_git_train` when it is
/// defined; this hands the words after `train` to the generated `_git-train`.
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
    _git-train git-train "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
}
"#;
