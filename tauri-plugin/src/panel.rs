//! Plugin UI panels: the `wasp-ui` URI scheme serves each plugin's `ui`
//! folder (`wasp-ui://localhost/<plugin>/<path>`, on Windows
//! `http://wasp-ui.localhost/<plugin>/<path>`), plus the panel-side bridge
//! script at `/<plugin>/_wasp/panel.js`.
//!
//! Panels are meant for `<iframe sandbox="allow-scripts">`: an opaque
//! origin without Tauri IPC, talking to the page only through the bridge,
//! which acts under the plugin's permissions. The responses forbid network
//! connections (`connect-src 'none'`); a panel could still navigate its own
//! frame elsewhere (CSP does not cover that), which `docs/security.md` lists
//! as a known limit.

use std::path::{Component, Path, PathBuf};

use tauri::http::{Request, Response, StatusCode, header};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};

use crate::state::Wasp;

/// The URI scheme's name.
pub(crate) const SCHEME: &str = "wasp-ui";

/// The panel-side bridge script (`guest-js/panel.js`).
pub(crate) const PANEL_JS: &str = include_str!("../guest-js/panel.js");

/// What a panel may load: its own files and inline styles; no connections,
/// no plugins, no frames of its own.
/// In a sandboxed frame (an opaque origin) WebKit matches nothing against
/// `'self'`, so the scheme is named as well.
const CSP: &str = "default-src 'self' wasp-ui: http://wasp-ui.localhost; \
                   script-src 'self' wasp-ui: http://wasp-ui.localhost; \
                   style-src 'self' wasp-ui: http://wasp-ui.localhost 'unsafe-inline'; \
                   img-src 'self' wasp-ui: http://wasp-ui.localhost data:; \
                   font-src 'self' wasp-ui: http://wasp-ui.localhost data:; connect-src 'none'; object-src 'none'; \
                   frame-src 'none'; base-uri 'none'; form-action 'none'";

pub(crate) fn handle<R: Runtime>(
    ctx: UriSchemeContext<'_, R>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let app = ctx.app_handle().clone();
    let path = request.uri().path().to_owned();
    tauri::async_runtime::spawn(async move {
        let response = match app.try_state::<Wasp<R>>() {
            Some(wasp) => serve(|plugin| wasp.host().ui_dir(plugin), &path).await,
            None => status(StatusCode::SERVICE_UNAVAILABLE, "wasp is not set up"),
        };
        responder.respond(response);
    });
}

/// Answers a request for `path` (`/<plugin>/<file>`), finding a plugin's
/// UI folder with `ui_dir`.
pub(crate) async fn serve(ui_dir: impl Fn(&str) -> Option<PathBuf>, path: &str) -> Response<Vec<u8>> {
    let decoded = match percent_encoding::percent_decode_str(path).decode_utf8() {
        Ok(p) => p.into_owned(),
        Err(_) => return status(StatusCode::BAD_REQUEST, "the path is not UTF-8"),
    };
    let trimmed = decoded.trim_start_matches('/');
    let (plugin, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let rest = if rest.is_empty() || rest.ends_with('/') { format!("{rest}index.html") } else { rest.to_owned() };
    if rest == "_wasp/panel.js" {
        return file(PANEL_JS.as_bytes().to_vec(), "text/javascript; charset=utf-8");
    }
    let Some(relative) = safe_relative(&rest) else {
        return status(StatusCode::BAD_REQUEST, "the path leaves the plugin's UI folder");
    };
    let Some(dir) = ui_dir(plugin) else {
        return status(StatusCode::NOT_FOUND, "no loaded plugin with a UI by that name");
    };
    // Canonical paths, so a symbolic link cannot lead out of the folder either.
    let (Ok(root), Ok(target)) =
        (tokio::fs::canonicalize(&dir).await, tokio::fs::canonicalize(dir.join(relative)).await)
    else {
        return status(StatusCode::NOT_FOUND, "no such file");
    };
    if !target.starts_with(&root) {
        return status(StatusCode::FORBIDDEN, "the path leaves the plugin's UI folder");
    }
    match tokio::fs::read(&target).await {
        Ok(bytes) => file(bytes, content_type(&target)),
        Err(_) => status(StatusCode::NOT_FOUND, "no such file"),
    }
}

/// `rest` as a relative path of plain components, or `None` if it tries to
/// climb out (`..`), is absolute, or names a drive.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    if rest.contains('\\') || rest.contains('\0') {
        return None;
    }
    let path = Path::new(rest);
    path.components().all(|c| matches!(c, Component::Normal(_))).then(|| path.to_owned())
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("wasm") => "application/wasm",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(body: Vec<u8>, content_type: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

fn status(code: StatusCode, message: &str) -> Response<Vec<u8>> {
    let mut response = Response::new(message.as_bytes().to_vec());
    *response.status_mut() = code;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ui/img")).unwrap();
        std::fs::write(dir.path().join("ui/index.html"), "<p>panel</p>").unwrap();
        std::fs::write(dir.path().join("ui/img/dot.svg"), "<svg/>").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "not for panels").unwrap();
        dir
    }

    async fn get(dir: &Path, path: &str) -> Response<Vec<u8>> {
        let ui = dir.join("ui");
        serve(move |plugin| (plugin == "counter").then(|| ui.clone()), path).await
    }

    #[tokio::test]
    async fn serves_a_plugins_files_with_a_strict_policy() {
        let dir = ui();
        for path in ["/counter/", "/counter/index.html", "/counter"] {
            let r = get(dir.path(), path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.body(), b"<p>panel</p>");
            assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert!(r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("connect-src 'none'"));
        }
        let svg = get(dir.path(), "/counter/img/dot.svg").await;
        assert_eq!(svg.headers()[header::CONTENT_TYPE], "image/svg+xml");
        let bridge = get(dir.path(), "/counter/_wasp/panel.js").await;
        assert_eq!(bridge.body(), PANEL_JS.as_bytes());
    }

    #[tokio::test]
    async fn refuses_paths_out_of_the_folder_and_unknown_plugins() {
        let dir = ui();
        for path in ["/counter/../secret.txt", "/counter/%2e%2e/secret.txt", "/counter/img/..%2F..%2Fsecret.txt"] {
            let r = get(dir.path(), path).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        }
        assert_eq!(get(dir.path(), "/counter/missing.js").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(dir.path(), "/echo/index.html").await.status(), StatusCode::NOT_FOUND);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symbolic_link_cannot_lead_out() {
        let dir = ui();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("ui/link.txt")).unwrap();
        assert_eq!(get(dir.path(), "/counter/link.txt").await.status(), StatusCode::FORBIDDEN);
    }
}
