//! The bodies posted: Slack's `text` and `blocks`, Discord's `content` and embed, and
//! the generic webhook's JSON document of the event, signed with HMAC-SHA256.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::message::{self, fit, Flavour};
use crate::config::ChannelKind;
use crate::notify::Event;

/// The header that carries the signature: `sha256=` and the HMAC's hex digits.
pub const SIGNATURE_HEADER: &str = "x-git-train-signature";

/// The body for a channel of this kind, or None for an event it does not post.
pub fn body(kind: ChannelKind, event: &Event, people: &BTreeMap<String, String>) -> Option<Value> {
    match kind {
        ChannelKind::Slack => message::render(Flavour::Slack, event, people).map(|m| slack(&m)),
        ChannelKind::Discord => {
            message::render(Flavour::Discord, event, people).map(|m| discord(&m))
        }
        ChannelKind::Webhook => Some(crate::notify::json(event)),
    }
}

/// Slack: `text` (what notifications show) and `blocks`, with the train and the
/// links in an attachment coloured by the outcome. Section texts stay under Slack's
/// 3,000 characters.
fn slack(m: &message::Message) -> Value {
    let top = std::iter::once(m.headline.clone())
        .chain(m.details.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n");
    let blocks = json!([{
        "type": "section",
        "text": {"type": "mrkdwn", "text": fit(&top, 3000)},
    }]);
    let mut coloured = Vec::new();
    if !m.train.is_empty() {
        coloured.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": fit(&m.train.join("\n"), 3000)},
        }));
    }
    if !m.footer.is_empty() {
        coloured.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": fit(&m.footer.join(" · "), 3000)}],
        }));
    }
    let mut body = json!({ "text": fit(&m.plain, 3000), "blocks": blocks });
    if !coloured.is_empty() {
        body["attachments"] = json!([{ "color": hex(m.tone.rgb()), "blocks": coloured }]);
    }
    body
}

fn hex(rgb: u32) -> String {
    format!("#{rgb:06x}")
}

/// Discord: the headline as `content`, the rest as one embed coloured by the
/// outcome; no mention pings anyone.
fn discord(m: &message::Message) -> Value {
    let mut description = m.details.join("\n");
    if !m.train.is_empty() {
        description.push_str("\n\n");
        description.push_str(&m.train.join("\n"));
    }
    if !m.footer.is_empty() {
        description.push_str("\n\n");
        description.push_str(&m.footer.join(" · "));
    }
    json!({
        "content": fit(&m.headline, 2000),
        "embeds": [{
            "description": fit(&description, 4000),
            "color": m.tone.rgb(),
        }],
        "allowed_mentions": {"parse": []},
    })
}

