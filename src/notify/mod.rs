//! Notifications as structured events (DESIGN.md sections 6 and 8). Whoever learns
//! something worth telling (the daemon, and the commands that record an event
//! first-hand) makes an [`Event`] and hands it to a [`Hub`], which fans it out to its
//! sinks: the desktop (`desktop`, the daemon's) and team channels (`channel`: Slack,
//! Discord, any webhook; the commands' own, each taking the events of its
//! environments). An event is plain data: each sink decides how it looks, and a
//! webhook channel posts it as JSON ([`json`]).
//!
//! `recorded` builds the events of deployments from what the ledger holds, so the
//! daemon and the commands tell the same thing the same way.

pub mod channel;
pub mod desktop;
pub mod recorded;
#[cfg(test)]
mod told;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use serde::Serialize;

use crate::domain::{CiState, CommitInfo, State, Timestamp};

/// Version of the JSON document of an event.
pub const VERSION: u32 = 1;
/// Longest wait for one sink to take one event.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// The commits of a train listed in an event; the rest are counted.
pub const TRAIN_LISTED: usize = 20;

/// Something worth telling.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A deployment reached a new state.
    Deployment(DeploymentChanged),
    /// CI finished on a commit.
    Ci(CiFinished),
    /// A commit has waited longer than `stale_after` for an environment.
    Stale(CommitStale),
    /// More events of one kind than are worth telling one by one.
    Summary(Summary),
    /// An environment was locked or unlocked.
    Lock(LockChanged),
    /// `git train channels test NAME`: a message to check that a channel works.
    Test(ChannelTest),
    /// `git train stale --post`: the commits that have waited long for an
    /// environment, for the team.
    Digest(StaleDigest),
    /// Commits of the user's are live: a successful deployment carried them.
    Shipped(CommitsShipped),
    /// The daemon has not reached the forge of some repositories for long.
    Unreachable(ForgeUnreachable),
}

impl Event {
    pub fn repository(&self) -> &Repository {
        match self {
            Event::Deployment(e) => &e.repository,
            Event::Ci(e) => &e.repository,
            Event::Stale(e) => &e.repository,
            Event::Summary(e) => &e.repository,
            Event::Lock(e) => &e.repository,
            Event::Test(e) => &e.repository,
            Event::Digest(e) => &e.repository,
            Event::Shipped(e) => &e.repository,
            Event::Unreachable(e) => &e.repository,
        }
    }

    /// The environment it is about, when it is about one.
    pub fn environment(&self) -> Option<&str> {
        match self {
            Event::Deployment(e) => Some(&e.environment),
            Event::Stale(e) => Some(&e.environment),
            Event::Lock(e) => Some(&e.environment),
            Event::Digest(e) => Some(&e.environment),
            Event::Shipped(e) => Some(&e.environment),
            Event::Summary(e) => e.environment.as_deref(),
            Event::Ci(_) | Event::Test(_) | Event::Unreachable(_) => None,
        }
    }
}

/// The repository an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Repository {
    /// Its folder's name: how notifications name it.
    pub name: String,
    pub path: String,
    /// Its page on GitHub (`https://github.com/owner/name`), when it is there: the
    /// links to commits, pull requests and comparisons start with it.
    pub web: Option<String>,
}

impl Repository {
    pub fn at(path: &Path) -> Repository {
        Repository {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| path.display().to_string()),
            path: path.display().to_string(),
            web: None,
        }
    }
}

/// A commit as events show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    /// The author's name.
    pub author: String,
}

impl Commit {
    pub fn short(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}

impl From<&CommitInfo> for Commit {
    fn from(c: &CommitInfo) -> Commit {
        Commit {
            sha: c.sha.clone(),
            subject: c.subject.clone(),
            author: c.author.clone(),
        }
    }
}

/// The commits a deployment brings (for a rollback: takes away), newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Train {
    /// At most `TRAIN_LISTED`.
    pub commits: Vec<Commit>,
    /// How many in all.
    pub total: usize,
    /// False when counting stopped at a limit: there are more than `total`.
    pub complete: bool,
}

