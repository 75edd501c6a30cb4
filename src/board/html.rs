//! The board's pages as HTML. Every text taken from commits, the ledger, locks or
//! config goes through `esc`, the one escaping function, after `clip` has bounded
//! it; links are made only from http(s) URLs without user info (`link`). The pages
//! carry no inline script or style (the Content-Security-Policy forbids both): the
//! stylesheet and the script are served by the binary (`assets`).

use std::fmt::Write;

use crate::commands::board::{
    DeploymentPage, Gap, HistoryPage, Lane, Overview, Source, StatsPage, Waiter, Waiting,
    TRAIN_SHOWN,
};
use crate::commands::history::Item;
use crate::domain::time::format_age;
use crate::domain::{CiState, State, Timestamp};

/// The longest text shown of one field (a subject, a reason, a name); a hostile
/// ledger's megabyte line shows as its first characters and `…`.
const FIELD: usize = 200;
/// The longest URL linked.
const URL_MAX: usize = 2_000;

/// Writes `text` escaped for HTML text and attribute values alike. Control
/// characters and bidirectional overrides are shown as `\u{..}`, as on the
/// terminal, so that text cannot hide or reorder what is around it.
pub fn esc(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() || is_bidi_control(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// At most `max` characters of `text`, with `…` when cut.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]).into(),
        None => text.into(),
    }
}

/// A field from the ledger, a commit or a lock: clipped, escaped.
fn field(out: &mut String, text: &str) {
    esc(out, &clip(text, FIELD));
}

/// The URL, when it is one a page may link to: http or https, no user name or
/// password (`http://127.0.0.1:x@evil`), not absurdly long.
pub fn link(text: &str) -> Option<url::Url> {
    if text.len() > URL_MAX {
        return None;
    }
    let url = url::Url::parse(text).ok()?;
    let fine = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.host().is_some();
    fine.then_some(url)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn sha(out: &mut String, sha: &str) {
    out.push_str("<code class=\"sha\" title=\"");
    field(out, sha);
    out.push_str("\">");
    field(out, short(sha));
    out.push_str("</code>");
}

/// `3h ago`, with the instant itself for machines and on hover.
fn ago(out: &mut String, at: Timestamp, now: Timestamp) {
    let _ = write!(
        out,
        "<time datetime=\"{at}\" title=\"{}\">{} ago</time>",
        when(at),
        format_age(now.millis_since(at))
    );
}

/// 2026-11-25 10:15 UTC
fn when(t: Timestamp) -> String {
    let full = t.to_string();
    format!("{} {} UTC", &full[..10], &full[11..16])
}

/// 2026-11-25 10:15:02 UTC
fn when_exactly(t: Timestamp) -> String {
    let full = t.to_string();
    format!("{} {} UTC", &full[..10], &full[11..19])
}

fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// A commit's subject; on GitHub a squash merge's `(#123)` becomes a link to the
/// pull request.
fn subject(out: &mut String, text: &str, web: Option<&str>) {
    out.push_str("<span class=\"subject\">");
    match (crate::commands::board::pull_request(text), web) {
        (Some(n), Some(web)) => {
            let suffix = format!("(#{n})");
            let bare = text
                .trim_end()
                .strip_suffix(&suffix)
                .unwrap_or(text)
                .trim_end();
            field(out, bare);
            out.push_str("</span> <a class=\"pr\" href=\"");
            esc(out, web);
            let _ = write!(out, "/pull/{n}\" title=\"pull request {n}\">#{n}</a>");
        }
        _ => {
            field(out, text);
            out.push_str("</span>");
        }
    }
}

fn ci_mark(out: &mut String, ci: CiState) {
    let (glyph, label) = match ci {
        CiState::Success => ("✓", "CI passed"),
        CiState::Failure => ("✗", "CI failed"),
        CiState::Pending => ("●", "CI running"),
        CiState::None => ("○", "no CI status"),
    };
    let _ = write!(
        out,
        "<span class=\"ci ci-{}\" title=\"{label}\" role=\"img\" aria-label=\"{label}\">{glyph}</span>",
        ci.as_str()
    );
}

fn state_class(state: State) -> &'static str {
    match state {
        State::Success => "ok",
        State::Failure | State::Error => "bad",
        State::Queued | State::Pending | State::InProgress => "run",
        State::Inactive => "off",
    }
}

