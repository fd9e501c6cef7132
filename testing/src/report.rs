//! Comparing transcripts, and saying how they differ.

use std::fmt;

use crate::parity::Form;
use crate::script::Script;
use crate::transcript::{MESSAGE_CODES, Observation, Outcome, Transcript};

/// What every form did in one run: one [`Transcript`] per form, in
/// [`Form::ALL`] order. Its `Display` shows the whole conversation.
#[derive(Debug, Clone)]
pub struct Report {
    subject: String,
    script: Script,
    transcripts: Vec<Transcript>,
}

impl Report {
    pub(crate) fn new(subject: String, script: Script, transcripts: Vec<Transcript>) -> Self {
        Self { subject, script, transcripts }
    }

    /// The subject's name.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The transcripts, one per form run.
    pub fn transcripts(&self) -> &[Transcript] {
        &self.transcripts
    }

    /// The transcript of `form`, if it ran.
    pub fn transcript(&self, form: Form) -> Option<&Transcript> {
        self.transcripts.iter().find(|t| t.form() == form)
    }

    /// The forms that ran.
    pub fn forms(&self) -> Vec<Form> {
        self.transcripts.iter().map(Transcript::form).collect()
    }

    /// Compares the transcripts step by step — loading first, then each
    /// step that ran in two forms or more — each form against the first
    /// that ran the step, with the rules of the [crate documentation](crate#what-is-compared).
    /// `Err` lists every step that differs.
    pub fn check(&self) -> Result<(), Mismatch> {
        let mut differences = Vec::new();
        let loads: Vec<(Form, &Observation)> = self.transcripts.iter().map(|t| (t.form(), t.load())).collect();
        if let Some(d) = compare(None, "load the peers and the subject".into(), &loads, false) {
            differences.push(d);
        }
        for (i, step) in self.script.steps().iter().enumerate() {
            let ran: Vec<(Form, &Observation)> = self
                .transcripts
                .iter()
                .filter_map(|t| t.steps().get(i).map(|o| (t.form(), o)))
                .filter(|(_, o)| o.outcome != Outcome::Excluded)
                .collect();
            if let Some(d) = compare(Some(i + 1), step.to_string(), &ran, step.codes_only) {
                differences.push(d);
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Mismatch { subject: self.subject.clone(), forms: self.forms(), differences, notes: self.exclusions() })
        }
    }

    /// Panics, showing every difference, unless every form behaved the
    /// same ([`Report::check`]).
    #[track_caller]
    pub fn assert_same(&self) {
        if let Err(mismatch) = self.check() {
            panic!("{mismatch}");
        }
    }

    /// One line per step limited to some forms.
    fn exclusions(&self) -> Vec<String> {
        self.script
            .steps()
            .iter()
            .enumerate()
            .filter_map(|(i, step)| {
                let (forms, reason) = step.limited_to()?;
                let not_run: Vec<String> =
                    self.forms().into_iter().filter(|f| !forms.contains(f)).map(|f| f.to_string()).collect();
                let not_run = if not_run.is_empty() { "no form".to_owned() } else { not_run.join(", ") };
                Some(format!("step {} ({step}) not run in {not_run}: {reason}", i + 1))
            })
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.transcripts.iter().map(|t| t.form().kind().as_str().len()).max().unwrap_or(0);
        write!(f, "parity run of `{}` in", self.subject)?;
        for (i, t) in self.transcripts.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{} (loaded as `{}`)", t.form(), t.kind())?;
        }
        writeln!(f)?;
        writeln!(f, "load:")?;
        for t in &self.transcripts {
            writeln!(f, "  {:width$}: {}", t.form().kind(), t.load())?;
        }
        for (i, step) in self.script.steps().iter().enumerate() {
            writeln!(f, "step {}: {step}", i + 1)?;
            for t in &self.transcripts {
                if let Some(o) = t.steps().get(i) {
                    writeln!(f, "  {:width$}: {o}", t.form().kind())?;
                }
            }
            if let Some((_, reason)) = step.limited_to() {
                writeln!(f, "  (limited: {reason})")?;
            }
        }
        Ok(())
    }
}

/// Compares the observations of one step; `None` when they agree.
fn compare(
    step: Option<usize>,
    description: String,
    ran: &[(Form, &Observation)],
    codes_only: bool,
) -> Option<Difference> {
    let ((_, reference), others) = ran.split_first()?;
    let mut parts: Vec<&'static str> = Vec::new();
    for (_, other) in others {
        for part in differing(reference, other, codes_only) {
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    let observations = ran.iter().map(|(form, o)| (*form, (*o).clone())).collect();
    Some(Difference { step, description, parts, observations })
}

/// The parts in which two observations differ.
fn differing(a: &Observation, b: &Observation, codes_only: bool) -> Vec<&'static str> {
    let mut parts = Vec::new();
    let same_outcome = match (&a.outcome, &b.outcome) {
        (Outcome::Error(x), Outcome::Error(y)) => {
            x.code == y.code && (codes_only || !MESSAGE_CODES.contains(&x.code) || x.message == y.message)
        }
        (x, y) => x == y,
    };
    if !same_outcome {
        parts.push("outcome");
    }
    if a.events != b.events {
        parts.push("events");
    }
    if a.incidents != b.incidents {
        parts.push("audit");
    }
    parts
}

/// One step at which the forms differ.
#[derive(Debug, Clone)]
pub struct Difference {
    step: Option<usize>,
    description: String,
    parts: Vec<&'static str>,
    observations: Vec<(Form, Observation)>,
}

impl Difference {
    /// The step's number, from 1; `None` for loading.
    pub fn step(&self) -> Option<usize> {
        self.step
    }

    /// The step, as the script describes it.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// What differs: any of `outcome`, `events`, `audit`.
    pub fn parts(&self) -> &[&'static str] {
        &self.parts
    }

    /// What each form that ran the step observed.
    pub fn observations(&self) -> &[(Form, Observation)] {
        &self.observations
    }

    /// What `form` observed, if it ran the step.
    pub fn observation(&self, form: Form) -> Option<&Observation> {
        self.observations.iter().find(|(f, _)| *f == form).map(|(_, o)| o)
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(n) => write!(f, "step {n}: {}", self.description)?,
            None => write!(f, "{}", self.description)?,
        }
        writeln!(f, " ({} differ{})", self.parts.join(", "), if self.parts.len() == 1 { "s" } else { "" })?;
        let width = self.observations.iter().map(|(form, _)| form.kind().as_str().len()).max().unwrap_or(0);
        for (form, o) in &self.observations {
            writeln!(f, "  {:width$}: {o}", form.kind())?;
        }
        Ok(())
    }
}

/// The forms did not behave the same. Its `Display` names each step that
/// differs, its description, and what each form observed.
#[derive(Debug, Clone)]
pub struct Mismatch {
    subject: String,
    forms: Vec<Form>,
    differences: Vec<Difference>,
    notes: Vec<String>,
}

impl Mismatch {
    /// The steps that differ, in order (loading first).
    pub fn differences(&self) -> &[Difference] {
        &self.differences
    }

    /// The first step that differs.
    pub fn first(&self) -> Option<&Difference> {
        self.differences.first()
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let forms: Vec<&str> = self.forms.iter().map(|form| form.kind().as_str()).collect();
        let n = self.differences.len();
        writeln!(
            f,
            "plugin `{}` behaves differently in {}: {n} step{} differ{}",
            self.subject,
            forms.join(", "),
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
        )?;
        for d in &self.differences {
            write!(f, "{d}")?;
        }
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatch {}
