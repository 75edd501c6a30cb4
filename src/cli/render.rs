//! Human output of each command. JSON output is the serde form of the same data.

use std::fmt::Write;

use super::ui::Style;
use crate::commands::deploy::{Outcome, Prepared};
use crate::commands::history::History;
use crate::commands::init::Initialized;
use crate::commands::report::Reported;
use crate::commands::stale::{Outcome as Delivered, Stale};
use crate::commands::stats::Stats;
use crate::commands::status::Status;
use crate::domain::time::format_age;
use crate::domain::{CiState, State, Timestamp};

fn ci_mark(s: &Style, ci: CiState) -> String {
    match ci {
        CiState::Success => s.green("✓"),
        CiState::Failure => s.red("✗"),
        CiState::Pending => s.yellow("●"),
        CiState::None => s.dim("·"),
    }
}

pub fn state(s: &Style, state: State) -> String {
    let text = format!("{:<11}", state.as_str());
    match state {
        State::Success => s.green(&text),
        State::Failure | State::Error => s.red(&text),
        State::Inactive => s.dim(&text),
        _ => s.yellow(&text),
    }
}

/// The first seven characters of a sha (all of it if shorter).
fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// One field from the ledger, a commit or a lock: control characters shown escaped
/// so that it stays on its line (the terminal module escapes everything again).
use super::terminal::field as clean;

/// A field in exactly `width` columns (display width): cut with `…` or padded.
fn truncate(text: &str, width: usize) -> String {
    super::width::pad(&clean(text), width)
}

/// The width the flexible column (the subject) gets in lines of `fixed` other
/// columns: what the terminal leaves, at least `min`; without a terminal, `natural`
/// (the longest value, so nothing is cut).
fn flexible(s: &Style, fixed: usize, min: usize, natural: usize) -> usize {
    match s.width {
        Some(cols) => cols.saturating_sub(fixed).max(min).min(natural.max(min)),
        None => natural,
    }
}

/// Every line cut to the terminal's width (nothing without one): for lines with no
/// column of their own to give way.
fn fit(s: &Style, text: String) -> String {
    match s.width {
        Some(cols) => super::width::fit_lines(&text, cols),
        None => text,
    }
}

fn when(t: Timestamp) -> String {
    // 2026-11-25T10:15:02.114Z -> 2026-11-25 10:15Z
    let full = t.to_string();
    format!("{} {}Z", &full[..10], &full[11..16])
}

/// How fresh the ledger is, for people: "ledger synced 3m ago", "ledger never
/// synced: `git train sync`".
pub fn freshness(s: &Style, f: &crate::commands::Freshness, now: Timestamp) -> String {
    match f.synced_at {
        Some(at) => s.dim(&format!(
            "ledger synced {} ago",
            format_age(now.millis_since(at))
        )),
        None => s.yellow("ledger never synced: `git train sync`"),
    }
}

/// A clone that never synced and has no ledger: say so, not "never deployed".
fn no_ledger_yet(f: Option<&crate::commands::Freshness>) -> Option<String> {
    let f = f?;
    (f.synced_at.is_none() && !f.ledger).then(|| {
        format!(
            "no ledger here yet: `git train sync` brings the team's from {}\n",
            clean(&f.remote)
        )
    })
}

