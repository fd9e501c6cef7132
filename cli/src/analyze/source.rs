//! The source scan: every module of the crate's library and binaries,
//! parsed with `syn`, searched for the APIs of [`catalog`](super::catalog)
//! and [`crates`](super::crates).
//!
//! Names are resolved the simple way a reader would ([`names`](super::names)):
//! `use` declarations and the crate's `type` aliases map a local name to a
//! path, so `use std::fs; fs::write(..)`, `use std::fs::File;
//! File::open(..)` and `type Stamp = SystemTime; Stamp::now()` are all
//! found at the call. Method calls are resolved from their receiver's type
//! ([`types`](super::types)): `path.exists()` on a `PathBuf`,
//! `started.elapsed()` on an `Instant`. Only names in expression position
//! are reported: `-> Command` or a `JoinHandle` field uses nothing.
//! Functions declared in `extern` blocks are found where they are called.
//! Glob imports of a blocked module are reported at the `use`. Items under
//! `#[cfg(test)]` (and `#[test]` functions) are skipped: tests do not ship
//! in the plugin. Every other `cfg` is ignored, so code for any platform is
//! reported. Arguments of macros that take expressions (`println!`,
//! `format!`, …) are searched as expressions; other macro arguments, and
//! the bodies of the crate's own `macro_rules!`, token by token.

use std::path::{Path, PathBuf};

use proc_macro2::{LineColumn, Span, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Item, Meta, Token};

pub(crate) use super::load::{index, load};
use super::names::{Binding, Resolver, abi_name, ident, pattern_names, test_only, use_globs};
use super::types::{self, CrateIndex, Ty};
use super::{AnalyzeError, Blocker, BlockerKind, Location, catalog, crates};

/// One parsed source file of the crate.
pub(crate) struct SourceFile {
    /// The file, relative to the crate directory, with `/` separators.
    pub(crate) rel: String,
    /// Its text.
    pub(crate) text: String,
    /// Its syntax tree.
    pub(crate) ast: syn::File,
}

/// The target a scan judges the code for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `wasm32-unknown-unknown`: no files, no clock, no randomness.
    Unknown,
    /// `wasm32-wasip1`: files in granted folders, the clock and randomness
    /// work (with their permissions); the rest is as blocked.
    Wasip1,
}

/// A finding with what the port needs to rewrite it: the resolved path
/// (for a method, the receiver's type and the method) and the span of the
/// whole call (or path) that uses it.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub(crate) blocker: Blocker,
    pub(crate) path: Vec<String>,
    pub(crate) start: LineColumn,
    pub(crate) end: LineColumn,
}

/// Scans the modules reachable from `roots` (crate root files) and returns
/// what blocks WebAssembly, with locations relative to `crate_dir`.
pub(crate) fn scan(crate_dir: &Path, roots: &[PathBuf]) -> Result<Vec<Blocker>, AnalyzeError> {
    let files = load(crate_dir, roots)?;
    let index = index(&files);
    Ok(sites(&files, &index, Target::Unknown).into_iter().map(|s| s.blocker).collect())
}

/// Every finding in `files` for `target`, sorted by kind, then place.
pub(crate) fn sites(files: &[SourceFile], index: &CrateIndex, target: Target) -> Vec<Site> {
    let mut all = Vec::new();
    for file in files {
        let mut scanner = Scanner {
            file: file.rel.clone(),
            names: Resolver::module(),
            index,
            self_ty: Vec::new(),
            closure_param: None,
            target,
            findings: Vec::new(),
        };
        scanner.names.bind_items(file.ast.items.iter());
        for item in &file.ast.items {
            scanner.visit_item(item);
        }
        all.append(&mut scanner.findings);
    }
    let key = |s: &Site| (s.blocker.kind, s.blocker.location.clone(), s.blocker.what.clone());
    all.sort_by_key(key);
    all.dedup_by(|a, b| key(a) == key(b));
    all
}

