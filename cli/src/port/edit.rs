//! Formatting-preserving edits: a `syn` span (line and column, from
//! proc-macro2's `span-locations`) maps to a byte offset in the file's
//! text, and replacements are spliced into that text, so everything a
//! rewrite does not touch stays byte for byte as it was.

use proc_macro2::LineColumn;

/// Byte offsets of a text's lines.
#[derive(Debug)]
pub(crate) struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// The byte offset of a 1-based line and a 0-based column in characters.
    pub(crate) fn offset(&self, at: LineColumn) -> usize {
        let Some(&start) = self.starts.get(at.line.saturating_sub(1)) else { return self.text.len() };
        let line = &self.text[start..];
        start + line.char_indices().nth(at.column).map_or(line.len(), |(i, _)| i)
    }

    /// The byte range of 1-based `line`, its line break included.
    pub(crate) fn line_range(&self, line: usize) -> (usize, usize) {
        let start = self.starts.get(line.saturating_sub(1)).copied().unwrap_or(self.text.len());
        let end = self.starts.get(line).copied().unwrap_or(self.text.len());
        (start, end)
    }

    /// The whitespace a line starts with.
    pub(crate) fn indent(&self, line: usize) -> &'t str {
        let (start, end) = self.line_range(line);
        let text = &self.text[start..end];
        &text[..text.len() - text.trim_start().len()]
    }

    pub(crate) fn text(&self) -> &'t str {
        self.text
    }
}

/// One replacement of a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

/// The edits of one file, applied together.
#[derive(Debug, Default)]
pub(crate) struct Edits {
    edits: Vec<Edit>,
}

impl Edits {
    pub(crate) fn replace(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.edits.push(Edit { start, end, text: text.into() });
    }

    pub(crate) fn insert(&mut self, at: usize, text: impl Into<String>) {
        self.replace(at, at, text);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Whether a replacement already covers part of `start..end`.
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        self.edits.iter().any(|e| e.start < end && start < e.end)
    }

    /// `text` with the edits spliced in. Of two edits that overlap, the
    /// first one made wins; insertions at one place keep their order.
    pub(crate) fn apply(mut self, text: &str) -> String {
        let mut kept: Vec<Edit> = Vec::new();
        for edit in self.edits.drain(..) {
            let clash = kept.iter().any(|k| {
                (k.start < edit.end && edit.start < k.end)
                    || (k.start == k.end && edit.start < k.start && k.start < edit.end)
            });
            if !clash {
                kept.push(edit);
            }
        }
        // Stable: insertions at one offset stay in the order they were made.
        kept.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for e in kept {
            if e.start < at || e.end > text.len() {
                continue;
            }
            out.push_str(&text[at..e.start]);
            out.push_str(&e.text);
            at = e.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> LineColumn {
        LineColumn { line, column }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "fn a() {}\nlet é = \"ü\"; x()\n";
        let lines = Lines::new(text);
        assert_eq!(&text[lines.offset(at(2, 13))..], "x()\n");
        assert_eq!(lines.offset(at(9, 0)), text.len());
        assert_eq!(lines.line_range(2), (10, text.len()));
    }

    #[test]
    fn edits_splice_and_keep_the_rest() {
        let text = "let a = now();\nlet b = 2;\n";
        let mut edits = Edits::default();
        edits.replace(8, 13, "clock(ctx)");
        edits.insert(15, "// note\n");
        edits.insert(15, "// second\n");
        edits.replace(9, 10, "overlapping: dropped");
        assert_eq!(edits.apply(text), "let a = clock(ctx);\n// note\n// second\nlet b = 2;\n");
    }
}
