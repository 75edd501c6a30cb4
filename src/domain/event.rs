//! Event lines, the unit of the ledger (DESIGN.md section 3):
//!
//! ```text
//! AT ENV STATE BY {JSON}
//! 2026-11-25T10:15:02.114Z production in_progress alice@example.com {"dep":"01JNM8K3Q4ZC8R1E5V3T7Y9B2D","v":1}
//! ```
//!
//! The same line format carries commit statuses in `refs/notes/ci`, where the second
//! field is the status context and the JSON has no `dep`.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use super::time::Timestamp;

/// GitHub's deployment states; CI statuses use `pending`, `success`, `failure`, `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Queued,
    Pending,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Queued,
        State::Pending,
        State::InProgress,
        State::Success,
        State::Failure,
        State::Error,
        State::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Pending => "pending",
            State::InProgress => "in_progress",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
            State::Inactive => "inactive",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A deployment in this state will not change by itself any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Success | State::Failure | State::Error | State::Inactive
        )
    }

    /// Order of events of one deployment that carry the same instant.
    pub fn rank(self) -> usize {
        self as usize
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ENV field: every byte outside `[A-Za-z0-9._-]` percent-encoded.
pub fn encode_field(text: &str) -> String {
    encode_bytes(text, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    })
}

/// The BY field: a login or an email stays as it is; spaces, `%` and control
/// characters are percent-encoded so the field never splits.
pub fn encode_author(text: &str) -> String {
    encode_bytes(text, |b| b > b' ' && b < 0x7f && b != b'%')
}

fn encode_bytes(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    encode_bytes_into(&mut out, text, keep);
    out
}

/// `encode_field`, written at the end of `out` (an index line is many fields).
pub fn encode_field_into(out: &mut String, text: &str) {
    encode_bytes_into(out, text, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    })
}

fn encode_bytes_into(out: &mut String, text: &str, keep: impl Fn(u8) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    // Runs of kept bytes are copied whole (an index rebuild encodes every URL).
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if keep(b) {
            continue;
        }
        // Only ASCII bytes are kept, so a run is ASCII, and multi-byte characters
        // are encoded whole.
        out.push_str(std::str::from_utf8(&bytes[run..i]).unwrap_or_default());
        out.push('%');
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
        run = i + 1;
    }
    out.push_str(std::str::from_utf8(&bytes[run..]).unwrap_or_default());
}

/// `decode_field`, borrowing the text when it has nothing to decode.
pub fn decode_field_cow(text: &str) -> Option<Cow<'_, str>> {
    if text.contains('%') {
        decode_field(text).map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(text))
    }
}

pub fn decode_field(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One event. `fields` is the JSON object as read, unknown keys included and in
/// their order, so nothing another tool wrote is lost.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: Timestamp,
    /// The environment (deploy ledger) or the status context (CI ledger).
    pub subject: String,
    pub state: State,
    pub by: String,
    pub fields: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub reason: &'static str,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason)
    }
}

/// The JSON keys in the order the format fixes; others follow in their own order.
pub const KEY_ORDER: [&str; 9] = [
    "dep", "v", "desc", "from", "rollback", "forced", "log", "url", "gh",
];

/// Current format version written into `v`.
pub const FORMAT_VERSION: u64 = 1;

/// A field of an event's JSON. An event has a handful of fields: comparing the keys
/// beats hashing the one asked for (the map's lookups were a tenth of an index
/// rebuild, every deployment asking each event for a dozen fields).
fn small_get<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if fields.len() <= 12 {
        fields
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    } else {
        fields.get(key)
    }
}

/// The four words before an event's JSON, read: `(at, subject, state, by, json)`.
/// The subject and author are borrowed unless they hold a percent escape.
type Head<'a> = (Timestamp, Cow<'a, str>, State, Cow<'a, str>, &'a str);

