//! Where the token and the repository come from. The token is only ever held in
//! memory: never printed, logged or stored by git-train.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The token: `GH_TOKEN`, `GITHUB_TOKEN`, `gh auth token`, then `git credential fill`.
pub fn token(api: &ApiUrl) -> Result<String> {
    for var in ["GH_TOKEN", "GITHUB_TOKEN"] {
        if let Ok(t) = std::env::var(var) {
            let t = t.trim();
            if !t.is_empty() {
                return Ok(t.to_string());
            }
        }
    }
    let gh_host = web_host(api);
    // Asked of `gh` or git once per host and kept in memory for the process (the
    // daemon asks every round); `forget` drops it after GitHub refused it. That
    // there is none is kept a while too, so a daemon without a token does not run
    // them for each repository each round, yet sees a `gh auth login` soon.
    let kept = || {
        let kept = KEPT
            .lock()
            .ok()
            .and_then(|k| k.as_ref()?.get(&gh_host).cloned());
        match kept {
            Some(Kept::Token(t)) => Some(Ok(t)),
            Some(Kept::None(at)) if at.elapsed() < NO_TOKEN_KEPT => Some(Err(no_token(&gh_host))),
            _ => None,
        }
    };
    if let Some(known) = kept() {
        return known;
    }
    // Rounds running side by side ask once: the others wait and read the answer.
    let _asking = ASKING.lock();
    if let Some(known) = kept() {
        return known;
    }
    let found = ask_for_token(&gh_host);
    if let Ok(mut k) = KEPT.lock() {
        let value = match &found {
            Some(t) => Kept::Token(t.clone()),
            None => Kept::None(std::time::Instant::now()),
        };
        k.get_or_insert_with(HashMap::new)
            .insert(gh_host.clone(), value);
    }
    found.ok_or_else(|| no_token(&gh_host))
}

#[derive(Clone)]
enum Kept {
    Token(String),
    /// Neither `gh` nor git had one, at that moment.
    None(std::time::Instant),
}

/// How long "no token" is believed before `gh` and git are asked again.
const NO_TOKEN_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// Tokens found by `gh` or git, by web host: memory only, never written anywhere.
static KEPT: Mutex<Option<HashMap<String, Kept>>> = Mutex::new(None);
static ASKING: Mutex<()> = Mutex::new(());

pub fn no_token(gh_host: &str) -> Error {
    Error::usage(format!("no GitHub token for {gh_host}"))
        .hint(
            "set GH_TOKEN (or GITHUB_TOKEN), run `gh auth login`, or store a credential for it in git; the daemon's service does not see your shell's GH_TOKEN: put GH_TOKEN=... in ~/.config/git-train/env (systemd reads it)",
        )
        .with_source(crate::error::NoCredential)
}

/// Drops the kept token of an API (GitHub answered 401): the next request asks
/// `gh` or git again.
pub fn forget(api: &ApiUrl) {
    if let Ok(mut kept) = KEPT.lock() {
        if let Some(k) = kept.as_mut() {
            k.remove(&web_host(api));
        }
    }
}

/// `gh` and git's credential helpers know GitHub by its web host.
fn web_host(api: &ApiUrl) -> String {
    let authority = api.authority();
    if authority == "api.github.com" {
        "github.com".to_string()
    } else {
        authority
    }
}

fn ask_for_token(gh_host: &str) -> Option<String> {
    if let Ok(out) = Command::new("gh")
        .args(["auth", "token", "--hostname", gh_host])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !t.is_empty() {
            return Some(t);
        }
    }
    credential_fill(gh_host)
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

/// The GitHub API's base URL, parsed once and checked: what is checked is exactly
/// what the client connects to (its serialization is handed to the HTTP client).
///
/// Text is refused with any control character, whitespace or userinfo: the `url`
/// parser drops tabs and newlines silently, and `http://127.0.0.1:x@evil` names the
/// host `evil` to every HTTP client while its text starts with a loopback address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiUrl {
    url: url::Url,
}

