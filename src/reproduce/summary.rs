//! The reproduction's result: base → student per task and metric with 95 % CIs, the paired
//! comparison's verdict, placement beside published numbers; printed, written as
//! `summary.md`/`summary.json`, and rendered into one HTML report with plots.

use std::path::Path;

use anyhow::{Context, Result};
use harness::compare::{
    against_published, built_in_references, compare, CompareOptions, Comparison, PublishedCell,
};
use harness::metrics::Estimate;
use harness::report::{build_report, write_report, Report, RunSection, Table};
use harness::runner::RunLog;
use serde::Serialize;
use serde_json::{json, Value};

use super::config::ReproduceConfig;
use super::papers::Paper;
use super::plan::{Plan, BASE_ROW};
use super::state::ReproduceState;
use super::table;

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
    /// Samples the base run evaluated.
    pub n: usize,
    /// Samples the compared row's run evaluated (a side row may have fewer; the paired delta
    /// uses the samples both have).
    pub row_n: usize,
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
        let mut comparison = compare(&base, &student, &options)?;
        // Name the runs as the state file does (relative to the output directory), so the
        // comparison files do not depend on where the reproduction ran.
        comparison.base = base_run.to_string();
        comparison.candidate = student_run.to_string();
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
            row_n: student.manifest.n,
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

/// One trained student: its row, training step and figures (from `training.json`).
#[derive(Debug, Clone, Serialize)]
pub struct StudentFigures {
    /// The row it is evaluated as.
    pub row: String,
    /// The training step.
    pub step: String,
    /// Its checkpoint directory (relative to the output directory).
    pub dir: String,
    /// The records file it trained on.
    pub data: String,
    /// Training records (examples).
    pub records: Value,
    /// Optimizer steps.
    pub steps: Value,
    /// Training wall time in seconds.
    pub train_seconds: Value,
    /// The last step's loss.
    pub final_loss: Value,
}

/// What a row costs at inference: calls and tokens (prompt + completion) per question.
#[derive(Debug, Clone, Serialize)]
pub struct RowCost {
    /// The row.
    pub row: String,
    /// The task.
    pub task: String,
    /// Model calls per question (1 for a single model; the team's calls for a team row).
    pub calls_per_question: f64,
    /// Tokens per question, prompt and completion.
    pub tokens_per_question: f64,
}

/// The reproduction's summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The paper.
    pub paper: String,
    /// `quick` or `full`.
    pub mode: String,
    /// The configuration run.
    pub config: ReproduceConfig,
    /// The sizes in one line.
    pub sizes: String,
    /// What the teachers are, in words (the offline default or the agents file).
    pub teachers: String,
    /// Per step: wall time in seconds (of the run that finished it).
    pub wall_seconds: Vec<(String, f64)>,
    /// The distillation's figures (`distill/stats.json`).
    pub distill_stats: Value,
    /// The paper's student row.
    pub student_row: String,
    /// Every trained student.
    pub students: Vec<StudentFigures>,
    /// Gold records sized by a time budget: the step and what its budget came to.
    pub budgets: Vec<(String, Value)>,
    /// Calls and tokens per question of every row and task.
    pub costs: Vec<RowCost>,
    /// Per task: base → the paper's student.
    pub tasks: Vec<TaskResult>,
    /// Every row but the base against the base (the student's row included).
    pub rows: Vec<RowResult>,
    /// Every row but the student against the student (`base` included).
    pub against_student: Vec<RowResult>,
}

/// The comparisons a summary is built from.
pub struct Comparisons {
    /// Every row but the base against the base.
    pub against_base: Vec<RowResult>,
    /// Every row but the student against the student.
    pub against_student: Vec<RowResult>,
}

