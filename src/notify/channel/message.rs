//! What a channel message says, the same in Slack and Discord: a headline, the
//! commit and who, what went wrong or was overridden, the train, and the links. Each
//! text taken from commits, the ledger or the configuration goes through
//! [`Flavour::escape`] (DESIGN.md section 8), so that a subject makes no link, no
//! mention and no formatting.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::time::format_age;
use crate::domain::State;
use crate::notify::{
    ChannelTest, Commit, DeploymentChanged, Event, LockAction, LockChanged, StaleDigest,
    WaitingCommit,
};

/// The commits of a train a message lists; the rest are counted.
pub const TRAIN_SHOWN: usize = 10;
/// The authors a digest names; the rest are counted.
const AUTHORS_SHOWN: usize = 20;
/// The longest subject a message shows, in characters.
const SUBJECT_SHOWN: usize = 120;

/// The markup of a chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// Slack's mrkdwn.
    Slack,
    /// Discord's markdown.
    Discord,
}

/// How the outcome colours the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Going,
    Warning,
    Quiet,
}

impl Tone {
    pub fn rgb(self) -> u32 {
        match self {
            Tone::Good => 0x2eb886,
            Tone::Bad => 0xd40e0d,
            Tone::Going => 0x439fe0,
            Tone::Warning => 0xdaa038,
            Tone::Quiet => 0x979a9e,
        }
    }
}

/// A message, marked up for one flavour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// What happened, on one line.
    pub headline: String,
    /// The headline without markup, escaped: a notification's text.
    pub plain: String,
    /// The commit and who, then what went wrong or was overridden.
    pub details: Vec<String>,
    /// What the deployment brings: a title line, then one line per commit.
    pub train: Vec<String>,
    /// Links and how long it took.
    pub footer: Vec<String>,
    pub tone: Tone,
}

/// The message of an event, or None for the events channels do not post.
/// `people` maps an email or login, in lower case, to a Slack member id.
pub fn render(
    flavour: Flavour,
    event: &Event,
    people: &BTreeMap<String, String>,
) -> Option<Message> {
    let m = Markup { flavour, people };
    match event {
        Event::Deployment(d) => Some(m.deployment(d)),
        Event::Lock(l) => Some(m.lock(&event.repository().name, l)),
        Event::Test(t) => Some(m.test(t)),
        Event::Digest(d) => Some(m.digest(d)),
        Event::Ci(_)
        | Event::Stale(_)
        | Event::Summary(_)
        | Event::Shipped(_)
        | Event::Unreachable(_) => None,
    }
}

struct Markup<'a> {
    flavour: Flavour,
    people: &'a BTreeMap<String, String>,
}

