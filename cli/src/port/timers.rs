//! Threads: background work becomes timers.
//!
//! A WebAssembly plugin has no threads and must not block; the host's
//! timers deliver an event to the plugin instead, and the work runs then.
//! `std::thread::spawn(move || BODY);` (its handle dropped) is converted
//! when `BODY` is one of:
//!
//! - work done once: `ctx.set_timeout(0, ..)`;
//! - `thread::sleep(d)` then work: `ctx.set_timeout(d, ..)`;
//! - `loop { thread::sleep(d); work }`: `ctx.set_interval(d, ..)`;
//! - `loop { work; thread::sleep(d) }`: `ctx.set_timeout(0, ..)` and
//!   `ctx.set_interval(d, ..)` (the work runs at once, then every `d`).
//!
//! The work moves into a handler method (`<name>_on_timer`), which
//! `on_message` calls when the timer's event (`timer.<name>`, from `host`)
//! arrives. What the closure captured is computed again in the handler, by
//! the same `let` statements, so it may only depend on `self` and
//! constants: a capture of another argument, a `while` loop (a stop
//! condition), `break`, `return` or `?` in the work, a thread joined or
//! started where there is no `Context`, are left to the author (a marker).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Expr, Stmt};

use super::ast::{self, FnRef, Node};
use super::edit::{Edits, Lines};
use super::{PortError, Work};
use crate::analyze::names::ident;

/// One thread turned into a timer.
struct Conversion {
    file: usize,
    /// The spawn statement's byte range, and its replacement.
    stmt: (usize, usize, String),
    /// Where the handler goes, and its text.
    handler: (usize, String),
    /// The line `on_message` dispatches the timer's event with.
    dispatch: String,
    what: String,
    into: String,
    site_line: usize,
    site_column: usize,
    site_file: String,
}

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    let files = work.parse()?;
    let sites = work.sites_for(&files, crate::analyze::source::Target::Unknown);
    let sleeps: Vec<_> = sites.iter().filter(|s| is(&s.path, &["std", "thread", "sleep"])).collect();
    let mut conversions = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for site in sites.iter().filter(|s| is(&s.path, &["std", "thread", "spawn"])) {
        let Some(l) = &site.blocker.location else { continue };
        let Some(i) = files.iter().position(|f| f.rel == l.file) else { continue };
        let file = &files[i];
        let Some(way) = ast::path_to(&file.ast, site.start, site.end) else { continue };
        let lines = Lines::new(&file.text);
        let sleep_spans: Vec<_> =
            sleeps.iter().filter(|s| s.blocker.location.as_ref().is_some_and(|sl| sl.file == l.file)).collect();
        let Some(mut c) = convert(&way, &lines, &sleep_spans, &mut names) else { continue };
        c.file = i;
        c.site_file = l.file.clone();
        c.site_line = l.line;
        c.site_column = l.column;
        conversions.push(c);
    }
    if conversions.is_empty() {
        return Ok(());
    }
    // Each file's edits: the spawn statements, the handlers, the dispatch in `on_message`.
    let mut edits: Vec<Edits> = files.iter().map(|_| Edits::default()).collect();
    let mut dispatch = String::new();
    for c in &conversions {
        edits[c.file].replace(c.stmt.0, c.stmt.1, c.stmt.2.clone());
        edits[c.file].insert(c.handler.0, c.handler.1.clone());
        dispatch.push_str(&c.dispatch);
    }
    let Some((on_message_file, at)) = files.iter().enumerate().find_map(|(i, f)| {
        let (m, _) = ast::on_message(&f.ast)?;
        let lines = Lines::new(&f.text);
        Some((i, lines.offset(m.block.brace_token.span.open().end())))
    }) else {
        return Ok(()); // no `impl Plugin` with an `on_message`: nothing can receive the timer's event
    };
    edits[on_message_file].insert(at, format!("\n{}", dispatch.trim_end_matches('\n')));
    for (i, e) in edits.into_iter().enumerate() {
        if !e.is_empty() {
            work.texts[i].current = e.apply(&files[i].text);
        }
    }
    for c in conversions {
        let location = work.original_location(&c.site_file, c.site_line, c.site_column);
        work.rewrites.push(super::Rewrite {
            kind: crate::analyze::BlockerKind::Thread,
            location,
            what: c.what,
            into: c.into,
        });
    }
    work.permissions.insert("timers".to_owned());
    Ok(())
}

