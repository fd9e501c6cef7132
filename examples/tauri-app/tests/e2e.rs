//! End to end: the example app in a real WebKitGTK webview, driven over
//! WebDriver.
//!
//! The test starts `Xvfb` when `DISPLAY` is unset and `WebKitWebDriver` on a
//! free loopback port, which launches the app binary for the session
//! (`TAURI_WEBVIEW_AUTOMATION=true` lets WebKit accept it). Then it clicks
//! through the page the way a user would: an echo, a runaway `spin` that is
//! preempted while echo keeps answering, the permission prompt for `notes`
//! (everything allowed but `storage`, so adding a note is refused), the
//! counter's sandboxed UI panel, and the plugins table; last, a screenshot
//! into `<target>/e2e-artifacts/tauri-app.png` (`bundled-app.png` for a
//! bundle, below).
//!
//! Each run gets a fresh `WASP_APP_DATA_DIR`, so no remembered permission
//! answer leaks in. Linux only: WebKitGTK is Tauri's webview there, and the
//! only one WebDriver drives here. Needs the Debian packages `xvfb` (unless a
//! display is given) and `webkit2gtk-driver`; without them the test fails
//! saying so.
//!
//! Run it with `cargo test -p wasp-tauri-app` (about 5 s once built). On a
//! failure the message carries the end of the driver's and the app's output
//! (`e2e-artifacts/tauri-app.log`), and `tauri-app-failed.png` shows the
//! window.
//!
//! With `WASP_E2E_APP` set to another build of the app, the test drives
//! that one instead: `scripts/bundle-app` points it at the executable of
//! the extracted `.deb` (`<root>/usr/bin/wasp-tauri-app`). The test then
//! builds no plugin, checks that the app loaded its plugins from its own
//! resource folder (`<root>/usr/lib/wasp-tauri-app/plugins`) and that the
//! `wasp-node` sidecar beside it starts, and names its files
//! `bundled-app.*`.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// The longest any one WebDriver call may take.
const CALL: Duration = Duration::from_secs(20);
/// The longest the page may take to show something the test waits for.
const WAIT: Duration = Duration::from_secs(30);
/// How long the app may take to load its plugins (the test builds them first).
const STARTUP: Duration = Duration::from_secs(120);

/// The app under test: the workspace's build, or a bundle's executable.
struct App {
    binary: PathBuf,
    /// The artifacts' file names start with this.
    name: &'static str,
    bundled: bool,
}

impl App {
    /// `$WASP_E2E_APP` if set, else the app cargo built for this test.
    fn under_test() -> Self {
        match std::env::var_os("WASP_E2E_APP").filter(|v| !v.is_empty()) {
            Some(binary) => Self { binary: PathBuf::from(binary), name: "bundled-app", bundled: true },
            None => {
                Self { binary: PathBuf::from(env!("CARGO_BIN_EXE_wasp-tauri-app")), name: "tauri-app", bundled: false }
            }
        }
    }

    /// The plugin folder of a bundle: Tauri's resource folder for an
    /// executable in `<root>/usr/bin` is `<root>/usr/lib/<productName>`.
    fn shipped_plugins(&self) -> Result<PathBuf> {
        let bin = self.binary.parent().context("the app has no folder")?;
        let dir = bin.join("../lib/wasp-tauri-app/plugins");
        dir.canonicalize().with_context(|| format!("the bundle has no plugin folder {}", dir.display()))
    }
}

