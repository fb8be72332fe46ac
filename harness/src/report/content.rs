//! What a report says, independent of its format: per run, the metrics with CIs, diagnostics,
//! published figures beside them, per-aspect F1, the polarity confusion matrix, and plots.

use std::collections::BTreeMap;

use super::plots::{bar_chart, grouped_counts, Bar};
use crate::compare::{against_published, Reference};
use crate::runner::RunLog;

/// A table: header and rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Title shown above it.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<String>>,
}

/// A plot: title and SVG text (or why it could not be drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// Title.
    pub title: String,
    /// The SVG document, or the plotting error.
    pub svg: Result<String, String>,
}

/// One run's part of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSection {
    /// Heading (task, model, split).
    pub heading: String,
    /// Facts, one per line.
    pub facts: Vec<String>,
    /// Tables.
    pub tables: Vec<Table>,
    /// Plots.
    pub plots: Vec<Plot>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The page title.
    pub title: String,
    /// One section per run (or per topic), in the order given.
    pub sections: Vec<RunSection>,
}

fn ci_text(ci95: Option<(f64, f64)>) -> String {
    ci95.map_or_else(
        || "–".to_string(),
        |(low, high)| format!("[{low:.4}, {high:.4}]"),
    )
}

/// Builds the report of `runs`, placing each beside the matching `references`.
pub fn build_report(runs: &[RunLog], references: &[Reference]) -> Report {
    Report {
        title: "r2l evaluation report".to_string(),
        sections: runs.iter().map(|run| section(run, references)).collect(),
    }
}

fn section(run: &RunLog, references: &[Reference]) -> RunSection {
    let manifest = &run.manifest;
    let heading = format!(
        "{} v{} — {} ({} split, n = {})",
        manifest.task.name,
        manifest.task.version,
        manifest.model.id,
        manifest.dataset.split,
        manifest.n
    );
    let d = &manifest.diagnostics;
    let facts = vec![
        format!("run `{}` · started {} · {:.1} s wall", manifest.run_id, manifest.started, manifest.wall_seconds),
        format!("dataset `{}` sha256 `{}`", manifest.dataset.file, manifest.dataset.sha256),
        format!("model endpoints: {}", manifest.model.endpoints.join(", ")),
        format!(
            "diagnostics: {} missing, {} unparsed, {} invalid labels, {} truncated at max_tokens, {} errors; {} answers from cache",
            d.missing, d.unparsed, d.invalid_labels, d.truncated, d.errors, manifest.cached
        ),
        format!(
            "tokens: {} prompt, {} completion · r2l {} (git {})",
            manifest.usage.prompt_tokens, manifest.usage.completion_tokens, manifest.r2l_version, manifest.git_rev
        ),
    ];
    let mut tables = vec![Table {
        title: "Metrics (95% bootstrap CI)".to_string(),
        header: vec!["metric".into(), "value".into(), "95% CI".into()],
        rows: manifest
            .task
            .metrics
            .iter()
            .filter_map(|name| {
                manifest
                    .metrics
                    .get(name)
                    .map(|e| vec![name.clone(), format!("{:.4}", e.value), ci_text(e.ci95)])
            })
            .collect(),
    }];
    let cells = against_published(manifest, references);
    if !cells.is_empty() {
        tables.push(Table {
            title: "Beside published numbers".to_string(),
            header: vec![
                "system".into(),
                "metric".into(),
                "published".into(),
                "this run".into(),
                "verdict".into(),
                "source".into(),
            ],
            rows: cells
                .iter()
                .map(|cell| {
                    vec![
                        cell.reference.system.clone(),
                        cell.reference.metric.clone(),
                        format!("{:.4} ± {}", cell.reference.value, cell.reference.tolerance),
                        format!("{:.4} {}", cell.run_value, ci_text(cell.run_ci95)),
                        cell.verdict.clone(),
                        match &cell.reference.note {
                            Some(note) => format!("{} ({note})", cell.reference.citation),
                            None => cell.reference.citation.clone(),
                        },
                    ]
                })
                .collect(),
        });
    }
    if !manifest.per_category.is_empty() {
        tables.push(Table {
            title: "Per-aspect F1".to_string(),
            header: [
                "aspect",
                "gold",
                "predicted",
                "aspect TP",
                "aspect F1",
                "pair TP",
                "pair F1",
            ]
            .map(String::from)
            .to_vec(),
            rows: manifest
                .per_category
                .iter()
                .map(|row| {
                    let f1 =
                        |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
                    vec![
                        row.category.clone(),
                        row.aspect.gold.to_string(),
                        row.aspect.predicted.to_string(),
                        row.aspect.true_positives.to_string(),
                        f1(row.aspect.f1),
                        row.aspect_polarity.true_positives.to_string(),
                        f1(row.aspect_polarity.f1),
                    ]
                })
                .collect(),
        });
        tables.push(polarity_confusion(run));
    }
    let mut plots = vec![Plot {
        title: "Metrics with 95% CIs".to_string(),
        svg: bar_chart(
            &format!("{} — {}", manifest.task.name, manifest.model.id),
            &manifest
                .task
                .metrics
                .iter()
                .filter_map(|name| {
                    manifest.metrics.get(name).map(|e| Bar {
                        label: short(name),
                        value: e.value,
                        ci95: e.ci95,
                    })
                })
                .collect::<Vec<_>>(),
        ),
    }];
    if manifest.task.scorer == crate::scoring::Scorer::Rating {
        plots.push(rating_histogram(run));
    }
    RunSection {
        heading,
        facts,
        tables,
        plots,
    }
}

