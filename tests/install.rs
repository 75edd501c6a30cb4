//! install.sh (issue 6): into a temporary prefix it installs a working binary, the
//! manual pages where `man` finds them (so `git train --help` opens the page), and
//! the completions; a second run changes nothing; the shell scripts are shellcheck
//! clean. The release build goes to target/install-test, so later runs reuse it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Run;

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool the test needs. CI installs it (.ci/run); elsewhere its absence skips the
/// check with a note rather than failing on a bare machine.
fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing: .ci/run must install it"
        );
        eprintln!("note: {tool} is not installed; skipping what needs it");
    }
    found
}

fn install(prefix: &Path) -> Run {
    let out = Command::new("sh")
        .arg(project().join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .env("CARGO_TARGET_DIR", project().join("target/install-test"))
        // What the user has: none of the test's own build settings.
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .unwrap();
    Run::of(out).ok()
}

fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(listing(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn install_sh_installs_the_binary_man_pages_and_completions() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    let first = install(&prefix);
    assert!(
        first
            .stdout
            .contains("In a repository, run: git train init"),
        "{}",
        first.stdout
    );
    // The prefix is not on the test's PATH: install.sh says what to add.
    assert!(
        first
            .stdout
            .contains(&format!("Add {}/bin to PATH", prefix.display())),
        "{}",
        first.stdout
    );

    let bin = prefix.join("bin/git-train");
    let version = Run::of(Command::new(&bin).arg("--version").output().unwrap()).ok();
    assert_eq!(
        version.stdout.trim(),
        format!("git-train {}", env!("CARGO_PKG_VERSION"))
    );

    // The pages are the committed ones.
    for entry in std::fs::read_dir(project().join("man")).unwrap() {
        let page = entry.unwrap().path();
        let installed = prefix
            .join("share/man/man1")
            .join(page.file_name().unwrap());
        assert_eq!(
            std::fs::read(&installed).unwrap(),
            std::fs::read(&page).unwrap(),
            "{}",
            installed.display()
        );
    }
    for (file, first_line) in [
        (
            "share/bash-completion/completions/git-train",
            "_git__train() {",
        ),
        ("share/zsh/site-functions/_git-train", "#compdef git-train"),
        ("share/fish/vendor_completions.d/git-train.fish", ""),
    ] {
        let text = std::fs::read_to_string(prefix.join(file)).unwrap();
        assert!(text.starts_with(first_line), "{file}: {text:.80}");
        assert!(text.contains("deploy"), "{file}");
    }
    let conf =
        std::fs::read_to_string(prefix.join("share/fish/vendor_conf.d/git-train.fish")).unwrap();
    assert!(
        conf.starts_with("# git-train: `git train <TAB>`"),
        "{conf:.80}"
    );

    if have("man") {
        let man = prefix.join("share/man");
        let found = Run::of(
            Command::new("man")
                .arg("-M")
                .arg(&man)
                .args(["-w", "git-train"])
                .output()
                .unwrap(),
        )
        .ok();
        assert_eq!(
            found.stdout.trim(),
            man.join("man1/git-train.1").display().to_string()
        );
        // `git train --help` is `git help train`, which opens man git-train.
        let path = format!(
            "{}:{}",
            prefix.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let help = Run::of(
            Command::new("git")
                .args(["train", "--help"])
                .env("PATH", path)
                .env("MANPATH", &man)
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .env("MANWIDTH", "100")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap(),
        )
        .ok();
        assert!(help.stdout.contains("CONFIGURATION"), "{}", help.stdout);
        assert!(help.stdout.contains("max_train"), "{}", help.stdout);
    }

    // Idempotent: a second run says the same and leaves the same files.
    let before = listing(&prefix.join("share"));
    let second = install(&prefix);
    assert_eq!(second.stdout, first.stdout);
    assert!(listing(&prefix.join("share")) == before, "share/ changed");
    let bins: Vec<_> = listing(&prefix.join("bin"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(bins, vec![bin]);
}

#[test]
fn the_shell_scripts_are_shellcheck_clean() {
    if !have("shellcheck") {
        return;
    }
    let out = Command::new("shellcheck")
        .args(["install.sh", "hooks/pre-push", ".ci/run"])
        .current_dir(project())
        .output()
        .unwrap();
    Run::of(out).ok();
}

#[test]
fn the_hook_shim_does_nothing_without_git_train_on_path() {
    let out = Command::new("sh")
        .arg(project().join("hooks/pre-push"))
        .args(["origin", "url"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let run = Run::of(out).ok();
    assert_eq!(run.stderr, "");
}

/// What bash would offer after `line`, with git's own completion and ours loaded.
fn bash_complete(script: &Path, line: &str) -> String {
    bash_complete_in(script, line, Path::new("."))
}

/// Completes `line` as bash would in folder `dir`, with the built git-train on PATH.
fn bash_complete_in(script: &Path, line: &str, dir: &Path) -> String {
    let program = r#"
source /usr/share/bash-completion/completions/git
source "$1"
COMP_LINE="$2"
read -r -a COMP_WORDS <<< "$2"
case "$2" in *" ") COMP_WORDS+=("") ;; esac
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_POINT=${#COMP_LINE}
if [ "${COMP_WORDS[0]}" = git ]; then f=__git_wrap__git_main; else f=_git_train_words; fi
"$f" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let bin_dir = Path::new(common::BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", program, "bash"])
        .arg(script)
        .arg(line)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    Run::of(out).ok().stdout
}

#[test]
fn bash_completes_git_train_and_git_space_train() {
    if !Path::new("/usr/share/bash-completion/completions/git").exists() || !have("bash") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("git-train.bash");
    let out = Command::new(common::BIN)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    std::fs::write(&script, Run::of(out).ok().stdout).unwrap();
    assert_eq!(bash_complete(&script, "git-train dep"), "deploy\n");
    // git registers its completion with `-o nospace`: the finished word brings its
    // own space, so the next word can be typed at once.
    assert_eq!(bash_complete(&script, "git train dep"), "deploy \n");
    assert_eq!(bash_complete(&script, "git -C . train ini"), "init \n");
    let flags = bash_complete(&script, "git train deploy --no-");
    assert!(flags.contains("--no-wait"), "{flags}");
    let shells = bash_complete(&script, "git train completions ");
    assert!(
        shells.ends_with("\nbash \nzsh \nfish \nfish-git \n"),
        "{shells}"
    );
    // The commands' arguments and subcommands are built only when a command is
    // used; the completions still hold all of them, `help`'s too.
    assert_eq!(bash_complete(&script, "git-train env ret"), "retire\n");
    assert_eq!(bash_complete(&script, "git-train help env ret"), "retire\n");
    let flags = bash_complete(&script, "git-train status --re");
    assert!(
        flags.contains("--refresh") && flags.contains("--repo"),
        "{flags}"
    );
    // Plumbing is not offered.
    let all = bash_complete(&script, "git train ");
    assert!(
        all.contains("status \n") && !all.contains("hook") && !all.contains("__complete"),
        "{all}"
    );

    // Environments and revisions of the repository at hand.
    let w = common::World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("[env.staging]\n[env.production]\n");
    repo.git(&["tag", "v1.0"]);
    repo.train(&["deploy", "qa", "--yes"]).code(2);
    let envs = bash_complete_in(&script, "git train deploy ", &repo.dir);
    assert_eq!(envs, "production \nstaging \n");
    let envs = bash_complete_in(&script, "git-train rollback st", &repo.dir);
    assert_eq!(envs, "staging\n");
    let envs = bash_complete_in(&script, "git train stats --env p", &repo.dir);
    assert_eq!(envs, "production \n");
    let revs = bash_complete_in(&script, "git train deploy staging ", &repo.dir);
    assert!(
        revs.contains("main \n") && revs.contains("v1.0 \n"),
        "{revs}"
    );
    let tip = repo.rev("HEAD");
    assert!(revs.contains(&format!("{} \n", &tip[..7])), "{revs}");
    let flags = bash_complete_in(&script, "git train deploy staging --y", &repo.dir);
    assert_eq!(flags, "--yes \n");
}

#[test]
fn zsh_and_fish_scripts_parse_where_those_shells_exist() {
    for (shell, file) in [("zsh", "_git-train"), ("fish", "git-train.fish")] {
        let out = Command::new(common::BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        let text = Run::of(out).ok().stdout;
        assert!(text.contains("deploy") && !text.contains("run-deployment"));
        // Optional: CI does not install these shells.
        let present = Command::new(shell).arg("-c").arg("true").output().is_ok();
        if present {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join(file);
            std::fs::write(&path, &text).unwrap();
            let out = Command::new(shell).arg("-n").arg(&path).output().unwrap();
            Run::of(out).ok();
        }
    }
}

/// A repository with two environments and a side branch, for the completion tests.
fn completion_repo(w: &common::World) -> common::Repo<'_> {
    let repo = w.repo("r", 2);
    repo.config_without_ci("");
    repo.git(&["branch", "side"]);
    for env in ["staging", "production"] {
        repo.train(&["deploy", env, "--yes", "-q", "--new-env"])
            .ok();
    }
    repo
}

/// Runs `program args` in `repo` with git-train first on PATH.
fn in_repo(repo: &common::Repo, program: &str, args: &[&str]) -> Run {
    let mut cmd = repo.cmd(program);
    cmd.args(args);
    Run::of(cmd.output().unwrap())
}

#[test]
fn fish_completes_environments_and_revisions_from_the_repository() {
    if !have("fish") {
        return;
    }
    let w = common::World::new();
    let repo = completion_repo(&w);
    let script = w.path("git-train.fish");
    std::fs::write(
        &script,
        Run::of(
            repo.cmd(common::BIN)
                .args(["completions", "fish"])
                .output()
                .unwrap(),
        )
        .ok()
        .stdout,
    )
    .unwrap();
    let complete = |line: &str| {
        let source = format!("source {}; complete -C '{line}'", script.display());
        let out = in_repo(&repo, "fish", &["--no-config", "-c", &source])
            .ok()
            .stdout;
        out.lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(complete("git-train deploy "), ["production", "staging"]);
    assert_eq!(complete("git-train rollback prod"), ["production"]);
    assert_eq!(complete("git-train env retire "), ["production", "staging"]);
    assert_eq!(
        complete("git-train status --env "),
        ["production", "staging"]
    );
    let revs = complete("git-train deploy staging ");
    assert!(
        revs.iter().any(|r| r == "side") && revs.iter().any(|r| r == "main"),
        "{revs:?}"
    );
}

/// `git train ...` in fish, with the two files where install.sh puts them (under
/// XDG_DATA_HOME here): fish's git completion hands it to git-train's, and in fish
/// 3.6.0 (which asks `git-git-train`) the conf.d snippet does.
#[test]
fn fish_completes_git_space_train_as_installed() {
    if !have("fish") {
        return;
    }
    let w = common::World::new();
    let repo = completion_repo(&w);
    let data = w.path("data");
    for (shell, file) in [
        ("fish", "fish/vendor_completions.d/git-train.fish"),
        ("fish-git", "fish/vendor_conf.d/git-train.fish"),
    ] {
        let script = Run::of(
            repo.cmd(common::BIN)
                .args(["completions", shell])
                .output()
                .unwrap(),
        )
        .ok()
        .stdout;
        std::fs::create_dir_all(data.join(file).parent().unwrap()).unwrap();
        std::fs::write(data.join(file), script).unwrap();
    }
    let config = w.path("config");
    std::fs::create_dir_all(&config).unwrap();
    let complete = |line: &str| {
        let mut cmd = repo.cmd("fish");
        cmd.env("XDG_DATA_HOME", &data)
            .env("XDG_CONFIG_HOME", &config)
            .args(["-c", &format!("complete -C '{line}'")]);
        let out = Run::of(cmd.output().unwrap()).ok();
        assert!(out.stderr.is_empty(), "{line}: {}", out.stderr);
        out.stdout
            .lines()
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(complete("git train dep"), ["deploy"]);
    assert_eq!(complete("git train deploy "), ["production", "staging"]);
    assert_eq!(complete("git -C . train rollback prod"), ["production"]);
    let revs = complete("git train deploy staging ");
    assert!(revs.iter().any(|r| r == "side"), "{revs:?}");
    // git's own words are still git's.
    assert!(complete("git chec").iter().any(|c| c == "checkout"));
}

#[test]
fn zsh_completes_environments_and_revisions_in_a_real_terminal() {
    if !have("zsh") || !have("tmux") {
        return;
    }
    let w = common::World::new();
    let repo = completion_repo(&w);
    let fpath = w.path("zsh");
    std::fs::create_dir_all(&fpath).unwrap();
    let script = Run::of(
        repo.cmd(common::BIN)
            .args(["completions", "zsh"])
            .output()
            .unwrap(),
    )
    .ok()
    .stdout;
    std::fs::write(fpath.join("_git-train"), script).unwrap();
    std::fs::write(
        fpath.join(".zshrc"),
        format!(
            "fpath=({} $fpath)\nautoload -Uz compinit && compinit -u\nPS1='> '\n",
            fpath.display()
        ),
    )
    .unwrap();
    let socket = w.path("tmux.sock");
    let tmux = |args: &[&str]| {
        let mut c = repo.cmd("tmux");
        c.arg("-S").arg(&socket).args(args);
        Run::of(c.output().unwrap())
    };
    let zdotdir = format!("ZDOTDIR={}", fpath.display());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "z",
        "-x",
        "80",
        "-y",
        "24",
        "env",
        &zdotdir,
        "zsh",
        "-i",
    ])
    .ok();
    let screen_has = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let screen = tmux(&["capture-pane", "-p", "-t", "z"]).stdout;
            if screen.contains(want) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {want:?}:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // (capture-pane drops trailing spaces: the prompt is "> ")
    screen_has(">");
    // One environment starts with "prod": it is completed whole (and a space).
    tmux(&["send-keys", "-t", "z", "git-train deploy prod", "Tab"]).ok();
    screen_has("> git-train deploy production");
    // After the environment, revisions: the branches are listed.
    tmux(&["send-keys", "-t", "z", "Tab"]).ok();
    screen_has("side");
    tmux(&["kill-server"]);
}
