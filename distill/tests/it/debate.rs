//! The Debate & Reflect protocol end to end against scripted agents over HTTP, on the real
//! GSM8K train split.

use std::collections::BTreeMap;

use serde_json::Value;

use distill::protocols::debate::DebateSettings;

use crate::solvers::*;
use crate::support::{lines, transcripts};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn texts(round: &Value, right: bool) -> Vec<String> {
    round["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["text"].is_string() && t["correct"] == right)
        .map(|t| t["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn content(turns: &Value) -> String {
    turns[0]["content"].as_str().unwrap_or_default().to_string()
}

/// (chosen, rejected) → how many records hold the pair.
type PairCounts = BTreeMap<(String, String), usize>;

fn pairs_of(records: &[&Value]) -> PairCounts {
    let mut pairs = PairCounts::new();
    for record in records {
        *pairs
            .entry((content(&record["chosen"]), content(&record["rejected"])))
            .or_default() += 1;
    }
    pairs
}

#[test]
fn t_dpo_pairs_are_the_right_by_wrong_cross_product_of_every_round() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Wrong),
            ("c", "teacher", Solver::RightOnEven),
            ("s", "student", Solver::Learner),
        ],
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(debate(2), &dir.path().join("out")),
    );
    let dpo = lines(&out.join(distill::DPO_FILE));
    let sft = lines(&out.join(distill::SFT_FILE));
    for transcript in transcripts(&out) {
        let id = transcript["id"].as_str().unwrap_or_default();
        let rounds = transcript["rounds"].as_array().cloned().unwrap_or_default();
        // b is always wrong: every question runs to round 2.
        assert_eq!(rounds.len(), 3, "{transcript}");
        assert_eq!(transcript["stop"], "last_round");
        let mut expected = PairCounts::new();
        for (number, round) in rounds.iter().enumerate() {
            let (right, wrong) = (texts(round, true), texts(round, false));
            for good in &right {
                for bad in &wrong {
                    *expected.entry((good.clone(), bad.clone())).or_default() += 1;
                }
            }
            // After every round but the last: each right agent critiques each wrong one, and
            // each wrong agent reflects.
            let critiques: usize = round["turns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["critiques_given"].as_array().map_or(0, Vec::len))
                .sum();
            let reflections = round["turns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["reflection"]["text"].is_string())
                .count();
            if number < 2 {
                assert_eq!(critiques, right.len() * wrong.len(), "{round}");
                assert_eq!(reflections, wrong.len(), "{round}");
            } else {
                assert_eq!(
                    (critiques, reflections),
                    (0, 0),
                    "no feedback after round R"
                );
            }
        }
        let records: Vec<&Value> = dpo.iter().filter(|r| r["id"] == id).collect();
        assert_eq!(pairs_of(&records), expected, "{id}");
        // Round-0 records carry the bare task prompt; later ones the debate context.
        let round0 = records
            .iter()
            .filter(|r| !content_of_user(r).contains("You are debating"))
            .count();
        let first = &rounds[0];
        assert_eq!(round0, texts(first, true).len() * texts(first, false).len());
        // SFT: the distinct right answers of the teachers, never the student's.
        let sft_texts: Vec<String> = sft
            .iter()
            .filter(|r| r["id"] == id)
            .map(|r| {
                r["messages"][2]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert!(!sft_texts.iter().any(|t| t.contains("fixed my mistake")));
        assert_eq!(
            sft_texts.len(),
            1,
            "a and c give the same right text: {sft_texts:?}"
        );
    }
    let figures = &outcome.stats.protocol_figures;
    let round0 = &figures["accuracy_per_round"][0];
    assert_eq!(round0["questions"], QUESTIONS);
    assert_eq!(round0["per_agent"]["a"]["correct"], QUESTIONS);
    assert_eq!(round0["per_agent"]["b"]["correct"], 0);
    assert_eq!(round0["per_agent"]["s"]["correct"], 0);
    // The learner is right once it has seen the others.
    assert_eq!(
        figures["accuracy_per_round"][1]["per_agent"]["s"]["correct"],
        QUESTIONS
    );
    assert_eq!(outcome.stats.records.dpo, dpo.len());
}

fn content_of_user(record: &Value) -> String {
    record["prompt"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_question_all_agents_get_right_is_not_debated_and_one_with_a_wrong_agent_runs_to_round_r() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("c", "teacher", Solver::RightOnEven),
            ("s", "student", Solver::RightOnEven),
        ],
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(debate(3), &dir.path().join("out")),
    );
    let dpo = lines(&out.join(distill::DPO_FILE));
    for transcript in transcripts(&out) {
        let rounds = transcript["rounds"].as_array().map_or(0, Vec::len);
        let records = dpo.iter().filter(|r| r["id"] == transcript["id"]).count();
        if position(&transcript).is_multiple_of(2) {
            assert_eq!(rounds, 1, "{transcript}");
            assert_eq!(transcript["stop"], "all_correct");
            assert_eq!(records, 0, "no wrong answer, no pair");
        } else {
            assert_eq!(rounds, 4, "{transcript}");
            assert_eq!(transcript["stop"], "last_round");
            // One right × two wrong answers in each of rounds 0..3.
            assert_eq!(records, 4 * 2, "{transcript}");
        }
    }
    let stop = &outcome.stats.protocol_figures["stop"];
    assert_eq!(stop["all_correct"], QUESTIONS / 2);
    assert_eq!(stop["last_round"], QUESTIONS / 2);
}

/// The context part of a debate prompt (between the intro and the closing instruction).
fn context_of(record: &Value) -> String {
    let user = content_of_user(record);
    let start = user
        .find("the feedback it received:\n\n")
        .map(|at| at + "the feedback it received:\n\n".len())
        .unwrap_or(0);
    let end = user
        .find("\n\nConsider them carefully")
        .unwrap_or(user.len());
    user[start..end].to_string()
}

#[test]
fn when_the_context_overflows_the_budget_the_pair_repeats_with_the_rest_of_the_context() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Wrong),
            ("s", "student", Solver::Learner),
        ],
        "",
    );
    let dir = tempdir();
    // An entry here is 20-40 tokens: with 40 tokens, no block holds two entries.
    let options = reasoning_options(
        DebateSettings {
            prompt_budget: 40,
            ..debate(1)
        },
        &dir.path().join("out"),
    );
    let (out, _) = run_gsm8k(&toml, dir.path(), &options);
    let dpo = lines(&out.join(distill::DPO_FILE));
    for transcript in transcripts(&out) {
        let id = transcript["id"].as_str().unwrap_or_default();
        let round0 = &transcript["rounds"][0];
        let answers: Vec<String> = round0["turns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["text"].as_str().map(str::to_string))
            .collect();
        let later: Vec<&Value> = dpo
            .iter()
            .filter(|r| r["id"] == id && content_of_user(r).contains("You are debating"))
            .collect();
        let mut by_pair: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for record in &later {
            by_pair
                .entry((content(&record["chosen"]), content(&record["rejected"])))
                .or_default()
                .push(context_of(record));
        }
        // Round 1: a and s right, b wrong: two pairs, each over every block of the context.
        assert_eq!(by_pair.len(), 2, "{id}");
        for contexts in by_pair.values() {
            assert!(
                contexts.len() > 1,
                "the context overflowed into several records"
            );
            assert!(contexts.iter().all(|c| c.starts_with("Answer 1:\n")));
            // Every round-0 answer is shown in exactly one of the pair's records: the rest of
            // the context, not a repeat.
            for answer in &answers {
                let shown = contexts
                    .iter()
                    .filter(|c| c.contains(answer.as_str()))
                    .count();
                assert_eq!(shown, 1, "{answer} is shown once: {contexts:?}");
            }
            // Each entry is labelled "Answer k:" (its own final-answer line is "Answer: n").
            let entries: usize = contexts.iter().map(|c| c.matches("Answer ").count()).sum();
            assert_eq!(entries, answers.len(), "{contexts:?}");
        }
    }
}

