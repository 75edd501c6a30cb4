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

/// The desktop's notification server.
pub struct Desktop;

impl Sink for Desktop {
    fn name(&self) -> &str {
        "the notification server"
    }

    fn send<'a>(&'a self, event: &'a Event) -> Sending<'a> {
        let text = render(event);
        let mut note = notify_rust::Notification::new();
        note.appname("git-train")
            .summary(&text.summary)
            .body(&text.body);
        #[cfg(all(unix, not(target_os = "macos")))]
        if text.critical {
            note.urgency(notify_rust::Urgency::Critical);
        }
        Box::pin(async move {
            note.show_async()
                .await
                .map(drop)
                .map_err(|e| describe(&e.to_string()))
        })
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
                "{} {}\n{what} to {env}: {}, by {}",
                d.commit.short(),
                d.commit.subject,
                d.state,
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
                body: format!(
                    "{} {}\nnot deployed to {env} after {} (stale_after {})",
                    s.commit.short(),
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
                (Summarized::Stale, None) => "commits wait".to_string(),
            };
            Text {
                summary: format!("{repo}: {} more {what}", s.count),
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
            "0377e3c Fix typo in README (#130)\ndeployment to production: success, by octocat"
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
        assert_eq!(n.summary, "api: 4 more commits wait for production");
    }
}