/// `file` relative to `dir`, with `/` separators.
pub(crate) fn relative(dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(dir).unwrap_or(file);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Walks one file.
struct Scanner<'i> {
    /// The file, relative to the crate directory.
    file: String,
    names: Resolver,
    index: &'i CrateIndex,
    /// The `Self` of the `impl` blocks the walk is inside.
    self_ty: Vec<Option<Ty>>,
    /// The type of the first parameter of the closure about to be visited.
    closure_param: Option<Ty>,
    target: Target,
    findings: Vec<Site>,
}

impl Scanner<'_> {
    fn location(&self, span: Span) -> Location {
        let at = span.start();
        Location { file: self.file.clone(), line: at.line, column: at.column + 1 }
    }

    /// Records a finding at `at`, for the code spanning `whole`.
    fn report(&mut self, (kind, instead): (BlockerKind, &str), at: Span, whole: Span, what: String, path: Vec<String>) {
        if self.target == Target::Wasip1 && works_on_wasi(instead) {
            return;
        }
        let blocker =
            Blocker { kind, location: Some(self.location(at)), what, detail: None, instead: instead.to_owned() };
        self.findings.push(Site { blocker, path, start: whole.start(), end: whole.end() });
    }

    fn resolve(&self, ty: &syn::Type) -> Option<Ty> {
        let self_ty = self.self_ty.last().cloned().flatten();
        types::from_syn(ty, &|p| self.names.expand(p), self_ty.as_ref())
    }

    /// The type of `expr`, when the local environment knows it.
    fn type_of(&self, expr: &Expr) -> Option<Ty> {
        match expr {
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                let name = ident(&p.path.segments[0].ident);
                if name == "self" {
                    return self.self_ty.last().cloned().flatten();
                }
                self.names.var(&name).flatten().cloned()
            }
            Expr::Reference(r) => self.type_of(&r.expr),
            Expr::Paren(p) => self.type_of(&p.expr),
            Expr::Group(g) => self.type_of(&g.expr),
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => self.type_of(&u.expr),
            Expr::Try(t) => self.type_of(&t.expr).and_then(|ty| ty.element()),
            Expr::Field(f) => match &f.member {
                syn::Member::Named(name) => self.index.field(&self.type_of(&f.base)?, &ident(name)),
                syn::Member::Unnamed(_) => None,
            },
            Expr::Call(c) => {
                let Expr::Path(func) = &*c.func else { return None };
                let segments: Vec<String> = func.path.segments.iter().map(|s| ident(&s.ident)).collect();
                match segments.as_slice() {
                    [wrap] if wrap == "Some" || wrap == "Ok" => {
                        let inner = self.type_of(c.args.first()?)?;
                        Some(Ty {
                            path: vec![if wrap == "Some" { "Option" } else { "Result" }.to_owned()],
                            args: vec![inner],
                        })
                    }
                    [name] => self.index.function(name),
                    [ty, method] if ty == "Self" => {
                        self.index.method(self.self_ty.last().cloned().flatten().as_ref()?, method)
                    }
                    _ => {
                        let full = self.names.expand(segments.clone());
                        types::known_return(&full).or_else(|| {
                            let (method, ty) = segments.split_last()?;
                            self.index.method(&Ty { path: ty.to_vec(), args: Vec::new() }, method)
                        })
                    }
                }
            }
            Expr::MethodCall(m) => {
                let recv = self.type_of(&m.receiver)?;
                let method = ident(&m.method);
                self.index.method(&recv, &method).or_else(|| types::std_method_return(&recv, &method))
            }
            Expr::Struct(s) => {
                Some(Ty { path: s.path.segments.iter().map(|s| ident(&s.ident)).collect(), args: Vec::new() })
            }
            Expr::Macro(m) if m.mac.path.is_ident("format") => Some(Ty::plain(&["String"])),
            _ => None,
        }
    }

    /// Reports the path `path` (of an expression) if it is a blocker; `whole` spans its use.
    fn check_path(&mut self, path: &syn::Path, whole: Span) {
        let segments: Vec<String> = path.segments.iter().map(|s| ident(&s.ident)).collect();
        let span = path.segments.first().map_or_else(Span::call_site, |s| s.ident.span());
        let local = path.leading_colon.is_none();
        if local && segments.len() == 1 && self.names.var(&segments[0]).is_some() {
            return; // a local variable
        }
        let foreign = match (local, segments.as_slice(), segments.first().and_then(|f| self.names.lookup(f))) {
            (true, [name], Some(Binding::Foreign { abi })) => Some(format!("{name} (extern \"{abi}\" function)")),
            _ => None,
        };
        if let Some(what) = foreign {
            self.report((BlockerKind::Ffi, catalog::FFI), span, whole, what, segments);
        } else if !matches!(segments.first().map(String::as_str), Some("crate" | "self" | "super" | "Self")) {
            let full = if local { self.names.expand(segments) } else { segments };
            if let Some(found) = catalog::classify(&full) {
                self.report(found, span, whole, full.join("::"), full);
            }
        }
    }

    /// Binds the parameters of a function or method.
    fn bind_params<'a>(&mut self, inputs: impl Iterator<Item = &'a syn::FnArg>) {
        for input in inputs {
            if let syn::FnArg::Typed(t) = input {
                let ty = self.resolve(&t.ty);
                let mut names = Vec::new();
                pattern_names(&t.pat, &mut names);
                let single = names.len() == 1;
                for (name, _) in names {
                    self.names.bind_var(name, if single { ty.clone() } else { None });
                }
            }
        }
    }

    /// Looks for blocked paths and `.elapsed()`-like calls in tokens that are not parsed.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => self.scan_tokens(g.stream()),
                TokenTree::Ident(first) => {
                    let after_dot = i > 0 && matches!(&tokens[i - 1], TokenTree::Punct(p) if p.as_char() == '.');
                    let mut segments = vec![ident(first)];
                    let mut j = i + 1;
                    while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(next))) =
                        (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(ident(next));
                        j += 3;
                    }
                    let called = matches!(tokens.get(j), Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis);
                    if after_dot && segments.len() == 1 && called {
                        if let Some(found) = catalog::classify_method(None, &segments[0]) {
                            let what = format!(".{}()", segments[0]);
                            self.report(found, first.span(), first.span(), what, segments);
                        }
                    } else if !after_dot && segments.len() > 1 {
                        let full = self.names.expand(segments);
                        if let Some(found) = catalog::classify(&full) {
                            self.report(found, first.span(), first.span(), full.join("::"), full);
                        }
                    }
                    i = j;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// Whether advice `instead` is for something that works on `wasm32-wasip1`.
