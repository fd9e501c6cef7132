//! The manifests: `plugin.toml` asks for what the ported code needs,
//! `Cargo.toml` loses the crates the port replaced.
//!
//! Both are edited with `toml_edit`, so their comments and layout stay.
//! `plugin.toml` is written when the crate has none: the crate's name,
//! version and description, an entry for `cargo wasp build`, and exactly the
//! permissions of the rewrites. An existing one keeps what it asks for and
//! gains what the rewrites need. Each environment variable the code read
//! becomes a `[config]` key, left commented out: it was unset unless the
//! user set it, and a value written here would change what the plugin does.

use toml_edit::{Array, DocumentMut, Item, Table, value};

use super::shim::FILE;
use super::{PortError, Work};
use crate::analyze::source::Target;

/// The crates a rewrite replaces: dropped from `[dependencies]` once no source names them.
const REPLACED: &[&str] =
    &["getrandom", "rand", "rand_core", "ureq", "reqwest", "webbrowser", "open", "opener", "dirs", "dirs-next", "home"];

/// The plugin's name: its `plugin.toml`'s, else the package's (lower-case).
pub(crate) fn plugin_name(dir: &std::path::Path, package: &str) -> String {
    std::fs::read_to_string(dir.join("plugin.toml"))
        .ok()
        .and_then(|t| t.parse::<DocumentMut>().ok())
        .and_then(|d| d.get("name").and_then(Item::as_str).map(str::to_owned))
        .unwrap_or_else(|| package.to_lowercase())
}

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    cargo_toml(work)?;
    plugin_toml(work)
}

fn parse(file: &str, text: &str) -> Result<DocumentMut, PortError> {
    text.parse::<DocumentMut>().map_err(|e| PortError::Manifest { file: file.to_owned(), message: e.to_string() })
}

fn cargo_toml(work: &mut Work) -> Result<(), PortError> {
    let before = work.manifest.text.clone();
    let mut doc = parse("Cargo.toml", &before)?;
    let mut names = Vec::new();
    for t in &work.texts {
        // What the port's module has (`crate::wasp_port::reqwest`) is not the crate it replaced.
        if let Ok(tokens) =
            t.current.replace("crate::wasp_port::", "crate::wasp_port::__").parse::<proc_macro2::TokenStream>()
        {
            super::ast::idents(tokens, &mut names);
        }
    }
    if let Some(deps) = doc.get_mut("dependencies").and_then(Item::as_table_like_mut) {
        let gone: Vec<String> = deps
            .iter()
            .map(|(k, _)| k.to_owned())
            .filter(|k| REPLACED.contains(&k.as_str()) && !names.iter().any(|n| *n == k.replace('-', "_")))
            .collect();
        for dep in gone {
            deps.remove(&dep);
            work.notes.push(format!("`{dep}` is no longer used: removed from [dependencies]"));
        }
        // reqwest's JSON (its `json` feature) was serde_json; the port's is too.
        if work.shims.contains(&super::shim::Part::ReqwestJson) {
            for dep in ["serde", "serde_json"] {
                if !deps.contains_key(dep) {
                    deps.insert(dep, toml_edit::Item::Value("1".into()));
                    work.notes
                        .push(format!("`{dep}` added to [dependencies]: reqwest's JSON bodies are read with it now"));
                }
            }
        }
    }
    if work.target == Target::Wasip1 {
        let package = doc.entry("package").or_insert(Item::Table(Table::new()));
        if let Some(package) = package.as_table_like_mut() {
            let metadata = package.entry("metadata").or_insert(Item::Table(Table::new()));
            if let Some(metadata) = metadata.as_table_like_mut() {
                metadata.set_dotted(true);
                let wasp = metadata.entry("wasp").or_insert(Item::Table(Table::new()));
                if let Some(wasp) = wasp.as_table_like_mut() {
                    wasp.insert("target", value("wasm32-wasip1"));
                }
            }
        }
    }
    // The parity test's harness.
    let inherits = before.contains("wasp-sdk.workspace") || before.contains("wasp-sdk = { workspace");
    let dev = doc.entry("dev-dependencies").or_insert(Item::Table(Table::new()));
    if let Some(dev) = dev.as_table_like_mut() {
        if !dev.contains_key("wasp-testing") {
            let dep =
                if inherits { "{ workspace = true }".to_owned() } else { format!("\"{}\"", env!("CARGO_PKG_VERSION")) };
            dev.insert("wasp-testing", parse_value(&dep)?);
        }
        if !dev.contains_key("tokio") {
            let dep = if inherits {
                "{ workspace = true, features = [\"macros\", \"rt-multi-thread\"] }"
            } else {
                "{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }"
            };
            dev.insert("tokio", parse_value(dep)?);
        }
    }
    let after = doc.to_string();
    if after != before {
        work.other.push(("Cargo.toml".to_owned(), Some(before), after));
    }
    Ok(())
}

