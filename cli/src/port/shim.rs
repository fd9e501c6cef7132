//! `src/wasp_port.rs`: the host services, in the shape of what they replace.
//!
//! The rewrites call these instead of the std or crate APIs they replace,
//! each with the same types, so the code around a call stays as it was.
//! Only the parts the rewrites use are written; the file is a plain module
//! of the crate (`mod wasp_port;` in its root), the author's to keep or
//! fold into the code.

use super::edit::{Edits, Lines};
use super::{PortError, Work};

/// The file the parts go to, and the module's name.
pub(crate) const FILE: &str = "src/wasp_port.rs";

/// A part of `src/wasp_port.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Part {
    Clock,
    Instant,
    Env,
    Random,
    /// `rand`'s generators; needs [`Part::Random`].
    Rng,
    Ureq,
    Reqwest,
    /// reqwest's JSON bodies; needs [`Part::Reqwest`], and `serde` and `serde_json` in `[dependencies]`.
    ReqwestJson,
    Tcp,
    Opener,
}

impl Part {
    /// Every part, in the order the file holds them.
    pub(crate) const ALL: [Part; 10] = [
        Part::Clock,
        Part::Instant,
        Part::Env,
        Part::Random,
        Part::Rng,
        Part::Ureq,
        Part::Reqwest,
        Part::ReqwestJson,
        Part::Tcp,
        Part::Opener,
    ];

    pub(crate) fn source(self) -> &'static str {
        match self {
            Self::Clock => include_str!("shim/clock.rs"),
            Self::Instant => include_str!("shim/instant.rs"),
            Self::Env => include_str!("shim/env.rs"),
            Self::Random => include_str!("shim/random.rs"),
            Self::Rng => include_str!("shim/rng.rs"),
            Self::Ureq => include_str!("shim/ureq.rs"),
            Self::Reqwest => include_str!("shim/reqwest.rs"),
            Self::ReqwestJson => include_str!("shim/reqwest_json.rs"),
            Self::Tcp => include_str!("shim/tcp.rs"),
            Self::Opener => include_str!("shim/opener.rs"),
        }
    }
}

/// The text of `src/wasp_port.rs` with `parts`.
pub(crate) fn text(parts: impl IntoIterator<Item = Part>) -> String {
    let mut out = include_str!("shim/header.rs").to_owned();
    for part in parts {
        out.push_str(part.source());
    }
    out
}

/// Writes `src/wasp_port.rs` and declares it in the crate's root, when a rewrite uses it.
pub(crate) fn add(work: &mut Work) -> Result<(), PortError> {
    if work.shims.is_empty() {
        return Ok(());
    }
    let before = std::fs::read_to_string(work.dir.join(FILE)).ok();
    work.other.push((FILE.to_owned(), before, text(work.shims.iter().copied())));
    let root = work.root().to_owned();
    let Some(i) = work.texts.iter().position(|t| t.rel == root) else { return Ok(()) };
    let current = work.texts[i].current.clone();
    let ast =
        syn::parse_file(&current).map_err(|e| PortError::Rewrite { file: root.clone(), message: e.to_string() })?;
    let declared = ast.items.iter().any(|item| matches!(item, syn::Item::Mod(m) if m.ident == "wasp_port"));
    if declared {
        return Ok(());
    }
    // After the last `use` or `mod` at the top of the root, else after its inner docs.
    let lines = Lines::new(&current);
    let anchor = ast
        .items
        .iter()
        .take_while(|item| matches!(item, syn::Item::Use(_) | syn::Item::Mod(_) | syn::Item::ExternCrate(_)))
        .last()
        .map(|item| lines.line_range(syn::spanned::Spanned::span(item).end().line).1);
    let at = anchor.unwrap_or_else(|| {
        ast.attrs.last().map_or(0, |a| lines.line_range(syn::spanned::Spanned::span(a).end().line).1)
    });
    let mut edits = Edits::default();
    edits.insert(at, "\nmod wasp_port;\n");
    work.texts[i].current = edits.apply(&current);
    Ok(())
}
