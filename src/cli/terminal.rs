//! The one place text leaves for a terminal. Everything written to stdout or stderr
//! passes `sanitize`, so no message, old or new, can carry an escape sequence from a
//! commit, the ledger, a lock or a config file to the user's terminal; and no write
//! here panics (a hang-up or `2>/dev/full` must not turn a deploy into exit 101).

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stdout carries git-train's colours (set once, from `--color`).
static STDOUT_COLOUR: AtomicBool = AtomicBool::new(false);

pub fn set_stdout_colour(on: bool) {
    STDOUT_COLOUR.store(on, Ordering::Relaxed);
}

/// The colour sequences git-train writes itself (`Style`): the only escapes let
/// through. A payload can at most change a colour, never the screen or the clipboard.
const OWN_SGR: [&str; 7] = ["0", "1", "2", "31", "32", "33", "36"];

/// Bidirectional overrides reorder what a person reads (Trojan Source).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

/// Text with every control character shown escaped (`\u{1b}`), keeping newlines and
/// tabs, and git-train's own colour sequences when `colour` is on.
pub fn sanitize(text: &str, colour: bool) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && colour {
            if let Some(len) = own_sgr(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The length of one of git-train's own colour sequences at the start of `text`.
fn own_sgr(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let end = body.find('m')?;
    OWN_SGR.contains(&&body[..end]).then_some(2 + end + 1)
}

/// One field (a subject, a name, a reason) for a line of a table: control
/// characters, newlines included, shown escaped, so one field stays on one line.
pub fn field(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() || is_bidi_control(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Data on stdout. An error (a closed pipe, a full disk) is returned, never a panic.
pub fn stdout(text: &str) -> io::Result<()> {
    let colour = STDOUT_COLOUR.load(Ordering::Relaxed);
    let mut out = io::stdout().lock();
    out.write_all(sanitize(text, colour).as_bytes())?;
    out.flush()
}

/// A message on stderr. A failed write is dropped: there is nowhere left to say it,
/// and the command's outcome, not its chatter, decides the exit status.
pub fn stderr(text: &str, colour: bool) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(sanitize(text, colour).as_bytes());
    let _ = err.flush();
}

/// The progress line: git-train's own line-control sequence, then sanitized text.
pub fn stderr_repaint(text: &str, colour: bool) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(b"\r\x1b[2K");
    let _ = err.write_all(sanitize(text, colour).as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_shown_not_obeyed() {
        let clipboard = "subject \x1b]52;c;cGF5bG9hZA==\x07 end";
        let clean = sanitize(clipboard, true);
        assert!(
            !clean.contains('\x1b') && !clean.contains('\x07'),
            "{clean}"
        );
        assert!(clean.contains("\\u{1b}]52;c;"), "{clean}");
        let clear = sanitize("\x1b[2Jgone\r\x1b[1A", true);
        assert!(!clear.contains('\x1b') && !clear.contains('\r'), "{clear}");
        assert_eq!(sanitize("\u{202e}evil", false), "\\u{202e}evil");
        assert_eq!(sanitize("a\u{9b}b", false), "a\\u{9b}b");
    }

    #[test]
    fn own_colours_and_layout_pass() {
        assert_eq!(
            sanitize("\x1b[31merror:\x1b[0m x\n\ty", true),
            "\x1b[31merror:\x1b[0m x\n\ty"
        );
        assert_eq!(
            sanitize("\x1b[31mred\x1b[0m", false),
            "\\u{1b}[31mred\\u{1b}[0m"
        );
        assert_eq!(sanitize("\x1b[5mblink", true), "\\u{1b}[5mblink");
        assert!(matches!(sanitize("plain 한국어 ✓", true), Cow::Borrowed(_)));
        assert_eq!(field("a\nb"), "a\\nb");
    }
}