impl ApiUrl {
    pub fn parse(text: &str) -> Result<ApiUrl> {
        let bad = |why: &str| {
            Error::usage(format!(
                "`[github] api = \"{}\"` {why}",
                text.escape_debug()
            ))
            .hint("write it as https://api.github.com or https://HOST/api/v3 (GitHub Enterprise)")
        };
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("holds a control character or a space"));
        }
        let url = url::Url::parse(text).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("is not an http(s) URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "holds a user name or password before `@`: the token would go to the host after it",
            ));
        }
        if url.host().is_none() || url.cannot_be_a_base() {
            return Err(bad("names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("has a query or fragment"));
        }
        Ok(ApiUrl { url })
    }

    /// `https://api.github.com`, the default.
    pub fn github() -> ApiUrl {
        ApiUrl {
            url: url::Url::parse("https://api.github.com").expect("a constant URL"),
        }
    }

    /// The base without a trailing `/`, as the HTTP client gets it.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The web side of this API: `https://github.com` for api.github.com, the
    /// Enterprise host itself for `https://HOST/api/v3`.
    pub fn web(&self) -> String {
        let host = self.authority();
        if host == "api.github.com" {
            return "https://github.com".to_string();
        }
        format!("{}://{host}", self.url.scheme())
    }

    /// The host alone: `api.github.com`, `ghe.corp`, `127.0.0.1`, `[::1]`.
    pub fn host(&self) -> String {
        self.url.host_str().unwrap_or_default().to_ascii_lowercase()
    }

    /// The host, with the port when it is not the scheme's default.
    pub fn authority(&self) -> String {
        match self.url.port() {
            Some(p) => format!("{}:{p}", self.host()),
            None => self.host(),
        }
    }

    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
    }

    /// Same scheme, host and port, no userinfo: a URL GitHub hands back (a `Link`)
    /// may be followed with the token only then. Relative links resolve against the
    /// base, as a browser would.
    pub fn same_origin(&self, link: &str) -> bool {
        if link.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return false;
        }
        self.url.join(link).is_ok_and(|u| {
            u.scheme() == self.url.scheme()
                && u.host() == self.url.host()
                && u.port_or_known_default() == self.url.port_or_known_default()
                && u.username().is_empty()
                && u.password().is_none()
        })
    }

    /// Refuses to send a token to an API that `.train.toml` (committed, so anyone with
    /// a pull request can change it) names, unless it is GitHub itself, a loopback test
    /// server, the API of the GitHub Actions run, or a host the user trusts in their
    /// own git config (`HOST`, or `HOST:PORT` for another port). Anything but loopback
    /// must be https.
    pub fn check_trusted(&self, trusted: &[String]) -> Result<()> {
        if self.is_loopback() {
            return Ok(());
        }
        if self.url.scheme() != "https" {
            return Err(
                Error::usage(format!("the GitHub API `{self}` is not https")).hint(
                    "set `[github] api = \"https://HOST/api/v3\"`; the token never travels in clear",
                ),
            );
        }
        let github = self.authority() == "api.github.com";
        let from_actions = std::env::var("GITHUB_API_URL")
            .ok()
            .and_then(|v| ApiUrl::parse(v.trim()).ok())
            .is_some_and(|actions| actions.as_str() == self.as_str());
        let authority = self.authority();
        if github || from_actions || trusted.contains(&authority) {
            return Ok(());
        }
        Err(Error::usage(format!(
            "refusing to send your GitHub token to {authority}, which .train.toml names"
        ))
        .hint(format!(
            "if {authority} is your GitHub Enterprise, trust it once: git config --global --add train.githubHost {authority}"
        )))
    }
}

impl std::fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `owner/name` from a remote URL on github.com, or on the configured API's host.
pub fn repo_from_url(url: Option<&str>, api: Option<&ApiUrl>) -> Option<String> {
    let url = url?;
    let mut hosts = vec!["github.com".to_string()];
    if let Some(api) = api {
        let host = api.host();
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
    fn web_pages_of_apis() {
        assert_eq!(ApiUrl::github().web(), "https://github.com");
        let ghe = ApiUrl::parse("https://ghe.corp/api/v3").unwrap();
        assert_eq!(ghe.web(), "https://ghe.corp");
        let local = ApiUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.web(), "http://127.0.0.1:8080");
    }

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
        let ghe = ApiUrl::parse("https://ghe.corp/api/v3").unwrap();
        assert_eq!(
            repo_from_url(Some("git@ghe.corp:acme/api.git"), Some(&ghe)).as_deref(),
            Some("acme/api")
        );
        assert_eq!(repo_from_url(Some("/srv/git/api.git"), None), None);
        assert!(!valid_repo("acme/../x"));
        assert_eq!(ghe.host(), "ghe.corp");
    }

    fn trusted(api: &str, hosts: &[&str]) -> Result<()> {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        ApiUrl::parse(api)?.check_trusted(&hosts)
    }

    #[test]
    fn the_token_goes_only_to_the_host_that_is_checked() {
        assert!(trusted("https://api.github.com", &[]).is_ok());
        assert!(trusted("https://api.github.com/", &[]).is_ok());
        assert!(trusted("http://127.0.0.1:4000", &[]).is_ok());
        assert!(trusted("http://[::1]:4000", &[]).is_ok());
        assert!(trusted("http://localhost:4000", &[]).is_ok());
        assert!(trusted("https://evil.example/api/v3", &[]).is_err());
        assert!(trusted("http://ghe.corp/api/v3", &["ghe.corp"]).is_err());
        assert!(trusted("https://ghe.corp/api/v3", &["ghe.corp"]).is_ok());
        assert!(trusted("https://ghe.corp:8443/api/v3", &["ghe.corp"]).is_err());
        assert!(trusted("https://ghe.corp:8443/api/v3", &["ghe.corp:8443"]).is_ok());
        assert!(trusted("https://api.github.com:8443", &[]).is_err());
        assert!(trusted("http://api.github.com", &[]).is_err());
        for hostile in [
            "http://127.0.0.1:x@attacker",
            "http://127.0.0.1:4000@attacker:5000",
            "http://[::1]:x@attacker",
            "http://localhost:x@attacker/api",
            "https://trusted.host:x@evil/api/v3",
            "https://api.github.com@evil",
            "https://api.github.com\nhost=github.com",
            "https://api.github.com\n",
            "https://api.git\thub.com",
            "http://127.0.0.1:4000/\u{1b}]52;c;x\u{7}",
            "ftp://api.github.com",
            "api.github.com",
            "https://api.github.com?x=1",
        ] {
            let e = trusted(hostile, &["trusted.host"]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{hostile}");
            assert!(!e.hints.is_empty(), "{hostile}");
        }
        let base = ApiUrl::parse("http://127.0.0.1:4000").unwrap();
        assert!(base.same_origin("/repos/a/b?page=2"));
        assert!(base.same_origin("http://127.0.0.1:4000/repos/a/b?page=2"));
        assert!(!base.same_origin("http://127.0.0.1:4001/repos"));
        assert!(!base.same_origin("//evil/repos"));
        assert!(!base.same_origin("http://127.0.0.1:4000@evil/repos"));
        assert!(!base.same_origin("https://127.0.0.1:4000/repos"));
    }
}
