//! The source scan: every module of the crate's library and binaries,
//! parsed with `syn`, searched for the APIs of [`catalog`](super::catalog).
//!
//! Names are resolved the simple way a reader would: `use` declarations
//! (renames, groups, `self`, and `use` inside functions) map a local name to
//! a path, so `use std::fs; fs::write(..)` and `use std::fs::File;
//! File::open(..)` are both found at the call. Functions declared in
//! `extern` blocks are found where they are called. Glob imports of a
//! blocked module are reported at the `use`. Items under `#[cfg(test)]`
//! (and `#[test]` functions) are skipped: tests do not ship in the plugin.
//! Every other `cfg` is ignored, so code for any platform is reported.
//! Arguments of macros that take expressions (`println!`, `format!`,
//! `assert_eq!`, …) are searched too.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, Item, Meta, Token, UseTree};

use super::{AnalyzeError, Blocker, BlockerKind, Location, catalog};

/// What a local name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    /// A path, fully resolved: `["std", "fs"]` for `use std::fs;`.
    Path(Vec<String>),
    /// A function or static declared in an `extern "<abi>"` block.
    Foreign {
        /// The block's ABI (`C` when unwritten).
        abi: String,
    },
}

/// The names visible in a module or block.
#[derive(Debug, Default)]
struct Scope {
    names: HashMap<String, Binding>,
    /// Modules see nothing of the scopes around them (but the prelude).
    module: bool,
}

/// Scans the modules reachable from `roots` (crate root files) and returns
/// what blocks WebAssembly, with locations relative to `crate_dir`.
pub(crate) fn scan(crate_dir: &Path, roots: &[PathBuf]) -> Result<Vec<Blocker>, AnalyzeError> {
    let mut queue: Vec<(PathBuf, PathBuf)> =
        roots.iter().map(|r| (r.clone(), r.parent().unwrap_or(crate_dir).to_path_buf())).collect();
    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    while let Some((file, mod_dir)) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).map_err(|source| AnalyzeError::Read { path: file.clone(), source })?;
        let rel = relative(crate_dir, &file);
        let ast = syn::parse_file(&text).map_err(|e| {
            let at = e.span().start();
            AnalyzeError::Parse { file: rel.clone(), line: at.line, column: at.column + 1, message: e.to_string() }
        })?;
        let mut scanner = Scanner {
            file: rel,
            file_dir: file.parent().unwrap_or(crate_dir).to_path_buf(),
            mod_dir,
            inline_depth: 0,
            scopes: vec![Scope { names: HashMap::new(), module: true }],
            findings: Vec::new(),
            modules: Vec::new(),
            missing: None,
        };
        scanner.bind_items(ast.items.iter());
        for item in &ast.items {
            scanner.visit_item(item);
        }
        if let Some(err) = scanner.missing {
            return Err(err);
        }
        findings.append(&mut scanner.findings);
        queue.extend(scanner.modules);
    }
    findings.sort_by(|a: &Blocker, b| (a.kind, &a.location, &a.what).cmp(&(b.kind, &b.location, &b.what)));
    findings.dedup_by(|a, b| a.kind == b.kind && a.location == b.location && a.what == b.what);
    Ok(findings)
}

