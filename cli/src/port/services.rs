//! Services: what the operating system did becomes a host service.
//!
//! Each rewrite keeps the type the code around it expects, so nothing
//! else changes, and goes through `src/wasp_port.rs` ([`shim`](super::shim)):
//!
//! | native | ported | permission |
//! | --- | --- | --- |
//! | `SystemTime::now()` | `wasp_port::system_time(ctx)` | `clock` |
//! | `Instant::now()`, `t.elapsed()` | `wasp_port::Instant::now(ctx)`, `t.elapsed(ctx)` | `clock` |
//! | `std::env::var("NAME")` | `wasp_port::env_var("name", ctx)` (the `[config]` key) | `config` |
//! | `getrandom::fill(buf)`, `getrandom::getrandom(buf)` | `wasp_port::fill_random(buf, ctx)` | `random` |
//! | `rand::random::<T>()` | `wasp_port::random::<T>(ctx)` | `random` |
//! | `rand::thread_rng()`, `rand::rng()`, `rand::random_range(r)` | `wasp_port::thread_rng(ctx)`, `wasp_port::random_range(r, ctx)` (and `use rand::Rng` → the port's `Rng`: `port/rng.rs`) | `random` |
//! | `ureq::get(url)….call()` | `wasp_port::ureq::get(url)….call(ctx)` | `net:<host>` |
//! | `reqwest::blocking::…`, `client.get(url)….send()` | `crate::wasp_port::reqwest::…`, `….send(ctx)`, the crate's whole reqwest or none of it (`port/reqwest.rs`) | `net:<host>` |
//! | `TcpStream::connect(addr)` writing an HTTP request | `wasp_port::TcpStream::connect(addr, ctx)` | `net:<host>` |
//! | `Command::new("xdg-open")….arg(url).status()`, `webbrowser::open`, `open::that` | `wasp_port::open_url(url, "<plugin>.open", ctx)` | `publish:`, `ui:` |
//!
//! Only calls in functions that can be given the `Context` are rewritten
//! ([`context`](super::context)); the others are left to the markers.

use std::collections::BTreeSet;

use syn::Expr;
use syn::spanned::Spanned;

use super::ast::{self, Node};
use super::context::{self, FnKey};
use super::edit::Lines;
use super::reqwest;
use super::rng;
use super::shim::Part;
use super::{PortError, Work};
use crate::analyze::BlockerKind;
use crate::analyze::source::{Site, SourceFile, Target};

/// Programs that open a URL with the user's browser.
const OPENERS: &[&str] = &["xdg-open", "open", "cmd", "start", "explorer", "gio", "sensible-browser", "x-www-browser"];
/// Literal arguments an opener is started with, besides the URL.
const OPENER_ARGS: &[&str] = &["/C", "/c", "start", "", "open", "url.dll,FileProtocolHandler"];

/// One planned rewrite.
pub(crate) struct Planned {
    pub(crate) file: usize,
    /// The function holding it.
    pub(crate) holder: Option<FnKey>,
    /// Whether it passes the `Context` (else it needs no function to have it).
    pub(crate) needs_ctx: bool,
    /// Byte ranges and their replacements (a call can need two edits).
    pub(crate) edits: Vec<(usize, usize, String)>,
    pub(crate) kind: BlockerKind,
    pub(crate) site: Site,
    pub(crate) what: String,
    pub(crate) into: String,
    pub(crate) parts: Vec<Part>,
    pub(crate) permissions: Vec<String>,
    pub(crate) config: Option<(String, String)>,
    pub(crate) note: Option<String>,
}

