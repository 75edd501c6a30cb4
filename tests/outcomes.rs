//! Honest outcomes (issue 12): what the ledger says happened is what happened, even
//! when a clock is wrong, a process is killed, a write fails, a background runner
//! never starts, or the run command starts with a shell builtin.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{eventually, Repo, World, BIN};

/// How long a background runner gets to do what it does, on a loaded machine.
const WAIT: Duration = Duration::from_secs(20);
use serde_json::Value;

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn config_with_run(env: &str, run: &str) -> String {
    format!(
        "[checks]\nrequire = false\n[env.{env}]\nrun = {}\n",
        toml_string(run)
    )
}

/// Appends one event line to a commit's deploy note, as another tool (or a person
/// with an editor) would.
fn append_line(repo: &Repo, rev: &str, line: &str) {
    repo.git(&[
        "notes",
        "--ref",
        "deploys",
        "append",
        "--no-separator",
        "-m",
        line,
        rev,
    ]);
}

fn history(repo: &Repo) -> Vec<Value> {
    let h = repo.train(&["history", "--json", "-n", "100"]).ok().json();
    h["deployments"].as_array().cloned().unwrap_or_default()
}

fn deployment(repo: &Repo, dep: &str) -> Value {
    history(repo)
        .into_iter()
        .find(|d| d["dep"] == dep)
        .unwrap_or_else(|| panic!("no deployment {dep} in the history"))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn real_git() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("git"))
                .find(|p| p.is_file())
        })
        .expect("git on PATH")
}