/// Where to look further.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Links {
    /// The deployment's log.
    pub log: Option<String>,
    /// The deployed environment.
    pub environment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeploymentChanged {
    pub repository: Repository,
    pub environment: String,
    /// The deployment's id in the ledger.
    pub deployment: String,
    pub state: State,
    /// When it reached that state.
    pub at: Timestamp,
    pub commit: Commit,
    /// Who deployed.
    pub by: String,
    pub train: Train,
    /// The commit the environment ran before, when the ledger knows it.
    pub from: Option<String>,
    /// The newest description: why it failed (the run command's exit status, the
    /// failing step), or what the deployer wrote.
    pub description: Option<String>,
    pub links: Links,
    pub rollback: bool,
    /// Why CI, the order of environments or a lock was overridden.
    pub forced: Option<String>,
    /// From its start to its end, once it ended.
    pub duration_ms: Option<i64>,
}

/// A successful deployment carried commits of the user's (their author email is
/// the user's git `user.email`) to an environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommitsShipped {
    pub repository: Repository,
    pub environment: String,
    /// The deployment's id in the ledger.
    pub deployment: String,
    /// Who deployed.
    pub by: String,
    /// The user's commits it carried, newest first (at most `TRAIN_LISTED`).
    pub commits: Vec<Commit>,
    /// How many in all.
    pub total: usize,
}

