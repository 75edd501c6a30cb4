//! Environment names. A name is one ref-name component (`refs/train/deployed/NAME`)
//! and one field of an event line, so it is held to the strictest of both.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EnvName(String);

impl EnvName {
    /// Checks a name; the error says what is wrong with it.
    pub fn new(name: &str) -> Result<EnvName, String> {
        let shown: String = name
            .chars()
            .take(40)
            .collect::<String>()
            .escape_debug()
            .to_string();
        let problem = if name.is_empty() {
            Some("it is empty".to_string())
        } else if name.len() > 64 {
            Some("it is longer than 64 characters".into())
        } else if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            Some(format!("it contains {:?}", c))
        } else if name.starts_with('.') || name.starts_with('-') {
            Some("it starts with '.' or '-'".into())
        } else if name.contains("..") {
            Some("it contains '..'".into())
        } else if name.ends_with(".lock") || name.ends_with('.') {
            Some("it ends with '.lock' or '.'".into())
        } else {
            None
        };
        match problem {
            Some(p) => Err(format!("'{shown}' is not a valid environment name: {p}")),
            None => Ok(EnvName(name.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["production", "staging", "eu-west-1", "canary_2", "v1.2"] {
            assert!(EnvName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_names_that_escape_or_break_refs() {
        let long = "x".repeat(10_000);
        for bad in [
            "",
            "my env",
            "a..b",
            "../x",
            "a/b",
            ".hidden",
            "prod.lock",
            "-rf",
            "refs/heads/main",
            "tab\there",
            "nul\0",
            "é",
            "end.",
            &long,
        ] {
            assert!(EnvName::new(bad).is_err(), "{bad:?}");
        }
    }
}
