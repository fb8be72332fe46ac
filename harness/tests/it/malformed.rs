//! Corrupted temporary copies of the real files: every loader names file, line and field.

use std::path::{Path, PathBuf};

use harness::data::DatasetName;

/// Copies `relative` from the real data directory into a fresh temporary data directory,
/// applies `corrupt` to its text, and returns the load error's message.
fn load_corrupted(
    name: DatasetName,
    split: &str,
    corrupt: impl FnOnce(String) -> String,
) -> String {
    let real = crate::data_dir();
    let relative = name.relative_path(split).unwrap_or_else(|e| panic!("{e}"));
    let temporary = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let target = temporary.path().join(&relative);
    std::fs::create_dir_all(target.parent().unwrap_or(Path::new(".")))
        .unwrap_or_else(|e| panic!("{e}"));
    let original = std::fs::read_to_string(real.join(&relative)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&target, corrupt(original)).unwrap_or_else(|e| panic!("{e}"));
    match harness::data::load(name, split, temporary.path()) {
        Ok(_) => panic!("the corrupted {name} {split} loaded without error"),
        Err(error) => error.to_string(),
    }
}

fn replace_line(text: &str, line: usize, new: impl FnOnce(&str) -> String) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    lines[line - 1] = new(&lines[line - 1]);
    lines.join("\n")
}

fn expect(message: String, file: &str, line: usize, field: &str) {
    let wanted = format!("{file}:{line}: field `{field}`");
    assert!(
        message.contains(&wanted),
        "expected `{wanted}` in: {message}"
    );
}

#[test]
fn uit_visfd_bad_label_names_its_line() {
    let mut line = 0;
    let message = load_corrupted(DatasetName::UitVisfd, "test", |text| {
        let at = text.find("\r\n3,").unwrap_or(0) + 2;
        line = text[..at].matches('\n').count() + 1;
        let end = at + text[at..].find("\r\n").unwrap_or(0);
        let record = &text[at..end];
        let fixed = record
            .replace("#Positive}", "#Great}")
            .replace("#Negative}", "#Great}");
        format!("{}{}{}", &text[..at], fixed, &text[end..])
    });
    expect(message, "Test.csv", line, "label");
}

#[test]
fn uit_visfd_unclosed_quote_names_its_line() {
    let mut line = 0;
    let message = load_corrupted(DatasetName::UitVisfd, "dev", |text| {
        // The last record opens a quote that nothing after it closes.
        let at = text.rfind("\r\n1111,").unwrap_or(0) + 2;
        line = text[..at].matches('\n').count() + 1;
        format!(
            "{}1111,\"never closed{}",
            &text[..at],
            text[at + 5..].replace('"', "")
        )
    });
    expect(message.clone(), "Dev.csv", line, "(record)");
    assert!(message.contains("never closed"));
}

#[test]
fn uit_visfd_bad_star_rating_names_its_line() {
    let mut line = 0;
    let message = load_corrupted(DatasetName::UitVisfd, "dev", |text| {
        // A record on one line with an unquoted comment: index,comment,n_star,...
        let lines: Vec<&str> = text.split('\n').collect();
        line = 1 + lines
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, l)| !l.contains('"') && l.split(',').nth(2).is_some_and(|f| f.len() == 1))
            .map_or(0, |(index, _)| index);
        replace_line(&text, line, |l| {
            let mut fields: Vec<String> = l.split(',').map(str::to_string).collect();
            fields[2] = "9".to_string();
            fields.join(",")
        })
    });
    expect(message, "Dev.csv", line, "n_star");
}

#[test]
fn vlsp2018_bad_polarity_names_its_line() {
    let message = load_corrupted(DatasetName::Vlsp2018Hotel, "test", |text| {
        replace_line(&text, 7, |l| {
            l.replace("positive", "great").replace("negative", "great")
        })
    });
    expect(message, "3-VLSP2018-SA-Hotel-test.txt", 7, "labels");
}

#[test]
fn vlsp2018_missing_label_line_names_its_line() {
    let message = load_corrupted(DatasetName::Vlsp2018Restaurant, "test", |text| {
        replace_line(&text, 3, |_| String::new())
    });
    expect(message, "3-VLSP2018-SA-Restaurant-test.txt", 2, "labels");
}

#[test]
fn uit_visd4sa_bad_span_names_its_line() {
    let message = load_corrupted(DatasetName::UitVisd4sa, "test", |text| {
        replace_line(&text, 10, |l| l.replacen("[[", "[[\"x\", ", 1))
    });
    assert!(
        message.contains("test.jsonl:10: field `labels[0]`"),
        "{message}"
    );
}

#[test]
fn jsonl_truncated_line_names_its_line() {
    let message = load_corrupted(DatasetName::Gsm8k, "test", |text| {
        replace_line(&text, 5, |l| l[..l.len() / 2].to_string())
    });
    expect(message, "test.jsonl", 5, "(json)");
}

#[test]
fn gsm8k_answer_without_marker_names_its_line() {
    let message = load_corrupted(DatasetName::Gsm8k, "test", |text| {
        replace_line(&text, 3, |l| l.replace("\\n#### ", " "))
    });
    expect(message, "test.jsonl", 3, "answer");
}

#[test]
fn absabank_label_of_wrong_type_names_its_line() {
    let message = load_corrupted(DatasetName::AbsabankImm, "dev", |text| {
        replace_line(&text, 4, |l| {
            let start = l.find("\"label\": ").unwrap_or(0) + 9;
            let end = start + l[start..].find(',').unwrap_or(0);
            format!("{}\"high\"{}", &l[..start], &l[end..])
        })
    });
    expect(message, "absabank-imm_dev.jsonl", 4, "label");
}

#[test]
fn medmcqa_answer_outside_choices_names_its_line() {
    let message = load_corrupted(DatasetName::Medmcqa, "hard", |text| {
        replace_line(&text, 6, |l| {
            let start = l.find("\"answer_idx\": \"").unwrap_or(0) + 15;
            format!("{}E{}", &l[..start], &l[start + 1..])
        })
    });
    expect(message, "test_hard.jsonl", 6, "answer_idx");
}

#[test]
fn strategyqa_bad_target_scores_names_the_example() {
    let message = load_corrupted(DatasetName::Strategyqa, "test", |text| {
        text.replacen(
            "\"Yes\": 0,\n            \"No\": 1",
            "\"Yes\": 1,\n            \"No\": 1",
            1,
        )
    });
    assert!(
        message.contains("task.json:") && message.contains(".target_scores`"),
        "{message}"
    );
}

#[test]
fn missing_data_directory_says_what_to_do() {
    let error = harness::data::load(
        DatasetName::Gsm8k,
        "test",
        &PathBuf::from("/nonexistent/r2l-data"),
    );
    let message = error.map(|_| ()).unwrap_err().to_string();
    assert!(
        message.contains("--data-dir") && message.contains("R2L_DATA_DIR"),
        "{message}"
    );
}
