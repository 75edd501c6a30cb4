//! The git hooks git-train installs: where git looks for them, and git-train's own
//! lines inside a hook file, kept between marker lines so that whatever else the
//! file holds (the user's hook, another tool's) stays as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

pub const BEGIN: &str = "# >>> git-train >>>";
pub const END: &str = "# <<< git-train <<<";

/// `hooks/pre-push` of this project: the shim that calls `git-train hook pre-push`.
const PRE_PUSH: &str = include_str!("../hooks/pre-push");

/// The hooks git-train installs: file name and shim.
pub const HOOKS: &[(&str, &str)] = &[("pre-push", PRE_PUSH)];

/// git-train's lines for a hook file: the shim without its `#!` line, between markers.
pub fn block(shim: &str) -> String {
    let body = shim.strip_prefix("#!").map_or(shim, |rest| {
        rest.split_once('\n').map_or("", |(_, body)| body)
    });
    let mut out = format!("{BEGIN}\n{body}");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Where git runs hooks from. Asks git itself, so that `core.hooksPath` (absolute
/// or relative to the work tree) and linked work trees are honoured.
pub fn dir(workdir: &Path) -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(workdir)
        .output()
        .map_err(|e| {
            Error::internal(format!("could not run git: {e}"))
                .hint("git-train needs the git program on PATH")
        })?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "git rev-parse --git-path hooks failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| Error::internal("the hooks path is not UTF-8"))?;
    Ok(workdir.join(text.trim_end_matches(['\n', '\r'])))
}

/// What a hook file needs so that it runs `block`: `Ok(None)` when it has it already.
/// A file that is not a shell script is left alone (`Err` names its interpreter).
pub fn with_block(existing: Option<&str>, block: &str) -> Result<Option<String>, String> {
    let existing = existing.unwrap_or("");
    if existing.trim().is_empty() {
        return Ok(Some(format!("#!/bin/sh\n{block}")));
    }
    if let Some((start, end)) = find_block(existing) {
        if &existing[start..end] == block {
            return Ok(None);
        }
        return Ok(Some(format!(
            "{}{block}{}",
            &existing[..start],
            &existing[end..]
        )));
    }
    if let Some(interpreter) = foreign_interpreter(existing) {
        return Err(interpreter);
    }
    // At the end, so the user's hook runs first and as before; `exec` there is
    // then the last thing the script does.
    let mut out = existing.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(block);
    Ok(Some(out))
}

/// The hook file without git-train's lines: `None` when it has none, `Some("")` when
/// nothing but a `#!` line and blank lines would be left (the file can go).
pub fn without_block(existing: &str) -> Option<String> {
    let (start, end) = find_block(existing)?;
    let rest = format!("{}{}", &existing[..start], &existing[end..]);
    let only_shebang = rest
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.starts_with("#!"));
    Some(if only_shebang { String::new() } else { rest })
}

/// Byte range of git-train's block: from its first marker line through the line
/// after the end marker (or the end of the file, if the end marker was deleted).
fn find_block(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        match start {
            None if bare == BEGIN => start = Some(offset),
            Some(s) if bare == END => return Some((s, offset + line.len())),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| (s, text.len()))
}

/// The interpreter named on a `#!` line when it is not a POSIX-like shell.
fn foreign_interpreter(text: &str) -> Option<String> {
    let first = text.lines().next()?.strip_prefix("#!")?;
    let mut words = first.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        program = words.find(|w| !w.starts_with('-'))?;
    }
    let shells = ["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"];
    (!shells.contains(&program)).then(|| program.to_string())
}

/// What installing or removing a hook did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new hook file.
    Created,
    /// git-train's lines added to a hook file that had other content.
    Added,
    /// git-train's lines replaced by their current version.
    Updated,
    /// The file was there but could not run: the run bit was set.
    MadeExecutable,
    /// Already there, as it should be.
    Unchanged,
    /// Not a shell script; left alone.
    Skipped,
    /// git-train's lines taken out; the user's stay.
    Removed,
    /// The file held nothing but git-train's lines and was deleted.
    Deleted,
    /// Nothing of git-train's was there to remove.
    Absent,
}