/// A folder with a `git` that first runs `script` (with `$REPO` the repository),
/// then the real git: a way to change the world at an exact moment of a deploy (its
/// sync), after it read its configuration and before it starts its runner.
fn git_shim(w: &World, repo: &Repo, script: &str) -> PathBuf {
    let dir = w.path("shim");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("git");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nREPO='{}'\n{script}\nexec '{}' \"$@\"\n",
            repo.dir.display(),
            real_git().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

fn path_with(first: &Path) -> String {
    let bin_dir = Path::new(BIN).parent().unwrap();
    format!(
        "{}:{}:{}",
        first.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

// ---------------------------------------------------------------------------------
// Item 13: run commands that start with a shell builtin or a reserved word.

#[test]
fn run_commands_starting_with_shell_builtins_or_reserved_words_are_run() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.write("lib.sh", "DEPLOYED=yes\n");
    let commands = [
        "trap 'echo bye' EXIT; true",
        "ulimit -c 0; true",
        "umask 022 && true",
        ": nothing to prepare",
        ". ./lib.sh",
        "command -v sh",
        "alias deploy=true; true",
        "read -r line < lib.sh; true",
        "wait",
        "printf 'ok\\n'",
        "! false",
        "case x in x) true;; esac",
        "until true; do :; done",
        "while false; do :; done",
        "if true; then true; fi",
        "{ true; }",
        "( true )",
        "DEPLOY_MODE=fast true",
        "getopts x opt || true",
        "unset NOTHING",
        "readonly X=1",
        "kill -0 $$",
        "type sh >/dev/null",
        "hash sh",
        "times >/dev/null",
        "exec true",
    ];
    for run in commands {
        repo.write(".train.toml", &config_with_run("staging", run));
        let out = repo.train(&["deploy", "staging", "--json"]);
        assert_eq!(
            out.code, 0,
            "`{run}` was refused or failed:\n{}",
            out.stderr
        );
        assert_eq!(out.json()["state"], "success", "{run}");
    }

    // What can be checked still is: a program that is not there.
    for (run, program) in [
        ("./nope.sh staging", "./nope.sh"),
        ("no-such-program-3f1 --now", "no-such-program-3f1"),
    ] {
        repo.write(".train.toml", &config_with_run("staging", run));
        let before = repo.all_lines();
        let out = repo.train(&["deploy", "staging"]).code(2);
        assert!(
            out.stderr.contains(&format!("'{program}' is missing")),
            "{run}: {}",
            out.stderr
        );
        out.says("hint:");
        assert_eq!(repo.all_lines(), before, "a refusal records nothing");
    }
}

// ---------------------------------------------------------------------------------
// Item 4: a killed deploy stops its run command before recording `error`.

#[test]
fn a_killed_deploy_stops_its_run_command_and_never_records_error_for_a_run_that_goes_on() {
    let w = World::new();
    let repo = w.repo("r", 1);
    // Staging's command runs in the shell itself; production's in a subshell that
    // the shell waits for (no longer a child of git-train).
    repo.config_without_ci(&format!(
        "[env.staging]\nrun = {}\n[env.production]\nrun = {}\n",
        toml_string("touch started-a; sleep 2; touch finished-a"),
        toml_string("touch started-b; (sleep 2; touch finished-b) & wait"),
    ));
    for (env, tag) in [("staging", "a"), ("production", "b")] {
        let mut child = repo
            .cmd(BIN)
            .args(["deploy", env, "--yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = repo.dir.join(format!("started-{tag}"));
        eventually(&format!("{env}'s run command start"), WAIT, || {
            started.exists()
        });
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let out = repo.train(&["status"]).ok();
    out.says("marked it `error`");
    for d in history(&repo) {
        assert_eq!(d["state"], "error", "{d}");
        let desc = d["desc"].as_str().unwrap_or_default();
        assert!(desc.contains("stopped"), "{desc}");
    }
    // The run commands would have finished after two seconds.
    std::thread::sleep(Duration::from_millis(3500));
    for tag in ["a", "b"] {
        assert!(
            !repo.dir.join(format!("finished-{tag}")).exists(),
            "the run command of a deployment recorded as `error` went on and finished ({tag})"
        );
    }
    assert!(files_in(&repo.dir.join(".git/train/running")).is_empty());
}

// ---------------------------------------------------------------------------------
// Item 6: an outcome that cannot be written is kept and recorded later.

#[test]
fn an_outcome_that_cannot_be_written_is_kept_and_recorded_by_the_next_command() {
    let w = World::new();
    let repo = w.repo("r", 1);
    // The run command succeeds, and takes the object store away as it ends: the
    // outcome cannot be written to the ledger at that moment.
    repo.write(
        ".train.toml",
        &config_with_run("staging", "mv .git/objects .git/objects.away"),
    );
    let out = repo.train(&["deploy", "staging"]).code(1);
    out.says("error:");
    assert!(
        out.stderr.contains("kept") && out.stderr.contains("next git-train command"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let kept = files_in(&repo.dir.join(".git/train/outcomes"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(text.contains(" staging success "), "{text}");

    std::fs::rename(
        repo.dir.join(".git/objects.away"),
        repo.dir.join(".git/objects"),
    )
    .unwrap();
    let st = repo.train(&["status", "--json"]).ok();
    assert!(!st.stderr.contains("marked it `error`"), "{}", st.stderr);
    assert_eq!(
        st.json()["environments"][0]["deployed"]["sha"],
        repo.rev("HEAD")
    );
    let h = history(&repo);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["state"], "success", "{}", h[0]);
    let note = repo.note("deploys", "HEAD");
    assert_eq!(note.matches(" staging success ").count(), 1, "{note}");
    assert!(!note.contains(" staging error "), "{note}");
    assert!(files_in(&repo.dir.join(".git/train/outcomes")).is_empty());
    assert!(files_in(&repo.dir.join(".git/train/running")).is_empty());
    // Recorded once: the next command finds nothing to do.
    repo.train(&["status"]).ok();
    assert_eq!(repo.note("deploys", "HEAD"), note);
}

// ---------------------------------------------------------------------------------
// Item 12: a --no-wait runner that fails before it starts.

#[test]
fn a_no_wait_runner_whose_program_vanished_is_recorded_as_error() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 2);
    let repo = &clones[0];
    repo.write(".train.toml", &config_with_run("staging", "true"));
    // A copy of git-train that is gone by the time it would start its runner.
    let copy = w.path("bin/git-train");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(BIN, &copy).unwrap();
    let shim = git_shim(&w, repo, &format!("rm -f '{}'", copy.display()));
    let out = common::Run::of(
        repo.cmd(copy.to_str().unwrap())
            .env("PATH", path_with(&shim))
            .args(["deploy", "staging", "--no-wait", "--json"])
            .output()
            .unwrap(),
    );
    assert!(!copy.exists());
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let h = history(repo);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["state"], "error", "{}", h[0]);
    let desc = h[0]["desc"].as_str().unwrap_or_default();
    assert!(desc.contains("could not start"), "{desc}");
    let text = repo.train(&["history"]).ok().stdout;
    assert!(text.contains("error"), "{text}");
}

#[test]
fn a_no_wait_runner_that_cannot_read_the_configuration_records_why() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 2);
    let repo = &clones[0];
    let good = config_with_run("staging", "true");
    repo.write(".train.toml", &good);
    // The configuration breaks after `deploy` read it, before the runner reads it.
    // Written whole (write, then rename): the shim runs again on every git call of
    // `deploy` while the runner starts, and a runner that read the file while it
    // was being rewritten (empty: no `run`) would have nothing to fail.
    let shim = git_shim(
        &w,
        repo,
        "printf 'run = [broken\\n' > \"$REPO/.train.toml.new\" && mv \"$REPO/.train.toml.new\" \"$REPO/.train.toml\"",
    );
    let out = common::Run::of(
        repo.cmd(BIN)
            .env("PATH", path_with(&shim))
            .args(["deploy", "staging", "--no-wait", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dep = out.json()["dep"].as_str().unwrap().to_string();
    eventually("the runner's error in the ledger", WAIT, || {
        repo.note("deploys", "HEAD").contains(" staging error ")
    });
    repo.write(".train.toml", &good);
    let d = deployment(repo, &dep);
    assert_eq!(d["state"], "error");
    let desc = d["desc"].as_str().unwrap_or_default();
    assert!(desc.contains(".train.toml"), "{desc}");
    let st = repo.train(&["status", "--json"]).ok().json();
    assert!(st["environments"][0]["in_progress"].is_null(), "{st}");
}

#[test]
fn a_no_wait_runner_that_dies_before_it_records_anything_is_closed_by_the_next_command() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(1, 2);
    let repo = &clones[0];
    let good = config_with_run("staging", "true");
    repo.write(".train.toml", &good);
    // After `deploy` read its configuration, the file becomes a pipe nobody writes:
    // the runner blocks reading it, before it has recorded anything.
    let shim = git_shim(
        &w,
        repo,
        "[ -p \"$REPO/.train.toml\" ] || { rm -f \"$REPO/.train.toml\"; mkfifo \"$REPO/.train.toml\"; }",
    );
    let out = common::Run::of(
        repo.cmd(BIN)
            .env("PATH", path_with(&shim))
            .args(["deploy", "staging", "--no-wait", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dep = out.json()["dep"].as_str().unwrap().to_string();
    let running = repo.dir.join(".git/train/running").join(&dep);
    let text = std::fs::read_to_string(&running)
        .unwrap_or_else(|e| panic!("no running file for the runner ({e})"));
    let pid: i32 = text.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: the runner this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::fs::remove_file(repo.dir.join(".train.toml")).unwrap();
    repo.write(".train.toml", &good);
    eventually("the runner's end", WAIT, || {
        // SAFETY: signal 0 only checks that the process exists.
        let gone = unsafe { libc::kill(pid, 0) != 0 };
        gone || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.contains(") Z "))
    });
    let st = repo.train(&["status"]).ok();
    assert!(
        st.stderr.contains("marked it `error`"),
        "{}\n{:?}\n{}",
        st.stderr,
        std::fs::read_to_string(&running),
        repo.note("deploys", "HEAD")
    );
    let d = deployment(repo, &dep);
    assert_eq!(d["state"], "error", "{d}");
    assert!(!running.exists());
}

// ---------------------------------------------------------------------------------
// Item 3: a future-dated event does not pin an environment.

/// The index as a rebuild writes it: the head but for the journal's length and the
/// latest-success bounds (at least each environment's latest success: an update
/// keeps one a later event retracted, a rebuild does not), and the deployments
/// file with the journal (the deployments of the commits whose notes
/// changed since the file was written) merged in by start time and id.
fn index_files(repo: &Repo) -> (String, String) {
    index_view(&repo.dir.join(".git/train/index"))
}

/// `index_files` of the index in `dir`.
fn index_view(dir: &std::path::Path) -> (String, String) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let head: String = read("head")
        .lines()
        .filter(|l| !l.starts_with("journal ") && !l.starts_with("success "))
        .map(|l| format!("{l}\n"))
        .collect();
    let journal = read("journal");
    let superseded: Vec<&str> = journal
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    let key = |line: &str| {
        let f: Vec<&str> = line.split(' ').collect();
        (f[3].parse::<i64>().unwrap(), f[1].to_string())
    };
    let file = read("deployments");
    let mut lines: Vec<((i64, String), u8, usize, &str)> = file
        .lines()
        .filter(|l| !superseded.contains(&&l[..40]))
        .enumerate()
        .map(|(i, l)| (key(l), 1, i, l))
        .collect();
    lines.extend(
        journal
            .lines()
            .filter(|l| !l.starts_with("- "))
            .enumerate()
            .map(|(i, l)| (key(l), 0, i, l)),
    );
    lines.sort();
    let deployments = lines.iter().map(|(_, _, _, l)| format!("{l}\n")).collect();
    (head, deployments)
}

fn cold_rebuild(repo: &Repo) {
    std::fs::remove_dir_all(repo.dir.join(".git/train/index")).unwrap();
    for r in repo
        .git(&[
            "for-each-ref",
            "--format=%(refname)",
            "refs/train/deployed/",
        ])
        .lines()
    {
        repo.git(&["update-ref", "-d", r]);
    }
}

#[test]
fn a_hand_written_future_success_does_not_pin_the_environment() {
    let w = World::new();
    let repo = w.repo("r", 4);
    repo.config_without_ci("");
    repo.train(&["deploy", "staging", "HEAD~2"]).ok();
    append_line(
        &repo,
        "HEAD~3",
        r#"9999-01-01T00:00:00.000Z staging success mallory@example.com {"dep":"FUTURE1","v":1}"#,
    );

    let st = repo.train(&["status", "--json"]).ok();
    assert!(
        st.stderr.contains("FUTURE1") && st.stderr.contains("9999-01-01T00:00:00.000Z"),
        "a warning names the event: {}",
        st.stderr
    );
    assert_eq!(
        st.json()["environments"][0]["deployed"]["sha"],
        repo.rev("HEAD~2")
    );
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));
    let incremental = index_files(&repo);
    cold_rebuild(&repo);
    repo.train(&["status"]).ok();
    assert_eq!(index_files(&repo), incremental, "a rebuild agrees");
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));

    // A later deploy moves the environment on and is no rollback; rollback works.
    let out = repo
        .train(&["deploy", "staging", "HEAD~1", "--json"])
        .ok()
        .json();
    assert_eq!(out["rollback"], false);
    assert_eq!(out["from"], repo.rev("HEAD~2"));
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~1"));
    let out = repo.train(&["rollback", "staging", "--json"]).ok().json();
    assert_eq!(out["sha"], repo.rev("HEAD~2"));
    assert_eq!(repo.rev("refs/train/deployed/staging"), repo.rev("HEAD~2"));
}

#[test]
fn a_teammate_whose_clock_is_far_ahead_pins_nothing_now_or_later() {
    let w = World::new();
    let (_origin, clones) = w.origin_and_clones(2, 4);
    let (me, bob) = (&clones[0], &clones[1]);
    for c in &clones {
        c.config_without_ci("");
    }
    me.train(&["deploy", "production", "HEAD~1"]).ok();
    // Bob's clock is three months ahead; he deploys an old commit.
    bob.train(&["sync"]).ok();
    let ahead = "2027-03-01T00:00:00Z";
    let out = common::Run::of(
        bob.cmd(BIN)
            .env("GIT_TRAIN_NOW", ahead)
            .args(["deploy", "production", "HEAD~3", "--json"])
            .output()
            .unwrap(),
    )
    .ok();
    let bobs = out.json()["dep"].as_str().unwrap().to_string();

    me.train(&["sync"]).ok();
    let st = me.train(&["status", "--json"]).ok();
    assert!(st.stderr.contains(&bobs), "{}", st.stderr);
    assert_eq!(
        st.json()["environments"][0]["deployed"]["sha"],
        me.rev("HEAD~1")
    );
    assert_eq!(me.rev("refs/train/deployed/production"), me.rev("HEAD~1"));

    // The next deploy is no rollback, and takes over for good: also once the clock
    // passes Bob's date, and in Bob's clone with his clock.
    let out = me
        .train(&["deploy", "production", "HEAD", "--json"])
        .ok()
        .json();
    assert_eq!(out["rollback"], false);
    assert_eq!(out["from"], me.rev("HEAD~1"));
    assert_eq!(deployment(me, &bobs)["state"], "inactive");
    let later = common::Run::of(
        me.cmd(BIN)
            .env("GIT_TRAIN_NOW", "2027-03-02T00:00:00Z")
            .args(["status", "--json"])
            .output()
            .unwrap(),
    )
    .ok();
    assert_eq!(
        later.json()["environments"][0]["deployed"]["sha"],
        me.rev("HEAD")
    );
    let at_bobs = |args: &[&str]| {
        common::Run::of(
            bob.cmd(BIN)
                .env("GIT_TRAIN_NOW", ahead)
                .args(args)
                .output()
                .unwrap(),
        )
        .ok()
    };
    at_bobs(&["sync"]);
    let st = at_bobs(&["status", "--json"]);
    assert_eq!(
        st.json()["environments"][0]["deployed"]["sha"],
        bob.rev("HEAD")
    );
    assert_eq!(bob.rev("refs/train/deployed/production"), bob.rev("HEAD"));
}

// ---------------------------------------------------------------------------------
// Item 3, the rule itself: kept up to date from note diffs, at any clock, the index
// says what a rebuild from scratch says.

mod index_agrees_with_a_rebuild {
    use git_train::clock::Clock;
    use git_train::domain::event::{Event, Fields, State};
    use git_train::domain::{CommitId, Timestamp};
    use git_train::ledger;
    use git_train::ledger::index;
    use git_train::ledger::repo::Repo;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    fn commits(git: &git2::Repository, n: usize) -> Vec<CommitId> {
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let tree = git
            .find_tree(git.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        (0..n)
            .map(|i| {
                let oid = git
                    .commit(None, &sig, &sig, &format!("c{i}"), &tree, &[])
                    .unwrap();
                CommitId::parse(&oid.to_string()).unwrap()
            })
            .collect()
    }

    /// The index as a rebuild writes it (the journal merged in).
    fn files(dir: &std::path::Path) -> (String, String) {
        super::index_view(dir)
    }

    fn state() -> impl Strategy<Value = State> {
        prop::sample::select(State::ALL.to_vec())
    }

    /// (commit, environment, deployment, state, hours after the base; 9999 for a
    /// date far in the future, clock for the catch-up after it, in hours)
    type Op = (usize, usize, usize, State, i64, i64);

    fn op() -> impl Strategy<Value = Op> {
        (
            0usize..4,
            0usize..2,
            0usize..4,
            state(),
            prop_oneof![4 => -48i64..48, 1 => Just(9999)],
            -24i64..72,
        )
    }

    /// A rebuild from scratch at the same clock gives the same snapshot and files;
    /// the index kept up to date is put back afterwards.
    fn agrees_with_a_rebuild(
        repo: &Repo,
        clock: Clock,
        kept: &index::Snapshot,
    ) -> Result<(), TestCaseError> {
        let dir = repo.train_dir().join("index");
        let aside = repo.train_dir().join("index.kept");
        let kept_files = files(&dir);
        std::fs::rename(&dir, &aside).unwrap();
        let (rebuilt, _) = index::catch_up(repo, clock).unwrap();
        let rebuilt_files = files(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::rename(&aside, &dir).unwrap();
        prop_assert_eq!(kept, &rebuilt);
        prop_assert_eq!(kept_files, rebuilt_files);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn at_every_clock(ops in prop::collection::vec(op(), 1..14), last in -24i64..96, later in 0i64..96) {
            let dir = tempfile::tempdir().unwrap();
            let git = git2::Repository::init(dir.path()).unwrap();
            let shas = commits(&git, 4);
            let repo = Repo::open(dir.path()).unwrap();
            let base = Timestamp::parse("2026-12-01T00:00:00.000Z").unwrap();
            let far = Timestamp::parse("9999-01-01T00:00:00.000Z").unwrap();
            for (commit, env, dep, state, hours, clock) in ops {
                let at = if hours == 9999 { far } else { base.plus_millis(hours * HOUR) };
                let event = Event {
                    at,
                    subject: ["staging", "production"][env].to_string(),
                    state,
                    by: "t@example.com".into(),
                    // An id belongs to one commit, as git-train makes them.
                    fields: Fields { dep: Some(format!("D{commit}x{dep}")), ..Fields::default() }.into_map(),
                };
                ledger::append(&repo, ledger::DEPLOYS, shas[commit], &[event.to_line()], "t")
                    .unwrap();
                let clock = Clock::fixed(base.plus_millis(clock * HOUR));
                let (kept, _) = index::catch_up(&repo, clock).unwrap();
                agrees_with_a_rebuild(&repo, clock, &kept)?;
            }
            for clock in [last, last + later] {
                let clock = Clock::fixed(base.plus_millis(clock * HOUR));
                let kept = index::snapshot(&repo, clock).unwrap();
                agrees_with_a_rebuild(&repo, clock, &kept)?;
                let now = clock.now();
                for f in &kept.future {
                    prop_assert!(f.at > now.plus_millis(HOUR), "{:?} at {}", f, now);
                }
            }
        }
    }
}
