//! The report's sections beside the table: what the teachers agreed on and what the
//! distillation kept, the students' training losses, per-aspect F1 before and after (ABSA
//! tasks) and Krippendorff's alpha against gold (rating tasks).

use std::path::Path;

use anyhow::Result;
use harness::metrics::Estimate;
use harness::report::{bar_chart, grouped_values, line_plot, Bar, Plot, RunSection};
use harness::runner::RunLog;
use serde_json::Value;

use super::summary::Summary;

impl Summary {
    pub(super) fn teachers(&self) -> RunSection {
        let stats = &self.distill_stats;
        let figure = |key: &str| {
            stats[key]
                .as_u64()
                .map_or("?".to_string(), |n| n.to_string())
        };
        let mut facts = vec![if stats["accepted"].is_u64() {
            format!(
                "{} samples distilled: {} accepted, {} rejected, {} rationalized",
                figure("n"),
                figure("accepted"),
                figure("rejected"),
                figure("rationalized")
            )
        } else {
            format!("{} questions distilled", figure("n"))
        }];
        for round in stats["accuracy_per_round"].as_array().into_iter().flatten() {
            facts.push(format!(
                "round {}: {} of {} answers right",
                round["round"], round["correct"], round["answers"]
            ));
        }
        let records = stats["records"]
            .as_object()
            .map(|records| {
                records
                    .iter()
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        facts.push(format!("records: {records}"));
        if stats["records"]["sft"].as_u64() == Some(0) {
            facts.push(
                "no SFT record: the students that train on these records were not trained (their rows are the base)"
                    .to_string(),
            );
        }
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

    pub(super) fn training(&self, out: &Path) -> RunSection {
        let mut series = Vec::new();
        for student in &self.students {
            let path = out
                .join(&student.dir)
                .join(distill::student::TRAIN_LOG_FILE);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let points: Vec<(f64, f64)> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter_map(|line| Some((line["step"].as_f64()?, line["loss"].as_f64()?)))
                .collect();
            series.push((student.step.as_str(), points));
        }
        let number = |value: &Value| match value {
            Value::Null => "–".to_string(),
            Value::Number(n) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or(f64::NAN)),
            other => other.to_string(),
        };
        let rows = self
            .students
            .iter()
            .map(|s| {
                vec![
                    s.row.clone(),
                    s.step.clone(),
                    s.data.clone(),
                    number(&s.records),
                    number(&s.steps),
                    number(&s.train_seconds),
                    number(&s.final_loss),
                ]
            })
            .collect();
        let facts = self
            .budgets
            .iter()
            .map(|(step, budget)| {
                format!(
                    "{step}: {} gold records, the most the wall time of {} ({:.0} s) trains at \
                     {:.2} s per optimizer step after {:.0} s of loading ({} steps)",
                    budget["records"],
                    budget["spent"]
                        .as_array()
                        .map(|names| names
                            .iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" + "))
                        .unwrap_or_default(),
                    budget["seconds"].as_f64().unwrap_or(f64::NAN),
                    budget["seconds_per_step"].as_f64().unwrap_or(f64::NAN),
                    budget["overhead_seconds"].as_f64().unwrap_or(f64::NAN),
                    budget["steps"],
                )
            })
            .collect();
        RunSection {
            heading: "Training: every student, its records, steps and time".to_string(),
            facts,
            tables: vec![harness::report::Table {
                title: "Training records, optimizer steps, wall time and final loss per student"
                    .to_string(),
                header: [
                    "row",
                    "step",
                    "data",
                    "records",
                    "steps",
                    "seconds",
                    "final loss",
                ]
                .map(String::from)
                .to_vec(),
                rows,
            }],
            plots: vec![Plot {
                title: "Training loss per optimizer step".to_string(),
                svg: line_plot("Training loss", "step", "loss", &series),
            }],
        }
    }

    pub(super) fn per_aspect(&self, out: &Path) -> Result<Vec<RunSection>> {
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

    pub(super) fn ratings(&self) -> Vec<RunSection> {
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
