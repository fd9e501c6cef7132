//! Name resolution as a reader does it: `use` declarations (renames,
//! groups, `self`, `use` inside functions), the crate's `type` aliases,
//! `extern` declarations, and local variables with what is known of their
//! types.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Item, Meta, Token, UseTree};

use super::types::Ty;

/// What a local name stands for, in the type and module namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
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
    /// Local variables (the value namespace), with their type when known.
    vars: HashMap<String, Option<Ty>>,
    /// Modules see nothing of the scopes around them (but the prelude).
    module: bool,
}

/// The scopes around the point of a walk.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    scopes: Vec<Scope>,
}

impl Resolver {
    /// A resolver at the top of a module file.
    pub(crate) fn module() -> Self {
        Self { scopes: vec![Scope { module: true, ..Scope::default() }] }
    }

    pub(crate) fn push_module(&mut self) {
        self.scopes.push(Scope { module: true, ..Scope::default() });
    }

    pub(crate) fn push_block(&mut self) {
        self.scopes.push(Scope::default());
    }

    pub(crate) fn pop(&mut self) {
        self.scopes.pop();
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<&Binding> {
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

    /// The local variable `name`: `Some(type if known)` when one is in scope.
    pub(crate) fn var(&self, name: &str) -> Option<Option<&Ty>> {
        for scope in self.scopes.iter().rev() {
            if let Some(ty) = scope.vars.get(name) {
                return Some(ty.as_ref());
            }
            if scope.module {
                break;
            }
        }
        None
    }

    /// Expands the first segment of `path` through the scope.
    pub(crate) fn expand(&self, mut path: Vec<String>) -> Vec<String> {
        if let Some(Binding::Path(full)) = path.first().and_then(|first| self.lookup(first)) {
            let mut out = full.clone();
            out.extend(path.drain(1..));
            return out;
        }
        path
    }

    pub(crate) fn bind(&mut self, name: String, binding: Binding) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.insert(name, binding);
        }
    }

    pub(crate) fn bind_var(&mut self, name: String, ty: Option<Ty>) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.vars.insert(name, ty);
        }
    }

    /// Binds the names that `items` (of one module or block) bring into scope.
    pub(crate) fn bind_items<'a>(&mut self, items: impl Iterator<Item = &'a Item>) {
        let items: Vec<&Item> = items.collect();
        for item in &items {
            match item {
                Item::Use(u) if !test_only(&u.attrs) => {
                    let mut leaves = Vec::new();
                    use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                    for (name, path) in leaves {
                        let path = if u.leading_colon.is_some() { path } else { self.expand(path) };
                        self.bind(name, Binding::Path(path));
                    }
                }
                // A module of the crate's own: `mod reqwest { … }` is not the crate `reqwest`.
                Item::Mod(m) if !test_only(&m.attrs) => {
                    self.bind(ident(&m.ident), Binding::Path(vec!["self".to_owned(), ident(&m.ident)]));
                }
                Item::ExternCrate(e) => {
                    if let Some((_, rename)) = &e.rename {
                        self.bind(ident(rename), Binding::Path(vec![ident(&e.ident)]));
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
        // Aliases after imports: `type Stamp = SystemTime;` names what `use` brought in.
        for item in items {
            if let Item::Type(t) = item
                && t.generics.params.is_empty()
                && let syn::Type::Path(p) = &*t.ty
                && p.qself.is_none()
            {
                let segments: Vec<String> = p.path.segments.iter().map(|s| ident(&s.ident)).collect();
                let path = if p.path.leading_colon.is_some() { segments } else { self.expand(segments) };
                self.bind(ident(&t.ident), Binding::Path(path));
            }
        }
    }
}

/// The text of an identifier, without a raw `r#`.
pub(crate) fn ident(i: &syn::Ident) -> String {
    let s = i.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

pub(crate) fn abi_name(abi: &syn::Abi) -> String {
    abi.name.as_ref().map_or_else(|| "C".to_owned(), syn::LitStr::value)
}

/// The names a `use` tree binds, with the paths they stand for.
pub(crate) fn use_leaves(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
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
pub(crate) fn use_globs(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Span, Vec<String>)>) {
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
pub(crate) fn test_only(attrs: &[Attribute]) -> bool {
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
pub(crate) fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find(|a| a.path().is_ident("path")).and_then(|a| match &a.meta {
        Meta::NameValue(nv) => match &nv.value {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// The identifiers a pattern binds, with the type written for them, if any.
pub(crate) fn pattern_names(pat: &syn::Pat, out: &mut Vec<(String, Option<syn::Type>)>) {
    match pat {
        syn::Pat::Ident(i) => out.push((ident(&i.ident), None)),
        syn::Pat::Type(t) => {
            let mut inner = Vec::new();
            pattern_names(&t.pat, &mut inner);
            let single = inner.len() == 1;
            out.extend(inner.into_iter().map(|(n, _)| (n, single.then(|| (*t.ty).clone()))));
        }
        syn::Pat::Tuple(t) => t.elems.iter().for_each(|p| pattern_names(p, out)),
        syn::Pat::TupleStruct(t) => t.elems.iter().for_each(|p| pattern_names(p, out)),
        syn::Pat::Struct(s) => s.fields.iter().for_each(|f| pattern_names(&f.pat, out)),
        syn::Pat::Reference(r) => pattern_names(&r.pat, out),
        syn::Pat::Slice(s) => s.elems.iter().for_each(|p| pattern_names(p, out)),
        syn::Pat::Or(o) => {
            if let Some(first) = o.cases.first() {
                pattern_names(first, out);
            }
        }
        syn::Pat::Paren(p) => pattern_names(&p.pat, out),
        _ => {}
    }
}
