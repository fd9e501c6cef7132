//! reqwest's blocking client → the host's HTTP service, through
//! `crate::wasp_port::reqwest` (`shim/reqwest.rs`), which has reqwest's
//! names and types.
//!
//! Every path that starts with `reqwest` (in code, types and `use`s) is
//! made to start with `crate::wasp_port::reqwest`; the calls that make a
//! request are given the `Context`: `reqwest::blocking::get(url)` →
//! `….get(url, ctx)`, `client.get(url)….send()` → `….send(ctx)`. The rest
//! of the code keeps its types: `Client`, `Response`, `StatusCode`,
//! `reqwest::Error`.
//!
//! A crate's reqwest is one piece: a `Client` made in one function sends
//! in another. So it is rewritten whole or not at all. It is left as it
//! was, every call marked, when anything in it has no faithful host
//! equivalent: a builder or request setting the shim does not have
//! (cookies, proxies, custom TLS, multipart bodies, forms), an item of
//! reqwest it does not have, the async client, a call inside a macro, or a
//! request where no `Context` reaches (checked by the caller).

mod chains;

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, UseTree};

use self::chains::{Clients, Sends, builder_chain, calls_json, response_chain, verb_of};
use super::ast::{self, Node};
use super::edit::Lines;
use super::services::{HOSTS_NOTE, Planned, literal_host};
use super::shim::Part;
use crate::analyze::names::{ident, use_leaves};
use crate::analyze::source::{Site, SourceFile};
use crate::analyze::{Blocker, BlockerKind, Location};

/// `ClientBuilder` settings the shim honours.
const BUILDER: &[&str] = &["timeout", "user_agent"];
/// `RequestBuilder` settings the shim honours.
const REQUEST: &[&str] = &["header", "bearer_auth", "query", "timeout", "body", "json"];
/// `Response` methods the shim has.
const RESPONSE: &[&str] =
    &["status", "headers", "content_length", "error_for_status", "error_for_status_ref", "text", "bytes", "json"];
/// The `Client` methods that start a request.
const VERBS: &[&str] = &["get", "post", "put", "patch", "delete", "head"];
/// The `StatusCode` constants the shim has.
const STATUS: &[&str] = &[
    "OK",
    "CREATED",
    "NO_CONTENT",
    "NOT_MODIFIED",
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "TOO_MANY_REQUESTS",
    "INTERNAL_SERVER_ERROR",
    "SERVICE_UNAVAILABLE",
];

/// The rewrite of a crate's reqwest.
#[derive(Default)]
pub(crate) struct Group {
    /// The calls: each recorded as a rewrite; those that send need the `Context`.
    pub(crate) planned: Vec<Planned>,
    /// `reqwest` → `crate::wasp_port::reqwest`: (file, start, end).
    pub(crate) roots: Vec<(usize, usize, usize)>,
}

/// Why a crate's reqwest is left as it was.
pub(crate) struct Refused(pub(crate) String);

/// Whether a site is a use of reqwest.
pub(crate) fn is_reqwest(site: &Site) -> bool {
    site.path.first().is_some_and(|p| p == "reqwest")
}

