//! The reproduction's result: base → student per task and metric with 95 % CIs, the paired
//! comparison's verdict, placement beside published numbers; printed, written as
//! `summary.md`/`summary.json`, and rendered into one HTML report with plots.

use std::path::Path;

use anyhow::{Context, Result};
use harness::compare::{
    against_published, built_in_references, compare, CompareOptions, Comparison, PublishedCell,
};
use harness::metrics::Estimate;
use harness::report::{
    bar_chart, build_report, grouped_values, line_plot, write_report, Bar, Plot, Report,
    RunSection, Table,
};
use harness::runner::RunLog;
use serde::Serialize;
use serde_json::Value;

use super::config::ReproduceConfig;
use super::plan::Plan;
use super::state::ReproduceState;

/// The summary file in the output directory (Markdown; `summary.json` beside it).
pub const SUMMARY_FILE: &str = "summary.md";

/// Significance level of the base-vs-student tests.
const ALPHA: f64 = 0.05;

/// One task: the two runs, their paired comparison and the published figures beside them.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// The task.
    pub task: String,
    /// The base run directory (relative to the output directory).
    pub base_run: String,
    /// The student run directory.
    pub student_run: String,
    /// Per metric: (base, student) over the whole slice, each with its 95 % bootstrap CI.
    pub estimates: Vec<(String, Estimate, Estimate)>,
    /// The paired comparison (deltas with paired-bootstrap CIs, p-values).
    pub comparison: Comparison,
    /// Samples evaluated (per run).
    pub n: usize,
    /// Answers the task's parser could not read: (base, student). A metric is undefined when
    /// nothing parsed (e.g. alpha without one rating), so these say what the numbers rest on.
    pub unparsed: (usize, usize),
    /// The primary metric's verdict, in words.
    pub verdict: String,
    /// The student beside published numbers.
    pub published: Vec<PublishedCell>,
}

/// One row of the table against the base, per task.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    /// The row's name.
    pub row: String,
    /// Per evaluated task: base → this row.
    pub tasks: Vec<TaskResult>,
}

/// Compares the base and `row` on every evaluated task and writes
/// `compare/<row>/<task>.json`.
pub fn compare_all(
    out: &Path,
    row: &str,
    baselines: &Value,
    students: &Value,
) -> Result<Vec<TaskResult>> {
    let references = built_in_references()?;
    let dir = out.join("compare").join(harness::runner::path_safe(row));
    std::fs::create_dir_all(&dir)?;
    let runs = baselines["runs"]
        .as_object()
        .context("the baselines step recorded no runs")?;
    let mut results = Vec::new();
    for (task, base_run) in runs {
        let base_run = base_run.as_str().context("a base run path")?;
        let student_run = students["runs"][task]
            .as_str()
            .with_context(|| format!("no {row} run of {task}"))?;
        let base = RunLog::load(&out.join(base_run))?;
        let student = RunLog::load(&out.join(student_run))?;
        let options = CompareOptions {
            metrics: Vec::new(),
            max_drop: None,
            alpha: ALPHA,
            bootstrap: Default::default(),
        };
        let comparison = compare(&base, &student, &options)?;
        let estimates = base
            .manifest
            .task
            .metrics
            .iter()
            .filter_map(|name| {
                let b = base.manifest.metrics.get(name)?;
                let s = student.manifest.metrics.get(name)?;
                Some((name.clone(), *b, *s))
            })
            .collect();
        let verdict = verdict(&comparison, &base.manifest.task.metrics);
        let published = against_published(&student.manifest, &references);
        chat::write_atomically(
            &dir.join(format!("{}.json", harness::runner::path_safe(task))),
            &serde_json::to_vec_pretty(&serde_json::json!({
                "comparison": comparison, "verdict": verdict, "published": published,
            }))?,
        )?;
        results.push(TaskResult {
            task: task.clone(),
            base_run: base_run.to_string(),
            student_run: student_run.to_string(),
            estimates,
            n: base.manifest.n,
            unparsed: (
                base.manifest.diagnostics.unparsed,
                student.manifest.diagnostics.unparsed,
            ),
            comparison,
            verdict,
            published,
        });
    }
    Ok(results)
}

