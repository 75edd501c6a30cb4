//! The desktop sink: the only place that knows `notify-rust` (pure-Rust D-Bus on
//! Linux, the notification centre on macOS). It renders an event as a summary and a
//! body; a failure is critical (shown until dismissed where the server supports it).

use super::{Event, LockAction, Sending, Sink, Summarized};
use crate::domain::time::format_age;
use crate::domain::{CiState, State};

/// One notification, as shown and as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The title: repository and what happened.
    pub summary: String,
    /// The commit (short sha and subject) and the details.
    pub body: String,
    pub critical: bool,
}

/// The desktop's notification server. On Linux it keeps one D-Bus connection (made
/// again after any failure, reading `DBUS_SESSION_BUS_ADDRESS` and
/// `$XDG_RUNTIME_DIR/bus` anew, so a session bus restarted elsewhere is found), asks
/// the server's capabilities once per connection (`body-markup`: the body is
/// escaped), and shows each deployment as one popup that changes (`replaces_id`
/// with the id the server gave its previous state, and stack-tag hints).
#[derive(Default)]
pub struct Desktop {
    #[cfg(all(unix, not(target_os = "macos")))]
    state: std::sync::Mutex<bus::State>,
}

impl Desktop {
    pub fn new() -> Desktop {
        Desktop::default()
    }
}

impl Sink for Desktop {
    fn name(&self) -> &str {
        "the notification server"
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    fn send<'a>(&'a self, event: &'a Event) -> Sending<'a> {
        Box::pin(bus::send(&self.state, event))
    }

    #[cfg(not(all(unix, not(target_os = "macos"))))]
    fn send<'a>(&'a self, event: &'a Event) -> Sending<'a> {
        let text = render(event);
        let mut note = notify_rust::Notification::new();
        note.appname("git-train")
            .summary(&text.summary)
            .body(&text.body);
        Box::pin(async move {
            note.show_async()
                .await
                .map(drop)
                .map_err(|e| describe(&e.to_string()))
        })
    }
}

/// The tag of the popup an event replaces: a deployment's states share one.
pub fn stack_tag(event: &Event) -> Option<String> {
    match event {
        Event::Deployment(d) => Some(format!(
            "git-train {} {} {}",
            d.repository.path, d.environment, d.deployment
        )),
        _ => None,
    }
}

/// Text for a server that reads the body as markup: `&`, `<` and `>` escaped.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The freedesktop notification protocol over zbus, on one kept connection.
#[cfg(all(unix, not(target_os = "macos")))]
mod bus {
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    use zbus::Variant as Value;

    use super::{describe, escape_markup, render, stack_tag, Event};

    const NAME: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";
    /// Popup ids remembered for replacing (one per recent deployment).
    const IDS_KEPT: usize = 100;

    #[derive(Default)]
    pub struct State {
        /// The connection and whether its server advertised `body-markup`.
        connection: Option<(zbus::Connection, bool)>,
        /// The id the server gave each deployment's popup, newest last.
        ids: VecDeque<(String, u32)>,
    }

    /// The session bus addresses to try: the environment's, then the usual socket.
    fn addresses() -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(a) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            if !a.is_empty() {
                out.push(a);
            }
        }
        if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
            let socket = std::path::Path::new(&dir).join("bus");
            let a = format!("unix:path={}", socket.display());
            if socket.exists() && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    async fn connect() -> Result<(zbus::Connection, bool), zbus::Error> {
        let mut last = None;
        for address in addresses() {
            match zbus::connection::Builder::address(address.as_str())
                .build()
                .await
            {
                Ok(connection) => {
                    let caps: Vec<String> = connection
                        .call_method(Some(NAME), PATH, Some(NAME), "GetCapabilities", &())
                        .await?
                        .body()
                        .deserialize()?;
                    let markup = caps.iter().any(|c| c == "body-markup");
                    return Ok((connection, markup));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            zbus::Error::Address(
                "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus".into(),
            )
        }))
    }

