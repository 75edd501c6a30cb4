//! Where the token and the repository come from. The token is only ever held in
//! memory: never printed, logged or stored by git-train.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The token: `GH_TOKEN`, `GITHUB_TOKEN`, `gh auth token`, then `git credential fill`.
pub fn token(api: &str) -> Result<String> {
    for var in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Ok(t) = std::env::var(var) {
            let t = t.trim();
            if !t.is_empty() {
                return Ok(t.to_string());
            }
        }
    }
    let host = host_of(api);
    let gh_host = if host == "api.github.com" {
        "github.com"
    } else {
        host.as_str()
    };
    if let Ok(out) = Command::new("gh")
        .args(["auth", "token", "--hostname", gh_host])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !t.is_empty() {
            return Ok(t);
        }
    }
    if let Some(t) = credential_fill(gh_host) {
        return Ok(t);
    }
    Err(Error::usage(format!("no GitHub token for {gh_host}")).hint(
        "set GH_TOKEN (or GITHUB_TOKEN), run `gh auth login`, or store a credential for it in git",
    ))
}

fn credential_fill(host: &str) -> Option<String> {
    let mut child = Command::new("git")
        .args(["credential", "fill"])
        // Never prompt: a sync in a script must not hang on a password question.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()?
        .write_all(format!("protocol=https\nhost={host}\n\n").as_bytes())
        .ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("password=").map(str::to_string))
        .filter(|t| !t.is_empty())
}

/// Refuses to send a token to an API that `.train.toml` (committed, so anyone with a
/// pull request can change it) names, unless it is GitHub itself, a loopback test
/// server, the API of the GitHub Actions run, or a host the user trusts in their own
/// git config. Anything but loopback must be https.
pub fn check_api(api: &str, trusted: &[String]) -> Result<()> {
    let host = host_of(api).to_ascii_lowercase();
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host);
    let loopback = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    if loopback {
        return Ok(());
    }
    if !api.starts_with("https://") {
        return Err(
            Error::usage(format!("the GitHub API `{api}` is not https")).hint(
                "set `[github] api = \"https://HOST/api/v3\"`; the token never travels in clear",
            ),
        );
    }
    let from_actions = std::env::var("GITHUB_API_URL")
        .is_ok_and(|v| v.trim_end_matches('/') == api.trim_end_matches('/'));
    if host == "api.github.com" || from_actions || trusted.iter().any(|t| *t == host || *t == name)
    {
        return Ok(());
    }
    Err(Error::usage(format!("refusing to send your GitHub token to {host}, which .train.toml names"))
        .hint(format!("if {host} is your GitHub Enterprise, trust it once: git config --global --add train.githubHost {host}")))
}

/// `api.github.com` of `https://api.github.com`, `HOST` of `https://HOST/api/v3`.
pub fn host_of(api: &str) -> String {
    let rest = api.split_once("://").map(|(_, r)| r).unwrap_or(api);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// `owner/name` from a remote URL on github.com, or on the configured API's host.
pub fn repo_from_url(url: Option<&str>, api: Option<&str>) -> Option<String> {
    let url = url?;
    let mut hosts = vec!["github.com".to_string()];
    if let Some(api) = api {
        let host = host_of(api);
        hosts.push(host.trim_start_matches("api.").to_string());
        hosts.push(host);
    }
    // git@HOST:owner/name.git, ssh://git@HOST/owner/name.git, https://HOST/owner/name(.git)
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
        rest.split_once('/')?
    } else {
        let rest = url.rsplit_once('@').map(|(_, r)| r).unwrap_or(url);
        rest.split_once(':')?
    };
    let host = host.split(':').next().unwrap_or(host);
    if !hosts.iter().any(|h| h == host) {
        return None;
    }
    let repo = path.trim_end_matches('/').trim_end_matches(".git");
    valid_repo(repo).then(|| repo.to_string())
}

pub fn valid_repo(repo: &str) -> bool {
    let mut parts = repo.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_from_remote_urls() {
        for url in [
            "git@github.com:acme/api.git",
            "https://github.com/acme/api",
            "https://x-access-token:abc@github.com/acme/api.git",
            "ssh://git@github.com/acme/api.git",
        ] {
            assert_eq!(
                repo_from_url(Some(url), None).as_deref(),
                Some("acme/api"),
                "{url}"
            );
        }
        assert_eq!(
            repo_from_url(Some("git@gitlab.com:acme/api.git"), None),
            None
        );
        assert_eq!(
            repo_from_url(
                Some("git@ghe.corp:acme/api.git"),
                Some("https://ghe.corp/api/v3")
            )
            .as_deref(),
            Some("acme/api")
        );
        assert_eq!(repo_from_url(Some("/srv/git/api.git"), None), None);
        assert!(!valid_repo("acme/../x"));
        assert_eq!(host_of("https://ghe.corp/api/v3"), "ghe.corp");
        assert!(check_api("https://api.github.com", &[]).is_ok());
        assert!(check_api("http://127.0.0.1:4000", &[]).is_ok());
        assert!(check_api("https://evil.example/api/v3", &[]).is_err());
        assert!(check_api("http://ghe.corp/api/v3", &["ghe.corp".into()]).is_err());
        assert!(check_api("https://ghe.corp/api/v3", &["ghe.corp".into()]).is_ok());
    }
}
