//! The port as a unified diff and a summary.

use std::fmt;

use similar::{ChangeTag, TextDiff};

use super::{FileChange, Port, Work};

/// The line of `original` that line `line` of `current` was, if it was there unchanged.
pub(crate) fn original_line(original: &str, current: &str, line: usize) -> Option<usize> {
    let diff = TextDiff::from_lines(original, current);
    for change in diff.iter_all_changes() {
        if change.new_index() == Some(line - 1) {
            return match change.tag() {
                ChangeTag::Equal => change.old_index().map(|i| i + 1),
                _ => None,
            };
        }
    }
    None
}

/// The unified diff of one file (`/dev/null` for a new one).
fn unified(path: &str, before: Option<&str>, after: &str) -> String {
    let old = before.unwrap_or("");
    let diff = TextDiff::from_lines(old, after);
    let from = if before.is_some() { format!("a/{path}") } else { "/dev/null".to_owned() };
    diff.unified_diff().context_radius(3).header(&from, &format!("b/{path}")).to_string()
}

pub(crate) fn finish(work: Work) -> Port {
    let mut files = Vec::new();
    for t in &work.texts {
        if t.current != t.original {
            let diff = unified(&t.rel, Some(&t.original), &t.current);
            files.push(FileChange {
                path: t.rel.clone(),
                before: Some(t.original.clone()),
                after: t.current.clone(),
                diff,
            });
        }
    }
    for (path, before, after) in &work.other {
        if before.as_deref() != Some(after.as_str()) {
            let diff = unified(path, before.as_deref(), after);
            files.push(FileChange { path: path.clone(), before: before.clone(), after: after.clone(), diff });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let target = match work.target {
        crate::analyze::source::Target::Wasip1 => "wasm32-wasip1",
        crate::analyze::source::Target::Unknown => "wasm32-unknown-unknown",
    };
    let mut notes = work.notes;
    notes.dedup();
    Port {
        crate_name: work.manifest.name,
        dir: work.dir,
        target: target.to_owned(),
        files,
        rewrites: work.rewrites,
        removed: work.removed,
        markers: work.markers,
        permissions: work.permissions.into_iter().collect(),
        notes,
    }
}

impl fmt::Display for Port {
    /// The summary: what was rewritten, removed and left, the permissions, the notes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = |l: Option<&crate::analyze::Location>| l.map_or_else(|| "(moved)".to_owned(), ToString::to_string);
        writeln!(
            f,
            "{}: {} rewritten, {} removed, {} left for you; builds for {}",
            self.crate_name,
            self.rewrites.len(),
            self.removed.len(),
            self.markers.len(),
            self.target
        )?;
        if !self.rewrites.is_empty() {
            writeln!(f, "\nrewritten")?;
            for r in &self.rewrites {
                writeln!(f, "  {}  {} -> {}", place(r.location.as_ref()), r.what, r.into)?;
            }
        }
        if !self.removed.is_empty() {
            writeln!(f, "\nremoved (unused after the rewrites)")?;
            for r in &self.removed {
                writeln!(f, "  {}  {}", place(r.location.as_ref()), r.code)?;
            }
        }
        if !self.markers.is_empty() {
            writeln!(f, "\nleft for you (marked `// wasp port:`)")?;
            for m in &self.markers {
                writeln!(f, "  {}  {} -> {}", m.location, m.what, m.choice)?;
            }
        }
        writeln!(
            f,
            "\npermissions: {}",
            if self.permissions.is_empty() { "none".to_owned() } else { self.permissions.join(", ") }
        )?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        let changed: Vec<&str> = self.files.iter().map(|c| c.path.as_str()).collect();
        writeln!(f, "files: {}", if changed.is_empty() { "none".to_owned() } else { changed.join(", ") })
    }
}