impl Markup<'_> {
    fn deployment(&self, d: &DeploymentChanged) -> Message {
        let (icon, word, tone) = match d.state {
            State::Queued | State::Pending => ("⏳", "requested", Tone::Going),
            State::InProgress => ("🚀", "started", Tone::Going),
            State::Success => ("✅", "succeeded", Tone::Good),
            State::Failure => ("❌", "failed", Tone::Bad),
            State::Error => ("❌", "errored", Tone::Bad),
            State::Inactive => ("⏹", "is inactive", Tone::Quiet),
        };
        let icon = if d.rollback && d.state == State::InProgress {
            "⏪"
        } else {
            icon
        };
        let what = match (d.rollback, d.forced.is_some()) {
            (true, true) => "forced rollback",
            (true, false) => "rollback",
            (false, true) => "forced deployment",
            (false, false) => "deployment",
        };
        let repo = self.escape(&d.repository.name);
        let env = self.escape(&d.environment);
        let short = d.commit.short();
        let headline = format!(
            "{icon} {}: {what} of {} to {} {word}",
            self.bold(&repo),
            self.code(short),
            self.bold(&env)
        );
        let plain = format!("{icon} {repo}: {what} of {short} to {env} {word}");

        let web = d.repository.web.as_deref();
        let mut details = vec![format!(
            "{}, by {}",
            self.commit(web, &d.commit),
            self.who(&d.by)
        )];
        if let Some(why) = &d.description {
            let why = self.escape(&one_line(why, 300));
            details.push(match d.state {
                State::Failure | State::Error => format!("{}: {why}", self.bold("why")),
                _ => why,
            });
        }
        if let Some(reason) = &d.forced {
            details.push(format!(
                "⚠️ {}: {}",
                self.bold("forced"),
                self.escape(&one_line(reason, 300))
            ));
        }

        let mut train = Vec::new();
        let brings = d.from.is_some() && d.from.as_deref() != Some(d.commit.sha.as_str());
        if brings && d.train.total > 0 {
            let n = d.train.total;
            let commits = if n == 1 { "commit" } else { "commits" };
            let more = if d.train.complete { "" } else { "more than " };
            let verb = if d.rollback { "takes away" } else { "brings" };
            train.push(format!("{verb} {more}{n} {commits}:"));
            for c in d.train.commits.iter().take(TRAIN_SHOWN) {
                let author = if c.author.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.escape(&one_line(&c.author, 60)))
                };
                train.push(format!("• {}{author}", self.commit(web, c)));
            }
            let listed = d.train.commits.len().min(TRAIN_SHOWN);
            if n > listed {
                train.push(format!("… and {more}{} more", n - listed));
            }
        }

        let mut footer = Vec::new();
        if let (Some(web), Some(from), true) = (web, &d.from, brings) {
            // Old...new: for a rollback, the commits it takes away.
            let (old, new) = if d.rollback {
                (d.commit.sha.as_str(), from.as_str())
            } else {
                (from.as_str(), d.commit.sha.as_str())
            };
            footer.extend(self.link(&format!("{web}/compare/{old}...{new}"), "compare"));
        }
        if let Some(url) = &d.links.environment {
            footer.extend(self.link(url, "dashboard"));
        }
        if let Some(url) = &d.links.log {
            footer.extend(self.link(url, "log"));
        }
        if let Some(ms) = d.duration_ms.filter(|_| d.state.is_final()) {
            let took = Duration::from_secs(u64::try_from(ms.max(0) / 1000).unwrap_or(0));
            footer.push(format!("took {}", humantime::format_duration(took)));
        }
        Message {
            headline,
            plain,
            details,
            train,
            footer,
            tone,
        }
    }

    fn lock(&self, repo: &str, l: &LockChanged) -> Message {
        let repo = self.escape(repo);
        let env = self.escape(&l.environment);
        let by = self.who(&l.by);
        let (icon, what, tone) = match (l.action, &l.forced) {
            (LockAction::Taken, _) => ("🔒", "locked", Tone::Warning),
            (LockAction::Released, Some(_)) => ("⚠️", "unlocked by force", Tone::Bad),
            (LockAction::Released, None) => ("🔓", "unlocked", Tone::Quiet),
        };
        let headline = format!(
            "{icon} {}: {} {what} by {by}",
            self.bold(&repo),
            self.bold(&env)
        );
        let plain = format!("{icon} {repo}: {env} {what} by {}", self.escape(&l.by));
        let mut details = Vec::new();
        match l.action {
            LockAction::Taken => {
                details.push(format!("only {by} deploys to {env} until it is unlocked"))
            }
            LockAction::Released if l.forced.is_some() => {
                details.push(format!("it was the lock of {}", self.who(&l.holder)))
            }
            LockAction::Released => {}
        }
        if let Some(reason) = &l.reason {
            details.push(format!(
                "{}: {}",
                self.bold("reason"),
                self.escape(&one_line(reason, 300))
            ));
        }
        if let Some(why) = &l.forced {
            details.push(format!(
                "⚠️ {}: {}",
                self.bold("forced"),
                self.escape(&one_line(why, 300))
            ));
        }
        if details.is_empty() {
            details.push(format!("anyone may deploy to {env} again"));
        }
        Message {
            headline,
            plain,
            details,
            train: Vec::new(),
            footer: Vec::new(),
            tone,
        }
    }

    fn test(&self, t: &ChannelTest) -> Message {
        let repo = self.escape(&t.repository.name);
        let channel = self.escape(&t.channel);
        Message {
            headline: format!(
                "🔔 {}: a test message from git-train for channel {}",
                self.bold(&repo),
                self.bold(&channel)
            ),
            plain: format!("🔔 {repo}: a test message from git-train for channel {channel}"),
            details: vec![format!(
                "sent by {} with `git train channels test`: deployments will be posted here",
                self.who(&t.by)
            )],
            train: Vec::new(),
            footer: Vec::new(),
            tone: Tone::Quiet,
        }
    }

    /// `stale --post`: how many commits wait and the oldest, what the environment
    /// runs and who deployed it, the authors (mentioned), the oldest commits, and the
    /// command that ships them.
    fn digest(&self, d: &StaleDigest) -> Message {
        let repo = self.escape(&d.repository.name);
        let env = self.escape(&d.environment);
        let web = d.repository.web.as_deref();
        let more = if d.complete { "" } else { "+" };
        let count = match d.waiting {
            1 if d.complete => "1 commit waits".to_string(),
            n => format!("{n}{more} commits wait"),
        };
        let (headline, plain) = match d.commits.first() {
            Some(c) => {
                let age = format_age(c.waited_ms);
                (
                    format!(
                        "⏳ {} · {}: {count}, oldest {age}: {} by {}",
                        self.bold(&repo),
                        self.bold(&env),
                        self.commit(web, &c.commit()),
                        self.author(c)
                    ),
                    format!(
                        "⏳ {repo} · {env}: {count}, oldest {age}: {} {} by {}",
                        c.commit().short(),
                        self.escape(&one_line(&c.subject, SUBJECT_SHOWN)),
                        self.escape(&one_line(name_of(c), 60))
                    ),
                )
            }
            None => (
                format!(
                    "⏳ {} · {}: nothing waits",
                    self.bold(&repo),
                    self.bold(&env)
                ),
                format!("⏳ {repo} · {env}: nothing waits"),
            ),
        };

        let mut details = Vec::new();
        if let Some(last) = &d.deployed {
            let runs = Commit {
                sha: last.sha.clone(),
                subject: String::new(),
                author: String::new(),
            };
            let sha = self.commit(web, &runs);
            let ago = format_age(d.at.millis_since(last.at));
            details.push(format!(
                "{env} runs {}, deployed by {} {ago} ago",
                sha.trim_end(),
                self.who(&last.by)
            ));
        }
        if !d.authors.is_empty() {
            let mut names: Vec<String> = d
                .authors
                .iter()
                .take(AUTHORS_SHOWN)
                .map(|p| self.person(&p.name, &p.email))
                .collect();
            if d.authors.len() > AUTHORS_SHOWN {
                names.push(format!("and {} more", d.authors.len() - AUTHORS_SHOWN));
            }
            details.push(format!("{}: {}", self.bold("authors"), names.join(", ")));
        }

        let mut train = Vec::new();
        if !d.commits.is_empty() {
            train.push(format!(
                "waiting longer than {}, oldest first:",
                crate::domain::time::format_exact(d.older_than_ms)
            ));
            for c in d.commits.iter().take(TRAIN_SHOWN) {
                train.push(format!(
                    "• {} ({}, {})",
                    self.commit(web, &c.commit()),
                    self.author(c),
                    format_age(c.waited_ms)
                ));
            }
            let listed = d.commits.len().min(TRAIN_SHOWN);
            if d.waiting > listed || !d.complete {
                let than = if d.complete { "" } else { "more than " };
                train.push(format!(
                    "… and {than}{} more",
                    d.waiting.saturating_sub(listed)
                ));
            }
        }

        // An environment's name is letters, digits, '.', '_' and '-': safe in code.
        let command: String = d
            .command
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || " ._-".contains(*c))
            .collect();
        let mut ship = format!("ship them: `{command}`");
        if d.newer > 0 {
            let commits = if d.newer == 1 { "commit" } else { "commits" };
            ship.push_str(&format!(" (with {} newer {commits})", d.newer));
        }
        Message {
            headline,
            plain,
            details,
            train,
            footer: vec![ship],
            tone: Tone::Warning,
        }
    }

    /// A commit's author: a Slack mention when `[people]` knows their email.
    fn author(&self, c: &WaitingCommit) -> String {
        self.person(&c.author, &c.email)
    }

    fn person(&self, name: &str, email: &str) -> String {
        let id = [email, name]
            .iter()
            .filter(|key| !key.is_empty())
            .find_map(|key| self.people.get(&key.to_lowercase()));
        match (self.flavour, id) {
            (Flavour::Slack, Some(id)) => format!("<@{id}>"),
            _ if name.is_empty() => self.escape(&one_line(email, 60)),
            _ => self.escape(&one_line(name, 60)),
        }
    }

    /// A commit: its short sha (linked on GitHub) and its subject, whose `(#123)`
    /// pull-request numbers are linked on GitHub.
    fn commit(&self, web: Option<&str>, c: &Commit) -> String {
        let short = self.code(c.short());
        // Slack shows a code span inside a link's label as it is, backticks and all.
        let label = match self.flavour {
            Flavour::Slack => self.escape(c.short()),
            Flavour::Discord => short.clone(),
        };
        let sha = web
            .and_then(|w| self.link(&format!("{w}/commit/{}", c.sha), &label))
            .unwrap_or(short);
        format!(
            "{sha} {}",
            self.subject(web, &one_line(&c.subject, SUBJECT_SHOWN))
        )
    }

    fn subject(&self, web: Option<&str>, subject: &str) -> String {
        let mut out = String::new();
        let mut rest = subject;
        while let Some(at) = rest.find("(#") {
            let digits: String = rest[at + 2..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let end = at + 2 + digits.len();
            let closes = !digits.is_empty() && digits.len() <= 9 && rest[end..].starts_with(')');
            let linked = web
                .filter(|_| closes)
                .and_then(|w| self.link(&format!("{w}/pull/{digits}"), &format!("#{digits}")));
            match linked {
                Some(link) => {
                    out.push_str(&self.escape(&rest[..at]));
                    out.push('(');
                    out.push_str(&link);
                    out.push(')');
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push_str(&self.escape(&rest[..at + 2]));
                    rest = &rest[at + 2..];
                }
            }
        }
        out.push_str(&self.escape(rest));
        out
    }

    /// Who: a Slack mention when `[people]` knows them.
    fn who(&self, by: &str) -> String {
        match (self.flavour, self.people.get(&by.to_lowercase())) {
            (Flavour::Slack, Some(id)) => format!("<@{id}>"),
            _ => self.escape(by),
        }
    }

    fn escape(&self, text: &str) -> String {
        escape(self.flavour, text)
    }

    /// Bold, around text already escaped.
    fn bold(&self, escaped: &str) -> String {
        match self.flavour {
            Flavour::Slack => format!("*{escaped}*"),
            Flavour::Discord => format!("**{escaped}**"),
        }
    }

    /// A short sha (hex: nothing to escape).
    fn code(&self, sha: &str) -> String {
        let hex: String = sha.chars().filter(char::is_ascii_hexdigit).collect();
        format!("`{hex}`")
    }

    /// A link with a label already escaped; None when `url` is no http(s) URL that
    /// can be linked safely (the label alone is shown then by the caller, or nothing).
    fn link(&self, url: &str, label: &str) -> Option<String> {
        let url = linkable(url)?;
        Some(match self.flavour {
            // Slack reads `<URL|label>`: `|`, `<` and `>` end it, `&` is an entity.
            Flavour::Slack => format!(
                "<{}|{label}>",
                url.replace('&', "&amp;")
                    .replace('|', "%7C")
                    .replace('<', "%3C")
                    .replace('>', "%3E")
            ),
            // Discord reads `[label](URL)`: a parenthesis or a space ends it.
            Flavour::Discord => format!(
                "[{label}]({})",
                url.replace('(', "%28")
                    .replace(')', "%29")
                    .replace(' ', "%20")
            ),
        })
    }
}

/// A waiting commit's author as text: the name, else the email.
fn name_of(c: &WaitingCommit) -> &str {
    if c.author.is_empty() {
        &c.email
    } else {
        &c.author
    }
}

/// Escapes text for a flavour, so that it shows as it is.
pub fn escape(flavour: Flavour, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        match (flavour, c) {
            (Flavour::Slack, '&') => out.push_str("&amp;"),
            (Flavour::Slack, '<') => out.push_str("&lt;"),
            (Flavour::Slack, '>') => out.push_str("&gt;"),
            (Flavour::Discord, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']')
            | (Flavour::Discord, '(' | ')' | '#' | '@' | ':' | '-') => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A URL that a link may carry: http or https, with a host and no user name or
/// password; as the `url` crate writes it (spaces and quotes percent-encoded).
fn linkable(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let url = url::Url::parse(text).ok()?;
    let fine = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none();
    fine.then(|| url.to_string())
}

/// The first line of a text, at most `max` characters (an ellipsis marks the cut).
fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() <= max && !text.trim().contains('\n') {
        return line.to_string();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// Cuts marked-up text to at most `max` characters at a line's end, so that no
/// link, entity or code span is cut in two (a last resort: messages are short).
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 2 > max {
            out.push('…');
            return out;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
