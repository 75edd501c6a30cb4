//! `cargo bench --bench train`: git-train against plain git on trunks of 100,000
//! commits (issues 7 and 17).
//!
//! 1. Builds the corpora once, under `target/bench-corpus/` (`--rebuild` or
//!    `GIT_TRAIN_BENCH_REBUILD=1` builds them again): `lib`, written here with
//!    `git fast-import` and git-train's own `ledger::write`; `make-repo`, written
//!    by `tests/fixtures/make-repo.py` (a copy of `shared/bench/make-repo.py`), a
//!    second, independent writer of the format; `merge-heavy` (every trunk commit a
//!    merge, `qa` 15,000 commits behind); `big-ledger` (make-repo.py with
//!    `--deploy-last 100000`); `tags` (a copy of `lib` with 50,000 packed tags);
//!    `fleet` (20 small repositories on a watch list, for `status --all`).
//!    Each gets a bare clone as its `origin`, and a commit-graph.
//! 2. Checks that git-train reads each as its writer meant: its parser takes
//!    every event line, `history` and `stats` count every deployment each writer
//!    wrote, nothing is said on stderr, and `status`, `history` and `stats` agree
//!    with a reference worked out with plain git from the raw notes.
//! 3. Times whole commands of the release binary (alone and through `git train`)
//!    next to plain git, in fresh copies of the corpora, as medians of interleaved
//!    runs, checks the budgets, and measures each command's peak RSS once more.
//!
//! Options, after `--`: `--rebuild`, `--runs N` (30), `--warmup N` (3),
//! `--corpus NAME[,NAME...]` (all). `GIT_TRAIN_BENCH_BIN=DIR/git-train` times
//! another build (an older one, to compare). Exits 1 when a budget is missed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_train::domain::{CommitId, Event, Fields, State, Timestamp};
use git_train::ledger;
use serde_json::Value;

/// Trunk commits, first-parent.
const COMMITS: usize = 100_000;
/// Deployments go on the newest this many trunk commits.
const DEPLOY_LAST: usize = 20_000;
/// Notes per `ledger::write`: the ledger is built as a short history of commits.
const BATCH: usize = 1_000;
/// Seconds between trunk commits, from this start (September 2020), as make-repo.py.
const T0: i64 = 1_600_000_000;
const STEP: i64 = 600;
/// Bumped whenever the corpus changes, so that an old one is built again.
const CORPUS_VERSION: &str = "git-train bench corpus 2";
/// The same for both corpora: production has thresholds, so the hook does its work.
const TRAIN_TOML: &str = "\
# written by benches/train.rs
forge = \"local\"

[checks]
require = false

[env.staging]

[env.production]
production = true
max_train = 20
stale_after = \"24h\"

[env.qa]
";

type Res<T> = Result<T, String>;

fn main() {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    match run(&opts) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    }
}

struct Opts {
    rebuild: bool,
    runs: usize,
    warmup: usize,
    corpora: Vec<Kind>,
}

impl Opts {
    fn parse() -> Res<Opts> {
        let mut opts = Opts {
            rebuild: std::env::var_os("GIT_TRAIN_BENCH_REBUILD").is_some_and(|v| v != "0"),
            runs: 30,
            warmup: 3,
            corpora: Kind::ALL.to_vec(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut number = |name: &str| -> Res<usize> {
                args.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or(format!("{name} takes a number"))
            };
            match arg.as_str() {
                // cargo passes --bench to a bench target without the test harness.
                "--bench" => {}
                "--rebuild" => opts.rebuild = true,
                "--runs" => opts.runs = number("--runs")?.max(1),
                "--warmup" => opts.warmup = number("--warmup")?,
                "--corpus" => {
                    let names = args.next().unwrap_or_default();
                    opts.corpora = Vec::new();
                    for name in names.split(',') {
                        match name {
                            "both" => opts.corpora.extend([Kind::Lib, Kind::MakeRepo]),
                            "all" => opts.corpora.extend(Kind::ALL),
                            _ => opts.corpora.push(
                                Kind::ALL.into_iter().find(|k| k.name() == name).ok_or(
                                    "--corpus takes lib, make-repo, merge-heavy, tags, \
                                     big-ledger, fleet, both or all (or a list with commas)",
                                )?,
                            ),
                        }
                    }
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(opts)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Written here with git-train's library.
    Lib,
    /// Written by tests/fixtures/make-repo.py.
    MakeRepo,
    /// Like `lib`, but every trunk commit is a merge of a one-commit side branch (as
    /// GitHub's merge button makes), and `qa` runs a commit 15,000 first-parent
    /// commits behind the tip.
    MergeHeavy,
    /// The `lib` corpus with 50,000 tags, packed (`git pack-refs --all`).
    Tags,
    /// make-repo.py with `--deploy-last 100000`: about 71,000 deployments.
    BigLedger,
    /// 20 repositories of 10,000 commits on the watch list, for `status --all`.
    Fleet,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Lib,
        Kind::MakeRepo,
        Kind::MergeHeavy,
        Kind::Tags,
        Kind::BigLedger,
        Kind::Fleet,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Lib => "lib",
            Kind::MakeRepo => "make-repo",
            Kind::MergeHeavy => "merge-heavy",
            Kind::Tags => "tags",
            Kind::BigLedger => "big-ledger",
            Kind::Fleet => "fleet",
        }
    }

    /// The corpus it is a copy of.
    fn corpus(self) -> Kind {
        match self {
            Kind::Tags => Kind::Lib,
            k => k,
        }
    }
}

/// Packed tags in the `tags` corpus.
const TAGS: usize = 50_000;
/// How far behind the tip `qa` is in the `merge-heavy` corpus.
const FAR_BEHIND: usize = 15_000;
/// How far below the tip the `merge-heavy` deploy row deploys.
const BELOW_TIP: usize = 3_000;
/// Repositories, and commits in each, of the `fleet`.
const FLEET: usize = 20;
const FLEET_COMMITS: usize = 10_000;

/// Where things are, and the environment every child process gets.
struct Bench {
    bin: PathBuf,
    root: PathBuf,
    home: PathBuf,
}

impl Bench {
    fn new() -> Res<Bench> {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_git-train"));
        // Another build to time instead (an older one, to compare).
        let bin = std::env::var_os("GIT_TRAIN_BENCH_BIN").map_or(built.clone(), PathBuf::from);
        // The hook runs `git-train` from PATH, which gets this binary's folder first.
        if bin.file_name() != Some(std::ffi::OsStr::new("git-train")) || !bin.is_file() {
            return Err(format!("{} is not a file named git-train", bin.display()));
        }
        // target/release/git-train -> target/
        let target = built
            .parent()
            .and_then(Path::parent)
            .ok_or("cannot tell the target folder")?;
        let root = target.join("bench-corpus");
        let home = root.join("home");
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        Ok(Bench { bin, root, home })
    }

    /// A command isolated from the user's and the system's git configuration, and
    /// started as from a shell: without the library path `cargo bench` sets for its
    /// own build (seven folders, searched for every library each program loads: 300
    /// failed lookups and 0.3 to 0.6 ms for `git train ...`, which starts two
    /// programs, against one for `git log`).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.com")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.com");
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_TRAIN_NOW",
            "GIT_PAGER",
            "PAGER",
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "GITHUB_EVENT_NAME",
            "LD_LIBRARY_PATH",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Res<String> {
        output(self.command("git", dir).args(args))
    }

    fn train(&self, dir: &Path, args: &[&str]) -> Res<(String, String)> {
        let out = self
            .command(&self.bin, dir)
            .args(args)
            .output()
            .map_err(|e| format!("git-train {}: {e}", args.join(" ")))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(format!("git-train {} failed: {stderr}", args.join(" ")));
        }
        Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
    }
}

fn output(cmd: &mut Command) -> Res<String> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run(opts: &Opts) -> Res<bool> {
    let bench = Bench::new()?;
    eprintln!("bench: git-train at {}", bench.bin.display());
    let mut all_met = true;
    let mut report = machine(&bench);
    print!("{report}");
    let mut built = HashSet::new();
    for &kind in &opts.corpora {
        let before;
        let rows = if kind == Kind::Fleet {
            let home = ensure_fleet(&bench, opts.rebuild)?;
            before = load_average();
            measure_fleet(&bench, &home, opts)?
        } else {
            let rebuild = opts.rebuild && built.insert(kind.corpus().name());
            let dir = ensure_corpus(&bench, kind.corpus(), rebuild)?;
            let counts = read_counts(&dir.with_extension("ready"))?;
            let work = fresh_copy(&bench, kind, &dir)?;
            check_readers(&bench, kind, &work, &counts)?;
            check_reference(&bench, kind, &work)?;
            before = load_average();
            measure(&bench, kind, &work, opts)?
        };
        let table = render(kind, &rows, opts, (before, load_average()));
        print!("{table}");
        report.push_str(&table);
        all_met &= rows.iter().all(|r| r.met() != Some(false));
    }
    let last = bench.root.join("last-run.md");
    std::fs::write(&last, &report).map_err(|e| format!("{}: {e}", last.display()))?;
    println!("(also in {})", last.display());
    if !all_met {
        println!("some budgets were missed");
    }
    Ok(all_met)
}

// ---------------------------------------------------------------------------
// The corpora

/// What a writer wrote, counted as it wrote it.
#[derive(Default, Debug, PartialEq, Clone)]
struct Counts {
    notes: usize,
    events: usize,
    /// Per environment: deployments, of them rollbacks, failed, succeeded.
    envs: BTreeMap<String, EnvCounts>,
}

#[derive(Default, Debug, PartialEq, Clone)]
struct EnvCounts {
    deployments: usize,
    rollbacks: usize,
    failed: usize,
    succeeded: usize,
}

impl Counts {
    fn deployments(&self) -> usize {
        self.envs.values().map(|e| e.deployments).sum()
    }

    fn to_text(&self) -> String {
        let mut text = format!(
            "{CORPUS_VERSION}\nnotes {}\nevents {}\n",
            self.notes, self.events
        );
        for (env, c) in &self.envs {
            let _ = writeln!(
                text,
                "env {env} {} {} {} {}",
                c.deployments, c.rollbacks, c.failed, c.succeeded
            );
        }
        text
    }

    fn parse(text: &str) -> Option<Counts> {
        let mut lines = text.lines();
        if lines.next()? != CORPUS_VERSION {
            return None;
        }
        let mut counts = Counts::default();
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["notes", n] => counts.notes = n.parse().ok()?,
                ["events", n] => counts.events = n.parse().ok()?,
                ["env", env, d, r, f, s] => {
                    counts.envs.insert(
                        env.to_string(),
                        EnvCounts {
                            deployments: d.parse().ok()?,
                            rollbacks: r.parse().ok()?,
                            failed: f.parse().ok()?,
                            succeeded: s.parse().ok()?,
                        },
                    );
                }
                _ => return None,
            }
        }
        Some(counts)
    }
}

