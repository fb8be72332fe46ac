//! Exact counts from each dataset's README, asserted on the real files.

use std::collections::BTreeMap;

use harness::data::{DatasetName, Polarity, Target};
use unicode_normalization::is_nfc;

use crate::load_split;

fn polarity_counts(dataset: &harness::data::Dataset) -> [usize; 3] {
    let mut counts = [0; 3];
    for sample in &dataset.samples {
        for label in sample.aspect_labels() {
            counts[Polarity::ALL
                .iter()
                .position(|p| p.name() == label.polarity)
                .unwrap_or_else(|| panic!("gold polarity `{}`", label.polarity))] += 1;
        }
    }
    counts
}

fn pair_count(dataset: &harness::data::Dataset) -> usize {
    dataset
        .samples
        .iter()
        .map(|s| s.aspect_labels().len())
        .sum()
}

fn answer_counts(dataset: &harness::data::Dataset) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for sample in &dataset.samples {
        if let Target::Answer { value } = &sample.target {
            *counts.entry(value.clone()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn uit_visfd_counts_match_the_readme() {
    // (split, rows, scored pairs, positive/negative/neutral, OTHERS, OTHERS-only rows)
    let expected = [
        ("train", 7786, [13505, 7464, 2903], 1694, 115),
        ("dev", 1112, [1924, 1011, 381], 251, 18),
        ("test", 2224, [3695, 2210, 817], 513, 37),
    ];
    for (split, rows, polarities, others, others_only) in expected {
        let dataset = load_split!(DatasetName::UitVisfd, split);
        assert_eq!(dataset.samples.len(), rows, "{split} rows");
        assert_eq!(polarity_counts(&dataset), polarities, "{split} polarities");
        assert_eq!(pair_count(&dataset), polarities.iter().sum::<usize>());
        let flagged = |s: &&harness::data::Sample| {
            s.meta.get("others").and_then(|v| v.as_bool()) == Some(true)
        };
        assert_eq!(
            dataset.samples.iter().filter(flagged).count(),
            others,
            "{split} OTHERS"
        );
        let only_others = dataset
            .samples
            .iter()
            .filter(flagged)
            .filter(|s| s.aspect_labels().is_empty())
            .count();
        assert_eq!(only_others, others_only, "{split} OTHERS-only rows");
        assert!(
            dataset.samples.iter().all(|s| is_nfc(&s.input)),
            "{split} texts are NFC"
        );
        assert_eq!(dataset.samples[0].id, "0");
    }
}

#[test]
fn uit_visfd_test_aspect_counts_match_the_readme() {
    let dataset = load_split!(DatasetName::UitVisfd, "test");
    let mut counts = BTreeMap::new();
    for sample in &dataset.samples {
        for label in sample.aspect_labels() {
            *counts.entry(label.aspect.as_str()).or_insert(0) += 1;
        }
    }
    let expected = [
        ("GENERAL", 1381),
        ("PERFORMANCE", 1172),
        ("BATTERY", 1014),
        ("FEATURES", 711),
        ("SER&ACC", 593),
        ("CAMERA", 588),
        ("PRICE", 569),
        ("DESIGN", 398),
        ("SCREEN", 269),
        ("STORAGE", 27),
    ];
    assert_eq!(counts, expected.into_iter().collect::<BTreeMap<_, _>>());
}

#[test]
fn uit_visfd_keeps_newlines_inside_quoted_comments() {
    let dataset = load_split!(DatasetName::UitVisfd, "test");
    let multi_line = dataset
        .samples
        .iter()
        .filter(|s| s.input.contains('\n'))
        .count();
    assert_eq!(multi_line, 260);
    assert!(dataset.samples.iter().all(|s| !s.input.contains('\r')));
}

#[test]
fn vlsp2018_counts_match_the_readme() {
    // The README counts hotel-train record #880's repeated pair twice (3,150 negatives, 13,949
    // pairs); predictions are sets, so the loader keeps it once (3,149 and 13,948).
    let expected = [
        (
            DatasetName::Vlsp2018Hotel,
            "train",
            3000,
            [10229, 3149, 570],
        ),
        (DatasetName::Vlsp2018Hotel, "dev", 2000, [5077, 1808, 226]),
        (DatasetName::Vlsp2018Hotel, "test", 600, [1806, 645, 133]),
        (
            DatasetName::Vlsp2018Restaurant,
            "train",
            2961,
            [7071, 670, 1556],
        ),
        (
            DatasetName::Vlsp2018Restaurant,
            "dev",
            1290,
            [2520, 231, 692],
        ),
        (
            DatasetName::Vlsp2018Restaurant,
            "test",
            500,
            [1669, 159, 591],
        ),
    ];
    let readme_pairs = [13949 - 1, 7111, 2584, 9297, 3443, 2419];
    for ((name, split, rows, polarities), pairs) in expected.into_iter().zip(readme_pairs) {
        let dataset = load_split!(name, split);
        assert_eq!(dataset.samples.len(), rows, "{name} {split} rows");
        assert_eq!(pair_count(&dataset), pairs, "{name} {split} pairs");
        assert_eq!(
            polarity_counts(&dataset),
            polarities,
            "{name} {split} polarities"
        );
        assert!(dataset.samples.iter().all(|s| is_nfc(&s.input)));
        assert_eq!(dataset.samples[0].id, "1");
        assert_eq!(dataset.samples[rows - 1].id, rows.to_string());
    }
}

#[test]
fn vlsp2018_hotel_train_880_repeated_pair_counts_once() {
    let dataset = load_split!(DatasetName::Vlsp2018Hotel, "train");
    let record = dataset
        .samples
        .iter()
        .find(|s| s.id == "880")
        .map(|s| s.aspect_labels().to_vec());
    let record = record.unwrap_or_default();
    let repeated = record
        .iter()
        .filter(|l| l.aspect == "ROOMS#MISCELLANEOUS")
        .count();
    assert_eq!(repeated, 1);
}

#[test]
fn uit_visd4sa_counts_match_the_readme() {
    // (split, comments, spans, comments without spans, pos/neg/neu spans, clamped spans)
    let expected = [
        ("train", 7785, 24771, 160, [15203, 7999, 1569], 81),
        ("dev", 1112, 3582, 26, [2296, 1062, 224], 14),
        ("test", 2225, 7043, 39, [4333, 2289, 421], 27),
    ];
    for (split, rows, span_total, spanless, polarities, clamped) in expected {
        let dataset = load_split!(DatasetName::UitVisd4sa, split);
        assert_eq!(dataset.samples.len(), rows, "{split} rows");
        let spans: Vec<&serde_json::Value> = dataset
            .samples
            .iter()
            .flat_map(|s| {
                s.meta
                    .get("spans")
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
            })
            .collect();
        assert_eq!(spans.len(), span_total, "{split} spans");
        let empty = dataset
            .samples
            .iter()
            .filter(|s| s.meta["spans"].as_array().is_some_and(|a| a.is_empty()))
            .count();
        assert_eq!(empty, spanless, "{split} comments without spans");
        let by_polarity =
            Polarity::ALL.map(|p| spans.iter().filter(|s| s["polarity"] == p.name()).count());
        assert_eq!(by_polarity, polarities, "{split} span polarities");
        let clamped_count = spans.iter().filter(|s| s["clamped"] == true).count();
        assert_eq!(clamped_count, clamped, "{split} clamped spans");
    }
}

#[test]
fn uit_visd4sa_spans_use_code_point_offsets() {
    let dataset = load_split!(DatasetName::UitVisd4sa, "test");
    let first = &dataset.samples[0];
    let spans = first.meta["spans"].as_array().cloned().unwrap_or_default();
    assert_eq!(spans[0]["text"], "Sp ổn");
    assert_eq!(spans[1]["text"], "vân tay lúc nhận lúc không");
    assert_eq!(first.aspect_labels().len(), 4);
}

#[test]
fn absabank_imm_counts_match_the_readme() {
    // (split, rows, documents, items with >= 2 annotators, non-null annotator labels)
    let expected = [
        ("train", 3898, 887, 192, 4506),
        ("dev", 487, 123, 23, 552),
        ("test", 487, 129, 10, 530),
    ];
    for (split, rows, documents, multi, labels) in expected {
        let dataset = load_split!(DatasetName::AbsabankImm, split);
        assert_eq!(dataset.samples.len(), rows);
        let docs: std::collections::BTreeSet<&str> = dataset
            .samples
            .iter()
            .filter_map(|s| s.meta["document"].as_str())
            .collect();
        assert_eq!(docs.len(), documents, "{split} documents");
        let matrix = harness::data::annotator_matrix(&dataset.samples);
        let given: Vec<usize> = matrix
            .iter()
            .map(|row| row.iter().flatten().count())
            .collect();
        assert_eq!(
            given.iter().filter(|&&n| n >= 2).count(),
            multi,
            "{split} multi-annotated"
        );
        assert_eq!(
            given.iter().sum::<usize>(),
            labels,
            "{split} annotator labels"
        );
    }
}

#[test]
fn absabank_imm_test_label_distribution_matches_the_readme() {
    let dataset = load_split!(DatasetName::AbsabankImm, "test");
    let matrix = harness::data::annotator_matrix(&dataset.samples);
    let mut annotator = [0usize; 5];
    for value in matrix.iter().flatten().flatten() {
        annotator[*value as usize - 1] += 1;
    }
    assert_eq!(annotator, [68, 149, 249, 51, 13]);
    let mut gold = BTreeMap::new();
    for sample in &dataset.samples {
        if let Target::Rating { value } = sample.target {
            if value.fract() == 0.0 {
                *gold.entry(value as i64).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(
        gold,
        [(1, 66), (2, 136), (3, 230), (4, 40), (5, 9)]
            .into_iter()
            .collect()
    );
}

#[test]
fn absabank_imm_tsv_holds_the_same_rows_as_the_jsonl() {
    let dir = crate::data_dir();
    for split in ["train", "dev", "test"] {
        let jsonl =
            harness::data::load(DatasetName::AbsabankImm, split, &dir).map_err(|e| e.to_string());
        let tsv = harness::data::load_absabank_tsv(split, &dir).map_err(|e| e.to_string());
        let (jsonl, tsv) = (
            jsonl.unwrap_or_else(|e| panic!("{e}")),
            tsv.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(jsonl.samples, tsv.samples, "{split}");
    }
    // U+2028 and U+0085 stay inside train texts rather than splitting rows.
    let train = harness::data::load_absabank_tsv("train", &dir).unwrap_or_else(|e| panic!("{e}"));
    let separators: usize = train
        .samples
        .iter()
        .map(|s| s.input.matches(['\u{2028}', '\u{85}']).count())
        .sum();
    assert_eq!(separators, 6);
}

#[test]
fn reasoning_dataset_counts_match_the_readmes() {
    let gsm_test = load_split!(DatasetName::Gsm8k, "test");
    assert_eq!(gsm_test.samples.len(), 1319);
    assert_eq!(load_split!(DatasetName::Gsm8k, "train").samples.len(), 7473);
    assert_eq!(
        load_split!(DatasetName::Gsm8k, "test_socratic")
            .samples
            .len(),
        1319
    );
    assert_eq!(
        gsm_test.samples[0].target,
        Target::Answer { value: "18".into() }
    );
    assert!(!gsm_test.samples[0].meta["rationale"]
        .as_str()
        .unwrap_or("<<")
        .contains("<<"));

    let math = load_split!(DatasetName::Math500, "test");
    assert_eq!(math.samples.len(), 500);
    assert_eq!(math.samples[0].id, "test/precalculus/807.json");
    let mut levels = [0; 5];
    for sample in &math.samples {
        levels[sample.meta["level"].as_u64().unwrap_or(1) as usize - 1] += 1;
    }
    assert_eq!(levels, [43, 90, 105, 128, 134]);

    let strategy = load_split!(DatasetName::Strategyqa, "test");
    assert_eq!(
        answer_counts(&strategy),
        [("no".to_string(), 1219), ("yes".to_string(), 1071)]
            .into_iter()
            .collect()
    );

    let csqa = load_split!(DatasetName::Commonsenseqa, "dev");
    let letters = |pairs: &[(&str, usize)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        answer_counts(&csqa),
        letters(&[("A", 239), ("B", 255), ("C", 241), ("D", 251), ("E", 235)])
    );
    assert_eq!(csqa.samples[0].id, "1afa02df02c908a558b4036e80242fac");
    assert_eq!(csqa.samples[0].choices.len(), 5);

    let arc = load_split!(DatasetName::ArcChallenge, "test");
    assert_eq!(
        answer_counts(&arc),
        letters(&[("A", 266), ("B", 311), ("C", 310), ("D", 285)])
    );
    assert_eq!(
        arc.samples.first().map(|s| s.id.as_str()),
        Some("Mercury_7175875")
    );
    assert_eq!(
        arc.samples.last().map(|s| s.id.as_str()),
        Some("MEA_2013_8_15")
    );
    let mut sizes = BTreeMap::new();
    for sample in &arc.samples {
        *sizes.entry(sample.choices.len()).or_insert(0) += 1;
    }
    assert_eq!(sizes, [(3, 4), (4, 1165), (5, 3)].into_iter().collect());

    let med = load_split!(DatasetName::Medmcqa, "test");
    assert_eq!(
        answer_counts(&med),
        letters(&[("A", 950), ("B", 735), ("C", 617), ("D", 514)])
    );
    assert_eq!(med.samples[0].id, "b64a9cd7-d076-4c55-8be1-f9c44fece6cc");
    let hard = load_split!(DatasetName::Medmcqa, "hard");
    assert_eq!(
        answer_counts(&hard),
        letters(&[("A", 29), ("B", 24), ("C", 23), ("D", 24)])
    );
}
