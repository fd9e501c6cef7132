
/// `reqwest`'s blocking client, made by the host with `ctx.http`
/// (permission `net:<host>`). As with reqwest, any status is a response
/// (`error_for_status` makes 400 and more an error) and up to 10 redirects
/// are followed (each to a host the plugin may reach).
pub(crate) mod reqwest {
    use wasp_sdk::{Context, ErrorCode, HttpRequest, HttpResponse, WireError};

    /// What reqwest's errors became: the host's, or a status.
    #[derive(Debug, Clone)]
    pub(crate) struct Error {
        message: String,
        status: Option<StatusCode>,
        timeout: bool,
    }

    pub(crate) type Result<T> = std::result::Result<T, Error>;

    impl Error {
        fn sending(url: &str, e: WireError) -> Self {
            let timeout = matches!(e.code, ErrorCode::Timeout | ErrorCode::DeadlineExceeded);
            Self { message: format!("error sending request for url ({url}): {}", e.message), status: None, timeout }
        }

        pub(crate) fn body(e: impl std::fmt::Display) -> Self {
            Self { message: format!("error decoding response body: {e}"), status: None, timeout: false }
        }

        pub(crate) fn builder(e: impl std::fmt::Display) -> Self {
            Self { message: format!("builder error: {e}"), status: None, timeout: false }
        }

        pub(crate) fn status(&self) -> Option<StatusCode> {
            self.status
        }

        pub(crate) fn is_status(&self) -> bool {
            self.status.is_some()
        }

        pub(crate) fn is_timeout(&self) -> bool {
            self.timeout
        }
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for Error {}

    /// An HTTP status, with reqwest's (the `http` crate's) accessors.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub(crate) struct StatusCode(u16);

    impl StatusCode {
        pub(crate) const OK: Self = Self(200);
        pub(crate) const CREATED: Self = Self(201);
        pub(crate) const NO_CONTENT: Self = Self(204);
        pub(crate) const NOT_MODIFIED: Self = Self(304);
        pub(crate) const BAD_REQUEST: Self = Self(400);
        pub(crate) const UNAUTHORIZED: Self = Self(401);
        pub(crate) const FORBIDDEN: Self = Self(403);
        pub(crate) const NOT_FOUND: Self = Self(404);
        pub(crate) const TOO_MANY_REQUESTS: Self = Self(429);
        pub(crate) const INTERNAL_SERVER_ERROR: Self = Self(500);
        pub(crate) const SERVICE_UNAVAILABLE: Self = Self(503);

        pub(crate) fn as_u16(&self) -> u16 {
            self.0
        }

        pub(crate) fn is_informational(&self) -> bool {
            (100..200).contains(&self.0)
        }

        pub(crate) fn is_success(&self) -> bool {
            (200..300).contains(&self.0)
        }

        pub(crate) fn is_redirection(&self) -> bool {
            (300..400).contains(&self.0)
        }

        pub(crate) fn is_client_error(&self) -> bool {
            (400..500).contains(&self.0)
        }

        pub(crate) fn is_server_error(&self) -> bool {
            (500..600).contains(&self.0)
        }

        pub(crate) fn canonical_reason(&self) -> Option<&'static str> {
            Some(match self.0 {
                200 => "OK",
                201 => "Created",
                202 => "Accepted",
                204 => "No Content",
                301 => "Moved Permanently",
                302 => "Found",
                303 => "See Other",
                304 => "Not Modified",
                307 => "Temporary Redirect",
                308 => "Permanent Redirect",
                400 => "Bad Request",
                401 => "Unauthorized",
                403 => "Forbidden",
                404 => "Not Found",
                405 => "Method Not Allowed",
                408 => "Request Timeout",
                409 => "Conflict",
                410 => "Gone",
                429 => "Too Many Requests",
                500 => "Internal Server Error",
                501 => "Not Implemented",
                502 => "Bad Gateway",
                503 => "Service Unavailable",
                504 => "Gateway Timeout",
                _ => return None,
            })
        }
    }