/// `file` relative to `dir`, with `/` separators.
pub(crate) fn relative(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Walks one file.
struct Scanner {
    /// The file, relative to the crate directory.
    file: String,
    /// The directory holding the file.
    file_dir: PathBuf,
    /// Where the files of the current module's child modules live.
    mod_dir: PathBuf,
    /// How many inline `mod m { .. }` blocks the walk is inside.
    inline_depth: usize,
    scopes: Vec<Scope>,
    findings: Vec<Blocker>,
    /// Module files declared here: (file, directory of its children).
    modules: Vec<(PathBuf, PathBuf)>,
    /// A declared module without a file.
    missing: Option<AnalyzeError>,
}

impl Scanner {
    fn location(&self, span: Span) -> Location {
        let at = span.start();
        Location { file: self.file.clone(), line: at.line, column: at.column + 1 }
    }

    fn report(&mut self, kind: BlockerKind, span: Span, what: String, instead: &str) {
        let location = Some(self.location(span));
        self.findings.push(Blocker { kind, location, what, detail: None, instead: instead.to_owned() });
    }

    fn lookup(&self, name: &str) -> Option<&Binding> {
        for scope in self.scopes.iter().rev() {
            if let Some(b) = scope.names.get(name) {
                return Some(b);
            }
            if scope.module {
                break;
            }
        }
        None
    }

    /// Expands the first segment of `path` through the scope.
    fn expand(&self, mut path: Vec<String>) -> Vec<String> {
        if let Some(Binding::Path(full)) = path.first().and_then(|first| self.lookup(first)) {
            let mut out = full.clone();
            out.extend(path.drain(1..));
            return out;
        }
        path
    }

    fn bind(&mut self, name: String, binding: Binding) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.insert(name, binding);
        }
    }

    /// Binds the names that `items` (of one module or block) bring into scope.
    fn bind_items<'a>(&mut self, items: impl Iterator<Item = &'a Item>) {
        for item in items {
            match item {
                Item::Use(u) if !test_only(&u.attrs) => {
                    let mut leaves = Vec::new();
                    use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                    for (name, path) in leaves {
                        let path = if u.leading_colon.is_some() { path } else { self.expand(path) };
                        self.bind(name, Binding::Path(path));
                    }
                }
                Item::ExternCrate(e) => {
                    if let Some((_, rename)) = &e.rename {
                        self.bind(rename.to_string(), Binding::Path(vec![ident(&e.ident)]));
                    }
                }
                Item::ForeignMod(f) => {
                    let abi = abi_name(&f.abi);
                    for foreign in &f.items {
                        let name = match foreign {
                            syn::ForeignItem::Fn(f) => ident(&f.sig.ident),
                            syn::ForeignItem::Static(s) => ident(&s.ident),
                            _ => continue,
                        };
                        self.bind(name, Binding::Foreign { abi: abi.clone() });
                    }
                }
                _ => {}
            }
        }
    }

    /// Records the file of `mod name;`, or the error of a missing one.
    fn module_file(&mut self, m: &syn::ItemMod) {
        let name = ident(&m.ident);
        if let Some(path) = path_attr(&m.attrs) {
            let base = if self.inline_depth == 0 { &self.file_dir } else { &self.mod_dir };
            let file = base.join(path);
            // A module file named by `#[path]` keeps its children beside it.
            let dir = file.parent().unwrap_or(base).to_path_buf();
            self.modules.push((file, dir));
            return;
        }
        let flat = self.mod_dir.join(format!("{name}.rs"));
        let nested = self.mod_dir.join(&name).join("mod.rs");
        if flat.is_file() {
            self.modules.push((flat, self.mod_dir.join(&name)));
        } else if nested.is_file() {
            self.modules.push((nested, self.mod_dir.join(&name)));
        } else if self.missing.is_none() {
            self.missing = Some(AnalyzeError::MissingModule {
                module: name,
                declared_at: self.location(m.ident.span()).to_string(),
                candidates: [flat, nested],
            });
        }
    }
}

