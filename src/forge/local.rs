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
use crate::domain::{CiSummary, EnvName, Event, Fields, State, Timestamp};
use crate::error::{Error, Result};
use crate::interrupt::{self, Interrupt};
use crate::ledger;

pub struct Local;

impl Forge for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn ci(&self, ctx: &Context, commit: Oid) -> Result<CiSummary> {
        let (ci, bad) = ctx.ledger.ci_of(commit, &ctx.config.checks.ignore)?;
        ctx.warn_bad_lines(&bad);
        Ok(ci)
    }

    fn create(&self, ctx: &Context, plan: &Plan) -> Result<String> {
        if let Some(run) = ctx.config.env(&plan.env).run {
            check_command(&run, &ctx.repo().workdir())?;
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
        by: ctx.me().to_string(),
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
    ctx.ledger.record(
        commit,
        &[event],
        &format!("git-train: {env} {state} {commit}"),
    )
}

/// Records how a deployment ended. The outcome is kept in `.git/train/outcomes/DEP`
/// first and removed once it is in the ledger, so an outcome that cannot be written
/// now (`.git` read-only, disk full) is recorded by the next command instead of
/// being taken for a process that died.
fn finish(
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
    let at = ctx.now();
    let mut batch = vec![(commit, vec![new_event(ctx, env, state, at, fields)])];
    if state == State::Success {
        batch.extend(superseded(ctx, env, dep, at));
    }
    let kept = keep_outcome(ctx, dep, &batch);
    let lines: Vec<(Oid, Vec<String>)> = batch
        .iter()
        .map(|(c, events)| (*c, events.iter().map(Event::to_line).collect()))
        .collect();
    let what = format!("git-train: {env} {state} {commit}");
    if let Err(e) = ledger::append_many(&ctx.repo().git, ledger::DEPLOYS, &lines, &what) {
        let e = Error::from(e);
        let message = match kept {
            Ok(path) => format!(
                "could not record that deployment {dep} to {env} ended in {state} ({}); the outcome is kept in {} and the next git-train command records it",
                e.message,
                path.display()
            ),
            Err(keep) => format!(
                "could not record that deployment {dep} to {env} ended in {state} ({}), nor keep it ({})",
                e.message, keep.message
            ),
        };
        return Err(Error { message, ..e });
    }
    if let Ok(path) = kept {
        let _ = fs::remove_file(path);
    }
    crate::ledger::index::catch_up(ctx.repo(), ctx.clock)?;
    Ok(())
}

/// The successes of `env` dated after this one's `at`: by a clock ahead of this one,
/// since this process saw them in the ledger, so they happened before it. Each
/// would outrank this success for as long as its date is ahead; it is marked
/// `inactive`, superseded (as GitHub marks the deployments a new one replaces),
/// dated as its success so that the mark reads after it.
fn superseded(ctx: &Context, env: &EnvName, dep: &str, at: Timestamp) -> Vec<(Oid, Vec<Event>)> {
    let Ok(index) = ctx.ledger.index() else {
        return Vec::new();
    };
    index
        .entries
        .iter()
        .filter(|e| e.env == env.as_str() && e.dep != dep)
        .filter_map(|e| {
            let success = e.success_at.filter(|s| *s > at)?;
            let fields = Fields {
                dep: Some(e.dep.clone()),
                desc: Some(format!(
                    "superseded by {dep}, which succeeded at {at}: this success is dated later, by a clock ahead"
                )),
                ..Fields::default()
            };
            Some((e.commit, vec![new_event(ctx, env, State::Inactive, success, fields)]))
        })
        .collect()
}

fn outcomes_dir(ctx: &Context) -> PathBuf {
    ctx.repo().train_dir().join("outcomes")
}

const OUTCOME_MAGIC: &str = "git-train-outcome 1";

/// `.git/train/outcomes/DEP`: the pid that kept it, then one `COMMIT LINE` per event.
fn keep_outcome(ctx: &Context, dep: &str, batch: &[(Oid, Vec<Event>)]) -> Result<PathBuf> {
    let dir = outcomes_dir(ctx);
    fs::create_dir_all(&dir)?;
    let mut text = format!("{OUTCOME_MAGIC} {}\n", std::process::id());
    for (commit, events) in batch {
        for e in events {
            text.push_str(&format!("{commit} {}\n", e.to_line()));
        }
    }
    let path = dir.join(dep);
    crate::file::write_atomically(&path, text.as_bytes())?;
    Ok(path)
}

/// A kept outcome: the pid of the process that kept it and its event lines.
fn read_outcome(text: &str) -> Option<(u32, Vec<(Oid, String)>)> {
    let mut lines = text.lines();
    let pid = lines
        .next()?
        .strip_prefix(OUTCOME_MAGIC)?
        .trim()
        .parse()
        .ok()?;
    let mut events = Vec::new();
    for line in lines {
        let (commit, event) = line.split_once(' ')?;
        // Only what git-train itself would write goes into the ledger.
        let parsed = Event::parse(event).ok()?;
        if parsed.to_line() != event {
            return None;
        }
        events.push((Oid::from_str(commit).ok()?, event.to_string()));
    }
    (!events.is_empty()).then_some((pid, events))
}

pub fn log_path(ctx: &Context, dep: &str) -> PathBuf {
    ctx.repo()
        .train_dir()
        .join("logs")
        .join(format!("{dep}.log"))
}

/// What a detached runner (`--no-wait`) wrote to stderr.
fn runner_log_path(ctx: &Context, dep: &str) -> PathBuf {
    ctx.repo()
        .train_dir()
        .join("logs")
        .join(format!("{dep}.runner.log"))
}

fn running_dir(ctx: &Context) -> PathBuf {
    ctx.repo().train_dir().join("running")
}

/// `.git/train/running/DEP`: the git-train process carrying a deployment and, once
/// it started the run command, that command's process group (with the start time of
/// its leader, so a reaper never signals a group whose number was given again).
struct Running {
    pid: u32,
    env: EnvName,
    commit: Oid,
    group: Option<(u32, Option<u64>)>,
}

impl Running {
    fn to_line(&self) -> String {
        let mut line = format!("{} {} {}", self.pid, self.env, self.commit);
        if let Some((pgid, start)) = self.group {
            let start = start.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
            line.push_str(&format!(" {pgid} {start}"));
        }
        line.push('\n');
        line
    }

    fn parse(text: &str) -> Option<Running> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let (pid, env, commit) = (f.first()?, f.get(1)?, f.get(2)?);
        let group = match (f.get(3), f.get(4)) {
            (Some(pgid), start) => Some((pgid.parse().ok()?, start.and_then(|s| s.parse().ok()))),
            (None, _) => None,
        };
        Some(Running {
            pid: pid.parse().ok()?,
            env: EnvName::new(env).ok()?,
            commit: Oid::from_str(commit).ok()?,
            group,
        })
    }
}