/// What the summary says when requests go to hosts the code does not name.
pub(crate) const HOSTS_NOTE: &str =
    "the HTTP requests go to hosts the code does not name: grant `net:<host>` for each host the plugin may reach";

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    let files = work.parse()?;
    // Clocks and randomness work on wasm32-wasip1 too, but the host's are the plugin's in every form.
    let sites = work.sites_for(&files, Target::Unknown);
    let topic = format!("{}.open", work.plugin);
    let mut planned = Vec::new();
    for site in &sites {
        let Some(l) = &site.blocker.location else { continue };
        let Some(i) = files.iter().position(|f| f.rel == l.file) else { continue };
        if let Some(mut p) = plan_site(&files[i], site, &topic) {
            p.file = i;
            p.holder = context::holder(&files, i, site.start);
            planned.push(p);
        }
    }
    // reqwest: the whole crate's, or none of it.
    let mut group = match reqwest::plan(&files, &sites) {
        Ok(group) => group,
        Err(why) => {
            refuse_reqwest(work, &sites, &why.0);
            reqwest::Group::default()
        }
    };
    for p in &mut group.planned {
        p.holder = context::holder(&files, p.file, p.site.start);
    }
    let needs = |planned: &[Planned], group: &reqwest::Group| -> BTreeSet<FnKey> {
        planned.iter().chain(&group.planned).filter(|p| p.needs_ctx).filter_map(|p| p.holder).collect()
    };
    let mut plan = context::plan(&files, &needs(&planned, &group));
    if let Some(p) = group.planned.iter().find(|p| p.needs_ctx && !p.holder.is_some_and(|h| plan.can.contains(&h))) {
        let at = p.site.blocker.location.as_ref().map(|l| format!("{}:{}", l.file, l.line)).unwrap_or_default();
        let why = format!("`{}` ({at}) is where no `Context` reaches", p.what);
        refuse_reqwest(work, &sites, &why);
        group = reqwest::Group::default();
        plan = context::plan(&files, &needs(&planned, &group));
    }
    for (file, start, end) in &group.roots {
        plan.edits[*file].replace(*start, *end, "crate::wasp_port::reqwest");
    }
    planned.extend(group.planned);
    let mut edits = plan.edits;
    let mut taken = false;
    let mut rng_files = BTreeSet::new();
    for p in planned {
        // A call where no `Context` can reach stays, for the markers.
        if p.needs_ctx && !p.holder.is_some_and(|h| plan.can.contains(&h)) {
            continue;
        }
        if p.edits.iter().any(|(s, e, _)| edits[p.file].overlaps(*s, *e)) {
            continue;
        }
        for (s, e, text) in &p.edits {
            edits[p.file].replace(*s, *e, text.clone());
        }
        taken = true;
        if p.parts.contains(&Part::Rng) {
            rng_files.insert(p.file);
        }
        work.shims.extend(p.parts.iter().copied());
        work.permissions.extend(p.permissions.iter().cloned());
        if let Some(c) = p.config
            && !work.config.contains(&c)
        {
            work.config.push(c);
        }
        if let Some(n) = p.note
            && !work.notes.contains(&n)
        {
            work.notes.push(n);
        }
        work.rewrote(p.kind, Some(&p.site), p.what, p.into);
    }
    let uses_instant = work.shims.contains(&Part::Instant);
    for (i, e) in edits.iter_mut().enumerate() {
        if uses_instant {
            instant_type(&files[i], e);
        }
        if rng_files.contains(&i) {
            rng::trait_in_scope(&files[i], e);
        }
    }
    if taken || edits.iter().any(|e| !e.is_empty()) {
        for (i, e) in edits.into_iter().enumerate() {
            if !e.is_empty() {
                work.texts[i].current = e.apply(&files[i].text);
            }
        }
    }
    Ok(())
}

/// Leaves the crate's reqwest as it was: each of its calls is marked with why, and the choice.
fn refuse_reqwest(work: &mut Work, sites: &[Site], why: &str) {
    let choice = format!(
        "{why}; the crate's reqwest client is ported whole or not at all, so it is left as it was: \
         keep the HTTP part native in a hybrid plugin, or make these requests with `ctx.http` (permission `net:<host>`)"
    );
    for site in sites.iter().filter(|s| reqwest::is_reqwest(s)) {
        let Some(l) = &site.blocker.location else { continue };
        if let Some(at) = work.original_location(&l.file, l.line, l.column) {
            work.choices.insert((at.file, at.line), choice.clone());
        }
    }
    let note = format!("reqwest left as it was: {why}");
    if !work.notes.contains(&note) {
        work.notes.push(note);
    }
}

fn is(site: &Site, want: &[&str]) -> bool {
    site.path.iter().map(String::as_str).eq(want.iter().copied())
}

