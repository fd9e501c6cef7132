//! Reading one plugin file: a WebAssembly module (with wasmparser, nothing
//! compiled) or a native library (symbol tables, then the entry table).

use std::fmt;

use serde::Serialize;
use wasmparser::FuncType;
use wasp_protocol::ApiVersion;
use wasp_protocol::abi::ABI_SECTION;
#[cfg(feature = "native")]
use wasp_runtime::NativePlugin;
use wasp_runtime::manifest::ManifestKind;
use wasp_runtime::{Declared, DeclaredItem, FileKind};

use crate::error::CommandError;
use crate::locate::PluginFile;

/// What one plugin file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FileReport {
    /// The address it answers at.
    pub address: String,
    /// The file.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// What it is, from its first bytes (`a WebAssembly module`, `an ELF
    /// native library`, …).
    pub format: String,
    /// The ABI version it declares, as written (`1.1`).
    pub abi: Option<String>,
    /// For a native library, its entry function.
    pub entry_symbol: Option<String>,
    /// What it exports, in order.
    pub exports: Vec<Item>,
    /// What it imports, in order: `module::name` for WebAssembly.
    pub imports: Vec<Item>,
    /// What could not be read, or is off (no ABI version, a version the
    /// host does not speak, a library the system refused).
    pub notes: Vec<String>,
}

/// One export or import: its name and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `memory`, `wasp_handle`, `wasp::log`.
    pub name: String,
    /// `func (i32, i32) -> i32`, `memory`, `table`, `global`; empty when
    /// unknown (native symbols).
    #[serde(rename = "type")]
    pub ty: String,
}

/// Reads `file`. Only a file that cannot be read at all (or is not a
/// regular file, or is larger than a host would read) is an error.
pub(crate) fn report(file: &PluginFile) -> Result<FileReport, CommandError> {
    // The larger of a host's default size limits: what a host would read.
    let defaults = wasp_runtime::Limits::default();
    let limit = defaults.max_module_size.max(defaults.max_native_size) as u64;
    let bytes = wasp_runtime::read_plugin_file(&file.path, limit, "max_native_size")?;
    let kind = FileKind::detect(&bytes);
    let mut report = FileReport {
        address: file.address.clone(),
        path: file.path.display().to_string(),
        size: bytes.len() as u64,
        format: kind.describe().to_owned(),
        abi: None,
        entry_symbol: None,
        exports: Vec::new(),
        imports: Vec::new(),
        notes: Vec::new(),
    };
    match kind {
        FileKind::WasmModule => read_wasm(&bytes, &mut report),
        #[cfg(feature = "native")]
        FileKind::Elf | FileKind::Pe | FileKind::MachO => read_native(file, &bytes, &mut report),
        #[cfg(not(feature = "native"))]
        FileKind::Elf | FileKind::Pe | FileKind::MachO => report
            .notes
            .push("this `cargo wasp` was built without the `native` feature: native libraries are not read".into()),
        FileKind::WasmComponent => report.notes.push("a component: this host runs core modules".into()),
        _ => report.notes.push("neither a WebAssembly module nor a native library".into()),
    }
    if file.kind == ManifestKind::Native && kind == FileKind::WasmModule
        || file.kind == ManifestKind::Wasm && matches!(kind, FileKind::Elf | FileKind::Pe | FileKind::MachO)
    {
        report.notes.push(format!(
            "the manifest says `kind = \"{}\"`, the file is {}",
            file.kind.as_str(),
            kind.describe()
        ));
    }
    Ok(report)
}

fn note_abi(text: &str, report: &mut FileReport) {
    match text.parse::<ApiVersion>() {
        Err(_) => report.notes.push(format!("`{ABI_SECTION}` holds {text:?}, not MAJOR.MINOR")),
        Ok(v) if ApiVersion::CURRENT.accepts(v).is_err() => {
            report.notes.push(format!("built for ABI {v}; this host speaks {}", ApiVersion::CURRENT));
        }
        Ok(_) => {}
    }
}