pub fn status(s: &Style, st: &Status, now: Timestamp) -> String {
    let mut out = String::new();
    let synced = st
        .synced
        .as_ref()
        .map(|f| format!("  {}", freshness(s, f, now)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} {} at {}{synced}",
        s.bold("trunk"),
        st.trunk,
        short(&st.tip)
    );
    if st.environments.is_empty() {
        if let Some(text) = no_ledger_yet(st.synced.as_ref()) {
            out.push('\n');
            out.push_str(&text);
        }
    }
    if !st.environments.is_empty() {
        out.push('\n');
        let width = st
            .environments
            .iter()
            .map(|e| e.name.len())
            .max()
            .unwrap_or(0)
            .max(3);
        for e in &st.environments {
            let name = s.cyan(&format!("{:<width$}", clean(&e.name)));
            match &e.deployed {
                None => match &e.unfetched {
                    Some(sha) => {
                        let _ = write!(
                            out,
                            "  {name}  {}  {}",
                            short(sha),
                            s.yellow("not fetched yet: run `git fetch`")
                        );
                    }
                    None => {
                        let _ = write!(out, "  {name}  {}", s.dim("never deployed"));
                    }
                },
                Some(d) => {
                    let behind = match (e.behind, e.behind_more) {
                        (Some(0), _) => s.green("up to date"),
                        (Some(n), more) => {
                            let plus = if more { "+" } else { "" };
                            let oldest = e
                                .oldest_undeployed_at
                                .map(|t| format!(", oldest {}", format_age(now.millis_since(t))))
                                .unwrap_or_default();
                            s.yellow(&format!("{n}{plus} behind{oldest}"))
                        }
                        (None, _) => String::new(),
                    };
                    let off = if d.on_trunk { "" } else { " (not on trunk)" };
                    let _ = write!(
                        out,
                        "  {name}  {}{off}  {behind}  {}",
                        short(&d.sha),
                        s.dim(&format!(
                            "by {} {} ago",
                            clean(&d.by),
                            format_age(now.millis_since(d.at))
                        ))
                    );
                }
            }
            if let Some(dep) = &e.in_progress {
                let _ = write!(out, "  {}", s.yellow(&format!("deploying ({dep})")));
            }
            if let Some(f) = &e.failed {
                let why = f
                    .desc
                    .as_deref()
                    .map(|d| format!(": {}", clean(d)))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    "  {}",
                    s.red(&format!(
                        "last deployment {} {} ago ({}{why})",
                        f.state,
                        format_age(now.millis_since(f.at)),
                        short(&f.sha)
                    ))
                );
            }
            out.push('\n');
            if let Some(f) = &e.frozen {
                let why = f
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:width$}  {}",
                    "",
                    s.red(&clean(&format!("frozen until {}{why}", f.until_local)))
                );
            }
            // The lock on a line of its own, under the commit: on a narrow terminal
            // it would otherwise be what gives way.
            if let Some(lock) = &e.lock {
                let reason = lock
                    .lock
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:width$}  {}",
                    "",
                    s.red(&clean(&format!("locked by {}{reason}", lock.lock.by)))
                );
            }
        }
    }
    let mut out = fit(s, out);
    if st.commits.is_empty() {
        return out;
    }
    out.push('\n');
    // CI read from GitHub a while ago: say how long (a few minutes is fresh).
    if let Some(at) = st
        .ci_read_at
        .filter(|at| now.millis_since(*at) > 5 * 60 * 1000)
    {
        let _ = writeln!(
            out,
            "  {}",
            s.dim(&format!(
                "CI as GitHub said {} ago (`git train status --refresh` asks again)",
                format_age(now.millis_since(at))
            ))
        );
    }
    // sha, CI mark, subject, author, age, markers: the subject gives way.
    const AUTHOR: usize = 12;
    let rows: Vec<(String, usize)> = st
        .commits
        .iter()
        .map(|c| {
            let markers: Vec<String> = c
                .deployed_to
                .iter()
                .map(|e| s.cyan(&format!("[{}]", clean(e))))
                .collect();
            let markers = if markers.is_empty() {
                String::new()
            } else {
                format!("  {}", markers.join(" "))
            };
            let w = super::width::of(&markers);
            (markers, w)
        })
        .collect();
    let natural = st
        .commits
        .iter()
        .map(|c| super::width::of(&clean(&c.commit.subject)))
        .max()
        .unwrap_or(0);
    // One subject width for every row, so authors and ages stay in their columns.
    let markers_w = rows.iter().map(|(_, w)| *w).max().unwrap_or(0);
    let fixed = 2 + 7 + 1 + 1 + 1 + 1 + AUTHOR + 1 + 6 + markers_w;
    let subject_w = flexible(s, fixed, 10, natural);
    for (c, (markers, _)) in st.commits.iter().zip(&rows) {
        let _ = writeln!(
            out,
            "  {} {} {} {} {}{markers}",
            s.yellow(c.commit.short()),
            ci_mark(s, c.ci),
            truncate(&c.commit.subject, subject_w),
            s.dim(&truncate(&c.commit.author, AUTHOR)),
            s.dim(&super::width::pad_left(
                &format_age(now.millis_since(c.commit.at)),
                6
            )),
        );
    }
    fit(s, out)
}