impl<'ast> Visit<'ast> for Scanner {
    fn visit_item(&mut self, item: &'ast Item) {
        let attrs = match item {
            Item::Fn(i) => &i.attrs,
            Item::Mod(i) => &i.attrs,
            Item::Impl(i) => &i.attrs,
            Item::Use(i) => &i.attrs,
            Item::Const(i) => &i.attrs,
            Item::Static(i) => &i.attrs,
            Item::ForeignMod(i) => &i.attrs,
            Item::Macro(i) => &i.attrs,
            Item::Trait(i) => &i.attrs,
            _ => return visit::visit_item(self, item),
        };
        if !test_only(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !test_only(&f.attrs) {
            visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let Some((_, items)) = &m.content else {
            self.module_file(m);
            return;
        };
        let outer_dir = self.mod_dir.clone();
        self.mod_dir = match path_attr(&m.attrs) {
            Some(path) => self.mod_dir.join(path),
            None => self.mod_dir.join(ident(&m.ident)),
        };
        self.inline_depth += 1;
        self.scopes.push(Scope { names: HashMap::new(), module: true });
        self.bind_items(items.iter());
        for item in items {
            self.visit_item(item);
        }
        self.scopes.pop();
        self.inline_depth -= 1;
        self.mod_dir = outer_dir;
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.scopes.push(Scope::default());
        self.bind_items(block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(item) => Some(item),
            _ => None,
        }));
        visit::visit_block(self, block);
        self.scopes.pop();
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut globs = Vec::new();
        use_globs(&u.tree, &mut Vec::new(), &mut globs);
        for (span, path) in globs {
            let path = if u.leading_colon.is_some() { path } else { self.expand(path) };
            // A glob of a blocked module, or of the crate holding it.
            let mut probe = path.clone();
            probe.push("*".to_owned());
            if let Some((kind, instead)) = catalog::classify(&probe) {
                self.report(kind, span, format!("use {}::*", path.join("::")), instead);
            }
        }
    }

    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        let name = ident(&e.ident);
        if let Some((kind @ BlockerKind::Ffi, instead)) = catalog::classify(&[name.clone(), "*".to_owned()]) {
            self.report(kind, e.extern_token.span, format!("extern crate {name}"), instead);
        }
    }

    fn visit_item_foreign_mod(&mut self, f: &'ast syn::ItemForeignMod) {
        let abi = abi_name(&f.abi);
        let names: Vec<String> = f
            .items
            .iter()
            .filter_map(|i| match i {
                syn::ForeignItem::Fn(f) => Some(ident(&f.sig.ident)),
                syn::ForeignItem::Static(s) => Some(ident(&s.ident)),
                _ => None,
            })
            .collect();
        let link = f.attrs.iter().find(|a| a.path().is_ident("link")).map(|a| {
            let args = match &a.meta {
                Meta::List(l) => l.tokens.to_string(),
                _ => String::new(),
            };
            format!("#[link({args})] ")
        });
        let span = f.unsafety.map_or(f.abi.extern_token.span, |u| u.span);
        let what = format!("{}extern \"{abi}\" {{ {} }}", link.unwrap_or_default(), names.join(", "));
        self.report(BlockerKind::Ffi, span, what, catalog::FFI);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| ident(&s.ident)).collect();
        let span = path.segments.first().map_or_else(Span::call_site, |s| s.ident.span());
        let local = path.leading_colon.is_none();
        let foreign = match (local, segments.as_slice(), segments.first().and_then(|f| self.lookup(f))) {
            (true, [name], Some(Binding::Foreign { abi })) => Some(format!("{name} (extern \"{abi}\" function)")),
            _ => None,
        };
        if let Some(what) = foreign {
            self.report(BlockerKind::Ffi, span, what, catalog::FFI);
        } else if !matches!(segments.first().map(String::as_str), Some("crate" | "self" | "super" | "Self")) {
            let full = if local { self.expand(segments) } else { segments };
            if let Some((kind, instead)) = catalog::classify(&full) {
                self.report(kind, span, full.join("::"), instead);
            }
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        // `cfg!(windows)` names a platform, not a crate.
        if mac.path.is_ident("cfg") {
            return;
        }
        // `println!`, `format!`, `assert_eq!`, …: arguments are expressions.
        if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }
}

/// The text of an identifier, without a raw `r#`.
fn ident(i: &syn::Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

fn abi_name(abi: &syn::Abi) -> String {
    abi.name.as_ref().map_or_else(|| "C".to_owned(), syn::LitStr::value)
}

/// The names a `use` tree binds, with the paths they stand for.
fn use_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(ident(&p.ident));
            use_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = ident(&n.ident);
            if name == "self" {
                if let Some(last) = prefix.last() {
                    out.push((last.clone(), prefix.clone()));
                }
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((name, path));
            }
        }
        UseTree::Rename(r) => {
            let name = ident(&r.ident);
            let rename = ident(&r.rename);
            if rename == "_" {
                return;
            }
            let mut path = prefix.clone();
            if name != "self" {
                path.push(name);
            }
            out.push((rename, path));
        }
        UseTree::Glob(_) => {}
        UseTree::Group(g) => {
            for tree in &g.items {
                use_leaves(tree, prefix, out);
            }
        }
    }
}

/// The glob imports of a `use` tree: where each is, and its module's path.
fn use_globs(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Span, Vec<String>)>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(ident(&p.ident));
            use_globs(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Glob(g) => out.push((g.star_token.span, prefix.clone())),
        UseTree::Group(g) => {
            for tree in &g.items {
                use_globs(tree, prefix, out);
            }
        }
        UseTree::Name(_) | UseTree::Rename(_) => {}
    }
}

/// Whether `attrs` make an item exist only in tests: `#[test]` (or
/// `#[tokio::test]` and the like), `#[cfg(test)]`, `#[cfg(all(test, ..))]`.
fn test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        if a.path().segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        a.path().is_ident("cfg") && a.parse_args::<Meta>().is_ok_and(|m| cfg_requires_test(&m))
    })
}