fn state_badge(out: &mut String, state: State) {
    let _ = write!(
        out,
        "<span class=\"state {}\">{}</span>",
        state_class(state),
        state.as_str().replace('_', " ")
    );
}

/// Where a site's pages live: "" for the one repository, `/r/N` with `--all`.
pub struct Site<'a> {
    pub base: &'a str,
    pub name: &'a str,
}

impl Site<'_> {
    fn href(&self, out: &mut String, path: &str) {
        esc(out, self.base);
        esc(out, path);
    }
}

/// Which page the navigation marks as the current one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    History,
    Stats,
    None,
}

/// A whole page around `main`: the navigation of `site` (none on `--all`'s page of
/// every repository), the notes from reading the ledger, the footer.
pub fn page(
    title: &str,
    site: Option<&Site>,
    tab: Tab,
    multi: bool,
    main: &str,
    warnings: &[String],
    now: Timestamp,
) -> String {
    let mut out = String::with_capacity(main.len() + 2048);
    out.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\"><title>",
    );
    field(&mut out, title);
    out.push_str(
        " · git train board</title>\
         <link rel=\"stylesheet\" href=\"/assets/board.css\">\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\
         <script src=\"/assets/board.js\" defer></script></head>\
         <body data-events=\"/events\"><header class=\"top\"><a class=\"brand\" href=\"/\">git train board</a>",
    );
    if let Some(site) = site {
        out.push_str("<nav aria-label=\"pages\">");
        if multi {
            out.push_str("<span class=\"repo-name\">");
            field(&mut out, site.name);
            out.push_str("</span>");
        }
        for (t, path, label) in [
            (Tab::Overview, "/", "Overview"),
            (Tab::History, "/history", "History"),
            (Tab::Stats, "/stats", "Stats"),
        ] {
            out.push_str("<a href=\"");
            site.href(&mut out, path);
            out.push('"');
            if t == tab {
                out.push_str(" aria-current=\"page\"");
            }
            let _ = write!(out, ">{label}</a>");
        }
        out.push_str("</nav>");
    } else if multi {
        out.push_str("<nav aria-label=\"pages\"><a href=\"/\" aria-current=\"page\">All repositories</a></nav>");
    }
    out.push_str(
        "<span id=\"live\" class=\"live\" title=\"reload to see the news\">static</span></header>\
         <main id=\"main\">",
    );
    if !warnings.is_empty() {
        out.push_str("<aside class=\"warnings\"><h2>Notes from reading the ledger</h2><ul>");
        for w in warnings.iter().take(10) {
            out.push_str("<li>");
            field(&mut out, w);
            out.push_str("</li>");
        }
        out.push_str("</ul></aside>");
    }
    out.push_str(main);
    let _ = writeln!(
        out,
        "</main><footer>read-only · rendered <time datetime=\"{now}\">{}</time> · \
         updates live while this page is open</footer></body></html>",
        when(now)
    );
    out
}

/// An error shown in place of a page.
pub fn error(message: &str, hints: &[String]) -> String {
    let mut out = String::from("<section class=\"error\"><h1>");
    field(&mut out, message);
    out.push_str("</h1>");
    for h in hints {
        out.push_str("<p>");
        field(&mut out, h);
        out.push_str("</p>");
    }
    out.push_str("</section>");
    out
}

/// One repository's overview: the trunk, then each lane with the train into it.
pub fn overview(site: &Site, o: &Overview, multi: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str("<section class=\"overview\">");
    let heading = if multi { "h2" } else { "h1" };
    let _ = write!(out, "<{heading} class=\"repo-title\">");
    if multi {
        out.push_str("<a href=\"");
        site.href(&mut out, "/");
        out.push_str("\">");
        field(&mut out, site.name);
        out.push_str("</a>");
    } else {
        field(&mut out, site.name);
    }
    out.push_str(" <small>");
    field(&mut out, &o.trunk);
    out.push_str(" at ");
    sha(&mut out, &o.tip);
    let _ = write!(out, "</small></{heading}>");

    if o.lanes.is_empty() {
        out.push_str(
            "<p class=\"empty\">No environments yet: add <code>[env.NAME]</code> to \
             <code>.train.toml</code>, or deploy with <code>git train deploy ENV</code>.</p>",
        );
    }
    out.push_str("<ol class=\"pipeline\">");
    for lane in &o.lanes {
        train(&mut out, lane, o);
        lane_card(&mut out, site, lane, o);
    }
    out.push_str("</ol>");

    if !o.recent.is_empty() {
        out.push_str("<h2 class=\"sub\">Latest deployments <a class=\"all\" href=\"");
        site.href(&mut out, "/history");
        out.push_str("\">all</a></h2>");
        history_table(&mut out, site, &o.recent, o.web.as_deref(), o.now);
    }
    out.push_str("</section>");
    out
}

