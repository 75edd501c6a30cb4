//! Desktop notifications. The daemon talks to the `Notifier` trait; `Desktop` is the
//! only place that knows `notify-rust` (pure-Rust D-Bus on Linux, the notification
//! centre on macOS). Every send runs under a timeout in the caller, because a
//! notification server that never answers would otherwise hold the daemon forever.

use std::future::Future;
use std::pin::Pin;

/// One notification, as shown and as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The title: repository and what happened.
    pub summary: String,
    /// The commit (short sha and subject) and the details.
    pub body: String,
    /// A failure: shown until dismissed where the server supports it.
    pub critical: bool,
}

pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

pub trait Notifier: Send + Sync {
    /// Shows a notification; an error says why it could not be shown.
    fn show<'a>(&'a self, n: &'a Notification) -> Sending<'a>;
}

/// The desktop's notification server.
pub struct Desktop;

impl Notifier for Desktop {
    fn show<'a>(&'a self, n: &'a Notification) -> Sending<'a> {
        let mut note = notify_rust::Notification::new();
        note.appname("git-train").summary(&n.summary).body(&n.body);
        #[cfg(all(unix, not(target_os = "macos")))]
        if n.critical {
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