    impl std::fmt::Display for StatusCode {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} {}", self.0, self.canonical_reason().unwrap_or("<unknown status code>"))
        }
    }

    impl PartialEq<u16> for StatusCode {
        fn eq(&self, other: &u16) -> bool {
            self.0 == *other
        }
    }

    impl From<StatusCode> for u16 {
        fn from(status: StatusCode) -> u16 {
            status.0
        }
    }

    /// A response header's value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct HeaderValue(String);

    impl HeaderValue {
        pub(crate) fn to_str(&self) -> Result<&str> {
            Ok(&self.0)
        }

        pub(crate) fn as_bytes(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }

    /// A response's headers, looked up by name in any case.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct HeaderMap(Vec<(String, HeaderValue)>);

    impl HeaderMap {
        pub(crate) fn get(&self, name: &str) -> Option<&HeaderValue> {
            self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
        }

        pub(crate) fn contains_key(&self, name: &str) -> bool {
            self.get(name).is_some()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// `%`-encodes a query's name or value (`application/x-www-form-urlencoded`, as reqwest's `query`).
    fn encode(text: &str) -> String {
        let mut out = String::new();
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(char::from(b)),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    /// Where a redirect goes: `location` against `url`.
    fn resolve(url: &str, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            return location.to_owned();
        }
        let scheme_end = url.find("://").map_or(0, |i| i + 3);
        let host_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
        if let Some(rest) = location.strip_prefix("//") {
            return format!("{}{rest}", &url[..scheme_end]);
        }
        if location.starts_with('/') {
            return format!("{}{location}", &url[..host_end]);
        }
        let path = url[..url.find(['?', '#']).unwrap_or(url.len())].to_owned();
        let dir = if path.len() > host_end { &path[..path.rfind('/').map_or(path.len(), |i| i + 1)] } else { "" };
        if dir.is_empty() { format!("{}/{location}", &url[..host_end]) } else { format!("{dir}{location}") }
    }

    /// Makes `request` with the host, following redirects as reqwest does.
    fn execute(mut request: HttpRequest, ctx: &mut Context<'_>) -> Result<blocking::Response> {
        for _ in 0..=10 {
            let response = ctx.http(&request).map_err(|e| Error::sending(&request.url, e))?;
            let location = response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("location"));
            match (response.status, location) {
                (301..=303 | 307 | 308, Some((_, location))) => {
                    request.url = resolve(&request.url, location);
                    let keep_method = matches!(response.status, 307 | 308);
                    if !keep_method && request.method != "HEAD" {
                        request.method = "GET".to_owned();
                        request.body.clear();
                        request.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
                    }
                }
                _ => return Ok(blocking::Response::new(request.url, response)),
            }
        }
        Err(Error { message: format!("error following redirect for url ({}): too many redirects", request.url), status: None, timeout: false })
    }

    pub(crate) mod blocking {
        pub(crate) use super::{Error, Result};
        use super::{HttpRequest, StatusCode, HeaderMap, HeaderValue, encode, execute};
        use wasp_sdk::{Context, HttpResponse};

        /// `reqwest::blocking::get(url)`: one GET, made by the host.
        pub(crate) fn get(url: impl AsRef<str>, ctx: &mut Context<'_>) -> Result<Response> {
            Client::new().get(url).send(ctx)
        }

        /// A client: its settings, given to each request.
        #[derive(Debug, Clone, Default)]
        pub(crate) struct Client {
            timeout: Option<std::time::Duration>,
            user_agent: Option<String>,
        }

        impl Client {
            pub(crate) fn new() -> Self {
                Self::default()
            }

            pub(crate) fn builder() -> ClientBuilder {
                ClientBuilder::default()
            }

            pub(crate) fn request(&self, method: &str, url: impl AsRef<str>) -> RequestBuilder {
                let mut headers = Vec::new();
                if let Some(agent) = &self.user_agent {
                    headers.push(("user-agent".to_owned(), agent.clone()));
                }
                let request = HttpRequest {
                    method: method.to_owned(),
                    url: url.as_ref().to_owned(),
                    headers,
                    body: Vec::new(),
                    timeout_ms: self.timeout.map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
                };
                RequestBuilder { request, error: None }
            }

            pub(crate) fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("GET", url)
            }

            pub(crate) fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("POST", url)
            }

            pub(crate) fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("PUT", url)
            }

            pub(crate) fn patch(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("PATCH", url)
            }

            pub(crate) fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("DELETE", url)
            }

            pub(crate) fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
                self.request("HEAD", url)
            }
        }

        /// `Client::builder()`: the settings the host can honour.
        #[derive(Debug, Clone, Default)]
        pub(crate) struct ClientBuilder {
            client: Client,
        }

        impl ClientBuilder {
            pub(crate) fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.client.timeout = Some(timeout);
                self
            }

            pub(crate) fn user_agent(mut self, agent: impl AsRef<str>) -> Self {
                self.client.user_agent = Some(agent.as_ref().to_owned());
                self
            }

            pub(crate) fn build(self) -> Result<Client> {
                Ok(self.client)
            }
        }

        /// A request being built: `client.get(url)` and the like.
        #[derive(Debug, Clone)]
        pub(crate) struct RequestBuilder {
            request: HttpRequest,
            /// An error building it, reported when it is sent (as reqwest does).
            error: Option<Error>,
        }

        impl RequestBuilder {
            pub(crate) fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
                self.request.headers.push((name.as_ref().to_owned(), value.as_ref().to_owned()));
                self
            }

            pub(crate) fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
                self.header("authorization", format!("Bearer {token}"))
            }

            pub(crate) fn query<K: std::fmt::Display, V: std::fmt::Display>(mut self, pairs: &[(K, V)]) -> Self {
                for (name, value) in pairs {
                    let sep = if self.request.url.contains('?') { '&' } else { '?' };
                    self.request.url =
                        format!("{}{sep}{}={}", self.request.url, encode(&name.to_string()), encode(&value.to_string()));
                }
                self
            }

            pub(crate) fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.request.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
                self
            }

            pub(crate) fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
                self.request.body = body.into();
                self
            }

            pub(crate) fn failed(mut self, error: Error) -> Self {
                self.error.get_or_insert(error);
                self
            }

            /// Sends it: the host makes the request.
            pub(crate) fn send(self, ctx: &mut Context<'_>) -> Result<Response> {
                if let Some(error) = self.error {
                    return Err(error);
                }
                execute(self.request, ctx)
            }
        }

        /// A response, with reqwest's accessors.
        #[derive(Debug, Clone)]
        pub(crate) struct Response {
            url: String,
            status: StatusCode,
            headers: HeaderMap,
            body: Vec<u8>,
        }

        impl Response {
            pub(super) fn new(url: String, response: HttpResponse) -> Self {
                let headers = response.headers.into_iter().map(|(n, v)| (n, HeaderValue(v))).collect();
                Self { url, status: StatusCode(response.status), headers: HeaderMap(headers), body: response.body }
            }

            pub(crate) fn status(&self) -> StatusCode {
                self.status
            }

            pub(crate) fn headers(&self) -> &HeaderMap {
                &self.headers
            }

            pub(crate) fn content_length(&self) -> Option<u64> {
                u64::try_from(self.body.len()).ok()
            }

            /// A status of 400 or more as an error, as reqwest's.
            pub(crate) fn error_for_status(self) -> Result<Self> {
                self.error_for_status_ref()?;
                Ok(self)
            }

            pub(crate) fn error_for_status_ref(&self) -> Result<&Self> {
                if self.status.is_client_error() || self.status.is_server_error() {
                    let kind = if self.status.is_client_error() { "client" } else { "server" };
                    return Err(Error {
                        message: format!("HTTP status {kind} error ({}) for url ({})", self.status, self.url),
                        status: Some(self.status),
                        timeout: false,
                    });
                }
                Ok(self)
            }

            /// The body as text (invalid UTF-8 replaced, as reqwest does).
            pub(crate) fn text(self) -> Result<String> {
                Ok(String::from_utf8_lossy(&self.body).into_owned())
            }

            pub(crate) fn bytes(self) -> Result<Vec<u8>> {
                Ok(self.body)
            }
        }

        impl std::io::Read for Response {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.body.len());
                buf[..n].copy_from_slice(&self.body[..n]);
                self.body.drain(..n);
                Ok(n)
            }
        }
    }
}
