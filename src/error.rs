//! The one user-facing error: a kind that decides the exit status, a message, and a
//! hint that tells the user what to do next.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bad arguments, bad configuration, not a repository: exit 2.
    Usage,
    /// Refused (CI red, locked, ...) or the deployment failed: exit 1.
    Refused,
    /// The forge could not be reached or rate-limited us; nothing was recorded: exit 3.
    Forge,
    /// Something unexpected in git or the file system: exit 1.
    Internal,
    /// The reader of a read command's output went away (`status | head`): exit 0.
    /// Only stdout writes of commands that change nothing make it; a deploy piped
    /// into `true` still deploys, and its outcome decides its exit status.
    BrokenPipe,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// What to do next, most useful first; each is printed as its own `hint:` line.
    pub hints: Vec<String>,
    /// The lower-level error this one explains, kept for `-v` and for callers that
    /// need its kind.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The source of an error that says no credential was found for a forge (no
/// GitHub token): what only the forge needs, while git's own remote may still work.
#[derive(Debug)]
pub struct NoCredential;

impl fmt::Display for NoCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no credential for the forge")
    }
}

impl std::error::Error for NoCredential {}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            hints: Vec::new(),
            source: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Error {
        Error::new(Kind::Usage, message)
    }

    pub fn refused(message: impl Into<String>) -> Error {
        Error::new(Kind::Refused, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Kind::Internal, message)
    }

    /// Adds a hint (call again for another).
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hints.push(hint.into());
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// Whether it says that no credential was found for the forge (`NoCredential`).
    pub fn is_no_credential(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|s| s.downcast_ref::<NoCredential>().is_some())
    }

    /// The message with its first hint, on one line (logs, warnings).
    pub fn one_line(&self) -> String {
        match self.hints.first() {
            Some(h) => format!("{} ({h})", self.message),
            None => self.message.clone(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Refused | Kind::Internal => 1,
            Kind::Forge => 3,
            Kind::BrokenPipe => 0,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string()).with_source(e)
    }
}