fn train(out: &mut String, lane: &Lane, o: &Overview) {
    let w: &Waiting = &lane.waiting;
    let env = &lane.status.name;
    let _ = write!(out, "<li class=\"train\" data-to=\"");
    field(out, env);
    out.push_str("\"><h3>");
    let count = match (w.total, w.gap) {
        (_, Some(Gap::NeverDeployed)) => None,
        (Some(n), _) => Some(n),
        (None, _) => Some(w.commits.len()),
    };
    match count {
        Some(0) => out.push_str("Nothing waiting for "),
        Some(n) => {
            let plus = if w.more { "+" } else { "" };
            let _ = write!(
                out,
                "<span class=\"count\">{n}{plus}</span> commit{} waiting for ",
                if n == 1 && !w.more { "" } else { "s" }
            );
        }
        None => out.push_str("Everything waits for "),
    }
    field(out, env);
    out.push_str(" <small>from ");
    match &w.source {
        Source::Trunk(t) => field(out, t),
        Source::Env(e) => field(out, e),
    }
    if let Some(at) = w.oldest_at {
        out.push_str(", oldest ");
        let _ = write!(
            out,
            "<time datetime=\"{at}\" title=\"{}\">{}</time>",
            when(at),
            format_age(o.now.millis_since(at))
        );
    }
    if let Some(ms) = lane.stale_after_ms {
        let _ = write!(out, ", stale after {}", format_age(ms));
    }
    out.push_str("</small></h3>");
    match w.gap {
        Some(Gap::SourceEmpty) => {
            out.push_str("<p class=\"gap\">");
            if let Source::Env(e) = &w.source {
                field(out, e);
            }
            out.push_str(" runs nothing yet.</p>");
        }
        Some(Gap::Ahead) => {
            out.push_str("<p class=\"gap\">");
            field(out, env);
            out.push_str(" runs a newer commit than ");
            if let Source::Env(e) = &w.source {
                field(out, e);
            }
            out.push_str(" (a forced deploy, or a rollback there).</p>");
        }
        Some(Gap::OffTrunk) => {
            out.push_str("<p class=\"gap\">");
            field(out, env);
            out.push_str(" runs a commit that is not on trunk.</p>");
        }
        Some(Gap::NeverDeployed) | None => {}
    }
    if !w.commits.is_empty() {
        out.push_str("<ol class=\"commits\">");
        for c in &w.commits {
            commit_row(out, c, o);
        }
        out.push_str("</ol>");
    }
    let shown = w.commits.len();
    let hidden = match w.total {
        Some(n) => n.saturating_sub(shown),
        None if shown >= TRAIN_SHOWN => 1,
        None => 0,
    };
    if hidden > 0 {
        out.push_str("<p class=\"more\">");
        if w.total.is_some() {
            let plus = if w.more { "+" } else { "" };
            let _ = write!(out, "and {hidden}{plus} older");
        } else {
            out.push_str("and older ones");
        }
        out.push_str(": <code>git log --first-parent ");
        if let Some(d) = &lane.status.deployed {
            field(out, short(&d.sha));
            out.push_str("..");
        }
        match &w.source {
            Source::Trunk(t) => field(out, t),
            Source::Env(e) => {
                out.push_str("refs/train/deployed/");
                field(out, e);
            }
        }
        out.push_str("</code></p>");
    }
}

fn commit_row(out: &mut String, c: &Waiter, o: &Overview) {
    out.push_str("<li class=\"commit");
    if c.stale {
        out.push_str(" stale");
    }
    out.push_str("\">");
    ci_mark(out, c.ci);
    sha(out, &c.commit.sha);
    out.push(' ');
    subject(out, &c.commit.subject, o.web.as_deref());
    out.push_str(" <span class=\"meta\"><span class=\"author\">");
    field(out, &c.commit.author);
    out.push_str("</span> ");
    ago(out, c.commit.at, o.now);
    if c.stale {
        out.push_str(" <span class=\"tag stale-tag\">stale</span>");
    }
    out.push_str("</span></li>");
}

