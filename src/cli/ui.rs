//! The terminal: colours, progress on stderr, questions on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use super::args::ColorWhen;
use crate::context::Ui;

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
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
        Style { color }
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
            style: Style { color },
        }
    }
}

impl Ui for TermUi {
    fn confirm(&self, question: &str) -> bool {
        self.done();
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return false;
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
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
        self.progress_shown.store(true, Ordering::Relaxed);
    }

    fn done(&self) {
        if self.progress_shown.swap(false, Ordering::Relaxed) {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }

    fn warn(&self, message: &str) {
        self.done();
        eprintln!("{} {message}", self.style.yellow("warning:"));
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            self.done();
            eprintln!("{message}");
        }
    }
}
