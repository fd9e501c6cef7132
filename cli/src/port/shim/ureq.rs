
/// `ureq` 2's blocking requests, made by the host with `ctx.http`
/// (permission `net:<host>`). As with ureq, a status of 400 or more is an
/// error.
pub(crate) mod ureq {
    use wasp_sdk::{Context, HttpRequest, HttpResponse, WireError};

    /// What ureq's errors became: the host's.
    pub(crate) type Error = WireError;

    /// A request being built: `ureq::get(url)` and the like.
    #[derive(Debug, Clone)]
    pub(crate) struct Request {
        request: HttpRequest,
    }

    pub(crate) fn request(method: &str, url: &str) -> Request {
        let request =
            HttpRequest { method: method.to_owned(), url: url.to_owned(), headers: Vec::new(), body: Vec::new(), timeout_ms: None };
        Request { request }
    }

    pub(crate) fn get(url: &str) -> Request {
        request("GET", url)
    }

    pub(crate) fn post(url: &str) -> Request {
        request("POST", url)
    }

    pub(crate) fn put(url: &str) -> Request {
        request("PUT", url)
    }

    pub(crate) fn delete(url: &str) -> Request {
        request("DELETE", url)
    }

    impl Request {
        pub(crate) fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.request.timeout_ms = Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
            self
        }

        pub(crate) fn set(mut self, name: &str, value: &str) -> Self {
            self.request.headers.push((name.to_owned(), value.to_owned()));
            self
        }

        pub(crate) fn query(mut self, name: &str, value: &str) -> Self {
            let sep = if self.request.url.contains('?') { '&' } else { '?' };
            self.request.url = format!("{}{sep}{name}={value}", self.request.url);
            self
        }

        pub(crate) fn call(self, ctx: &mut Context<'_>) -> Result<Response, Error> {
            self.send_bytes(&[], ctx)
        }

        pub(crate) fn send_string(self, body: &str, ctx: &mut Context<'_>) -> Result<Response, Error> {
            self.send_bytes(body.as_bytes(), ctx)
        }

        pub(crate) fn send_bytes(mut self, body: &[u8], ctx: &mut Context<'_>) -> Result<Response, Error> {
            self.request.body = body.to_vec();
            let response = ctx.http(&self.request)?;
            if response.status >= 400 {
                return Err(WireError::plugin(format!("{}: status code {}", self.request.url, response.status)));
            }
            Ok(Response { url: self.request.url, response })
        }
    }

    /// A response, with ureq's accessors.
    #[derive(Debug, Clone)]
    pub(crate) struct Response {
        url: String,
        response: HttpResponse,
    }

    impl Response {
        pub(crate) fn status(&self) -> u16 {
            self.response.status
        }

        pub(crate) fn get_url(&self) -> &str {
            &self.url
        }

        pub(crate) fn header(&self, name: &str) -> Option<&str> {
            self.response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }

        pub(crate) fn into_string(self) -> std::io::Result<String> {
            String::from_utf8(self.response.body).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        }

        pub(crate) fn into_reader(self) -> impl std::io::Read {
            std::io::Cursor::new(self.response.body)
        }
    }
}