fn lane_card(out: &mut String, site: &Site, lane: &Lane, o: &Overview) {
    let st = &lane.status;
    let class = if lane.running.is_some() {
        "run"
    } else if lane.failed.is_some() {
        "bad"
    } else if st.deployed.is_some() {
        "ok"
    } else {
        "off"
    };
    let _ = write!(out, "<li class=\"lane {class}\" data-env=\"");
    field(out, &st.name);
    out.push_str("\"><div class=\"lane-head\"><h2>");
    field(out, &st.name);
    out.push_str("</h2>");
    if lane.running.is_some() {
        out.push_str("<span class=\"tag run\">deploying</span>");
    } else if lane.failed.is_some() {
        out.push_str("<span class=\"tag bad\">last deployment failed</span>");
    }
    match (st.behind, &st.deployed) {
        (Some(0), Some(_)) => out.push_str("<span class=\"tag ok\">up to date</span>"),
        (Some(n), Some(_)) => {
            let plus = if st.behind_more { "+" } else { "" };
            let _ = write!(out, "<span class=\"tag\">{n}{plus} behind trunk</span>");
        }
        _ => {}
    }
    out.push_str("</div>");

    match (&st.deployed, &st.unfetched) {
        (Some(d), _) => {
            out.push_str("<p class=\"runs\">runs ");
            sha(out, &d.sha);
            if let Some(s) = lane.subject.as_deref().filter(|s| !s.is_empty()) {
                out.push(' ');
                subject(out, s, o.web.as_deref());
            }
            if !d.on_trunk {
                out.push_str(" <span class=\"tag\">not on trunk</span>");
            }
            out.push_str("</p><p class=\"who\">deployed by ");
            field(out, &d.by);
            out.push(' ');
            ago(out, d.at, o.now);
            out.push_str(" · <a href=\"");
            site.href(out, "/deploy/");
            field(out, &d.dep);
            out.push_str("\">details</a></p>");
        }
        (None, Some(unfetched)) => {
            out.push_str("<p class=\"runs\">runs ");
            sha(out, unfetched);
            out.push_str(
                " <span class=\"tag\">not fetched yet: run <code>git fetch</code></span></p>",
            );
        }
        (None, None) => out.push_str("<p class=\"runs none\">never deployed</p>"),
    }

    if let Some(r) = &lane.running {
        out.push_str("<p class=\"running\"><span class=\"state run\">");
        esc(out, &r.state.as_str().replace('_', " "));
        out.push_str("</span> deploying ");
        sha(out, &r.sha);
        out.push_str(" by ");
        field(out, &r.by);
        let _ = write!(
            out,
            ", for <span class=\"elapsed\" data-since=\"{}\">{}</span> · <a href=\"",
            r.started_at.0,
            format_age(o.now.millis_since(r.started_at))
        );
        site.href(out, "/deploy/");
        field(out, &r.dep);
        out.push_str("\">follow</a></p>");
    }
    if let Some(f) = &lane.failed {
        out.push_str("<p class=\"failed\"><span class=\"state bad\">");
        esc(out, f.state.as_str());
        out.push_str("</span> the last deployment, ");
        sha(out, &f.sha);
        out.push_str(" by ");
        field(out, &f.by);
        out.push(' ');
        ago(out, f.finished_at.unwrap_or(f.started_at), o.now);
        out.push_str(", failed · <a href=\"");
        site.href(out, "/deploy/");
        field(out, &f.dep);
        out.push_str("\">why</a></p>");
    }

    // What guards the lane. Freeze windows (another issue) go here, next to the lock.
    out.push_str("<div class=\"guards\">");
    match &st.lock {
        Some(held) if held.expired(o.now) => {
            out.push_str("<p class=\"lock\">not locked (the lock of ");
            field(out, &held.lock.by);
            out.push_str(" expired)</p>");
        }
        Some(held) => {
            out.push_str("<p class=\"lock locked\"><span class=\"tag bad\">locked</span> by ");
            field(out, &held.lock.by);
            if let Some(r) = &held.lock.reason {
                out.push_str(": <q>");
                field(out, r);
                out.push_str("</q>");
            }
            if let Some(at) = held.since() {
                out.push_str(", ");
                ago(out, at, o.now);
            }
            if let Some(until) = held.until() {
                out.push_str(", ");
                out.push_str(&format_age(until.millis_since(o.now)));
                out.push_str(" left");
            }
            out.push_str("</p>");
        }
        None => out.push_str("<p class=\"lock\">not locked</p>"),
    }
    out.push_str("</div></li>");
}