fn cfg_requires_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(p) => p.is_ident("test"),
        Meta::List(l) if l.path.is_ident("all") => l
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .is_ok_and(|all| all.iter().any(cfg_requires_test)),
        _ => false,
    }
}

/// The value of `#[path = "…"]`.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find(|a| a.path().is_ident("path")).and_then(|a| match &a.meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `files` (name, text) written to a temporary crate; the first is the root.
    fn scan_files(files: &[(&str, &str)]) -> Vec<Blocker> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
        }
        scan(dir.path(), &[dir.path().join(files[0].0)]).expect("scan")
    }

    fn found(blockers: &[Blocker]) -> Vec<(String, usize, usize, String)> {
        blockers
            .iter()
            .map(|b| {
                let l = b.location.as_ref().expect("location");
                (l.file.clone(), l.line, l.column, b.what.clone())
            })
            .collect()
    }

    #[test]
    fn resolves_use_aliases_to_the_call_site() {
        let src = "\
use std::fs;
use std::fs::File;
use std::{net::TcpStream as Tcp, thread};
use std::io::Write as _;

pub fn run() {
    fs::write(\"a\", b\"x\").ok();
    let _ = File::open(\"a\");
    let _ = Tcp::connect(\"example.com:80\");
    thread::spawn(|| ());
    let fs = 3; // a local named like a module is not confused with it in paths
    let _ = fs;
}
";
        let got = found(&scan_files(&[("src/lib.rs", src)]));
        assert_eq!(
            got,
            vec![
                ("src/lib.rs".into(), 7, 5, "std::fs::write".into()),
                ("src/lib.rs".into(), 8, 13, "std::fs::File::open".into()),
                ("src/lib.rs".into(), 9, 13, "std::net::TcpStream::connect".into()),
                ("src/lib.rs".into(), 10, 5, "std::thread::spawn".into()),
            ]
        );
    }

    #[test]
    fn uses_inside_functions_and_nested_imports_resolve() {
        let src = "\
fn run() {
    use std::process;
    use process::Command;
    Command::new(\"ls\");
}
fn other() {
    Command::new(\"not the std one\");
}
";
        let got = scan_files(&[("src/main.rs", src)]);
        assert_eq!(found(&got), vec![("src/main.rs".into(), 4, 5, "std::process::Command::new".into())]);
        assert_eq!(got[0].kind, BlockerKind::Process);
    }

    #[test]
    fn follows_module_files_and_skips_tests() {
        let lib = "mod store;\n#[cfg(test)]\nmod tests { fn t() { std::fs::remove_file(\"x\").ok(); } }\n";
        let store =
            "mod disk;\npub fn load() { let _ = std::fs::read(\"x\"); }\n#[test]\nfn t() { std::fs::read(\"y\"); }\n";
        let disk = "pub fn save() { println!(\"{:?}\", std::fs::write(\"x\", \"\")); }\n";
        let got = found(&scan_files(&[("src/lib.rs", lib), ("src/store.rs", store), ("src/store/disk.rs", disk)]));
        assert_eq!(
            got,
            vec![
                ("src/store.rs".into(), 2, 25, "std::fs::read".into()),
                ("src/store/disk.rs".into(), 1, 34, "std::fs::write".into()),
            ]
        );
    }

    #[test]
    fn finds_extern_blocks_their_calls_and_ffi_crates() {
        let src = "\
unsafe extern \"C\" {
    fn getpid() -> i32;
}
use libc::*;
pub fn pid() -> i32 {
    unsafe { getpid() }
}
";
        let got = found(&scan_files(&[("src/lib.rs", src)]));
        assert_eq!(
            got,
            vec![
                ("src/lib.rs".into(), 1, 1, "extern \"C\" { getpid }".into()),
                ("src/lib.rs".into(), 4, 11, "use libc::*".into()),
                ("src/lib.rs".into(), 6, 14, "getpid (extern \"C\" function)".into()),
            ]
        );
    }

    #[test]
    fn a_missing_module_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        std::fs::write(dir.path().join("src/lib.rs"), "mod gone;\n").expect("write");
        let err = scan(dir.path(), &[dir.path().join("src/lib.rs")]).expect_err("missing module");
        assert!(err.to_string().contains("module `gone`"), "{err}");
        assert!(err.to_string().contains("src/lib.rs:1:5"), "{err}");
    }
}
