//! The analyzer measured on plugin crates written the native way, without
//! the tool in mind: `examples/migration/legacy` and the crates of
//! `tests/fixtures/port/`. Each crate's true blockers were counted by hand
//! (`tests/fixtures/port/<crate>.blockers`, one `file:line kind` each); a
//! finding counts as found when a true blocker of its kind is on its line.
//! The figures are the ones `docs/migration.md` reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use wasp_cli::analyze::{AnalyzeOptions, analyze};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/port")
}

/// `(file, line, kind)` → how many.
type Tally = BTreeMap<(String, usize, String), usize>;

fn truth(name: &str) -> Tally {
    let path = fixtures().join(format!("{name}.blockers"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut tally = Tally::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let (place, kind) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
        let (file, number) = place.rsplit_once(':').unwrap_or_else(|| panic!("bad line `{line}`"));
        let number = number.parse().unwrap_or_else(|_| panic!("bad line number in `{line}`"));
        *tally.entry((file.to_owned(), number, kind.to_owned())).or_default() += 1;
    }
    tally
}

/// What the source scan finds, as a tally like [`truth`]'s.
fn found(dir: &Path) -> Tally {
    let options = AnalyzeOptions { cargo_check: false, ..AnalyzeOptions::default() };
    let report = analyze(dir, &options).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut tally = Tally::new();
    for b in &report.blockers {
        let location = b.location.as_ref().expect("a source finding has a place");
        let kind = serde_json::to_value(b.kind).expect("a kind").as_str().expect("a string").to_owned();
        *tally.entry((location.file.clone(), location.line, kind)).or_default() += 1;
    }
    tally
}

/// (true blockers, found, false findings) of one crate, and the misses and false ones.
fn measure(truth: &Tally, found: &Tally) -> (usize, usize, usize, Vec<String>) {
    let mut hits = 0;
    let mut notes = Vec::new();
    for (key, &n) in truth {
        let f = found.get(key).copied().unwrap_or(0);
        hits += n.min(f);
        if f < n {
            notes.push(format!("missed {}:{} {}", key.0, key.1, key.2));
        }
    }
    let total_found: usize = found.values().sum();
    for (key, &f) in found {
        if f > truth.get(key).copied().unwrap_or(0) {
            notes.push(format!("false   {}:{} {}", key.0, key.1, key.2));
        }
    }
    (truth.values().sum(), hits, total_found - hits, notes)
}

#[test]
fn the_analyzer_finds_the_blockers_of_native_crates() {
    let crates = [
        ("legacy", Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/migration/legacy")),
        ("todo-json", fixtures().join("todo-json")),
        ("feed-reader", fixtures().join("feed-reader")),
        ("clipboard-history", fixtures().join("clipboard-history")),
        ("weather", fixtures().join("weather")),
    ];
    let (mut all_true, mut all_hits, mut all_false) = (0, 0, 0);
    let mut table = String::new();
    for (name, dir) in &crates {
        let (true_blockers, hits, false_findings, notes) = measure(&truth(name), &found(dir));
        table.push_str(&format!("{name:18} {hits:3} of {true_blockers:3} found, {false_findings} false\n"));
        for note in notes {
            table.push_str(&format!("    {note}\n"));
        }
        all_true += true_blockers;
        all_hits += hits;
        all_false += false_findings;
    }
    println!("{table}total: {all_hits} of {all_true} found, {all_false} false");
    // The figures of docs/migration.md.
    assert_eq!((all_true, all_hits, all_false), (52, 52, 0), "\n{table}");
}