fn is(path: &[String], want: &[&str]) -> bool {
    path.iter().map(String::as_str).eq(want.iter().copied())
}

/// How the work repeats.
enum Shape {
    Once { delay: Option<String> },
    Every { period: String, first_now: bool },
}

fn convert(
    way: &[Node<'_>],
    lines: &Lines<'_>,
    sleeps: &[&&crate::analyze::source::Site],
    names: &mut Vec<String>,
) -> Option<Conversion> {
    let Some(Node::Expr(Expr::Call(call))) = way.last() else { return None };
    let [Expr::Closure(closure)] = call.args.iter().collect::<Vec<_>>().as_slice() else { return None };
    if !closure.inputs.is_empty() || ast::in_closure(way) {
        return None;
    }
    // The spawn is a statement of its own, its handle dropped, directly in the function's body.
    let stmt_at = way.len().checked_sub(2)?;
    let Node::Stmt(stmt) = way[stmt_at] else { return None };
    match stmt {
        Stmt::Expr(_, Some(_)) => {}
        Stmt::Local(l) if matches!(&l.pat, syn::Pat::Wild(_)) => {}
        _ => return None,
    }
    let (f, imp) = ast::enclosing_fn(way)?;
    if !std::ptr::eq(f.block(), block_of(way, stmt_at)?) || !returns_result(f) {
        return None;
    }
    let text = lines.text();
    let span_text = |s: proc_macro2::Span| &text[lines.offset(s.start())..lines.offset(s.end())];
    let is_sleep = |s: &Stmt| {
        let sp = s.span();
        matches!(s, Stmt::Expr(Expr::Call(_), Some(_)))
            && sleeps.iter().any(|z| z.start >= sp.start() && z.end <= sp.end())
    };
    let sleep_arg = |s: &Stmt| match s {
        Stmt::Expr(Expr::Call(c), _) => c.args.first().map(|a| span_text(a.span()).to_owned()),
        _ => None,
    };
    // The work's statements, and how it repeats.
    let (work, shape): (Vec<&Stmt>, Shape) = match &*closure.body {
        Expr::Loop(l) => loop_shape(&l.body.stmts, &is_sleep, &sleep_arg)?,
        Expr::Block(b) => match b.block.stmts.as_slice() {
            [Stmt::Expr(Expr::Loop(l), _)] => loop_shape(&l.body.stmts, &is_sleep, &sleep_arg)?,
            stmts => {
                let sleeps_at: Vec<usize> =
                    stmts.iter().enumerate().filter(|(_, s)| is_sleep(s)).map(|(i, _)| i).collect();
                match sleeps_at.as_slice() {
                    [] => (stmts.iter().collect(), Shape::Once { delay: None }),
                    [0] => (stmts[1..].iter().collect(), Shape::Once { delay: Some(sleep_arg(&stmts[0])?) }),
                    _ => return None,
                }
            }
        },
        _ => return None,
    };
    if work.is_empty() || leaves_early(&work) {
        return None;
    }
    // What the work captures, computed again by the same `let` statements.
    let before: Vec<&syn::Local> = f
        .block()
        .stmts
        .iter()
        .take_while(|s| !std::ptr::eq(*s, stmt))
        .filter_map(|s| match s {
            Stmt::Local(l) => Some(l),
            _ => None,
        })
        .collect();
    let params: Vec<String> = f
        .sig()
        .inputs
        .iter()
        .filter_map(|i| match i {
            syn::FnArg::Typed(t) => match &*t.pat {
                syn::Pat::Ident(p) => Some(ident(&p.ident)),
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let mut used = Vec::new();
    for s in &work {
        ast::idents(stmt_tokens(s), &mut used);
    }
    let mut captures: Vec<&syn::Local> = Vec::new();
    let mut pending = used;
    while let Some(name) = pending.pop() {
        if params.contains(&name) {
            return None; // an argument of this call: not there when the timer fires
        }
        let Some(local) = before.iter().rev().find(|l| ast::let_names(l).contains(&name)) else { continue };
        if !captures.iter().any(|c| std::ptr::eq(*c, *local)) {
            captures.push(local);
            let mut more = Vec::new();
            if let Some(init) = &local.init {
                ast::idents(expr_tokens(&init.expr), &mut more);
            }
            pending.extend(more);
        }
    }
    captures.sort_by_key(|l| l.span().start());

    // Names: after the first function the work calls, else the spawning function.
    let base = work.iter().find_map(|s| first_call(s)).unwrap_or_else(|| f.name());
    let mut base = base.trim_start_matches('_').to_owned();
    while names.contains(&base) {
        base.push('_');
    }
    names.push(base.clone());
    let topic = format!("timer.{base}");
    let handler_name = format!("{base}_on_timer");

    // The handler.
    let fn_indent = lines.indent(f.sig().fn_token.span.start().line).to_owned();
    let body_indent = format!("{fn_indent}    ");
    let mut body = String::new();
    for l in &captures {
        body.push_str(&reindent(&statement_text(lines, l.span()), &body_indent));
    }
    let first = work.first()?.span();
    let last = work.last()?;
    let mut block = statement_text(lines, first.join(last.span()).unwrap_or(first));
    if matches!(last, Stmt::Expr(_, None)) {
        block = format!("{};", block.trim_end());
    }
    body.push_str(&reindent(&block, &body_indent));
    body.push_str(&format!("{body_indent}Ok(())\n"));
    let receiver = f.sig().receiver().map(|r| span_text(r.span()).to_owned());
    let params = match &receiver {
        Some(r) => format!("{r}, ctx: &mut wasp_sdk::Context<'_>"),
        None => "ctx: &mut wasp_sdk::Context<'_>".to_owned(),
    };
    let doc = format!("{fn_indent}/// The work of the thread `{}` started, run by the timer `{topic}`.\n", f.name());
    let handler_fn = format!(
        "\n\n{doc}{fn_indent}fn {handler_name}({params}) -> Result<(), wasp_sdk::WireError> {{\n{body}{fn_indent}}}"
    );
    let inherent = imp.is_none_or(|i| i.trait_.is_none());
    let handler = match (f, imp) {
        (FnRef::Method(m), Some(_)) if inherent => (lines.offset(m.span().end()), handler_fn),
        (FnRef::Method(_), Some(i)) => {
            let name = ast::self_name(i)?;
            let inner = handler_fn.trim_start_matches('\n');
            (lines.offset(i.span().end()), format!("\n\nimpl {name} {{\n{inner}\n}}"))
        }
        _ => (lines.offset(f_span(f).end()), handler_fn),
    };
    let call = if receiver.is_some() { format!("self.{handler_name}(ctx)") } else { format!("{handler_name}(ctx)") };
    let dispatch = format!(
        "        if msg.kind == wasp_sdk::MessageKind::Event && msg.from == wasp_sdk::protocol::HOST && msg.topic == \"{topic}\" {{\n            \
         {call}?;\n            return Ok(wasp_sdk::Reply::empty());\n        }}\n"
    );

    // The spawn statement becomes the timer.
    let stmt_indent = lines.indent(stmt.span().start().line).to_owned();
    let (replacement, into) = match &shape {
        Shape::Once { delay } => {
            let ms = delay.as_deref().map_or_else(|| "0".to_owned(), millis);
            (
                format!("ctx.set_timeout({ms}, \"{topic}\", &())?;"),
                format!("ctx.set_timeout({ms}, \"{topic}\") and `{handler_name}`"),
            )
        }
        Shape::Every { period, first_now } => {
            let ms = millis(period);
            let every = format!("ctx.set_interval({ms}, \"{topic}\", &())?;");
            let text = if *first_now {
                format!("ctx.set_timeout(0, \"{topic}\", &())?;\n{stmt_indent}{every}")
            } else {
                every
            };
            (text, format!("ctx.set_interval({ms}, \"{topic}\") and `{handler_name}`"))
        }
    };
    let start = lines.offset(stmt.span().start());
    let end = lines.offset(stmt.span().end());
    Some(Conversion {
        file: 0,
        stmt: (start, end, replacement),
        handler,
        dispatch,
        what: format!("std::thread::spawn in `{}`", f.name()),
        into,
        site_line: 0,
        site_column: 0,
        site_file: String::new(),
    })
}

fn f_span(f: FnRef<'_>) -> proc_macro2::Span {
    match f {
        FnRef::Free(f) => f.span(),
        FnRef::Method(m) => m.span(),
    }
}

/// The block holding the statement at `at` on the way down.
fn block_of<'a>(way: &[Node<'a>], at: usize) -> Option<&'a syn::Block> {
    match way.get(at.checked_sub(1)?)? {
        Node::Block(b) => Some(b),
        _ => None,
    }
}

/// Whether the function returns a `Result` (the timer's `?` needs one).
fn returns_result(f: FnRef<'_>) -> bool {
    match &f.sig().output {
        syn::ReturnType::Type(_, ty) => match &**ty {
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        syn::ReturnType::Default => false,
    }
}

type StmtTest<'t> = dyn Fn(&Stmt) -> bool + 't;
type SleepArg<'t> = dyn Fn(&Stmt) -> Option<String> + 't;

/// The work and shape of `loop { .. }`: one sleep, first or last.
fn loop_shape<'a>(stmts: &'a [Stmt], is_sleep: &StmtTest<'_>, arg: &SleepArg<'_>) -> Option<(Vec<&'a Stmt>, Shape)> {
    let at: Vec<usize> = stmts.iter().enumerate().filter(|(_, s)| is_sleep(s)).map(|(i, _)| i).collect();
    match at.as_slice() {
        [0] => Some((stmts[1..].iter().collect(), Shape::Every { period: arg(&stmts[0])?, first_now: false })),
        [i] if *i + 1 == stmts.len() => {
            Some((stmts[..*i].iter().collect(), Shape::Every { period: arg(&stmts[*i])?, first_now: true }))
        }
        _ => None,
    }
}

/// Whether the work leaves its loop or closure early: a stop the timer cannot express.
fn leaves_early(work: &[&Stmt]) -> bool {
    let mut words = Vec::new();
    for s in work {
        ast::idents(stmt_tokens(s), &mut words);
    }
    if words.iter().any(|w| w == "return" || w == "break" || w == "continue") {
        return true;
    }
    work.iter().any(|s| stmt_tokens(s).to_string().contains('?'))
}

fn stmt_tokens(s: &Stmt) -> TokenStream {
    s.to_token_stream()
}

fn expr_tokens(e: &Expr) -> TokenStream {
    e.to_token_stream()
}

/// The name of the first function a statement calls.
fn first_call(s: &Stmt) -> Option<String> {
    let expr = match s {
        Stmt::Expr(e, _) => e,
        _ => return None,
    };
    match expr {
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => p.path.segments.last().map(|s| ident(&s.ident)),
            _ => None,
        },
        Expr::MethodCall(m) if matches!(&*m.receiver, Expr::Path(p) if p.path.is_ident("self")) => {
            Some(ident(&m.method))
        }
        _ => None,
    }
}

