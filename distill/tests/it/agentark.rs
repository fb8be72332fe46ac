//! The AgentArk protocol end to end against scripted agents over HTTP, on the real GSM8K train
//! split.

use std::collections::HashSet;

use serde_json::Value;

use crate::solvers::*;
use crate::support::{lines, transcripts};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// Every solution of a transcript: each round's answers, then the aggregate.
fn solutions(transcript: &Value) -> Vec<Value> {
    transcript["rounds"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["answers"].as_array().cloned().unwrap_or_default())
        .chain(std::iter::once(transcript["aggregate"].clone()))
        .collect()
}

/// Whether a scripted solution gives `gold` (its last line is `Answer: <n>`, maybe spaced).
fn gives(text: &str, gold: i64) -> bool {
    normalized(text).ends_with(&format!("Answer: {gold}"))
}

fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks every label against the gold answer read from the scripted text, the R-SFT rule and
/// the stepwise rule; returns how many questions gave an R-SFT record.
fn check_labels_and_filters(out: &std::path::Path) -> usize {
    let sft = lines(&out.join(distill::SFT_FILE));
    let stepwise = lines(&out.join(distill::STEPWISE_FILE));
    let mut r_sft = 0;
    for transcript in transcripts(out) {
        let gold = SELECTED[position(&transcript)].gold;
        let id = &transcript["id"];
        for solution in solutions(&transcript) {
            let text = solution["text"].as_str().unwrap_or_default();
            assert_eq!(solution["correct"], gives(text, gold), "{solution}");
        }
        let final_right = transcript["rounds"]
            .as_array()
            .and_then(|r| r.last())
            .and_then(|r| r["answers"].as_array())
            .map_or(0, |a| a.iter().filter(|s| s["correct"] == true).count());
        assert_eq!(transcript["agents_final_correct"], final_right);
        let expected = transcript["aggregate"]["correct"] == true && final_right >= 2;
        assert_eq!(transcript["r_sft"], expected, "{transcript}");
        let records: Vec<&Value> = sft.iter().filter(|r| &r["id"] == id).collect();
        if expected {
            r_sft += 1;
            let augmented = transcript["augmented"].as_array().map_or(0, Vec::len);
            assert_eq!(records.len(), 1 + augmented);
            assert_eq!(
                records[0]["messages"][2]["content"], transcript["aggregate"]["text"],
                "the R-SFT record is the aggregator's solution"
            );
        } else {
            assert!(records.is_empty());
        }
        // Stepwise rows as AgentArk's prm/finetune2.py reads them: the final round's solutions
        // then the aggregate's, duplicates kept, when both labels are among them.
        let finals: Vec<Value> = transcript["rounds"]
            .as_array()
            .and_then(|r| r.last())
            .and_then(|r| r["answers"].as_array())
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::once(transcript["aggregate"].clone()))
            .filter(|s| s["text"].is_string())
            .collect();
        let labels: Vec<bool> = finals.iter().map(|s| s["correct"] == true).collect();
        let rows: Vec<&Value> = stepwise.iter().filter(|r| &r["id"] == id).collect();
        if labels.contains(&true) && labels.contains(&false) {
            assert_eq!(rows.len(), 1, "{transcript}");
            let row = rows[0];
            let completions = row["completions"].as_array().cloned().unwrap_or_default();
            let texts: Vec<&Value> = finals.iter().map(|s| &s["text"]).collect();
            assert_eq!(
                completions.iter().collect::<Vec<_>>(),
                texts,
                "{transcript}"
            );
            assert_eq!(
                row["labels"]
                    .as_array()
                    .map(|l| l.iter().map(|b| b == true).collect()),
                Some(labels),
            );
            for (completion, label) in completions
                .iter()
                .zip(row["labels"].as_array().into_iter().flatten())
            {
                let text = completion.as_str().unwrap_or_default();
                assert_eq!(label.as_bool(), Some(gives(text, gold)));
            }
            assert!(row["prompt"]
                .as_str()
                .is_some_and(|p| p.contains(&SELECTED[position(&transcript)].input)));
        } else {
            assert!(rows.is_empty(), "no stepwise row without both labels");
        }
    }
    r_sft
}

#[test]
fn r_sft_needs_a_right_aggregate_and_two_agents_that_ended_right() {
    let dir = tempdir();
    // Even questions: a and b end right; odd ones: only a does. The aggregator is always right.
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::RightOnEven),
            ("c", "teacher", Solver::Wrong),
            ("judge", "meta", Solver::Right),
        ],
        "",
    );
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(agentark(2, 0), &dir.path().join("split")),
    );
    assert_eq!(check_labels_and_filters(&out), QUESTIONS / 2);
    for transcript in transcripts(&out) {
        assert_eq!(transcript["rounds"].as_array().map_or(0, Vec::len), 3);
        assert_eq!(transcript["aggregate"]["agent"], "judge");
        assert_eq!(transcript["r_sft"], position(&transcript).is_multiple_of(2));
    }
    let figures = &outcome.stats.protocol_figures;
    assert_eq!(figures["aggregate"]["correct"], QUESTIONS);
    assert_eq!(figures["r_sft"], QUESTIONS / 2);
    assert_eq!(outcome.stats.records.sft, QUESTIONS / 2);
    assert_eq!(
        outcome.stats.records.stepwise, QUESTIONS,
        "c is wrong everywhere"
    );
    for row in lines(&out.join(distill::STEPWISE_FILE)) {
        let completions = row["completions"].as_array().cloned().unwrap_or_default();
        // The three agents' round-2 solutions and the aggregate's; on even questions a and b
        // write the same solution, and both are kept.
        assert_eq!(completions.len(), 4, "{row}");
        let even = SELECTED
            .iter()
            .position(|q| row["id"] == q.id.as_str())
            .is_some_and(|k| k % 2 == 0);
        assert_eq!(completions[0] == completions[1], even, "{row}");
    }

    // Two agents right but a wrong aggregate: no R-SFT record; no meta agent is needed.
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Wrong),
            ("b", "teacher", Solver::Right),
            ("c", "teacher", Solver::Right),
        ],
        "",
    );
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(agentark(1, 0), &dir.path().join("wrong-aggregate")),
    );
    assert_eq!(check_labels_and_filters(&out), 0);
    for transcript in transcripts(&out) {
        assert_eq!(
            transcript["aggregate"]["agent"], "a",
            "the first teacher aggregates"
        );
        assert_eq!(transcript["aggregate"]["correct"], false);
    }
    assert_eq!(outcome.stats.records.sft, 0);
}

