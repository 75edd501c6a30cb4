//! What a commit message says to a deploy: a `Rollback: unsafe` trailer (read as
//! `git interpret-trailers` reads trailers: the last paragraph, `Key: value` lines),
//! and the commit a `git revert` names (`This reverts commit <sha>.`).

/// The `Rollback:` trailer's value when it marks the commit unsafe to roll back
/// past: `unsafe`, optionally followed by why (`unsafe: drops users.email`).
pub fn rollback_unsafe(message: &str) -> Option<String> {
    trailers(message)
        .into_iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("rollback"))
        .map(|(_, v)| v)
        .find(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("unsafe")
                || v.get(..7)
                    .is_some_and(|p| p.eq_ignore_ascii_case("unsafe:"))
        })
        .map(|v| v.trim().to_string())
}

/// The trailers of a message: its last paragraph when every line of it is a
/// `Key: value` (or a continuation line starting with whitespace), as git reads them.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let body = message.trim_end();
    let last = match body.rfind("\n\n") {
        Some(i) => &body[i + 2..],
        // A message of one paragraph is its subject: no trailers.
        None => return Vec::new(),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for line in last.lines() {
        if line.starts_with([' ', '\t']) {
            match out.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                None => return Vec::new(),
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Vec::new();
        };
        let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !key_ok {
            return Vec::new();
        }
        out.push((key.to_string(), value.trim().to_string()));
    }
    out
}

/// The sha a revert commit names, as `git revert` writes it:
/// `This reverts commit 0377e3c....` (full or abbreviated, 7 to 40 hex digits).
pub fn reverted(message: &str) -> Option<String> {
    let at = message.find("This reverts commit ")?;
    let rest = &message[at + "This reverts commit ".len()..];
    let sha: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (7..=40)
        .contains(&sha.len())
        .then(|| sha.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_trailers_as_git_reads_them() {
        assert_eq!(
            rollback_unsafe("Drop the column\n\nIt is gone.\n\nRollback: unsafe\n"),
            Some("unsafe".into())
        );
        assert_eq!(
            rollback_unsafe(
                "Drop users.email\n\nRollback: unsafe: drops the users.email column\nSigned-off-by: A <a@x>\n"
            ),
            Some("unsafe: drops the users.email column".into())
        );
        // Not in the last paragraph, or not a trailer block: nothing.
        assert_eq!(
            rollback_unsafe("x\n\nRollback: unsafe\n\nmore text\n"),
            None
        );
        assert_eq!(rollback_unsafe("Rollback: unsafe"), None);
        assert_eq!(rollback_unsafe("x\n\nsee Rollback: unsafe here\n"), None);
        assert_eq!(rollback_unsafe("x\n\nRollback: safe\n"), None);
        assert_eq!(
            trailers("x\n\nKey: a\n  b\nOther: c\n"),
            vec![("Key".into(), "a b".into()), ("Other".into(), "c".into())]
        );
    }

    #[test]
    fn reverts_as_git_revert_writes_them() {
        let msg = "Revert \"Add retries\"\n\nThis reverts commit 0377e3c1d2a4b5c6d7e8f90123456789abcdef01.\n";
        assert_eq!(
            reverted(msg).as_deref(),
            Some("0377e3c1d2a4b5c6d7e8f90123456789abcdef01")
        );
        assert_eq!(
            reverted("x\n\nThis reverts commit 0377e3c.").as_deref(),
            Some("0377e3c")
        );
        assert_eq!(reverted("no revert here"), None);
        assert_eq!(reverted("This reverts commit abc."), None);
    }
}
