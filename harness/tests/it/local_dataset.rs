//! A user's own dataset: real ARC-Challenge questions written as JSON Lines, CSV and Parquet in
//! the shapes users have (a list column or one column per choice; the answer as a letter, an
//! index or the choice's text) load into the same samples as the built-in loader reads, and
//! malformed records name file, line and field.

use std::path::Path;

use harness::data::{DatasetName, Sample, Target};
use harness::task::resolve_task;
use polars::prelude::*;
use serde_json::json;

use crate::load_split;

/// The first `n` real ARC-Challenge test questions with four choices labelled A–D.
fn arc_questions(n: usize) -> Vec<Sample> {
    let dataset = load_split!(DatasetName::ArcChallenge, "test");
    let questions: Vec<Sample> = dataset
        .samples
        .into_iter()
        .filter(|s| {
            s.choices
                .iter()
                .map(|c| c.label.as_str())
                .collect::<Vec<_>>()
                == ["A", "B", "C", "D"]
        })
        .take(n)
        .collect();
    assert_eq!(questions.len(), n);
    questions
}

fn gold(sample: &Sample) -> &str {
    match &sample.target {
        Target::Answer { value } => value,
        other => panic!("not an answer: {other:?}"),
    }
}

fn gold_index(sample: &Sample) -> usize {
    sample
        .choices
        .iter()
        .position(|c| c.label == gold(sample))
        .unwrap_or_else(|| panic!("gold not among choices"))
}

fn texts(sample: &Sample) -> Vec<&str> {
    sample.choices.iter().map(|c| c.text.as_str()).collect()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
}

/// Writes the task file `task.toml` naming `file` with `fields` and loads its test split.
fn load_local(dir: &Path, file: &str, fields: &str) -> harness::Result<harness::data::Dataset> {
    let toml = format!(
        "name = \"mine\"\nversion = \"1\"\nscorer = \"loglikelihood\"\n[prompt]\nuser = \"Question: {{{{input}}}}\\nAnswer:\"\n[dataset]\npath = \"{file}\"\nkind = \"multiple_choice\"\n[dataset.fields]\n{fields}\n"
    );
    write(dir, "task.toml", &toml);
    let task = resolve_task(&dir.join("task.toml").display().to_string())?;
    task.dataset
        .load("test", Path::new("/nonexistent-data-dir"))
}

fn assert_same_questions(loaded: &[Sample], real: &[Sample]) {
    assert_eq!(loaded.len(), real.len());
    for (mine, theirs) in loaded.iter().zip(real) {
        assert_eq!(mine.id, theirs.id);
        assert_eq!(mine.input, theirs.input);
        assert_eq!(texts(mine), texts(theirs));
        assert_eq!(gold(mine), gold(theirs), "{}", mine.id);
    }
}

