//! Passing the plugin's `Context` down to the code that now needs it.
//!
//! A host service is a method of the `Context` that `on_message` (and the
//! other `Plugin` methods) receive. A rewritten call deep in the crate
//! needs it too: every function on the way from a `Plugin` method to the
//! call gets a parameter `ctx: &mut wasp_sdk::Context<'_>` (last, so an
//! argument that also uses it is done with it first), and every call of
//! those functions passes `ctx`. A function that cannot take a parameter —
//! a method of another trait (`Default::default`, `Drop::drop`), `main`,
//! one called from such a place — cannot get the `Context`: the calls in
//! it are not rewritten, and the markers pass names them.

use std::collections::{BTreeSet, HashMap};

use proc_macro2::LineColumn;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Token};

use super::ast::{self, FnRef};
use super::edit::{Edits, Lines};
use crate::analyze::names::ident;
use crate::analyze::source::SourceFile;

/// A function: its file and where its signature starts.
pub(crate) type FnKey = (usize, LineColumn);

/// What one function is, for the analysis.
struct FnInfo {
    key: FnKey,
    name: String,
    /// Its span, to place the code in it.
    start: LineColumn,
    end: LineColumn,
    /// `Plugin` methods have the `Context` already.
    ctx_param: Option<(String, proc_macro2::Span)>,
    /// Whether a parameter can be added (a free function or an inherent method, not `main`).
    open: bool,
    /// Inherent methods are called as methods.
    method: bool,
    /// Where the parameter list closes, and whether it is empty or ends with a comma.
    params_close: LineColumn,
    params_empty: bool,
    trailing_comma: bool,
    /// The calls it makes: (callee name, called as a method, where the argument list closes, empty).
    calls: Vec<(String, bool, LineColumn, bool)>,
    /// Whether its body uses `ctx` without having it.
    uses_ctx: bool,
}

/// The function of `files` that holds the place `at` (the innermost).
pub(crate) fn holder(files: &[SourceFile], file: usize, at: LineColumn) -> Option<FnKey> {
    let functions = ast::functions(&files.get(file)?.ast);
    functions
        .into_iter()
        .map(|(f, _)| f)
        .filter(|f| {
            let span = fn_span(*f);
            span.start() <= at && at <= span.end()
        })
        .max_by_key(|f| fn_span(*f).start())
        .map(|f| (file, f.sig().fn_token.span.start()))
}

fn fn_span(f: FnRef<'_>) -> proc_macro2::Span {
    match f {
        FnRef::Free(f) => f.span(),
        FnRef::Method(m) => m.span(),
    }
}

/// Which functions can have the `Context`, given those that need it, and the edits that give it to them.
pub(crate) struct Plan {
    pub(crate) can: BTreeSet<FnKey>,
    pub(crate) edits: Vec<Edits>,
}