/// The rewrite of one finding, if it has one.
fn plan_site(file: &SourceFile, site: &Site, topic: &str) -> Option<Planned> {
    let lines = Lines::new(&file.text);
    let (start, end) = (lines.offset(site.start), lines.offset(site.end));
    let text = &file.text[start..end];
    let call: Expr = syn::parse_str(text).ok()?;
    let sub = Lines::new(text);
    let piece = |s: proc_macro2::Span| &text[sub.offset(s.start())..sub.offset(s.end())];
    let arg = |i: usize| match &call {
        Expr::Call(c) => c.args.iter().nth(i).map(|a| piece(a.span()).to_owned()),
        _ => None,
    };
    let args = match &call {
        Expr::Call(c) => c.args.len(),
        Expr::MethodCall(m) => m.args.len(),
        _ => usize::MAX,
    };
    let mut p = Planned {
        file: 0,
        holder: None,
        needs_ctx: true,
        edits: Vec::new(),
        kind: site.blocker.kind,
        site: site.clone(),
        what: text.split_whitespace().collect::<Vec<_>>().join(" "),
        into: String::new(),
        parts: Vec::new(),
        permissions: Vec::new(),
        config: None,
        note: None,
    };
    let whole = |p: &mut Planned, into: String| {
        p.edits.push((start, end, into.clone()));
        p.into = into;
    };
    if is(site, &["std", "time", "SystemTime", "now"]) && args == 0 {
        whole(&mut p, "crate::wasp_port::system_time(ctx)".into());
        p.parts.push(Part::Clock);
        p.permissions.push("clock".into());
    } else if is(site, &["std", "time", "Instant", "now"]) && args == 0 {
        whole(&mut p, "crate::wasp_port::Instant::now(ctx)".into());
        p.parts.push(Part::Instant);
        p.permissions.push("clock".into());
    } else if is(site, &["std", "time", "Instant", "elapsed"]) && text.ends_with("()") {
        p.edits.push((end - 2, end, "(ctx)".into()));
        p.into = format!("{}(ctx)", &text[..text.len() - 2]);
        p.parts.push(Part::Instant);
        p.permissions.push("clock".into());
    } else if is(site, &["std", "time", "SystemTime", "elapsed"]) && args == 0 {
        let Expr::MethodCall(m) = &call else { return None };
        whole(&mut p, format!("crate::wasp_port::system_time(ctx).duration_since({})", piece(m.receiver.span())));
        p.parts.push(Part::Clock);
        p.permissions.push("clock".into());
    } else if (is(site, &["std", "env", "var"]) || is(site, &["std", "env", "var_os"])) && args == 1 {
        let Expr::Call(c) = &call else { return None };
        let Some(Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(name), .. })) = c.args.first() else { return None };
        let key = name.value().to_lowercase();
        let f = if is(site, &["std", "env", "var"]) { "env_var" } else { "env_var_os" };
        whole(&mut p, format!("crate::wasp_port::{f}({key:?}, ctx)"));
        p.parts.push(Part::Env);
        p.permissions.push("config".into());
        p.config = Some((key, name.value()));
    } else if (is(site, &["getrandom", "fill"]) || is(site, &["getrandom", "getrandom"])) && args == 1 {
        whole(&mut p, format!("crate::wasp_port::fill_random({}, ctx)", arg(0)?));
        p.parts.push(Part::Random);
        p.permissions.push("random".into());
    } else if is(site, &["rand", "random"]) && args == 0 {
        let Expr::Call(c) = &call else { return None };
        let Expr::Path(path) = &*c.func else { return None };
        let turbofish = path.path.segments.last().map(|s| piece(s.arguments.span()).to_owned()).unwrap_or_default();
        let turbofish =
            if turbofish.is_empty() { String::new() } else { format!("::{}", turbofish.trim_start_matches("::")) };
        whole(&mut p, format!("crate::wasp_port::random{turbofish}(ctx)"));
        p.parts.push(Part::Random);
        p.permissions.push("random".into());
    } else if (is(site, &["rand", "thread_rng"]) || is(site, &["rand", "rng"])) && args == 0 {
        whole(&mut p, "crate::wasp_port::thread_rng(ctx)".into());
        p.parts.extend([Part::Random, Part::Rng]);
        p.permissions.push("random".into());
    } else if (is(site, &["rand", "random_range"]) || is(site, &["rand", "random_bool"])) && args == 1 {
        whole(&mut p, format!("crate::wasp_port::{}({}, ctx)", site.path[1], arg(0)?));
        p.parts.extend([Part::Random, Part::Rng]);
        p.permissions.push("random".into());
    } else if is(site, &["uuid", "Uuid", "new_v4"]) && args == 0 {
        whole(&mut p, "uuid::Builder::from_random_bytes(crate::wasp_port::random(ctx)).into_uuid()".into());
        p.parts.push(Part::Random);
        p.permissions.push("random".into());
    } else if site.path.len() == 2
        && site.path[0] == "ureq"
        && ["get", "post", "put", "delete"].contains(&site.path[1].as_str())
    {
        return ureq(file, site, p, arg(0)?, start, end);
    } else if is(site, &["std", "net", "TcpStream", "connect"]) && args == 1 {
        let holder_text = holder_text(file, site)?;
        if !(holder_text.contains("HTTP/1.") && (holder_text.contains("\"GET ") || holder_text.contains("\"POST "))) {
            return None; // a socket that does not speak HTTP
        }
        whole(&mut p, format!("crate::wasp_port::TcpStream::connect({}, ctx)", arg(0)?));
        p.parts.push(Part::Tcp);
        p.note = Some(HOSTS_NOTE.into());
    } else if is(site, &["std", "process", "Command", "new"]) && args == 1 {
        return opener(file, site, p, topic);
    } else if (is(site, &["webbrowser", "open"]) || is(site, &["open", "that"])) && args == 1 {
        whole(&mut p, format!("crate::wasp_port::open_url({}, {topic:?}, ctx).map(drop)", arg(0)?));
        p.parts.push(Part::Opener);
        p.permissions.extend([format!("publish:{topic}"), format!("ui:{topic}")]);
    } else {
        return None;
    }
    Some(p)
}

