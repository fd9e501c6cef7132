//! What a module declares — its `wasp:abi` section, imports, exports,
//! memories and tables — read from its sections with wasmparser, without
//! validating or compiling its code: the cost grows with the sections'
//! entries, not with the code (a function body is skipped by its length).

use wasmparser::{CompositeInnerType, ExternalKind, FuncType, MemoryType, Parser, Payload, TableType, TypeRef};
use wasp_protocol::abi;

/// A module's declarations, as read by [`Declared::read`]: what the host
/// checks before it compiles a module, and what `cargo wasp inspect` shows.
///
/// ```
/// use wasp_runtime::{Declared, DeclaredItem};
/// let bytes = wat::parse_str(r#"(module (func (export "f") (param i32) (result i32) local.get 0))"#)?;
/// let declared = Declared::read(&bytes)?;
/// assert!(matches!(&declared.exports[0], (name, DeclaredItem::Func(Some(_))) if name == "f"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Declared {
    /// The content of the first `wasp:abi` custom section.
    pub abi: Option<String>,
    /// The imports, in order.
    pub imports: Vec<Import>,
    /// The exports, in order.
    pub exports: Vec<(String, Item)>,
    /// The memories the module defines (not those it imports).
    pub memories: Vec<MemoryType>,
    /// The tables the module defines (not those it imports).
    pub tables: Vec<TableType>,
}

/// One import.
#[derive(Debug)]
#[non_exhaustive]
pub struct Import {
    /// The module it is imported from (`wasp`, `wasi_snapshot_preview1`).
    pub module: String,
    /// Its name in that module.
    pub name: String,
    /// What it is.
    pub item: Item,
}

/// What an import or export is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Item {
    /// A function, with its type when the type index names a function type.
    Func(Option<FuncType>),
    /// A memory, with its limits.
    Memory(MemoryType),
    /// A table.
    Table,
    /// A global.
    Global,
    /// An exception tag.
    Tag,
}

impl Declared {
    /// Reads the sections of `bytes` (a core module, by its magic bytes).
    ///
    /// # Errors
    ///
    /// The parser's message, for a section that cannot be read.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        let mut declared = Self::default();
        declared.walk(bytes).map_err(|e| e.to_string())?;
        Ok(declared)
    }

    /// Reads what it can: the declarations up to the first section that
    /// cannot be read, and the parser's message about that one, if any.
    pub fn read_partial(bytes: &[u8]) -> (Self, Option<String>) {
        let mut declared = Self::default();
        let error = declared.walk(bytes).err().map(|e| e.to_string());
        (declared, error)
    }

    fn walk(&mut self, bytes: &[u8]) -> Result<(), wasmparser::BinaryReaderError> {
        let declared = self;
        // Function types by type index (`None` for other composite types),
        // each function's type index (imports first), each memory (imports
        // first).
        let mut types: Vec<Option<FuncType>> = Vec::new();
        let mut functions: Vec<u32> = Vec::new();
        let mut memories: Vec<MemoryType> = Vec::new();
        let func = |types: &[Option<FuncType>], index: u32| Item::Func(types.get(index as usize).cloned().flatten());
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::CustomSection(section) if section.name() == abi::ABI_SECTION && declared.abi.is_none() => {
                    declared.abi = Some(String::from_utf8_lossy(section.data()).into_owned());
                }
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group?.into_types() {
                            types.push(match sub.composite_type.inner {
                                CompositeInnerType::Func(f) => Some(f),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import?;
                        let item = match import.ty {
                            TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                                functions.push(index);
                                func(&types, index)
                            }
                            TypeRef::Memory(m) => {
                                memories.push(m);
                                Item::Memory(m)
                            }
                            TypeRef::Table(_) => Item::Table,
                            TypeRef::Global(_) => Item::Global,
                            TypeRef::Tag(_) => Item::Tag,
                        };
                        declared.imports.push(Import {
                            module: import.module.to_owned(),
                            name: import.name.to_owned(),
                            item,
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    for index in reader {
                        functions.push(index?);
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory?;
                        memories.push(memory);
                        declared.memories.push(memory);
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        declared.tables.push(table?.ty);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export?;
                        let item = match export.kind {
                            ExternalKind::Func | ExternalKind::FuncExact => {
                                match functions.get(export.index as usize) {
                                    Some(&ty) => func(&types, ty),
                                    None => Item::Func(None),
                                }
                            }
                            ExternalKind::Memory => match memories.get(export.index as usize) {
                                Some(&m) => Item::Memory(m),
                                // Out of range: validation refuses the module.
                                None => Item::Table,
                            },
                            ExternalKind::Table => Item::Table,
                            ExternalKind::Global => Item::Global,
                            ExternalKind::Tag => Item::Tag,
                        };
                        declared.exports.push((export.name.to_owned(), item));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The first export named `name`.
    pub fn export(&self, name: &str) -> Option<&Item> {
        self.exports.iter().find(|(n, _)| n == name).map(|(_, item)| item)
    }
}

impl Item {
    /// A phrase for errors: `a function (i32) -> i32`, `a memory`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Func(Some(f)) => {
                let list = |v: &[wasmparser::ValType]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                match f.results() {
                    [] => format!("a function ({})", list(f.params())),
                    results => format!("a function ({}) -> {}", list(f.params()), list(results)),
                }
            }
            Self::Func(None) => "a function of no known type".into(),
            Self::Memory(_) => "a memory".into(),
            Self::Table => "a table".into(),
            Self::Global => "a global".into(),
            Self::Tag => "a tag".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_declarations_without_the_code() {
        let bytes = wat::parse_str(
            r#"(module
                (import "wasp" "log" (func (param i32 i32 i32)))
                (memory (export "memory") 2 10)
                (table 3 funcref)
                (func (export "f") (param i32) (result i32 i64) (unreachable))
                (global (export "g") i32 (i32.const 0))
                (@custom "wasp:abi" "1.2"))"#,
        )
        .unwrap();
        let declared = Declared::read(&bytes).unwrap();
        assert_eq!(declared.abi.as_deref(), Some("1.2"));
        assert_eq!(declared.imports.len(), 1);
        assert_eq!(declared.imports[0].item.describe(), "a function (i32, i32, i32)");
        assert_eq!(declared.export("f").unwrap().describe(), "a function (i32) -> i32, i64");
        assert_eq!(declared.export("memory").unwrap().describe(), "a memory");
        assert_eq!(declared.export("g").unwrap().describe(), "a global");
        assert_eq!((declared.memories[0].initial, declared.tables[0].initial), (2, 3));
        assert!(declared.export("h").is_none());
    }

    #[test]
    fn a_section_that_cannot_be_read_is_an_error() {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&[2, 0x10, 0xff]);
        assert!(Declared::read(&bytes).is_err());
    }
}
