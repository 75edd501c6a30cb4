//! A real terminal: `deploy` inside tmux at 80x24, watched as a person sees it.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{World, BIN};

struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t", "-S", "-100"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[test]
fn a_live_deploy_leaves_one_final_line_and_no_repeated_progress_rows() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed for this test (.ci/run installs it)");
    }
    let w = World::new();
    let repo = w.repo("r", 2);
    repo.config_without_ci("[env.staging]\nrun = \"sleep 3\"\n");
    let tmux = Tmux {
        socket: w.path("tmux.sock"),
    };
    // The whole environment of a test process, in a shell on an 80x24 terminal.
    let mut probe = repo.cmd("env");
    let env_out = probe.output().unwrap();
    let env_file = w.path("env.sh");
    let mut script = String::new();
    for line in String::from_utf8_lossy(&env_out.stdout).lines() {
        if let Some((k, v)) = line.split_once('=') {
            script.push_str(&format!("export {k}='{}'\n", v.replace('\'', "'\\''")));
        }
    }
    script.push_str("export TERM=xterm-256color\nunset COLUMNS\n");
    std::fs::write(&env_file, script).unwrap();
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-x", "80", "-y", "24", "-s", "t", "sh"])
        .current_dir(&repo.dir)
        .status()
        .unwrap();
    assert!(started.success());
    let line = format!(
        // The marker is split in the typed line, so only the echo's output holds it.
        ". '{}'; cd '{}'; clear; '{BIN}' deploy staging --yes; echo \"DO\"\"NE-$?\"",
        env_file.display(),
        repo.dir.display()
    );
    tmux.cmd()
        .args(["send-keys", "-t", "t", &line, "Enter"])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut screen = tmux.screen();
    while !screen.contains("DONE-") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux.screen();
    }
    assert!(screen.contains("DONE-0"), "{screen}");
    let rows: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        rows.iter().filter(|l| l.contains("now runs")).count(),
        1,
        "{screen}"
    );
    assert_eq!(
        rows.iter().filter(|l| l.contains("running for")).count(),
        0,
        "the live line is cleared at the end:\n{screen}"
    );
    for l in &rows {
        assert!(l.chars().count() <= 80, "{l}");
    }
    // The final line stands alone, right before the shell's next output.
    let done = rows.iter().position(|l| l.contains("DONE-")).unwrap();
    assert!(rows[done - 1].contains("✓ staging now runs"), "{screen}");
}
