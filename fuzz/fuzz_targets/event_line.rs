//! The event-line parser and the note reader on arbitrary bytes: no panic, and
//! whatever parses serializes to a line that parses to the same event.
#![no_main]

use git_train::domain::event::Event;
use git_train::ledger::{cat_sort_uniq, parse_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (events, _bad) = parse_note(git2::Oid::zero(), &text);
    for event in events {
        let line = event.to_line();
        let again = Event::parse(&line).expect("a serialized event parses");
        assert_eq!(again, event);
        assert_eq!(again.to_line(), line);
    }
    let merged = cat_sort_uniq([text.as_ref(), text.as_ref()]);
    assert_eq!(merged, cat_sort_uniq([merged.as_str()]));
});