fn history_table(out: &mut String, site: &Site, items: &[Item], web: Option<&str>, now: Timestamp) {
    out.push_str(
        "<table class=\"deployments\"><thead><tr><th>when</th><th>environment</th>\
         <th>commit</th><th>state</th><th>by</th><th>took</th><th>log</th></tr></thead><tbody>",
    );
    for i in items {
        let _ = write!(out, "<tr class=\"{}\"><td>", state_class(i.state));
        ago(out, i.started_at, now);
        out.push_str("</td><td class=\"env\">");
        field(out, &i.env);
        out.push_str("</td><td class=\"what\"><a href=\"");
        site.href(out, "/deploy/");
        field(out, &i.dep);
        out.push_str("\">");
        field(out, short(&i.sha));
        out.push_str("</a> ");
        subject(out, &i.subject, web);
        if i.rollback {
            out.push_str(" <span class=\"tag warn\">rollback</span>");
        }
        if let Some(reason) = &i.forced {
            out.push_str(" <span class=\"tag warn\" title=\"");
            field(out, reason);
            out.push_str("\">forced</span>");
        }
        out.push_str("</td><td>");
        state_badge(out, i.state);
        out.push_str("</td><td class=\"by\">");
        field(out, &i.by);
        out.push_str("</td><td class=\"took\">");
        match i.duration_s {
            Some(s) => out.push_str(&duration(s)),
            None => out.push('–'),
        }
        out.push_str("</td><td class=\"log\">");
        log_cell(out, i.log.as_deref());
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table>");
}

/// A log: a link when it is a web address, its path as text otherwise (a local
/// deploy's log file is not served).
fn log_cell(out: &mut String, log: Option<&str>) {
    match log {
        Some(l) => match link(l) {
            Some(url) => {
                out.push_str("<a href=\"");
                esc(out, url.as_str());
                out.push_str("\" rel=\"noreferrer\">log</a>");
            }
            None => {
                out.push_str("<span class=\"path\" title=\"");
                field(out, l);
                out.push_str("\">local file</span>");
            }
        },
        None => out.push('–'),
    }
}

pub fn history(site: &Site, h: &HistoryPage) -> String {
    let mut out = String::with_capacity(32 * 1024);
    out.push_str("<section class=\"history\"><h1>Deployments");
    if let Some(env) = &h.env {
        out.push_str(" to ");
        field(&mut out, env);
    }
    out.push_str("</h1><nav class=\"filter\" aria-label=\"environments\">");
    let query = |out: &mut String, env: Option<&str>, page: usize| {
        let mut url = format!("{}/history", site.base);
        let mut params = Vec::new();
        if let Some(e) = env {
            params.push(format!("env={}", encode_query(e)));
        }
        if page > 0 {
            params.push(format!("page={page}"));
        }
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        esc(out, &url);
    };
    out.push_str("<a href=\"");
    query(&mut out, None, 0);
    out.push('"');
    if h.env.is_none() {
        out.push_str(" aria-current=\"page\"");
    }
    out.push_str(">all</a>");
    for e in &h.envs {
        out.push_str("<a href=\"");
        query(&mut out, Some(e), 0);
        out.push('"');
        if h.env.as_deref() == Some(e) {
            out.push_str(" aria-current=\"page\"");
        }
        out.push('>');
        field(&mut out, e);
        out.push_str("</a>");
    }
    out.push_str("</nav>");
    if h.items.is_empty() {
        out.push_str(if h.page == 0 {
            "<p class=\"empty\">No deployments yet.</p>"
        } else {
            "<p class=\"empty\">No older deployments.</p>"
        });
    } else {
        history_table(&mut out, site, &h.items, h.web.as_deref(), h.now);
    }
    out.push_str("<nav class=\"pages\" aria-label=\"pages of history\">");
    if h.page > 0 {
        out.push_str("<a rel=\"prev\" href=\"");
        query(&mut out, h.env.as_deref(), h.page - 1);
        out.push_str("\">← newer</a>");
    }
    let _ = write!(out, "<span>page {}</span>", h.page + 1);
    if h.more {
        out.push_str("<a rel=\"next\" href=\"");
        query(&mut out, h.env.as_deref(), h.page + 1);
        out.push_str("\">older →</a>");
    }
    out.push_str("</nav></section>");
    out
}

/// Percent-encodes a query value (environment names are mostly `[A-Za-z0-9._-]`).
pub fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub fn deployment(site: &Site, p: &DeploymentPage) -> String {
    let d = &p.detail.item;
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<section class=\"deployment {}\"><h1>Deployment to ",
        state_class(d.state)
    );
    field(&mut out, &d.env);
    out.push(' ');
    state_badge(&mut out, d.state);
    out.push_str("</h1><dl class=\"facts\"><dt>commit</dt><dd>");
    sha(&mut out, &d.sha);
    out.push(' ');
    subject(&mut out, &d.subject, p.web.as_deref());
    out.push_str("</dd><dt>id</dt><dd><code>");
    field(&mut out, &d.dep);
    out.push_str("</code></dd><dt>by</dt><dd>");
    field(&mut out, &d.by);
    out.push_str("</dd><dt>started</dt><dd>");
    ago(&mut out, d.started_at, p.now);
    if let Some(f) = d.finished_at {
        out.push_str("</dd><dt>finished</dt><dd>");
        ago(&mut out, f, p.now);
    }
    if let Some(s) = d.duration_s {
        let _ = write!(out, "</dd><dt>took</dt><dd>{}", duration(s));
    } else if !d.state.is_final() {
        let _ = write!(
            out,
            "</dd><dt>running for</dt><dd><span class=\"elapsed\" data-since=\"{}\">{}</span>",
            d.started_at.0,
            format_age(p.now.millis_since(d.started_at))
        );
    }
    if let Some(from) = &d.from {
        out.push_str("</dd><dt>before it</dt><dd>");
        sha(&mut out, from);
    }
    if d.rollback {
        out.push_str("</dd><dt>rollback</dt><dd><span class=\"tag warn\">rollback</span>");
    }
    if let Some(reason) = &d.forced {
        out.push_str("</dd><dt>forced</dt><dd><span class=\"tag warn\">forced</span> ");
        field(&mut out, reason);
    }
    if let Some(desc) = &d.desc {
        out.push_str("</dd><dt>description</dt><dd>");
        field(&mut out, desc);
    }
    if d.log.is_some() {
        out.push_str("</dd><dt>log</dt><dd>");
        log_cell(&mut out, d.log.as_deref());
    }
    if let Some(url) = d.url.as_deref() {
        out.push_str("</dd><dt>environment</dt><dd>");
        match link(url) {
            Some(u) => {
                out.push_str("<a href=\"");
                esc(&mut out, u.as_str());
                out.push_str("\" rel=\"noreferrer\">");
                field(&mut out, url);
                out.push_str("</a>");
            }
            None => field(&mut out, url),
        }
    }
    if let Some(gh) = &d.gh {
        out.push_str("</dd><dt>GitHub</dt><dd>deployment ");
        let _ = write!(out, "{} of ", gh.id);
        field(&mut out, &gh.repo);
    }
    out.push_str("</dd></dl><h2 class=\"sub\">Events</h2><table class=\"events\"><thead><tr>\
                  <th>at</th><th>state</th><th>by</th><th>description</th><th>links</th></tr></thead><tbody>");
    for e in p.detail.events.iter().take(200) {
        let _ = write!(
            out,
            "<tr><td><time datetime=\"{}\">{}</time></td><td>",
            e.at,
            when_exactly(e.at)
        );
        state_badge(&mut out, e.state);
        out.push_str("</td><td>");
        field(&mut out, &e.by);
        out.push_str("</td><td>");
        if let Some(desc) = &e.desc {
            field(&mut out, desc);
        }
        out.push_str("</td><td>");
        if let Some(l) = e.log.as_deref() {
            log_cell(&mut out, Some(l));
        }
        if let Some(u) = e.url.as_deref().and_then(link) {
            out.push_str(" <a href=\"");
            esc(&mut out, u.as_str());
            out.push_str("\" rel=\"noreferrer\">environment</a>");
        }
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table><h2 class=\"sub\">Its train</h2>");
    match &p.detail.train {
        None => out.push_str(
            "<p class=\"empty\">Not known: the first deployment to this environment, \
             or this clone lacks the commit it replaced.</p>",
        ),
        Some(commits) if commits.is_empty() => {
            out.push_str("<p class=\"empty\">No new commits (a redeploy or a rollback).</p>")
        }
        Some(commits) => {
            let _ = write!(
                out,
                "<p>{}{} commit{} new to ",
                commits.len(),
                if p.detail.train_more { "+" } else { "" },
                if commits.len() == 1 { "" } else { "s" }
            );
            field(&mut out, &d.env);
            out.push_str(", newest first:</p><ol class=\"commits\">");
            for c in commits {
                out.push_str("<li class=\"commit\">");
                sha(&mut out, &c.sha);
                out.push(' ');
                subject(&mut out, &c.subject, p.web.as_deref());
                out.push_str(" <span class=\"meta\"><span class=\"author\">");
                field(&mut out, &c.author);
                out.push_str("</span> ");
                ago(&mut out, c.at, p.now);
                out.push_str("</span></li>");
            }
            out.push_str("</ol>");
        }
    }
    out.push_str("<p><a href=\"");
    site.href(&mut out, "/history?env=");
    esc(&mut out, &encode_query(&d.env));
    out.push_str("\">← deployments to ");
    field(&mut out, &d.env);
    out.push_str("</a></p></section>");
    out
}

