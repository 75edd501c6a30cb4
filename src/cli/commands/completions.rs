//! Shell completion scripts, generated from the clap definitions (`clap_complete`).

use clap::CommandFactory;
use clap_complete::Shell as Generator;

use std::path::Path;

use crate::cli::args::Cli;
use crate::cli::emit;
use crate::commands::complete::{CompleteArgs, CompletionsArgs, Shell};
use crate::error::Result;

/// `git train completions SHELL`: the script on stdout.
pub fn run(a: &CompletionsArgs) -> Result<u8> {
    emit(&render(a.shell))?;
    Ok(0)
}

/// `git train __complete envs|revs|repos`: the words, one a line; never an error
/// (a shell completing in a broken repository just gets none).
pub fn words(dir: &Path, a: &CompleteArgs) -> Result<u8> {
    let words = match a.what.as_str() {
        "envs" => crate::commands::complete::environments(dir),
        "revs" => crate::commands::complete::revisions(dir),
        "repos" => crate::commands::fleet::watched()
            .map(|all| all.into_iter().map(|w| w.name).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut text = words.join("\n");
    text.push('\n');
    let _ = emit(&text);
    Ok(0)
}

/// The completion script for `git-train` in `shell`. For bash it also completes
/// `git train ...`: git's own bash completion calls `_git_train` for it.
pub fn render(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
        Shell::FishGit => return FISH_GIT.trim_start().to_string(),
    };
    let mut out = Vec::new();
    if shell == Shell::Bash {
        let mut cmd = without_hidden(Cli::command(), "git__train");
        // clap_complete 4.6 names bash functions inconsistently when the program
        // name has a '-' (the subcommands then never complete): generate under a
        // name without one, and register the result for git-train.
        clap_complete::generate(generator, &mut cmd, "git__train", &mut out);
        // The generated function completes flags and commands; environments and
        // revisions come from `git train __complete` through `_git_train_words`.
        let text = String::from_utf8_lossy(&out)
            .replace("-o default git__train\n", "-o default git-train\n")
            .replace("complete -F _git__train ", "complete -F _git_train_words ");
        return text + BASH_WORDS + BASH_GIT_SUBCOMMAND;
    }
    let mut cmd = without_hidden(Cli::command(), "git-train");
    clap_complete::generate(generator, &mut cmd, "git-train", &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Zsh => zsh_words(&text),
        _ => text + FISH_WORDS,
    }
}

/// The generated zsh script completes environments, revisions and watched
/// repositories as files (`_default`); they come from `git-train __complete` instead.
fn zsh_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + ZSH_WORDS.len());
    for line in text.lines() {
        let words = if line.ends_with(":_default' \\") || line.ends_with(":_default'") {
            let spec = line.trim_start_matches('\'');
            if spec.starts_with(":env -- ")
                || spec.starts_with("::env -- ")
                || line.contains("]:ENV:")
            {
                Some("_git_train_envs")
            } else if spec.starts_with("::rev -- ") || line.contains("]:REV:") {
                Some("_git_train_revs")
            } else if line.contains("]:NAME:") && line.contains("watched repository") {
                Some("_git_train_repos")
            } else {
                None
            }
        } else {
            None
        };
        match words {
            Some(f) => out.push_str(&line.replacen(":_default'", &format!(":{f}'"), 1)),
            None => out.push_str(line),
        }
        out.push('\n');
        if line.starts_with("#compdef ") {
            out.push_str(ZSH_WORDS);
        }
    }
    out
}

/// zsh: the words of `git-train __complete WHAT` (in the `-C` folder given, if any).
const ZSH_WORDS: &str = r#"
_git_train_complete() {
    local -a found dir
    local i
    for ((i = 2; i < CURRENT; i++)); do
        [[ ${words[i]} == -C ]] && dir=(-C "${words[i+1]}")
    done
    found=(${(f)"$(git-train $dir __complete $1 2>/dev/null)"})
    compadd -a found
}
_git_train_envs() { _git_train_complete envs }
_git_train_revs() { _git_train_complete revs }
_git_train_repos() { _git_train_complete repos }
"#;

/// fish: environments as the first word after `deploy`, `rollback`, `history`,
/// `lock`, `unlock` and `env retire`, and after `--env`; revisions after the
/// environment of `deploy`, and after `--to` and `--commit`; repositories after
/// `-R`.
const FISH_WORDS: &str = r#"
function __fish_git_train_positionals
    set -l n 0
    set -l skip 0
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case -C -R --repo --color --reason -m --description --to --env --since --until --older-than -n --count --context --url --environment-url --log-url --commit --deployment --for --timeout --listen
                set skip 1
            case '-*'
            case '*'
                set n (math $n + 1)
        end
    end
    echo $n
end
function __fish_git_train_words
    set -l tokens (commandline -opc)
    set -l dir
    if set -l i (contains -i -- -C $tokens)
        set dir -C $tokens[(math $i + 1)]
    end
    git-train $dir __complete $argv[1] 2>/dev/null
