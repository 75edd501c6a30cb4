//! The committed manual pages in man/ are what the clap definitions generate.
//! `UPDATE_MAN=1 cargo test --test manpage` rewrites them after a change.

use std::path::Path;

#[test]
fn committed_man_pages_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = git_train::cli::manpage::pages();
    let update = std::env::var_os("UPDATE_MAN").is_some_and(|v| !v.is_empty());
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let path = dir.join(name);
        if update {
            if std::fs::read(&path).ok().as_ref() != Some(text) {
                std::fs::write(&path, text).unwrap();
            }
        } else if std::fs::read(&path).ok().as_ref() != Some(text) {
            stale.push(name.clone());
        }
    }
    // A page for a command that no longer exists.
    let expected: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") && !expected.contains(&name.as_str()) {
            if update {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                stale.push(format!("{name} (no such command)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "man/ is out of date: {}; run `UPDATE_MAN=1 cargo test --test manpage` and commit man/",
        stale.join(", ")
    );
}

#[test]
fn the_main_page_is_valid_roff_with_every_section() {
    let page = String::from_utf8(git_train::cli::manpage::render()).unwrap();
    assert!(page.contains("\n.TH GIT-TRAIN 1 "), "{}", &page[..200]);
    for needle in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        ".SH COMMANDS",
        ".SS \"git train deploy\"",
        ".SS \"git train completions\"",
        ".SH CONFIGURATION",
        "\\fBmax_train\\fR",
        "\\fBblock\\fR",
        ".SH FILES",
        "refs/notes/deploys",
        "refs/train/locks/ENV",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        "GIT_TRAIN_NOW",
        "NO_COLOR",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    // Hidden plumbing stays out of the manual.
    assert!(!page.contains("run-deployment"));
    assert!(!page.contains(".SS \"git train hook\""));
}