fn read_counts(path: &Path) -> Res<Counts> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Counts::parse(&text).ok_or(format!("{} does not parse", path.display()))
}

/// The corpus of `kind`, built unless a complete one of this version is there.
/// `NAME.ready` is written last, with what the writer wrote.
fn ensure_corpus(bench: &Bench, kind: Kind, rebuild: bool) -> Res<PathBuf> {
    let dir = bench.root.join(kind.name());
    let ready = dir.with_extension("ready");
    let current = std::fs::read_to_string(&ready)
        .ok()
        .and_then(|t| Counts::parse(&t))
        .is_some();
    if current && !rebuild {
        eprintln!(
            "bench: reusing {} (--rebuild builds it again)",
            dir.display()
        );
        return Ok(dir);
    }
    let _ = std::fs::remove_file(&ready);
    for d in [dir.clone(), dir.with_extension("git")] {
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    let started = Instant::now();
    eprintln!("bench: building {} ...", dir.display());
    let counts = match kind {
        Kind::Lib => build_lib(bench, &dir, false)?,
        Kind::MergeHeavy => build_lib(bench, &dir, true)?,
        Kind::MakeRepo => build_make_repo(bench, &dir, DEPLOY_LAST)?,
        Kind::BigLedger => build_make_repo(bench, &dir, COMMITS)?,
        Kind::Tags | Kind::Fleet => return Err("not a corpus of its own".into()),
    };
    std::fs::write(dir.join(".train.toml"), TRAIN_TOML).map_err(|e| e.to_string())?;
    // No background gc or maintenance started by a fetch while something is timed.
    // A commit-graph, as `git gc` (gc.writeCommitGraph, on by default) or `git
    // maintenance` leave in a repository: plain git uses it, and so does git-train.
    for repo in [dir.clone(), dir.with_extension("git")] {
        bench.git(&repo, &["config", "gc.auto", "0"])?;
        bench.git(&repo, &["config", "maintenance.auto", "false"])?;
        bench.git(&repo, &["commit-graph", "write", "--reachable"])?;
    }
    std::fs::write(&ready, counts.to_text()).map_err(|e| e.to_string())?;
    eprintln!(
        "bench: built {} in {:.1} s: {} notes, {} deployments, {} events",
        dir.display(),
        started.elapsed().as_secs_f64(),
        counts.notes,
        counts.deployments(),
        counts.events
    );
    Ok(dir)
}

/// A small deterministic generator (splitmix64), so every build is the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) < p * (1u64 << 53) as f64
    }
}

const PEOPLE: [(&str, &str); 8] = [
    ("Ada Lovelace", "ada"),
    ("Grace Hopper", "grace"),
    ("Alan Turing", "alan"),
    ("Edsger Dijkstra", "edsger"),
    ("Barbara Liskov", "barbara"),
    ("Ken Thompson", "ken"),
    ("Frances Allen", "frances"),
    ("Donald Knuth", "don"),
];

fn commit_time(i: usize) -> i64 {
    T0 + i as i64 * STEP
}

/// The `lib` corpus: trunk through `git fast-import`, the ledger through
/// `git_train::ledger::write`, then a bare clone as origin.
fn build_lib(bench: &Bench, dir: &Path, merge_heavy: bool) -> Res<Counts> {
    let parent = dir.parent().ok_or("no parent folder")?;
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or("bad name")?;
    bench.git(parent, &["init", "-q", "-b", "main", name])?;
    for (key, value) in [
        ("user.name", "Bench"),
        ("user.email", "bench@example.com"),
        ("notes.displayRef", ledger::DEPLOYS),
    ] {
        bench.git(dir, &["config", key, value])?;
    }
    let trunk = import_trunk(bench, dir, COMMITS, merge_heavy)?;
    bench.git(dir, &["update-ref", "-d", "refs/heads/bench-side"])?;
    bench.git(dir, &["reset", "-q", "--hard", "main"])?;
    let far = merge_heavy.then_some(COMMITS - 1 - FAR_BEHIND);
    let (notes, counts) = plan_ledger(&trunk, COMMITS - DEPLOY_LAST, far);
    write_ledger(dir, notes, &trunk)?;
    // libgit2 leaves the ledger's objects loose; git's gc would pack them.
    bench.git(dir, &["repack", "-adq"])?;
    bench.git(dir, &["prune-packed"])?;
    add_origin(bench, dir)?;
    Ok(counts)
}