/// The rewrite of every use of reqwest in `files` (`sites`: the analyzer's findings).
pub(crate) fn plan(files: &[SourceFile], sites: &[Site]) -> Result<Group, Refused> {
    let mut group = Group::default();
    let entries: Vec<&Site> = sites.iter().filter(|s| is_reqwest(s)).collect();
    if entries.is_empty() {
        return Ok(group);
    }
    let place = |file: &SourceFile, at: LineColumn| format!("{}:{}", file.rel, at.line);
    let mut clients = Clients::default();
    let mut json = false;
    // `client.get(url)` calls the analyzer found: (file, start, end, line).
    let mut verbs = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if shadowed(file) {
            continue;
        }
        let lines = Lines::new(&file.text);
        let mut paths = Paths { lines: &lines, found: Vec::new(), in_macro: None, uses: Vec::new() };
        paths.visit_file(&file.ast);
        if let Some(at) = paths.in_macro {
            return Err(Refused(format!(
                "reqwest is used inside a macro ({}), which the port cannot rewrite",
                place(file, at)
            )));
        }
        for (start, end, rest, at) in paths.found {
            if !supported(&rest) {
                let path = format!("reqwest::{}", rest.join("::"));
                return Err(Refused(format!("`{path}` ({}) has no host equivalent in the port", place(file, at))));
            }
            group.roots.push((i, start, end));
        }
        clients.collect(file, &paths.uses);
    }
    // The calls the analyzer found: `blocking::get(url)` sends; `Client::new()` and `Client::builder()` make a client.
    for site in &entries {
        let Some(l) = &site.blocker.location else { continue };
        let Some(i) = files.iter().position(|f| f.rel == l.file) else { continue };
        let file = &files[i];
        if shadowed(file) {
            continue;
        }
        let p: Vec<&str> = site.path.iter().map(String::as_str).collect();
        let Some(way) = ast::path_to(&file.ast, site.start, site.end) else {
            return Err(Refused(format!("`{}` ({}:{}) is inside a macro", p.join("::"), l.file, l.line)));
        };
        let exprs: Vec<&Expr> =
            way.iter().filter_map(|n| if let Node::Expr(e) = n { Some(*e) } else { None }).collect();
        let lines = Lines::new(&file.text);
        let text = |s: proc_macro2::Span| file.text[lines.offset(s.start())..lines.offset(s.end())].to_owned();
        match p.as_slice() {
            ["reqwest", "blocking", "get"] => {
                let Some(Expr::Call(call)) = exprs.last() else { return Err(refuse_call(site)) };
                let Some(url) = call.args.first() else { return Err(refuse_call(site)) };
                json |= response_chain(&exprs).map_err(|m| refused_method(file, m))?;
                let at = lines.offset(call.paren_token.span.close().start());
                let what = one_line(&text(call.span()));
                let into = format!("crate::wasp_port::{}, ctx)", what.trim_end_matches(')'));
                group.planned.push(planned(
                    i,
                    (*site).clone(),
                    vec![(at, at, ", ctx".into())],
                    what,
                    into,
                    &text(url.span()),
                ));
            }
            ["reqwest", "blocking", "Client", "new"]
            | ["reqwest", "blocking", "Client" | "ClientBuilder", "builder" | "new"] => {
                builder_chain(&exprs).map_err(|m| refused_method(file, m))?;
                let Some(call) = exprs.last() else { return Err(refuse_call(site)) };
                let what = one_line(&text(call.span()));
                let into = if what.starts_with("reqwest::") {
                    format!("crate::wasp_port::{what}")
                } else {
                    format!("{what}, of `crate::wasp_port::reqwest`")
                };
                let mut p = planned(i, (*site).clone(), Vec::new(), what, into, "");
                p.needs_ctx = false;
                p.permissions.clear();
                p.note = None;
                group.planned.push(p);
                clients.entries.push((i, site.start, site.end));
            }
            // `client.get(url)`: rewritten with the `send` that follows it, below.
            ["reqwest", "blocking", "Client", _] => verbs.push((i, site.start, site.end, l.line)),
            _ => {
                return Err(Refused(format!(
                    "`{}` ({}:{}) is reqwest's async client, or a part the port does not have",
                    p.join("::"),
                    l.file,
                    l.line
                )));
            }
        }
    }
    // `client.get(url)….send()`.
    let mut sent = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if shadowed(file) {
            continue;
        }
        let mut sends = Sends { clients: &clients, file: i, stack: Vec::new(), found: Vec::new(), error: None };
        sends.visit_file(&file.ast);
        if let Some(m) = sends.error {
            return Err(refused_method(file, m));
        }
        let lines = Lines::new(&file.text);
        for (send, verb, start, url, uses_json) in sends.found {
            json |= uses_json;
            sent.push((i, verb.start(), verb.end()));
            let at = lines.offset(send.paren_token.span.close().start());
            let url = one_line(&file.text[lines.offset(url.start())..lines.offset(url.end())]);
            let shown = if url.chars().count() > 48 {
                format!("{}…", url.chars().take(47).collect::<String>())
            } else {
                url.clone()
            };
            let what = format!(".{}({shown})….send()", verb_of(send).unwrap_or_default());
            let site = Site {
                blocker: Blocker {
                    kind: BlockerKind::Net,
                    location: Some(Location { file: file.rel.clone(), line: start.line, column: start.column + 1 }),
                    what: what.clone(),
                    detail: None,
                    instead: String::new(),
                },
                path: Vec::new(),
                start,
                end: send.span().end(),
            };
            let into = "….send(ctx)".to_owned();
            group.planned.push(planned(i, site, vec![(at, at, "ctx".into())], what, into, &url));
        }
    }
    if let Some((i, .., line)) = verbs.iter().find(|(i, s, e, _)| !sent.contains(&(*i, *s, *e))) {
        let file = files[*i].rel.as_str();
        return Err(Refused(format!(
            "a request made at {file}:{line} is not sent in the same expression (`….send()`)"
        )));
    }
    // A response kept in a variable can be read as JSON too: any `.json(…)` call in the crate counts.
    if (json || files.iter().any(calls_json))
        && let Some(p) = group.planned.first_mut()
    {
        p.parts.push(Part::ReqwestJson);
    }
    Ok(group)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn refuse_call(site: &Site) -> Refused {
    Refused(format!("`{}` is not called the way reqwest's is", site.path.join("::")))
}

fn refused_method(file: &SourceFile, (method, at): (String, LineColumn)) -> Refused {
    Refused(format!("`.{method}(…)` ({}:{}) has no host equivalent in the port", file.rel, at.line))
}

