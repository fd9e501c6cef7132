//! `http.fetch` against a small hand-written HTTP/1.1 server on loopback.
//!
//! The server reads one request per connection (request line, headers and a
//! `Content-Length` body), records it, answers according to the path and
//! closes the connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wasp_protocol::services::HttpRequest;
use wasp_protocol::{ErrorCode, Permission};
use wasp_runtime::services::http::HttpClient;

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Also returns what fires when an endless body's writer stops (its peer went away).
    async fn start() -> (Self, oneshot::Receiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = oneshot::channel();
        let endless_done = Arc::new(Mutex::new(Some(done_tx)));
        let server = Self { addr, seen: seen.clone() };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let seen = seen.clone();
                let endless_done = endless_done.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, seen, endless_done).await;
                });
            }
        });
        (server, done_rx)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request: request line, headers, and a `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<Seen> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Seen { method, path, headers, body })
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    endless_done: Arc<Mutex<Option<oneshot::Sender<()>>>>,
) -> std::io::Result<()> {
    let req = read_request(&mut stream).await?;
    seen.lock().unwrap().push(req.clone());
    match req.path.as_str() {
        "/hello" => {
            let mut head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test: yes\r\nX-Multi: a\r\nX-Multi: b\r\nX-Raw: caf\xe9\r\nContent-Length: 11\r\nConnection: close\r\n\r\n".to_vec();
            head.extend_from_slice(b"hello world");
            stream.write_all(&head).await?;
        }
        "/echo" => {
            let head = format!(
                "HTTP/1.1 201 Created\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                req.body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&req.body).await?;
        }
        "/redirect" => {
            stream
                .write_all(b"HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
        }
        "/endless" => {
            let result = async {
                stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
                let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
                chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
                chunk.extend_from_slice(b"\r\n");
                loop {
                    stream.write_all(&chunk).await?;
                }
            }
            .await;
            if let Some(done) = endless_done.lock().unwrap().take() {
                let _ = done.send(());
            }
            return result;
        }
        "/huge" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\nxxxx").await?;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        "/cut" => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly ten..").await?;
        }
        "/silent" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        _ => {
            stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
        }
    }
    stream.shutdown().await
}

fn client() -> HttpClient {
    HttpClient::new(Duration::from_secs(10)).unwrap()
}

fn get(url: &str) -> HttpRequest {
    HttpRequest { method: "GET".into(), url: url.into(), headers: vec![], body: vec![], timeout_ms: None }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
}

#[tokio::test]
async fn get_returns_status_headers_and_body() {
    let (server, _) = Server::start().await;
    let resp = client().fetch(get(&server.url("/hello")), 1024).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"hello world");
    assert_eq!(header(&resp.headers, "content-type"), ["text/plain"]);
    assert_eq!(header(&resp.headers, "x-test"), ["yes"]);
    assert_eq!(header(&resp.headers, "x-multi"), ["a", "b"]);
    assert_eq!(header(&resp.headers, "x-raw"), ["caf\u{fffd}"]);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/hello");
    let agent = seen[0].header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("wasp/"), "{agent}");
}

#[tokio::test]
async fn post_echoes_a_binary_body_and_sends_custom_headers() {
    let (server, _) = Server::start().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let req = HttpRequest {
        method: "POST".into(),
        url: server.url("/echo"),
        headers: vec![("X-Plugin".into(), "echo-1".into()), ("Accept".into(), "application/octet-stream".into())],
        body: body.clone(),
        timeout_ms: Some(5000),
    };
    let resp = client().fetch(req, 10_000).await.unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body, body);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].body, body);
    assert_eq!(seen[0].header("x-plugin"), Some("echo-1"));
    assert_eq!(seen[0].header("accept"), Some("application/octet-stream"));
    assert_eq!(seen[0].header("content-length"), Some("5000"));
}

#[tokio::test]
async fn redirect_is_returned_not_followed() {
    let (server, _) = Server::start().await;
    let resp = client().fetch(get(&server.url("/redirect")), 1024).await.unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(header(&resp.headers, "location"), ["/hello"]);
    assert!(resp.body.is_empty());
    // Give a (wrongly) followed redirect time to arrive before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/redirect");
}

#[tokio::test]
async fn endless_body_is_too_large_and_reading_stops() {
    let (server, endless_done) = Server::start().await;
    let started = Instant::now();
    let err = client().fetch(get(&server.url("/endless")), 1 << 20).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(err.message.contains("limit of 1048576"), "{err}");
    // The connection is dropped: the server's writes start failing.
    tokio::time::timeout(Duration::from_secs(5), endless_done)
        .await
        .expect("the server kept writing: the client did not close the connection")
        .unwrap();
}

#[tokio::test]
async fn announced_length_over_the_bound_is_refused_at_once() {
    let (server, _) = Server::start().await;
    let started = Instant::now();
    let err = client().fetch(get(&server.url("/huge")), 1 << 20).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(err.message.contains("10000000000 bytes"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn body_of_exactly_max_body_is_accepted() {
    let (server, _) = Server::start().await;
    let resp = client().fetch(get(&server.url("/hello")), 11).await.unwrap();
    assert_eq!(resp.body, b"hello world");
    let err = client().fetch(get(&server.url("/hello")), 10).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
}

#[tokio::test]
async fn request_body_over_max_body_is_too_large() {
    let (server, _) = Server::start().await;
    let req = HttpRequest { method: "POST".into(), body: vec![0; 101], ..get(&server.url("/echo")) };
    let err = client().fetch(req, 100).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn silent_server_times_out() {
    let (server, _) = Server::start().await;
    let started = Instant::now();
    let req = HttpRequest { timeout_ms: Some(200), ..get(&server.url("/silent")) };
    let err = client().fetch(req, 1024).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    assert!(err.message.contains("200 ms"), "{err}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn default_timeout_applies_without_timeout_ms() {
    let (server, _) = Server::start().await;
    let client = HttpClient::new(Duration::from_millis(150)).unwrap();
    let err = client.fetch(get(&server.url("/silent")), 1024).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
}

#[tokio::test]
async fn closed_port_is_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/x?token=secret");
    let err = client().fetch(get(&url), 1024).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert_eq!(err.message, format!("http.fetch: GET http://{addr}/x: connection refused"));
}

#[tokio::test]
async fn body_cut_short_is_unavailable() {
    let (server, _) = Server::start().await;
    let err = client().fetch(get(&server.url("/cut")), 1024).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
}

#[tokio::test]
async fn invalid_method_and_headers_are_invalid_arguments() {
    let (server, _) = Server::start().await;
    let url = server.url("/hello");
    let cases = [
        HttpRequest { method: "GE T".into(), ..get(&url) },
        HttpRequest { method: "".into(), ..get(&url) },
        HttpRequest { method: "CONNECT".into(), ..get(&url) },
        HttpRequest { headers: vec![("bad name".into(), "v".into())], ..get(&url) },
        HttpRequest { headers: vec![("x-ok".into(), "line\r\nbreak".into())], ..get(&url) },
        HttpRequest { headers: vec![("Host".into(), "elsewhere.example".into())], ..get(&url) },
        HttpRequest { headers: vec![("Content-Length".into(), "3".into())], ..get(&url) },
        HttpRequest { headers: vec![("transfer-encoding".into(), "chunked".into())], ..get(&url) },
        get("ftp://127.0.0.1/x"),
        get("not a url"),
    ];
    for req in cases {
        let shown = format!("{req:?}");
        let err = client().fetch(req, 1024).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{shown}: {err}");
        assert!(err.message.starts_with("http.fetch: "), "{err}");
    }
    assert!(server.seen().is_empty());
}

fn net(target: &str) -> Permission {
    Permission::Net(target.into())
}

#[test]
fn permission_for_fills_in_default_ports() {
    assert_eq!(HttpClient::permission_for("http://example.com/a?b").unwrap(), net("example.com:80"));
    assert_eq!(HttpClient::permission_for("https://example.com").unwrap(), net("example.com:443"));
    assert_eq!(HttpClient::permission_for("HTTPS://API.Example.com/").unwrap(), net("api.example.com:443"));
    assert_eq!(HttpClient::permission_for("http://example.com:80/").unwrap(), net("example.com:80"));
}

#[test]
fn permission_for_keeps_explicit_ports() {
    assert_eq!(HttpClient::permission_for("http://127.0.0.1:8080/x").unwrap(), net("127.0.0.1:8080"));
    assert_eq!(HttpClient::permission_for("https://example.com:80/").unwrap(), net("example.com:80"));
    assert_eq!(HttpClient::permission_for("http://localhost:1").unwrap(), net("localhost:1"));
}

#[test]
fn permission_for_brackets_ipv6() {
    assert_eq!(HttpClient::permission_for("http://[::1]/").unwrap(), net("[::1]:80"));
    assert_eq!(HttpClient::permission_for("https://[::1]:8443/x").unwrap(), net("[::1]:8443"));
    assert_eq!(HttpClient::permission_for("http://[0:0:0:0:0:0:0:1]:9/").unwrap(), net("[::1]:9"));
}

#[test]
fn permission_for_refuses_what_cannot_be_fetched() {
    for url in [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "data:text/plain,hi",
        "mailto:someone@example.com",
        "http://",
        "http://:80/",
        "https://user:pass@example.com/",
        "http://user@example.com/",
        "garbage",
        "/relative/path",
        "",
        "http://[::1/",
        "http://example.com:99999/",
    ] {
        let err = HttpClient::permission_for(url).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{url}: {err}");
        assert!(err.message.starts_with("http.fetch: invalid url"), "{url}: {err}");
    }
}

#[test]
fn grants_cover_what_permission_for_returns() {
    let grant = |text: &str| text.parse::<Permission>().unwrap();
    let needed = HttpClient::permission_for("http://127.0.0.1:41234/").unwrap();
    assert!(grant("net:127.0.0.1").covers(&needed));
    assert!(grant("net:127.0.0.1:41234").covers(&needed));
    assert!(!grant("net:127.0.0.1:41235").covers(&needed));
    assert!(!grant("net:localhost:1").covers(&needed));
    assert!(!grant("net:localhost:1").covers(&HttpClient::permission_for("http://localhost:41234/").unwrap()));
    assert!(grant("net:localhost:1").covers(&HttpClient::permission_for("http://localhost:1/").unwrap()));
    assert!(grant("net:example.com").covers(&HttpClient::permission_for("https://EXAMPLE.com/").unwrap()));
    assert!(grant("net:*.example.com").covers(&HttpClient::permission_for("https://api.example.com/").unwrap()));
    assert!(!grant("net:*.example.com").covers(&HttpClient::permission_for("https://example.com.evil/").unwrap()));
    assert!(grant("net:[::1]").covers(&HttpClient::permission_for("http://[::1]:8080/").unwrap()));
    // Userinfo that looks like the granted host is refused, not misread.
    assert!(HttpClient::permission_for("http://example.com@evil.com/").is_err());
}
