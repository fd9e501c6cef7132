//! Following a request through the code: what holds a reqwest `Client`
//! (a name, a field), the `client.get(url)….send()` chains that use one,
//! and what is called on the builder and on the response, each checked
//! against what the port's module has.

use std::collections::BTreeSet;

use proc_macro2::LineColumn;
use syn::Expr;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use super::{BUILDER, REQUEST, RESPONSE, VERBS};
use crate::analyze::names::ident;
use crate::analyze::source::SourceFile;
use crate::port::ast;

/// What holds a reqwest `Client`: local names and fields.
#[derive(Default)]
pub(super) struct Clients {
    pub(super) names: BTreeSet<String>,
    pub(super) fields: BTreeSet<String>,
    /// `Client::new()` / `builder()` calls: (file, start, end).
    pub(super) entries: Vec<(usize, LineColumn, LineColumn)>,
}

impl Clients {
    /// Names and fields declared with reqwest's `Client` type, and `let`s of one.
    pub(super) fn collect(&mut self, file: &SourceFile, uses: &[(String, Vec<String>)]) {
        struct V<'u> {
            uses: &'u [(String, Vec<String>)],
            names: BTreeSet<String>,
            fields: BTreeSet<String>,
        }
        impl<'a> Visit<'a> for V<'_> {
            fn visit_field(&mut self, f: &'a syn::Field) {
                if let Some(name) = &f.ident
                    && is_client(&f.ty, self.uses)
                {
                    self.fields.insert(ident(name));
                }
            }
            fn visit_pat_type(&mut self, p: &'a syn::PatType) {
                if let syn::Pat::Ident(name) = &*p.pat
                    && is_client(&p.ty, self.uses)
                {
                    self.names.insert(ident(&name.ident));
                }
            }
            fn visit_local(&mut self, l: &'a syn::Local) {
                if let Some(init) = &l.init
                    && mentions_client(&init.expr, self.uses)
                {
                    self.names.extend(ast::let_names(l));
                }
                visit::visit_local(self, l);
            }
            fn visit_field_value(&mut self, f: &'a syn::FieldValue) {
                if let syn::Member::Named(name) = &f.member
                    && mentions_client(&f.expr, self.uses)
                {
                    self.fields.insert(ident(name));
                }
                visit::visit_field_value(self, f);
            }
        }
        let mut v = V { uses, names: BTreeSet::new(), fields: BTreeSet::new() };
        v.visit_file(&file.ast);
        self.names.extend(v.names);
        self.fields.extend(v.fields);
    }

    /// Whether `e` is a client: a name or field that holds one, or a call chain that makes one.
    pub(super) fn is(&self, e: &Expr, file: usize) -> bool {
        match e {
            Expr::Paren(p) => self.is(&p.expr, file),
            Expr::Reference(r) => self.is(&r.expr, file),
            Expr::Path(p) => p.path.get_ident().is_some_and(|i| self.names.contains(&ident(i))),
            Expr::Field(f) => matches!(&f.member, syn::Member::Named(n) if self.fields.contains(&ident(n))),
            Expr::Try(_) | Expr::MethodCall(_) | Expr::Call(_) => {
                let (s, end) = (e.span().start(), e.span().end());
                self.entries.iter().any(|(f, a, b)| *f == file && s <= *a && *b <= end)
            }
            _ => false,
        }
    }
}

/// The full path a type names, through the file's imports.
pub(super) fn full_path(path: &syn::Path, uses: &[(String, Vec<String>)]) -> Vec<String> {
    let segments: Vec<String> = path.segments.iter().map(|s| ident(&s.ident)).collect();
    match segments.first().and_then(|first| uses.iter().find(|(name, _)| name == first)) {
        Some((_, full)) => full.iter().cloned().chain(segments.into_iter().skip(1)).collect(),
        None => segments,
    }
}

/// Whether a type is reqwest's blocking `Client` (or a reference to one).
pub(super) fn is_client(ty: &syn::Type, uses: &[(String, Vec<String>)]) -> bool {
    match ty {
        syn::Type::Reference(r) => is_client(&r.elem, uses),
        syn::Type::Path(p) => full_path(&p.path, uses).iter().map(String::as_str).eq(["reqwest", "blocking", "Client"]),
        _ => false,
    }
}

/// Whether an expression makes a client: `Client::new()`, `Client::builder()….build()`.
pub(super) fn mentions_client(e: &Expr, uses: &[(String, Vec<String>)]) -> bool {
    match e {
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                let full = full_path(&p.path, uses);
                let f: Vec<&str> = full.iter().map(String::as_str).collect();
                matches!(f.as_slice(), ["reqwest", "blocking", "Client", "new"])
            }
            _ => false,
        },
        Expr::MethodCall(m) if m.method == "build" => builds_client(&m.receiver, uses),
        Expr::Try(t) => mentions_client(&t.expr, uses),
        Expr::MethodCall(m) if ["unwrap", "expect", "unwrap_or_default"].contains(&ident(&m.method).as_str()) => {
            mentions_client(&m.receiver, uses)
        }
        _ => false,
    }
}