/// `sha256=` and the HMAC-SHA256 of the body with the secret, in lower-case hex.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::{Commit, DeploymentChanged, Links, Train};

    fn deployment() -> DeploymentChanged {
        let Event::Deployment(mut d) = crate::notify::tests::event() else {
            unreachable!()
        };
        d.repository.web = Some("https://github.com/acme/api".into());
        d.by = "alice@example.com".into();
        d.commit.subject = "Ship <@channel> & <https://evil.example|click> (#130)".into();
        d.from = Some("1111111111111111111111111111111111111111".into());
        d.train = Train {
            commits: (0..12)
                .map(|i| Commit {
                    sha: format!("{i:040x}"),
                    subject: format!("change {i} (#{})", 100 + i),
                    author: "Bob".into(),
                })
                .collect(),
            total: 14,
            complete: true,
        };
        d.links = Links {
            log: Some("https://ci.example/run/9".into()),
            environment: Some("https://grafana.example/d/api?a=1&b=2".into()),
        };
        d
    }

    fn people() -> BTreeMap<String, String> {
        BTreeMap::from([("alice@example.com".to_string(), "U024BE7LH".to_string())])
    }

    #[test]
    fn slack_escapes_subjects_links_pull_requests_and_mentions_people() {
        let body = body(
            ChannelKind::Slack,
            &Event::Deployment(deployment()),
            &people(),
        )
        .unwrap();
        let text = body.to_string();
        assert!(
            body["text"].as_str().unwrap().contains("succeeded"),
            "{body}"
        );
        let top = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            top.contains("&lt;@channel&gt; &amp; &lt;https://evil.example|click&gt;"),
            "{top}"
        );
        assert!(
            !text.contains("<@channel>") && !text.contains("<https://evil"),
            "{text}"
        );
        assert!(top.contains("by <@U024BE7LH>"), "{top}");
        assert!(
            top.contains("(<https://github.com/acme/api/pull/130|#130>)"),
            "{top}"
        );
        assert!(top.contains("<https://github.com/acme/api/commit/0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90|0377e3c>"), "{top}");
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#2eb886");
        let train = attachment["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(train.starts_with("brings 14 commits:\n"), "{train}");
        assert_eq!(train.matches("\n• ").count(), 10, "{train}");
        assert!(train.ends_with("… and 4 more"), "{train}");
        let footer = attachment["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            footer.contains("<https://github.com/acme/api/compare/1111111111111111111111111111111111111111...0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90|compare>"),
            "{footer}"
        );
        assert!(
            footer.contains("<https://grafana.example/d/api?a=1&amp;b=2|dashboard>"),
            "{footer}"
        );
        assert!(
            footer.contains("<https://ci.example/run/9|log>"),
            "{footer}"
        );
        assert!(footer.contains("took 42s"), "{footer}");
    }

    #[test]
    fn discord_escapes_markdown_and_pings_nobody() {
        let mut d = deployment();
        d.commit.subject = "Fix **bold** [x](https://evil.example) @everyone".into();
        d.state = crate::domain::State::Failure;
        d.description = Some("run command exited with status 3".into());
        let body = body(ChannelKind::Discord, &Event::Deployment(d), &people()).unwrap();
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert!(body["content"].as_str().unwrap().contains("failed"));
        let embed = &body["embeds"][0];
        assert_eq!(embed["color"], 0xd40e0d);
        let description = embed["description"].as_str().unwrap();
        assert!(
            description.contains(r"Fix \*\*bold\*\* \[x\]\(https\://evil.example\) \@everyone"),
            "{description}"
        );
        assert!(
            description.contains("**why**: run command exited with status 3"),
            "{description}"
        );
        assert!(
            description.contains("by alice\\@example.com"),
            "{description}"
        );
    }

    #[test]
    fn the_webhook_posts_the_versioned_event_and_signs_it() {
        let d = deployment();
        let body = body(
            ChannelKind::Webhook,
            &Event::Deployment(d.clone()),
            &people(),
        )
        .unwrap();
        assert_eq!(body, crate::notify::json(&Event::Deployment(d)));
        assert_eq!(body["version"], 1);
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn digest(waiting: usize) -> crate::notify::StaleDigest {
        use crate::domain::Timestamp;
        use crate::notify::{LastDeployment, Person, StaleDigest, WaitingCommit};
        let day = 86_400_000;
        let commits: Vec<WaitingCommit> = (0..waiting.min(crate::notify::DIGEST_LISTED))
            .map(|i| WaitingCommit {
                sha: format!("{:040x}", i + 1),
                subject: format!("change {i} (#{})", 100 + i),
                author: if i % 2 == 0 { "Alice" } else { "Bob" }.into(),
                email: if i % 2 == 0 {
                    "alice@example.com"
                } else {
                    "bob@example.com"
                }
                .into(),
                at: Timestamp(1_790_000_000_000 - (30 - i as i64) * day),
                waited_ms: (30 - i as i64) * day,
                pull_request: Some(100 + i as u64),
            })
            .collect();
        StaleDigest {
            repository: crate::notify::Repository {
                web: Some("https://github.com/acme/api".into()),
                ..crate::notify::Repository::at(std::path::Path::new("/src/api"))
            },
            environment: "production".into(),
            at: Timestamp(1_790_000_000_000),
            older_than_ms: day,
            waiting,
            complete: true,
            commits,
            authors: vec![
                Person {
                    name: "Alice".into(),
                    email: "alice@example.com".into(),
                },
                Person {
                    name: "Bob".into(),
                    email: "bob@example.com".into(),
                },
            ],
            newer: 0,
            deployed: Some(LastDeployment {
                sha: "1111111111111111111111111111111111111111".into(),
                deployment: "01JNM8K3Q4ZC8R1E5V3T7Y9B2D".into(),
                by: "alice@example.com".into(),
                at: Timestamp(1_790_000_000_000 - 31 * day),
            }),
            command: "git train deploy production".into(),
        }
    }

    #[test]
    fn a_digest_lists_ten_commits_mentions_authors_and_says_how_to_ship_them() {
        let body = body(ChannelKind::Slack, &Event::Digest(digest(14)), &people()).unwrap();
        let top = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            top.starts_with("⏳ *api* · *production*: 14 commits wait, oldest 4w: <https://github.com/acme/api/commit/0000000000000000000000000000000000000001|0000000> change 0 (<https://github.com/acme/api/pull/100|#100>) by <@U024BE7LH>\n"),
            "{top}"
        );
        assert!(
            top.contains("production runs <https://github.com/acme/api/commit/1111111111111111111111111111111111111111|1111111>, deployed by <@U024BE7LH> 4w ago"),
            "{top}"
        );
        assert!(top.ends_with("*authors*: <@U024BE7LH>, Bob"), "{top}");
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#daa038");
        let train = attachment["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            train.starts_with("waiting longer than 24h, oldest first:\n• "),
            "{train}"
        );
        assert_eq!(train.matches("\n• ").count(), 10, "{train}");
        assert!(train.contains("(Bob, 3w)"), "{train}");
        assert!(train.ends_with("\n… and 4 more"), "{train}");
        let footer = attachment["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert_eq!(footer, "ship them: `git train deploy production`");
        assert!(body["text"].as_str().unwrap().starts_with(
            "⏳ api · production: 14 commits wait, oldest 4w: 0000000 change 0 (#100) by Alice"
        ));

        let one = body_of(ChannelKind::Discord, digest(1));
        assert!(
            one["content"]
                .as_str()
                .unwrap()
                .contains("**production**: 1 commit waits, oldest 4w"),
            "{one}"
        );
        let description = one["embeds"][0]["description"].as_str().unwrap();
        assert!(!description.contains("more"), "{description}");
        assert!(
            description.contains("ship them: `git train deploy production`"),
            "{description}"
        );

        let webhook = body_of(ChannelKind::Webhook, digest(14));
        assert_eq!(webhook["kind"], "digest");
        assert_eq!(webhook["commits"].as_array().unwrap().len(), 14);
        assert_eq!(webhook["commits"][0]["pull_request"], 100);
    }

    fn body_of(kind: ChannelKind, d: crate::notify::StaleDigest) -> Value {
        body(kind, &Event::Digest(d), &people()).unwrap()
    }

    #[test]
    fn a_rollback_says_what_it_takes_away() {
        let mut d = deployment();
        d.rollback = true;
        d.state = crate::domain::State::InProgress;
        d.forced = Some("INC-42 <!here>".into());
        let body = body(ChannelKind::Slack, &Event::Deployment(d), &BTreeMap::new()).unwrap();
        let top = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            top.starts_with("⏪ *api*: forced rollback of `0377e3c` to *production* started"),
            "{top}"
        );
        assert!(top.contains("by alice@example.com"), "{top}");
        assert!(top.contains("*forced*: INC-42 &lt;!here&gt;"), "{top}");
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#439fe0");
        let train = attachment["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(train.starts_with("takes away 14 commits:"), "{train}");
        let footer = attachment["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(footer.contains("/compare/0377e3c0a1b2c3d4e5f60718293a4b5c6d7e8f90...1111111111111111111111111111111111111111|compare>"), "{footer}");
        assert!(!footer.contains("took"), "not ended: {footer}");
    }
}