#[test]
fn app_drives_plugins_through_the_webview() {
    let app = App::under_test();
    if app.bundled {
        check_bundle(&app).unwrap_or_else(|e| panic!("{e:#}"));
    } else {
        // Build the plugin bundles now, so the app only loads them.
        for name in ["echo", "counter", "spinner", "notes"] {
            wasp_fixtures::wasm_bundle(name);
        }
    }
    let artifacts = wasp_fixtures::target_dir().join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create the artifacts folder");
    let (png, failed_png) = (format!("{}.png", app.name), format!("{}-failed.png", app.name));
    for stale in [&png, &failed_png] {
        let _ = std::fs::remove_file(artifacts.join(stale));
    }
    let log_path = artifacts.join(format!("{}.log", app.name));
    let data_dir = tempfile::tempdir().expect("cannot create a data folder");

    let (_xvfb, display) = display().unwrap_or_else(|e| panic!("{e:#}"));
    let port = free_port();
    let log = File::create(&log_path).expect("cannot create the log file");
    let driver = Command::new(which("WebKitWebDriver", "webkit2gtk-driver"))
        .arg(format!("--port={port}"))
        .arg("--host=127.0.0.1")
        .env("DISPLAY", &display)
        .env("TAURI_WEBVIEW_AUTOMATION", "true")
        .env("WASP_APP_DATA_DIR", data_dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("cannot share the log file"))
        .stderr(log)
        .spawn()
        .expect("cannot start WebKitWebDriver");
    let driver = Guard::new("WebKitWebDriver", driver);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("no tokio runtime");
    let outcome = runtime.block_on(async {
        let client = session(port, &app.binary).await?;
        let outcome = scenario(&client, &artifacts.join(&png)).await;
        if outcome.is_err() {
            // What the window showed when it went wrong.
            if let Ok(Ok(png)) = tokio::time::timeout(CALL, client.screenshot()).await {
                let _ = std::fs::write(artifacts.join(&failed_png), png);
            }
        }
        // Ending the session closes the app; the guards stop the rest.
        let _ = tokio::time::timeout(CALL, client.close()).await;
        outcome
    });
    drop(driver);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    // The bundle's app says where it loads its plugins from (main.rs).
    let outcome = outcome.and_then(|()| {
        if app.bundled {
            let plugins = app.shipped_plugins()?;
            let line = format!("wasp-tauri-app: loading the example plugins from [{plugins:?}]");
            ensure!(log.contains(&line), "the app did not load its plugins from its resource folder: no {line:?}");
        }
        Ok(())
    });
    if let Err(e) = outcome {
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!("{e:#}\n--- last lines of {} (driver and app) ---\n{tail}", log_path.display());
    }
}

/// What the test does in the page; last, a screenshot saved as `png`.
async fn scenario(c: &Client, png: &Path) -> Result<()> {
    wait_text(c, "#status", "ready", STARTUP).await.context("the app did not load its plugins")?;

    // Notes, loaded last, asks for its permissions in the page: allow all
    // but `storage`. First, as the prompt moves the page when it shows.
    let asked = answer_permission_prompts(c).await?;
    ensure!(asked.iter().any(|a| a.contains("“storage”")), "notes was never asked about storage: {asked:?}");
    ensure!(asked.iter().any(|a| a.contains("“timers”")), "notes was never asked about timers: {asked:?}");

    // Echo: a request and its reply.
    echo(c, "hello wasp").await?;

    // Spinner: `spin` runs away; echo answers meanwhile, within the
    // spinner's CPU budget. `ping` answers once the spin is preempted.
    type_into(c, "#echo-input", "while spinning").await?;
    let send = find(c, "#echo-send", WAIT).await?;
    click(c, "#spin").await?;
    call("clicking `#echo-send`", send.click()).await?;
    wait_text(c, "#echo-reply", "while spinning", WAIT).await?;
    let spin = text(c, "#spin-result").await?;
    ensure!(spin == "spinning…", "echo answered only after the spin had ended ({spin:?})");
    wait_text(c, "#spin-result", "deadline_exceeded", WAIT).await?;
    click(c, "#ping").await?;
    wait_text(c, "#ping-result", "pong", WAIT).await?;

    // Without storage, notes cannot keep a note.
    click(c, "#note-add").await?;
    let result = wait_for(c, "#note-result", |t| t.contains(':'), WAIT).await?;
    ensure!(result.starts_with("permission_denied: "), "adding a note without storage gave {result:?}");

    // The app's own function: `notes`' `import` asks the page's file chooser
    // (`files.pick`, which the page serves) for a file. Cancelled, the plugin
    // gets the user's refusal; chosen, the file reaches the plugin, which
    // then cannot store it without `storage`.
    click(c, "#note-import").await?;
    wait_for(c, "#file-text", |t| t.contains("“notes” asks for a file"), WAIT).await?;
    click(c, "#file-cancel").await?;
    let result = wait_for(c, "#note-result", |t| t.contains(':'), WAIT).await?;
    ensure!(result == "plugin: the user chose no file", "cancelling the file chooser gave {result:?}");
    let chosen = tempfile::tempdir().context("a folder for the chosen file")?;
    let path = chosen.path().join("todo.txt");
    std::fs::write(&path, "water the plants").context("writing the chosen file")?;
    click(c, "#note-import").await?;
    let input = find(c, "#file-prompt:not([hidden]) #file-input", WAIT).await?;
    call("choosing the file", input.send_keys(&path.to_string_lossy())).await?;
    let result = wait_for(c, "#note-result", |t| t.contains(':'), WAIT).await?;
    ensure!(
        result.starts_with("permission_denied: ") && result.contains("storage"),
        "importing a chosen file without storage gave {result:?}"
    );

    // The counter's own panel, in its sandboxed iframe.
    let frame = find(c, "iframe#panel-counter-frame", WAIT).await?;
    call("entering the counter's panel", frame.enter_frame()).await?;
    wait_text(c, "#value", "0", WAIT).await.context("the counter panel did not show its value")?;
    click(c, "#add").await?;
    wait_text(c, "#value", "1", WAIT).await?;
    call("leaving the panel", c.enter_parent_frame()).await?;
    // The counter's event reached the page live (the app grants it `ui:counter.changed`).
    wait_for(c, "#events", |t| t.contains("counter.changed") && t.contains("counter"), WAIT)
        .await
        .context("the page's event list did not show `counter.changed`")?;

    // The plugins table shows what runs.
    for name in ["echo", "counter", "spinner"] {
        wait_text(c, &format!("tr[data-plugin=\"{name}\"] td.state"), "running", WAIT).await?;
    }

    screenshot(c, png).await
}