#[test]
fn jsonl_with_a_list_column_and_letter_index_or_text_answers_reads_like_the_built_in() {
    let real = arc_questions(12);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<String> = real
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Three answer forms in one file: a letter, a 0-based index, the choice's text.
            let answer = match i % 3 {
                0 => json!(gold(s)),
                1 => json!(gold_index(s)),
                _ => json!(s.choices[gold_index(s)].text),
            };
            json!({"qid": s.id, "stem": s.input, "options": texts(s), "key": answer}).to_string()
        })
        .collect();
    write(dir.path(), "mine.jsonl", &(lines.join("\n") + "\n"));
    let dataset = load_local(
        dir.path(),
        "mine.jsonl",
        "id = \"qid\"\nquestion = \"stem\"\nchoices = \"options\"\nanswer = \"key\"",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_same_questions(&dataset.samples, &real);
    assert_eq!(dataset.name, "mine");
    assert_eq!(dataset.split, "test");
    let bytes = std::fs::read(dir.path().join("mine.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dataset.sha256, harness::data::sha256_hex(&bytes));
}

#[test]
fn csv_with_one_column_per_choice_and_index_answers_reads_like_the_built_in() {
    let real = arc_questions(10);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut csv = String::from("question,A,B,C,D,answer\n");
    for sample in &real {
        let cells: Vec<String> = std::iter::once(quote(&sample.input))
            .chain(sample.choices.iter().map(|c| quote(&c.text)))
            .chain(std::iter::once(gold_index(sample).to_string()))
            .collect();
        csv += &(cells.join(",") + "\r\n");
    }
    write(dir.path(), "mine.csv", &csv);
    let dataset = load_local(
        dir.path(),
        "mine.csv",
        "choices = [\"A\", \"B\", \"C\", \"D\"]",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Without an id column, ids are the record index.
    let ids: Vec<&str> = dataset.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids[..3], ["0", "1", "2"]);
    for (mine, theirs) in dataset.samples.iter().zip(&real) {
        assert_eq!(mine.input, theirs.input);
        assert_eq!(texts(mine), texts(theirs));
        assert_eq!(gold(mine), gold(theirs));
    }
}

fn parquet_file(path: &Path, real: &[Sample], answers: Series) {
    let ids = Series::new(
        "id".into(),
        real.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
    );
    let questions = Series::new(
        "question".into(),
        real.iter().map(|s| s.input.clone()).collect::<Vec<_>>(),
    );
    let choices: Vec<Series> = real
        .iter()
        .map(|s| Series::new("".into(), texts(s)))
        .collect();
    let choices = Series::new("choices".into(), choices);
    let mut frame = DataFrame::new_infer_height(vec![
        ids.into(),
        questions.into(),
        choices.into(),
        answers.into(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    ParquetWriter::new(file)
        .finish(&mut frame)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn parquet_with_a_list_column_and_text_or_index_answers_reads_like_the_built_in() {
    let real = arc_questions(8);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let by_text = Series::new(
        "answer".into(),
        real.iter()
            .map(|s| s.choices[gold_index(s)].text.clone())
            .collect::<Vec<_>>(),
    );
    parquet_file(&dir.path().join("text.parquet"), &real, by_text);
    let dataset = load_local(dir.path(), "text.parquet", "").unwrap_or_else(|e| panic!("{e}"));
    assert_same_questions(&dataset.samples, &real);
    let by_index = Series::new(
        "answer".into(),
        real.iter()
            .map(|s| gold_index(s) as i64)
            .collect::<Vec<_>>(),
    );
    parquet_file(&dir.path().join("index.parquet"), &real, by_index);
    let dataset = load_local(dir.path(), "index.parquet", "").unwrap_or_else(|e| panic!("{e}"));
    assert_same_questions(&dataset.samples, &real);
}

fn error_of(dir: &Path, file: &str, content: &str, fields: &str) -> String {
    write(dir, file, content);
    load_local(dir, file, fields)
        .map(|_| ())
        .expect_err("a malformed record must be refused")
        .to_string()
}

#[test]
fn malformed_records_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = r#"{"question": "2+2?", "choices": ["3", "4"], "answer": "B"}"#;
    let cases = [
        // A missing field, on line 3 (line 2 is blank).
        (
            format!("{good}\n\n{}\n", r#"{"question": "x?", "choices": ["a", "b"]}"#),
            "mine.jsonl:3: field `answer`: missing",
        ),
        // A wrong type.
        (
            format!("{good}\n{}\n", r#"{"question": 7, "choices": ["a", "b"], "answer": "A"}"#),
            "mine.jsonl:2: field `question`: expected a string, found 7",
        ),
        (
            format!("{}\n", r#"{"question": "x?", "choices": "a, b", "answer": "A"}"#),
            "mine.jsonl:1: field `choices`: expected a list",
        ),
        // Answers that are not among the choices: a letter, an index, a text.
        (
            format!("{good}\n{}\n", r#"{"question": "x?", "choices": ["a", "b"], "answer": "C"}"#),
            "mine.jsonl:2: field `answer`: \"C\" is not among the choices (letters A, B, indices 0 to 1",
        ),
        (
            format!("{}\n", r#"{"question": "x?", "choices": ["a", "b"], "answer": 2}"#),
            "mine.jsonl:1: field `answer`: 2 is not among the choices",
        ),
        (
            format!("{}\n", r#"{"question": "x?", "choices": ["a", "b"], "answer": "c"}"#),
            "field `answer`: \"c\" is not among the choices",
        ),
        (
            format!("{good}\nnot json\n"),
            "mine.jsonl:2: field `(json)`: not valid JSON",
        ),
    ];
    for (content, expected) in &cases {
        let message = error_of(dir.path(), "mine.jsonl", content, "");
        assert!(
            message.contains(expected),
            "{message}\nexpected: {expected}"
        );
    }
    // Duplicate ids (an id column given) are refused too.
    let twice = format!(
        "{}\n{}\n",
        r#"{"id": "q1", "question": "a?", "choices": ["a", "b"], "answer": "A"}"#,
        r#"{"id": "q1", "question": "b?", "choices": ["a", "b"], "answer": "B"}"#
    );
    let message = error_of(dir.path(), "mine.jsonl", &twice, "id = \"id\"");
    assert!(
        message.contains("sample id `q1` occurs more than once"),
        "{message}"
    );

    // CSV: a missing column is named with the columns present; a bad cell names its line
    // (a quoted newline makes record 2 start on line 4).
    let message = error_of(
        dir.path(),
        "mine.csv",
        "question,choices\nx?,\"[\"\"a\"\",\"\"b\"\"]\"\n",
        "",
    );
    assert!(
        message.contains("missing column `answer`; columns present: question, choices"),
        "{message}"
    );
    let csv = "question,choices,answer\n\"a\nb?\",\"[\"\"a\"\",\"\"b\"\"]\",A\nx?,a;b,A\n";
    let message = error_of(dir.path(), "mine.csv", csv, "");
    assert!(
        message.contains("mine.csv:4: field `choices`: expected a list (in CSV, a JSON array"),
        "{message}"
    );
    let csv = "question,choices,answer\nx?,\"[\"\"a\"\",\"\"b\"\"]\",\n";
    let message = error_of(dir.path(), "mine.csv", csv, "");
    assert!(
        message.contains("mine.csv:2: field `answer`: missing"),
        "{message}"
    );

    // Parquet: the place is the 1-based row.
    let real = arc_questions(3);
    let answers = Series::new("answer".into(), vec!["A", "Z", "B"]);
    parquet_file(&dir.path().join("bad.parquet"), &real, answers);
    let message = load_local(dir.path(), "bad.parquet", "")
        .map(|_| ())
        .expect_err("Z is not a choice")
        .to_string();
    assert!(
        message.contains("bad.parquet:2: field `answer`: \"Z\" is not among"),
        "{message}"
    );
}

/// The error loading `split` of `task`'s dataset (the test fails when it loads).
fn load_error(task: &harness::task::Task, split: &str, dir: &Path) -> String {
    task.dataset
        .load(split, dir)
        .map(|_| ())
        .expect_err("the split must not load")
        .to_string()
}

fn task_with(dataset: &str) -> String {
    format!("name = \"mine\"\nversion = \"1\"\nscorer = \"accuracy\"\n{dataset}\n[prompt]\nuser = \"{{{{input}}}}\"\n")
}

#[test]
fn the_other_kinds_read_their_fields_and_a_pinned_file_must_not_change() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let resolve = |toml: &str| {
        write(dir.path(), "task.toml", toml);
        resolve_task(&dir.path().join("task.toml").display().to_string())
    };
    // kind = "answer" with integer answers (commas allowed), scored like GSM8K.
    write(
        dir.path(),
        "sums.jsonl",
        "{\"q\": \"1000+234?\", \"a\": \"1,234\"}\n{\"q\": \"2+2?\", \"a\": 4}\n",
    );
    let task = resolve(&task_with("[dataset]\npath = \"sums.jsonl\"\nkind = \"answer\"\nanswer_type = \"integer\"\n[dataset.fields]\nquestion = \"q\"\nanswer = \"a\""))
        .unwrap_or_else(|e| panic!("{e}"));
    let samples = task
        .dataset
        .load("test", dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .samples;
    let answers: Vec<&str> = samples.iter().map(gold).collect();
    assert_eq!(answers, ["1234", "4"]);

    // kind = "absa": pairs as objects or ASPECT#polarity strings, over the task's labels.
    let absa =
        "[dataset]\npath = \"reviews.jsonl\"\nkind = \"absa\"\nlabels = [\"BATTERY\", \"SCREEN\"]";
    write(dir.path(), "reviews.jsonl", "{\"text\": \"pin tốt\", \"aspects\": [{\"aspect\": \"BATTERY\", \"polarity\": \"Positive\"}, \"SCREEN#negative\"]}\n");
    let toml = task_with(absa).replace("accuracy", "absa_f1");
    let task = resolve(&toml).unwrap_or_else(|e| panic!("{e}"));
    let sample = &task
        .dataset
        .load("test", dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .samples[0];
    let pairs: Vec<String> = sample
        .aspect_labels()
        .iter()
        .map(|p| format!("{}#{}", p.aspect, p.polarity))
        .collect();
    assert_eq!(pairs, ["BATTERY#positive", "SCREEN#negative"]);
    write(
        dir.path(),
        "reviews.jsonl",
        "{\"text\": \"x\", \"aspects\": [\"PRICE#positive\"]}\n",
    );
    let message = load_error(&task, "test", dir.path());
    assert!(
        message.contains(
            "reviews.jsonl:1: field `aspects`: aspect `PRICE` is not in the task's labels"
        ),
        "{message}"
    );

    // kind = "rating" from CSV text cells.
    write(dir.path(), "ratings.csv", "text,rating\ngood,4.5\nbad,x\n");
    let toml = task_with("[dataset]\npath = \"ratings.csv\"\nkind = \"rating\"")
        .replace("accuracy", "rating");
    let task = resolve(&toml).unwrap_or_else(|e| panic!("{e}"));
    let message = load_error(&task, "test", dir.path());
    assert!(
        message.contains("ratings.csv:3: field `rating`: expected a number, found \"x\""),
        "{message}"
    );

    // A pinned sha256 holds the file to its content.
    let bytes = std::fs::read(dir.path().join("sums.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let pinned = harness::data::sha256_hex(&bytes);
    let pinned_task = |sha: &str| {
        task_with(&format!("[dataset]\npath = \"sums.jsonl\"\nkind = \"answer\"\nanswer_type = \"integer\"\nsha256 = \"{sha}\"\n[dataset.fields]\nquestion = \"q\"\nanswer = \"a\""))
    };
    let task = resolve(&pinned_task(&pinned)).unwrap_or_else(|e| panic!("{e}"));
    task.dataset
        .load("test", dir.path())
        .unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "sums.jsonl", "{\"q\": \"2+2?\", \"a\": 5}\n");
    let message = load_error(&task, "test", dir.path());
    assert!(
        message.contains(&format!("but the task pins {pinned}: the file changed")),
        "{message}"
    );
}

#[test]
fn task_files_with_a_bad_dataset_table_name_the_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let error_of = |dataset: &str| {
        write(dir.path(), "task.toml", &task_with(dataset));
        resolve_task(&dir.path().join("task.toml").display().to_string())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let cases = [
        ("[dataset]\nkind = \"answer\"", "field `dataset.path`: required"),
        ("[dataset]\npath = \"a.xlsx\"\nkind = \"answer\"", "field `dataset.path`: `a.xlsx`: unknown file type"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"essay\"", "field `dataset.kind`: unknown kind `essay`"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"answer\"", "field `dataset.answer_type`: required"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"multiple_choice\"\n[dataset.fields]\nrating = \"r\"", "field `dataset.fields.rating`: not a field of this kind; it reads id, question, choices, answer"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"multiple_choice\"\n[dataset.fields]\nquestoin = \"q\"", "field `dataset.fields.questoin`: unknown field `questoin`, expected one of `id`, `question`"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"absa\"", "field `dataset.labels`: required for kind absa"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"multiple_choice\"\nsha256 = \"abc\"", "field `dataset.sha256`: expected 64 hexadecimal digits"),
        ("dataset = 3", "field `dataset`: expected a built-in dataset's name or a [dataset] table"),
        ("[dataset]\npath = \"a.jsonl\"\nkind = \"rating\"", "field `scorer`: scorer `accuracy` does not fit dataset a; use `rating`"),
    ];
    for (dataset, expected) in cases {
        let message = error_of(dataset);
        assert!(
            message.contains(expected),
            "{message}\nexpected: {expected}"
        );
    }
    // A missing file is named when the split is loaded.
    write(
        dir.path(),
        "task.toml",
        &task_with(
            "[dataset]\npath = \"absent.jsonl\"\nkind = \"answer\"\nanswer_type = \"latex\"",
        ),
    );
    let task = resolve_task(&dir.path().join("task.toml").display().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let message = load_error(&task, "test", dir.path());
    assert!(message.contains("absent.jsonl"), "{message}");
    let message = load_error(&task, "train", dir.path());
    assert!(
        message.contains("unknown split `train (dataset absent)`; valid: test"),
        "{message}"
    );
}
