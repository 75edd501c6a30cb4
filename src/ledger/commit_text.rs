//! A commit's message and subject from its raw object, exactly as libgit2 gives
//! them (`git_commit_message`, `git_commit_summary`), for commits read without it:
//! through `git cat-file --batch`, or straight from the packs with libdeflate.
//! libgit2 inflated each commit with a fresh zlib stream (two allocations of 7 and
//! 32 KiB) and parsed every header: 11 µs a commit, half of `history -n 50`.

/// The message of the raw commit `raw`: after the headers' blank line, without the
/// newlines that may lead it, up to a NUL (libgit2 keeps it as a C string).
pub fn message_of(raw: &[u8]) -> &[u8] {
    let at = memchr::memmem::find(raw, b"\n\n").map_or(raw.len(), |i| i + 2);
    let message = &raw[at..];
    let message = &message[message.iter().take_while(|&&b| b == b'\n').count()..];
    let end = memchr::memchr(0, message).unwrap_or(message.len());
    &message[..end]
}

/// The subject of the raw commit `raw` as libgit2's `git_commit_summary` makes it:
/// the first paragraph, each run of blanks that holds a line break one space, the
/// blanks at its end dropped. None when that is not UTF-8 (git2's `summary()`), or
/// when `raw` is not plainly a commit libgit2 parses (ask libgit2 then).
pub fn summary_of(raw: &[u8]) -> Option<String> {
    if !parses_as_commit(raw) {
        return None;
    }
    let msg = message_of(raw);
    let mut out = Vec::with_capacity(msg.len().min(128));
    // Where the run of blanks not yet copied starts, and whether it breaks a line.
    let mut space: Option<usize> = None;
    let mut broke = false;
    for (i, &c) in msg.iter().enumerate() {
        if c == b'\n' {
            // The paragraph ends at a line that is empty or only blanks.
            let rest = &msg[i + 1..];
            let blanks = rest.iter().take_while(|&&b| is_space_not_lf(b)).count();
            if rest.get(blanks).is_none_or(|&b| b == b'\n') {
                break;
            }
        }
        if c == b'\n' || is_space_not_lf(c) {
            if space.is_none() {
                space = Some(i);
                broke = false;
            }
            broke |= c == b'\n';
        } else {
            if let Some(from) = space.take() {
                if broke {
                    out.push(b' ');
                } else {
                    out.extend_from_slice(&msg[from..i]);
                }
            }
            out.push(c);
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `raw` starts as libgit2's `commit_parse` wants a commit to: a tree, its
/// parents, one author or more and a committer, each a line of its own, ids in
/// lowercase hex, each person as `git_signature__parse` takes one. Stricter than
/// libgit2 where that is simpler: what is refused here is left to libgit2.
fn parses_as_commit(raw: &[u8]) -> bool {
    let mut rest = raw;
    let mut next_line = || {
        let end = memchr::memchr(b'\n', rest)?;
        let line = &rest[..end];
        rest = &rest[end + 1..];
        Some(line)
    };
    let is_id =
        |id: &[u8]| id.len() == 40 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !next_line()
        .and_then(|l| l.strip_prefix(b"tree "))
        .is_some_and(is_id)
    {
        return false;
    }
    let mut line = next_line();
    while let Some(id) = line.and_then(|l| l.strip_prefix(b"parent ")) {
        if !is_id(id) {
            return false;
        }
        line = next_line();
    }
    let mut authors = 0;
    while let Some(person) = line.and_then(|l| l.strip_prefix(b"author ")) {
        if !is_person(person) {
            return false;
        }
        authors += 1;
        line = next_line();
    }
    authors > 0
        && line
            .and_then(|l| l.strip_prefix(b"committer "))
            .is_some_and(is_person)
}

/// `Name <email> TIME ZONE` as `git_signature__parse` takes it: the last `<` before
/// the last `>`, and a time that is a number when anything follows `> `.
fn is_person(person: &[u8]) -> bool {
    let (Some(open), Some(close)) = (memchr::memrchr(b'<', person), memchr::memrchr(b'>', person))
    else {
        return false;
    };
    let time = person.get(close + 2..).unwrap_or_default();
    let digits = time.iter().take_while(|b| b.is_ascii_digit()).count();
    open < close && (time.is_empty() || (1..=18).contains(&digits))
}

/// libgit2's `git__isspace_nonlf`.
fn is_space_not_lf(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\x0c' | b'\r' | b'\x0b')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEAD: &str = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
        author A U Thor <a@example.com> 1700000000 +0000\n\
        committer C O Mitter <c@example.com> 1700000000 +0000\n";

    /// Writes `raw` as a commit object and reads it back with libgit2.
    fn libgit2_commit<'r>(repo: &'r git2::Repository, raw: &[u8]) -> Option<git2::Commit<'r>> {
        let odb = repo.odb().unwrap();
        repo.find_commit(odb.write(git2::ObjectType::Commit, raw).unwrap())
            .ok()
    }

    fn libgit2_summary(repo: &git2::Repository, raw: &[u8]) -> Option<String> {
        libgit2_commit(repo, raw)?.summary().map(str::to_string)
    }

    fn libgit2_message(repo: &git2::Repository, raw: &[u8]) -> Vec<u8> {
        libgit2_commit(repo, raw).unwrap().message_bytes().to_vec()
    }

    #[test]
    fn subjects_of_everyday_messages() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(tmp.path()).unwrap();
        for (message, subject) in [
            ("Fix the login page\n", "Fix the login page"),
            ("Fix it (#12)\n\nBody text.\n", "Fix it (#12)"),
            ("\n\nLeading newlines\n", "Leading newlines"),
            ("Wrapped\nsubject line\n\nbody", "Wrapped subject line"),
            ("Spaces  kept \t inside  \n", "Spaces  kept \t inside"),
            ("Ends at blanks\n \t \nbody\n", "Ends at blanks"),
            ("  indented\n", "  indented"),
            ("", ""),
            ("배포 수정 🚀\n", "배포 수정 🚀"),
        ] {
            let raw = format!("{HEAD}\n{message}");
            assert_eq!(summary_of(raw.as_bytes()).as_deref(), Some(subject));
            assert_eq!(
                libgit2_summary(&repo, raw.as_bytes()).as_deref(),
                Some(subject)
            );
        }
        // A signed commit: the signature's lines are headers.
        let signed = format!(
            "{HEAD}gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----\n\nSigned\n"
        );
        assert_eq!(summary_of(signed.as_bytes()).as_deref(), Some("Signed"));
        // Not UTF-8 (an `encoding` header names what it is): none, as git2 says.
        let latin1 = [
            format!("{HEAD}encoding ISO-8859-1\n\nCaf").as_bytes(),
            b"\xe9\n",
        ]
        .concat();
        assert_eq!(summary_of(&latin1), None);
        assert_eq!(libgit2_summary(&repo, &latin1), None);
        // What libgit2 does not parse as a commit is left to it: it finds none.
        let tree = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n";
        let person = "A <a@example.com> 1700000000 +0000";
        for raw in [
            "not a commit\n\nsubject".to_string(),
            format!("{tree}committer {person}\n\nno author\n"),
            format!("tree zz\nauthor {person}\ncommitter {person}\n\nbad tree\n"),
            format!("{tree}author {person}\ncommitter C <c> x\n\nbad time\n"),
            format!("{tree}author {person}\n\nmsg\ncommitter in body\n"),
            format!("{tree}parent xyz\nauthor {person}\ncommitter {person}\n\nbad parent\n"),
            format!("{tree}author no email\ncommitter {person}\n\nbad author\n"),
        ] {
            assert_eq!(summary_of(raw.as_bytes()), None, "{raw:?}");
            assert_eq!(libgit2_summary(&repo, raw.as_bytes()), None, "{raw:?}");
        }
        // Two authors (some tools write them), a person without a time: both read.
        for raw in [
            format!("{tree}author {person}\nauthor B <b@x> 1 +0100\ncommitter {person}\n\nTwo\n"),
            format!("{tree}author A <a@x>\ncommitter C <c@x>\n\nNo time\n"),
        ] {
            assert!(summary_of(raw.as_bytes()).is_some(), "{raw:?}");
            assert_eq!(
                summary_of(raw.as_bytes()),
                libgit2_summary(&repo, raw.as_bytes())
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Messages made of what the summary treats specially: every kind of blank,
        /// line breaks, NUL, and letters. Ours and libgit2's are the same.
        #[test]
        fn summary_and_message_are_libgit2s(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\n"), Just(" "), Just("\t"), Just("\r"), Just("\x0b"),
                    Just("\x0c"), Just("\0"), Just("a"), Just("bc"), Just("é"),
                ],
                0..24,
            )
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init(tmp.path()).unwrap();
            let raw = format!("{HEAD}\n{}", parts.concat());
            prop_assert_eq!(summary_of(raw.as_bytes()), libgit2_summary(&repo, raw.as_bytes()));
            prop_assert_eq!(message_of(raw.as_bytes()), &libgit2_message(&repo, raw.as_bytes())[..]);
        }
    }
}
