//! Instants in the ledger: UTC, RFC 3339 with milliseconds, always 24 characters,
//! so that the byte order of event lines is their time order.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// 9999-12-31T23:59:59.999Z: the last instant the 24-character form can hold.
const LAST_MS: i64 = 253_402_300_799_999;

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`). Not jiff's: its instants end before the last day
/// of 9999, which the ledger's form can hold (the test below caught it).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Timestamp {
    pub fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000))
    }

    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Parses exactly the 24-character form `2026-11-25T10:15:02.114Z`: exactly the
    /// instants that format back to the same bytes: from 1970 on, no
    /// leap second, no 31 November. Read directly: every event line of the ledger
    /// has one (through a general RFC 3339 parser and back it was 6% of a rebuild).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() != 24
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'.'
            || b[23] != b'Z'
        {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            b[from..to].iter().try_fold(0i64, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if year < 1970 || day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Timestamp(
            ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms,
        ))
    }

    /// Parses the forms a user types: RFC 3339 (any precision) or a date `YYYY-MM-DD`.
    pub fn parse_loose(text: &str) -> Option<Timestamp> {
        let full;
        let text = if text.len() == 10 {
            full = format!("{text}T00:00:00Z");
            &full
        } else {
            text
        };
        let time = humantime::parse_rfc3339_weak(text).ok()?;
        let ms = time.duration_since(UNIX_EPOCH).ok()?.as_millis();
        i64::try_from(ms).ok().map(Timestamp)
    }

    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Out-of-range instants (a commit dated in the year 11000) show clamped,
        // never as a formatting error that would panic a `to_string`.
        let ms = u64::try_from(self.0.clamp(0, LAST_MS)).unwrap_or(0);
        let time = UNIX_EPOCH + Duration::from_millis(ms);
        write!(f, "{}", humantime::format_rfc3339_millis(time))
    }
}

/// A short human age: `45s`, `12m`, `3h`, `2d 4h`, `5w`.
pub fn format_age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        86_400..=1_209_599 => {
            let h = (s % 86_400) / 3600;
            if h == 0 {
                format!("{}d", s / 86_400)
            } else {
                format!("{}d {}h", s / 86_400, h)
            }
        }
        _ => format!("{}w", s / 604_800),
    }
}

/// A threshold as it is written, exact, in its largest whole unit: `45s`, `90m`,
/// `24h`, `36h`, `2d`, `20d` (a day only from two, as `24h` reads better than `1d`).
pub fn format_exact(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s >= 2 * 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The longest duration anything takes: beyond it a typo (`18446744073709551615s`)
/// would overflow every clock it is added to.
pub const MAX_DURATION: Duration = Duration::from_secs(36_525 * 86_400);

/// A duration as users write it in config and flags: `90s`, `30m`, `24h`, `7d`, `2w`;
/// more than zero and at most `MAX_DURATION`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let d = humantime::parse_duration(text.trim()).ok()?;
    (!d.is_zero() && d <= MAX_DURATION).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_show_exactly() {
        let h = 3_600_000;
        assert_eq!(format_exact(24 * h), "24h");
        assert_eq!(format_exact(48 * h), "2d");
        assert_eq!(format_exact(20 * 24 * h), "20d");
        assert_eq!(format_exact(36 * h), "36h");
        assert_eq!(format_exact(90 * 60_000), "90m");
        assert_eq!(format_exact(45_000), "45s");
        assert_eq!(format_exact(61_000), "61s");
    }

    #[test]
    fn round_trips_the_ledger_form() {
        let t = Timestamp::parse("2026-11-25T10:15:02.114Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T10:15:02.114Z");
        assert_eq!(t.0 % 1000, 114);
    }

    /// The general RFC 3339 parser, and back: what `parse` must agree with.
    fn through_humantime(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() != 24 || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
            return None;
        }
        let time = humantime::parse_rfc3339(text).ok()?;
        let ms = time.duration_since(UNIX_EPOCH).ok()?.as_millis();
        let stamp = Timestamp(i64::try_from(ms).ok()?);
        (stamp.to_string() == text).then_some(stamp)
    }

    #[test]
    fn parses_as_the_general_parser_and_back() {
        // Every day of some years (leap, century, the ends of the range), at
        // instants near the edges of a day, and bytes changed one at a time.
        let mut seen = 0;
        for year in [1969, 1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999] {
            for month in 0..=13 {
                for day in 0..=32 {
                    for time in [
                        "00:00:00.000",
                        "23:59:59.999",
                        "12:30:60.000",
                        "24:00:00.000",
                    ] {
                        let text = format!("{year:04}-{month:02}-{day:02}T{time}Z");
                        assert_eq!(Timestamp::parse(&text), through_humantime(&text), "{text}");
                        seen += usize::from(Timestamp::parse(&text).is_some());
                    }
                }
            }
        }
        assert!(seen > 5000, "{seen}");
        let good = "2026-11-25T10:15:02.114Z";
        for at in 0..good.len() {
            for with in [b'0', b'9', b'a', b'-', b':', b' ', b'+'] {
                let mut bytes = good.as_bytes().to_vec();
                bytes[at] = with;
                let text = String::from_utf8(bytes).unwrap();
                assert_eq!(Timestamp::parse(&text), through_humantime(&text), "{text}");
            }
        }
        let t = Timestamp::parse("9999-12-31T23:59:59.999Z").unwrap();
        assert_eq!(t.0, LAST_MS);
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "2026-11-25T10:15:02Z",
            "2026-11-25T10:15:02.1140Z",
            "2026-11-25T10:15:02.114+01:00",
            "2026-13-25T10:15:02.114Z",
            "2026-11-25 10:15:02.114Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn out_of_range_instants_format_clamped() {
        assert_eq!(
            Timestamp::from_secs(300_000_000_000).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(Timestamp(-5).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(i64::MAX).to_string().len(), 24);
    }

    #[test]
    fn ages_and_durations() {
        assert_eq!(format_age(59_000), "59s");
        assert_eq!(format_age(3_600_000 * 27), "1d 3h");
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("18446744073709551615s"), None);
        assert_eq!(parse_duration("101y"), None);
        assert_eq!(parse_duration("100y"), Some(MAX_DURATION));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(
            Timestamp::parse_loose("2026-11-25"),
            Timestamp::parse("2026-11-25T00:00:00.000Z")
        );
    }
}
