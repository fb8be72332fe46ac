//! The paper's table: every row on every evaluated task's primary metric with its 95 % CI, and
//! each row's paired comparison with the base (delta with its paired-bootstrap CI, p-value).

use harness::compare::MetricDelta;
use harness::metrics::Estimate;
use harness::report::{grouped_values, Plot, RunSection, Table};

use super::summary::{RowCost, RowResult, TaskResult};

/// The primary metric of a task result (the task's first metric): its name, the base's and the
/// row's estimates, and the paired delta, its CI and p-value when the comparison has it.
struct Primary<'a> {
    metric: &'a str,
    base: &'a Estimate,
    row: &'a Estimate,
    delta: Option<&'a MetricDelta>,
}

fn primary(task: &TaskResult) -> Option<Primary<'_>> {
    let (metric, base, row) = task.estimates.first()?;
    let delta = task.comparison.metrics.iter().find(|m| &m.metric == metric);
    Some(Primary {
        metric,
        base,
        row,
        delta,
    })
}

/// `value [low, high]` to 3 decimals.
fn estimate_cell(estimate: &Estimate) -> String {
    match estimate.ci95 {
        Some((low, high)) => format!("{:.3} [{low:.3}, {high:.3}]", estimate.value),
        None => format!("{:.3}", estimate.value),
    }
}

fn delta_cell(delta: Option<&MetricDelta>) -> (String, String) {
    match delta {
        Some(d) => (
            format!(
                "{:+.3}{}",
                d.delta,
                d.ci95
                    .map_or(String::new(), |(l, h)| format!(" [{l:+.3}, {h:+.3}]"))
            ),
            format!("{:.3}", d.p_value),
        ),
        None => ("–".to_string(), "–".to_string()),
    }
}

/// The table's rows as text cells: task, metric, row, value, paired delta, p, n.
fn cells(rows: &[RowResult], base_row: &str) -> Vec<Vec<String>> {
    let mut table = Vec::new();
    let tasks: Vec<&str> = rows
        .first()
        .map(|r| r.tasks.iter().map(|t| t.task.as_str()).collect())
        .unwrap_or_default();
    for task in tasks {
        let results: Vec<(&str, &TaskResult)> = rows
            .iter()
            .filter_map(|r| Some((r.row.as_str(), r.tasks.iter().find(|t| t.task == task)?)))
            .collect();
        let Some(first) = results.first().and_then(|(_, t)| primary(t)) else {
            continue;
        };
        table.push(vec![
            task.to_string(),
            first.metric.to_string(),
            base_row.to_string(),
            estimate_cell(first.base),
            String::new(),
            String::new(),
            results[0].1.n.to_string(),
        ]);
        for (row, result) in &results {
            let Some(p) = primary(result) else { continue };
            let (delta, p_value) = delta_cell(p.delta);
            table.push(vec![
                task.to_string(),
                p.metric.to_string(),
                row.to_string(),
                estimate_cell(p.row),
                delta,
                p_value,
                result.row_n.to_string(),
            ]);
        }
    }
    table
}

const HEADER: [&str; 7] = [
    "task",
    "metric",
    "row",
    "value (95% CI)",
    "Δ (paired)",
    "p",
    "n",
];

/// Calls and tokens per question of every row: what a student saves over the team.
pub fn costs_section(costs: &[RowCost]) -> RunSection {
    RunSection {
        heading: "Inference cost per question".to_string(),
        facts: vec![
            "a student answers in one call; a team row reports the calls and tokens (prompt + completion) its protocol spent per question".to_string(),
        ],
        tables: vec![Table {
            title: "Calls and tokens per question".to_string(),
            header: ["row", "task", "calls", "tokens"].map(String::from).to_vec(),
            rows: costs
                .iter()
                .map(|c| {
                    vec![
                        c.row.clone(),
                        c.task.clone(),
                        format!("{:.1}", c.calls_per_question),
                        format!("{:.0}", c.tokens_per_question),
                    ]
                })
                .collect(),
        }],
        plots: Vec::new(),
    }
}

/// The table as a report section with a grouped bar plot (primary metric per task and row),
/// every row compared with `base_row`.
pub fn section(rows: &[RowResult], base_row: &str) -> RunSection {
    let tasks: Vec<String> = rows
        .first()
        .map(|r| r.tasks.iter().map(|t| t.task.clone()).collect())
        .unwrap_or_default();
    let value_of = |row: &RowResult, base: bool| -> Vec<f64> {
        tasks
            .iter()
            .map(|task| {
                row.tasks
                    .iter()
                    .find(|t| &t.task == task)
                    .and_then(primary)
                    .map_or(0.0, |p| if base { p.base.value } else { p.row.value })
            })
            .collect()
    };
    let mut series: Vec<(&str, Vec<f64>)> = Vec::new();
    if let Some(first) = rows.first() {
        series.push((base_row, value_of(first, true)));
    }
    for row in rows {
        series.push((row.row.as_str(), value_of(row, false)));
    }
    RunSection {
        heading: format!("The table: every row on each task's primary metric, against {base_row}"),
        facts: vec![format!(
            "each row is compared with `{base_row}` on the same samples (paired bootstrap delta, p)"
        )],
        tables: vec![Table {
            title:
                "Primary metric with 95% bootstrap CI; paired delta against the first row with its paired-bootstrap CI"
                    .to_string(),
            header: HEADER.map(String::from).to_vec(),
            rows: cells(rows, base_row),
        }],
        plots: vec![Plot {
            title: "Primary metric per task and row".to_string(),
            svg: grouped_values("Rows by task", &tasks, &series),
        }],
    }
}

/// The table as plain text (printed at the end of a reproduction).
pub fn text(rows: &[RowResult], base_row: &str) -> String {
    let body = cells(rows, base_row);
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].chars().count())
                .chain([HEADER[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(HEADER.map(String::from).to_vec());
    for row in body {
        out.push_str(&line(row));
    }
    out
}