fn write_running(ctx: &Context, dep: &str, running: &Running) -> Result<()> {
    let dir = running_dir(ctx);
    fs::create_dir_all(&dir)?;
    crate::file::write_atomically(&dir.join(dep), running.to_line().as_bytes())
}

/// Writes the running file unless there is one already (the runner's own, which
/// knows more), without a moment where it is half written.
fn write_running_if_absent(ctx: &Context, dep: &str, running: &Running) -> Result<()> {
    let dir = running_dir(ctx);
    fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, running.to_line().as_bytes())?;
    match tmp.persist_noclobber(dir.join(dep)) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.error.into()),
    }
}

/// Starts the detached runner of a `--no-wait` deployment. The running file names
/// it at once, so a runner that dies before it records anything is closed by the
/// next command; a runner that cannot be started is recorded as `error` here.
fn start_runner(ctx: &Context, plan: &Plan, dep: &str) -> Result<State> {
    let log = runner_log_path(ctx, dep);
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
            finish(ctx, &plan.env, plan.commit, dep, State::Error, Some(desc))?;
            return Ok(State::Error);
        }
    };
    let running = Running {
        pid: child.id(),
        env: plan.env.clone(),
        commit: plan.commit,
        group: None,
    };
    if let Err(e) = write_running_if_absent(ctx, dep, &running) {
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
    let log = runner_log_path(&ctx, dep);
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
        .or_else(|| Oid::from_str(sha).ok().filter(|_| sha.len() == 40));
    let (Ok(env), Some(commit)) = (EnvName::new(env), commit) else {
        return;
    };
    if !crate::domain::event::valid_id(dep) {
        return;
    }
    let desc = format!("the background run could not start: {}", why.message);
    if let Err(e) = finish(ctx, &env, commit, dep, State::Error, Some(desc)) {
        ctx.ui.warn(&e.message);
    }
}

/// Runs the environment's command for a deployment and records how it ended.
pub fn execute(ctx: &Context, env: &EnvName, commit: Oid, dep: &str) -> Result<State> {
    let Some(run) = ctx.config.env(env).run else {
        let (state, desc) = match step(ctx, env, commit, dep, State::InProgress, None) {
            Ok(()) => (State::Success, None),
            Err(e) => (
                State::Error,
                Some(format!("could not record its start: {e}")),
            ),
        };
        finish(ctx, env, commit, dep, state, desc)?;
        return Ok(state);
    };
    let interrupt = Interrupt::catch();
    let running = Running {
        pid: std::process::id(),
        env: env.clone(),
        commit,
        group: None,
    };
    let outcome = write_running(ctx, dep, &running)
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
    finish(ctx, env, commit, dep, state, desc)?;
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
    running: &Running,
    dep: &str,
    run: &str,
    interrupt: &Interrupt,
) -> Result<RunEnd> {
    let (env, commit) = (&running.env, running.commit);
    let log = log_path(ctx, dep);
    fs::create_dir_all(log.parent().unwrap_or(Path::new(".")))?;
    let file = fs::File::create(&log)?;
    step(ctx, env, commit, dep, State::InProgress, None)?;
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
        group: Some((child.id(), process_start(child.id()))),
        env: env.clone(),
        ..*running
    };
    if let Err(e) = write_running(ctx, dep, &with_group) {
        ctx.ui.warn(&format!(
            "could not note the run command's process group: {}",
            e.message
        ));
    }
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

