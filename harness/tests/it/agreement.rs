//! Krippendorff's alpha between the real ABSAbank-Imm annotators, against the README's figures.

use harness::data::{annotator_matrix, DatasetName};
use harness::metrics::{Level, ReliabilityData};

use crate::load_split;

fn annotator_alpha(rows: Vec<Vec<Option<f64>>>) -> (f64, usize, usize) {
    let units: Vec<Vec<f64>> = rows
        .into_iter()
        .map(|row| row.into_iter().flatten().collect())
        .collect();
    let data = ReliabilityData::from_units(units, harness::data::ANNOTATORS.len());
    let alpha = data
        .alpha(Level::Interval)
        .unwrap_or_else(|e| panic!("{e}"));
    (
        alpha,
        data.pairable_unit_count(),
        data.pairable_value_count(),
    )
}

#[test]
fn absabank_imm_inter_annotator_interval_alpha_matches_the_readme() {
    let expected = [
        ("train", 0.6444, 192, 800),
        ("dev", 0.5243, 23, 88),
        ("test", 0.5080, 10, 53),
    ];
    let mut all = Vec::new();
    for (split, alpha, units, values) in expected {
        let dataset = load_split!(DatasetName::AbsabankImm, split);
        let rows = annotator_matrix(&dataset.samples);
        all.extend(rows.clone());
        let (measured, measured_units, measured_values) = annotator_alpha(rows);
        assert!(
            (measured - alpha).abs() < 5e-5,
            "{split}: alpha {measured} != {alpha}"
        );
        assert_eq!(
            (measured_units, measured_values),
            (units, values),
            "{split}"
        );
    }
    let (measured, units, values) = annotator_alpha(all);
    assert!(
        (measured - 0.6362).abs() < 5e-5,
        "all splits: alpha {measured}"
    );
    assert_eq!((units, values), (225, 941));
}