/// The entries of a T-DPO record's context, in order (each labelled "Answer k:").
fn context_entries(context: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut rest = context
        .strip_prefix("Answer 1:\n")
        .unwrap_or_else(|| panic!("{context}"));
    for next in 2.. {
        let label = format!("\n\nAnswer {next}:\n");
        match rest.find(&label) {
            Some(at) => {
                entries.push(rest[..at].to_string());
                rest = &rest[at + label.len()..];
            }
            None => {
                entries.push(rest.to_string());
                break;
            }
        }
    }
    entries
}

#[test]
fn t_dpo_contexts_hold_the_parsed_answers_shortest_first_in_student_tokens() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Wrong),
            ("p", "teacher", Solver::Prose),
            ("s", "student", Solver::Learner),
        ],
        "",
    );
    let dir = tempdir();
    let (out, _) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(debate(1), &dir.path().join("out")),
    );
    let tokenizer = default_tokenizer();
    let dpo = lines(&out.join(distill::DPO_FILE));
    for transcript in transcripts(&out) {
        let id = transcript["id"].as_str().unwrap_or_default();
        // The live round 1 showed every answer of round 0, p's prose too.
        let shown = transcript["rounds"][1]["context_order"].clone();
        assert!(shown.as_array().is_some_and(|a| a.len() == 4), "{shown}");
        let later: Vec<&Value> = dpo
            .iter()
            .filter(|r| r["id"] == id && content_of_user(r).contains("You are debating"))
            .collect();
        assert!(!later.is_empty(), "{id}");
        for record in later {
            let entries = context_entries(&context_of(record));
            // a, b and s: p's answer has no final answer and is skipped.
            assert_eq!(entries.len(), 3, "{entries:?}");
            assert!(
                entries.iter().all(|e| !e.contains("not sure")),
                "{entries:?}"
            );
            let lengths: Vec<usize> = entries
                .iter()
                .map(|e| tokenizer.count(e).unwrap_or_else(|error| panic!("{error}")))
                .collect();
            assert!(
                lengths.windows(2).all(|w| w[0] <= w[1]),
                "shortest first: {lengths:?} {entries:?}"
            );
        }
    }
    // The run records the tokenizer that counted the budget.
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(distill::MANIFEST_FILE)).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(manifest["prompt_token_budget"], 1000);
    assert_eq!(manifest["context_tokenizer_sha256"], tokenizer.sha256());
}