pub(super) fn builds_client(e: &Expr, uses: &[(String, Vec<String>)]) -> bool {
    match e {
        Expr::MethodCall(m) => builds_client(&m.receiver, uses),
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                let full = full_path(&p.path, uses);
                let f: Vec<&str> = full.iter().map(String::as_str).collect();
                matches!(
                    f.as_slice(),
                    ["reqwest", "blocking", "Client", "builder"] | ["reqwest", "blocking", "ClientBuilder", "new"]
                )
            }
            _ => false,
        },
        _ => false,
    }
}

/// The `client.get(url)….send()` calls of a file: (the `send` call, the URL's span, uses JSON).
pub(super) struct Sends<'c, 'a> {
    pub(super) clients: &'c Clients,
    pub(super) file: usize,
    pub(super) stack: Vec<&'a Expr>,
    /// (the `send` call, the verb's call, the URL, whether it uses JSON).
    pub(super) found: Vec<(&'a syn::ExprMethodCall, proc_macro2::Span, LineColumn, proc_macro2::Span, bool)>,
    pub(super) error: Option<(String, LineColumn)>,
}

impl<'a> Visit<'a> for Sends<'_, 'a> {
    fn visit_expr(&mut self, e: &'a Expr) {
        self.stack.push(e);
        if let Expr::MethodCall(m) = e
            && m.method == "send"
            && m.args.is_empty()
            && self.error.is_none()
        {
            // Down the chain to the verb, through the request's settings.
            let mut unknown = None;
            let mut json = false;
            let mut at = &*m.receiver;
            while let Expr::MethodCall(r) = at {
                let name = ident(&r.method);
                if VERBS.contains(&name.as_str()) && r.args.len() == 1 && self.clients.is(&r.receiver, self.file) {
                    if let Some(u) = unknown {
                        self.error = Some(u);
                    } else {
                        match response_chain(&self.stack) {
                            Ok(j) => {
                                let url = r.args.first().map_or_else(proc_macro2::Span::call_site, Spanned::span);
                                self.found.push((m, r.span(), r.method.span().start(), url, json || j));
                            }
                            Err(u) => self.error = Some(u),
                        }
                    }
                    break;
                }
                if name == "json" {
                    json = true;
                }
                if !REQUEST.contains(&name.as_str()) {
                    unknown = Some((name, r.method.span().start()));
                }
                at = &r.receiver;
            }
        }
        visit::visit_expr(self, e);
        self.stack.pop();
    }
}

/// The verb a `send` chain starts with.
pub(super) fn verb_of(send: &syn::ExprMethodCall) -> Option<String> {
    let mut at = &*send.receiver;
    while let Expr::MethodCall(r) = at {
        let name = ident(&r.method);
        if VERBS.contains(&name.as_str()) {
            return Some(name);
        }
        at = &r.receiver;
    }
    None
}

/// Checks what is called on the response of the call last in `exprs` (its
/// enclosing expressions before it): whether it reads JSON, or the first
/// method the shim lacks.
pub(super) fn response_chain(exprs: &[&Expr]) -> Result<bool, (String, LineColumn)> {
    #[derive(PartialEq)]
    enum State {
        Result,
        Response,
    }
    let mut state = State::Result;
    let mut json = false;
    let Some((mut child, parents)) = exprs.split_last() else { return Ok(false) };
    for parent in parents.iter().rev() {
        match parent {
            Expr::Paren(_) => {}
            Expr::Try(t) if std::ptr::eq(&*t.expr, *child) => state = State::Response,
            Expr::MethodCall(m) if std::ptr::eq(&*m.receiver, *child) => {
                let name = ident(&m.method);
                match state {
                    State::Result => match name.as_str() {
                        "map_err" | "context" | "with_context" | "ok" => {}
                        "unwrap" | "expect" => state = State::Response,
                        _ => break,
                    },
                    State::Response => {
                        if !RESPONSE.contains(&name.as_str()) {
                            return Err((name, m.method.span().start()));
                        }
                        json |= name == "json";
                        match name.as_str() {
                            "error_for_status" | "error_for_status_ref" => state = State::Result,
                            _ => break,
                        }
                    }
                }
            }
            _ => break,
        }
        child = parent;
    }
    Ok(json)
}

/// Checks the settings of `Client::builder()…` (the call last in `exprs`).
pub(super) fn builder_chain(exprs: &[&Expr]) -> Result<(), (String, LineColumn)> {
    let Some((mut child, parents)) = exprs.split_last() else { return Ok(()) };
    for parent in parents.iter().rev() {
        let Expr::MethodCall(m) = parent else { break };
        if !std::ptr::eq(&*m.receiver, *child) {
            break;
        }
        let name = ident(&m.method);
        if name == "build" {
            break;
        }
        if !BUILDER.contains(&name.as_str()) {
            return Err((name, m.method.span().start()));
        }
        child = parent;
    }
    Ok(())
}

/// Whether a file calls a method `json` (on a response kept in a variable, say).
pub(super) fn calls_json(file: &SourceFile) -> bool {
    struct V(bool);
    impl<'a> Visit<'a> for V {
        fn visit_expr_method_call(&mut self, m: &'a syn::ExprMethodCall) {
            self.0 |= m.method == "json";
            visit::visit_expr_method_call(self, m);
        }
    }
    let mut v = V(false);
    v.visit_file(&file.ast);
    v.0
}