/// The forge of some watched repositories has not answered for a while.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForgeUnreachable {
    /// The first of them.
    pub repository: Repository,
    /// How notifications name each of them.
    pub repositories: Vec<String>,
    /// How long the first has failed.
    pub for_ms: i64,
    /// Why its last round failed.
    pub why: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CiFinished {
    pub repository: Repository,
    pub commit: Commit,
    pub state: CiState,
    /// The trunk, when the commit is on it.
    pub trunk: Option<String>,
    /// The contexts that did not pass.
    pub failing: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommitStale {
    pub repository: Repository,
    pub environment: String,
    pub commit: Commit,
    pub waited_ms: i64,
    pub stale_after_ms: i64,
}

/// What a summary stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Summarized {
    Deployments,
    Ci,
    Stale,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub repository: Repository,
    /// How many events it stands for.
    pub count: usize,
    pub of: Summarized,
    /// Stale commits: the environment they wait for.
    pub environment: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockAction {
    Taken,
    Released,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockChanged {
    pub repository: Repository,
    pub environment: String,
    pub action: LockAction,
    /// Who took or released it.
    pub by: String,
    /// Whose lock it is (released by force: someone else's).
    pub holder: String,
    pub reason: Option<String>,
    /// Why someone else's lock was released.
    pub forced: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelTest {
    pub repository: Repository,
    /// The channel it is for.
    pub channel: String,
    /// Who sent it.
    pub by: String,
    pub at: Timestamp,
}

/// The commits listed in a digest; the rest are counted.
pub const DIGEST_LISTED: usize = 20;

/// The trunk commits that have waited longer than a threshold for an environment,
/// oldest first, and what the environment runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleDigest {
    pub repository: Repository,
    pub environment: String,
    /// When it was made.
    pub at: Timestamp,
    /// How long a commit waits before it is listed.
    pub older_than_ms: i64,
    /// How many commits wait longer.
    pub waiting: usize,
    /// False when counting stopped at a limit: more wait than `waiting`.
    pub complete: bool,
    /// The oldest `DIGEST_LISTED` of them, oldest first.
    pub commits: Vec<WaitingCommit>,
    /// Every author of a waiting commit, once, oldest commit first.
    pub authors: Vec<Person>,
    /// Undeployed trunk commits younger than the threshold, which a deploy of the
    /// tip ships too.
    pub newer: usize,
    /// What the environment runs: its newest successful deployment.
    pub deployed: Option<LastDeployment>,
    /// The command that ships them.
    pub command: String,
}

/// A commit that waits, as a digest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitingCommit {
    pub sha: String,
    pub subject: String,
    /// The author's name and email.
    pub author: String,
    pub email: String,
    /// Its commit time: when it was merged.
    pub at: Timestamp,
    pub waited_ms: i64,
    /// The `(#123)` at the end of its subject, as a squash merge writes it.
    pub pull_request: Option<u64>,
}

impl WaitingCommit {
    pub fn commit(&self) -> Commit {
        Commit {
            sha: self.sha.clone(),
            subject: self.subject.clone(),
            author: self.author.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastDeployment {
    pub sha: String,
    /// The ledger's deployment id.
    pub deployment: String,
    /// Who deployed: git email or GitHub login.
    pub by: String,
    /// When it succeeded.
    pub at: Timestamp,
}

/// The JSON document of an event, as team channels post it: `{"version": 1, "kind":
/// "deployment", ...}`.
pub fn json(event: &Event) -> serde_json::Value {
    #[derive(Serialize)]
    struct Document<'a> {
        version: u32,
        #[serde(flatten)]
        event: &'a Event,
    }
    serde_json::to_value(Document {
        version: VERSION,
        event,
    })
    .unwrap_or(serde_json::Value::Null)
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type Sending<'a> = Boxed<'a, Result<(), String>>;

/// Where events go: the desktop, a team channel.
pub trait Sink: Send + Sync {
    /// How messages name it: "the notification server", "Slack #deploys".
    fn name(&self) -> &str;
    /// Delivers one event; an error says why it could not, in a few words.
    fn send<'a>(&'a self, event: &'a Event) -> Sending<'a>;
    /// Whether it takes this event at all (a channel: only its environments').
    fn wants(&self, _event: &Event) -> bool {
        true
    }
    /// Its own longest wait for one event, instead of the hub's.
    fn timeout(&self) -> Option<Duration> {
        None
    }
    /// What `-v` shows of what it sent: names and answers, never a secret.
    fn verbose(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A sink that could not take an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub sink: String,
    pub why: String,
}

/// Hands each event to every sink at once, each under its own timeout: a sink that
/// fails or never answers holds back no other. One-shot commands get one with no
/// sinks (the daemon raises the desktop notifications).
pub struct Hub {
    sinks: Vec<Box<dyn Sink>>,
    timeout: Duration,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new(Vec::new())
    }
}

impl Hub {
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Hub {
        Hub {
            sinks,
            timeout: SEND_TIMEOUT,
        }
    }

    /// The longest wait for one sink to take one event.
    pub fn timeout(mut self, timeout: Duration) -> Hub {
        self.timeout = timeout;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Whether any sink takes this event.
    pub fn wants(&self, event: &Event) -> bool {
        self.sinks.iter().any(|sink| sink.wants(event))
    }

    /// What `-v` shows of what the sinks sent.
    pub fn verbose(&self) -> Vec<String> {
        self.sinks.iter().flat_map(|sink| sink.verbose()).collect()
    }

    /// Sends to every sink that takes the event; returns those that failed.
    pub async fn send(&self, event: &Event) -> Vec<Failure> {
        let sending = self
            .sinks
            .iter()
            .filter(|sink| sink.wants(event))
            .map(|sink| Box::pin(self.send_to(sink.as_ref(), event)) as Boxed<'_, _>)
            .collect();
        all(sending).await.into_iter().flatten().collect()
    }

    async fn send_to(&self, sink: &dyn Sink, event: &Event) -> Option<Failure> {
        let timeout = sink.timeout().unwrap_or(self.timeout);
        let why = match tokio::time::timeout(timeout, sink.send(event)).await {
            Ok(Ok(())) => return None,
            Ok(Err(why)) => why,
            Err(_) => format!(
                "{} did not answer within {}",
                sink.name(),
                humantime::format_duration(timeout)
            ),
        };
        Some(Failure {
            sink: sink.name().to_string(),
            why,
        })
    }

    /// `send` for synchronous callers (the one-shot commands), which run no runtime
    /// of their own; without sinks it costs nothing.
    pub fn send_blocking(&self, event: &Event) -> Vec<Failure> {
        if !self.wants(event) {
            return Vec::new();
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(self.send(event)),
            Err(e) => self
                .sinks
                .iter()
                .map(|sink| Failure {
                    sink: sink.name().to_string(),
                    why: format!("cannot start a runtime to send ({e})"),
                })
                .collect(),
        }
    }
}

/// Runs the futures together; their outputs in their order.
async fn all<T>(mut futures: Vec<Boxed<'_, T>>) -> Vec<T> {
    let mut done: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (future, out) in futures.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    *out = Some(value);
                }
            }
        }
        if done.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink that keeps what it is sent.
    #[derive(Clone, Default)]
    pub(crate) struct Kept(pub Arc<Mutex<Vec<Event>>>);

    impl Sink for Kept {
        fn name(&self) -> &str {
            "kept"
        }
        fn send<'a>(&'a self, event: &'a Event) -> Sending<'a> {
            self.0.lock().unwrap().push(event.clone());
            Box::pin(async { Ok(()) })
        }
    }

    struct Broken;
    impl Sink for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn send<'a>(&'a self, _event: &'a Event) -> Sending<'a> {
            Box::pin(async { Err("it is broken".to_string()) })
        }
    }

    struct Silent;
    impl Sink for Silent {
        fn name(&self) -> &str {
            "the silent one"
        }
        fn send<'a>(&'a self, _event: &'a Event) -> Sending<'a> {
            Box::pin(std::future::pending())
        }
    }

    pub(crate) fn event() -> Event {
        Event::Deployment(DeploymentChanged {
            repository: Repository::at(Path::new("/src/api")),
            environment: "production".into(),
            deployment: "01JNM8K3Q4ZC8R1E5V3T7Y9B2D".into(),
            state: State::Success,
            at: Timestamp(1_790_000_000_000),
            commit: Commit {
                sha: "0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90".into(),
                subject: "Fix typo in README (#130)".into(),
                author: "Alice".into(),
            },
            by: "octocat".into(),
            train: Train::default(),
            from: None,
            description: None,
            links: Links::default(),
            rollback: false,
            forced: None,
            duration_ms: Some(42_000),
        })
    }

    #[tokio::test]
    async fn every_sink_gets_the_event_whatever_the_others_do() {
        let kept = Kept::default();
        let hub = Hub::new(vec![
            Box::new(Silent),
            Box::new(Broken),
            Box::new(kept.clone()),
        ])
        .timeout(Duration::from_millis(50));
        let started = std::time::Instant::now();
        let failed = hub.send(&event()).await;
        // Together, not one after the other: one timeout in all.
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(*kept.0.lock().unwrap(), vec![event()]);
        assert_eq!(
            failed,
            vec![
                Failure {
                    sink: "the silent one".into(),
                    why: "the silent one did not answer within 50ms".into()
                },
                Failure {
                    sink: "broken".into(),
                    why: "it is broken".into()
                },
            ]
        );
    }

    #[test]
    fn a_hub_without_sinks_sends_nothing_and_needs_no_runtime() {
        assert!(Hub::default().send_blocking(&event()).is_empty());
        let kept = Kept::default();
        let hub = Hub::new(vec![Box::new(kept.clone())]);
        assert!(hub.send_blocking(&event()).is_empty());
        assert_eq!(kept.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_json_document_is_versioned_and_says_its_kind() {
        let doc = json(&event());
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["kind"], "deployment");
        assert_eq!(doc["repository"]["name"], "api");
        assert_eq!(doc["environment"], "production");
        assert_eq!(doc["state"], "success");
        assert_eq!(doc["commit"]["subject"], "Fix typo in README (#130)");
        assert_eq!(doc["train"]["total"], 0);
        assert_eq!(doc["links"]["log"], serde_json::Value::Null);
        assert_eq!(doc["duration_ms"], 42_000);
    }
}