pub fn stats(site: &Site, s: &StatsPage) -> String {
    use super::svg;
    let o = &s.overall;
    let mut out = String::with_capacity(24 * 1024);
    out.push_str("<section class=\"stats\"><h1>Delivery of ");
    field(&mut out, &o.env);
    let _ = write!(
        out,
        " <small>{} to {}</small></h1>",
        &o.window.since.to_string()[..10],
        &o.window.until.to_string()[..10]
    );
    out.push_str("<nav class=\"filter\" aria-label=\"environments\">");
    for e in &s.envs {
        out.push_str("<a href=\"");
        site.href(&mut out, "/stats?env=");
        esc(&mut out, &encode_query(e));
        out.push('"');
        if *e == o.env {
            out.push_str(" aria-current=\"page\"");
        }
        out.push('>');
        field(&mut out, e);
        out.push_str("</a>");
    }
    out.push_str("</nav><div class=\"cards\">");
    let f = &o.frequency;
    card(
        &mut out,
        "Deployment frequency",
        &format!("{:.1} a week", f.per_week),
        &format!(
            "{:.2} a day; deployed on {} of {} days",
            f.per_day, f.deploy_days, f.days
        ),
    );
    let lt = &o.lead_time;
    card(
        &mut out,
        "Lead time for changes",
        &lt.median_s
            .map(|m| span(m * 1000.0))
            .unwrap_or_else(|| "–".into()),
        &match lt.p90_s {
            Some(p) => format!(
                "median; p90 {} over {} commits",
                span(p * 1000.0),
                lt.commits
            ),
            None => "no commits deployed".into(),
        },
    );
    let cfr = &o.change_failure_rate;
    card(
        &mut out,
        "Change failure rate",
        &cfr.rate
            .map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| "–".into()),
        &format!(
            "{} of {}",
            cfr.failed_changes,
            plural(cfr.deployments, "finished deployment")
        ),
    );
    let ttr = &o.time_to_restore;
    card(
        &mut out,
        "Time to restore",
        &ttr.median_s
            .map(|m| span(m * 1000.0))
            .unwrap_or_else(|| "–".into()),
        &format!(
            "median of {} restored{}",
            ttr.restored,
            if ttr.unrestored > 0 {
                format!(", {} not yet", ttr.unrestored)
            } else {
                String::new()
            }
        ),
    );
    let tr = &o.train;
    card(
        &mut out,
        "Train size",
        &tr.median
            .map(|m| format!("{m:.0} commits"))
            .unwrap_or_else(|| "–".into()),
        &match tr.max {
            Some(max) => format!(
                "median; at most {max}, over {}",
                plural(tr.deployments, "deployment")
            ),
            None => "no trains known".into(),
        },
    );
    out.push_str("</div>");

    let labels: Vec<String> = s
        .weeks
        .iter()
        .map(|w| w.window.since.to_string()[5..10].to_string())
        .collect();
    let weekly: Vec<Option<f64>> = if f.weekly.len() == s.weeks.len() {
        f.weekly.iter().map(|n| Some(*n as f64)).collect()
    } else {
        s.weeks
            .iter()
            .map(|w| Some(w.frequency.successful as f64))
            .collect()
    };
    type Chart<'a> = (&'a str, Vec<Option<f64>>, fn(f64) -> String);
    let charts: [Chart; 4] = [
        ("Successful deployments per week", weekly, |v| {
            format!("{v:.0}")
        }),
        (
            "Lead time per week (median)",
            s.weeks
                .iter()
                .map(|w| w.lead_time.median_s.map(|m| m * 1000.0))
                .collect(),
            span,
        ),
        (
            "Change failure rate per week",
            s.weeks
                .iter()
                .map(|w| w.change_failure_rate.rate.map(|r| r * 100.0))
                .collect(),
            |v| format!("{v:.0}%"),
        ),
        (
            "Train size per week (median commits)",
            s.weeks.iter().map(|w| w.train.median).collect(),
            |v| format!("{v:.0}"),
        ),
    ];
    out.push_str("<div class=\"charts\">");
    for (title, values, fmt) in charts {
        out.push_str("<figure class=\"chart\"><figcaption>");
        esc(&mut out, title);
        out.push_str("</figcaption>");
        out.push_str(&svg::bars(title, &labels, &values, fmt));
        out.push_str("</figure>");
    }
    out.push_str(
        "</div><details class=\"definitions\"><summary>What the numbers mean</summary><dl>",
    );
    let d = &o.definitions;
    for (name, text) in [
        ("window", d.window),
        ("deployment frequency", d.deployment_frequency),
        ("lead time", d.lead_time),
        ("change failure rate", d.change_failure_rate),
        ("time to restore", d.time_to_restore),
        ("train", d.train),
    ] {
        let _ = write!(out, "<dt>{name}</dt><dd>");
        esc(&mut out, text);
        out.push_str("</dd>");
    }
    out.push_str("</dl></details></section>");
    out
}

fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

fn card(out: &mut String, title: &str, big: &str, small: &str) {
    out.push_str("<div class=\"card\"><h2>");
    esc(out, title);
    out.push_str("</h2><p class=\"big\">");
    esc(out, big);
    out.push_str("</p><p>");
    esc(out, small);
    out.push_str("</p></div>");
}

/// A duration in milliseconds: `45s`, `12m 5s`, `3h 20m`, `2d 4h`.
pub fn span(ms: f64) -> String {
    let s = (ms.abs() / 1000.0).round() as i64;
    let ((a, au), (b, bu)) = match s {
        0..=59 => return format!("{s}s"),
        60..=3599 => ((s / 60, "m"), (s % 60, "s")),
        3600..=86_399 => ((s / 3600, "h"), (s % 3600 / 60, "m")),
        _ => ((s / 86_400, "d"), (s % 86_400 / 3600, "h")),
    };
    if b == 0 {
        format!("{a}{au}")
    } else {
        format!("{a}{au} {b}{bu}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_controls_and_bidi() {
        let mut out = String::new();
        esc(
            &mut out,
            "<script>alert('x')</script> & \"q\" \u{1b}[31m \u{202e}abc",
        );
        assert_eq!(
            out,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; \\u{1b}[31m \\u{202e}abc"
        );
    }

    #[test]
    fn clips_long_fields() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("ééé", 2), "éé…");
    }

    #[test]
    fn links_only_plain_web_addresses() {
        assert!(link("https://ci.example/42").is_some());
        assert!(link("http://127.0.0.1:8080/log").is_some());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "http://127.0.0.1:x@evil.example/",
            "https://user@ci.example/",
            "/home/alice/.git/train/logs/x.log",
            "file:///etc/passwd",
        ] {
            assert!(link(bad).is_none(), "{bad}");
        }
        assert!(link(&format!("https://ci.example/{}", "a".repeat(3000))).is_none());
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query("prod-eu.1"), "prod-eu.1");
        assert_eq!(encode_query("a&b c"), "a%26b%20c");
    }
}