/// A planned request: the `net:` permission of its URL when it names the host.
fn planned(
    file: usize,
    site: Site,
    edits: Vec<(usize, usize, String)>,
    what: String,
    into: String,
    url: &str,
) -> Planned {
    let (permissions, note) = match literal_host(url) {
        Some(host) => (vec![format!("net:{host}")], None),
        None => (Vec::new(), Some(HOSTS_NOTE.to_owned())),
    };
    Planned {
        file,
        holder: None,
        needs_ctx: true,
        edits,
        kind: BlockerKind::Net,
        site,
        what,
        into,
        parts: vec![Part::Reqwest],
        permissions,
        config: None,
        note,
    }
}

/// Whether reqwest has an item by this path (after `reqwest::`) in the shim.
fn supported(rest: &[String]) -> bool {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        [] | ["Error" | "Result" | "StatusCode" | "blocking"] => true,
        ["StatusCode", c] => STATUS.contains(c),
        ["blocking", "get" | "Client" | "ClientBuilder" | "RequestBuilder" | "Response" | "Error" | "Result"] => true,
        ["blocking", "Client", "new" | "builder"] | ["blocking", "ClientBuilder", "new"] => true,
        _ => false,
    }
}

/// Whether a file binds the name `reqwest` itself (a module, a renamed import): its paths are not the crate's.
fn shadowed(file: &SourceFile) -> bool {
    let mut leaves = Vec::new();
    for item in &file.ast.items {
        let name = match item {
            syn::Item::Mod(m) => ident(&m.ident),
            syn::Item::Fn(f) => ident(&f.sig.ident),
            syn::Item::Struct(s) => ident(&s.ident),
            syn::Item::Enum(e) => ident(&e.ident),
            syn::Item::Const(c) => ident(&c.ident),
            syn::Item::Static(s) => ident(&s.ident),
            syn::Item::Use(u) => {
                use_leaves(&u.tree, &mut Vec::new(), &mut leaves);
                continue;
            }
            _ => continue,
        };
        if name == "reqwest" {
            return true;
        }
    }
    leaves.iter().any(|(name, path)| name == "reqwest" && path.iter().map(String::as_str).ne(["reqwest"]))
}

/// The paths of a file that start with `reqwest`: (start, end of `reqwest`, the rest, where).
struct Paths<'l> {
    lines: &'l Lines<'l>,
    found: Vec<(usize, usize, Vec<String>, LineColumn)>,
    in_macro: Option<LineColumn>,
    /// The file's imports: (name, path).
    uses: Vec<(String, Vec<String>)>,
}

impl Paths<'_> {
    fn root(&mut self, colon: Option<proc_macro2::Span>, root: &syn::Ident, rest: Vec<String>) {
        let start = colon.unwrap_or_else(|| root.span()).start();
        let (s, e) = (self.lines.offset(start), self.lines.offset(root.span().end()));
        self.found.push((s, e, rest, start));
    }
}

impl<'a> Visit<'a> for Paths<'_> {
    fn visit_path(&mut self, p: &'a syn::Path) {
        if p.segments.len() > 1 && p.segments[0].ident == "reqwest" {
            let rest = p.segments.iter().skip(1).map(|s| ident(&s.ident)).collect();
            self.root(p.leading_colon.map(|c| c.spans[0]), &p.segments[0].ident, rest);
        }
        visit::visit_path(self, p);
    }

    fn visit_item_use(&mut self, u: &'a syn::ItemUse) {
        use_leaves(&u.tree, &mut Vec::new(), &mut self.uses);
        if let UseTree::Path(p) = &u.tree
            && p.ident == "reqwest"
        {
            let mut leaves = Vec::new();
            use_leaves(&p.tree, &mut Vec::new(), &mut leaves);
            for (_, rest) in &leaves {
                if !supported(rest) {
                    let at = p.ident.span().start();
                    let (s, e) = (self.lines.offset(at), self.lines.offset(at));
                    self.found.push((s, e, rest.clone(), at));
                }
            }
            self.root(u.leading_colon.map(|c| c.spans[0]), &p.ident, Vec::new());
        }
    }

    fn visit_macro(&mut self, m: &'a syn::Macro) {
        if self.in_macro.is_none() {
            self.in_macro = crate_named(m.tokens.clone());
        }
    }
}

/// Where `reqwest` (not `wasp_port::reqwest`) is named in tokens.
fn crate_named(tokens: proc_macro2::TokenStream) -> Option<LineColumn> {
    let mut after_colons = false;
    for tree in tokens {
        match tree {
            proc_macro2::TokenTree::Ident(i) if i == "reqwest" && !after_colons => return Some(i.span().start()),
            proc_macro2::TokenTree::Group(g) => {
                if let Some(at) = crate_named(g.stream()) {
                    return Some(at);
                }
            }
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' => {
                after_colons = true;
                continue;
            }
            _ => {}
        }
        after_colons = false;
    }
    None
}
