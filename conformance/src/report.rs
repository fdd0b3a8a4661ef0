//! Results: the table and the JSON report.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::{Group, Scenario};

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    /// It passed.
    Pass,
    /// It failed, and why.
    Fail(String),
    /// It did not run against this target, and why.
    Skip(String),
}

impl Outcome {
    /// `pass`, `FAIL` or `skip`.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => "FAIL",
            Outcome::Skip(_) => "skip",
        }
    }
}

/// One scenario against one target.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    /// The scenario's name.
    pub scenario: String,
    /// Its group.
    pub group: Group,
    /// The target's label.
    pub target: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took.
    pub millis: u64,
}

impl ScenarioResult {
    pub(crate) fn new(scenario: &Scenario, target: &str, outcome: Outcome, millis: u64) -> Self {
        ScenarioResult {
            scenario: scenario.name.to_owned(),
            group: scenario.group,
            target: target.to_owned(),
            outcome,
            millis,
        }
    }
}

/// Every result of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The results, in run order.
    pub results: Vec<ScenarioResult>,
}

#[derive(Serialize)]
struct Summary<'a> {
    passed: usize,
    failed: usize,
    skipped: usize,
    results: &'a [ScenarioResult],
}

impl Report {
    pub(crate) fn push(&mut self, result: ScenarioResult) {
        self.results.push(result);
    }

    /// Count of results with this outcome word.
    fn count(&self, word: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.word() == word)
            .count()
    }

    /// Passed results.
    pub fn passed(&self) -> usize {
        self.count("pass")
    }

    /// Failed results.
    pub fn failed(&self) -> Vec<&ScenarioResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .collect()
    }

    /// Skipped results.
    pub fn skipped(&self) -> usize {
        self.count("skip")
    }

    /// The table: scenario, target, result, time (and the reason for failures and skips).
    pub fn table(&self) -> String {
        let width = self
            .results
            .iter()
            .map(|r| r.scenario.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let twidth = self
            .results
            .iter()
            .map(|r| r.target.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:<twidth$}  {:<6}  {:>8}",
            "scenario", "target", "result", "time"
        );
        for r in &self.results {
            let _ = write!(
                out,
                "{:<width$}  {:<twidth$}  {:<6}  {:>6}ms",
                r.scenario,
                r.target,
                r.outcome.word(),
                r.millis
            );
            match &r.outcome {
                Outcome::Pass => {}
                Outcome::Fail(why) | Outcome::Skip(why) => {
                    let _ = write!(out, "  {why}");
                }
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "conformance: {} passed, {} failed, {} skipped",
            self.passed(),
            self.failed().len(),
            self.skipped()
        );
        out
    }

    /// The JSON report.
    pub fn to_json(&self) -> String {
        let summary = Summary {
            passed: self.passed(),
            failed: self.failed().len(),
            skipped: self.skipped(),
            results: &self.results,
        };
        serde_json::to_string_pretty(&summary).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Write the JSON report to `path`, creating its directory.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.to_json())
    }
}
