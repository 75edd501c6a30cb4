//! What time it is for a command: the system's clock, or a fixed instant for tests and
//! reproducible demos (`GIT_TRAIN_NOW`, like `GIT_COMMITTER_DATE`). Made once, where a
//! command's context is made, and passed to whatever reads the time: the domain never
//! reads a clock itself.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::Timestamp;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    fixed: Option<Timestamp>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that always says `at`.
    pub fn fixed(at: Timestamp) -> Clock {
        Clock { fixed: Some(at) }
    }

    /// `GIT_TRAIN_NOW` when it is set, the system's clock otherwise.
    pub fn from_env() -> Result<Clock> {
        match std::env::var("GIT_TRAIN_NOW") {
            Ok(v) => Timestamp::parse_loose(&v).map(Clock::fixed).ok_or_else(|| {
                Error::usage(format!("GIT_TRAIN_NOW='{v}' is not an RFC 3339 time"))
            }),
            Err(_) => Ok(Clock::system()),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.fixed.unwrap_or_else(|| {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
        })
    }
}
