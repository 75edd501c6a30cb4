//! Freeze windows: times an environment takes no deploys. A weekly window (`Fri
//! 16:00` to `Mon 09:00`) or a dated one (`2026-12-24T00:00` to `2027-01-02T00:00`),
//! in an IANA time zone (jiff's bundled zone data, not the system's), read on the
//! clock passed in.

use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp as JiffTs, Zoned};
use serde::Deserialize;

use super::Timestamp;

/// One `[[freeze]]` of `.train.toml`, checked when it is read.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawFreeze")]
pub struct Freeze {
    pub environments: Vec<String>,
    pub window: Window,
    pub zone_name: String,
    pub zone: TimeZone,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Window {
    /// From a weekday and time to a weekday and time, every week (may wrap the week).
    Weekly { from: WeekTime, to: WeekTime },
    /// From one local date and time to another (the end not included).
    Dated { from: DateTime, to: DateTime },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekTime {
    pub day: Weekday,
    pub hour: i8,
    pub minute: i8,
}

impl WeekTime {
    /// Minutes since Monday 00:00.
    fn minutes(self) -> i32 {
        (i32::from(self.day.to_monday_zero_offset()) * 24 + i32::from(self.hour)) * 60
            + i32::from(self.minute)
    }

    fn parse(text: &str) -> Result<WeekTime, String> {
        let bad = || {
            format!(
                "'{}' is not a weekday and time like \"Fri 16:00\"",
                text.escape_debug()
            )
        };
        let (day, time) = text.trim().split_once(' ').ok_or_else(bad)?;
        let day = match day.to_ascii_lowercase().get(..3).ok_or_else(bad)? {
            "mon" => Weekday::Monday,
            "tue" => Weekday::Tuesday,
            "wed" => Weekday::Wednesday,
            "thu" => Weekday::Thursday,
            "fri" => Weekday::Friday,
            "sat" => Weekday::Saturday,
            "sun" => Weekday::Sunday,
            _ => return Err(bad()),
        };
        let (h, m) = time.trim().split_once(':').ok_or_else(bad)?;
        let hour: i8 = h.parse().map_err(|_| bad())?;
        let minute: i8 = m.parse().map_err(|_| bad())?;
        if !(0..=23).contains(&hour) || !(0..=59).contains(&minute) {
            return Err(bad());
        }
        Ok(WeekTime { day, hour, minute })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    environments: Vec<String>,
    weekly: Option<RawWeekly>,
    from: Option<String>,
    to: Option<String>,
    timezone: Option<String>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeekly {
    from: String,
    to: String,
}

fn local_datetime(text: &str, key: &str) -> Result<DateTime, String> {
    text.trim().parse::<DateTime>().map_err(|_| {
        format!(
            "`{key}` = '{}' is not a local date and time like \"2026-12-24T00:00\"",
            text.escape_debug()
        )
    })
}

impl TryFrom<RawFreeze> for Freeze {
    type Error = String;

    fn try_from(raw: RawFreeze) -> Result<Freeze, String> {
        if raw.environments.is_empty() {
            return Err("a freeze needs `environments = [\"production\"]`".into());
        }
        let zone_name = raw.timezone.unwrap_or_else(|| "UTC".to_string());
        let zone = jiff::tz::db().get(&zone_name).map_err(|_| {
            format!(
                "unknown time zone '{}'; use an IANA name like \"Asia/Seoul\" or \"Europe/Berlin\"",
                zone_name.escape_debug()
            )
        })?;
        let window = match (raw.weekly, raw.from, raw.to) {
            (Some(w), None, None) => {
                let from = WeekTime::parse(&w.from)?;
                let to = WeekTime::parse(&w.to)?;
                if from == to {
                    return Err("a weekly freeze needs `to` different from `from`".into());
                }
                Window::Weekly { from, to }
            }
            (None, Some(from), Some(to)) => {
                let from = local_datetime(&from, "from")?;
                let to = local_datetime(&to, "to")?;
                if to <= from {
                    return Err(format!("the freeze ends ({to}) before it starts ({from})"));
                }
                Window::Dated { from, to }
            }
            (Some(_), _, _) => {
                return Err("give either `weekly = { from, to }` or `from` and `to`, not both".into())
            }
            _ => {
                return Err(
                    "a freeze needs `weekly = { from = \"Fri 16:00\", to = \"Mon 09:00\" }` or `from` and `to`"
                        .into(),
                )
            }
        };
        Ok(Freeze {
            environments: raw.environments,
            window,
            zone_name,
            zone,
            reason: raw.reason,
        })
    }
}

/// A freeze in force at some instant: until when, shown in its own zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Frozen {
    pub until: Timestamp,
    /// `Mon 09:00 KST` (weekly) or `2027-01-02 00:00 KST` (dated).
    pub until_local: String,
    pub reason: Option<String>,
    /// Which `[[freeze]]` of `.train.toml` (1-based).
    pub index: usize,
}

impl Freeze {
    pub fn applies_to(&self, env: &str) -> bool {
        self.environments.iter().any(|e| e == env || e == "*")
    }

    /// The end of this window when `now` falls in it.
    pub fn active_at(&self, now: Timestamp) -> Option<Timestamp> {
        let ts = JiffTs::from_millisecond(now.0).ok()?;
        let here = ts.to_zoned(self.zone.clone());
        match &self.window {
            Window::Dated { from, to } => {
                let start = from.to_zoned(self.zone.clone()).ok()?;
                let end = to.to_zoned(self.zone.clone()).ok()?;
                (here >= start && here < end).then(|| millis(&end))
            }
            Window::Weekly { from, to } => {
                let week = 7 * 24 * 60;
                let mins = i32::from(here.weekday().to_monday_zero_offset()) * 24 * 60
                    + i32::from(here.hour()) * 60
                    + i32::from(here.minute());
                let (f, t) = (from.minutes(), to.minutes());
                let inside = if f < t {
                    mins >= f && mins < t
                } else {
                    mins >= f || mins < t
                };
                if !inside {
                    return None;
                }
                let ahead = (t - mins).rem_euclid(week);
                // The end is `ahead` minutes on, at the start of that minute, in local
                // time (a DST change on the way is taken into account by jiff).
                let start_of_minute = here.with().second(0).subsec_nanosecond(0).build().ok()?;
                let end = start_of_minute
                    .datetime()
                    .checked_add(jiff::Span::new().minutes(i64::from(ahead)))
                    .ok()?
                    .to_zoned(self.zone.clone())
                    .ok()?;
                Some(millis(&end))
            }
        }
    }

    /// How the end reads for a person: the weekday and time, or the date, in the
    /// window's own zone with its abbreviation.
    pub fn local(&self, at: Timestamp) -> String {
        let Ok(ts) = JiffTs::from_millisecond(at.0) else {
            return at.to_string();
        };
        let z = ts.to_zoned(self.zone.clone());
        let abbr = self.zone.to_offset_info(ts).abbreviation().to_string();
        match self.window {
            Window::Weekly { .. } => format!("{} {abbr}", z.strftime("%a %H:%M")),
            Window::Dated { .. } => format!("{} {abbr}", z.strftime("%Y-%m-%d %H:%M")),
        }
    }
}

fn millis(z: &Zoned) -> Timestamp {
    Timestamp(z.timestamp().as_millisecond())
}

/// The freeze that holds `env` at `now`, if any: the one that ends last.
pub fn frozen(freezes: &[Freeze], env: &str, now: Timestamp) -> Option<Frozen> {
    freezes
        .iter()
        .enumerate()
        .filter(|(_, f)| f.applies_to(env))
        .filter_map(|(i, f)| {
            f.active_at(now).map(|until| Frozen {
                until,
                until_local: f.local(until),
                reason: f.reason.clone(),
                index: i + 1,
            })
        })
        .max_by_key(|f| f.until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freeze(toml_text: &str) -> Result<Freeze, String> {
        #[derive(Deserialize)]
        struct One {
            freeze: Vec<Freeze>,
        }
        toml::from_str::<One>(toml_text)
            .map(|mut o| o.freeze.remove(0))
            .map_err(|e| e.message().to_string())
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_loose(text).unwrap()
    }

    #[test]
    fn a_weekly_window_in_seoul_holds_at_its_local_edges() {
        let f = freeze(
            "[[freeze]]\nenvironments = [\"production\"]\nweekly = { from = \"Fri 16:00\", to = \"Mon 09:00\" }\ntimezone = \"Asia/Seoul\"\nreason = \"no Friday deploys\"\n",
        )
        .unwrap();
        // 2026-12-04 is a Friday. 16:00 KST is 07:00 UTC.
        assert_eq!(f.active_at(at("2026-12-04T06:59:59Z")), None);
        let until = f.active_at(at("2026-12-04T07:00:00Z")).unwrap();
        // Monday 09:00 KST is 00:00 UTC.
        assert_eq!(until, at("2026-12-07T00:00:00Z"));
        assert_eq!(f.local(until), "Mon 09:00 KST");
        assert!(f.active_at(at("2026-12-06T23:59:00Z")).is_some());
        assert_eq!(f.active_at(at("2026-12-07T00:00:00Z")), None);
        let held = frozen(&[f], "production", at("2026-12-05T12:00:00Z")).unwrap();
        assert_eq!(held.until_local, "Mon 09:00 KST");
        assert_eq!(held.reason.as_deref(), Some("no Friday deploys"));
    }

    #[test]
    fn a_dated_window_and_bad_windows() {
        let f = freeze(
            "[[freeze]]\nenvironments = [\"production\", \"staging\"]\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\n",
        )
        .unwrap();
        assert!(f.active_at(at("2026-12-23T23:59:59Z")).is_none());
        assert_eq!(
            f.active_at(at("2026-12-31T12:00:00Z")),
            Some(at("2027-01-02T00:00:00Z"))
        );
        assert_eq!(f.local(at("2027-01-02T00:00:00Z")), "2027-01-02 00:00 UTC");
        assert!(frozen(&[f], "qa", at("2026-12-31T12:00:00Z")).is_none());
        for bad in [
            "[[freeze]]\nenvironments = [\"p\"]\nfrom = \"2027-01-02T00:00\"\nto = \"2026-12-24T00:00\"\n",
            "[[freeze]]\nenvironments = [\"p\"]\nweekly = { from = \"Fri 16:00\", to = \"Mon 09:00\" }\ntimezone = \"Mars/Olympus\"\n",
            "[[freeze]]\nenvironments = [\"p\"]\nweekly = { from = \"Friday\", to = \"Mon 09:00\" }\n",
            "[[freeze]]\nenvironments = [\"p\"]\nweekly = { from = \"Fri 25:00\", to = \"Mon 09:00\" }\n",
            "[[freeze]]\nenvironments = []\nfrom = \"2026-12-24T00:00\"\nto = \"2027-01-02T00:00\"\n",
            "[[freeze]]\nenvironments = [\"p\"]\n",
        ] {
            assert!(freeze(bad).is_err(), "{bad}");
        }
    }
}
