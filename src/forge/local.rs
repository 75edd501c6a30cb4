//! The local forge: deployments recorded in the notes, run by git-train itself with
//! the environment's `run` command; CI states from `refs/notes/ci`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Forge, Plan};
use crate::context::Context;
use crate::domain::{CiSummary, CommitId, EnvName, Fields, State};
use crate::error::{Error, Result};
use crate::interrupt::{self, Interrupt};
use crate::ledger::Running;

pub struct Local;

impl Forge for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn runs_deployments(&self) -> bool {
        true
    }

    fn ci(&self, ctx: &Context, commit: CommitId) -> Result<CiSummary> {
        let (ci, bad) = ctx.ledger.ci_of(commit, &ctx.config.checks.ignore)?;
        ctx.warn_bad_lines(&bad);
        Ok(ci)
    }

    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String> {
        if let Some(run) = ctx.config.env(&plan.env).run {
            check_command(&run, &ctx.repo().workdir())?;
        }
        let now = ctx.now();
        let dep = plan.dep.clone();
        let fields = Fields {
            dep: Some(dep.clone()),
            desc: plan.desc.clone(),
            from: plan.from.map(|o| o.to_string()),
            rollback: plan.rollback,
            forced: plan.forced.clone(),
            ..Fields::default()
        };
        let event = ctx.ledger.event(&plan.env, State::Queued, now, fields);
        ctx.ledger.record(
            plan.commit,
            &[event],
            &format!("git-train: deploy {} to {}", plan.commit, plan.env),
        )?;
        Ok(dep)
    }

    fn complete(&self, ctx: &Context, plan: &Plan, dep: &str, wait: bool) -> Result<State> {
        if wait || ctx.config.env(&plan.env).run.is_none() {
            return execute(ctx, &plan.env, plan.commit, dep);
        }
        start_runner(ctx, plan, dep)
    }
}

fn step(
    ctx: &Context,
    env: &EnvName,
    commit: CommitId,
    dep: &str,
    state: State,
    desc: Option<String>,
) -> Result<()> {
    let event = ctx.ledger.state_event(env, dep, state, ctx.now(), desc);
    ctx.ledger.record(
        commit,
        &[event],
        &format!("git-train: {env} {state} {commit}"),
    )
}

/// Starts the detached runner of a `--no-wait` deployment. The running file names
/// it at once, so a runner that dies before it records anything is closed by the
/// next command; a runner that cannot be started is recorded as `error` here.
fn start_runner(ctx: &Context, plan: &Plan, dep: &str) -> Result<State> {
    let log = ctx.ledger.runner_log_path(dep);
    let stderr = log
        .parent()
        .map(fs::create_dir_all)
        .transpose()
        .and_then(|_| fs::File::create(&log))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let spawned = std::env::current_exe().and_then(|exe| {
        let mut cmd = Command::new(exe);
        cmd.arg("-C").arg(ctx.repo().workdir()).args([
            "run-deployment",
            plan.env.as_str(),
            &plan.commit.to_string(),
            dep,
        ]);
        if plan.offline {
            cmd.arg("--offline");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
    });
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = fs::remove_file(&log);
            let desc = format!("could not start the background run of the deployment: {e}");
            ctx.ui.warn(&desc);
            ctx.ledger
                .finish(&plan.env, plan.commit, dep, State::Error, Some(desc))?;
            return Ok(State::Error);
        }
    };
    let running = Running {
        pid: child.id(),
        env: plan.env.clone(),
        commit: plan.commit,
        group: None,
    };
    if let Err(e) = ctx.ledger.note_running_if_absent(dep, &running) {
        ctx.ui.warn(&format!(
            "could not note the background run of {dep} (pid {}): {}",
            child.id(),
            e.message
        ));
    }
    Ok(State::Queued)
}

/// `git train run-deployment`: the detached runner of a `--no-wait` deployment.
/// Whatever stops it before the run command starts (the configuration, the
/// environment, the commit) is recorded as the deployment's `error`, so it never
/// stays `queued`; when not even the repository opens, its stderr and the running
/// file its parent wrote let the next command close it.
pub fn run_deployment(
    dir: &Path,
    env: &str,
    sha: &str,
    dep: &str,
    ui: impl Fn() -> Box<dyn crate::context::Ui>,
) -> Result<(Context, State)> {
    let ctx = match Context::open(dir, ui()) {
        Ok(ctx) => ctx,
        Err(e) => {
            if let Ok(bare) = Context::bare(dir, ui()) {
                could_not_start(&bare, env, sha, dep, &e);
            }
            return Err(e);
        }
    };
    let target = ctx
        .env(env)
        .and_then(|env| Ok((env, ctx.repo().resolve(sha)?)));
    let (env_name, commit) = match target {
        Ok(target) => target,
        Err(e) => {
            could_not_start(&ctx, env, sha, dep, &e);
            return Err(e);
        }
    };
    let state = execute(&ctx, &env_name, commit, dep)?;
    let log = ctx.ledger.runner_log_path(dep);
    if fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
        let _ = fs::remove_file(log);
    }
    Ok((ctx, state))
}

