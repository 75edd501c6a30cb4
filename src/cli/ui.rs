//! The terminal: colours, progress on stderr, questions on a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::ColorWhen;
use super::terminal;
use super::width;
use crate::context::Ui;

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// The columns stdout's lines must fit in; None: a pipe or file, nothing is cut.
    pub width: Option<usize>,
}

impl Style {
    pub fn new(when: ColorWhen) -> Style {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        Style {
            color,
            width: super::width::stdout_columns(),
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn cyan(&self, t: &str) -> String {
        self.paint("36", t)
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

pub struct TermUi {
    quiet: bool,
    stderr_tty: bool,
    stdin_tty: bool,
    progress_shown: AtomicBool,
    /// The live line as last painted: it is repainted only when it changes.
    shown: std::sync::Mutex<String>,
    style: Style,
}

impl TermUi {
    pub fn new(quiet: bool, when: ColorWhen) -> TermUi {
        let stderr_tty = std::io::stderr().is_terminal();
        let color = match when {
            ColorWhen::Auto => {
                stderr_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
            ColorWhen::Always => true,
            ColorWhen::Never => false,
        };
        TermUi {
            quiet,
            stderr_tty,
            stdin_tty: std::io::stdin().is_terminal(),
            progress_shown: AtomicBool::new(false),
            shown: std::sync::Mutex::new(String::new()),
            style: Style {
                color,
                width: super::width::stderr_columns(),
            },
        }
    }
}

impl TermUi {
    /// A message wrapped at the terminal's width (as it is without one).
    fn wrapped(&self, text: &str, indent: &str) -> String {
        match self.style.width {
            Some(cols) => width::wrap(text, cols, indent),
            None => text.to_string(),
        }
    }
}

impl Ui for TermUi {
    fn confirm(&self, question: &str) -> bool {
        self.done();
        terminal::stderr(&format!("{question} [y/N] "), self.style.color);
        let mut answer = String::new();
        match std::io::stdin().read_line(&mut answer) {
            // Ctrl-D: the refusal that follows starts on a line of its own.
            Ok(0) => {
                terminal::stderr("\n", false);
                return false;
            }
            Ok(_) => {}
            Err(_) => return false,
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
    }

    fn interactive(&self) -> bool {
        self.stdin_tty && self.stderr_tty
    }

    fn progress(&self, line: &str) {
        if self.quiet || !self.stderr_tty {
            return;
        }
        // One row that never wraps: a wrapped line leaves a copy behind at every
        // repaint (`\r ESC[2K` clears one row only). One column stays free for the
        // cursor.
        let line = match self.style.width {
            Some(cols) => width::cut(line, cols.saturating_sub(1)),
            None => std::borrow::Cow::Borrowed(line),
        };
        let mut shown = self.shown.lock().unwrap_or_else(|p| p.into_inner());
        if self.progress_shown.load(Ordering::Relaxed) && *shown == line {
            return;
        }
        terminal::stderr_repaint(&line, self.style.color);
        *shown = line.into_owned();
        self.progress_shown.store(true, Ordering::Relaxed);
    }

    fn step(&self, line: &str) {
        if self.quiet {
            return;
        }
        self.done();
        terminal::stderr(&format!("{}\n", self.wrapped(line, "  ")), self.style.color);
    }

    fn done(&self) {
        if self.progress_shown.swap(false, Ordering::Relaxed) {
            terminal::stderr_repaint("", false);
        }
    }

    fn warn(&self, message: &str) {
        self.done();
        let text = format!("{} {message}", self.style.yellow("warning:"));
        terminal::stderr(
            &format!("{}\n", self.wrapped(&text, "  ")),
            self.style.color,
        );
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            self.done();
            terminal::stderr(
                &format!("{}\n", self.wrapped(message, "")),
                self.style.color,
            );
        }
    }
}