/// The text of the function holding a site.
fn holder_text<'f>(file: &'f SourceFile, site: &Site) -> Option<&'f str> {
    let (f, _) = ast::functions(&file.ast).into_iter().find(|(f, _)| {
        let span = match f {
            ast::FnRef::Free(x) => x.span(),
            ast::FnRef::Method(x) => x.span(),
        };
        span.start() <= site.start && site.end <= span.end()
    })?;
    let span = match f {
        ast::FnRef::Free(x) => x.span(),
        ast::FnRef::Method(x) => x.span(),
    };
    let lines = Lines::new(&file.text);
    Some(&file.text[lines.offset(span.start())..lines.offset(span.end())])
}

/// `ureq::get(url)` and the call that sends it: `….call()` → `….call(ctx)`.
fn ureq(file: &SourceFile, site: &Site, mut p: Planned, url: String, start: usize, end: usize) -> Option<Planned> {
    let way = ast::path_to(&file.ast, site.start, site.end)?;
    let lines = Lines::new(&file.text);
    let mut send = None;
    for node in way.iter().rev().skip(1) {
        let Node::Expr(Expr::MethodCall(m)) = node else { break };
        match m.method.to_string().as_str() {
            "timeout" | "set" | "query" => {}
            "call" | "send_string" | "send_bytes" => {
                send = Some((m.paren_token.span.close().start(), m.args.is_empty(), m.method.to_string()));
                break;
            }
            _ => break,
        }
    }
    let (close, empty, method) = send?;
    let method_of = &site.path[1];
    p.edits.push((start, end, format!("crate::wasp_port::ureq::{method_of}({url})")));
    let at = lines.offset(close);
    p.edits.push((at, at, if empty { "ctx".into() } else { ", ctx".into() }));
    p.into = format!("crate::wasp_port::ureq::{method_of}({url})….{method}(…ctx)");
    p.parts.push(Part::Ureq);
    match literal_host(&url) {
        Some(host) => p.permissions.push(format!("net:{host}")),
        None => {
            p.note = Some(HOSTS_NOTE.into());
        }
    }
    Some(p)
}

/// The host of a URL written as a string literal, or as a `format!` whose
/// string names the host (`format!("https://api.example.com/v1?q={city}")`).
pub(crate) fn literal_host(url: &str) -> Option<String> {
    let url = url.trim();
    let url = match url.strip_prefix("format!(").or_else(|| url.strip_prefix("&format!(")) {
        Some(args) => {
            let args: syn::punctuated::Punctuated<Expr, syn::Token![,]> =
                syn::parse::Parser::parse_str(syn::punctuated::Punctuated::parse_terminated, args.strip_suffix(')')?)
                    .ok()?;
            let Some(Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. })) = args.first() else { return None };
            s.value()
        }
        None => url.strip_prefix('"')?.strip_suffix('"')?.to_owned(),
    };
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !host.contains(['{', '}', '@'])).then(|| host.to_owned())
}