fn parse_value(text: &str) -> Result<Item, PortError> {
    let doc = parse("Cargo.toml", &format!("v = {text}"))?;
    doc.get("v").cloned().ok_or_else(|| PortError::Manifest { file: "Cargo.toml".into(), message: "no value".into() })
}

fn plugin_toml(work: &mut Work) -> Result<(), PortError> {
    let path = work.dir.join("plugin.toml");
    let before = std::fs::read_to_string(&path).ok();
    let mut doc = match &before {
        Some(text) => parse("plugin.toml", text)?,
        None => parse("plugin.toml", &new_manifest(work))?,
    };
    let mut permissions: Vec<String> = doc
        .get("permissions")
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    for p in &work.permissions {
        if !permissions.contains(p) {
            permissions.push(p.clone());
        }
    }
    let mut array = Array::new();
    for p in &permissions {
        array.push(p.as_str());
    }
    doc.insert("permissions", value(array));
    // Environment variables become configuration keys, commented out: unset, as they were.
    let mut text = doc.to_string();
    let missing: Vec<&(String, String)> =
        work.config.iter().filter(|(key, _)| !text.contains(&format!("{key} ="))).collect();
    if !missing.is_empty() {
        if !text.contains("\n[config]") && !text.starts_with("[config]") {
            text.push_str("\n[config]\n");
        }
        let mut lines = String::new();
        for (key, var) in missing {
            lines.push_str(&format!(
                "# {key} = \"…\"  # was the environment variable {var}: set it where the plugin ran with {var} set\n"
            ));
        }
        // Keys go right under the `[config]` header.
        if let Some(at) = text.find("[config]\n").map(|i| i + "[config]\n".len()) {
            text.insert_str(at, &lines);
        }
    }
    if before.as_deref() != Some(text.as_str()) {
        work.other.push(("plugin.toml".to_owned(), before, text));
    }
    work.permissions = permissions.into_iter().collect();
    Ok(())
}

/// A `plugin.toml` for a crate that had none.
fn new_manifest(work: &Work) -> String {
    let cargo: Option<DocumentMut> = work.manifest.text.parse().ok();
    let package = cargo.as_ref().and_then(|d| d.get("package"));
    let field = |key: &str| package.and_then(|p| p.get(key)).and_then(Item::as_str).map(str::to_owned);
    let version = field("version").or_else(|| workspace_version(&work.dir)).unwrap_or_else(|| "0.1.0".to_owned());
    let description =
        field("description").unwrap_or_else(|| format!("{}, ported to WebAssembly by `cargo wasp port`.", work.plugin));
    let _ = FILE;
    format!(
        "# The manifest of the `{name}` plugin (docs/manifest.md), written by\n\
         # `cargo wasp port`. `cargo wasp build` builds the crate and writes the entry\n\
         # file beside it.\n\
         name = {name:?}\n\
         version = {version:?}\n\
         api = \"{api}\"\n\
         entry = \"{name}.wasm\"\n\
         description = {description:?}\n\
         # What the ported code needs from the host, and nothing more.\n\
         permissions = []\n",
        name = work.plugin,
        api = wasp_protocol::ApiVersion::CURRENT,
    )
}

/// The `[workspace.package] version` of the workspace holding `dir`.
fn workspace_version(dir: &std::path::Path) -> Option<String> {
    dir.ancestors().skip(1).find_map(|d| {
        let text = std::fs::read_to_string(d.join("Cargo.toml")).ok()?;
        let doc: DocumentMut = text.parse().ok()?;
        doc.get("workspace")?.get("package")?.get("version")?.as_str().map(str::to_owned)
    })
}