fn parse_head(line: &str) -> Result<Head<'_>, LineError> {
    let err = |reason| LineError { reason };
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut parts = line.splitn(5, ' ');
    let at = parts.next().ok_or(err("empty line"))?;
    let subject = parts.next().ok_or(err("no environment field"))?;
    let state = parts.next().ok_or(err("no state field"))?;
    let by = parts.next().ok_or(err("no author field"))?;
    let json = parts.next().ok_or(err("no JSON field"))?;
    let at = Timestamp::parse(at).ok_or(err("time is not RFC 3339 UTC with milliseconds"))?;
    let subject = decode_field_cow(subject)
        .filter(|s| !s.is_empty())
        .ok_or(err("bad environment field"))?;
    let state = State::parse(state).ok_or(err("unknown state"))?;
    let by = decode_field_cow(by)
        .filter(|s| !s.is_empty())
        .ok_or(err("bad author field"))?;
    Ok((at, subject, state, by, json))
}

/// A `dep` that is there must be a deployment id.
fn check_dep(dep: Option<Option<&str>>) -> Result<(), LineError> {
    match dep {
        Some(dep) if !dep.is_some_and(valid_id) => Err(LineError {
            reason: "dep is not a deployment id",
        }),
        _ => Ok(()),
    }
}

impl Event {
    pub fn parse(line: &str) -> Result<Event, LineError> {
        let err = |reason| LineError { reason };
        let (at, subject, state, by, json) = parse_head(line)?;
        let fields = match serde_json::from_str::<Value>(json) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(err("JSON field is not an object")),
            Err(_) => return Err(err("JSON field does not parse")),
        };
        check_dep(small_get(&fields, "dep").map(Value::as_str))?;
        Ok(Event {
            at,
            subject: subject.into_owned(),
            state,
            by: by.into_owned(),
            fields,
        })
    }

    /// The line, without its trailing newline.
    pub fn to_line(&self) -> String {
        let json = serde_json::to_string(&Value::Object(self.fields.clone()))
            .unwrap_or_else(|_| "{}".into());
        format!(
            "{} {} {} {} {}",
            self.at,
            encode_field(&self.subject),
            self.state,
            encode_author(&self.by),
            json
        )
    }
}

/// What readers ask of an event: its four words, and the fields of its JSON that
/// the format names. `Event` holds the whole line; `BorrowedEvent` is read for the
/// index, faster, and answers the same.
pub trait EventView {
    fn at(&self) -> Timestamp;
    /// The environment (deploy ledger) or the status context (CI ledger).
    fn subject(&self) -> &str;
    fn state(&self) -> State;
    fn by(&self) -> &str;
    /// The field `key` of the JSON, when it is a string.
    fn str_field(&self, key: &str) -> Option<&str>;
    /// The field `key` of the JSON is `true`.
    fn true_field(&self, key: &str) -> bool;
    /// `(repo, id)` of the GitHub Deployment.
    fn gh(&self) -> Option<(&str, u64)>;

    fn dep(&self) -> Option<&str> {
        self.str_field("dep")
    }
    fn desc(&self) -> Option<&str> {
        self.str_field("desc")
    }
    fn from(&self) -> Option<&str> {
        self.str_field("from")
    }
    fn rollback(&self) -> bool {
        self.true_field("rollback")
    }
    /// The event that retired its environment (`git train env retire`): an
    /// `inactive` line on the environment's newest deployment, `"retired":true`.
    fn retired(&self) -> bool {
        self.state() == State::Inactive && self.true_field("retired")
    }
    fn forced(&self) -> Option<&str> {
        self.str_field("forced")
    }
    fn log(&self) -> Option<&str> {
        self.str_field("log")
    }
    fn url(&self) -> Option<&str> {
        self.str_field("url")
    }
    /// The environment the deployment was in before this event moved it (GitHub moves
    /// a deployment when one of its statuses names another environment).
    fn moved(&self) -> Option<&str> {
        self.str_field("moved")
    }
}

impl EventView for Event {
    fn at(&self) -> Timestamp {
        self.at
    }
    fn subject(&self) -> &str {
        &self.subject
    }
    fn state(&self) -> State {
        self.state
    }
    fn by(&self) -> &str {
        &self.by
    }
    fn str_field(&self, key: &str) -> Option<&str> {
        small_get(&self.fields, key).and_then(Value::as_str)
    }
    fn true_field(&self, key: &str) -> bool {
        small_get(&self.fields, key) == Some(&Value::Bool(true))
    }
    fn gh(&self) -> Option<(&str, u64)> {
        let gh = small_get(&self.fields, "gh")?;
        Some((gh.get("repo")?.as_str()?, gh.get("id")?.as_u64()?))
    }
}

