
/// `std::net::TcpStream` for one plain HTTP/1.x exchange: what is written
/// is read as a request and made by the host with `ctx.http` (permission
/// `net:<host>`); reads answer the response as the server would have sent
/// it. Anything else a socket does is not there, so the compiler says so.
pub(crate) struct TcpStream<'a, 'c> {
    ctx: &'a mut Context<'c>,
    address: String,
    written: Vec<u8>,
    timeout_ms: std::cell::Cell<Option<u32>>,
    response: Option<std::io::Cursor<Vec<u8>>>,
}

impl<'a, 'c> TcpStream<'a, 'c> {
    pub(crate) fn connect(address: &str, ctx: &'a mut Context<'c>) -> std::io::Result<Self> {
        Ok(Self { ctx, address: address.to_owned(), written: Vec::new(), timeout_ms: None.into(), response: None })
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        self.timeout_ms.set(timeout.map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)));
        Ok(())
    }

    pub(crate) fn set_write_timeout(&self, _: Option<std::time::Duration>) -> std::io::Result<()> {
        Ok(())
    }

    /// Sends what was written as one request; keeps the response to be read.
    fn exchange(&mut self) -> std::io::Result<Vec<u8>> {
        let text = String::from_utf8_lossy(&self.written).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap_or_default().split_whitespace();
        let (method, path) = (request_line.next().unwrap_or("GET"), request_line.next().unwrap_or("/"));
        let mut host = self.address.trim_end_matches(":80").to_owned();
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let (name, value) = (name.trim(), value.trim());
            match name.to_ascii_lowercase().as_str() {
                "host" => host = value.to_owned(),
                "connection" | "content-length" => {}
                _ => headers.push((name.to_owned(), value.to_owned())),
            }
        }
        let request = wasp_sdk::HttpRequest {
            method: method.to_owned(),
            url: format!("http://{host}{path}"),
            headers,
            body: body.as_bytes().to_vec(),
            timeout_ms: self.timeout_ms.get(),
        };
        let response = self.ctx.http(&request).map_err(|e| std::io::Error::other(e.message))?;
        let mut out = format!("HTTP/1.1 {}\r\n", response.status).into_bytes();
        for (name, value) in &response.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&response.body);
        Ok(out)
    }
}

impl std::io::Write for TcpStream<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Read for TcpStream<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.response.is_none() {
            let response = self.exchange()?;
            self.response = Some(std::io::Cursor::new(response));
        }
        match &mut self.response {
            Some(response) => std::io::Read::read(response, buf),
            None => Ok(0),
        }
    }
}
