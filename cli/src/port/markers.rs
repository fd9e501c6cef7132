//! Markers: what is left blocks WebAssembly and needs the author.
//!
//! After the rewrites the crate is scanned again, for the target it now
//! builds for; every finding left gets a comment on the line above its
//! statement, `// wasp port: <what> (<kind>): <the choice>`, and a
//! [`Marker`] in the summary. The code itself is not touched: the port
//! never guesses where a choice is the author's (keep a part native in a
//! hybrid plugin, ask the app, drop a feature). A comment already there
//! (a second run) is not written twice.

use std::collections::BTreeMap;

use super::edit::{Edits, Lines};
use super::{Marker, PortError, Work};
use crate::analyze::source::Target;
use crate::analyze::{BlockerKind, Location};

/// How every marker comment starts.
pub(crate) const PREFIX: &str = "// wasp port: ";

pub(crate) fn run(work: &mut Work) -> Result<(), PortError> {
    let files = work.parse()?;
    let sites = work.sites(&files);
    // On wasm32-wasip1 the clock and randomness left as they were work, with their permissions.
    if work.target == Target::Wasip1 {
        for site in work.sites_for(&files, Target::Unknown) {
            let (permission, what) = match site.blocker.kind {
                BlockerKind::Clock => ("clock", "the clock"),
                BlockerKind::Random => ("random", "randomness"),
                _ => continue,
            };
            if work.permissions.insert(permission.to_owned()) {
                work.notes.push(format!(
                    "{what} read where no `Context` reaches stays as it was: on wasm32-wasip1 it works with `{permission}`"
                ));
            }
        }
    }
    for (i, file) in files.iter().enumerate() {
        let lines = Lines::new(&file.text);
        // One comment per line of code, naming each finding on it.
        let mut by_line: BTreeMap<usize, Vec<(BlockerKind, String, String)>> = BTreeMap::new();
        for site in &sites {
            let Some(l) = &site.blocker.location else { continue };
            if l.file != file.rel {
                continue;
            }
            let instead = work
                .original_location(&l.file, l.line, l.column)
                .and_then(|at| work.choices.get(&(at.file, at.line)))
                .unwrap_or(&site.blocker.instead);
            let found = (site.blocker.kind, site.blocker.what.clone(), instead.clone());
            let entry = by_line.entry(l.line).or_default();
            if !entry.contains(&found) {
                entry.push(found);
            }
        }
        let mut edits = Edits::default();
        // Comments go above the first line of the statement; lines shift by the comments above them.
        let mut added = 0;
        for (line, found) in by_line {
            let (start, _) = lines.line_range(line);
            let above = line.checked_sub(1).map(|l| lines.line_range(l)).map(|(s, e)| file.text[s..e].trim());
            let indent = lines.indent(line);
            let mut text = String::new();
            for (kind, what, instead) in &found {
                let comment = format!("{PREFIX}{what} ({}): {instead}", kind.title());
                if above.is_some_and(|a| a == comment) {
                    continue;
                }
                text.push_str(&format!("{indent}{comment}\n"));
            }
            let written = text.lines().count();
            added += written;
            for (kind, what, instead) in found {
                work.markers.push(Marker {
                    kind,
                    location: Location {
                        file: file.rel.clone(),
                        line: line + added,
                        column: indent.chars().count() + 1,
                    },
                    what,
                    choice: instead,
                });
            }
            if !text.is_empty() {
                edits.insert(start, text);
            }
        }
        if !edits.is_empty() {
            work.texts[i].current = edits.apply(&file.text);
        }
    }
    Ok(())
}