#[test]
fn augmentation_adds_distinct_right_trajectories_self_corrected_agents_first() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::RightSpaced),
            ("c", "teacher", Solver::Learner),
            ("judge", "meta", Solver::Right),
        ],
        "",
    );
    let dir = tempdir();
    for augment in [1, 2, 5] {
        let options = reasoning_options(
            agentark(1, augment),
            &dir.path().join(format!("augment-{augment}")),
        );
        let (out, outcome) = run_gsm8k(&toml, dir.path(), &options);
        check_labels_and_filters(&out);
        // Right solutions: a and b (the same after whitespace) in both rounds, and c in round
        // 1 after a wrong round 0: two distinct trajectories beside the aggregate.
        let picks = augment.min(2);
        for transcript in transcripts(&out) {
            let augmented = transcript["augmented"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(augmented.len(), picks, "{transcript}");
            assert_eq!(
                augmented[0]["agent"], "c",
                "the self-corrected agent comes first"
            );
            assert_eq!(augmented[0]["self_corrected"], true);
            if picks == 2 {
                assert_eq!(augmented[1]["agent"], "a");
                assert_eq!(augmented[1]["round"], 0);
            }
        }
        let sft = lines(&out.join(distill::SFT_FILE));
        assert_eq!(sft.len(), QUESTIONS * (1 + picks));
        for transcript in transcripts(&out) {
            let texts: HashSet<String> = sft
                .iter()
                .filter(|r| r["id"] == transcript["id"])
                .map(|r| normalized(r["messages"][2]["content"].as_str().unwrap_or_default()))
                .collect();
            assert_eq!(
                texts.len(),
                1 + picks,
                "distinct after whitespace normalisation"
            );
        }
        assert_eq!(
            outcome.stats.protocol_figures["augmented"],
            QUESTIONS * picks
        );
        assert_eq!(
            outcome.stats.protocol_figures["self_corrections"],
            QUESTIONS
        );
        // c was wrong in round 0 only: every final solution is right, so no stepwise row.
        assert_eq!(outcome.stats.records.stepwise, 0);
    }
}

#[test]
fn agents_that_fail_or_write_prose_are_labelled_wrong_or_counted_as_abstaining() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Right),
            ("m", "teacher", Solver::MalformedBody),
            ("p", "teacher", Solver::Prose),
        ],
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(agentark(1, 0), &dir.path().join("out")),
    );
    assert_eq!(check_labels_and_filters(&out), QUESTIONS);
    for transcript in transcripts(&out) {
        for round in transcript["rounds"].as_array().into_iter().flatten() {
            let answers = round["answers"].as_array().cloned().unwrap_or_default();
            assert!(answers[2]["text"].is_null(), "m abstains");
            assert_eq!(answers[3]["correct"], false, "prose has no final answer");
        }
    }
    assert_eq!(
        outcome.stats.failures["m"].abstained as usize,
        2 * QUESTIONS
    );
    assert!(outcome.stats.failures["p"].retried as usize >= 4 * QUESTIONS);
}

#[test]
fn agentark_cache_ledger_budget_and_resume_behave_as_in_r2l() {
    check_cache_ledger_budget_resume(
        agentark(2, 0),
        &[
            ("a", "teacher", Solver::Flaky),
            ("b", "teacher", Solver::RightOnEven),
            ("c", "teacher", Solver::Learner),
        ],
    );
}

#[test]
fn predictions_are_the_aggregators_answers_and_the_team_cost_is_reported_per_question() {
    let dir = tempdir();
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Wrong),
            ("judge", "meta", Solver::RightOnEven),
        ],
        "",
    );
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(agentark(1, 0), &dir.path().join("out")),
    );
    let transcripts = transcripts(&out);
    let predictions = lines(&out.join(distill::PREDICTIONS_FILE));
    assert_eq!(predictions.len(), QUESTIONS);
    let mut tokens = 0;
    for (transcript, prediction) in transcripts.iter().zip(&predictions) {
        let parsed = harness::scoring::parse_prediction(prediction, 1)
            .unwrap_or_else(|e| panic!("{prediction}: {e:?}"));
        assert_eq!(parsed.id, transcript["id"].as_str().unwrap_or_default());
        assert_eq!(
            parsed.output.as_deref(),
            transcript["aggregate"]["text"].as_str(),
            "the aggregator's answer, right or wrong"
        );
        for answer in solutions(transcript) {
            tokens += answer["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap_or_default()
                + answer["usage"]["completion_tokens"]
                    .as_u64()
                    .unwrap_or_default();
        }
    }
    let figures = &outcome.stats.protocol_figures;
    // Two agents in round 0 and round 1, then the aggregator: five calls, no repair turns.
    assert_eq!(figures["calls_per_question"], 5.0, "{figures}");
    assert_eq!(
        figures["tokens_per_question"],
        tokens as f64 / QUESTIONS as f64,
        "{figures}"
    );
    assert!(tokens > 0);
}