#[test]
fn abstentions_and_answers_without_a_final_answer_are_counted_not_dropped() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("m", "teacher", Solver::MalformedBody),
            ("p", "student", Solver::Prose),
        ],
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(debate(1), &dir.path().join("out")),
    );
    for transcript in transcripts(&out) {
        for round in transcript["rounds"].as_array().into_iter().flatten() {
            let turn = |agent: &str| {
                round["turns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| t["agent"] == agent)
                    .cloned()
                    .unwrap_or_default()
            };
            assert!(turn("m")["text"].is_null(), "m abstains: {round}");
            assert!(turn("m")["error"].is_string());
            let prose = turn("p");
            assert_eq!(prose["correct"], false);
            assert!(prose["final_answer"].is_null());
            assert_eq!(
                prose["parse_retries"], 2,
                "two repair turns before giving up"
            );
        }
    }
    let failures = &outcome.stats.failures;
    // Two rounds per question: m abstains in both, p is asked to repair twice in both.
    assert_eq!(failures["m"].abstained as usize, 2 * QUESTIONS);
    assert!(failures["m"].failed_calls > 0);
    assert!(failures["p"].retried as usize >= 4 * QUESTIONS);
    let dpo = lines(&out.join(distill::DPO_FILE));
    // Per round: a's answer × p's prose.
    assert_eq!(dpo.len(), 2 * QUESTIONS);
    assert!(dpo
        .iter()
        .all(|r| content(&r["rejected"]).contains("not sure")));
}

#[test]
fn debate_cache_ledger_budget_and_resume_behave_as_in_r2l() {
    check_cache_ledger_budget_resume(
        debate(2),
        &[
            ("a", "teacher", Solver::Flaky),
            ("b", "teacher", Solver::Wrong),
            ("s", "student", Solver::Learner),
        ],
    );
}