/// Feeds fast-import 100,000 first-parent commits, every tenth from the sixth on a
/// true merge of a side commit forked four commits back. Returns trunk's shas,
/// oldest first.
fn import_trunk(bench: &Bench, dir: &Path, commits: usize, merge_heavy: bool) -> Res<Vec<String>> {
    const SIDE: usize = 1_000_000;
    let marks = dir.join(".git").join("bench-marks");
    let mut child = bench
        .command("git", dir)
        .args(["fast-import", "--quiet", "--done"])
        .arg(format!("--export-marks={}", marks.display()))
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("git fast-import: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let mut w = BufWriter::with_capacity(1 << 20, stdin);
    let mut rng = Rng(7);
    let io = |e: std::io::Error| format!("writing to git fast-import: {e}");
    for i in 0..commits {
        let mark = i + 1;
        let t = commit_time(i);
        let (name, login) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
        let merge = if merge_heavy {
            i > 0
        } else {
            i % 10 == 5 && i > 20
        };
        // The side branch forks from the trunk commit before (the merge button) or
        // four commits back (the occasional true merge of the `lib` corpus).
        let fork = if merge_heavy {
            mark - 1
        } else {
            mark.saturating_sub(4)
        };
        if merge {
            let (sname, slogin) = PEOPLE[rng.below(PEOPLE.len() as u64) as usize];
            let msg = format!("Prepare module {} for change {i}\n", i % 89);
            let body = format!("side {i} {}\n", rng.next());
            write!(
                w,
                "commit refs/heads/bench-side\nmark :{}\n\
                 author {sname} <{slogin}@example.com> {} +0000\n\
                 committer {sname} <{slogin}@example.com> {} +0000\n\
                 data {}\n{msg}from :{}\n\
                 M 100644 inline lib/mod{:02}/side.txt\ndata {}\n{body}\n",
                SIDE + i,
                t - 300,
                t - 300,
                msg.len(),
                fork,
                i % 89,
                body.len()
            )
            .map_err(io)?;
        }
        let msg = if merge {
            format!(
                "Merge pull request #{} from {login}/change-{i}\n",
                20_000 + i
            )
        } else {
            format!(
                "Fix module {} for case {} (#{})\n",
                i % 89,
                i % 17,
                20_000 + i
            )
        };
        let body = format!("state {i} {}\n", rng.next());
        write!(
            w,
            "commit refs/heads/main\nmark :{mark}\n\
             author {name} <{login}@example.com> {t} +0000\n\
             committer {name} <{login}@example.com> {t} +0000\n\
             data {}\n{msg}",
            msg.len()
        )
        .map_err(io)?;
        if i > 0 {
            writeln!(w, "from :{}", mark - 1).map_err(io)?;
        }
        if merge {
            writeln!(w, "merge :{}", SIDE + i).map_err(io)?;
        }
        write!(
            w,
            "M 100644 inline lib/mod{:02}/part{}.rs\ndata {}\n{body}\n",
            i % 89,
            i % 11,
            body.len()
        )
        .map_err(io)?;
    }
    w.write_all(b"done\n").map_err(io)?;
    drop(w);
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("git fast-import failed".into());
    }
    let text = std::fs::read_to_string(&marks).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&marks);
    let mut shas = vec![String::new(); commits];
    for line in text.lines() {
        let (mark, sha) = line.split_once(' ').ok_or("bad marks file")?;
        let mark: usize = mark
            .trim_start_matches(':')
            .parse()
            .map_err(|_| "bad mark")?;
        if (1..=commits).contains(&mark) {
            shas[mark - 1] = sha.to_string();
        }
    }
    if shas.iter().any(String::is_empty) {
        return Err("fast-import did not export every mark".into());
    }
    Ok(shas)
}

/// The deployments on the newest 20,000 trunk commits: every 2nd to staging, every
/// 5th to production. About 5% of production deployments fail, each followed by a
/// rollback to the commit production ran before; about 2% of staging ones fail.
/// Returns each note's event lines, and what was written.
fn plan_ledger(
    trunk: &[String],
    first: usize,
    far: Option<usize>,
) -> (BTreeMap<usize, Vec<String>>, Counts) {
    let mut rng = Rng(11);
    let mut ledger = Planned::default();
    let mut last_prod: Option<usize> = None;
    let mut gh_id = 4_000_000u64;
    if let Some(i) = far {
        // One deployment to `qa`, long ago, that it still runs.
        let start = commit_time(i) * 1_000 + 1_800_000;
        let dep = ulid(start, &mut rng);
        let fields = || Fields {
            dep: Some(dep.clone()),
            ..Fields::default()
        };
        ledger.push(
            i,
            event(start, "qa", State::Queued, "ada@example.com", fields()),
        );
        ledger.push(
            i,
            event(
                start + 60_000,
                "qa",
                State::Success,
                "ada@example.com",
                fields(),
            ),
        );
        ledger.deployment("qa", false, false);
    }
    for i in first..trunk.len() {
        let mut envs = Vec::new();
        if i % 2 == 0 {
            envs.push("staging");
        }
        if i % 5 == 0 {
            envs.push("production");
        }
        for env in envs {
            let production = env == "production";
            let start =
                (commit_time(i) + 1_800 + rng.below(600) as i64) * 1_000 + rng.below(1_000) as i64;
            let dep = ulid(start, &mut rng);
            let by = format!("{}@example.com", PEOPLE[rng.below(8) as usize].1);
            let failed = rng.chance(if production { 0.05 } else { 0.02 });
            gh_id += 1;
            let fields = |log: bool, url: bool| Fields {
                dep: Some(dep.clone()),
                desc: production.then(|| format!("train to {} — #{}", &trunk[i][..7], 20_000 + i)),
                from: last_prod.filter(|_| production).map(|p| trunk[p].clone()),
                log: log.then(|| format!("https://ci.example.com/runs/{gh_id}")),
                url: url.then(|| format!("https://{env}.example.com")),
                gh: production.then(|| ("acme/api".to_string(), gh_id)),
                ..Fields::default()
            };
            let running = start + 3_000 + rng.below(4_000) as i64;
            let end = running + 60_000 + rng.below(120_000) as i64;
            let last = if failed {
                State::Failure
            } else {
                State::Success
            };
            ledger.push(
                i,
                event(start, env, State::Queued, &by, fields(false, false)),
            );
            ledger.push(
                i,
                event(running, env, State::InProgress, &by, fields(true, false)),
            );
            ledger.push(i, event(end, env, last, &by, fields(true, !failed)));
            ledger.deployment(env, false, failed);
            if !production {
                continue;
            }
            match (failed, last_prod) {
                (true, Some(back)) => {
                    let at = end + 30_000 + rng.below(60_000) as i64;
                    let rb_dep = ulid(at, &mut rng);
                    let rb = |log: bool| Fields {
                        dep: Some(rb_dep.clone()),
                        desc: Some("rollback after a failed deployment".into()),
                        from: Some(trunk[i].clone()),
                        rollback: true,
                        log: log.then(|| format!("https://ci.example.com/runs/{gh_id}-rb")),
                        ..Fields::default()
                    };
                    ledger.push(back, event(at, env, State::Queued, &by, rb(false)));
                    ledger.push(
                        back,
                        event(at + 2_000, env, State::InProgress, &by, rb(true)),
                    );
                    ledger.push(back, event(at + 50_000, env, State::Success, &by, rb(true)));
                    ledger.deployment(env, true, false);
                }
                (true, None) => {}
                (false, _) => last_prod = Some(i),
            }
        }
    }
    ledger.counts.notes = ledger.notes.len();
    (ledger.notes, ledger.counts)
}

/// The ledger as planned, and what it holds.
#[derive(Default)]
struct Planned {
    notes: BTreeMap<usize, Vec<String>>,
    counts: Counts,
}

impl Planned {
    fn push(&mut self, commit: usize, event: Event) {
        self.notes.entry(commit).or_default().push(event.to_line());
        self.counts.events += 1;
    }

    fn deployment(&mut self, env: &str, rollback: bool, failed: bool) {
        let c = self.counts.envs.entry(env.to_string()).or_default();
        c.deployments += 1;
        c.rollbacks += usize::from(rollback);
        if failed {
            c.failed += 1;
        } else {
            c.succeeded += 1;
        }
    }
}