/// `Command::new(<URL opener>)….arg(url).status()` → `wasp_port::open_url(url, topic, ctx)`.
fn opener(file: &SourceFile, site: &Site, mut p: Planned, topic: &str) -> Option<Planned> {
    let way = ast::path_to(&file.ast, site.start, site.end)?;
    let lines = Lines::new(&file.text);
    let Some(Node::Expr(Expr::Call(new))) = way.last() else { return None };
    let program = new.args.first()?;
    // The chain up to `.status()` or `.spawn()`, and the last `.arg(url)` that is not a literal.
    let mut url = None;
    let mut end_expr = None;
    for node in way.iter().rev().skip(1) {
        let Node::Expr(Expr::MethodCall(m)) = node else { break };
        match m.method.to_string().as_str() {
            "arg" => {
                let a = m.args.first()?;
                if !matches!(a, Expr::Lit(_)) {
                    url = Some(a);
                }
            }
            "args" | "env" | "current_dir" | "stdout" | "stderr" | "stdin" => {}
            "status" | "spawn" => {
                end_expr = Some(*node);
                break;
            }
            _ => return None,
        }
    }
    let (Some(url), Some(Node::Expr(whole))) = (url, end_expr.map(Some).unwrap_or(None)) else { return None };
    if !is_opener(file, &way, program) {
        return None;
    }
    let text = |s: proc_macro2::Span| file.text[lines.offset(s.start())..lines.offset(s.end())].to_owned();
    let (start, end) = (lines.offset(whole.span().start()), lines.offset(whole.span().end()));
    let into = format!("crate::wasp_port::open_url({}, {topic:?}, ctx)", text(url.span()));
    p.what = text(whole.span()).split_whitespace().collect::<Vec<_>>().join(" ");
    p.edits.push((start, end, into.clone()));
    p.into = into;
    p.kind = BlockerKind::Process;
    p.parts.push(Part::Opener);
    p.permissions.extend([format!("publish:{topic}"), format!("ui:{topic}")]);
    p.note = Some(format!("the app opens the URLs now: it listens to `{topic}` (a `String`)"));
    Some(p)
}

/// Whether `program` is a URL opener: a literal one, or a local bound to one in every branch.
fn is_opener(file: &SourceFile, way: &[Node<'_>], program: &Expr) -> bool {
    let literal_opener = |e: &Expr| matches!(e, Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) if OPENERS.contains(&s.value().as_str()));
    if literal_opener(program) {
        return true;
    }
    let Expr::Path(p) = program else { return false };
    let Some(name) = p.path.get_ident().map(ToString::to_string) else { return false };
    let Some((f, _)) = ast::enclosing_fn(way) else { return false };
    let Some(local) = f.block().stmts.iter().find_map(|s| match s {
        syn::Stmt::Local(l) if ast::let_names(l).contains(&name) => Some(l),
        _ => None,
    }) else {
        return false;
    };
    let Some(init) = &local.init else { return false };
    let mut strings = Vec::new();
    string_literals(&quote::ToTokens::to_token_stream(&*init.expr), &mut strings);
    let _ = file;
    !strings.is_empty()
        && strings.iter().any(|s| OPENERS.contains(&s.as_str()))
        && strings.iter().all(|s| OPENERS.contains(&s.as_str()) || OPENER_ARGS.contains(&s.as_str()) || is_cfg_word(s))
}

/// `cfg!(target_os = "macos")`'s strings name platforms.
fn is_cfg_word(s: &str) -> bool {
    ["windows", "macos", "linux", "ios", "android", "freebsd", "unix"].contains(&s)
}

fn string_literals(tokens: &proc_macro2::TokenStream, out: &mut Vec<String>) {
    for tree in tokens.clone() {
        match tree {
            proc_macro2::TokenTree::Literal(l) => {
                if let Ok(syn::Lit::Str(s)) = syn::parse_str::<syn::Lit>(&l.to_string()) {
                    out.push(s.value());
                }
            }
            proc_macro2::TokenTree::Group(g) => string_literals(&g.stream(), out),
            _ => {}
        }
    }
}

/// Where the crate names `std::time::Instant`, it now names `crate::wasp_port::Instant`.
fn instant_type(file: &SourceFile, edits: &mut super::edit::Edits) {
    let lines = Lines::new(&file.text);
    // `use std::time::{Duration, Instant};` keeps `Duration`, and `Instant` comes from the port.
    for item in &file.ast.items {
        let syn::Item::Use(u) = item else { continue };
        let mut found = Vec::new();
        instant_leaves(&u.tree, &mut Vec::new(), &mut found);
        for span in found {
            if let Some((s, e, text)) = super::cleanup::remove_leaf(&lines, u, span) {
                edits.replace(s, e, text);
                let (_, end) = lines.line_range(u.span().end().line);
                edits.insert(end, "use crate::wasp_port::Instant;\n".to_owned());
            }
        }
    }
    // Written out in full: `std::time::Instant`.
    let mut at = 0;
    while let Some(found) = file.text[at..].find("std::time::Instant") {
        let s = at + found;
        let e = s + "std::time::Instant".len();
        if !edits.overlaps(s, e) && !file.text[e..].starts_with("::now") {
            edits.replace(s, e, "crate::wasp_port::Instant");
        }
        at = e;
    }
}

/// The spans of the `Instant` leaves of a `use std::time::…` tree.
fn instant_leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<proc_macro2::Span>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            instant_leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) if n.ident == "Instant" && prefix.iter().map(String::as_str).eq(["std", "time"]) => {
            out.push(n.ident.span());
        }
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| instant_leaves(t, prefix, out)),
        _ => {}
    }
}