/// A duration's expression as milliseconds (`u64`).
fn millis(duration: &str) -> String {
    let compact: String = duration.split_whitespace().collect();
    for (prefix, factor) in [("Duration::from_millis(", 1u64), ("Duration::from_secs(", 1000)] {
        let inner = compact
            .strip_prefix(prefix)
            .or_else(|| compact.strip_prefix(&format!("std::time::{prefix}")))
            .and_then(|r| r.strip_suffix(')'));
        if let Some(n) = inner.and_then(|n| n.replace('_', "").parse::<u64>().ok()) {
            return n.saturating_mul(factor).to_string();
        }
        // `Duration::from_secs(secs)`: a `u64` of seconds.
        if let Some(inner) =
            inner.filter(|i| !i.is_empty() && i.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.'))
        {
            return if factor == 1 { inner.to_owned() } else { format!("{inner}.saturating_mul({factor})") };
        }
    }
    format!("u64::try_from(({duration}).as_millis()).unwrap_or(u64::MAX)")
}

/// The full lines a span covers, so comments between its statements come along.
fn statement_text(lines: &Lines<'_>, span: proc_macro2::Span) -> String {
    let (start, _) = lines.line_range(span.start().line);
    let (_, end) = lines.line_range(span.end().line);
    let text = &lines.text()[start..end];
    let first = lines.offset(span.start());
    // A statement that shares its first line with other code: from the statement on.
    if !lines.text()[start..first].trim().is_empty() {
        let end = lines.offset(span.end());
        return format!("{}\n", &lines.text()[first..end]);
    }
    if text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") }
}

/// `text` with its common indentation replaced by `indent`.
fn reindent(text: &str, indent: &str) -> String {
    let common =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    text.lines()
        .map(|l| if l.trim().is_empty() { "\n".to_owned() } else { format!("{indent}{}\n", &l[common.min(l.len())..]) })
        .collect()
}
