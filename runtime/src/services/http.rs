//! `http.fetch`: outbound HTTP for plugins, to allow-listed hosts only.
//!
//! The caller checks the plugin's grants against [`HttpClient::permission_for`]
//! and then calls [`HttpClient::fetch`]. Both derive the target from the URL
//! through one private parser, and `fetch` sends the request to the very URL
//! that parser produced, so what is checked is what is contacted.
//!
//! Redirects are never followed: a 3xx goes back to the plugin, which must
//! fetch the new location itself, through the permission check again. Proxies
//! from the environment, cookies and content decoding are all off.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::{Method, Url};
use wasp_protocol::services::{HttpRequest, HttpResponse};
use wasp_protocol::{ErrorCode, Permission, WireError};

/// The service name, first word of every error message.
const SERVICE: &str = "http.fetch";

/// Sent unless the plugin sets its own `User-Agent`.
const USER_AGENT: &str = concat!("wasp/", env!("CARGO_PKG_VERSION"));

/// Request headers a plugin may not set: they decide which virtual host is
/// reached (`host`) or how the message is framed on the connection, both of
/// which belong to the host.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// How much of a malformed URL an error message repeats.
const MAX_SHOWN_URL: usize = 200;

/// Outbound HTTP for plugins: one shared client, no redirects followed, bounded responses.
///
/// Cloning is cheap and shares the connection pool.
///
/// ```no_run
/// use std::time::Duration;
/// use wasp_protocol::services::HttpRequest;
/// use wasp_runtime::services::http::HttpClient;
///
/// # async fn run() -> Result<(), wasp_protocol::WireError> {
/// let client = HttpClient::new(Duration::from_secs(30))?;
/// let req = HttpRequest {
///     method: "GET".into(),
///     url: "https://api.example.com/v1/items".into(),
///     headers: vec![],
///     body: vec![],
///     timeout_ms: None,
/// };
/// // The caller checks this against the plugin's grants first.
/// let needed = HttpClient::permission_for(&req.url)?;
/// assert_eq!(needed.to_string(), "net:api.example.com:443");
/// let response = client.fetch(req, 1 << 20).await?;
/// println!("{}", response.status);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    default_timeout: Duration,
}

/// A parsed, acceptable request URL and the `host:port` it reaches.
struct Target {
    url: Url,
    /// `host:port`, IPv6 hosts in brackets: the target of the `net` permission.
    authority: String,
}

/// Parses `text` as an absolute `http`/`https` URL without credentials. The one
/// place that decides where a request goes, for the check and for the use.
fn parse_target(text: &str) -> Result<Target, WireError> {
    let invalid = |why: &str| {
        WireError::new(ErrorCode::InvalidArgument, format!("{SERVICE}: invalid url `{}`: {why}", clip(text)))
    };
    let url = Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!("scheme `{}` is not http or https", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("credentials in the url are not allowed"));
    }
    // `host_str` brackets IPv6 addresses, as the permission grammar wants.
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host,
        _ => return Err(invalid("no host")),
    };
    let port = url.port_or_known_default().ok_or_else(|| invalid("no port"))?;
    let authority = format!("{host}:{port}");
    Ok(Target { url, authority })
}

/// At most [`MAX_SHOWN_URL`] bytes of `text`, cut on a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_SHOWN_URL {
        return text;
    }
    let mut end = MAX_SHOWN_URL;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The URL as error messages show it: without query or fragment, which may
/// carry secrets (API keys) that have no business in logs.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

impl HttpClient {
    /// A client whose requests give up after `default_timeout` unless they
    /// set their own `timeout_ms`.
    ///
    /// Fails ([`ErrorCode::Internal`]) only if the TLS backend cannot start.
    pub fn new(default_timeout: Duration) -> Result<Self, WireError> {
        let built = reqwest::Client::builder().no_proxy().redirect(Policy::none()).user_agent(USER_AGENT).build();
        let client = built.map_err(|e| {
            WireError::new(ErrorCode::Internal, format!("{SERVICE}: cannot build the http client: {e}"))
        })?;
        Ok(Self { client, default_timeout })
    }

    /// The permission a request to `url` needs: `Permission::Net("<host>:<port>")` with the
    /// scheme's default port filled in (80/443); IPv6 hosts in brackets.
    ///
    /// Host names come out as the URL parser normalises them: lower case,
    /// IDNA to punycode, IPv4 in dotted decimal (`http://0x7f.1/` needs
    /// `net:127.0.0.1:80`).
    ///
    /// Errors ([`ErrorCode::InvalidArgument`]) for unparsable URLs, schemes other than
    /// http/https, URLs with user:password, or no host.
    ///
    /// ```
    /// use wasp_runtime::services::http::HttpClient;
    /// let needed = HttpClient::permission_for("http://[::1]/status")?;
    /// assert_eq!(needed.to_string(), "net:[::1]:80");
    /// assert!("net:[::1]".parse::<wasp_protocol::Permission>().unwrap().covers(&needed));
    /// # Ok::<(), wasp_protocol::WireError>(())
    /// ```
    pub fn permission_for(url: &str) -> Result<Permission, WireError> {
        parse_target(url).map(|target| Permission::Net(target.authority))
    }

