//! What the ledger's tests share: git run in a repository, away from the user's and
//! the system's configuration.

use std::path::Path;
use std::process::{Command, Stdio};

/// `git ARGS` in `dir`, fed `input`; its output. Panics when git fails.
pub fn git_with_input(dir: &Path, args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["-c", "user.name=A", "-c", "user.email=a@example.com"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `git ARGS` in `dir`; its output. Panics when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with_input(dir, args, b"")
}