/// Records that a runner could not start a deployment, when there is a commit and an
/// environment name to record it on.
fn could_not_start(ctx: &Context, env: &str, sha: &str, dep: &str, why: &Error) {
    let commit = ctx
        .repo()
        .resolve(sha)
        .ok()
        .or_else(|| CommitId::parse(sha));
    let (Ok(env), Some(commit)) = (EnvName::new(env), commit) else {
        return;
    };
    if !crate::domain::event::valid_id(dep) {
        return;
    }
    let desc = format!("the background run could not start: {}", why.message);
    match ctx
        .ledger
        .finish(&env, commit, dep, State::Error, Some(desc))
    {
        Ok(()) => ctx.tell_recorded(commit, dep, State::Error),
        Err(e) => ctx.ui.warn(&e.message),
    }
}

/// Runs the environment's command for a deployment and records how it ended.
pub fn execute(ctx: &Context, env: &EnvName, commit: CommitId, dep: &str) -> Result<State> {
    let Some(run) = ctx.config.env(env).run else {
        let (state, desc) = match step(ctx, env, commit, dep, State::InProgress, None) {
            Ok(()) => {
                ctx.tell_recorded(commit, dep, State::InProgress);
                (State::Success, None)
            }
            Err(e) => (
                State::Error,
                Some(format!("could not record its start: {e}")),
            ),
        };
        ctx.ledger.finish(env, commit, dep, state, desc)?;
        return Ok(state);
    };
    let interrupt = Interrupt::catch();
    let running = Running {
        pid: std::process::id(),
        env: env.clone(),
        commit,
        group: None,
    };
    let outcome = ctx
        .ledger
        .note_running(dep, &running)
        .and_then(|()| run_command(ctx, &running, dep, &run, &interrupt));
    let (state, desc) = match &outcome {
        Ok(RunEnd::Exited(0)) => (State::Success, None),
        Ok(RunEnd::Exited(code)) => (
            State::Failure,
            Some(format!("run command exited with status {code}")),
        ),
        Ok(RunEnd::Signal(sig)) => (
            State::Failure,
            Some(format!("run command killed by signal {sig}")),
        ),
        Ok(RunEnd::Interrupted) => (State::Error, Some("interrupted".to_string())),
        Err(e) => (State::Error, Some(format!("could not run: {e}"))),
    };
    ctx.ledger.finish(env, commit, dep, state, desc)?;
    ctx.ledger.forget_running(dep);
    outcome?;
    Ok(state)
}

enum RunEnd {
    Exited(i32),
    Signal(i32),
    Interrupted,
}