    /// Performs the request. `max_body` bounds the response body (and the request body).
    ///
    /// The request goes to the URL exactly as [`permission_for`](Self::permission_for)
    /// parses it. It gives up after `req.timeout_ms`, or the client's default,
    /// counted from the start until the whole body has arrived.
    ///
    /// Errors:
    /// - [`ErrorCode::InvalidArgument`]: a URL `permission_for` refuses, an
    ///   invalid method (or `CONNECT`), an invalid header, or a header the host
    ///   sets itself (`Host`, `Content-Length`, `Transfer-Encoding`,
    ///   `Connection` and the other hop-by-hop ones);
    /// - [`ErrorCode::TooLarge`]: a request or response body over `max_body`
    ///   (reading stops as soon as the bound is crossed);
    /// - [`ErrorCode::Timeout`]: no complete response in time;
    /// - [`ErrorCode::Unavailable`]: connection refused, DNS failure, TLS or
    ///   protocol failure, with the reason.
    ///
    /// Redirects are not followed: a 3xx is returned as is, `Location` included.
    pub async fn fetch(&self, req: HttpRequest, max_body: usize) -> Result<HttpResponse, WireError> {
        let target = parse_target(&req.url)?;
        let what = format!("{SERVICE}: {} {}", clip(&req.method), shown(&target.url));
        let fail = |code: ErrorCode, why: String| WireError::new(code, format!("{what}: {why}"));

        let method = Method::from_bytes(req.method.as_bytes())
            .map_err(|_| fail(ErrorCode::InvalidArgument, "invalid method".into()))?;
        if method == Method::CONNECT {
            return Err(fail(ErrorCode::InvalidArgument, "method CONNECT is not allowed".into()));
        }
        if req.body.len() > max_body {
            return Err(fail(
                ErrorCode::TooLarge,
                format!("request body of {} bytes exceeds the limit of {max_body}", req.body.len()),
            ));
        }
        let mut request = reqwest::Request::new(method, target.url);
        for (name, value) in &req.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| fail(ErrorCode::InvalidArgument, format!("invalid header name `{}`", clip(name))))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(fail(ErrorCode::InvalidArgument, format!("header `{name}` is set by the host")));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| fail(ErrorCode::InvalidArgument, format!("invalid value for header `{name}`")))?;
            request.headers_mut().append(name, value);
        }
        if !req.body.is_empty() {
            *request.body_mut() = Some(req.body.into());
        }

        let timeout = req.timeout_ms.map_or(self.default_timeout, |ms| Duration::from_millis(ms.into()));
        let exchange = async {
            let mut response = self.client.execute(request).await.map_err(|e| fail(code_of(&e), reason(&e)))?;
            let announced = response.content_length();
            if let Some(len) = announced
                && len > max_body as u64
            {
                return Err(fail(
                    ErrorCode::TooLarge,
                    format!("response body of {len} bytes exceeds the limit of {max_body}"),
                ));
            }
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect();
            let capacity = announced.map_or(0, |len| usize::try_from(len).unwrap_or(max_body).min(max_body));
            let mut body = Vec::with_capacity(capacity);
            while let Some(chunk) = response.chunk().await.map_err(|e| fail(code_of(&e), reason(&e)))? {
                if chunk.len() > max_body - body.len() {
                    // Dropping the response closes the connection: nothing more is read.
                    return Err(fail(
                        ErrorCode::TooLarge,
                        format!("response body exceeds the limit of {max_body} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(fail(ErrorCode::Timeout, format!("no complete response within {} ms", timeout.as_millis()))),
        }
    }
}

/// The wire code for a failed exchange.
fn code_of(e: &reqwest::Error) -> ErrorCode {
    if e.is_timeout() {
        ErrorCode::Timeout
    } else if e.is_builder() {
        ErrorCode::InvalidArgument
    } else {
        ErrorCode::Unavailable
    }
}

/// A short lower-case reason for a failed exchange, from the innermost errors
/// (reqwest's own message repeats the whole URL, query included).
fn reason(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            let phrase = match io.kind() {
                io::ErrorKind::ConnectionRefused => Some("connection refused"),
                io::ErrorKind::ConnectionReset => Some("connection reset"),
                io::ErrorKind::ConnectionAborted => Some("connection aborted"),
                io::ErrorKind::TimedOut => Some("connection timed out"),
                io::ErrorKind::UnexpectedEof => Some("connection closed early"),
                _ => None,
            };
            if let Some(phrase) = phrase {
                return phrase.to_owned();
            }
        }
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    // The innermost messages say the most; the outer ones ("client error
    // (Connect)") only say where the error passed.
    let why = parts.into_iter().rev().take(2).rev().collect::<Vec<_>>().join(": ");
    match why.as_str() {
        "" if e.is_body() || e.is_decode() => "reading the response failed".to_owned(),
        "" => "request failed".to_owned(),
        _ => lower_first(&why),
    }
}

/// `why` with its first letter in lower case ("Connection reset" → "connection reset").
fn lower_first(why: &str) -> String {
    let mut chars = why.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_is_host_and_port() {
        assert_eq!(parse_target("http://Example.COM/x").map(|t| t.authority).ok().as_deref(), Some("example.com:80"));
        assert_eq!(parse_target("https://h:8443").map(|t| t.authority).ok().as_deref(), Some("h:8443"));
        assert_eq!(parse_target("http://[::1]:9/").map(|t| t.authority).ok().as_deref(), Some("[::1]:9"));
        assert_eq!(parse_target("http://0x7f.1/").map(|t| t.authority).ok().as_deref(), Some("127.0.0.1:80"));
    }

    #[test]
    fn messages_are_clipped_on_char_boundaries() {
        let long = "é".repeat(MAX_SHOWN_URL);
        assert!(clip(&long).len() <= MAX_SHOWN_URL);
        assert_eq!(clip("short"), "short");
        assert_eq!(lower_first("Connection reset"), "connection reset");
    }

    #[test]
    fn shown_urls_drop_query_and_fragment() {
        let url = Url::parse("http://h/p?key=secret#f").unwrap();
        assert_eq!(shown(&url), "http://h/p");
    }
}