/// An event read for the index: its words and JSON values borrowed from the note's
/// text where no escape is in the way, and of the JSON only what `EventView` asks.
/// A rebuild reads every event of the ledger; building each one's JSON object (a
/// map, a string per key and per value) was most of its time. The JSON is parsed
/// by serde_json all the same, so a line is refused exactly when `Event::parse`
/// refuses it.
#[derive(Debug)]
pub struct BorrowedEvent<'a> {
    at: Timestamp,
    subject: Cow<'a, str>,
    state: State,
    by: Cow<'a, str>,
    /// The JSON's keys and values as written (a key written twice: the last counts).
    fields: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> BorrowedEvent<'a> {
    pub fn parse(line: &'a str) -> Result<BorrowedEvent<'a>, LineError> {
        let err = |reason| LineError { reason };
        let (at, subject, state, by, json) = parse_head(line)?;
        let fields = match serde_json::from_str::<Json>(json) {
            Ok(Json::Object(fields)) => fields,
            Ok(_) => return Err(err("JSON field is not an object")),
            Err(_) => return Err(err("JSON field does not parse")),
        };
        let event = BorrowedEvent {
            at,
            subject,
            state,
            by,
            fields,
        };
        check_dep(event.get("dep").map(Json::as_str))?;
        Ok(event)
    }

    fn get(&self, key: &str) -> Option<&Json<'a>> {
        get(&self.fields, key)
    }
}

fn get<'j, 'a>(fields: &'j [(Cow<'a, str>, Json<'a>)], key: &str) -> Option<&'j Json<'a>> {
    fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

impl EventView for BorrowedEvent<'_> {
    fn at(&self) -> Timestamp {
        self.at
    }
    fn subject(&self) -> &str {
        &self.subject
    }
    fn state(&self) -> State {
        self.state
    }
    fn by(&self) -> &str {
        &self.by
    }
    fn str_field(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Json::as_str)
    }
    fn true_field(&self, key: &str) -> bool {
        matches!(self.get(key), Some(Json::Bool(true)))
    }
    fn gh(&self) -> Option<(&str, u64)> {
        let Some(Json::Object(gh)) = self.get("gh") else {
            return None;
        };
        let repo = get(gh, "repo")?.as_str()?;
        match get(gh, "id")? {
            Json::U64(id) => Some((repo, *id)),
            _ => None,
        }
    }
}

/// A JSON value as `BorrowedEvent` keeps it: what serde_json's `Value` would say
/// of `as_str`, `as_u64`, `== Bool(true)` and `get`, and nothing of the rest.
#[derive(Debug)]
enum Json<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    /// A number `Value::as_u64` reads.
    U64(u64),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
    /// Null, another number, an array: parsed, not kept.
    Other,
}

impl Json<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// A key, borrowed unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(JsonVisitor).and_then(|j| match j {
            Json::Str(s) => Ok(Key(s)),
            _ => Err(serde::de::Error::custom("a key is a string")),
        })
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        // `Value` keeps a non-negative i64 (`-0`) as a u64.
        Ok(u64::try_from(v).map_or(Json::Other, Json::U64))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json<'de>, E> {
        Ok(Json::Other)
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Other)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        while seq.next_element::<Json>()?.is_some() {}
        Ok(Json::Other)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut fields = Vec::new();
        while let Some((Key(k), v)) = map.next_entry::<Key, Json>()? {
            fields.push((k, v));
        }
        Ok(Json::Object(fields))
    }
}

/// Deployment ids are ULIDs where git-train made them; accept any short token.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Builds the JSON of a new event with its keys in the order the format fixes.
#[derive(Default)]
pub struct Fields {
    pub dep: Option<String>,
    pub desc: Option<String>,
    pub from: Option<String>,
    pub rollback: bool,
    pub forced: Option<String>,
    pub log: Option<String>,
    pub url: Option<String>,
    /// The environment this event moves the deployment from.
    pub moved: Option<String>,
    pub gh: Option<(String, u64)>,
    /// The environment is retired from here on (written last).
    pub retired: bool,
}