pub(crate) fn plan(files: &[SourceFile], needs: &BTreeSet<FnKey>) -> Plan {
    let infos: Vec<FnInfo> = files.iter().enumerate().flat_map(|(i, f)| infos(i, f)).collect();
    let by_key: HashMap<FnKey, &FnInfo> = infos.iter().map(|f| (f.key, f)).collect();
    let mut need: BTreeSet<FnKey> = needs.clone();
    need.extend(infos.iter().filter(|f| f.uses_ctx).map(|f| f.key));
    // Callers of what needs the `Context` need it too.
    let callers = |callee: &FnInfo| -> Vec<&FnInfo> {
        infos
            .iter()
            .filter(|c| {
                c.calls.iter().any(|(name, as_method, _, _)| *name == callee.name && *as_method == callee.method)
            })
            .collect()
    };
    loop {
        let mut more = Vec::new();
        for key in &need {
            let Some(f) = by_key.get(key) else { continue };
            if f.ctx_param.is_some() {
                continue;
            }
            for c in callers(f) {
                if !need.contains(&c.key) {
                    more.push(c.key);
                }
            }
        }
        if more.is_empty() {
            break;
        }
        need.extend(more);
    }
    // Which of them can have it: all their callers must.
    let mut can: BTreeSet<FnKey> =
        need.iter().filter(|k| by_key.get(k).is_some_and(|f| f.ctx_param.is_some() || f.open)).copied().collect();
    loop {
        let drop: Vec<FnKey> = can
            .iter()
            .filter(|k| {
                let f = by_key[k];
                f.ctx_param.is_none() && callers(f).iter().any(|c| !can.contains(&c.key))
            })
            .copied()
            .collect();
        if drop.is_empty() {
            break;
        }
        for k in drop {
            can.remove(&k);
        }
    }

    let mut edits: Vec<Edits> = files.iter().map(|_| Edits::default()).collect();
    let gets_param: Vec<&FnInfo> = can.iter().map(|k| by_key[k]).filter(|f| f.ctx_param.is_none()).collect();
    for f in &gets_param {
        let lines = Lines::new(&files[f.key.0].text);
        let at = lines.offset(f.params_close);
        let param = "ctx: &mut wasp_sdk::Context<'_>";
        let text = if f.params_empty || f.trailing_comma { param.to_owned() } else { format!(", {param}") };
        edits[f.key.0].insert(at, text);
    }
    for caller in can.iter().map(|k| by_key[k]) {
        let lines = Lines::new(&files[caller.key.0].text);
        for (name, as_method, close, empty) in &caller.calls {
            if gets_param.iter().any(|f| f.name == *name && f.method == *as_method) {
                let text = if *empty { "ctx" } else { ", ctx" };
                edits[caller.key.0].insert(lines.offset(*close), text);
            }
        }
    }
    // A `Plugin` method that now uses its `Context` calls it `ctx`.
    for f in can.iter().map(|k| by_key[k]) {
        let Some((name, _)) = &f.ctx_param else { continue };
        if name == "ctx" {
            continue;
        }
        let file = &files[f.key.0];
        let lines = Lines::new(&file.text);
        let mut spans = Vec::new();
        let tokens: proc_macro2::TokenStream = match file.text[lines.offset(f.start)..lines.offset(f.end)].parse() {
            Ok(t) => t,
            Err(_) => continue,
        };
        renames(tokens, name, &mut spans);
        // The tokens were parsed from the function's text alone: their places are relative to it.
        for at in spans {
            let line = f.start.line + at.line - 1;
            let column = if at.line == 1 { f.start.column + at.column } else { at.column };
            let start = lines.offset(LineColumn { line, column });
            edits[f.key.0].replace(start, start + name.len(), "ctx");
        }
    }
    Plan { can, edits }
}

/// Where the identifier `name` appears in `tokens`.
fn renames(tokens: proc_macro2::TokenStream, name: &str, out: &mut Vec<LineColumn>) {
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(i) if i == name => out.push(i.span().start()),
            proc_macro2::TokenTree::Group(g) => renames(g.stream(), name, out),
            _ => {}
        }
    }
}

fn infos(file_index: usize, file: &SourceFile) -> Vec<FnInfo> {
    ast::functions(&file.ast)
        .into_iter()
        .map(|(f, imp)| {
            let trait_name = imp.and_then(ast::trait_name);
            let sig = f.sig();
            let mut calls = Calls { calls: Vec::new(), uses_ctx: false };
            calls.visit_block(f.block());
            let span = fn_span(f);
            FnInfo {
                key: (file_index, sig.fn_token.span.start()),
                name: f.name(),
                start: span.start(),
                end: span.end(),
                ctx_param: f.ctx_param(),
                open: trait_name.is_none() && !(imp.is_none() && f.name() == "main"),
                method: f.has_receiver(),
                params_close: sig.paren_token.span.close().start(),
                params_empty: sig.inputs.is_empty(),
                trailing_comma: sig.inputs.trailing_punct(),
                calls: calls.calls,
                uses_ctx: calls.uses_ctx,
            }
        })
        .collect()
}

/// The calls of a function's body, and whether it uses `ctx`.
struct Calls {
    calls: Vec<(String, bool, LineColumn, bool)>,
    uses_ctx: bool,
}

impl<'a> Visit<'a> for Calls {
    fn visit_expr_call(&mut self, c: &'a syn::ExprCall) {
        if let Expr::Path(p) = &*c.func {
            let segments: Vec<String> = p.path.segments.iter().map(|s| ident(&s.ident)).collect();
            if let Some(name) = segments.last() {
                // `f(..)`, `Self::f(..)`, `Type::f(..)`: an associated function is not called as a method.
                self.calls.push((name.clone(), false, c.paren_token.span.close().start(), c.args.is_empty()));
            }
        }
        visit::visit_expr_call(self, c);
    }

    fn visit_expr_method_call(&mut self, m: &'a syn::ExprMethodCall) {
        self.calls.push((ident(&m.method), true, m.paren_token.span.close().start(), m.args.is_empty()));
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_path(&mut self, p: &'a syn::ExprPath) {
        if p.path.is_ident("ctx") {
            self.uses_ctx = true;
        }
        visit::visit_expr_path(self, p);
    }

    // Functions declared inside a body are functions of their own.
    fn visit_item(&mut self, _: &'a syn::Item) {}

    /// `format!("{}", tag())`: arguments of macros are calls too.
    fn visit_macro(&mut self, mac: &'a syn::Macro) {
        if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
    }
}
