//! The local forge: deployments recorded in the notes, run by git-train itself with
//! the environment's `run` command; CI states from `refs/notes/ci`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2::Oid;

use super::{Forge, Plan};
use crate::context::Context;
use crate::domain::{ci, CiSummary, EnvName, Event, Fields, State, Timestamp};
use crate::error::{Error, Result};
use crate::interrupt::{self, Interrupt};
use crate::ledger::{self, Notes};

pub struct Local;

impl Forge for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn runs_deployments(&self) -> bool {
        true
    }

    fn ci(&self, ctx: &Context, commit: Oid) -> Result<CiSummary> {
        let notes = Notes::load(&ctx.repo.git, ledger::CI)?;
        ci_of(ctx, &notes, commit)
    }

    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String> {
        if let Some(run) = ctx.config.env(&plan.env).run {
            check_command(&run, &ctx.repo.workdir())?;
        }
        let now = ctx.now();
        let dep = new_id(now);
        let fields = Fields {
            dep: Some(dep.clone()),
            desc: plan.desc.clone(),
            from: plan.from.map(|o| o.to_string()),
            rollback: plan.rollback,
            forced: plan.forced.clone(),
            ..Fields::default()
        };
        let event = new_event(ctx, &plan.env, State::Queued, now, fields);
        ctx.record(
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
        // --no-wait: a detached git-train runs the deployment and records its end
        // (it writes its own running file, so a reaper never sees a stale one).
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("-C").arg(ctx.repo.workdir()).args([
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
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(State::Queued)
    }
}

/// The CI state of a commit from an already loaded CI ledger.
pub fn ci_of(ctx: &Context, notes: &Notes, commit: Oid) -> Result<CiSummary> {
    let Some(text) = notes.read(commit)? else {
        return Ok(CiSummary::none());
    };
    let (events, bad) = ledger::parse_note(commit, &text);
    ctx.warn_bad_lines(&bad);
    Ok(ci::rollup(&events, &ctx.config.checks.ignore))
}

/// A new deployment id: a ULID of the given instant.
pub fn new_id(at: Timestamp) -> String {
    let ms = u64::try_from(at.0).unwrap_or(0);
    ulid::Ulid::from_datetime(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

pub fn new_event(
    ctx: &Context,
    env: &EnvName,
    state: State,
    at: Timestamp,
    fields: Fields,
) -> Event {
    Event {
        at,
        subject: env.as_str().to_string(),
        state,
        by: ctx.me.clone(),
        fields: fields.into_map(),
    }
}

fn step(
    ctx: &Context,
    env: &EnvName,
    commit: Oid,
    dep: &str,
    state: State,
    desc: Option<String>,
) -> Result<()> {
    let fields = Fields {
        dep: Some(dep.to_string()),
        desc,
        ..Fields::default()
    };
    let event = new_event(ctx, env, state, ctx.now(), fields);
    ctx.record(
        commit,
        &[event],
        &format!("git-train: {env} {state} {commit}"),
    )
}

pub fn log_path(ctx: &Context, dep: &str) -> PathBuf {
    ctx.repo.train_dir().join("logs").join(format!("{dep}.log"))
}

fn running_dir(ctx: &Context) -> PathBuf {
    ctx.repo.train_dir().join("running")
}

fn write_running(ctx: &Context, dep: &str, pid: u32, env: &EnvName, commit: Oid) -> Result<()> {
    let dir = running_dir(ctx);
    fs::create_dir_all(&dir)?;
    crate::index::write_atomically(&dir.join(dep), format!("{pid} {env} {commit}\n").as_bytes())
}

/// Runs the environment's command for a deployment and records how it ended.
pub fn execute(ctx: &Context, env: &EnvName, commit: Oid, dep: &str) -> Result<State> {
    let Some(run) = ctx.config.env(env).run else {
        step(ctx, env, commit, dep, State::InProgress, None)?;
        step(ctx, env, commit, dep, State::Success, None)?;
        return Ok(State::Success);
    };
    let interrupt = Interrupt::catch();
    write_running(ctx, dep, std::process::id(), env, commit)?;
    let outcome = run_command(ctx, env, commit, dep, &run, &interrupt);
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
    step(ctx, env, commit, dep, state, desc)?;
    let _ = fs::remove_file(running_dir(ctx).join(dep));
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
    env: &EnvName,
    commit: Oid,
    dep: &str,
    run: &str,
    interrupt: &Interrupt,
) -> Result<RunEnd> {
    let log = log_path(ctx, dep);
    fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
    let file = fs::File::create(&log)?;
    step(ctx, env, commit, dep, State::InProgress, None)?;
    if interrupt.happened() {
        return Ok(RunEnd::Interrupted);
    }
    // Values reach the command as environment variables, never spliced into it.
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(run)
        .current_dir(ctx.repo.workdir())
        .env("GIT_TRAIN_ENV", env.as_str())
        .env("GIT_TRAIN_SHA", commit.to_string())
        .env("GIT_TRAIN_DEPLOYMENT", dep)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        // Its own process group: Ctrl-C reaches git-train, which then ends the
        // whole group and records the end.
        .process_group(0)
        .spawn()?;
    let started = Instant::now();
    let short = &commit.to_string()[..7];
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
            "deploying {short} to {env}: running for {}s (log: {})",
            started.elapsed().as_secs(),
            log.display()
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Closes deployments whose git-train process died (SIGKILL, power loss) as
/// `error`, so none stays `in_progress` for ever.
pub fn reap(ctx: &Context) -> Result<Vec<String>> {
    let Ok(dir) = fs::read_dir(running_dir(ctx)) else {
        return Ok(Vec::new());
    };
    let mut reaped = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(dep) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let mut f = text.split_whitespace();
        let (Some(pid), Some(env), Some(commit)) = (f.next(), f.next(), f.next()) else {
            let _ = fs::remove_file(&path);
            continue;
        };
        let (Ok(pid), Ok(env), Ok(commit)) =
            (pid.parse::<u32>(), EnvName::new(env), Oid::from_str(commit))
        else {
            let _ = fs::remove_file(&path);
            continue;
        };
        if interrupt::alive(pid) {
            continue;
        }
        // Finished after all (killed between recording its end and removing the
        // file): nothing to close.
        let open = crate::index::snapshot(&ctx.repo)?;
        if !open.open.iter().any(|o| o.dep == dep) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let desc = format!(
            "the git-train process running it (pid {pid}) ended without recording the outcome"
        );
        step(ctx, &env, commit, &dep, State::Error, Some(desc))?;
        let _ = fs::remove_file(&path);
        ctx.ui.warn(&format!(
            "deployment {dep} to {env} was left unfinished by a git-train process that died; marked it `error`"
        ));
        reaped.push(dep);
    }
    Ok(reaped)
}

/// Checks that the run command's program exists before anything is recorded.
pub fn check_command(run: &str, workdir: &Path) -> Result<()> {
    let Some(program) = run.split_whitespace().next() else {
        return Err(
            Error::usage("the environment's run command is empty").hint("set `run` in .train.toml")
        );
    };
    const SHELL_WORDS: [&str; 16] = [
        "cd", "exec", "set", "export", "true", "false", "echo", "test", "[", "if", "for", "while",
        "eval", ".", "exit", "{",
    ];
    if SHELL_WORDS.contains(&program)
        || program.contains('=')
        || program.contains(['$', '`', '(', '"', '\''])
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