/// Every call a debate transcript records (answers, critiques, reflections, with their repair
/// turns) and the tokens they reported.
fn calls_and_tokens(transcript: &Value) -> (u64, u64) {
    let (mut calls, mut tokens) = (0, 0);
    let mut count = |call: &Value| {
        calls += 1 + call["parse_retries"].as_u64().unwrap_or_default();
        tokens += call["usage"]["prompt_tokens"].as_u64().unwrap_or_default()
            + call["usage"]["completion_tokens"]
                .as_u64()
                .unwrap_or_default();
    };
    for turn in transcript["rounds"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["turns"].as_array().into_iter().flatten())
    {
        count(turn);
        for critique in turn["critiques_given"].as_array().into_iter().flatten() {
            count(critique);
        }
        if turn["reflection"].is_object() {
            count(&turn["reflection"]);
        }
    }
    (calls, tokens)
}

#[test]
fn static_records_are_the_right_round_0_teacher_answers_and_predictions_the_last_majority() {
    let (_servers, toml) = start_solvers(
        &[
            ("a", "teacher", Solver::Right),
            ("b", "teacher", Solver::Wrong),
            ("c", "teacher", Solver::RightOnEven),
            ("s", "student", Solver::Learner),
        ],
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_gsm8k(
        &toml,
        dir.path(),
        &reasoning_options(debate(1), &dir.path().join("out")),
    );
    let statics = lines(&out.join(distill::STATIC_FILE));
    let predictions = lines(&out.join(distill::PREDICTIONS_FILE));
    let transcripts = transcripts(&out);
    assert_eq!(predictions.len(), transcripts.len());
    let (mut calls, mut tokens) = (0, 0);
    for (transcript, prediction) in transcripts.iter().zip(&predictions) {
        let id = transcript["id"].as_str().unwrap_or_default();
        let round0 = &transcript["rounds"][0]["turns"];
        // a always right, c right on even positions (the same text: both kept, as D&R's
        // mag2sft.py keeps them); b wrong and the student never a static answer.
        let expected: Vec<String> = round0
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["role"] == "teacher" && t["correct"] == true)
            .map(|t| t["text"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            expected.len(),
            if position(transcript).is_multiple_of(2) {
                2
            } else {
                1
            },
            "{transcript}"
        );
        let records: Vec<&Value> = statics.iter().filter(|r| r["id"] == id).collect();
        let written: Vec<String> = records
            .iter()
            .map(|r| {
                r["messages"][2]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(written, expected, "{id}");
        // The prompt is the task's own, as the student sees it (the same as sft.jsonl's).
        let sft = lines(&out.join(distill::SFT_FILE));
        let sft_prompt = sft.iter().find(|r| r["id"] == id).map(|r| {
            r["messages"]
                .as_array()
                .map(|m| m[..2].to_vec())
                .unwrap_or_default()
        });
        for record in &records {
            assert_eq!(record["messages"][2]["role"], "assistant");
            assert_eq!(
                Some(
                    record["messages"]
                        .as_array()
                        .map(|m| m[..2].to_vec())
                        .unwrap_or_default()
                ),
                sft_prompt
            );
        }
        // The prediction: the last round's majority (a, c and the learner right in round 1).
        let parsed = harness::scoring::parse_prediction(prediction, 1)
            .unwrap_or_else(|e| panic!("{prediction}: {e:?}"));
        assert_eq!(parsed.id, id);
        let last = transcript["rounds"]
            .as_array()
            .and_then(|r| r.last())
            .cloned()
            .unwrap_or_default();
        let right_text = texts(&last, true).first().cloned();
        assert_eq!(parsed.output, right_text, "{transcript}");
        let (question_calls, question_tokens) = calls_and_tokens(transcript);
        calls += question_calls;
        tokens += question_tokens;
    }
    assert_eq!(outcome.stats.records.static_sft, statics.len());
    let figures = &outcome.stats.protocol_figures;
    let n = transcripts.len() as f64;
    assert_eq!(figures["calls_per_question"], calls as f64 / n, "{figures}");
    assert_eq!(
        figures["tokens_per_question"],
        tokens as f64 / n,
        "{figures}"
    );
    assert!(tokens > 0);
    let ledger_calls: u64 = outcome.stats.ledger.values().map(|l| l.calls).sum();
    assert_eq!(
        ledger_calls, calls,
        "every call of the ledger is in the transcripts"
    );
}
