//! rand's generators on the host's randomness: the trait their methods
//! come from.
//!
//! `rand::thread_rng()` (`rand::rng()`) becomes
//! `crate::wasp_port::thread_rng(ctx)` ([`services`](super::services)), a
//! generator whose every value is made of `ctx.random_bytes`, with
//! `rand::Rng`'s methods (`gen`, `gen_range`, `random`, `random_range`,
//! `gen_bool`, `fill`, `fill_bytes`) from the port's own trait
//! `crate::wasp_port::Rng`. So where a file imported `rand::Rng` (or
//! `RngCore`) it now imports the port's, and `fn roll(rng: &mut impl Rng)`
//! keeps working. When the file still uses rand otherwise (a seeded
//! `StdRng`, which needs no operating system and is left alone), rand's
//! import stays and the port's trait comes in beside it, unnamed.

use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Item, UseTree};

use super::cleanup::remove_leaf;
use super::edit::{Edits, Lines};
use crate::analyze::names::ident;
use crate::analyze::source::SourceFile;

/// What `rand` gives that the port rewrites: the calls, and the traits their methods come from.
const REWRITTEN: &[&str] = &["thread_rng", "rng", "random", "random_range", "random_bool"];
const TRAITS: &[&str] = &["Rng", "RngCore"];

/// Brings `crate::wasp_port::Rng` into scope in a file whose generators the port rewrote (`edits`).
pub(crate) fn trait_in_scope(file: &SourceFile, edits: &mut Edits) {
    let lines = Lines::new(&file.text);
    // Uses of rand the port leaves: other imports, and paths the edits do not replace.
    let mut paths = RandPaths { lines: &lines, edits, left: false };
    paths.visit_file(&file.ast);
    let mut other = paths.left;
    let mut traits = Vec::new();
    for item in &file.ast.items {
        let Item::Use(u) = item else { continue };
        let UseTree::Path(root) = &u.tree else { continue };
        if root.ident != "rand" {
            continue;
        }
        rand_leaves(&root.tree, &mut Vec::new(), u, &mut traits, &mut other);
    }
    let after = |u: &syn::ItemUse| lines.line_range(u.span().end().line).1;
    if other || traits.is_empty() {
        let at = traits.first().map(|(u, _, _, _)| after(u)).or_else(|| {
            file.ast.items.iter().take_while(|i| matches!(i, Item::Use(_))).last().and_then(|i| match i {
                Item::Use(u) => Some(after(u)),
                _ => None,
            })
        });
        let at = at.unwrap_or_else(|| file.ast.attrs.last().map_or(0, |a| lines.line_range(a.span().end().line).1));
        edits.insert(at, "use crate::wasp_port::Rng as _;\n");
        return;
    }
    for (u, leaf, name, rename) in traits {
        let Some((s, e, text)) = remove_leaf(&lines, u, leaf) else { continue };
        if edits.overlaps(s, e) {
            continue;
        }
        edits.replace(s, e, text);
        let alias = match rename.as_deref() {
            Some(r) => format!(" as {r}"),
            None if name != "Rng" => format!(" as {name}"),
            None => String::new(),
        };
        edits.insert(after(u), format!("use crate::wasp_port::Rng{alias};\n"));
    }
}

/// The trait leaves of a `use rand::…` (use, leaf, name, rename); `other` when it imports anything else of rand.
fn rand_leaves<'u>(
    tree: &'u UseTree,
    prefix: &mut Vec<String>,
    u: &'u syn::ItemUse,
    out: &mut Vec<(&'u syn::ItemUse, proc_macro2::Span, String, Option<String>)>,
    other: &mut bool,
) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(ident(&p.ident));
            rand_leaves(&p.tree, prefix, u, out, other);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let name = ident(&n.ident);
            if prefix.is_empty() && TRAITS.contains(&name.as_str()) {
                out.push((u, n.span(), name, None));
            } else if !(prefix.is_empty() && REWRITTEN.contains(&name.as_str())) {
                *other = true;
            }
        }
        UseTree::Rename(r) => {
            let name = ident(&r.ident);
            if prefix.is_empty() && TRAITS.contains(&name.as_str()) {
                out.push((u, r.span(), name, Some(ident(&r.rename))));
            } else {
                *other = true;
            }
        }
        UseTree::Glob(_) => *other = true,
        UseTree::Group(g) => g.items.iter().for_each(|t| rand_leaves(t, prefix, u, out, other)),
    }
}

/// Whether a file names rand in code where the edits leave it.
struct RandPaths<'l, 'e> {
    lines: &'l Lines<'l>,
    edits: &'e Edits,
    left: bool,
}

impl<'a> Visit<'a> for RandPaths<'_, '_> {
    fn visit_path(&mut self, p: &'a syn::Path) {
        if p.segments.len() > 1 && p.segments[0].ident == "rand" {
            let (s, e) = (self.lines.offset(p.span().start()), self.lines.offset(p.span().end()));
            if !self.edits.overlaps(s, e) {
                self.left = true;
            }
        }
        visit::visit_path(self, p);
    }

    fn visit_item_use(&mut self, _: &'a syn::ItemUse) {}
}
