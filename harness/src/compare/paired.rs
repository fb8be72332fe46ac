//! `r2l compare`: two runs of the same task on the same data, aligned by sample id, with paired
//! tests per metric, McNemar on per-sample correctness, the samples that flipped, and a verdict
//! a CI job can gate on.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::metrics::{mcnemar, paired_bootstrap, BootstrapConfig, McNemar};
use crate::runner::{RunLog, SampleLine};
use crate::scoring::{CorpusMetrics, SampleScore};

/// How strict the gate is.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Metrics to gate on (empty = every metric of the task).
    pub metrics: Vec<String>,
    /// Fail when a metric drops by more than this (absolute, in the metric's unit), significant or not.
    pub max_drop: Option<f64>,
    /// Significance level of the paired tests.
    pub alpha: f64,
    /// Paired-bootstrap settings.
    pub bootstrap: BootstrapConfig,
}

/// One metric, base vs candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDelta {
    /// Metric name.
    pub metric: String,
    /// Value on the base run (aligned samples).
    pub base: f64,
    /// Value on the candidate run (aligned samples).
    pub candidate: f64,
    /// candidate − base.
    pub delta: f64,
    /// Paired-bootstrap 95% CI of the delta.
    pub ci95: Option<(f64, f64)>,
    /// Two-sided paired-bootstrap p-value.
    pub p_value: f64,
    /// Whether this metric fails the gate.
    pub regression: bool,
}

/// Samples whose correctness changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Flipped {
    /// Right in the base, wrong in the candidate.
    pub now_wrong: Vec<String>,
    /// Wrong in the base, right in the candidate.
    pub now_right: Vec<String>,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Task name.
    pub task: String,
    /// Task version (equal in both runs).
    pub task_version: String,
    /// Base run directory.
    pub base: String,
    /// Candidate run directory.
    pub candidate: String,
    /// Samples present in both runs.
    pub aligned: usize,
    /// Samples only in one of the runs (left out of the tests).
    pub unaligned: usize,
    /// Per-metric deltas.
    pub metrics: Vec<MetricDelta>,
    /// McNemar's test on per-sample correctness (not for ratings).
    pub mcnemar: Option<McNemar>,
    /// The samples that flipped.
    pub flipped: Flipped,
    /// True when a gated metric dropped significantly or by more than `max_drop`.
    pub regression: bool,
}

impl Comparison {
    /// The process exit code: 1 for a regression, 0 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.regression)
    }
}