/// The primary metric's verdict (the task's first metric): better or worse only when the
/// paired test says so.
fn verdict(comparison: &Comparison, metrics: &[String]) -> String {
    let primary_name = metrics.first().map_or("the metric", String::as_str);
    let Some(primary) = comparison.metrics.iter().find(|m| m.metric == primary_name) else {
        return format!(
            "no comparison: {primary_name} is undefined for the base or the student (nothing parsed)"
        );
    };
    if primary.p_value < ALPHA && primary.delta > 0.0 {
        format!(
            "student better on {} (p = {:.3})",
            primary.metric, primary.p_value
        )
    } else if primary.p_value < ALPHA && primary.delta < 0.0 {
        format!(
            "student worse on {} (p = {:.3})",
            primary.metric, primary.p_value
        )
    } else {
        format!(
            "no significant difference on {} (p = {:.3})",
            primary.metric, primary.p_value
        )
    }
}

/// The reproduction's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `quick` or `full`.
    pub mode: String,
    /// The configuration run.
    pub config: ReproduceConfig,
    /// Per step: wall time in seconds (of the run that finished it).
    pub wall_seconds: Vec<(String, f64)>,
    /// The distillation's figures (`distill/stats.json`).
    pub distill_stats: Value,
    /// The trained student's directory, weights hash and final loss.
    pub student: Value,
    /// The paper's student row.
    pub student_row: String,
    /// Per task: base → the paper's student.
    pub tasks: Vec<TaskResult>,
    /// Every row but the base against the base (the student's row included).
    pub rows: Vec<RowResult>,
}

impl Summary {
    /// Gathers the summary from the steps' records of `plan` and its rows' comparisons.
    pub fn build(
        out: &Path,
        mode: &str,
        config: &ReproduceConfig,
        state: &ReproduceState,
        plan: &Plan,
        rows: Vec<RowResult>,
    ) -> Result<Summary> {
        let student_row = plan.student_row.as_str();
        let student = plan
            .trained_step(student_row)
            .and_then(|step| state.steps.get(step))
            .map_or(Value::Null, |record| record.outputs.clone());
        let mut step_order: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        step_order.extend(["compare", "report"]);
        let stats_path = out.join("distill").join(distill::STATS_FILE);
        let distill_stats = std::fs::read_to_string(&stats_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        Ok(Summary {
            mode: mode.to_string(),
            config: config.clone(),
            wall_seconds: step_order
                .iter()
                .filter_map(|name| {
                    let record = state.steps.get(*name)?;
                    Some((name.to_string(), record.wall_seconds))
                })
                .collect(),
            distill_stats,
            student,
            student_row: student_row.to_string(),
            tasks: rows
                .iter()
                .find(|r| r.row == student_row)
                .map(|r| r.tasks.clone())
                .unwrap_or_default(),
            rows,
        })
    }

    /// How many tasks the student is significantly better on.
    pub fn better_on(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.verdict.starts_with("student better"))
            .count()
    }

    /// The plain-text summary printed at the end.
    pub fn text(&self) -> String {
        let mut out = format!(
            "r2l reproduce ({}): eval limit {} per task, distill {} {} samples, SFT {} steps\n",
            self.mode,
            self.config
                .eval
                .limit
                .map_or("all".to_string(), |n| n.to_string()),
            self.config.distill.task,
            self.config
                .distill
                .limit
                .map_or("all".to_string(), |n| n.to_string()),
            self.config
                .sft
                .max_steps
                .map_or("all".to_string(), |n| n.to_string()),
        );
        out.push_str(&super::table::text(&self.rows, super::plan::BASE_ROW));
        for task in &self.tasks {
            out.push_str(&format!("{}: {}\n", task.task, task.verdict));
            out.push_str(&format!(
                "  unparsed answers: base {}/{}, student {}/{}\n",
                task.unparsed.0, task.n, task.unparsed.1, task.n
            ));
            for (metric, base, student) in task.estimates.iter().take(2) {
                out.push_str(&format!(
                    "  {metric:<28} base {} → student {}\n",
                    estimate_text(base),
                    estimate_text(student)
                ));
            }
        }
        let better = self.better_on();
        out.push_str(&if better == 0 {
            format!(
                "The student did not beat the base on any of the {} tasks (a result, not a failure).\n",
                self.tasks.len()
            )
        } else {
            format!(
                "The student beat the base on {better} of {} tasks.\n",
                self.tasks.len()
            )
        });
        out
    }

