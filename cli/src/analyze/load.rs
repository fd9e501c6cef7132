//! Reading a crate's sources: the module files reachable from its roots,
//! parsed, and an index of what the crate declares ([`types`](super::types)).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use syn::Item;

use super::AnalyzeError;
use super::names::{Resolver, ident, path_attr, test_only};
use super::source::{SourceFile, relative};
use super::types::{self, CrateIndex, Ty};

/// Reads and parses the modules reachable from `roots`, following `mod` declarations.
pub(crate) fn load(crate_dir: &Path, roots: &[PathBuf]) -> Result<Vec<SourceFile>, AnalyzeError> {
    let mut queue: Vec<(PathBuf, PathBuf)> =
        roots.iter().rev().map(|r| (r.clone(), r.parent().unwrap_or(crate_dir).to_path_buf())).collect();
    let mut seen = HashSet::new();
    let mut files = Vec::new();
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
        let mut finder = ModuleFinder {
            rel: rel.clone(),
            file_dir: file.parent().unwrap_or(crate_dir).to_path_buf(),
            mod_dir,
            inline_depth: 0,
            modules: Vec::new(),
            missing: None,
        };
        finder.items(&ast.items);
        if let Some(err) = finder.missing {
            return Err(err);
        }
        queue.extend(finder.modules.into_iter().rev());
        files.push(SourceFile { rel, text, ast });
    }
    Ok(files)
}

/// What the crate declares: struct fields and return types, for [`types`].
pub(crate) fn index(files: &[SourceFile]) -> CrateIndex {
    let mut index = CrateIndex::default();
    for file in files {
        let mut resolver = Resolver::module();
        index_items(&mut index, &mut resolver, &file.ast.items);
    }
    index
}

fn index_items(index: &mut CrateIndex, resolver: &mut Resolver, items: &[Item]) {
    resolver.bind_items(items.iter());
    for item in items {
        match item {
            Item::Struct(s) => {
                let resolve = |p| resolver.expand(p);
                let fields = s
                    .fields
                    .iter()
                    .filter_map(|f| Some((ident(f.ident.as_ref()?), types::from_syn(&f.ty, &resolve, None)?)))
                    .collect();
                index.add_struct(ident(&s.ident), fields);
            }
            Item::Fn(f) => {
                let ret = return_type(&f.sig, resolver, None);
                index.add_fn(ident(&f.sig.ident), ret);
            }
            Item::Impl(i) if i.trait_.is_none() => {
                let resolve = |p| resolver.expand(p);
                let Some(self_ty) = types::from_syn(&i.self_ty, &resolve, None) else { continue };
                for item in &i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        let ret = return_type(&f.sig, resolver, Some(&self_ty));
                        index.add_method(self_ty.name().to_owned(), ident(&f.sig.ident), ret);
                    }
                }
            }
            Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    resolver.push_module();
                    index_items(index, resolver, items);
                    resolver.pop();
                }
            }
            _ => {}
        }
    }
}

fn return_type(sig: &syn::Signature, resolver: &Resolver, self_ty: Option<&Ty>) -> Option<Ty> {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => types::from_syn(ty, &|p| resolver.expand(p), self_ty),
        syn::ReturnType::Default => None,
    }
}

/// Finds the files of a file's `mod name;` declarations.
struct ModuleFinder {
    rel: String,
    /// The directory holding the file.
    file_dir: PathBuf,
    /// Where the files of the current module's child modules live.
    mod_dir: PathBuf,
    /// How many inline `mod m { .. }` blocks the walk is inside.
    inline_depth: usize,
    /// Module files declared here: (file, directory of its children).
    modules: Vec<(PathBuf, PathBuf)>,
    /// A declared module without a file.
    missing: Option<AnalyzeError>,
}

impl ModuleFinder {
    fn items(&mut self, items: &[Item]) {
        for item in items {
            let Item::Mod(m) = item else { continue };
            if test_only(&m.attrs) {
                continue;
            }
            match &m.content {
                None => self.module_file(m),
                Some((_, items)) => {
                    let outer = self.mod_dir.clone();
                    self.mod_dir = match path_attr(&m.attrs) {
                        Some(path) => self.mod_dir.join(path),
                        None => self.mod_dir.join(ident(&m.ident)),
                    };
                    self.inline_depth += 1;
                    self.items(items);
                    self.inline_depth -= 1;
                    self.mod_dir = outer;
                }
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
            let at = m.ident.span().start();
            self.missing = Some(AnalyzeError::MissingModule {
                module: name,
                declared_at: format!("{}:{}:{}", self.rel, at.line, at.column + 1),
                candidates: [flat, nested],
            });
        }
    }
}