/// Compares two runs; refuses runs of different task versions or data.
pub fn compare(base: &RunLog, candidate: &RunLog, options: &CompareOptions) -> Result<Comparison> {
    let (b, c) = (&base.manifest, &candidate.manifest);
    let refuse = |what: &str, left: &str, right: &str| {
        Error::InvalidInput(format!(
            "refusing to compare: {what} differ ({left} in {} vs {right} in {}); compare runs of the same task version on the same data",
            base.dir.display(),
            candidate.dir.display()
        ))
    };
    if b.task.name != c.task.name {
        return Err(refuse("tasks", &b.task.name, &c.task.name));
    }
    if b.task.version != c.task.version {
        return Err(refuse("task versions", &b.task.version, &c.task.version));
    }
    if b.dataset.sha256 != c.dataset.sha256 || b.dataset.split != c.dataset.split {
        return Err(refuse(
            "datasets",
            &format!(
                "{} {} sha256 {}",
                b.dataset.name,
                b.dataset.split,
                &b.dataset.sha256[..12.min(b.dataset.sha256.len())]
            ),
            &format!(
                "{} {} sha256 {}",
                c.dataset.name,
                c.dataset.split,
                &c.dataset.sha256[..12.min(c.dataset.sha256.len())]
            ),
        ));
    }
    let candidate_by_id: HashMap<&str, &SampleLine> = candidate
        .samples
        .iter()
        .map(|s| (s.score.id.as_str(), s))
        .collect();
    let mut base_records: Vec<SampleScore> = Vec::new();
    let mut candidate_records: Vec<SampleScore> = Vec::new();
    for sample in &base.samples {
        if let Some(other) = candidate_by_id.get(sample.score.id.as_str()) {
            base_records.push(sample.score.clone());
            candidate_records.push(other.score.clone());
        }
    }
    if base_records.is_empty() {
        return Err(Error::InvalidInput(
            "the two runs share no sample id".to_string(),
        ));
    }
    let unaligned = base.samples.len() + candidate.samples.len() - 2 * base_records.len();
    let wanted = if options.metrics.is_empty() {
        b.task.metrics.clone()
    } else {
        options.metrics.clone()
    };
    for metric in &wanted {
        if !b.task.metrics.contains(metric) {
            return Err(Error::Unknown {
                kind: "metric",
                name: metric.clone(),
                valid: b.task.metrics.join(", "),
            });
        }
    }
    let base_metrics = CorpusMetrics::from_records(&b.task.scorer, &base_records)?;
    let candidate_metrics = CorpusMetrics::from_records(&b.task.scorer, &candidate_records)?;
    let candidate_named = candidate_metrics.named();
    let mut metrics = Vec::new();
    for (name, base_metric) in base_metrics.named() {
        if !wanted.iter().any(|w| w == name) {
            continue;
        }
        let Some((_, candidate_metric)) = candidate_named.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let Ok(test) = paired_bootstrap(
            base_metric.as_ref(),
            candidate_metric.as_ref(),
            &options.bootstrap,
        ) else {
            continue;
        };
        let significant_drop = test.delta < 0.0 && test.p_value < options.alpha;
        let over_max_drop = options.max_drop.is_some_and(|max| test.delta < -max);
        metrics.push(MetricDelta {
            metric: name.to_string(),
            base: test.base,
            candidate: test.candidate,
            delta: test.delta,
            ci95: test.ci95,
            p_value: test.p_value,
            regression: significant_drop || over_max_drop,
        });
    }
    let correctness: Option<(Vec<bool>, Vec<bool>)> = base_records
        .iter()
        .zip(&candidate_records)
        .map(|(b, c)| Some((b.correct?, c.correct?)))
        .collect::<Option<Vec<_>>>()
        .map(|pairs| pairs.into_iter().unzip());
    let mut flipped = Flipped::default();
    let mcnemar = match correctness {
        Some((base_correct, candidate_correct)) => {
            for (index, (b, c)) in base_correct.iter().zip(&candidate_correct).enumerate() {
                match (b, c) {
                    (true, false) => flipped.now_wrong.push(base_records[index].id.clone()),
                    (false, true) => flipped.now_right.push(base_records[index].id.clone()),
                    _ => {}
                }
            }
            Some(mcnemar(&base_correct, &candidate_correct)?)
        }
        None => None,
    };
    let regression = metrics.iter().any(|m| m.regression);
    Ok(Comparison {
        task: b.task.name.clone(),
        task_version: b.task.version.clone(),
        base: base.dir.display().to_string(),
        candidate: candidate.dir.display().to_string(),
        aligned: base_records.len(),
        unaligned,
        metrics,
        mcnemar,
        flipped,
        regression,
    })
}

/// A plain-text rendering for the terminal.
pub fn render_comparison(comparison: &Comparison, alpha: f64) -> String {
    let mut out = format!(
        "{} v{}: {} aligned samples ({} unaligned)\n{:<34} {:>9} {:>9} {:>9} {:>21} {:>8}\n",
        comparison.task,
        comparison.task_version,
        comparison.aligned,
        comparison.unaligned,
        "metric",
        "base",
        "candidate",
        "delta",
        "95% CI of delta",
        "p"
    );
    for metric in &comparison.metrics {
        let ci = metric.ci95.map_or_else(
            || "-".to_string(),
            |(lo, hi)| format!("[{lo:+.4}, {hi:+.4}]"),
        );
        out.push_str(&format!(
            "{:<34} {:>9.4} {:>9.4} {:>+9.4} {:>21} {:>8.4}{}\n",
            metric.metric,
            metric.base,
            metric.candidate,
            metric.delta,
            ci,
            metric.p_value,
            if metric.regression {
                "  REGRESSION"
            } else {
                ""
            }
        ));
    }
    if let Some(test) = &comparison.mcnemar {
        out.push_str(&format!(
            "McNemar: {} right only in base, {} right only in candidate, p = {:.4} ({:?})\n",
            test.base_only_correct, test.candidate_only_correct, test.p_value, test.method
        ));
    }
    let preview = |ids: &[String]| ids.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if !comparison.flipped.now_wrong.is_empty() {
        out.push_str(&format!(
            "now wrong ({}): {}\n",
            comparison.flipped.now_wrong.len(),
            preview(&comparison.flipped.now_wrong)
        ));
    }
    if !comparison.flipped.now_right.is_empty() {
        out.push_str(&format!(
            "now right ({}): {}\n",
            comparison.flipped.now_right.len(),
            preview(&comparison.flipped.now_right)
        ));
    }
    out.push_str(&format!(
        "verdict: {} (alpha = {alpha})\n",
        if comparison.regression {
            "REGRESSION"
        } else {
            "no significant regression"
        }
    ));
    out
}