impl Fields {
    pub fn into_map(self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(dep) = self.dep {
            map.insert("dep".into(), dep.into());
        }
        map.insert("v".into(), FORMAT_VERSION.into());
        let rollback = self.rollback.then_some(Value::Bool(true));
        let text = |v: Option<String>| v.map(Value::String);
        let keyed = [
            ("desc", text(self.desc)),
            ("from", text(self.from)),
            ("rollback", rollback),
            ("forced", text(self.forced)),
            ("log", text(self.log)),
            ("url", text(self.url)),
            ("moved", text(self.moved)),
        ];
        for (key, value) in keyed {
            if let Some(value) = value {
                map.insert(key.into(), value);
            }
        }
        if let Some((repo, id)) = self.gh {
            let mut gh = Map::new();
            gh.insert("repo".into(), repo.into());
            gh.insert("id".into(), id.into());
            map.insert("gh".into(), Value::Object(gh));
        }
        if self.retired {
            map.insert("retired".into(), Value::Bool(true));
        }
        map
    }
}

/// Sorts events of one note into time order; ties follow the state list.
pub fn sort_events<E: EventView>(events: &mut [E]) {
    events.sort_by_key(|e| (e.at(), e.state().rank()));
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"2026-11-25T10:17:40.020Z production success alice@example.com {"dep":"01JNM8K3Q4ZC8R1E5V3T7Y9B2D","v":1,"log":"https://ci.example/42"}"#;

    #[test]
    fn parses_the_design_example() {
        let e = Event::parse(LINE).unwrap();
        assert_eq!(e.subject, "production");
        assert_eq!(e.state, State::Success);
        assert_eq!(e.by, "alice@example.com");
        assert_eq!(e.dep(), Some("01JNM8K3Q4ZC8R1E5V3T7Y9B2D"));
        assert_eq!(e.log(), Some("https://ci.example/42"));
        assert_eq!(e.to_line(), LINE);
    }

    #[test]
    fn keeps_unknown_keys_in_place() {
        let line = r#"2026-11-25T10:17:40.020Z staging queued bob {"dep":"A1","v":1,"zz":{"a":[1,2]},"desc":"x"}"#;
        let e = Event::parse(line).unwrap();
        assert_eq!(e.to_line(), line);
    }

    #[test]
    fn builds_keys_in_format_order() {
        let fields = Fields {
            dep: Some("D".into()),
            gh: Some(("o/r".into(), 7)),
            forced: Some("hotfix".into()),
            from: Some("abc".into()),
            rollback: true,
            ..Fields::default()
        };
        let json = serde_json::to_string(&Value::Object(fields.into_map())).unwrap();
        assert_eq!(
            json,
            r#"{"dep":"D","v":1,"from":"abc","rollback":true,"forced":"hotfix","gh":{"repo":"o/r","id":7}}"#
        );
    }

    #[test]
    fn encodes_fields_without_spaces() {
        assert_eq!(encode_field("ci/build: linux"), "ci%2Fbuild%3A%20linux");
        assert_eq!(
            decode_field("ci%2Fbuild%3A%20linux").unwrap(),
            "ci/build: linux"
        );
        assert_eq!(decode_field("bad%2"), None);
        assert_eq!(encode_author("alice@example.com"), "alice@example.com");
        assert_eq!(encode_author("Alice Smith"), "Alice%20Smith");
    }

    #[test]
    fn rejects_broken_lines() {
        for bad in [
            "",
            "garbage",
            "2026-11-25T10:17:40.020Z production success alice",
            "2026-11-25T10:17:40.020Z production done alice {}",
            "2026-11-25T10:17:40.020Z production success alice [1]",
            "2026-11-25T10:17:40.020Z production success alice {\"dep\":",
            "2026-11-25T10:17:40.020Z production success alice {\"dep\":\"a b\"}",
        ] {
            assert!(Event::parse(bad).is_err(), "{bad}");
        }
    }
}