fn event(ms: i64, env: &str, state: State, by: &str, fields: Fields) -> Event {
    Event {
        at: Timestamp(ms),
        subject: env.to_string(),
        state,
        by: by.to_string(),
        fields: fields.into_map(),
    }
}

fn ulid(ms: i64, rng: &mut Rng) -> String {
    let random = (u128::from(rng.next()) << 64 | u128::from(rng.next())) & ((1 << 80) - 1);
    ulid::Ulid::from_parts(ms as u64, random).to_string()
}

/// Writes the notes with git-train's own writer, `BATCH` notes per notes commit,
/// oldest commits first.
fn write_ledger(dir: &Path, notes: BTreeMap<usize, Vec<String>>, trunk: &[String]) -> Res<()> {
    let repo = git_train::ledger::repo::Repo::open(dir).map_err(|e| e.message.clone())?;
    let texts: Vec<(CommitId, String)> = notes
        .into_iter()
        .map(|(i, lines)| {
            let oid = CommitId::parse(&trunk[i]).expect("fast-import gives shas");
            (oid, ledger::cat_sort_uniq(lines.iter().map(String::as_str)))
        })
        .collect();
    for (n, batch) in texts.chunks(BATCH).enumerate() {
        let message = format!("bench: deployments, part {}", n + 1);
        ledger::write(&repo, ledger::DEPLOYS, &message, |_| Ok(batch.to_vec()))
            .map_err(|e| format!("ledger::write: {e}"))?;
    }
    Ok(())
}

/// `NAME.git`, a bare clone with the ledger, as the corpus's `origin`.
fn add_origin(bench: &Bench, dir: &Path) -> Res<()> {
    let bare = dir.with_extension("git");
    let bare_s = bare.to_str().ok_or("path is not UTF-8")?;
    let dir_s = dir.to_str().ok_or("path is not UTF-8")?;
    bench.git(dir, &["clone", "-q", "--bare", dir_s, bare_s])?;
    bench.git(dir, &["remote", "add", "origin", bare_s])?;
    bench.git(dir, &["push", "-q", "origin", ledger::DEPLOYS])?;
    bench.git(dir, &["fetch", "-q", "origin"])?;
    bench.git(dir, &["branch", "-q", "-u", "origin/main", "main"])?;
    Ok(())
}

/// The `make-repo` corpus: make-repo.py with its defaults (100,000
/// commits, deployments on the newest 20,000) and `--origin`. What it wrote is
/// counted from the raw note lines, read with plain git.
fn build_make_repo(bench: &Bench, dir: &Path, deploy_last: usize) -> Res<Counts> {
    let script = std::env::var_os("GIT_TRAIN_BENCH_MAKE_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/make-repo.py")
        });
    if !script.exists() {
        return Err(format!(
            "{} not found: set GIT_TRAIN_BENCH_MAKE_REPO, or run with --corpus lib",
            script.display()
        ));
    }
    let parent = dir.parent().ok_or("no parent folder")?;
    let said = output(
        bench
            .command("python3", parent)
            .arg(&script)
            .arg(dir)
            .args(["--commits", &COMMITS.to_string()])
            .args(["--deploy-last", &deploy_last.to_string()])
            .arg("--origin"),
    )?;
    eprintln!("bench: make-repo.py: {}", said.trim());
    for (key, value) in [("user.name", "Bench"), ("user.email", "bench@example.com")] {
        bench.git(dir, &["config", key, value])?;
    }
    raw_counts(bench, dir)
}