end
complete -c git-train -n "__fish_git_train_using_subcommand deploy rollback history lock unlock; and test (__fish_git_train_positionals) -eq 1" -f -a "(__fish_git_train_words envs)"
complete -c git-train -n "__fish_git_train_using_subcommand deploy; and test (__fish_git_train_positionals) -eq 2" -f -a "(__fish_git_train_words revs)"
complete -c git-train -n "__fish_git_train_using_subcommand env; and test (__fish_git_train_positionals) -eq 2" -f -a "(__fish_git_train_words envs)"
complete -c git-train -l env -f -r -a "(__fish_git_train_words envs)"
complete -c git-train -l to -f -r -a "(__fish_git_train_words revs)"
complete -c git-train -l commit -f -r -a "(__fish_git_train_words revs)"
complete -c git-train -s R -l repo -f -r -a "(__fish_git_train_words repos)"
"#;

/// fish: `git train ...` completed as `git-train ...`. fish's git completion does
/// this itself for custom commands (since 3.2), except in 3.6.0, which asks
/// `git-git-train` (fish-shell issue 9457): so it is done here for 3.6.0 alone. Read
/// at start-up (conf.d), as git's completion loads only when git is completed.
const FISH_GIT: &str = r#"
# git-train: `git train <TAB>` completes as `git-train <TAB>` (`git train
# completions fish-git`). Only fish 3.6.0 needs it; other versions do it themselves.
if string match -q '3.6.0' -- $version
    function __fish_git_train_from_git
        set -l words (commandline -opc)
        set -l at (contains -i -- train $words)
        or return
        set -e words[1..$at]
        set -l current (commandline -ct)
        complete -C "git-train $words $current"
    end
    complete -c git -f -n 'functions -q __fish_git_using_command; and __fish_git_using_command train' -a '(__fish_git_train_from_git)'
end
"#;

/// The command as completions should offer it: the generators list hidden
/// subcommands (plumbing like `hook`) unless they are left out.
fn without_hidden(cmd: clap::Command, name: &'static str) -> clap::Command {
    // `Cli` defers each command's arguments and subcommands until it is used, so
    // that starting the program does not build all of them. Build them all first:
    // the root's `help` command is made from the subcommands the commands hold
    // (`help env retire`), and it is made again below. The generators name their
    // functions after the commands' bin names.
    let mut cmd = cmd.bin_name(name);
    cmd.build();
    clap::Command::new(name)
        .version(env!("CARGO_PKG_VERSION"))
        .args(
            cmd.get_arguments()
                .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
                .cloned(),
        )
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .cloned(),
        )
}

/// Environments after `deploy`, `rollback`, `history`, `lock`, `unlock`, `env
/// retire` and `--env`; revisions after the environment of `deploy` and after `--to`; the
/// generated completion for everything else.
const BASH_WORDS: &str = r#"
_git_train_words() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local sub="" npos=0 i w skip=0 dir="" repo="" repo_next=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [ "$skip" = 1 ]; then
            skip=0
            [ "${COMP_WORDS[i-1]}" = -C ] && dir="$w"
            if [ "$repo_next" = 1 ]; then repo_next=0; repo="$w"; fi
            continue
        fi
        case "$w" in
            -R|--repo) skip=1; repo_next=1 ;;
            -C|--color|--reason|-m|--description|--to|--env|--since|--until|--older-than|-n|--count|--context|--url|--environment-url|--log-url|--commit|--deployment) skip=1 ;;
            -*) ;;
            *) if [ -z "$sub" ]; then sub="$w"; else npos=$((npos + 1)); fi ;;
        esac
    done
    local what=""
    case "$prev" in
        -R|--repo) what=repos ;;
        --env) what=envs ;;
        --to|--commit) what=revs ;;
    esac
    if [ -z "$what" ] && [ "${cur#-}" = "$cur" ]; then
        case "$sub,$npos" in
            deploy,0|rollback,0|history,0|lock,0|unlock,0) what=envs ;;
            deploy,1) what=revs ;;
            env,1) [ "${COMP_WORDS[COMP_CWORD-1]}" = retire ] && what=envs ;;
        esac
    fi
    if [ -n "$what" ]; then
        local words
        words=$(git-train ${dir:+-C "$dir"} ${repo:+-R "$repo"} __complete "$what" 2>/dev/null)
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return 0
    fi
    _git__train "$@"
}
"#;

/// git's bash completion completes `git train ARGS` with `_git_train` when it is
/// defined; this hands the words after `train` to `_git_train_words`. git registers
/// its completion with `-o nospace`, so each finished word gets its space here.
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
    _git_train_words git-train "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    local j
    for j in "${!COMPREPLY[@]}"; do
        case "${COMPREPLY[j]}" in
            *= | */) ;;
            *) COMPREPLY[j]="${COMPREPLY[j]} " ;;
        esac
    done
}
"#;
