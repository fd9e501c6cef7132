//! What form of code a loaded plugin runs.

/// The form of code a loaded plugin runs, as [`Host::plugins`] and the
/// audit report it: decided by what was loaded, not by a file's name.
///
/// It displays (and serializes) as the word the manifest's `kind` and the
/// docs use: `wasm`, `component`, `native`, `in-process`, `hybrid`.
///
/// ```
/// use wasp_runtime::PluginKind;
/// assert_eq!(PluginKind::InProcess.to_string(), "in-process");
/// assert_eq!(PluginKind::Wasm.as_str(), "wasm");
/// assert!(PluginKind::Component.is_webassembly() && !PluginKind::Native.is_webassembly());
/// assert_eq!(PluginKind::Hybrid, "hybrid");
/// assert_eq!(format!("{:<6}|", PluginKind::Wasm), "wasm  |", "it pads like a string");
/// ```
///
/// [`Host::plugins`]: https://docs.rs/wasp-actors/latest/wasp_actors/struct.Host.html#method.plugins
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PluginKind {
    /// A core WebAssembly module.
    Wasm,
    /// A WebAssembly component (`docs/components.md`).
    Component,
    /// A native library, in the host's process or in a `wasp-node` child.
    Native,
    /// A Rust type compiled into the host.
    InProcess,
    /// Several components under one name (`docs/manifest.md`, hybrid plugins): the kind of
    /// the plugin as a whole; each part keeps its own.
    Hybrid,
}

impl PluginKind {
    /// The kind's word: `wasm`, `component`, `native`, `in-process` or `hybrid`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Component => "component",
            Self::Native => "native",
            Self::InProcess => "in-process",
            Self::Hybrid => "hybrid",
        }
    }

    /// Whether its code runs in wasmtime's sandbox.
    pub const fn is_webassembly(self) -> bool {
        matches!(self, Self::Wasm | Self::Component)
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A kind equals its word: `kind == "wasm"`.
impl PartialEq<str> for PluginKind {
    fn eq(&self, word: &str) -> bool {
        self.as_str() == word
    }
}

/// A kind equals its word: `kind == "wasm"`.
impl PartialEq<&str> for PluginKind {
    fn eq(&self, word: &&str) -> bool {
        self.as_str() == *word
    }
}

/// A word equals its kind: `"wasm" == kind`.
impl PartialEq<PluginKind> for &str {
    fn eq(&self, kind: &PluginKind) -> bool {
        *self == kind.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_serializes_as_its_word() {
        for kind in
            [PluginKind::Wasm, PluginKind::Component, PluginKind::Native, PluginKind::InProcess, PluginKind::Hybrid]
        {
            let bytes = rmp_serde::to_vec(&kind).expect("serializes");
            let word: String = rmp_serde::from_slice(&bytes).expect("a string");
            assert_eq!(word, kind.to_string());
        }
    }
}
