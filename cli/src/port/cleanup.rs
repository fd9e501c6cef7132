//! Clean-up: what the rewrites left unused goes.
//!
//! A rewrite can leave code with nothing to do: `let pid = getpid();` that
//! only named a folder that is now `/data`, the `extern` block declaring
//! `getpid`, a `static` counter, a `use` of what is no longer called, the
//! `let state = Arc::clone(..)` a thread captured. The compiler would warn
//! of each, and some would still stand in the way (a call to C links C).
//! Only what the crate used before the port and no longer uses is removed
//! (a `let` binding, a private function, `static` or `const`, an `extern`
//! block, a `use`), with the comments above it; the summary lists each.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{Item, Stmt, UseTree};

use super::ast;
use super::edit::{Edits, Lines};
use super::{PortError, Removed, Work};
use crate::analyze::names::ident;

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    let originals: Vec<syn::File> = work.texts.iter().filter_map(|t| syn::parse_file(&t.original).ok()).collect();
    let original_counts = counts(work.texts.iter().map(|t| t.original.as_str()));
    // Each round can orphan more (the `static` only a removed `let` used).
    for _ in 0..8 {
        let files = work.parse()?;
        let counts_now = counts(files.iter().map(|f| f.text.as_str()));
        let mut removed_any = false;
        for (i, file) in files.iter().enumerate() {
            let lines = Lines::new(&file.text);
            let mut edits = Edits::default();
            let mut removed = Vec::new();
            let original = originals.get(i);
            // Items the crate no longer names.
            dead_items(&file.ast.items, &lines, &counts_now, &original_counts, &mut edits, &mut removed);
            for (f, _) in ast::functions(&file.ast) {
                dead_items_in_block(f.block(), &lines, &counts_now, &original_counts, &mut edits, &mut removed);
                let before = original.and_then(|o| original_fn(o, &f.name()));
                dead_lets(f.block(), &lines, before, &mut edits, &mut removed);
            }
            dead_uses(
                &file.ast.items,
                &lines,
                &file_counts(&file.text),
                original.map(|_| file_counts(&work.texts[i].original)),
                &mut edits,
                &mut removed,
            );
            if edits.is_empty() {
                continue;
            }
            removed_any = true;
            for (line, code, why) in removed {
                let location = work.original_location(&file.rel, line, 1);
                work.removed.push(Removed { location, code, why });
            }
            work.texts[i].current = edits.apply(&file.text);
        }
        if !removed_any {
            break;
        }
    }
    Ok(())
}

/// How often each identifier appears in `texts`.
fn counts<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for text in texts {
        for (name, n) in file_counts(text) {
            *out.entry(name).or_default() += n;
        }
    }
    out
}

fn file_counts(text: &str) -> HashMap<String, usize> {
    let text = without_port_paths(text);
    let mut names = Vec::new();
    if let Ok(tokens) = text.parse::<TokenStream>() {
        ast::idents(tokens, &mut names);
    }
    let mut out = HashMap::new();
    for n in names {
        *out.entry(n).or_default() += 1;
    }
    out
}

/// `text` with the names of `crate::wasp_port::` paths hidden: a call of
/// `crate::wasp_port::TcpStream` does not use the `TcpStream` a `use`
/// brought in, nor `crate::wasp_port::ureq::get` the `ureq` crate. What a
/// `use` imports from the port stays visible.
pub(crate) fn without_port_paths(text: &str) -> String {
    text.replace("use crate::wasp_port::", "use crate::WASP_PORT::")
        .replace("crate::wasp_port::", "crate::wasp_port::__")
        .replace("use crate::WASP_PORT::", "use crate::wasp_port::")
}

/// The byte range of the lines of `span`, with the `//` comment lines right above it.
pub(crate) fn lines_of(lines: &Lines<'_>, span: proc_macro2::Span) -> (usize, usize) {
    let mut first = span.start().line;
    while first > 1 {
        let (s, e) = lines.line_range(first - 1);
        let above = lines.text()[s..e].trim_start();
        if above.starts_with("//") && !above.starts_with("///") && !above.starts_with("//!") {
            first -= 1;
        } else {
            break;
        }
    }
    let (start, _) = lines.line_range(first);
    let (_, end) = lines.line_range(span.end().line);
    (start, end)
}

fn first_line(lines: &Lines<'_>, span: proc_macro2::Span) -> String {
    let (s, e) = lines.line_range(span.start().line);
    lines.text()[s..e].trim().to_owned()
}

type Found = Vec<(usize, String, String)>;

