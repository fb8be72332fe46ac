//! Scoring predictions against the real gold labels.

use std::io::Write;

use harness::data::{Dataset, DatasetName, Target};
use harness::metrics::BootstrapConfig;
use harness::scoring::{read_predictions, score, Scorer};
use serde_json::json;

use crate::load_split;

fn write_predictions(lines: &[serde_json::Value]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("{e}"));
    for line in lines {
        writeln!(file, "{line}").unwrap_or_else(|e| panic!("{e}"));
    }
    file
}

fn gold_predictions(dataset: &Dataset) -> Vec<serde_json::Value> {
    dataset
        .samples
        .iter()
        .map(|sample| match &sample.target {
            Target::Aspects { labels } => json!({"id": sample.id, "aspects": labels}),
            Target::Rating { value } => json!({"id": sample.id, "score": value}),
            Target::Answer { value } => json!({"id": sample.id, "answer": value}),
        })
        .collect()
}

fn score_lines(
    dataset: &Dataset,
    lines: &[serde_json::Value],
) -> harness::Result<harness::scoring::ScoreReport> {
    let file = write_predictions(lines);
    let predictions = read_predictions(file.path())?;
    let config = BootstrapConfig {
        resamples: 200,
        ..Default::default()
    };
    score(
        &dataset.name,
        &Scorer::for_dataset(harness::data::DatasetName::parse(&dataset.name)?),
        dataset,
        &predictions,
        Some(&config),
    )
}

#[test]
fn gold_labels_as_predictions_score_perfectly_on_every_task() {
    for name in DatasetName::ALL {
        let dataset = load_split!(name, name.default_split());
        let report = score_lines(&dataset, &gold_predictions(&dataset))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.n, dataset.samples.len());
        assert_eq!(
            report.diagnostics.missing
                + report.diagnostics.unparsed
                + report.diagnostics.invalid_labels,
            0,
            "{name}"
        );
        for (metric, estimate) in &report.metrics {
            assert!(
                (estimate.value - 1.0).abs() < 1e-9,
                "{name} {metric} = {}",
                estimate.value
            );
        }
        let wanted = match name.family() {
            harness::data::TaskFamily::Absa => 8,
            harness::data::TaskFamily::Rating => 2,
            harness::data::TaskFamily::Reasoning(_) => 1,
        };
        assert_eq!(report.metrics.len(), wanted, "{name}");
    }
}

#[test]
fn missing_predictions_count_as_empty_and_are_reported() {
    let dataset = load_split!(DatasetName::UitVisfd, "test");
    let half: Vec<_> = gold_predictions(&dataset).into_iter().step_by(2).collect();
    let report = score_lines(&dataset, &half).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.diagnostics.missing, dataset.samples.len() / 2);
    let precision = report.metrics["aspect_polarity_micro_precision"].value;
    let recall = report.metrics["aspect_polarity_micro_recall"].value;
    assert!((precision - 1.0).abs() < 1e-12);
    assert!(recall > 0.45 && recall < 0.55, "recall {recall}");
}

#[test]
fn unknown_ids_are_an_error_naming_them() {
    let dataset = load_split!(DatasetName::Gsm8k, "test");
    let lines = [
        json!({"id": "0", "answer": "18"}),
        json!({"id": "99999", "answer": "1"}),
        json!({"id": "abc", "answer": "1"}),
    ];
    let message = score_lines(&dataset, &lines)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("2 prediction id(s)") && message.contains("99999, abc"),
        "{message}"
    );
}

#[test]
fn raw_outputs_go_through_the_task_parser() {
    let dataset = load_split!(DatasetName::UitVisfd, "test");
    let first = &dataset.samples[0];
    let labels: Vec<serde_json::Value> = first
        .aspect_labels()
        .iter()
        .map(|l| json!({"aspect": l.aspect.to_lowercase(), "polarity": l.polarity.to_uppercase()}))
        .collect();
    let output = format!(
        "<think>Let me see.</think>\n```json\n{}\n```",
        serde_json::Value::Array(labels)
    );
    let lines = [
        json!({"id": first.id, "output": output}),
        json!({"id": dataset.samples[1].id, "output": "no idea"}),
    ];
    let report = score_lines(&dataset, &lines).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.diagnostics.unparsed, 1);
    assert_eq!(report.samples[0].correct, Some(true));
    assert_eq!(
        report.samples[1].status,
        harness::scoring::SampleStatus::Unparsed
    );
}

#[test]
fn invalid_labels_are_counted() {
    let dataset = load_split!(DatasetName::ArcChallenge, "test");
    let lines = [json!({"id": dataset.samples[0].id, "answer": "Z"})];
    let report = score_lines(&dataset, &lines).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.diagnostics.invalid_labels, 1);
    let dataset = load_split!(DatasetName::UitVisfd, "test");
    let lines = [
        json!({"id": "0", "aspects": [{"aspect": "SOUND", "polarity": "positive"}, {"aspect": "BATTERY", "polarity": "meh"}]}),
    ];
    let report = score_lines(&dataset, &lines).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.diagnostics.invalid_labels, 2);
}