/// Counts the ledger from the raw note lines, with plain git and a reader of its
/// own: a third view, independent of git-train's parser.
fn raw_counts(bench: &Bench, dir: &Path) -> Res<Counts> {
    let list = bench.git(dir, &["notes", "--ref", ledger::DEPLOYS, "list"])?;
    let blobs: Vec<&str> = list.lines().filter_map(|l| l.split(' ').next()).collect();
    let mut child = bench
        .command("git", dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let request: String = blobs.iter().map(|b| format!("{b}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .ok_or("no stdout")?
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer thread")?
        .map_err(|e| e.to_string())?;
    child.wait().map_err(|e| e.to_string())?;

    let mut counts = Counts {
        notes: blobs.len(),
        ..Counts::default()
    };
    // (env, dep) -> (rollback, final state)
    let mut deps: HashMap<(String, String), (bool, Option<String>)> = HashMap::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("cat-file header")?;
        let header = std::str::from_utf8(&rest[..nl]).map_err(|e| e.to_string())?;
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(format!("cat-file header {header}"))?;
        let body = std::str::from_utf8(&rest[nl + 1..nl + 1 + size]).map_err(|e| e.to_string())?;
        rest = &rest[nl + 1 + size + 1..];
        for line in body.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.splitn(5, ' ').collect();
            let [_, env, state, _, json] = f[..] else {
                return Err(format!("raw line without five fields: {line}"));
            };
            let json: Value = serde_json::from_str(json).map_err(|e| format!("{line}: {e}"))?;
            let dep = json["dep"].as_str().ok_or(format!("no dep: {line}"))?;
            counts.events += 1;
            let entry = deps.entry((env.to_string(), dep.to_string())).or_default();
            entry.0 |= json["rollback"] == Value::Bool(true);
            if matches!(state, "success" | "failure" | "error") {
                entry.1 = Some(state.to_string());
            }
        }
    }
    for ((env, _), (rollback, last)) in deps {
        let c = counts.envs.entry(env).or_default();
        c.deployments += 1;
        c.rollbacks += usize::from(rollback);
        match last.as_deref() {
            Some("success") => c.succeeded += 1,
            Some(_) => c.failed += 1,
            None => {}
        }
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------
// Both writers, read alike

/// git-train must read each corpus as its writer wrote it: the library's parser
/// takes every line; `history --json` and `stats --json` count every deployment and
/// say nothing on stderr.
fn check_readers(bench: &Bench, kind: Kind, dir: &Path, wrote: &Counts) -> Res<()> {
    let fail = |what: String| Err(format!("{} corpus: {what}", kind.name()));
    let trunk = bench.git(dir, &["rev-list", "--count", "--first-parent", "main"])?;
    if trunk.trim() != COMMITS.to_string() {
        return fail(format!("trunk has {} first-parent commits", trunk.trim()));
    }
    let raw = raw_counts(bench, dir)?;
    if &raw != wrote {
        return fail(format!(
            "plain git reads {raw:?}, the writer wrote {wrote:?}"
        ));
    }

    // The library: every line of every note parses.
    let repo = git_train::ledger::repo::Repo::open(dir).map_err(|e| e.message.clone())?;
    let notes = ledger::Notes::load(&repo, ledger::DEPLOYS).map_err(|e| e.to_string())?;
    let (mut events, mut bad) = (0, 0);
    let all = notes.all().map_err(|e| e.to_string())?;
    for commit in &all {
        let text = notes
            .read(*commit)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let (parsed, skipped) = ledger::parse_note(*commit, &text);
        events += parsed.len();
        bad += skipped.len();
    }
    if all.len() != wrote.notes || events != wrote.events || bad != 0 {
        return fail(format!(
            "git-train's parser read {} notes, {events} events, {bad} bad lines; \
             the writer wrote {} notes, {} events",
            all.len(),
            wrote.notes,
            wrote.events
        ));
    }

    // The binary: history and stats.
    let (history, stderr) = bench.train(dir, &["history", "--json", "-n", "1000000"])?;
    if !stderr.is_empty() {
        return fail(format!("history said on stderr: {stderr}"));
    }
    let history: Value = serde_json::from_str(&history).map_err(|e| e.to_string())?;
    let items = history["deployments"].as_array().ok_or("no deployments")?;
    let mut per_env: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    for item in items {
        *per_env
            .entry(item["env"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        ids.insert(item["dep"].as_str().unwrap_or("?").to_string());
    }
    let wrote_env: BTreeMap<String, usize> = wrote
        .envs
        .iter()
        .map(|(e, c)| (e.clone(), c.deployments))
        .collect();
    if per_env != wrote_env || ids.len() != wrote.deployments() {
        return fail(format!(
            "history lists {per_env:?} ({} ids), the writer wrote {wrote_env:?}",
            ids.len()
        ));
    }
    for (env, c) in &wrote.envs {
        let (stats, stderr) = bench.train(
            dir,
            &["stats", "--env", env, "--since", "2000-01-01", "--json"],
        )?;
        if !stderr.is_empty() {
            return fail(format!("stats --env {env} said on stderr: {stderr}"));
        }
        let stats: Value = serde_json::from_str(&stats).map_err(|e| e.to_string())?;
        let d = &stats["deployments"];
        let got = EnvCounts {
            deployments: d["total"].as_u64().unwrap_or(0) as usize,
            rollbacks: d["rollbacks"].as_u64().unwrap_or(0) as usize,
            failed: d["failed"].as_u64().unwrap_or(0) as usize,
            succeeded: d["succeeded"].as_u64().unwrap_or(0) as usize,
        };
        if &got != c {
            return fail(format!(
                "stats --env {env} counts {got:?}, the writer wrote {c:?}"
            ));
        }
    }
    eprintln!(
        "bench: {} corpus read alike by plain git, git-train's parser, history and stats: \
         {} notes, {} deployments, {} events, no warnings",
        kind.name(),
        wrote.notes,
        wrote.deployments(),
        wrote.events
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Timing

/// A fresh copy of a corpus and its origin under `run/`, so that what the timed
/// commands write never reaches the cached corpus; `git train init` installs the hook.
fn fresh_copy(bench: &Bench, kind: Kind, dir: &Path) -> Res<PathBuf> {
    let run = bench.root.join("run");
    // One copy at a time: the corpora are large.
    if run.exists() {
        std::fs::remove_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
    }
    let work = run.join(kind.name());
    let bare = work.with_extension("git");
    for d in [&work, &bare] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
    output(Command::new("cp").arg("-a").arg(dir).arg(&work))?;
    output(
        Command::new("cp")
            .arg("-a")
            .arg(dir.with_extension("git"))
            .arg(&bare),
    )?;
    let bare_s = bare.to_str().ok_or("path is not UTF-8")?;
    bench.git(&work, &["remote", "set-url", "origin", bare_s])?;
    // Written again in each copy: a corpus built before a change of it is not stale.
    std::fs::write(work.join(".train.toml"), TRAIN_TOML).map_err(|e| e.to_string())?;
    if kind == Kind::Tags {
        add_tags(bench, &work)?;
    }
    bench.train(&work, &["init"])?;
    bench.train(&work, &["sync"])?;
    bench.train(&work, &["status"])?;
    Ok(work)
}

/// 50,000 tags on trunk commits, then every ref packed, as `git gc` leaves them.
fn add_tags(bench: &Bench, work: &Path) -> Res<()> {
    let trunk = bench.git(work, &["rev-list", "--first-parent", "main"])?;
    let shas: Vec<&str> = trunk.lines().collect();
    let mut input = String::with_capacity(TAGS * 80);
    for i in 0..TAGS {
        let sha = shas[(i * 2) % shas.len()];
        let _ = writeln!(
            input,
            "create refs/tags/v{}.{}.{} {sha}",
            i / 1000,
            (i / 10) % 100,
            i % 10
        );
    }
    let mut child = bench
        .command("git", work)
        .args(["update-ref", "--stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    if !child.wait().map_err(|e| e.to_string())?.success() {
        return Err("git update-ref --stdin failed".into());
    }
    bench.git(work, &["pack-refs", "--all"])?;
    let count = bench.git(work, &["for-each-ref", "--count=1000000", "--format=x"])?;
    eprintln!("bench: tags corpus: {} refs, packed", count.lines().count());
    Ok(())
}

/// One deployment, read from the raw note lines with plain git.
#[derive(Debug, Default, Clone)]
struct RawDeployment {
    commit: String,
    /// (AT, state rank, state) of each event.
    events: Vec<(String, usize, String)>,
}

impl RawDeployment {
    fn last(&self) -> &(String, usize, String) {
        self.events.iter().max().expect("a deployment has events")
    }
}

const STATES: [&str; 7] = [
    "queued",
    "pending",
    "in_progress",
    "success",
    "failure",
    "error",
    "inactive",
];

/// Every deployment of the corpus, by (environment, id), from `git notes list`,
/// `git cat-file --batch` and a reader of the bench's own.
fn raw_deployments(bench: &Bench, dir: &Path) -> Res<BTreeMap<(String, String), RawDeployment>> {
    let list = bench.git(dir, &["notes", "--ref", ledger::DEPLOYS, "list"])?;
    let pairs: Vec<(&str, &str)> = list.lines().filter_map(|l| l.split_once(' ')).collect();
    let request: String = pairs.iter().map(|(b, _)| format!("{b}\n")).collect();
    let out = cat_file(bench, dir, request)?;
    let mut deps: BTreeMap<(String, String), RawDeployment> = BTreeMap::new();
    let mut rest = &out[..];
    for (_, commit) in &pairs {
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("cat-file header")?;
        let header = std::str::from_utf8(&rest[..nl]).map_err(|e| e.to_string())?;
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(format!("cat-file header {header}"))?;
        let body = std::str::from_utf8(&rest[nl + 1..nl + 1 + size]).map_err(|e| e.to_string())?;
        rest = &rest[nl + 1 + size + 1..];
        for line in body.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.splitn(5, ' ').collect();
            let [at, env, state, _, json] = f[..] else {
                return Err(format!("raw line without five fields: {line}"));
            };
            let json: Value = serde_json::from_str(json).map_err(|e| format!("{line}: {e}"))?;
            let dep = json["dep"].as_str().ok_or(format!("no dep: {line}"))?;
            let rank = STATES
                .iter()
                .position(|s| *s == state)
                .ok_or(line.to_string())?;
            let d = deps.entry((env.to_string(), dep.to_string())).or_default();
            d.commit = commit.to_string();
            d.events.push((at.to_string(), rank, state.to_string()));
        }
    }
    Ok(deps)
}

fn cat_file(bench: &Bench, dir: &Path, request: String) -> Res<Vec<u8>> {
    let mut child = bench
        .command("git", dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .ok_or("no stdout")?
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    writer
        .join()
        .map_err(|_| "writer thread")?
        .map_err(|e| e.to_string())?;
    child.wait().map_err(|e| e.to_string())?;
    Ok(out)
}

/// `status`, `history` and `stats` against a slow reference worked out with plain
/// git from the raw notes: every deployment with its commit and state, each
/// environment's commit (its newest success), how far behind trunk it is
/// (`git rev-list --first-parent --count`, up to status's 10,000) and whether it is
/// on trunk (`git merge-base --is-ancestor`).
fn check_reference(bench: &Bench, kind: Kind, work: &Path) -> Res<()> {
    let fail = |what: String| Err(format!("{} corpus, reference check: {what}", kind.name()));
    let deps = raw_deployments(bench, work)?;
    // history: every deployment, its commit and state, newest start first.
    let (history, _) = bench.train(work, &["history", "--json", "-n", "1000000"])?;
    let history: Value = serde_json::from_str(&history).map_err(|e| e.to_string())?;
    let items = history["deployments"].as_array().ok_or("no deployments")?;
    let mut listed = BTreeMap::new();
    let mut previous: Option<String> = None;
    for item in items {
        let key = (
            item["env"].as_str().unwrap_or("?").to_string(),
            item["dep"].as_str().unwrap_or("?").to_string(),
        );
        let started = item["started_at"].as_str().unwrap_or("").to_string();
        if previous.as_ref().is_some_and(|p| *p < started) {
            return fail(format!("history is not newest first at {key:?}"));
        }
        previous = Some(started);
        let value = (
            item["sha"].as_str().unwrap_or("?").to_string(),
            item["state"].as_str().unwrap_or("?").to_string(),
        );
        listed.insert(key, value);
    }
    let want: BTreeMap<(String, String), (String, String)> = deps
        .iter()
        .map(|(k, d)| (k.clone(), (d.commit.clone(), d.last().2.clone())))
        .collect();
    if listed != want {
        let differ = want.iter().find(|(k, v)| listed.get(*k) != Some(v));
        return fail(format!(
            "history lists {} deployments, the notes hold {}; first difference: {differ:?}",
            listed.len(),
            want.len()
        ));
    }
    // stats: deployments, failures per environment.
    let mut per_env: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for ((env, _), d) in &deps {
        let e = per_env.entry(env).or_default();
        e.0 += 1;
        e.1 += u64::from(matches!(d.last().2.as_str(), "failure" | "error"));
    }
    for (env, (total, failed)) in &per_env {
        let (stats, _) = bench.train(
            work,
            &["stats", "--env", env, "--since", "2000-01-01", "--json"],
        )?;
        let stats: Value = serde_json::from_str(&stats).map_err(|e| e.to_string())?;
        let got = (
            stats["deployments"]["total"].as_u64().unwrap_or(u64::MAX),
            stats["deployments"]["failed"].as_u64().unwrap_or(u64::MAX),
        );
        if got != (*total, *failed) {
            return fail(format!(
                "stats --env {env} says {got:?}, the notes {:?}",
                (total, failed)
            ));
        }
    }
    // status: what each environment runs, how far behind, whether on trunk.
    let (status, _) = bench.train(work, &["status", "--json", "-n", "1"])?;
    let status: Value = serde_json::from_str(&status).map_err(|e| e.to_string())?;
    let envs = status["environments"].as_array().ok_or("no environments")?;
    let mut checked = 0;
    for env in per_env.keys() {
        let newest = deps
            .iter()
            .filter(|((e, _), d)| e == env && d.last().2 == "success")
            .max_by_key(|((_, dep), d)| {
                (
                    d.last().0.clone(),
                    d.events.iter().min().cloned(),
                    dep.clone(),
                )
            });
        let Some((_, d)) = newest else { continue };
        let shown = envs
            .iter()
            .find(|e| e["name"] == *env)
            .ok_or(format!("status does not list {env}"))?;
        let behind = bench.git(
            work,
            &[
                "rev-list",
                "--first-parent",
                "--count",
                &format!("{}..main", d.commit),
            ],
        )?;
        let behind: u64 = behind.trim().parse().map_err(|_| "rev-list --count")?;
        let on_trunk = bench
            .command("git", work)
            .args(["merge-base", "--is-ancestor", &d.commit, "main"])
            .status()
            .map_err(|e| e.to_string())?
            .success();
        let got = (
            shown["deployed"]["sha"].as_str().unwrap_or("-").to_string(),
            shown["behind"].as_u64(),
            shown["behind_more"].as_bool(),
            shown["deployed"]["on_trunk"].as_bool(),
        );
        let want = (
            d.commit.clone(),
            Some(behind.min(10_000)),
            Some(behind > 10_000),
            Some(on_trunk),
        );
        if got != want {
            return fail(format!(
                "status of {env} is {got:?}, plain git says {want:?}"
            ));
        }
        checked += 1;
    }
    eprintln!(
        "bench: {} corpus: status ({checked} environments), history ({} deployments) and \
         stats agree with plain git reading the notes",
        kind.name(),
        want.len()
    );
    Ok(())
}

/// One whole command, as a child process with its output thrown away.
struct Cmd {
    /// What the table shows, when not the command line itself.
    label: Option<String>,
    program: PathBuf,
    args: Vec<String>,
    stdin: Option<String>,
    env: Vec<(String, String)>,
}

impl Cmd {
    fn new(program: impl Into<PathBuf>, args: &[&str]) -> Cmd {
        Cmd {
            label: None,
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            stdin: None,
            env: Vec::new(),
        }
    }

    fn shown(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = if name == "git-train" {
            "git train".into()
        } else {
            name
        };
        let mut text = format!("{name} {}", self.args.join(" "));
        if self.stdin.is_some() {
            text.push_str(" < pushed refs");
        }
        text
    }

    /// Runs it once and returns how long it took, from spawn to exit.
    fn time(&self, bench: &Bench, dir: &Path) -> Res<Duration> {
        self.run(bench, dir, None)
    }

    /// Runs it once under GNU time (`/usr/bin/time -f %M`), untimed, for its peak
    /// resident memory in KiB. A child forked from this process would count this
    /// process's pages too (`ru_maxrss` survives exec); time's child starts small.
    fn peak_rss(&self, bench: &Bench, dir: &Path) -> Res<u64> {
        let out = bench.root.join("rss");
        self.run(bench, dir, Some(&out))?;
        let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
        text.lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .ok_or(format!("/usr/bin/time said {text:?}"))
    }

    fn run(&self, bench: &Bench, dir: &Path, rss_to: Option<&Path>) -> Res<Duration> {
        let mut cmd = match rss_to {
            Some(out) => {
                let mut cmd = bench.command("/usr/bin/time", dir);
                cmd.arg("-f")
                    .arg("%M")
                    .arg("-o")
                    .arg(out)
                    .arg(&self.program);
                cmd
            }
            None => bench.command(&self.program, dir),
        };
        cmd.args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", self.shown()))?;
        if let Some(text) = &self.stdin {
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let took = started.elapsed();
        if !status.success() {
            return Err(format!("{} failed ({status})", self.shown()));
        }
        Ok(took)
    }
}

/// What a row is held to.
#[derive(Clone, Copy)]
enum Budget {
    /// At most this many times the paired git command.
    Ratio(f64),
    /// At most this long (per event, for a row that records several).
    Time(Duration),
    None,
}

struct Row {
    what: &'static str,
    train: Cmd,
    git: Option<Cmd>,
    /// Events the command records: its figure is divided by this.
    per: u32,
    budget: Budget,
    /// Done before each timed run of `train`, untimed.
    setup: Option<Box<dyn Fn() -> Res<()>>>,
    train_median: Duration,
    git_median: Option<Duration>,
    /// The peak RSS of `train` in one more run after the timed ones, KiB.
    rss: u64,
    /// Timed runs at most (slow rows: stats, a rebuild of 71,000 deployments).
    max_runs: Option<usize>,
}

impl Row {
    fn figure(&self) -> Duration {
        self.train_median / self.per
    }

    fn ratio(&self) -> Option<f64> {
        self.git_median
            .map(|g| self.train_median.as_secs_f64() / g.as_secs_f64())
    }

    fn met(&self) -> Option<bool> {
        match self.budget {
            Budget::Ratio(max) => self.ratio().map(|r| r <= max),
            Budget::Time(max) => Some(self.figure() <= max),
            Budget::None => None,
        }
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    }
}

fn measure(bench: &Bench, kind: Kind, work: &Path, opts: &Opts) -> Res<Vec<Row>> {
    let bin = bench.bin.clone();
    let main = bench.git(work, &["rev-parse", "main"])?.trim().to_string();
    let origin_main = bench
        .git(work, &["rev-parse", "origin/main"])?
        .trim()
        .to_string();
    let url = work.with_extension("git").display().to_string();
    let hook_path = bench.git(work, &["rev-parse", "--git-path", "hooks/pre-push"])?;
    let hook_path = work.join(hook_path.trim());
    let pushed = format!("refs/heads/main {main} refs/heads/main {origin_main}\n");
    let path = format!(
        "{}:{}",
        bin.parent().ok_or("no bin folder")?.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (history, _) = bench.train(work, &["history", "production", "-n", "1", "--json"])?;
    let history: Value = serde_json::from_str(&history).map_err(|e| e.to_string())?;
    let dep = history["deployments"][0]["dep"]
        .as_str()
        .ok_or("no production deployment")?
        .to_string();

    // Programs by absolute path, as a shell that hashed them runs them: a path
    // lookup tries each PATH entry, and with PATH changed for the child (the hook)
    // std's Command forks instead of spawning.
    let git = program("git")?;
    let git_log = || {
        Cmd::new(
            &git,
            &["log", "-n", "50", "--first-parent", "--notes=deploys"],
        )
    };
    let rev_list = || {
        Cmd::new(
            &git,
            &[
                "rev-list",
                "--count",
                "refs/train/deployed/production..main",
            ],
        )
    };
    let mut hook_script = Cmd::new(
        program("sh")?,
        &[hook_path.to_str().unwrap_or(""), "origin", &url],
    );
    hook_script.stdin = Some(pushed.clone());
    hook_script.env.push(("PATH".into(), path.clone()));
    hook_script.label = Some("sh .git/hooks/pre-push origin URL < pushed refs".into());
    let mut hook_direct = Cmd::new(&bin, &["hook", "pre-push", "origin", &url]);
    hook_direct.stdin = Some(pushed);
    hook_direct.label = Some("git train hook pre-push origin URL < pushed refs".into());
    let wipe = {
        let work = work.to_path_buf();
        let git_home = bench.home.clone();
        move || wipe_index(&work, &git_home)
    };
    // `git train ...` as users type it: git finds git-train on PATH.
    let dispatch = |args: &[&str]| {
        let mut all = vec!["train"];
        all.extend_from_slice(args);
        let mut cmd = Cmd::new(&git, &all);
        cmd.env.push(("PATH".into(), path.clone()));
        cmd.label = Some(format!("git train {} (through git)", args.join(" ")));
        cmd
    };
    let ms = Duration::from_millis;
    let row = |what, train, git, per, budget| Row {
        what,
        train,
        git,
        per,
        budget,
        setup: None,
        train_median: Duration::ZERO,
        git_median: None,
        rss: 0,
        max_runs: None,
    };
    let big = kind == Kind::BigLedger;
    let status = || Cmd::new(&bin, &["status", "-n", "50"]);
    let history = || Cmd::new(&bin, &["history", "production", "-n", "50"]);
    let mut rows = vec![
        row("status", status(), Some(git_log()), 1, Budget::Ratio(1.5)),
        row(
            "status, through git",
            dispatch(&["status", "-n", "50"]),
            Some(git_log()),
            1,
            Budget::Ratio(1.5),
        ),
        row("history", history(), Some(git_log()), 1, Budget::Ratio(1.5)),
        row(
            "history, through git",
            dispatch(&["history", "production", "-n", "50"]),
            Some(git_log()),
            1,
            Budget::Ratio(1.2),
        ),
        Row {
            max_runs: Some(5),
            ..row(
                "stats",
                Cmd::new(&bin, &["stats", "--since", "2000-01-01"]),
                None,
                1,
                Budget::None,
            )
        },
    ];
    if kind != Kind::MergeHeavy {
        rows.push(row(
            "pre-push hook, as git runs it",
            hook_script,
            Some(rev_list()),
            1,
            Budget::Time(ms(10)),
        ));
        rows.push(row(
            "pre-push hook, the command alone",
            hook_direct,
            Some(rev_list()),
            1,
            Budget::Time(ms(10)),
        ));
    }
    if matches!(kind, Kind::Lib | Kind::MakeRepo) {
        rows.push(row(
            "sync, nothing to do",
            Cmd::new(&bin, &["sync"]),
            Some(Cmd::new(&git, &["fetch", "-q", "origin"])),
            1,
            Budget::None,
        ));
    }
    if kind != Kind::Tags {
        rows.push(row(
            "one event (report)",
            Cmd {
                // The ledger's one event, as the deploy row: without the sync with
                // `origin` around it (two git processes, 100 ms and more).
                label: Some("git train report success --deployment DEP --offline".into()),
                ..Cmd::new(
                    &bin,
                    &["report", "success", "--deployment", &dep, "--offline"],
                )
            },
            None,
            1,
            Budget::Time(ms(if big { 10 } else { 20 })),
        ));
        rows.push(row(
            "one event (deploy, 3 events)",
            Cmd::new(&bin, &["deploy", "staging", "--yes", "--offline"]),
            None,
            3,
            Budget::Time(ms(if big { 10 } else { 20 })),
        ));
    }
    if kind == Kind::MergeHeavy {
        let below = format!("main~{BELOW_TIP}");
        rows.push(row(
            "deploy 3,000 first-parent commits below the tip, vs the tip",
            Cmd::new(&bin, &["deploy", "staging", &below, "--yes", "--offline"]),
            Some(Cmd::new(
                &bin,
                &["deploy", "staging", "main", "--yes", "--offline"],
            )),
            1,
            Budget::Ratio(2.0),
        ));
    }
    if kind != Kind::Tags {
        rows.push(Row {
            setup: Some(Box::new(wipe)),
            max_runs: big.then_some(10),
            ..row(
                if big {
                    "index rebuild from scratch (.git/train missing)"
                } else {
                    "status with .git/train missing (index rebuilt)"
                },
                status(),
                None,
                1,
                Budget::Time(ms(if big { 1000 } else { 100 })),
            )
        });
    }
    if kind == Kind::MergeHeavy {
        // Last, as it takes the commit-graph away: a clone where nothing (`git gc`,
        // `git maintenance`, `git commit-graph write`) has written one yet. No budget:
        // what git-train costs then, next to git in the same state.
        let work = work.to_path_buf();
        let behind = work.join(".git/train/behind");
        let no_graph = move || {
            let info = work.join(".git/objects/info");
            for path in [info.join("commit-graph"), info.join("commit-graphs")] {
                if path.is_dir() {
                    std::fs::remove_dir_all(&path).map_err(|e| e.to_string())?;
                } else if path.exists() {
                    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        };
        // What status found last is kept in .git/train/behind: the first row is
        // status run again with trunk where it was, the second the first status
        // after trunk moved on from what qa runs by more than it can count (the
        // walk of 15,000 commits).
        let forget = {
            let no_graph = no_graph.clone();
            move || {
                no_graph()?;
                if behind.exists() {
                    std::fs::remove_file(&behind).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        };
        rows.push(Row {
            setup: Some(Box::new(no_graph)),
            ..row(
                "status without a commit-graph (qa 15,000 behind), run again",
                status(),
                Some(git_log()),
                1,
                Budget::None,
            )
        });
        rows.push(Row {
            setup: Some(Box::new(forget)),
            ..row(
                "status without a commit-graph (qa 15,000 behind), nothing known",
                status(),
                Some(git_log()),
                1,
                Budget::None,
            )
        });
    }
    for row in &mut rows {
        eprintln!("bench: timing {} ...", row.train.shown());
        let runs = row.max_runs.map_or(opts.runs, |m| m.min(opts.runs));
        let mut train = Vec::with_capacity(runs);
        let mut git = Vec::with_capacity(runs);
        for round in 0..opts.warmup.min(runs) + runs {
            if let Some(setup) = &row.setup {
                setup()?;
            }
            let t = row.train.time(bench, work)?;
            let g = match &row.git {
                Some(cmd) => Some(cmd.time(bench, work)?),
                None => None,
            };
            if round >= opts.warmup.min(runs) {
                train.push(t);
                git.extend(g);
            }
        }
        if let Some(setup) = &row.setup {
            setup()?;
        }
        row.rss = row.train.peak_rss(bench, work)?;
        row.train_median = median(train);
        row.git_median = (!git.is_empty()).then(|| median(git));
    }
    Ok(rows)
}

/// The fleet: `FLEET` repositories of `FLEET_COMMITS` commits each, deployments on
/// the newest 200 of each, and a per-user config whose watch list names them all.
/// Returns the folder to use as `XDG_CONFIG_HOME`.
fn ensure_fleet(bench: &Bench, rebuild: bool) -> Res<PathBuf> {
    let root = bench.root.join("fleet");
    let home = bench.root.join("fleet-home");
    let ready = root.with_extension("ready");
    if ready.exists() && !rebuild {
        eprintln!(
            "bench: reusing {} (--rebuild builds it again)",
            root.display()
        );
        return Ok(home);
    }
    let _ = std::fs::remove_file(&ready);
    for d in [&root, &home] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| e.to_string())?;
        }
    }
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut watch = Vec::new();
    for n in 0..FLEET {
        let name = format!("service-{n:02}");
        let dir = root.join(&name);
        bench.git(&root, &["init", "-q", "-b", "main", &name])?;
        for (key, value) in [
            ("user.name", "Bench"),
            ("user.email", "bench@example.com"),
            ("notes.displayRef", ledger::DEPLOYS),
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
        ] {
            bench.git(&dir, &["config", key, value])?;
        }
        let trunk = import_trunk(bench, &dir, FLEET_COMMITS, false)?;
        bench.git(&dir, &["update-ref", "-d", "refs/heads/bench-side"])?;
        bench.git(&dir, &["reset", "-q", "--hard", "main"])?;
        let (notes, _) = plan_ledger(&trunk, FLEET_COMMITS - 200, None);
        write_ledger(&dir, notes, &trunk)?;
        bench.git(&dir, &["repack", "-adq"])?;
        bench.git(&dir, &["prune-packed"])?;
        bench.git(&dir, &["commit-graph", "write", "--reachable"])?;
        std::fs::write(dir.join(".train.toml"), TRAIN_TOML).map_err(|e| e.to_string())?;
        watch.push(format!("{:?}", dir.display().to_string()));
    }
    let config = home.join("git-train");
    std::fs::create_dir_all(&config).map_err(|e| e.to_string())?;
    std::fs::write(
        config.join("config.toml"),
        format!(
            "# written by benches/train.rs\nwatch = [{}]\n",
            watch.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(&ready, "fleet\n").map_err(|e| e.to_string())?;
    eprintln!(
        "bench: built the fleet ({FLEET} repositories of {FLEET_COMMITS} commits) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(home)
}

/// `git train status --all` over the fleet, its indexes built first (untimed).
fn measure_fleet(bench: &Bench, home: &Path, opts: &Opts) -> Res<Vec<Row>> {
    let bin = bench.bin.clone();
    let dir = bench.root.clone();
    let git = program("git")?;
    let env = vec![("XDG_CONFIG_HOME".to_string(), home.display().to_string())];
    let (json, _) = {
        let out = bench
            .command(&bin, &dir)
            .env("XDG_CONFIG_HOME", home)
            .args(["status", "--all", "--json"])
            .output()
            .map_err(|e| e.to_string())?;
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.status,
        )
    };
    let json: Value = serde_json::from_str(&json).map_err(|e| format!("status --all: {e}"))?;
    let repos = json["repositories"].as_array().ok_or("no repositories")?;
    let ok = repos
        .iter()
        .filter(|r| {
            r["error"].is_null() && r["environments"].as_array().is_some_and(|e| !e.is_empty())
        })
        .count();
    if ok != FLEET {
        return Err(format!(
            "status --all read {ok} of {FLEET} repositories: {json}"
        ));
    }
    let path = format!(
        "{}:{}",
        bin.parent().ok_or("no bin folder")?.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let direct = Cmd {
        env: env.clone(),
        ..Cmd::new(&bin, &["status", "--all"])
    };
    let mut through = Cmd {
        env: env.clone(),
        ..Cmd::new(&git, &["train", "status", "--all"])
    };
    through.env.push(("PATH".into(), path));
    through.label = Some("git train status --all (through git)".into());
    let row = |what, train| Row {
        what,
        train,
        git: None,
        per: 1,
        budget: Budget::Time(Duration::from_millis(100)),
        setup: None,
        train_median: Duration::ZERO,
        git_median: None,
        rss: 0,
        max_runs: None,
    };
    let mut rows = vec![
        row("status of 20 watched repositories", direct),
        row("status of 20 watched repositories, through git", through),
    ];
    for row in &mut rows {
        eprintln!("bench: timing {} ...", row.train.shown());
        let mut times = Vec::new();
        for round in 0..opts.warmup + opts.runs {
            let t = row.train.time(bench, &dir)?;
            if round >= opts.warmup {
                times.push(t);
            }
        }
        row.train_median = median(times);
        row.rss = row.train.peak_rss(bench, &dir)?;
    }
    Ok(rows)
}

/// Where PATH has `name`.
fn program(name: &str) -> Res<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or(format!("{name} is not on PATH"))
}

/// What a rebuild from scratch starts from: no `.git/train/`, no deployed refs.
fn wipe_index(work: &Path, home: &Path) -> Res<()> {
    let train = work.join(".git").join("train");
    if train.exists() {
        std::fs::remove_dir_all(&train).map_err(|e| e.to_string())?;
    }
    let refs = output(
        Command::new("git")
            .current_dir(work)
            .env("HOME", home)
            .args([
                "for-each-ref",
                "--format=delete %(refname)",
                "refs/train/deployed/",
            ]),
    )?;
    let mut child = Command::new("git")
        .current_dir(work)
        .env("HOME", home)
        .args(["update-ref", "--stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(refs.as_bytes())
        .map_err(|e| e.to_string())?;
    if !child.wait().map_err(|e| e.to_string())?.success() {
        return Err("git update-ref --stdin failed".into());
    }
    Ok(())
}

fn render(kind: Kind, rows: &[Row], opts: &Opts, load: (String, String)) -> String {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let mut out = format!(
        "\n### Corpus `{}`: medians of {} runs after {} warm-ups\n\n\
         Load average (1, 5, 15 min) before: {}; after: {}.\n\n\
         | row | git-train | median | peak RSS | paired with | median | ratio | budget | result |\n\
         |---|---|---:|---:|---|---:|---:|---|---|\n",
        kind.name(),
        opts.runs,
        opts.warmup,
        load.0,
        load.1
    );
    for row in rows {
        let train = if row.per > 1 {
            format!(
                "{} per event ({} / {})",
                ms(row.figure()),
                ms(row.train_median),
                row.per
            )
        } else {
            ms(row.train_median)
        };
        let (git, git_ms) = match (&row.git, row.git_median) {
            (Some(cmd), Some(m)) => (format!("`{}`", cmd.shown()), ms(m)),
            _ => ("-".into(), "-".into()),
        };
        let ratio = row
            .ratio()
            .map(|r| format!("{r:.2}x"))
            .unwrap_or_else(|| "-".into());
        let budget = match row.budget {
            Budget::Ratio(r) => format!("<= {r}x git"),
            Budget::Time(d) if row.per > 1 => format!("<= {} per event", ms(d)),
            Budget::Time(d) => format!("<= {}", ms(d)),
            Budget::None => "-".into(),
        };
        let result = match row.met() {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "-",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {train} | {:.1} MiB | {git} | {git_ms} | {ratio} | {budget} | {result} |",
            row.what,
            row.train.shown(),
            row.rss as f64 / 1024.0
        );
    }
    out
}

/// What the figures were measured on.
fn machine(bench: &Bench) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let kb: u64 = t.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB", kb as f64 / (1u64 << 20) as f64))
        })
        .unwrap_or_else(|| "unknown".into());
    let version = |program: &Path| {
        Command::new(program)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "Machine: {cores} cores ({cpu}), {memory} memory; {}; {}.\n",
        version(Path::new("git")),
        version(&bench.bin)
    )
}

/// The 1, 5 and 15 minute load averages: a busy machine makes every figure slower.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split(' ').take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".into())
}