/// Private functions, statics, consts and `extern` blocks nothing names any more.
fn dead_items(
    items: &[Item],
    lines: &Lines<'_>,
    now: &HashMap<String, usize>,
    before: &HashMap<String, usize>,
    edits: &mut Edits,
    removed: &mut Found,
) {
    for item in items {
        let names: Vec<String> = match item {
            Item::Fn(f) if matches!(f.vis, syn::Visibility::Inherited) => vec![ident(&f.sig.ident)],
            Item::Static(s) if matches!(s.vis, syn::Visibility::Inherited) => vec![ident(&s.ident)],
            Item::Const(c) if matches!(c.vis, syn::Visibility::Inherited) => vec![ident(&c.ident)],
            Item::ForeignMod(f) => f
                .items
                .iter()
                .filter_map(|i| match i {
                    syn::ForeignItem::Fn(f) => Some(ident(&f.sig.ident)),
                    syn::ForeignItem::Static(s) => Some(ident(&s.ident)),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        // Named only where declared now, and somewhere else before.
        let dead = !names.is_empty()
            && names.iter().all(|n| now.get(n).copied().unwrap_or(0) <= 1 && before.get(n).copied().unwrap_or(0) > 1);
        if dead {
            let (s, e) = lines_of(lines, item.span());
            if !edits.overlaps(s, e) {
                edits.replace(s, e, "");
                removed.push((
                    item.span().start().line,
                    first_line(lines, item.span()),
                    "nothing uses it any more".into(),
                ));
            }
        }
    }
}

fn dead_items_in_block(
    block: &syn::Block,
    lines: &Lines<'_>,
    now: &HashMap<String, usize>,
    before: &HashMap<String, usize>,
    edits: &mut Edits,
    removed: &mut Found,
) {
    let items: Vec<Item> = block
        .stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Item(i) => Some(i.clone()),
            _ => None,
        })
        .collect();
    dead_items(&items, lines, now, before, edits, removed);
}

/// The function `name` of the original file.
fn original_fn<'a>(file: &'a syn::File, name: &str) -> Option<&'a syn::Block> {
    ast::functions(file).into_iter().find(|(f, _)| f.name() == name).map(|(f, _)| f.block())
}

/// `let` statements whose names nothing after them uses any more, though something did before.
fn dead_lets(
    block: &syn::Block,
    lines: &Lines<'_>,
    before: Option<&syn::Block>,
    edits: &mut Edits,
    removed: &mut Found,
) {
    let text = lines.text();
    let block_end = lines.offset(block.brace_token.span.close().start());
    for stmt in &block.stmts {
        if let Stmt::Local(local) = stmt {
            let names = ast::let_names(local);
            if names.is_empty() || names.iter().any(|n| n == "_" || n.starts_with('_')) {
                continue;
            }
            let after = lines.offset(stmt.span().end());
            let rest = text.get(after..block_end).unwrap_or_default();
            let used_now = uses(rest, &names);
            let used_before = before.is_some_and(|b| original_uses(b, &names));
            // `let (program, args) = …` where only `args` went unused: `_args`.
            if used_now && names.len() > 1 {
                for (name, span) in pattern_idents(&local.pat) {
                    let unused = !uses(rest, std::slice::from_ref(&name));
                    if unused && before.is_some_and(|b| original_uses(b, std::slice::from_ref(&name))) {
                        let at = lines.offset(span.start());
                        if !edits.overlaps(at, at + name.len()) {
                            edits.replace(at, at + name.len(), format!("_{name}"));
                        }
                    }
                }
            }
            if !used_now && used_before {
                let (s, e) = lines_of(lines, stmt.span());
                if !edits.overlaps(s, e) {
                    edits.replace(s, e, "");
                    removed.push((
                        stmt.span().start().line,
                        first_line(lines, stmt.span()),
                        "it was only used by code the port replaced".into(),
                    ));
                }
            }
        }
        // Blocks inside the statement.
        let mut inner = Blocks(Vec::new());
        syn::visit::Visit::visit_stmt(&mut inner, stmt);
        for b in inner.0 {
            let before_inner = before; // the same function: names are looked for in all of it
            dead_lets(&b, lines, before_inner, edits, removed);
        }
    }
}

/// The identifiers a pattern binds, at their places.
fn pattern_idents(pat: &syn::Pat) -> Vec<(String, proc_macro2::Span)> {
    match pat {
        syn::Pat::Ident(i) => vec![(ident(&i.ident), i.ident.span())],
        syn::Pat::Type(t) => pattern_idents(&t.pat),
        syn::Pat::Tuple(t) => t.elems.iter().flat_map(pattern_idents).collect(),
        syn::Pat::TupleStruct(t) => t.elems.iter().flat_map(pattern_idents).collect(),
        _ => Vec::new(),
    }
}

