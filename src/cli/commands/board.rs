//! `git train board`: binds, says where, serves until Ctrl-C. The board itself
//! lives in `crate::board`; it needs no context of its own (each page opens its
//! repository), so it runs before the command context is made.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use crate::board::{Board, Options};
use crate::cli::args::Cli;
use crate::cli::ui::TermUi;
use crate::commands::board::BoardArgs;
use crate::context::{Context, Ui};
use crate::daemon::config;
use crate::error::{Error, Result};

/// Where the board listens unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7878);

pub fn run(dir: &Path, cli: &Cli, a: &BoardArgs) -> Result<u8> {
    let ui = TermUi::new(cli.quiet, cli.color);
    let repos = if a.all {
        let (watching, file) = config::load()?;
        if watching.watch.is_empty() {
            return Err(Error::usage(format!(
                "the watch list ({}) is empty: no repository to serve",
                file.display()
            ))
            .hint("`git train watch` in a repository adds it; without --all the board serves the current one"));
        }
        watching.watch.iter().map(Into::into).collect()
    } else {
        // Opened once here so that a bad .train.toml is said now, not on every page.
        let ctx = Context::open(dir, Box::new(TermUi::new(cli.quiet, cli.color)))?;
        let path = ctx.repo().workdir();
        vec![std::fs::canonicalize(&path).unwrap_or(path)]
    };
    let board = Board::bind(Options {
        listen: a.listen.unwrap_or(DEFAULT_LISTEN),
        repos,
        follow_watch_list: a.all,
        config_file: config::config_path().ok(),
    })?;
    let url = board.url();
    if !board.addr().ip().is_loopback() {
        ui.warn(&format!(
            "the board listens on {}: anyone who can reach that address can read the page \
             (deployments, commit subjects, authors)",
            board.addr()
        ));
    }
    crate::cli::tell(&format!("{url}\n"));
    ui.note("serving the ledger read-only; Ctrl-C stops it");
    if a.open {
        open_browser(&url, &ui);
    }
    board.serve(&|w| ui.warn(w))?;
    Ok(0)
}

/// Opens the page in the user's browser; the board goes on when none opens.
fn open_browser(url: &str, ui: &TermUi) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Reaped in the background so that no zombie stays behind.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => ui.warn(&format!(
            "could not open a browser ({opener}: {e}); open {url} yourself"
        )),
    }
}