/// When a process started, in clock ticks since boot (`/proc/PID/stat`, field 22).
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// SIGKILL to the run command's process group, unless its number now belongs to
/// another process (the group is then empty: a number is not given again while a
/// group uses it). True when something was signalled.
fn stop_group(pgid: u32, start: Option<u64>) -> bool {
    if let (Some(want), Some(now)) = (start, process_start(pgid)) {
        if want != now {
            return false;
        }
    }
    let Ok(group) = i32::try_from(pgid) else {
        return false;
    };
    if group <= 1 {
        return false;
    }
    // SAFETY: kill(2) on the process group this deployment's run command had.
    unsafe { libc::kill(-group, libc::SIGKILL) == 0 }
}

/// Records outcomes kept by commands that could not write them, and closes
/// deployments whose git-train process died (SIGKILL, power loss) as `error`,
/// after stopping their run command, so none stays open for ever and none is
/// `error` while its command goes on.
pub fn reap(ctx: &Context) -> Result<Vec<String>> {
    record_kept_outcomes(ctx)?;
    let Ok(dir) = fs::read_dir(running_dir(ctx)) else {
        return Ok(Vec::new());
    };
    let mut reaped = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(dep) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| crate::domain::event::valid_id(n))
            .map(str::to_string)
        else {
            continue;
        };
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Some(running) = Running::parse(&text) else {
            let _ = fs::remove_file(&path);
            continue;
        };
        if interrupt::alive(running.pid) {
            continue;
        }
        let stopped = running
            .group
            .map(|(pgid, start)| (pgid, stop_group(pgid, start)));
        // Finished after all (killed between recording its end and removing the
        // file): nothing to close.
        let open = ctx.ledger.snapshot()?;
        if !open.open.iter().any(|o| o.dep == dep) {
            let _ = fs::remove_file(&path);
            continue;
        }
        let pid = running.pid;
        let desc = match stopped {
            Some((pgid, true)) => format!(
                "the git-train process running it (pid {pid}) died; its run command was stopped (SIGKILL to process group {pgid}) before it could finish"
            ),
            // Its shell gets SIGKILL when git-train dies (Linux): nothing was left.
            Some((_, false)) => format!(
                "the git-train process running it (pid {pid}) died, and its run command was stopped with it before the outcome was recorded"
            ),
            None => {
                let why = last_line(&runner_log_path(ctx, &dep))
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default();
                format!(
                    "the git-train process for it (pid {pid}) stopped before it started the run command{why}"
                )
            }
        };
        let (env, commit) = (&running.env, running.commit);
        finish(ctx, env, commit, &dep, State::Error, Some(desc))?;
        let _ = fs::remove_file(&path);
        ctx.ui.warn(&format!(
            "deployment {dep} to {env} was left unfinished by a git-train process that died; marked it `error`"
        ));
        reaped.push(dep);
    }
    Ok(reaped)
}

/// Writes the outcomes kept in `.git/train/outcomes/` by processes that are gone.
/// Writing one twice adds nothing: the same event is the same line.
fn record_kept_outcomes(ctx: &Context) -> Result<()> {
    let Ok(dir) = fs::read_dir(outcomes_dir(ctx)) else {
        return Ok(());
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let Some(dep) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| crate::domain::event::valid_id(n))
            .map(str::to_string)
        else {
            continue;
        };
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Some((pid, events)) = read_outcome(&text) else {
            ctx.ui.warn(&format!(
                "{} is not a kept outcome git-train can read; left as it is",
                path.display()
            ));
            continue;
        };
        if pid != std::process::id() && interrupt::alive(pid) {
            continue;
        }
        let mut batch: Vec<(Oid, Vec<String>)> = Vec::new();
        for (commit, line) in events {
            match batch.iter_mut().find(|(c, _)| *c == commit) {
                Some((_, lines)) => lines.push(line),
                None => batch.push((commit, vec![line])),
            }
        }
        let what = format!("git-train: kept outcome of {dep}");
        ledger::append_many(&ctx.repo().git, ledger::DEPLOYS, &batch, &what)?;
        let _ = fs::remove_file(&path);
        crate::ledger::index::catch_up(ctx.repo(), ctx.clock)?;
        ctx.ui.note(&format!(
            "recorded the outcome of deployment {dep}, kept by a command that could not write it"
        ));
    }
    Ok(())
}

fn last_line(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    Some(line.trim().chars().take(300).collect())
}

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
