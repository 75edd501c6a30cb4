//! Bad input gets a clear error with a hint, exit 2, and changes nothing.

mod common;

use common::World;

#[test]
fn outside_a_repository_and_in_an_empty_one() {
    let w = World::new();
    std::fs::create_dir_all(w.path("plain")).unwrap();
    let mut cmd = std::process::Command::new(common::BIN);
    w.env(&mut cmd);
    cmd.env("GIT_CEILING_DIRECTORIES", w.root.path());
    let out = cmd
        .current_dir(w.path("plain"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a git repository") && err.contains("hint:"),
        "{err}"
    );

    let empty = w.repo("empty", 0);
    let out = empty.train(&["status"]).code(2);
    out.says("no commits yet");
    empty.train(&["deploy", "staging"]).code(2);
}

#[test]
fn unknown_and_ambiguous_revisions() {
    let w = World::new();
    let repo = w.repo("r", 1);
    let out = repo.train(&["deploy", "staging", "nosuchbranch"]).code(2);
    out.says("unknown revision 'nosuchbranch'");
    let out = repo
        .train(&["report", "success", "--commit", "deadbeef"])
        .code(2);
    out.says("unknown revision");

    // Make objects until two share a four-digit prefix.
    let mut input = String::new();
    for i in 0..3000 {
        let body = format!("blob {i}\n");
        input.push_str(&format!("blob\ndata {}\n{body}\n", body.len()));
    }
    let mut fi = repo
        .cmd("git")
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    fi.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(fi.wait().unwrap().success());
    let all = repo.git(&[
        "cat-file",
        "--batch-all-objects",
        "--batch-check=%(objectname)",
    ]);
    let mut prefixes: Vec<&str> = all.lines().map(|l| &l[..4]).collect();
    prefixes.sort();
    let dup = prefixes
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0])
        .expect("a shared prefix");
    let out = repo.train(&["deploy", "staging", dup]).code(2);
    out.says("ambiguous");
    out.says("more characters");
}

#[test]
fn a_commit_not_on_trunk_is_refused() {
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let side = repo.commit("side work");
    repo.git(&["checkout", "-q", "main"]);
    repo.config_without_ci("");
    let out = repo.train(&["deploy", "staging", &side]).code(2);
    out.says("is not on trunk");
    assert!(
        out.stderr
            .contains("hint: git-train deploys commits merged into main"),
        "{}",
        out.stderr
    );
    assert!(repo.all_lines().is_empty());
    // The hint's way out works: --force --reason deploys it, recorded as such.
    out.says("--force --reason TEXT");
    let short = &side[..7];
    repo.train(&[
        "deploy",
        "staging",
        short,
        "--force",
        "--reason",
        "hotfix build",
        "--yes",
        "-q",
    ])
    .ok();
    let h = repo.train(&["history", "--json"]).ok().json();
    assert_eq!(
        h["deployments"][0]["forced"],
        "not on trunk (main): hotfix build"
    );
    let st = repo.train(&["status", "--json"]).ok().json();
    assert_eq!(st["environments"][0]["deployed"]["on_trunk"], false);
    assert!(repo
        .train(&["status"])
        .ok()
        .stdout
        .contains("(not on trunk)"));
}

#[test]
fn invalid_environment_names() {
    let w = World::new();
    let repo = w.repo("r", 1);
    let long = "x".repeat(10_000);
    for bad in [
        "my env",
        "a..b",
        "a/b",
        ".hidden",
        "prod.lock",
        "../x",
        "refs/heads/main",
        "-rf",
        "tab\tx",
        &long,
    ] {
        let out = repo.train(&["deploy", "--", bad]).code(2);
        assert!(
            out.stderr.contains("not a valid environment name"),
            "{bad}: {}",
            out.stderr
        );
        out.says("hint:");
    }
    assert!(repo.all_lines().is_empty());
    assert!(repo
        .git(&["for-each-ref"])
        .lines()
        .all(|l| l.contains("refs/heads/")));
}

#[test]
fn broken_configuration_names_file_line_and_key() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.write(
        ".train.toml",
        "trunk = \"main\"\n[env.staging]\nrunn = \"./deploy.sh\"\n",
    );
    let out = repo.train(&["status"]).code(2);
    out.says(".train.toml:3:");
    out.says("runn");
    out.says("hint:");

    repo.write(".train.toml", "[env.staging\nrun = 1\n");
    let out = repo.train(&["deploy", "staging"]).code(2);
    out.says(".train.toml:1");

    repo.write(".train.toml", "[env.production]\nmax_train = \"twenty\"\n");
    let out = repo.train(&["status"]).code(2);
    assert!(
        out.stderr.contains(".train.toml:2") && out.stderr.contains("max_train"),
        "{}",
        out.stderr
    );

    std::fs::write(repo.dir.join(".train.toml"), b"trunk = \"\xff\"\n").unwrap();
    let out = repo.train(&["status"]).code(2);
    out.says("not UTF-8");
}

#[test]
fn bad_arguments_exit_2() {
    let w = World::new();
    let repo = w.repo("r", 1);
    repo.train(&["deploy"]).code(2);
    repo.train(&["frobnicate"]).code(2);
    repo.train(&["status", "-n", "many"]).code(2);
    let out = repo.train(&["report", "green", "--commit", "HEAD"]).code(2);
    out.says("unknown state 'green'");
    let out = repo.train(&["report", "success"]).code(2);
    out.says("--commit");
    repo.train(&["--help"]).ok();
}