    pub async fn send(state: &Mutex<State>, event: &Event) -> Result<(), String> {
        let text = render(event);
        let tag = stack_tag(event);
        let mut retried = false;
        loop {
            let kept = state.lock().ok().and_then(|s| s.connection.clone());
            let (connection, markup) = match kept {
                Some(c) => c,
                None => {
                    let c = connect().await.map_err(|e| describe(&e.to_string()))?;
                    if let Ok(mut s) = state.lock() {
                        s.connection = Some(c.clone());
                        // A new connection may be a new server: its ids mean nothing.
                        s.ids.clear();
                    }
                    c
                }
            };
            let replaces = tag
                .as_ref()
                .and_then(|t| {
                    let s = state.lock().ok()?;
                    s.ids.iter().rev().find(|(k, _)| k == t).map(|(_, id)| *id)
                })
                .unwrap_or(0);
            let body = if markup {
                escape_markup(&text.body)
            } else {
                text.body.clone()
            };
            let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
            hints.insert("urgency", Value::U8(if text.critical { 2 } else { 1 }));
            if let Some(t) = &tag {
                hints.insert("x-dunst-stack-tag", Value::from(t.as_str()));
                hints.insert("x-canonical-private-synchronous", Value::from(t.as_str()));
            }
            // A failure stays until dismissed; the rest expire as the server likes.
            let expire: i32 = if text.critical { 0 } else { -1 };
            let actions: Vec<&str> = Vec::new();
            let sent = connection
                .call_method(
                    Some(NAME),
                    PATH,
                    Some(NAME),
                    "Notify",
                    &(
                        "git-train",
                        replaces,
                        "",
                        text.summary.as_str(),
                        body.as_str(),
                        actions,
                        hints,
                        expire,
                    ),
                )
                .await
                .and_then(|reply| reply.body().deserialize::<u32>());
            match sent {
                Ok(id) => {
                    if let (Some(t), Ok(mut s)) = (tag, state.lock()) {
                        s.ids.retain(|(k, _)| *k != t);
                        s.ids.push_back((t, id));
                        while s.ids.len() > IDS_KEPT {
                            s.ids.pop_front();
                        }
                    }
                    return Ok(());
                }
                Err(e) => {
                    if let Ok(mut s) = state.lock() {
                        s.connection = None;
                    }
                    // The bus went away under a kept connection: connect again at once.
                    let lost = !matches!(e, zbus::Error::MethodError(..));
                    if lost && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(describe(&e.to_string()));
                }
            }
        }
    }
}

/// notify-rust's errors in plain words.
fn describe(error: &str) -> String {
    if error.contains("ServiceUnknown") || error.contains("not provided by any .service") {
        format!("no notification server on the session bus ({error})")
    } else if error.contains("No such file or directory") || error.contains("DBUS_SESSION_BUS") {
        format!("no D-Bus session bus ({error})")
    } else {
        error.to_string()
    }
}

/// The commits a ship notice lists; the rest are counted.
const SHIPPED_LISTED: usize = 5;