pub fn plan(s: &Style, p: &Prepared, now: Timestamp) -> String {
    let mut out = String::new();
    let plan = &p.plan;
    let short = &plan.commit.to_string()[..7];
    let total = plan.train.len() + p.more;
    let headline = if p.first {
        format!("First deployment to {}: {short}", plan.env)
    } else if p.redeploy {
        format!("{} already runs {short}; deploying it again", plan.env)
    } else if plan.rollback {
        format!(
            "Rolling {} back to {short}, taking away {total}{} commit{}:",
            plan.env,
            if p.more_unknown { "+" } else { "" },
            if total == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Deploying {short} to {}: a train of {total}{} commit{}:",
            plan.env,
            if p.more_unknown { "+" } else { "" },
            if total == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(out, "{}", s.bold(&headline));
    if !p.first {
        let natural = plan
            .train
            .iter()
            .map(|c| super::width::of(&clean(&c.subject)))
            .max()
            .unwrap_or(0);
        let bys: Vec<String> = plan
            .train
            .iter()
            .map(|c| {
                let by = format!(
                    "{}, {} ago",
                    clean(&c.author),
                    format_age(now.millis_since(c.at))
                );
                super::width::cut(&by, 30).into_owned()
            })
            .collect();
        // One subject width for every row, so the authors line up.
        let by_w = bys.iter().map(|b| super::width::of(b)).max().unwrap_or(0);
        let subject_w = flexible(s, 2 + 7 + 1 + 1 + by_w, 10, natural);
        for (c, by) in plan.train.iter().zip(&bys) {
            let _ = writeln!(
                out,
                "  {} {} {}",
                s.yellow(c.short()),
                truncate(&c.subject, subject_w),
                s.dim(by)
            );
        }
        if p.more > 0 {
            let _ = writeln!(out, "  {}", s.dim(&format!("... and {} more", p.more)));
        }
    }
    let ci = match p.ci.state {
        _ if p.ci_skipped => s.dim("CI not asked: it ran here successfully before"),
        CiState::Success => s.green("CI passed"),
        CiState::None => s.yellow("no CI status"),
        CiState::Pending => s.yellow("CI pending"),
        CiState::Failure => s.red("CI failed"),
    };
    let _ = writeln!(out, "  {ci}");
    if let Some(reason) = &plan.forced {
        let _ = writeln!(out, "  {}", s.red(&clean(&format!("forced: {reason}"))));
    }
    fit(s, out)
}

pub fn outcome(s: &Style, o: &Outcome) -> String {
    let short = short(&o.sha);
    let kind = if o.rollback { "rollback" } else { "deployment" };
    let mut line = match o.state {
        State::Success => format!(
            "{} {} now runs {short} ({kind} {})",
            s.green("✓"),
            o.env,
            o.dep
        ),
        State::Failure | State::Error => {
            format!(
                "{} {kind} {} of {short} to {} ended in {}",
                s.red("✗"),
                o.dep,
                o.env,
                o.state
            )
        }
        _ => format!(
            "{} {kind} {} of {short} to {} is {}; follow it with `git train history {}`",
            s.yellow("●"),
            o.dep,
            o.env,
            o.state,
            o.env
        ),
    };
    if let Some(from) = &o.moved_from {
        let _ = write!(
            line,
            "\n  {}",
            s.yellow(&format!(
                "asked for {}; GitHub moved the deployment to {}",
                clean(from),
                clean(&o.env)
            ))
        );
    }
    if let (State::Success, Some(url)) = (o.state, &o.url) {
        let _ = write!(line, "\n  {}", clean(url));
    }
    line.push('\n');
    line
}

pub fn history(s: &Style, h: &History, now: Timestamp) -> String {
    let mut out = String::new();
    if h.deployments.is_empty() {
        match no_ledger_yet(h.synced.as_ref()) {
            Some(text) => out.push_str(&text),
            None => out.push_str("no deployments yet\n"),
        }
        if let Some(f) = &h.synced {
            let _ = writeln!(out, "{}", freshness(s, f, now));
        }
        return out;
    }
    let id_w = h
        .deployments
        .iter()
        .map(|d| d.short_id.len())
        .max()
        .unwrap_or(8);
    let env_w = h
        .deployments
        .iter()
        .map(|d| super::width::of(&clean(&d.env)))
        .max()
        .unwrap_or(0);
    let natural = h
        .deployments
        .iter()
        .map(|d| super::width::of(&clean(&d.subject)))
        .max()
        .unwrap_or(0);
    // On a narrow terminal the year and the email's domain give way to the subject.
    let narrow = s.width.is_some_and(|cols| cols < 100);
    let when_w = if narrow { 11 } else { 17 };
    let by_w = if narrow { 12 } else { 20 };
    for d in &h.deployments {
        let took = d
            .duration_s
            .map(|secs| format_age(secs * 1000))
            .unwrap_or_else(|| "-".into());
        let mut marks = Vec::new();
        if d.rollback {
            marks.push(s.yellow("rollback"));
        }
        if let Some(reason) = &d.forced {
            marks.push(s.red(&clean(&format!("forced: {reason}"))));
        }
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!("  {}", marks.join(" "))
        };
        // when, environment, sha, state, duration, who: fixed; the subject gives way.
        let fixed = when_w + 1 + env_w + 1 + 7 + 1 + id_w + 1 + 11 + 1 + 6 + 1 + by_w + 1;
        let marks = match &d.desc {
            Some(desc) => format!("{marks}  {}", s.dim(&clean(&format!("\"{desc}\"")))),
            None => marks,
        };
        let started = when(d.started_at);
        let started = if narrow {
            // 2026-11-25 10:15Z -> 11-25 10:15
            started[5..16].to_string()
        } else {
            started
        };
        let by = match d.by.split_once('@') {
            Some((local, _)) if narrow && !local.is_empty() => local,
            _ => d.by.as_str(),
        };
        let subject_w = flexible(s, fixed + super::width::of(&marks), 10, natural);
        let mut line = format!(
            "{} {} {} {} {} {} {} {}{marks}",
            s.dim(&started),
            s.cyan(&truncate(&d.env, env_w)),
            s.yellow(short(&d.sha)),
            s.dim(&format!("{:<id_w$}", d.short_id)),
            state(s, d.state),
            super::width::pad_left(&took, 6),
            truncate(by, by_w),
            truncate(&d.subject, subject_w)
        );
        if let Some(log) = &d.log {
            let log = format!("  {}", clean(log));
            // The log goes where it fits whole; --json always has it.
            let room = s.width.map_or(usize::MAX, |cols| {
                cols.saturating_sub(super::width::of(line.trim_end()))
            });
            if super::width::of(&log) <= room {
                line = format!("{}{}", line.trim_end(), s.dim(&log));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(f) = &h.synced {
        let _ = writeln!(out, "{}", freshness(s, f, now));
    }
    fit(s, out)
}

/// `git train stale`: a block per environment (what it runs and who deployed it,
/// then the commits that wait, oldest first, and the command that ships them), or
/// "nothing waits"; with `--post`, what became of each digest.
pub fn stale(s: &Style, st: &Stale) -> String {
    let mut out = String::new();
    let now = st.at;
    if st.waiting() == 0 {
        out.push_str("nothing waits\n");
    }
    let name_w = st
        .environments
        .iter()
        .map(|e| super::width::of(&clean(&e.name)))
        .max()
        .unwrap_or(0);
    for e in &st.environments {
        let name = s.cyan(&truncate(&e.name, name_w));
        let older = crate::domain::time::format_exact(e.older_than_ms);
        let head = match (&e.deployed, &e.unfetched, e.undeployed) {
            (_, Some(sha), None) => s.yellow(&format!(
                "runs {}, not fetched yet: run `git fetch`; not counted",
                short(sha)
            )),
            (_, _, None) => s.dim(&format!(
                "never deployed: not counted; `git train deploy {}` starts it",
                clean(&e.name)
            )),
            (_, _, Some(0)) => s.green("up to date"),
            (_, _, Some(n)) if e.waiting.is_empty() => {
                let commits = if n == 1 { "commit" } else { "commits" };
                let plus = if e.complete { "" } else { "+" };
                s.green(&format!(
                    "nothing older than {older} ({n}{plus} newer {commits} not deployed yet)"
                ))
            }
            (_, _, Some(_)) => {
                let n = e.waiting.len();
                let plus = if e.complete { "" } else { "+" };
                let verb = if n == 1 && e.complete {
                    "commit waits"
                } else {
                    "commits wait"
                };
                let oldest = format_age(e.waiting[0].waited_ms);
                s.yellow(&format!(
                    "{n}{plus} {verb} longer than {older}, the oldest {oldest}"
                ))
            }
        };
        // With nothing waiting, one line each under "nothing waits".
        if st.waiting() == 0 {
            let _ = writeln!(out, "  {name}  {head}");
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{name}  {head}");
        if let Some(d) = &e.deployed {
            let off = if d.on_trunk { "" } else { " (not on trunk)" };
            let _ = writeln!(
                out,
                "  {}",
                s.dim(&format!(
                    "runs {}{off}, deployed by {} {} ago",
                    short(&d.sha),
                    clean(&d.by),
                    format_age(now.millis_since(d.at))
                ))
            );
        }
        if e.waiting.is_empty() {
            continue;
        }
        // sha, subject, author, age, pull request: the subject gives way.
        const AUTHOR: usize = 14;
        let prs: Vec<String> = e
            .waiting
            .iter()
            .map(|w| w.pull_request.map(|n| format!("#{n}")).unwrap_or_default())
            .collect();
        let pr_w = prs.iter().map(|p| p.len()).max().unwrap_or(0);
        let subjects: Vec<&str> = e
            .waiting
            .iter()
            .map(|w| without_pull_request(&w.commit.subject, w.pull_request))
            .collect();
        let natural = subjects
            .iter()
            .map(|t| super::width::of(&clean(t)))
            .max()
            .unwrap_or(0);
        let fixed = 2 + 7 + 1 + 1 + AUTHOR + 1 + 6 + if pr_w > 0 { 2 + pr_w } else { 0 };
        let subject_w = flexible(s, fixed, 10, natural);
        for ((w, subject), pr) in e.waiting.iter().zip(&subjects).zip(&prs) {
            let mut line = format!(
                "  {} {} {} {}",
                s.yellow(w.commit.short()),
                truncate(subject, subject_w),
                s.dim(&truncate(&w.commit.author, AUTHOR)),
                super::width::pad_left(&format_age(w.waited_ms), 6),
            );
            if pr_w > 0 {
                let _ = write!(line, "  {}", s.cyan(&super::width::pad(pr, pr_w)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let newer = e.undeployed.unwrap_or(0).saturating_sub(e.waiting.len());
        let with = match newer {
            0 => String::new(),
            1 => " (with 1 newer commit)".into(),
            n => format!(" (with {n} newer commits)"),
        };
        let _ = writeln!(
            out,
            "  {}",
            s.dim(&format!(
                "`git train deploy {}` ships them{with}",
                clean(&e.name)
            ))
        );
    }
    let digests: Vec<_> = st
        .environments
        .iter()
        .filter_map(|e| e.digest.as_ref().map(|d| (e, d)))
        .collect();
    if !digests.is_empty() || (st.waiting() == 0 && st.posting) {
        out.push('\n');
    }
    if st.waiting() == 0 && st.posting {
        out.push_str("nothing posted\n");
    }
    for (e, deliveries) in digests {
        let env = clean(&e.name);
        let of = |outcome: Delivered| -> Vec<String> {
            deliveries
                .iter()
                .filter(|d| d.outcome == outcome)
                .map(|d| clean(&d.channel).into_owned())
                .collect()
        };
        if deliveries.is_empty() {
            let _ = writeln!(
                out,
                "{env} has no channels: nothing posted (`[env.{env}] channels` in .train.toml)"
            );
        }
        let posted = of(Delivered::Posted);
        if !posted.is_empty() {
            let _ = writeln!(
                out,
                "{} posted the digest of {env} to {}",
                s.green("✓"),
                posted.join(", ")
            );
        }
        let already = of(Delivered::AlreadyPosted);
        if !already.is_empty() {
            let _ = writeln!(
                out,
                "{} {} got today's digest of {env} already: not posted again (--again posts it)",
                s.dim("·"),
                already.join(", ")
            );
        }
        let failed = of(Delivered::Failed);
        if !failed.is_empty() {
            let _ = writeln!(
                out,
                "{} could not post the digest of {env} to {}",
                s.red("✗"),
                failed.join(", ")
            );
        }
    }
    fit(s, out)
}

/// A subject without the `(#123)` its pull-request column shows.
fn without_pull_request(subject: &str, pr: Option<u64>) -> &str {
    let Some(n) = pr else {
        return subject;
    };
    subject
        .trim_end()
        .strip_suffix(&format!("(#{n})"))
        .map(str::trim_end)
        .filter(|rest| !rest.is_empty())
        .unwrap_or(subject)
}

/// A duration in its two largest units: `45s`, `12m 30s`, `3h 12m`, `2d 4h`.
fn span(ms: f64) -> String {
    let sign = if ms < 0.0 { "-" } else { "" };
    let s = (ms.abs() / 1000.0).round() as i64;
    let (big, small) = match s {
        0..=59 => return format!("{sign}{s}s"),
        60..=3599 => ((s / 60, "m"), (s % 60, "s")),
        3600..=86_399 => ((s / 3600, "h"), (s % 3600 / 60, "m")),
        _ => ((s / 86_400, "d"), (s % 86_400 / 3600, "h")),
    };
    if small.0 == 0 {
        format!("{sign}{}{}", big.0, big.1)
    } else {
        format!("{sign}{}{} {}{}", big.0, big.1, small.0, small.1)
    }
}

/// Bars at most this many characters wide; longer windows put several weeks in a bar.
const SPARK_WIDTH: usize = 60;

/// One bar per week (or per group of weeks, grouped from the newest), oldest first:
/// a space for none, `▂` to `█` from one deployment up to the most.
fn sparkline(weekly: &[usize]) -> (String, usize) {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let per = weekly.len().div_ceil(SPARK_WIDTH).max(1);
    let mut groups: Vec<usize> = weekly.rchunks(per).map(|c| c.iter().sum()).collect();
    groups.reverse();
    let max = groups.iter().copied().max().unwrap_or(0);
    let bars = groups
        .iter()
        .map(|&n| match n {
            // A week without deployments draws nothing, not the lowest bar.
            0 => ' ',
            _ if max <= 1 => BARS[7],
            _ => BARS[1 + (n - 1) * 6 / (max - 1)],
        })
        .collect();
    (bars, per)
}

pub fn stats(s: &Style, st: &Stats) -> String {
    let mut out = String::new();
    let days = st.window.days;
    let length = if days.fract() == 0.0 {
        format!("{days} day{}", if days == 1.0 { "" } else { "s" })
    } else {
        format!("{days:.1} days")
    };
    let _ = writeln!(
        out,
        "{} {}",
        s.cyan(&st.env),
        s.dim(&format!(
            "from {} to {} ({length})",
            when(st.window.since),
            when(st.window.until)
        ))
    );
    let f = &st.frequency;
    let lt = &st.lead_time;
    let cfr = &st.change_failure_rate;
    let ttr = &st.time_to_restore;
    let tr = &st.train;
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let frequency = format!(
        "{:.2} a day, {:.1} a week; deployed on {} of {} days",
        f.per_day, f.per_week, f.deploy_days, f.days
    );
    let lead = match (lt.median_s, lt.p90_s) {
        (Some(median), Some(p90)) => format!(
            "median {}, p90 {} ({})",
            span(median * 1000.0),
            span(p90 * 1000.0),
            plural(lt.commits, "commit", "commits")
        ),
        _ => "no commits deployed".into(),
    };
    let failure = match cfr.rate {
        Some(rate) => format!(
            "{:.1}% ({} of {})",
            rate * 100.0,
            cfr.failed_changes,
            plural(cfr.deployments, "deployment", "deployments")
        ),
        None => "no finished deployments".into(),
    };
    let restore = match ttr.median_s {
        Some(median) => {
            let mut text = format!(
                "median {} ({} restored",
                span(median * 1000.0),
                ttr.restored
            );
            if ttr.unrestored > 0 {
                let _ = write!(text, ", {} not yet", ttr.unrestored);
            }
            text.push(')');
            text
        }
        None if ttr.unrestored > 0 => format!("{} not restored yet", ttr.unrestored),
        None => "no failures".into(),
    };
    let train = match (tr.median, tr.max) {
        (Some(median), Some(max)) => format!(
            "median {median}, max {} ({})",
            plural(max, "commit", "commits"),
            plural(tr.deployments, "deployment", "deployments")
        ),
        _ => "no trains".into(),
    };
    let (bars, per) = sparkline(&f.weekly);
    let weeks = plural(f.weekly.len(), "week", "weeks");
    let bar_note = if per == 1 {
        format!("{weeks}, oldest first")
    } else {
        format!("{weeks}, {per} a bar, oldest first")
    };
    let rows = [
        ("deployment frequency", frequency),
        ("lead time for changes", lead),
        ("change failure rate", failure),
        ("time to restore", restore),
        ("train", train),
        (
            "deployments per week",
            format!("{bars}  {}", s.dim(&bar_note)),
        ),
    ];
    out.push('\n');
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:<22} {value}");
    }
    out
}

pub fn init(i: &Initialized) -> String {
    let mut out = String::new();
    if i.changed.is_empty() {
        if i.uninstalled {
            out.push_str("git-train is not set up in this repository: nothing to take out\n");
        } else {
            let hooks: Vec<String> = i
                .hooks
                .iter()
                .filter(|h| h.action == crate::hooks::Action::Unchanged)
                .map(|h| format!("{} hook: {}", h.name, h.path))
                .collect();
            let also = if hooks.is_empty() {
                String::new()
            } else {
                format!(" ({})", hooks.join(", "))
            };
            let _ = writeln!(
                out,
                "git-train is already set up in this repository{also}; nothing changed"
            );
        }
    }
    for c in &i.changed {
        let _ = writeln!(out, "{c}");
    }
    out
}

/// A push of trunk left an environment over its `max_train` or `stale_after`.
pub fn pre_push_warning(
    e: &crate::commands::hook::EnvTrain,
    trunk: Option<&str>,
    now: Timestamp,
) -> String {
    let n = e.undeployed;
    let mut out = format!(
        "after this push, {} lacks {n}{} commit{} of {}",
        e.name,
        if e.more { "+" } else { "" },
        if n == 1 { "" } else { "s" },
        trunk.unwrap_or("trunk")
    );
    if let (true, Some(max)) = (e.too_long, e.max_train) {
        let _ = write!(out, ", more than max_train = {max}");
    }
    if let Some(c) = &e.oldest {
        let subject: String = if c.subject.chars().count() > 50 {
            c.subject.chars().take(49).chain(['…']).collect()
        } else {
            c.subject.clone()
        };
        let _ = write!(
            out,
            "; the oldest{}, {} \"{subject}\", is {} old",
            if e.more { " counted" } else { "" },
            c.short(),
            format_age(now.millis_since(c.at))
        );
    }
    if let (true, Some(limit)) = (e.too_old, e.stale_after) {
        let limit = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        let _ = write!(out, ", older than stale_after = {}", format_age(limit));
    }
    let _ = write!(out, "\n  `git train deploy {}` ships them", e.name);
    out
}

pub fn never_deployed(e: &crate::commands::hook::EnvTrain) -> String {
    format!(
        "git-train: {} was never deployed, so its train is not counted; `git train deploy {}` starts it",
        e.name, e.name
    )
}

pub fn channel_tested(t: &crate::commands::channels::Tested) -> String {
    let gets = if t.environments.is_empty() {
        "no environment posts there yet".to_string()
    } else {
        format!("it gets the deployments of {}", t.environments.join(", "))
    };
    format!(
        "posted a test message to channel {} ({}); {gets}\n",
        t.channel, t.kind
    )
}

pub fn reported(r: &Reported) -> String {
    let verb = if r.posted { "posted" } else { "recorded" };
    let mut out = match &r.dep {
        Some(dep) => format!(
            "{verb} {} for deployment {dep} to {} ({})\n",
            r.state,
            clean(&r.name),
            short(&r.sha)
        ),
        None => format!(
            "{verb} {} {} on {}\n",
            clean(&r.name),
            r.state,
            short(&r.sha)
        ),
    };
    if r.posted && !r.recorded {
        let _ = writeln!(
            out,
            "  GitHub accepted it; commit {} is not in this clone, so nothing was written here (`git fetch` and `git train sync` bring it)",
            short(&r.sha)
        );
    }
    if r.truncated {
        out.push_str("  the description was cut to GitHub's 140 characters\n");
    }
    out
}

pub fn synced(s: &crate::commands::sync::Synced) -> String {
    let mut parts = Vec::new();
    for l in &s.ledgers {
        let merged = match l.merged {
            Some(crate::ledger::Merged::Merged) => "merged",
            Some(crate::ledger::Merged::FastForward) => "fast-forwarded",
            _ => "up to date",
        };
        let pushed = if l.pushed { ", pushed" } else { "" };
        parts.push(format!("{} {merged}{pushed}", l.name));
    }
    let mut out = match &s.remote {
        Some(remote) => format!(
            "synced with {remote}: {}; {}\n",
            parts.join(", "),
            match s.locks {
                0 => "no locks".to_string(),
                1 => "1 lock".to_string(),
                n => format!("{n} locks"),
            }
        ),
        None => String::new(),
    };
    if let Some(i) = &s.imported {
        out.push_str(&format!(
            "GitHub: {} imported, {} under way refreshed\n",
            match i.deployments {
                1 => "1 deployment".to_string(),
                n => format!("{n} deployments"),
            },
            i.refreshed
        ));
    }
    out
}

pub fn lock_outcome(o: &crate::commands::lock::LockOutcome) -> String {
    let scope = if o.shared { "" } else { ", local only" };
    match o.action {
        "taken" if o.shared => format!("locked {}\n", o.env),
        "taken" => format!("locked {} (local only)\n", o.env),
        "already_yours" if o.shared => format!("you already hold the lock on {}\n", o.env),
        "already_yours" => format!("you already hold the lock on {} (local only)\n", o.env),
        _ => format!(
            "unlocked {} (was locked by {}{scope})\n",
            o.env,
            clean(&o.lock.lock.by)
        ),
    }
}

pub fn locks(s: &Style, l: &crate::commands::lock::LockList, now: Timestamp) -> String {
    let synced = l
        .synced
        .as_ref()
        .map(|f| format!("{}\n", freshness(s, f, now)))
        .unwrap_or_default();
    if l.locks.is_empty() {
        return format!("no locks\n{synced}");
    }
    let mut out = String::new();
    for h in &l.locks {
        let age = h
            .since()
            .map(|t| format_age(now.millis_since(t)))
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(
            out,
            "{} locked by {} for {age}{}{}",
            s.cyan(&clean(&h.lock.env)),
            clean(&h.lock.by),
            h.lock
                .reason
                .as_deref()
                .map(|r| format!(": {}", clean(r)))
                .unwrap_or_default(),
            h.mismatch()
                .map(|m| format!(" ({})", s.yellow(&clean(&m))))
                .unwrap_or_default()
        );
    }
    out.push_str(&synced);
    out
}

pub fn watch_list(w: &crate::commands::daemon::WatchList) -> String {
    let line = match (w.watched, w.changed) {
        (true, true) => format!("the daemon now watches {}", w.repository),
        (true, false) => format!("the daemon already watches {}", w.repository),
        (false, true) => format!("the daemon no longer watches {}", w.repository),
        (false, false) => format!("the daemon did not watch {}", w.repository),
    };
    format!("{line} (watch list: {})\n", w.config)
}

pub fn service(s: &crate::commands::daemon::Service, installed: bool) -> String {
    let what = match s.kind {
        crate::daemon::service::Kind::Systemd => "systemd user unit",
        crate::daemon::service::Kind::Launchd => "launchd agent",
    };
    let mut out = match (installed, s.changed) {
        (true, true) => format!(
            "installed the {what} {}: it runs `{} daemon` at login\n",
            s.path.display(),
            s.program.display()
        ),
        (true, false) => format!(
            "the {what} {} was already installed; it runs `{} daemon`\n",
            s.path.display(),
            s.program.display()
        ),
        (false, true) if s.stopped => {
            format!("uninstalled the {what} {}\n", s.path.display())
        }
        (false, true) => format!(
            "removed the {what} {}, but the daemon could not be stopped: it may still run until you log out\n",
            s.path.display()
        ),
        (false, false) => format!("no {what} to uninstall ({})\n", s.path.display()),
    };
    for c in &s.commands {
        let _ = writeln!(out, "  ran `{c}`");
    }
    if installed {
        // A service does not inherit the shell's GH_TOKEN.
        let file = match s.kind {
            crate::daemon::service::Kind::Systemd => {
                ", or a line GH_TOKEN=... in ~/.config/git-train/env (the unit's EnvironmentFile; chmod 600)"
            }
            crate::daemon::service::Kind::Launchd => "",
        };
        let _ = writeln!(
            out,
            "  GitHub token: the service does not see your shell's GH_TOKEN; it uses `gh auth token`, or `git credential fill` for the API host{file}"
        );
    }
    out
}

/// `status --all`: a block per repository, a line per environment.
pub fn status_all(s: &Style, all: &crate::commands::fleet::AllStatus, now: Timestamp) -> String {
    let mut out = String::new();
    if all.repositories.is_empty() {
        return "the watch list is empty: `git train watch PATH` adds a repository\n".into();
    }
    for (i, r) in all.repositories.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let head = match (&r.error, &r.trunk) {
            (Some(e), _) => format!("{}  {}", s.bold(&clean(&r.name)), s.red(&clean(e))),
            (None, Some(t)) => {
                let synced = r
                    .synced
                    .as_ref()
                    .map(|f| format!("  {}", freshness(s, f, now)))
                    .unwrap_or_default();
                format!("{}  {}{synced}", s.bold(&clean(&r.name)), s.dim(&clean(t)))
            }
            (None, None) => s.bold(&clean(&r.name)),
        };
        let _ = writeln!(out, "{head}");
        if r.error.is_none() && r.environments.is_empty() {
            let _ = writeln!(out, "  {}", s.dim("never deployed"));
        }
        let width = r
            .environments
            .iter()
            .map(|e| super::width::of(&clean(&e.env.name)))
            .max()
            .unwrap_or(0);
        for e in &r.environments {
            let env = &e.env;
            let mut line = format!("  {}", s.cyan(&truncate(&env.name, width)));
            match &env.deployed {
                None => line.push_str(&format!("  {}", s.dim("never deployed"))),
                Some(d) => {
                    line.push_str(&format!("  {}", s.yellow(short(&d.sha))));
                    match (env.behind, env.behind_more) {
                        (Some(0), _) => line.push_str(&format!("  {}", s.green("up to date"))),
                        (Some(n), more) => {
                            let oldest = env
                                .oldest_undeployed_at
                                .map(|t| format!(", oldest {}", format_age(now.millis_since(t))))
                                .unwrap_or_default();
                            line.push_str(&format!(
                                "  {}",
                                s.yellow(&format!(
                                    "{n}{} behind{oldest}",
                                    if more { "+" } else { "" }
                                ))
                            ));
                        }
                        (None, _) => {}
                    }
                }
            }
            if let Some(dep) = &env.in_progress {
                line.push_str(&format!("  {}", s.yellow(&format!("deploying ({dep})"))));
            }
            if let Some(f) = &e.failed {
                let why = f
                    .desc
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!(
                        "last deployment {} {}{why}",
                        short(&f.sha),
                        f.state
                    )))
                ));
            }
            if let Some(lock) = &env.lock {
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!("locked by {}", lock.lock.by)))
                ));
            }
            if let Some(f) = &env.frozen {
                line.push_str(&format!(
                    "  {}",
                    s.red(&clean(&format!("frozen until {}", f.until_local)))
                ));
            }
            let _ = writeln!(out, "{line}");
        }
    }
    fit(s, out)
}