/// What a bundle must hold besides the app: its plugins in its resource
/// folder, and the `wasp-node` sidecar beside the executable, where the
/// host looks for it, able to start. (Started with its input closed, a
/// node prints the address it listens on and ends.)
fn check_bundle(app: &App) -> Result<()> {
    let plugins = app.shipped_plugins()?;
    for name in ["echo", "counter", "spinner", "notes"] {
        let manifest = plugins.join(name).join("plugin.toml");
        ensure!(manifest.is_file(), "the bundle lacks {}", manifest.display());
    }
    let node = app.binary.with_file_name("wasp-node");
    let output = Command::new(&node)
        .args(["--token", "bundle-check", "--watch-stdin"])
        .env("WASP_NODE_COOKIE", "bundle-check")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("the sidecar {} does not run", node.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success() && stdout.starts_with("wasp-node listening on 127.0.0.1:"),
        "the sidecar {} did not start: {}, stdout {stdout:?}, stderr {:?}",
        node.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Saves a screenshot of the window as `path` and checks it shows something.
async fn screenshot(c: &Client, path: &Path) -> Result<()> {
    // Two animation frames, so the screenshot shows the current state.
    call(
        "waiting for two frames",
        c.execute_async("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))", vec![]),
    )
    .await?;
    let png = call("taking a screenshot", c.screenshot()).await?;
    std::fs::write(path, &png).with_context(|| format!("cannot write {}", path.display()))?;
    let (width, height) = png_size(&png).context("the screenshot is not a PNG")?;
    ensure!(width >= 400 && height >= 300, "the screenshot is only {width}×{height}");
    // A blank window of that size compresses to a few kilobytes.
    ensure!(png.len() > 20_000, "the screenshot is suspiciously small ({} bytes): blank page?", png.len());
    Ok(())
}

/// Sends `message` to echo from the page and waits for the same text back.
async fn echo(c: &Client, message: &str) -> Result<()> {
    type_into(c, "#echo-input", message).await?;
    click(c, "#echo-send").await?;
    wait_text(c, "#echo-reply", message, WAIT).await.map(drop)
}

/// Replaces the text of the input `css` with `text`, as typed.
async fn type_into(c: &Client, css: &str, text: &str) -> Result<()> {
    let input = find(c, css, WAIT).await?;
    call(&format!("clearing `{css}`"), input.clear()).await?;
    call(&format!("typing into `{css}`"), input.send_keys(text)).await
}

/// Answers every permission prompt until `notes` is loaded: allows all but
/// `storage`. Returns the prompts' texts.
async fn answer_permission_prompts(c: &Client) -> Result<Vec<String>> {
    let deadline = Instant::now() + WAIT;
    let mut asked: Vec<String> = Vec::new();
    loop {
        if exists(c, "tr[data-plugin=\"notes\"]").await? && !exists(c, "#permission-prompt:not([hidden])").await? {
            return Ok(asked);
        }
        if Instant::now() > deadline {
            bail!("notes did not load; prompts answered: {asked:?}");
        }
        let prompt = call(
            "reading the prompt",
            c.execute(
                "const p = document.getElementById('permission-prompt');
                 const allow = document.getElementById('permission-allow');
                 return p.hidden || allow.disabled ? null : document.getElementById('permission-text').textContent",
                vec![],
            ),
        )
        .await?;
        // A prompt answered a moment ago may still show until the page moves on.
        if let Some(text) = prompt.as_str().filter(|t| !asked.iter().any(|a| a == t)) {
            let button = if text.contains("“storage”") { "#permission-deny" } else { "#permission-allow" };
            asked.push(text.to_owned());
            click(c, button).await?;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a WebDriver session that launches the app, retrying once.
async fn session(port: u16, app: &Path) -> Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        ensure!(Instant::now() < deadline, "WebKitWebDriver did not listen on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let capabilities = json!({ "webkitgtk:browserOptions": { "binary": app, "args": [] } });
    let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
    let url = format!("http://127.0.0.1:{port}");
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    let mut attempt = 1;
    loop {
        match tokio::time::timeout(Duration::from_secs(60), builder.connect(&url)).await {
            Ok(Ok(client)) => return Ok(client),
            Ok(Err(e)) if attempt == 1 => eprintln!("creating the WebDriver session failed ({e}); retrying"),
            Err(_) if attempt == 1 => eprintln!("creating the WebDriver session timed out; retrying"),
            Ok(Err(e)) => bail!("cannot create a WebDriver session: {e}"),
            Err(_) => bail!("creating a WebDriver session timed out"),
        }
        attempt += 1;
    }
}

/// Runs one WebDriver call under [`CALL`].
async fn call<T, E: std::error::Error + Send + Sync + 'static>(
    what: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(CALL, fut).await {
        Ok(result) => result.with_context(|| format!("{what} failed")),
        Err(_) => bail!("{what} took over {CALL:?}"),
    }
}

async fn find(c: &Client, css: &str, within: Duration) -> Result<fantoccini::elements::Element> {
    let deadline = Instant::now() + within;
    loop {
        match call(css, c.find(Locator::Css(css))).await {
            Ok(element) => return Ok(element),
            Err(e) if Instant::now() > deadline => return Err(e.context(format!("`{css}` never appeared"))),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn exists(c: &Client, css: &str) -> Result<bool> {
    Ok(!call(css, c.find_all(Locator::Css(css))).await?.is_empty())
}

async fn click(c: &Client, css: &str) -> Result<()> {
    let element = find(c, css, WAIT).await?;
    call(&format!("clicking `{css}`"), element.click()).await
}

/// The text content of the element `css` ("" when there is none).
async fn text(c: &Client, css: &str) -> Result<String> {
    let value = call(
        &format!("reading `{css}`"),
        c.execute("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", vec![json!(css)]),
    )
    .await?;
    Ok(value.as_str().unwrap_or_default().trim().to_owned())
}

/// Waits until the text of `css` satisfies `done`, and returns it.
async fn wait_for(c: &Client, css: &str, done: impl Fn(&str) -> bool, within: Duration) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let now = text(c, css).await?;
        if done(&now) {
            return Ok(now);
        }
        if Instant::now() > deadline {
            // The page's and the panel's error lines say what went wrong.
            let error =
                text(c, "#error").await.unwrap_or_default() + &text(c, "#panel-error").await.unwrap_or_default();
            bail!("`{css}` still reads {now:?} after {within:?} (errors shown: {error:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_text(c: &Client, css: &str, expected: &str, within: Duration) -> Result<String> {
    wait_for(c, css, |t| t == expected, within)
        .await
        .with_context(|| format!("waiting for `{css}` to read {expected:?}"))
}

/// The width and height in a PNG's header.
fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    let header = png.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    let ihdr = header.get(8..16)?;
    Some((u32::from_be_bytes(ihdr[..4].try_into().ok()?), u32::from_be_bytes(ihdr[4..].try_into().ok()?)))
}

/// A child process stopped with SIGTERM (then SIGKILL) when dropped, so a
/// failing test leaves nothing running.
struct Guard {
    name: &'static str,
    child: Child,
}

impl Guard {
    fn new(name: &'static str, child: Child) -> Self {
        Self { name, child }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGTERM lets WebKitWebDriver close the app it started.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The display to use: `$DISPLAY`, or a fresh Xvfb on the first free
/// display number from 97 (with its guard).
fn display() -> Result<(Option<Guard>, String)> {
    if let Some(display) = std::env::var_os("DISPLAY").filter(|d| !d.is_empty()) {
        return Ok((None, display.to_string_lossy().into_owned()));
    }
    let xvfb = which("Xvfb", "xvfb");
    for n in 97..140 {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let child = Command::new(&xvfb)
            .args([&format!(":{n}"), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvfb")?;
        let mut guard = Guard::new("Xvfb", child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if socket.exists() {
                return Ok((Some(guard), format!(":{n}")));
            }
            // Lost a race for this display number: try the next.
            if matches!(guard.child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    bail!("no free X display between :97 and :139 for Xvfb")
}

/// The path of `program` on `PATH`; panics naming the Debian package that
/// provides it when it is missing.
fn which(program: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not on PATH: this test needs the Debian packages webkit2gtk-driver and xvfb \
                 (`apt-get install webkit2gtk-driver xvfb`; package {package} provides {program})"
            )
        })
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a loopback port");
    listener.local_addr().expect("no local address").port()
}