impl Summary {
    /// Gathers the summary from the steps' records of `plan` and its rows' comparisons.
    pub fn build(
        out: &Path,
        paper: Paper,
        mode: &str,
        config: &ReproduceConfig,
        state: &ReproduceState,
        plan: &Plan,
        comparisons: Comparisons,
    ) -> Result<Summary> {
        let student_row = plan.student_row.as_str();
        let mut step_order: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        step_order.extend(["compare", "report"]);
        let distill_stats = read_json(&out.join("distill").join(distill::STATS_FILE));
        let students = plan
            .rows
            .iter()
            .filter_map(|row| {
                let step = plan.trained_step(&row.name)?;
                let outputs = &state.steps.get(step)?.outputs;
                let dir = outputs["dir"].as_str()?.to_string();
                // A step with no records handed its base on untrained (no training.json).
                let training = if outputs["skipped"].is_string() {
                    json!({"examples": 0, "steps": 0, "train_seconds": 0.0})
                } else {
                    read_json(&out.join(&dir).join("training.json"))
                };
                Some(StudentFigures {
                    row: row.name.clone(),
                    step: step.to_string(),
                    data: plan.training_data(step).unwrap_or_default(),
                    // `examples` is a count, or (SFT) {examples, tokens, longest, …}, or (RL)
                    // {prompts, …}.
                    records: match &training["examples"] {
                        Value::Object(figures) => figures
                            .get("examples")
                            .or(figures.get("prompts"))
                            .cloned()
                            .unwrap_or(Value::Null),
                        count => count.clone(),
                    },
                    steps: training["steps"].clone(),
                    train_seconds: training["train_seconds"].clone(),
                    final_loss: training["final_loss"].clone(),
                    dir,
                })
            })
            .collect();
        // The steps that sized their records by a time budget recorded it in their outputs.
        let budgets = plan
            .steps
            .iter()
            .filter_map(|step| {
                let budget = state.steps.get(&step.name)?.outputs.get("budget")?;
                Some((step.name.clone(), budget.clone()))
            })
            .collect();
        let teachers = match &config.distill.agents {
            Some(agents) => format!("the agents of {}", agents.display()),
            None => OFFLINE_TEACHERS.to_string(),
        };
        Ok(Summary {
            paper: paper.name().to_string(),
            mode: mode.to_string(),
            config: config.clone(),
            sizes: config.sizes(),
            teachers,
            wall_seconds: step_order
                .iter()
                .filter_map(|name| {
                    let record = state.steps.get(*name)?;
                    Some((name.to_string(), record.wall_seconds))
                })
                .collect(),
            distill_stats,
            student_row: student_row.to_string(),
            students,
            budgets,
            costs: costs(out, plan, state)?,
            tasks: comparisons
                .against_base
                .iter()
                .find(|r| r.row == student_row)
                .map(|r| r.tasks.clone())
                .unwrap_or_default(),
            rows: comparisons.against_base,
            against_student: comparisons.against_student,
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
            "r2l reproduce {} ({}): {}\nteachers: {}\n",
            self.paper, self.mode, self.sizes, self.teachers
        );
        out.push_str(&table::text(&self.rows, BASE_ROW));
        out.push_str(&format!("against the student ({}):\n", self.student_row));
        out.push_str(&table::text(&self.against_student, &self.student_row));
        for task in &self.tasks {
            out.push_str(&format!(
                "{}: {} (unparsed answers: base {}/{}, student {}/{})\n",
                task.task, task.verdict, task.unparsed.0, task.n, task.unparsed.1, task.row_n
            ));
        }
        let better = self.better_on();
        out.push_str(&if better == 0 {
            format!(
                "The student ({}) did not beat the base on any of the {} tasks (a result, not a failure).\n",
                self.student_row,
                self.tasks.len()
            )
        } else {
            format!(
                "The student ({}) beat the base on {better} of {} tasks.\n",
                self.student_row,
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
            table::section(&self.rows, BASE_ROW),
            table::section(&self.against_student, &self.student_row),
            self.overview(),
            table::costs_section(&self.costs),
            self.training(out),
        ];
        if !self.distill_stats.is_null() {
            sections.push(self.teachers());
        }
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
            title: format!(
                "r2l reproduce {} ({}): the paper's table",
                self.paper, self.mode
            ),
            sections,
        })
    }

    fn overview(&self) -> RunSection {
        let mut facts = vec![
            format!("slices: {}", self.sizes),
            format!("teachers: {}", self.teachers),
            format!(
                "served with ISQ {}; the paper's student is the `{}` row",
                self.config.isq, self.student_row
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
                format!("{}/{}", task.unparsed.1, task.row_n),
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
            heading: format!(
                "Summary: base → student ({}), every metric",
                self.student_row
            ),
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
}

/// What the built-in offline teachers are, and what that means for the teacher rows.
const OFFLINE_TEACHERS: &str = "the built-in offline agents: every teacher, the meta-agent and \
the student are the embedded SmolLM2-135M-Instruct with different personas, so the teacher rows \
measure that small model prompted as a teacher, not the large teachers of the papers (give an \
agents file with remote teachers for that)";

/// A JSON file's value (null when absent or unreadable: the figure is then reported missing).
fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

/// Calls and tokens per question of every row on every task: a single model's eval run makes
/// one call per question (its tokens from the run's usage); a team row reports the team's.
fn costs(out: &Path, plan: &Plan, state: &ReproduceState) -> Result<Vec<RowCost>> {
    let mut costs = Vec::new();
    for row in &plan.rows {
        let Some(record) = state.steps.get(&row.eval_step) else {
            continue;
        };
        let Some(runs) = record.outputs["runs"].as_object() else {
            continue;
        };
        for (task, dir) in runs {
            let team = &record.outputs["costs"][task];
            let (calls, tokens) = if team.is_object() {
                (
                    team["calls_per_question"].as_f64().unwrap_or(f64::NAN),
                    team["tokens_per_question"].as_f64().unwrap_or(f64::NAN),
                )
            } else {
                let run = RunLog::load(&out.join(dir.as_str().unwrap_or_default()))?;
                let n = run.manifest.n.max(1) as f64;
                (1.0, run.manifest.usage.total_tokens as f64 / n)
            };
            costs.push(RowCost {
                row: row.name.clone(),
                task: task.clone(),
                calls_per_question: calls,
                tokens_per_question: tokens,
            });
        }
    }
    Ok(costs)
}

fn estimate_text(estimate: &Estimate) -> String {
    match estimate.ci95 {
        Some((low, high)) => format!("{:.4} [{low:.4}, {high:.4}]", estimate.value),
        None => format!("{:.4}", estimate.value),
    }
}