/// Whether the original function used any of `names` after binding them.
fn original_uses(block: &syn::Block, names: &[String]) -> bool {
    let tokens = quote::ToTokens::to_token_stream(block);
    let text = tokens.to_string();
    let mut all = Vec::new();
    ast::idents(tokens, &mut all);
    names.iter().any(|n| all.iter().filter(|a| *a == n).count() > 1 || in_format(&text, n))
}

/// Whether a format string names `name`: `"{name}"`, `"{name:?}"`.
fn in_format(text: &str, name: &str) -> bool {
    text.contains(&format!("{{{name}}}")) || text.contains(&format!("{{{name}:"))
}

fn uses(text: &str, names: &[String]) -> bool {
    let Ok(tokens) = text.parse::<TokenStream>() else { return true };
    let mut all = Vec::new();
    ast::idents(tokens, &mut all);
    // A `format!("{name}")` names a variable inside a string.
    names.iter().any(|n| all.contains(n) || in_format(text, n))
}

/// The blocks directly inside a statement (not inside closures' own statements twice).
struct Blocks(Vec<syn::Block>);

impl<'a> syn::visit::Visit<'a> for Blocks {
    fn visit_block(&mut self, b: &'a syn::Block) {
        self.0.push(b.clone());
    }
}

/// `use` leaves nothing in the file names any more.
fn dead_uses(
    items: &[Item],
    lines: &Lines<'_>,
    now: &HashMap<String, usize>,
    before: Option<HashMap<String, usize>>,
    edits: &mut Edits,
    removed: &mut Found,
) {
    let Some(before) = before else { return };
    for item in items {
        let Item::Use(u) = item else { continue };
        let mut leaves = Vec::new();
        leaf_spans(&u.tree, &mut leaves);
        for (name, span) in leaves {
            if now.get(&name).copied().unwrap_or(0) <= 1
                && before.get(&name).copied().unwrap_or(0) > 1
                && let Some((s, e, text)) = remove_leaf(lines, u, span)
                && !edits.overlaps(s, e)
            {
                edits.replace(s, e, text);
                removed.push((span.start().line, format!("use of `{name}`"), "nothing uses it any more".into()));
            }
        }
    }
}

/// The names a `use` tree binds, at their spans (`self` and globs are kept).
fn leaf_spans(tree: &UseTree, out: &mut Vec<(String, proc_macro2::Span)>) {
    match tree {
        UseTree::Path(p) => leaf_spans(&p.tree, out),
        UseTree::Name(n) if n.ident != "self" => out.push((ident(&n.ident), n.span())),
        UseTree::Rename(r) if r.rename != "_" => out.push((ident(&r.rename), r.span())),
        UseTree::Group(g) => g.items.iter().for_each(|t| leaf_spans(t, out)),
        _ => {}
    }
}

/// The edit that removes one leaf of a `use`: from its group, or the whole `use` when it is the only one.
pub(crate) fn remove_leaf(
    lines: &Lines<'_>,
    u: &syn::ItemUse,
    leaf: proc_macro2::Span,
) -> Option<(usize, usize, String)> {
    fn group_of(tree: &UseTree, leaf: proc_macro2::Span) -> Option<&syn::UseGroup> {
        match tree {
            UseTree::Path(p) => group_of(&p.tree, leaf),
            UseTree::Group(g) => {
                for t in &g.items {
                    if t.span().start() == leaf.start() && matches!(t, UseTree::Name(_) | UseTree::Rename(_)) {
                        return Some(g);
                    }
                    if let Some(inner) = group_of(t, leaf) {
                        return Some(inner);
                    }
                }
                None
            }
            _ => None,
        }
    }
    let Some(group) = group_of(&u.tree, leaf) else {
        let (s, e) = lines_of(lines, u.span());
        return Some((s, e, String::new()));
    };
    let items: Vec<&UseTree> = group.items.iter().collect();
    let at = items.iter().position(|t| t.span().start() == leaf.start())?;
    if items.len() == 1 {
        let (s, e) = lines_of(lines, u.span());
        return Some((s, e, String::new()));
    }
    // `{A, B}` less `B` is `A`.
    if items.len() == 2 {
        let kept = items[1 - at].span();
        let text = lines.text()[lines.offset(kept.start())..lines.offset(kept.end())].to_owned();
        let (s, e) =
            (lines.offset(group.brace_token.span.open().start()), lines.offset(group.brace_token.span.close().end()));
        return Some((s, e, text));
    }
    let (s, e) = if at > 0 {
        (lines.offset(items[at - 1].span().end()), lines.offset(items[at].span().end()))
    } else {
        (lines.offset(items[0].span().start()), lines.offset(items[1].span().start()))
    };
    Some((s, e, String::new()))
}
