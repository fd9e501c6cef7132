//! Finding a finding's syntax again: the expression at a span, what
//! encloses it (statement, function, `impl`), and the functions of a file.

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Item};

use crate::analyze::names::{ident, pattern_names};

/// One step on the way from a file's root down to an expression.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    Impl(&'a syn::ItemImpl),
    Fn(FnRef<'a>),
    Block(&'a syn::Block),
    Stmt(&'a syn::Stmt),
    Expr(&'a Expr),
}

/// A function or a method.
#[derive(Clone, Copy)]
pub(crate) enum FnRef<'a> {
    Free(&'a syn::ItemFn),
    Method(&'a syn::ImplItemFn),
}

impl<'a> FnRef<'a> {
    pub(crate) fn sig(self) -> &'a syn::Signature {
        match self {
            Self::Free(f) => &f.sig,
            Self::Method(f) => &f.sig,
        }
    }

    pub(crate) fn block(self) -> &'a syn::Block {
        match self {
            Self::Free(f) => &f.block,
            Self::Method(f) => &f.block,
        }
    }

    pub(crate) fn name(self) -> String {
        ident(&self.sig().ident)
    }

    /// The name of its `Context` parameter (`ctx`, `_ctx`), if it has one.
    pub(crate) fn ctx_param(self) -> Option<(String, proc_macro2::Span)> {
        self.sig().inputs.iter().find_map(|input| {
            let syn::FnArg::Typed(t) = input else { return None };
            let is_ctx = type_names(&t.ty).iter().any(|n| n == "Context");
            let syn::Pat::Ident(name) = &*t.pat else { return None };
            is_ctx.then(|| (ident(&name.ident), name.ident.span()))
        })
    }

    /// Whether it takes `self`.
    pub(crate) fn has_receiver(self) -> bool {
        self.sig().receiver().is_some()
    }
}

/// The identifiers in a type: `&mut Context<'_>` → `["Context"]`.
fn type_names(ty: &syn::Type) -> Vec<String> {
    match ty {
        syn::Type::Reference(r) => type_names(&r.elem),
        syn::Type::Path(p) => p.path.segments.iter().map(|s| ident(&s.ident)).collect(),
        _ => Vec::new(),
    }
}

/// The way down to the expression spanning `start..end`, outermost first,
/// the expression last; `None` when no expression spans exactly that
/// (one inside a macro's arguments, say).
pub(crate) fn path_to<'a>(file: &'a syn::File, start: LineColumn, end: LineColumn) -> Option<Vec<Node<'a>>> {
    let mut finder = Finder { start, end, stack: Vec::new(), found: None };
    finder.visit_file(file);
    finder.found
}

struct Finder<'a> {
    start: LineColumn,
    end: LineColumn,
    stack: Vec<Node<'a>>,
    found: Option<Vec<Node<'a>>>,
}

impl<'a> Visit<'a> for Finder<'a> {
    fn visit_item_impl(&mut self, i: &'a syn::ItemImpl) {
        self.stack.push(Node::Impl(i));
        visit::visit_item_impl(self, i);
        self.stack.pop();
    }

    fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
        self.stack.push(Node::Fn(FnRef::Free(f)));
        visit::visit_item_fn(self, f);
        self.stack.pop();
    }

    fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
        self.stack.push(Node::Fn(FnRef::Method(f)));
        visit::visit_impl_item_fn(self, f);
        self.stack.pop();
    }

    fn visit_block(&mut self, b: &'a syn::Block) {
        self.stack.push(Node::Block(b));
        visit::visit_block(self, b);
        self.stack.pop();
    }

    fn visit_stmt(&mut self, s: &'a syn::Stmt) {
        self.stack.push(Node::Stmt(s));
        visit::visit_stmt(self, s);
        self.stack.pop();
    }

    fn visit_expr(&mut self, e: &'a Expr) {
        if self.found.is_some() {
            return;
        }
        self.stack.push(Node::Expr(e));
        let span = e.span();
        if span.start() == self.start && span.end() == self.end {
            self.found = Some(self.stack.clone());
        } else {
            visit::visit_expr(self, e);
        }
        self.stack.pop();
    }
}

/// The innermost function on a way down, and the `impl` holding it.
pub(crate) fn enclosing_fn<'a>(way: &[Node<'a>]) -> Option<(FnRef<'a>, Option<&'a syn::ItemImpl>)> {
    let at = way.iter().rposition(|n| matches!(n, Node::Fn(_)))?;
    let Node::Fn(f) = way[at] else { return None };
    let imp = way[..at].iter().rev().find_map(|n| match n {
        Node::Impl(i) => Some(*i),
        _ => None,
    });
    Some((f, imp))
}

/// Whether the way down passes through a closure (after its function).
pub(crate) fn in_closure(way: &[Node<'_>]) -> bool {
    let start = way.iter().rposition(|n| matches!(n, Node::Fn(_))).unwrap_or(0);
    way[start..].iter().any(|n| matches!(n, Node::Expr(Expr::Closure(_))))
}

/// The trait an `impl` implements (its last path segment), if any.
pub(crate) fn trait_name(imp: &syn::ItemImpl) -> Option<String> {
    imp.trait_.as_ref().and_then(|(_, path, _)| path.segments.last()).map(|s| ident(&s.ident))
}

/// The name of an `impl`'s self type.
pub(crate) fn self_name(imp: &syn::ItemImpl) -> Option<String> {
    match &*imp.self_ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| ident(&s.ident)),
        _ => None,
    }
}

/// Every function and method of a file, with the `impl` holding it.
pub(crate) fn functions(file: &syn::File) -> Vec<(FnRef<'_>, Option<&syn::ItemImpl>)> {
    let mut out = Vec::new();
    collect_fns(&file.items, &mut out);
    out
}

fn collect_fns<'a>(items: &'a [Item], out: &mut Vec<(FnRef<'a>, Option<&'a syn::ItemImpl>)>) {
    for item in items {
        match item {
            Item::Fn(f) => out.push((FnRef::Free(f), None)),
            Item::Impl(i) => {
                for item in &i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        out.push((FnRef::Method(f), Some(i)));
                    }
                }
            }
            Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_fns(items, out);
                }
            }
            _ => {}
        }
    }
}

/// The identifiers a token stream uses, each as often as it appears.
pub(crate) fn idents(tokens: proc_macro2::TokenStream, out: &mut Vec<String>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(i) => out.push(ident(&i)),
            proc_macro2::TokenTree::Group(g) => idents(g.stream(), out),
            _ => {}
        }
    }
}

/// The names a `let` statement binds.
pub(crate) fn let_names(local: &syn::Local) -> Vec<String> {
    let mut names = Vec::new();
    pattern_names(&local.pat, &mut names);
    names.into_iter().map(|(n, _)| n).collect()
}

/// The `on_message` of the crate's `impl Plugin for …`, in `file`.
pub(crate) fn on_message(file: &syn::File) -> Option<(&syn::ImplItemFn, &syn::ItemImpl)> {
    functions(file).into_iter().find_map(|(f, imp)| match (f, imp) {
        (FnRef::Method(m), Some(i)) if trait_name(i).as_deref() == Some("Plugin") && f.name() == "on_message" => {
            Some((m, i))
        }
        _ => None,
    })
}