/// The notification: repository, environment, short sha, subject and state.
pub fn render(event: &Event) -> Text {
    let repo = &event.repository().name;
    match event {
        Event::Deployment(d) => {
            let env = &d.environment;
            let word = match d.state {
                State::Queued => "queued",
                State::Pending => "pending",
                State::InProgress => "in progress",
                State::Success => "succeeded",
                State::Failure => "failed",
                State::Error => "failed (error)",
                State::Inactive => "inactive",
            };
            let what = if d.rollback { "rollback" } else { "deployment" };
            let mut body = format!(
                "{} {}\n{what} to {env} {word}, by {}",
                d.commit.short(),
                d.commit.subject,
                d.by
            );
            if let Some(log) = &d.links.log {
                body.push_str(&format!("\nlog: {log}"));
            }
            Text {
                summary: format!("{repo}: {env} {word}"),
                body,
                critical: matches!(d.state, State::Failure | State::Error),
            }
        }
        Event::Ci(c) => {
            let word = if c.state == CiState::Success {
                "passed"
            } else {
                "failed"
            };
            let mut body = format!(
                "{} {}\nCI {}",
                c.commit.short(),
                c.commit.subject,
                c.state.as_str()
            );
            if let Some(trunk) = &c.trunk {
                body.push_str(&format!(" on {trunk}"));
            }
            if !c.failing.is_empty() {
                let shown: Vec<&str> = c.failing.iter().take(3).map(String::as_str).collect();
                let more = c.failing.len().saturating_sub(3);
                body.push_str(&format!(": {}", shown.join(", ")));
                if more > 0 {
                    body.push_str(&format!(" and {more} more"));
                }
            }
            Text {
                summary: format!("{repo}: CI {word} on {}", c.commit.short()),
                body,
                critical: c.state == CiState::Failure,
            }
        }
        Event::Stale(s) => {
            let env = &s.environment;
            Text {
                summary: format!("{repo}: {} waits for {env}", s.commit.short()),
                // The title names the commit; the body does not repeat its sha.
                body: format!(
                    "{}\nnot deployed to {env} after {} (stale_after {})",
                    s.commit.subject,
                    format_age(s.waited_ms),
                    format_age(s.stale_after_ms)
                ),
                critical: false,
            }
        }
        Event::Summary(s) => {
            let what = match (s.of, &s.environment) {
                (Summarized::Deployments, _) => "deployments changed state".to_string(),
                (Summarized::Ci, _) => "CI results".to_string(),
                (Summarized::Stale, Some(env)) => format!("commits wait for {env}"),
                (Summarized::Stale, None) => "commits wait for their environments".to_string(),
            };
            Text {
                summary: format!("{repo}: {} {what}", s.count),
                body: "`git train status` and `git train history` show them".into(),
                critical: false,
            }
        }
        Event::Digest(d) => {
            let env = &d.environment;
            let n = d.waiting;
            let mut body = match d.commits.first() {
                Some(c) => format!(
                    "oldest: {} {} by {}, {}",
                    c.commit().short(),
                    c.subject,
                    c.author,
                    format_age(c.waited_ms)
                ),
                None => String::new(),
            };
            body.push_str(&format!("\n`{}` ships them", d.command));
            Text {
                summary: format!(
                    "{repo}: {n}{} {} for {env}",
                    if d.complete { "" } else { "+" },
                    if n == 1 {
                        "commit waits"
                    } else {
                        "commits wait"
                    }
                ),
                body,
                critical: false,
            }
        }
        Event::Shipped(s) => {
            let env = &s.environment;
            let (summary, mut body) = match s.commits.as_slice() {
                [one] if s.total == 1 => (
                    format!("{repo}: {} is live in {env}", one.short()),
                    format!(
                        "{} {} is live in {env}, deployed by {}",
                        one.short(),
                        one.subject,
                        s.by
                    ),
                ),
                listed => {
                    let mut body = String::new();
                    for c in listed.iter().take(SHIPPED_LISTED) {
                        body.push_str(&format!("{} {}\n", c.short(), c.subject));
                    }
                    let more = s.total.saturating_sub(listed.len().min(SHIPPED_LISTED));
                    if more > 0 {
                        body.push_str(&format!("and {more} more\n"));
                    }
                    (
                        format!("{repo}: {} of your commits are live in {env}", s.total),
                        body,
                    )
                }
            };
            if s.total != 1 || s.commits.len() != 1 {
                body.push_str(&format!("deployed to {env} by {}", s.by));
            }
            Text {
                summary,
                body,
                critical: false,
            }
        }
        Event::Unreachable(u) => {
            let names = match u.repositories.len() {
                0 | 1 => repo.clone(),
                n => format!("{repo} and {} more", n - 1),
            };
            Text {
                summary: format!(
                    "git-train: no news from {names} for {}",
                    format_age(u.for_ms)
                ),
                body: format!("{}\n`git train daemon status` says more", u.why),
                critical: false,
            }
        }
        Event::Test(t) => Text {
            summary: format!("{repo}: a test message for channel {}", t.channel),
            body: format!("sent by {}", t.by),
            critical: false,
        },
        Event::Lock(l) => {
            let env = &l.environment;
            let (summary, mut body) = match l.action {
                LockAction::Taken => (
                    format!("{repo}: {env} locked by {}", l.by),
                    format!("only {} deploys to {env} until it is unlocked", l.by),
                ),
                LockAction::Released if l.forced.is_some() => (
                    format!("{repo}: {env} unlocked by force"),
                    format!("{} released the lock of {}", l.by, l.holder),
                ),
                LockAction::Released => (
                    format!("{repo}: {env} unlocked"),
                    format!("{} released the lock", l.by),
                ),
            };
            for why in [&l.reason, &l.forced].into_iter().flatten() {
                body.push_str(&format!("\n{why}"));
            }
            Text {
                summary,
                body,
                critical: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::notify::{CiFinished, Commit, CommitStale, DeploymentChanged, Repository, Summary};

    fn commit() -> Commit {
        Commit {
            sha: "0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
            subject: "Fix typo in README (#130)".into(),
            author: "Alice".into(),
        }
    }

    fn api() -> Repository {
        Repository::at(Path::new("/src/api"))
    }

    #[test]
    fn notifications_say_repository_environment_sha_subject_and_state() {
        let n = render(&Event::Deployment(DeploymentChanged {
            repository: api(),
            environment: "production".into(),
            deployment: "01JNM8K3Q4ZC8R1E5V3T7Y9B2D".into(),
            state: State::Success,
            at: crate::domain::Timestamp(0),
            commit: commit(),
            by: "octocat".into(),
            train: Default::default(),
            from: None,
            description: None,
            links: Default::default(),
            rollback: false,
            forced: None,
            duration_ms: Some(1000),
        }));
        assert_eq!(n.summary, "api: production succeeded");
        assert_eq!(
            n.body,
            "0377e3c Fix typo in README (#130)\ndeployment to production succeeded, by octocat"
        );
        let n = render(&Event::Ci(CiFinished {
            repository: api(),
            trunk: Some("main".into()),
            commit: commit(),
            state: CiState::Failure,
            failing: vec!["build".into()],
        }));
        assert_eq!(n.summary, "api: CI failed on 0377e3c");
        assert!(
            n.body.ends_with("\nCI failure on main: build"),
            "{}",
            n.body
        );
        assert!(n.critical);
        let n = render(&Event::Stale(CommitStale {
            repository: api(),
            environment: "production".into(),
            commit: commit(),
            waited_ms: 2 * 86_400_000,
            stale_after_ms: 86_400_000,
        }));
        assert_eq!(n.summary, "api: 0377e3c waits for production");
        assert!(n
            .body
            .ends_with("not deployed to production after 2d (stale_after 1d)"));
        let n = render(&Event::Summary(Summary {
            repository: api(),
            count: 4,
            of: Summarized::Stale,
            environment: Some("production".into()),
        }));
        assert_eq!(n.summary, "api: 4 commits wait for production");
    }
}