/// Puts git-train's lines into a hook file, creating it (and its folder) if needed,
/// and makes it executable.
pub fn install(path: &Path, block: &str) -> Result<Action> {
    let existing = match fs::read(path) {
        Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
            Error::refused(format!("{} is not a text file", path.display()))
                .hint("add `git-train hook pre-push \"$@\"` to it yourself")
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut action = match with_block(existing.as_deref(), block) {
        Err(_) => return Ok(Action::Skipped),
        Ok(None) => Action::Unchanged,
        Ok(Some(text)) => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::write(path, text)?;
            match &existing {
                None => Action::Created,
                Some(old) if old.trim().is_empty() => Action::Created,
                Some(old) if find_block(old).is_some() => Action::Updated,
                Some(_) => Action::Added,
            }
        }
    };
    if make_executable(path)? && action == Action::Unchanged {
        action = Action::MadeExecutable;
    }
    Ok(action)
}

/// Takes git-train's lines out of a hook file; deletes the file if nothing else is left.
pub fn uninstall(path: &Path) -> Result<Action> {
    let text = match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Action::Absent),
        Err(e) => return Err(e.into()),
    };
    match without_block(&text) {
        None => Ok(Action::Absent),
        Some(rest) if rest.is_empty() => {
            fs::remove_file(path)?;
            Ok(Action::Deleted)
        }
        Some(rest) => {
            fs::write(path, rest)?;
            Ok(Action::Removed)
        }
    }
}

/// Sets the run bit wherever the read bit is set; true when it changed anything.
#[cfg(unix)]
fn make_executable(path: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = fs::metadata(path)?.permissions();
    let mode = perms.mode();
    let wanted = mode | ((mode & 0o444) >> 2) | 0o100;
    if wanted == mode {
        return Ok(false);
    }
    perms.set_mode(wanted);
    fs::set_permissions(path, perms)?;
    Ok(true)
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> String {
        block(PRE_PUSH)
    }

    #[test]
    fn the_block_is_the_shim_between_markers() {
        let b = ours();
        assert!(b.starts_with(&format!("{BEGIN}\n")), "{b}");
        assert!(b.ends_with(&format!("{END}\n")), "{b}");
        assert!(!b.contains("#!"), "{b}");
        assert!(b.contains("exec git-train hook pre-push \"$@\"\n"), "{b}");
    }

    #[test]
    fn a_new_file_is_a_shell_script() {
        let text = with_block(None, &ours()).unwrap().unwrap();
        assert_eq!(text, format!("#!/bin/sh\n{}", ours()));
        assert_eq!(with_block(Some(&text), &ours()), Ok(None));
        assert_eq!(without_block(&text).as_deref(), Some(""));
    }

    #[test]
    fn other_content_is_kept_and_restored() {
        let user = "#!/bin/bash\nset -e\necho mine\n";
        let text = with_block(Some(user), &ours()).unwrap().unwrap();
        assert!(text.starts_with(user), "{text}");
        assert_eq!(with_block(Some(&text), &ours()), Ok(None));
        assert_eq!(without_block(&text).as_deref(), Some(user));
        // Lines the user added after ours stay too.
        let edited = format!("{text}echo after\n");
        assert_eq!(
            without_block(&edited).as_deref(),
            Some("#!/bin/bash\nset -e\necho mine\necho after\n")
        );
    }

    #[test]
    fn an_old_block_is_replaced_in_place() {
        let old = format!("#!/bin/sh\necho a\n{BEGIN}\nold line\n{END}\necho b\n");
        let text = with_block(Some(&old), &ours()).unwrap().unwrap();
        assert_eq!(text, format!("#!/bin/sh\necho a\n{}echo b\n", ours()));
    }

    #[test]
    fn other_interpreters_are_left_alone() {
        let py = "#!/usr/bin/env python3\nprint('hi')\n";
        assert_eq!(with_block(Some(py), &ours()), Err("python3".to_string()));
        let env_sh = "#!/usr/bin/env -S bash -e\necho\n";
        assert!(with_block(Some(env_sh), &ours()).is_ok());
        let no_shebang = "echo hi";
        let text = with_block(Some(no_shebang), &ours()).unwrap().unwrap();
        assert_eq!(text, format!("echo hi\n{}", ours()));
    }

    #[test]
    fn no_block_means_nothing_to_remove() {
        assert_eq!(without_block("#!/bin/sh\necho hi\n"), None);
    }
}
