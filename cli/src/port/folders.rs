//! Folders: the plugin's own folder under a host folder becomes `/data`.
//!
//! A native plugin keeps its files in a folder of its own under the user's
//! data, cache or home folder, or the temporary one:
//! `dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("todo")`.
//! A WASI plugin has a folder of its own already, which it sees as `/data`
//! (permission `fs.write:$DATA`): the whole expression, the host folder
//! and the name under it, becomes `PathBuf::from("/data")`, and `std::fs`
//! on the paths built from it keeps working once the crate is built for
//! `wasm32-wasip1`. The name only kept the plugin apart from other programs
//! in a shared folder; in `/data` the plugin is alone (what computed only
//! that name goes with it, see [`cleanup`](super::cleanup)). A host folder
//! used without a name under it becomes `/data` itself, with its type kept
//! (`Some(..)` for `dirs`, `Ok(..)` for `current_dir`).

use syn::Expr;
use syn::spanned::Spanned;

use super::ast::{self, Node};
use super::edit::{Edits, Lines};
use super::{PortError, Work};
use crate::analyze::catalog;
use crate::analyze::crates;
use crate::analyze::source::Target;

/// What the plugin's folder becomes.
pub(crate) const DATA: &str = "std::path::PathBuf::from(\"/data\")";

/// Methods that take a folder out of an `Option` or `Result` without changing it.
const UNWRAPS: &[&str] =
    &["unwrap", "expect", "unwrap_or_else", "unwrap_or_default", "unwrap_or", "ok_or", "ok_or_else"];

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    let files = work.parse()?;
    let sites = work.sites(&files);
    let mut changed = false;
    for (i, file) in files.iter().enumerate() {
        let lines = Lines::new(&file.text);
        let mut edits = Edits::default();
        let mut done: Vec<(usize, usize, String)> = Vec::new();
        for site in sites.iter().filter(|s| s.blocker.location.as_ref().is_some_and(|l| l.file == file.rel)) {
            let is_folder = site.blocker.instead == catalog::FS_PATHS || site.blocker.instead == crates::DIRS;
            let root = site.path.iter().map(String::as_str).collect::<Vec<_>>();
            let typed_root = match root.as_slice() {
                ["std", "env", "temp_dir"] => DATA.to_owned(),
                ["std", "env", "home_dir"] | ["dirs" | "dirs_next" | "home", _] => format!("Some({DATA})"),
                ["std", "env", "current_dir"] => format!("std::io::Result::Ok({DATA})"),
                _ => continue,
            };
            if !is_folder {
                continue;
            }
            let Some(way) = ast::path_to(&file.ast, site.start, site.end) else { continue };
            let Some((outer, name)) = folder_expression(&way) else { continue };
            let (start, end) = (lines.offset(outer.span().start()), lines.offset(outer.span().end()));
            if let Some((_, _, into)) = done.iter().find(|(s, e, _)| *s == start && *e == end) {
                // Another host folder of the same expression (the fallback of `unwrap_or_else`).
                let into = into.clone();
                work.rewrote(site.blocker.kind, Some(site), site.blocker.what.clone(), into);
                continue;
            }
            if edits.overlaps(start, end) {
                continue;
            }
            let called = matches!(way.last(), Some(Node::Expr(Expr::Call(_))));
            let bare = outer.span().start() == site.start && outer.span().end() == site.end;
            let replacement = match (name, bare) {
                (None, true) if called => typed_root,
                (None, true) => continue, // a bare `std::env::temp_dir` handed to something else
                _ => DATA.to_owned(),
            };
            let name = name.map(|n| file.text[lines.offset(n.span().start())..lines.offset(n.span().end())].to_owned());
            let old = file.text[start..end].to_owned();
            edits.replace(start, end, replacement.clone());
            done.push((start, end, replacement.clone()));
            let what = old.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = &name;
            work.rewrote(site.blocker.kind, Some(site), what, replacement);
            if root == ["std", "env", "temp_dir"] {
                work.notes.push(
                    "the plugin's files were in a temporary folder; `/data` is kept across restarts of the plugin \
                     and the host: remove what cleaned the folder up if they should stay"
                        .to_owned(),
                );
            }
        }
        if !edits.is_empty() {
            changed = true;
            work.texts[i].current = edits.apply(&file.text);
        }
    }
    if changed {
        work.target = Target::Wasip1;
        work.permissions.insert("fs.write:$DATA".to_owned());
        work.notes.dedup();
    }
    Ok(())
}

/// From a host folder (the end of `way`), up through unwrapping, to the
/// folder the plugin owns: the `.join(name)` on it (with the name's text),
/// or the unwrapped host folder itself (no name).
fn folder_expression<'a>(way: &[Node<'a>]) -> Option<(&'a Expr, Option<&'a Expr>)> {
    let mut at = way.len().checked_sub(1)?;
    let Node::Expr(mut current) = way[at] else { return None };
    while at > 0 {
        let Node::Expr(parent) = way[at - 1] else { break };
        match parent {
            Expr::MethodCall(m) if std::ptr::eq(&*m.receiver, current) => {
                let method = m.method.to_string();
                if method == "join" {
                    return Some((parent, m.args.first()));
                }
                if !UNWRAPS.contains(&method.as_str()) {
                    break;
                }
            }
            // The fallback of `dirs::data_dir().unwrap_or_else(std::env::temp_dir)`.
            Expr::MethodCall(m) if UNWRAPS.contains(&m.method.to_string().as_str()) => {}
            Expr::Try(_) | Expr::Paren(_) => {}
            _ => break,
        }
        current = parent;
        at -= 1;
    }
    Some((current, None))
}
