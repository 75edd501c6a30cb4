//! One POST to a channel's webhook: the only place that knows hyper's client and
//! rustls. A webhook URL is a secret (whoever has it posts to the channel), so it is
//! never shown: not in errors, not in `-v`, not in `Debug`.

use std::sync::OnceLock;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

/// A webhook URL, checked: https, or http to a loopback address (tests, a local
/// relay); no user name or password; nothing the parser would drop silently.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: url::Url,
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(hidden)")
    }
}

impl WebhookUrl {
    /// Parses a URL; the error says what is wrong without repeating it.
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("it holds a control character or a space".into());
        }
        let url = url::Url::parse(text).map_err(|e| format!("it is not a URL ({e})"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("it holds a user name or password before `@`".into());
        }
        if url.host().is_none() || url.cannot_be_a_base() {
            return Err("it names no host".into());
        }
        let web = WebhookUrl { url };
        match web.url.scheme() {
            "https" => Ok(web),
            "http" if web.is_loopback() => Ok(web),
            "http" => Err("it is not https (only a loopback address may use http)".into()),
            _ => Err("it is not an https URL".into()),
        }
    }

    fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        }
    }

    /// Takes the URL (and its path, which holds the token) out of a text.
    fn redact(&self, text: &str) -> String {
        let mut out = text.replace(self.url.as_str(), "(the channel's URL)");
        let path = self.url.path();
        if path.len() > 1 {
            out = out.replace(path, "/(hidden)");
        }
        if let Some(query) = self.url.query().filter(|q| !q.is_empty()) {
            out = out.replace(query, "(hidden)");
        }
        out
    }
}

/// What the channel answered.
pub struct Answer {
    pub status: http::StatusCode,
    /// The start of its body, on one line: Slack says what it did not like there.
    pub said: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_success()
    }
}

/// The https connector, made once per process: it reads the system's root
/// certificates (about 150 files), which a command that posts twice should not do twice.
fn https() -> Result<HttpsConnector<HttpConnector>, String> {
    static CONNECTOR: OnceLock<Result<HttpsConnector<HttpConnector>, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            Ok(hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                .map_err(|e| format!("cannot read the system's root certificates ({e})"))?
                .https_only()
                .enable_http1()
                .build())
        })
        .clone()
}

/// Posts a JSON body; a redirect is an answer like any other (never followed: the
/// body would go elsewhere). No retry: a message must not be posted twice.
pub async fn post(
    url: &WebhookUrl,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<Answer, String> {
    post_unredacted(url, body, headers)
        .await
        .map_err(|why| url.redact(&why))
        .map(|answer| Answer {
            said: url.redact(&answer.said),
            ..answer
        })
}

async fn post_unredacted(
    url: &WebhookUrl,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Result<Answer, String> {
    let uri: http::Uri = url
        .url
        .as_str()
        .parse()
        .map_err(|e| format!("its URL is not one HTTP can use ({e})"))?;
    let io = if url.url.scheme() == "https" {
        let mut connector = https()?;
        connect(&mut connector, uri).await?
    } else {
        let mut connector = HttpConnector::new();
        let tcp = connect(&mut connector, uri).await?;
        hyper_rustls::MaybeHttpsStream::Http(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("could not talk HTTP to it: {}", chain(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let host = match url.url.port() {
        Some(port) => format!("{}:{port}", url.url.host_str().unwrap_or_default()),
        None => url.url.host_str().unwrap_or_default().to_string(),
    };
    let target = match url.url.query() {
        Some(q) => format!("{}?{q}", url.url.path()),
        None => url.url.path().to_string(),
    };
    let mut request = http::Request::post(target)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("git-train/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("could not make the request ({e})"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("no answer: {}", chain(&e)))?;
    let status = response.status();
    let said = match Limited::new(response.into_body(), 4096).collect().await {
        Ok(body) => {
            let text = String::from_utf8_lossy(&body.to_bytes()).to_string();
            let line: String = text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            line
        }
        Err(_) => String::new(),
    };
    Ok(Answer { status, said })
}

async fn connect<C>(connector: &mut C, uri: http::Uri) -> Result<C::Response, String>
where
    C: Service<http::Uri>,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let fail = |e: C::Error| {
        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
        format!("could not connect: {}", chain(e.as_ref()))
    };
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(fail)?;
    connector.call(uri).await.map_err(fail)
}

/// An error with its causes, on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_without_userinfo() {
        for good in [
            "https://hooks.slack.com/services/T0/B0/XXXX",
            "https://discord.com/api/webhooks/1/abc",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:8080/hook",
            "http://localhost:1/x",
        ] {
            WebhookUrl::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "http://hooks.example/x",
            "http://127.0.0.1:x@evil/x",
            "https://user:pw@hooks.example/x",
            "https://hooks.example/x\n",
            "https://hooks.exa mple/x",
            "ftp://hooks.example/x",
            "hooks.example/x",
            "mailto:a@b",
            "",
        ] {
            let why = WebhookUrl::parse(bad).unwrap_err();
            assert!(bad.is_empty() || !why.contains(bad), "{bad}: {why}");
        }
    }

    #[test]
    fn the_https_connector_is_rustls_with_ring_and_the_system_roots() {
        // Once per process: the second call reuses the roots read by the first.
        assert!(https().is_ok(), "{:?}", https().err());
        let started = std::time::Instant::now();
        assert!(https().is_ok());
        assert!(started.elapsed() < std::time::Duration::from_millis(5));
    }

    #[tokio::test]
    async fn a_refused_connection_says_so_without_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url =
            WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hooks/SECRET-TOKEN")).unwrap();
        let why = post(&url, b"{}".to_vec(), &[]).await.err().unwrap();
        assert!(why.starts_with("could not connect"), "{why}");
        assert!(!why.contains("SECRET"), "{why}");
    }

    #[test]
    fn errors_never_show_the_url() {
        let url =
            WebhookUrl::parse("https://hooks.example/services/T0/B0/SECRET?token=abc").unwrap();
        let text = url.redact(
            "error at https://hooks.example/services/T0/B0/SECRET?token=abc: /services/T0/B0/SECRET token=abc",
        );
        assert!(!text.contains("SECRET") && !text.contains("abc"), "{text}");
        assert_eq!(format!("{url:?}"), "WebhookUrl(hidden)");
    }
}