/// `history --all`: `history` with the repository first on each line.
pub fn history_all(s: &Style, h: &crate::commands::fleet::AllHistory) -> String {
    let mut out = String::new();
    let name_w = h
        .deployments
        .iter()
        .map(|d| super::width::of(&clean(&d.repository)))
        .max()
        .unwrap_or(0);
    for d in &h.deployments {
        let i = &d.item;
        let took = i
            .duration_s
            .map(|secs| format_age(secs * 1000))
            .unwrap_or_else(|| "-".into());
        let mut line = format!(
            "{} {} {} {} {} {} {} {}",
            s.dim(&when(i.started_at)),
            s.bold(&truncate(&d.repository, name_w)),
            s.cyan(&clean(&i.env)),
            s.yellow(short(&i.sha)),
            state(s, i.state),
            super::width::pad_left(&took, 6),
            clean(&i.by),
            clean(&i.subject)
        );
        if i.rollback {
            line.push_str(&format!("  {}", s.yellow("rollback")));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if h.deployments.is_empty() {
        out.push_str("no deployments yet\n");
    }
    for u in &h.unreadable {
        let _ = writeln!(
            out,
            "{}",
            s.red(&clean(&format!("{}: not read: {}", u.repository, u.error)))
        );
    }
    fit(s, out)
}

/// `sync --all`: a line per repository.
pub fn synced_all(all: &crate::commands::fleet::AllSynced) -> String {
    let mut out = String::new();
    for r in &all.repositories {
        let mark = if r.ok { "✓" } else { "✗" };
        let _ = writeln!(out, "{mark} {}: {}", clean(&r.name), clean(&r.message));
    }
    if all.repositories.is_empty() {
        out.push_str("the watch list is empty: `git train watch PATH` adds a repository\n");
    }
    out
}