/// Reads the module's declarations (the host's own reading: its ABI
/// section, imports and exports), up to the first malformed section,
/// noting it.
fn read_wasm(bytes: &[u8], report: &mut FileReport) {
    let (declared, malformed) = Declared::read_partial(bytes);
    if let Some(e) = malformed {
        report.notes.push(format!("malformed module: {e}"));
    }
    let text = |item: &DeclaredItem| match item {
        DeclaredItem::Func(Some(ty)) => format!("func {}", signature(ty)),
        DeclaredItem::Func(None) => "func".to_owned(),
        DeclaredItem::Memory(_) => "memory".to_owned(),
        DeclaredItem::Table => "table".to_owned(),
        DeclaredItem::Global => "global".to_owned(),
        DeclaredItem::Tag => "tag".to_owned(),
        _ => "other".to_owned(),
    };
    report.imports = declared
        .imports
        .iter()
        .map(|i| Item { name: format!("{}::{}", i.module, i.name), ty: text(&i.item) })
        .collect();
    report.exports = declared.exports.iter().map(|(name, item)| Item { name: name.clone(), ty: text(item) }).collect();
    report.abi = declared.abi;
    match &report.abi {
        Some(text) => note_abi(&text.clone(), report),
        None => report.notes.push(format!("no `{ABI_SECTION}` custom section: the module declares no ABI version")),
    }
}

/// `(i32, i32) -> i32`.
fn signature(ty: &FuncType) -> String {
    let list = |types: &[wasmparser::ValType]| types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    match ty.results() {
        [] => format!("({})", list(ty.params())),
        [one] => format!("({}) -> {one}", list(ty.params())),
        many => format!("({}) -> ({})", list(ty.params()), list(many)),
    }
}

/// Reads a library's symbol tables, then loads it (as the loader does) to
/// read the ABI version from its entry table.
#[cfg(feature = "native")]
fn read_native(file: &PluginFile, bytes: &[u8], report: &mut FileReport) {
    use object::{Object, ObjectSymbol};
    match object::File::parse(bytes) {
        Err(e) => report.notes.push(format!("cannot read the library's symbols: {e}")),
        Ok(library) => {
            let mut exports: Vec<String> = match library.exports() {
                Ok(exports) => exports.iter().map(|e| String::from_utf8_lossy(e.name()).into_owned()).collect(),
                Err(_) => Vec::new(),
            };
            if exports.is_empty() {
                // ELF libraries list their exports as dynamic symbols.
                exports = library
                    .dynamic_symbols()
                    .filter(|s| s.is_definition() && s.is_global())
                    .filter_map(|s| s.name().ok().map(str::to_owned))
                    .collect();
            }
            exports.sort();
            exports.dedup();
            report.exports = exports.into_iter().map(|name| Item { name, ty: String::new() }).collect();
            if let Ok(imports) = library.imports() {
                report.imports = imports
                    .iter()
                    .map(|i| {
                        let name = String::from_utf8_lossy(i.name());
                        let name = match i.library() {
                            [] => name.into_owned(),
                            lib => format!("{}::{name}", String::from_utf8_lossy(lib)),
                        };
                        Item { name, ty: String::new() }
                    })
                    .collect();
            }
        }
    }
    let file_name = file.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    match NativePlugin::open(&file.address, &file_name, bytes) {
        Ok(plugin) => {
            report.abi = Some(plugin.abi_version().to_string());
            report.entry_symbol = Some(plugin.entry_symbol().to_owned());
        }
        Err(e) => report.notes.push(format!("the loader refuses it: {e}")),
    }
}

/// `56,320 bytes (55.0 KiB)`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            if n.is_multiple_of(size) {
                return format!("{} {unit}", n / size);
            }
            return format!("{n} bytes ({:.1} {unit})", n as f64 / size as f64);
        }
    }
    format!("{n} bytes")
}

fn items(f: &mut fmt::Formatter<'_>, title: &str, items: &[Item]) -> fmt::Result {
    writeln!(f, "  {title} ({}):", items.len())?;
    let width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for item in items {
        if item.ty.is_empty() {
            writeln!(f, "    {}", item.name)?;
        } else {
            writeln!(f, "    {:width$}  {}", item.name, item.ty)?;
        }
    }
    Ok(())
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} ({})", self.path, self.address)?;
        writeln!(f, "  format: {}", self.format)?;
        writeln!(f, "  size: {}", bytes(self.size))?;
        writeln!(f, "  ABI: {}", self.abi.as_deref().unwrap_or("unknown"))?;
        if let Some(symbol) = &self.entry_symbol {
            writeln!(f, "  entry: {symbol}")?;
        }
        items(f, "exports", &self.exports)?;
        items(f, "imports", &self.imports)?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(256 << 10), "256 KiB");
        assert_eq!(bytes(1536 + (1 << 20)), "1050112 bytes (1.0 MiB)");
    }
}
