//! Display widths: what a line takes on screen (CJK and emoji count two columns,
//! git-train's own colour sequences none), and the terminal's width to fit it in.

use std::borrow::Cow;
use std::io::IsTerminal;

use unicode_width::UnicodeWidthChar;

/// Columns to fit stdout's lines in: `COLUMNS` when set, else the terminal's width
/// when stdout is one; None (no cutting) for a pipe or a file.
pub fn stdout_columns() -> Option<usize> {
    columns_for(std::io::stdout().is_terminal(), || {
        terminal_size::terminal_size_of(std::io::stdout())
    })
}

/// The same for stderr: the live progress line and messages.
pub fn stderr_columns() -> Option<usize> {
    columns_for(std::io::stderr().is_terminal(), || {
        terminal_size::terminal_size_of(std::io::stderr())
    })
}

fn columns_for(
    terminal: bool,
    size: impl FnOnce() -> Option<(terminal_size::Width, terminal_size::Height)>,
) -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= 20)
    {
        return Some(n);
    }
    if !terminal {
        return None;
    }
    size().map(|(w, _)| usize::from(w.0)).filter(|w| *w >= 20)
}

/// The width of one character on screen (control characters: none).
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// The length in bytes of a colour sequence (`ESC[...m`) at the start of `text`.
fn sgr_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let end = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (body.as_bytes()[end] == b'm').then_some(2 + end + 1)
}

/// What `text` takes on screen, colour sequences not counted.
pub fn of(text: &str) -> usize {
    // Printable ASCII (most of every line) is a column a byte.
    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text.len();
    }
    walked_width(text)
}

/// `of`, a character at a time.
fn walked_width(text: &str) -> usize {
    let mut width = 0;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(len) = sgr_len(rest) {
            rest = &rest[len..];
            continue;
        }
        width += char_width(c);
        rest = &rest[c.len_utf8()..];
    }
    width
}

/// `text` cut to at most `max` columns, ending in `…` when it was cut. Colour
/// sequences are kept, and a reset is added when the cut fell inside colour.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if of(text) <= max {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut width = 0;
    let mut coloured = false;
    let mut rest = text;
    let room = max.saturating_sub(1);
    while let Some(c) = rest.chars().next() {
        if let Some(len) = sgr_len(rest) {
            let seq = &rest[..len];
            coloured = seq != "\x1b[0m";
            out.push_str(seq);
            rest = &rest[len..];
            continue;
        }
        let w = char_width(c);
        if width + w > room {
            break;
        }
        width += w;
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if max > 0 {
        out.push('…');
    }
    if coloured {
        out.push_str("\x1b[0m");
    }
    Cow::Owned(out)
}

/// `text` in exactly `width` columns: cut with `…`, or padded with spaces.
pub fn pad(text: &str, width: usize) -> String {
    let cut = cut(text, width);
    let used = of(&cut);
    let mut out = cut.into_owned();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `text` right-aligned in `width` columns (cut when longer).
pub fn pad_left(text: &str, width: usize) -> String {
    let cut = cut(text, width);
    let used = of(&cut);
    let mut out: String = std::iter::repeat_n(' ', width.saturating_sub(used)).collect();
    out.push_str(&cut);
    out
}

/// Every line of `text` cut to `max` columns.
pub fn fit_lines(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&cut(body, max));
        out.push_str(end);
    }
    out
}

/// Words of `text` wrapped at `max` columns; lines after the first start with
/// `indent`. A word longer than a line stands on a line of its own.
pub fn wrap(text: &str, max: usize, indent: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, para) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        let mut col = if i > 0 { of(indent) } else { 0 };
        let start = col;
        for word in para.split(' ') {
            let w = of(word);
            if col > start && col + 1 + w > max {
                out.push('\n');
                out.push_str(indent);
                col = of(indent);
            } else if col > start {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The ASCII shortcut counts what the walk over characters counts.
        #[test]
        fn width_of_printable_ascii_is_its_length(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["a", " ", "~", "\x1b[1m", "\x1b[0m", "\t", "\x7f", "한", "é", "\u{200b}"]),
                0..12,
            )
        ) {
            let text = parts.concat();
            proptest::prop_assert_eq!(of(&text), walked_width(&text));
        }
    }

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(of("배포 완료"), 9);
        assert_eq!(of("🚀 ok"), 5);
        assert_eq!(of("\x1b[31mred\x1b[0m"), 3);
        assert_eq!(cut("배포 완료합니다", 6), "배포 …");
        assert_eq!(of(&cut("배포 완료합니다", 6)), 6);
        assert_eq!(cut("short", 10), "short");
        assert_eq!(pad("배포", 6), "배포  ");
        assert_eq!(pad("abcdefgh", 5), "abcd…");
        assert_eq!(pad_left("3d", 4), "  3d");
        assert_eq!(cut("\x1b[33mabcdef\x1b[0m", 4), "\x1b[33mabc…\x1b[0m");
    }

    #[test]
    fn lines_fit_and_words_wrap() {
        assert_eq!(fit_lines("abcdef\nab\n", 4), "abc…\nab\n");
        assert_eq!(
            wrap("error: one two three four", 12, "  "),
            "error: one\n  two three\n  four"
        );
    }
}