fn run_command(
    ctx: &Context,
    running: &Running,
    dep: &str,
    run: &str,
    interrupt: &Interrupt,
) -> Result<RunEnd> {
    let (env, commit) = (&running.env, running.commit);
    let log = ctx.ledger.log_path(dep);
    fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
    let file = fs::File::create(&log)?;
    step(ctx, env, commit, dep, State::InProgress, None)?;
    ctx.tell_recorded(commit, dep, State::InProgress);
    if interrupt.happened() {
        return Ok(RunEnd::Interrupted);
    }
    // Values reach the command as environment variables, never spliced into it.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(run)
        .current_dir(ctx.repo().workdir())
        .env("GIT_TRAIN_ENV", env.as_str())
        .env("GIT_TRAIN_SHA", commit.to_string())
        .env("GIT_TRAIN_DEPLOYMENT", dep)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        // Its own process group: Ctrl-C reaches git-train, which then ends the
        // whole group and records the end.
        .process_group(0);
    die_with_this_process(&mut cmd);
    let mut child = cmd.spawn()?;
    // From here a reaper can stop the whole group if this process dies.
    let with_group = Running {
        group: Some((child.id(), interrupt::process_start(child.id()))),
        env: env.clone(),
        ..*running
    };
    if let Err(e) = ctx.ledger.note_running(dep, &with_group) {
        ctx.ui.warn(&format!(
            "could not note the run command's process group: {}",
            e.message
        ));
    }
    let started = Instant::now();
    let short = commit.short();
    let shown_log = log
        .strip_prefix(ctx.repo().workdir())
        .unwrap_or(&log)
        .display()
        .to_string();
    ctx.ui.step(&format!(
        "deploying {short} to {env}: running `{run}` (log: {shown_log})"
    ));
    loop {
        if let Some(status) = child.try_wait()? {
            ctx.ui.done();
            use std::os::unix::process::ExitStatusExt;
            return Ok(match (status.code(), status.signal()) {
                (Some(code), _) => RunEnd::Exited(code),
                (None, Some(sig)) => RunEnd::Signal(sig),
                _ => RunEnd::Exited(1),
            });
        }
        if interrupt.happened() {
            ctx.ui.done();
            ctx.ui.warn("interrupted: stopping the run command");
            interrupt::signal_group(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    interrupt::signal_group(child.id(), libc::SIGKILL);
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(RunEnd::Interrupted);
        }
        ctx.ui.progress(&format!(
            "deploying {short} to {env}: running for {}",
            crate::domain::time::format_age(started.elapsed().as_millis() as i64)
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run command's shell gets SIGKILL when this process dies (Linux), so a
/// deployment recorded as `error` by a reaper is not carried on by its command.
/// Whatever the shell started in the background is stopped by the reaper, which
/// kills the whole process group.
#[cfg(target_os = "linux")]
fn die_with_this_process(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe; nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Died between fork and prctl: do not start the command at all.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_this_process(_cmd: &mut Command) {}

/// Words the shell runs itself, whatever PATH holds: POSIX's special built-ins, its
/// regular built-ins, its reserved words, and the common extras of bash, ksh and zsh.
/// A run command starting with one of them cannot be checked before it runs.
#[rustfmt::skip]
pub const SHELL_WORDS: &[&str] = &[
    // POSIX special built-ins (XCU 2.14).
    "break", ":", "continue", ".", "eval", "exec", "exit", "export", "readonly", "return",
    "set", "shift", "times", "trap", "unset",
    // POSIX regular built-ins and the utilities every shell builds in.
    "alias", "bg", "cd", "command", "false", "fc", "fg", "getopts", "hash", "jobs", "kill",
    "newgrp", "pwd", "read", "true", "type", "ulimit", "umask", "unalias", "wait", "echo",
    "printf", "test", "[",
    // Reserved words (XCU 2.4), and those of bash and ksh.
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in",
    "then", "until", "while", "[[", "]]", "function", "select", "time", "coproc",
    // Common extras.
    "source", "local", "declare", "typeset", "let", "builtin", "enable", "shopt", "pushd",
    "popd", "dirs", "disown", "suspend", "logout", "mapfile", "readarray", "caller", "bind",
    "help", "history", "compgen", "complete", "compopt", "print", "whence", "setopt",
    "unsetopt", "autoload", "noglob", "nocorrect",
];

/// Characters that end the first word of a command line: blanks and operators.
const OPERATORS: &str = ";&|<>()";
/// Characters that make a word something only the shell can read: quoting,
/// expansions, patterns, comments, braces, assignments.
const SHELL_SYNTAX: &str = "$`\"'\\*?[]~{}#!=";

/// Checks that the run command's program exists before anything is recorded. Only
/// what can be checked is: a command that starts with a shell built-in, a reserved
/// word, an assignment, a redirection or any other shell syntax runs as it is.
pub fn check_command(run: &str, workdir: &Path) -> Result<()> {
    let line = run.trim_start();
    if line.is_empty() {
        return Err(
            Error::usage("the environment's run command is empty").hint("set `run` in .train.toml")
        );
    }
    let end = line
        .find(|c: char| c.is_whitespace() || OPERATORS.contains(c))
        .unwrap_or(line.len());
    let (program, rest) = line.split_at(end);
    // `2>/dev/null ./deploy.sh`: the word is the number of a redirection.
    let redirection = rest.starts_with(['<', '>']) && program.bytes().all(|b| b.is_ascii_digit());
    if program.is_empty()
        || redirection
        || SHELL_WORDS.contains(&program)
        || program.contains(|c: char| SHELL_SYNTAX.contains(c))
    {
        return Ok(());
    }
    let found = if program.contains('/') {
        let path = workdir.join(program);
        is_executable(&path)
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
            .unwrap_or(false)
    };
    if found {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "the run command's program '{program}' is missing or not executable"
        ))
        .hint(format!(
            "fix `run = \"{run}\"` in .train.toml, or `chmod +x {program}`"
        )))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_the_shell_reads_itself_are_not_checked() {
        let dir = tempfile::tempdir().unwrap();
        for word in SHELL_WORDS {
            check_command(&format!("{word} x"), dir.path()).unwrap();
            check_command(word, dir.path()).unwrap();
        }
        for run in [
            "FOO=1 ./deploy.sh",
            "(cd app && make)",
            "{ ./a; }",
            "2>/dev/null ./deploy.sh",
            ">log ./deploy.sh",
            "$DEPLOY",
            "\"./my deploy.sh\"",
            "'./deploy.sh'",
            "~/bin/deploy",
            "./*.sh",
            "# nothing",
            "!true",
            ":;true",
            "true&&false",
        ] {
            check_command(run, dir.path()).unwrap_or_else(|e| panic!("{run}: {e}"));
        }
    }

    #[test]
    fn a_missing_program_is_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        for (run, program) in [
            ("./nope.sh staging", "./nope.sh"),
            ("./nope.sh;echo", "./nope.sh"),
            ("./nope.sh>log", "./nope.sh"),
            ("no-such-program-3f1 --now", "no-such-program-3f1"),
            ("  no-such-program-3f1|cat", "no-such-program-3f1"),
        ] {
            let e = check_command(run, dir.path()).unwrap_err();
            assert!(e.message.contains(&format!("'{program}'")), "{run}: {e}");
            assert!(!e.hints.is_empty());
        }
        assert!(check_command("   ", dir.path()).is_err());
        check_command("sh -c true", dir.path()).unwrap();
    }
}
