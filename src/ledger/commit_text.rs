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
/// when `raw` does not look like a commit (libgit2 would not parse it; ask it).
pub fn summary_of(raw: &[u8]) -> Option<String> {
    if !raw.starts_with(b"tree ") || memchr::memmem::find(raw, b"\ncommitter ").is_none() {
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
        // What is not a commit is left to libgit2.
        assert_eq!(summary_of(b"not a commit\n\nsubject"), None);
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