    /// Writes `summary.md`, `summary.json` and `report/report.{md,html}` into `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let report = self.report(out)?;
        let (markdown, _) = write_report(&report, &out.join("report"))?;
        let text = std::fs::read_to_string(&markdown)?;
        chat::write_atomically(&out.join(SUMMARY_FILE), text.as_bytes())?;
        chat::write_atomically(&out.join("summary.json"), &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    fn report(&self, out: &Path) -> Result<Report> {
        let mut sections = vec![
            super::table::section(&self.rows, super::plan::BASE_ROW),
            self.overview(),
            self.teachers(),
            self.training(out),
        ];
        sections.extend(self.per_aspect(out)?);
        sections.extend(self.ratings());
        let mut runs = Vec::new();
        for task in &self.tasks {
            runs.push(RunLog::load(&out.join(&task.base_run))?);
        }
        for row in &self.rows {
            for task in &row.tasks {
                runs.push(RunLog::load(&out.join(&task.student_run))?);
            }
        }
        sections.extend(build_report(&runs, &built_in_references()?).sections);
        Ok(Report {
            title: format!("r2l reproduce ({}): base vs distilled student", self.mode),
            sections,
        })
    }

    fn overview(&self) -> RunSection {
        let mut facts = vec![
            format!(
                "slices: eval {} samples per task ({}), distill {} samples of {} {} ({} debate round(s)), SFT {} steps (LoRA rank {})",
                self.config.eval.limit.map_or("all".to_string(), |n| n.to_string()),
                self.config.eval.tasks.join(", "),
                self.config.distill.limit.map_or("all".to_string(), |n| n.to_string()),
                self.config.distill.task,
                self.config.distill.split,
                self.config.distill.rounds,
                self.config.sft.max_steps.map_or("all".to_string(), |n| n.to_string()),
                self.config.sft.lora_rank,
            ),
            format!(
                "student: {} (weights sha256 {}), served with ISQ {}",
                self.student["dir"].as_str().unwrap_or("?"),
                self.student["weights_sha256"].as_str().unwrap_or("?"),
                self.config.isq
            ),
        ];
        let total: f64 = self.wall_seconds.iter().map(|(_, s)| s).sum();
        facts.push(format!(
            "wall time: {} — total {total:.0} s",
            self.wall_seconds
                .iter()
                .map(|(name, s)| format!("{name} {s:.0} s"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        facts.push(match self.better_on() {
            0 => format!(
                "verdict: the student did not beat the base on any of the {} tasks",
                self.tasks.len()
            ),
            n => format!(
                "verdict: the student beat the base on {n} of {} tasks",
                self.tasks.len()
            ),
        });
        let mut rows = Vec::new();
        for task in &self.tasks {
            for (metric, base, student) in &task.estimates {
                let delta = task.comparison.metrics.iter().find(|m| &m.metric == metric);
                rows.push(vec![
                    task.task.clone(),
                    metric.clone(),
                    estimate_text(base),
                    estimate_text(student),
                    delta.map_or("–".to_string(), |d| {
                        format!(
                            "{:+.4} {}",
                            d.delta,
                            d.ci95
                                .map_or(String::new(), |(l, h)| format!("[{l:+.4}, {h:+.4}]"))
                        )
                    }),
                    delta.map_or("–".to_string(), |d| format!("{:.3}", d.p_value)),
                ]);
            }
            rows.push(vec![
                task.task.clone(),
                "unparsed answers".into(),
                format!("{}/{}", task.unparsed.0, task.n),
                format!("{}/{}", task.unparsed.1, task.n),
                String::new(),
                String::new(),
            ]);
            rows.push(vec![
                task.task.clone(),
                "verdict".into(),
                String::new(),
                String::new(),
                task.verdict.clone(),
                String::new(),
            ]);
        }
        RunSection {
            heading: "Summary: base → student".to_string(),
            facts,
            tables: vec![Table {
                title: "Metrics with 95% bootstrap CIs; delta with its paired-bootstrap CI"
                    .to_string(),
                header: ["task", "metric", "base", "student", "delta", "p"]
                    .map(String::from)
                    .to_vec(),
                rows,
            }],
            plots: Vec::new(),
        }
    }

    fn teachers(&self) -> RunSection {
        let stats = &self.distill_stats;
        let figure = |key: &str| {
            stats[key]
                .as_u64()
                .map_or("?".to_string(), |n| n.to_string())
        };
        let facts = vec![
            format!(
                "{} samples distilled: {} accepted, {} rejected, {} rationalized",
                figure("n"),
                figure("accepted"),
                figure("rejected"),
                figure("rationalized")
            ),
            format!(
                "records: {} SFT, {} DPO",
                stats["records"]["sft"], stats["records"]["dpo"]
            ),
        ];
        let bars: Vec<Bar> = ["presence", "polarity"]
            .iter()
            .filter_map(|kind| {
                let estimate: Estimate =
                    serde_json::from_value(stats["agreement_alpha"][kind].clone()).ok()?;
                Some(Bar {
                    label: format!("alpha ({kind})"),
                    value: estimate.value,
                    ci95: estimate.ci95,
                })
            })
            .collect();
        RunSection {
            heading: "Teachers: agreement and what the distillation kept".to_string(),
            facts,
            tables: Vec::new(),
            plots: vec![Plot {
                title: "Krippendorff's nominal alpha between the teachers' detections".to_string(),
                svg: if bars.is_empty() {
                    Err("alpha is undefined for this run (too few teachers or samples)".to_string())
                } else {
                    bar_chart("Agreement between teachers", &bars)
                },
            }],
        }
    }

    fn training(&self, out: &Path) -> RunSection {
        let mut series = Vec::new();
        for mode in ["sft", "dpo"] {
            let path = out
                .join("train")
                .join(mode)
                .join(distill::student::TRAIN_LOG_FILE);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let points: Vec<(f64, f64)> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter_map(|line| Some((line["step"].as_f64()?, line["loss"].as_f64()?)))
                .collect();
            series.push((mode, points));
        }
        RunSection {
            heading: "Training".to_string(),
            facts: vec![format!("final loss: {}", self.student["final_loss"])],
            tables: Vec::new(),
            plots: vec![Plot {
                title: "Training loss per optimizer step".to_string(),
                svg: line_plot("Training loss", "step", "loss", &series),
            }],
        }
    }

    fn per_aspect(&self, out: &Path) -> Result<Vec<RunSection>> {
        let mut sections = Vec::new();
        for task in &self.tasks {
            let base = RunLog::load(&out.join(&task.base_run))?;
            if base.manifest.per_category.is_empty() {
                continue;
            }
            let student = RunLog::load(&out.join(&task.student_run))?;
            let categories: Vec<String> = base
                .manifest
                .per_category
                .iter()
                .map(|c| c.category.clone())
                .collect();
            let f1_of = |run: &RunLog| -> Vec<f64> {
                categories
                    .iter()
                    .map(|name| {
                        run.manifest
                            .per_category
                            .iter()
                            .find(|c| &c.category == name)
                            .and_then(|c| c.aspect_polarity.f1)
                            .unwrap_or(0.0)
                    })
                    .collect()
            };
            sections.push(RunSection {
                heading: format!("{}: per-aspect F1 before and after", task.task),
                facts: vec![format!("runs: {} → {}", task.base_run, task.student_run)],
                tables: Vec::new(),
                plots: vec![Plot {
                    title: "Aspect+polarity F1 per aspect (0 where the aspect does not occur)"
                        .to_string(),
                    svg: grouped_values(
                        &format!("{}: per-aspect F1", task.task),
                        &categories,
                        &[("base", f1_of(&base)), ("student", f1_of(&student))],
                    ),
                }],
            });
        }
        Ok(sections)
    }

    fn ratings(&self) -> Vec<RunSection> {
        self.tasks
            .iter()
            .filter_map(|task| {
                let (_, base, student) = task
                    .estimates
                    .iter()
                    .find(|(metric, _, _)| metric == "alpha_interval")?;
                let bars = [("base", base), ("student", student)].map(|(label, e)| Bar {
                    label: label.to_string(),
                    value: e.value,
                    ci95: e.ci95,
                });
                Some(RunSection {
                    heading: format!("{}: Krippendorff's interval alpha vs gold", task.task),
                    facts: vec![format!("runs: {} → {}", task.base_run, task.student_run)],
                    tables: Vec::new(),
                    plots: vec![Plot {
                        title: "Interval alpha with 95% bootstrap CI".to_string(),
                        svg: bar_chart(&format!("{}: alpha", task.task), &bars),
                    }],
                })
            })
            .collect()
    }
}

fn estimate_text(estimate: &Estimate) -> String {
    match estimate.ci95 {
        Some((low, high)) => format!("{:.4} [{low:.4}, {high:.4}]", estimate.value),
        None => format!("{:.4}", estimate.value),
    }
}