fn short(metric: &str) -> String {
    metric
        .replace("aspect_polarity_", "pair ")
        .replace("aspect_", "aspect ")
        .replace('_', " ")
}

/// Rows: gold polarity; columns: the polarity predicted for that aspect (or none).
fn polarity_confusion(run: &RunLog) -> Table {
    let columns = ["positive", "negative", "neutral", "other", "not predicted"];
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let rows = ["positive", "negative", "neutral"];
    for sample in &run.samples {
        let predicted = sample.score.predicted_pairs();
        for gold in sample.score.gold.pairs() {
            let Some(row) = rows.iter().position(|r| *r == gold.polarity) else {
                continue;
            };
            let column = match predicted.iter().find(|p| p.aspect == gold.aspect) {
                Some(p) => columns.iter().position(|c| *c == p.polarity).unwrap_or(3),
                None => 4,
            };
            *counts.entry((row, column)).or_insert(0) += 1;
        }
    }
    let mut header = vec!["gold \\ predicted".to_string()];
    header.extend(columns.iter().map(|c| c.to_string()));
    Table {
        title: "Polarity confusion (gold aspects)".to_string(),
        header,
        rows: rows
            .iter()
            .enumerate()
            .map(|(r, name)| {
                let mut cells = vec![name.to_string()];
                cells.extend(
                    (0..columns.len())
                        .map(|c| counts.get(&(r, c)).copied().unwrap_or(0).to_string()),
                );
                cells
            })
            .collect(),
    }
}

fn rating_histogram(run: &RunLog) -> Plot {
    let mut gold = vec![0usize; 5];
    let mut predicted = vec![0usize; 5];
    let bucket = |v: f64| (v.round().clamp(1.0, 5.0) as usize) - 1;
    for sample in &run.samples {
        if let Some(value) = sample.score.gold.rating() {
            gold[bucket(value)] += 1;
        }
        if let Some(value) = sample.score.predicted_rating() {
            predicted[bucket(value)] += 1;
        }
    }
    let categories: Vec<String> = (1..=5).map(|v| v.to_string()).collect();
    Plot {
        title: "Ratings: gold vs predicted (rounded)".to_string(),
        svg: grouped_counts(
            "Ratings (1 = very negative … 5 = very positive)",
            &categories,
            &[("gold", gold), ("predicted", predicted)],
        ),
    }
}