fn works_on_wasi(instead: &str) -> bool {
    [catalog::FS, catalog::CLOCK, catalog::RANDOM, crates::CHRONO, crates::LOGGER, crates::UUID].contains(&instead)
}

impl<'ast> Visit<'ast> for Scanner<'_> {
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

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // A module file is scanned on its own.
        let Some((_, items)) = &m.content else { return };
        self.names.push_module();
        self.names.bind_items(items.iter());
        for item in items {
            self.visit_item(item);
        }
        self.names.pop();
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let self_ty = self.resolve(&i.self_ty);
        self.self_ty.push(self_ty);
        for item in &i.items {
            self.visit_impl_item(item);
        }
        self.self_ty.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.names.push_block();
        self.bind_params(f.sig.inputs.iter());
        self.visit_block(&f.block);
        self.names.pop();
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if test_only(&f.attrs) {
            return;
        }
        self.names.push_block();
        self.bind_params(f.sig.inputs.iter());
        self.visit_block(&f.block);
        self.names.pop();
    }

    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.names.push_block();
        self.names.bind_items(block.stmts.iter().filter_map(|s| match s {
            syn::Stmt::Item(item) => Some(item),
            _ => None,
        }));
        visit::visit_block(self, block);
        self.names.pop();
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        let mut names = Vec::new();
        pattern_names(&local.pat, &mut names);
        let inferred = match (&local.init, names.len()) {
            (Some(init), 1) => self.type_of(&init.expr),
            _ => None,
        };
        // `let (a, b) = (x, y);`: each name from its element.
        let elements: Vec<Option<Ty>> = match (&local.pat, local.init.as_ref().map(|i| &*i.expr)) {
            (syn::Pat::Tuple(_), Some(Expr::Tuple(t))) if t.elems.len() == names.len() => {
                t.elems.iter().map(|e| self.type_of(e)).collect()
            }
            _ => Vec::new(),
        };
        for (i, (name, written)) in names.into_iter().enumerate() {
            let ty = written
                .as_ref()
                .and_then(|t| self.resolve(t))
                .or_else(|| elements.get(i).cloned().flatten())
                .or_else(|| inferred.clone());
            self.names.bind_var(name, ty);
        }
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        let given = self.closure_param.take();
        self.names.push_block();
        for (i, input) in c.inputs.iter().enumerate() {
            let mut names = Vec::new();
            pattern_names(input, &mut names);
            for (name, written) in names {
                let ty = written
                    .as_ref()
                    .and_then(|t| self.resolve(t))
                    .or_else(|| (i == 0).then(|| given.clone()).flatten());
                self.names.bind_var(name, ty);
            }
        }
        self.visit_expr(&c.body);
        self.names.pop();
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        self.visit_expr(&m.receiver);
        let recv = self.type_of(&m.receiver);
        for arg in &m.args {
            if matches!(arg, Expr::Closure(_)) {
                self.closure_param = recv.as_ref().and_then(Ty::element);
            }
            self.visit_expr(arg);
            self.closure_param = None;
        }
        let method = ident(&m.method);
        // The crate's own method of that name is not std's.
        if recv.as_ref().is_some_and(|r| self.index.has_method(r, &method)) {
            return;
        }
        let resolved = recv.as_ref().map(|r| r.deref().path.clone());
        if let Some(found) = catalog::classify_method(resolved.as_deref(), &method) {
            let (what, path) = match resolved {
                Some(mut p) => {
                    p.push(method.clone());
                    (p.join("::"), p)
                }
                None => (format!(".{method}()"), vec![method.clone()]),
            };
            self.report(found, m.method.span(), m.span(), what, path);
        }
    }

    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        match &*c.func {
            Expr::Path(p) if p.qself.is_none() => self.check_path(&p.path, c.span()),
            func => self.visit_expr(func),
        }
        for arg in &c.args {
            self.visit_expr(arg);
        }
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if p.qself.is_none() {
            self.check_path(&p.path, p.span());
        }
    }

    /// Names in type position use nothing: `-> Command`, a `JoinHandle` field.
    fn visit_type(&mut self, _: &'ast syn::Type) {}

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut globs = Vec::new();
        use_globs(&u.tree, &mut Vec::new(), &mut globs);
        for (span, path) in globs {
            let path = if u.leading_colon.is_some() { path } else { self.names.expand(path) };
            // A glob of a blocked module, or of the crate holding it.
            let mut probe = path.clone();
            probe.push("*".to_owned());
            if let Some(found) = catalog::classify(&probe) {
                self.report(found, span, span, format!("use {}::*", path.join("::")), probe);
            }
        }
    }

    fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
        let name = ident(&e.ident);
        if let Some(found @ (BlockerKind::Ffi, _)) = catalog::classify(&[name.clone(), "*".to_owned()]) {
            let span = e.extern_token.span;
            self.report(found, span, span, format!("extern crate {name}"), vec![name]);
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
        self.report((BlockerKind::Ffi, catalog::FFI), span, f.span(), what, Vec::new());
    }

    fn visit_item_macro(&mut self, m: &'ast syn::ItemMacro) {
        // The body of the crate's own `macro_rules!` is code too, though not parsable as such.
        if m.mac.path.is_ident("macro_rules") {
            self.scan_tokens(m.mac.tokens.clone());
        } else {
            self.visit_macro(&m.mac);
        }
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // `cfg!(windows)` names a platform, not a crate.
        if mac.path.is_ident("cfg") {
            return;
        }
        // `println!`, `format!`, `assert_eq!`, …: arguments are expressions.
        match mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            Ok(args) => {
                for arg in &args {
                    self.visit_expr(arg);
                }
            }
            Err(_) => self.scan_tokens(mac.tokens.clone()),
        }
    }
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
