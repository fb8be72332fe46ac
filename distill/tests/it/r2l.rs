//! The R2L protocol end to end against scripted teachers over HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use distill::protocols::r2l::Rule;
use distill::Status;

use crate::support::*;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// Always right, always wrong, right on even positions: disagreement on every sample.
const AGREE_AND_DISAGREE: [(&str, &str, Behaviour); 3] = [
    ("a", "teacher", Behaviour::Right),
    ("b", "teacher", Behaviour::Wrong),
    ("c", "teacher", Behaviour::RightOnEven),
];

fn with_wrong(gold: &[(String, String)]) -> Vec<(String, String)> {
    let mut pairs = gold.to_vec();
    pairs.push(wrong_pair(gold));
    pairs.sort();
    pairs
}

#[test]
fn majority_keeps_exactly_the_pairs_more_than_half_the_teachers_hold() {
    let (_teachers, toml) = start_team(&AGREE_AND_DISAGREE, Duration::ZERO, "");
    let dir = tempdir();
    let (out, outcome) = run_in(&toml, dir.path(), "out", None, false);
    assert_eq!(outcome.status, Status::Complete);
    let transcripts = transcripts(&out);
    assert_eq!(transcripts.len(), LIMIT);
    let mut accepted = 0;
    for transcript in &transcripts {
        let gold = gold_of(transcript);
        // The wrong pair is held by b always and by c on odd positions: 2 of 3 there, 1 of 3 else.
        let expected = if position_of(transcript) % 2 == 1 {
            with_wrong(&gold)
        } else {
            gold.clone()
        };
        assert_eq!(final_pairs(transcript), expected, "{transcript}");
        assert_eq!(transcript["decision"]["rule"], "majority");
        let verdict = if expected == gold {
            "accepted"
        } else {
            "rejected"
        };
        assert_eq!(transcript["verdict"], verdict);
        accepted += usize::from(verdict == "accepted");
        assert!(!transcript["conflicts"]
            .as_array()
            .is_some_and(Vec::is_empty));
    }
    assert_eq!(outcome.stats.protocol_figures["accepted"], accepted);
    assert_eq!(outcome.stats.protocol_figures["rejected"], LIMIT - accepted);
    assert_eq!(
        outcome.stats.protocol_figures["consensus"]["majority"],
        LIMIT
    );
    assert_eq!(
        outcome.stats.records.sft, accepted,
        "one SFT record per accepted sample"
    );
}

#[test]
fn weighted_follows_confidence_where_majority_follows_counts() {
    let (_teachers, toml) = start_team(
        &[
            ("a", "teacher", Behaviour::SureRight),
            ("b", "teacher", Behaviour::UnsureWrong),
            ("c", "teacher", Behaviour::UnsureWrong),
        ],
        Duration::ZERO,
        "",
    );
    let dir = tempdir();
    for (rule, expect_gold) in [(Rule::Weighted, true), (Rule::Majority, false)] {
        let (out, _) = run_in(&toml, dir.path(), rule.name(), Some(rule), false);
        for transcript in transcripts(&out) {
            let gold = gold_of(&transcript);
            let expected = if expect_gold { gold } else { with_wrong(&gold) };
            assert_eq!(final_pairs(&transcript), expected, "{rule:?}: {transcript}");
            assert_eq!(transcript["decision"]["rule"], rule.name());
        }
    }
}

#[test]
fn the_meta_agent_decides_and_distinct_wrong_outputs_become_dpo_negatives() {
    let (teachers, toml) = start_team(
        &[
            ("a", "teacher", Behaviour::Right),
            ("b", "teacher", Behaviour::Wrong),
            ("c", "teacher", Behaviour::Wrong),
            ("judge", "meta", Behaviour::Right),
        ],
        Duration::ZERO,
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_in(&toml, dir.path(), "out", None, false);
    assert_eq!(outcome.stats.protocol_figures["consensus"]["meta"], LIMIT);
    for transcript in transcripts(&out) {
        assert_eq!(final_pairs(&transcript), gold_of(&transcript));
        assert_eq!(transcript["verdict"], "accepted");
        assert_eq!(transcript["decision"]["rationale_source"], "meta:judge");
        // b and c give the same wrong outputs: one before revision (with its first rationale)
        // and one after (same labels, the revision's rationale) — two negatives, not four.
        assert_eq!(transcript["records"]["dpo"], 2, "{transcript}");
    }
    let dpo = lines(&out.join(distill::DPO_FILE));
    assert_eq!(dpo.len(), 2 * LIMIT);
    for pair in &dpo {
        let chosen = pair["chosen"][0]["content"].as_str().unwrap_or_default();
        let rejected = pair["rejected"][0]["content"].as_str().unwrap_or_default();
        assert!(chosen.starts_with("Weighing the review"), "{chosen}");
        assert_ne!(chosen, rejected);
        assert_eq!(pair["prompt"][1]["role"], "user");
    }
    // The meta-agent's answer did not parse: majority decides, and the transcript says so.
    let broken = Teacher::start(Behaviour::Unparseable, Duration::ZERO);
    let toml = agents_toml(
        &[
            ("a", "teacher", &teachers[0]),
            ("b", "teacher", &teachers[1]),
            ("c", "teacher", &teachers[2]),
            ("judge", "meta", &broken),
        ],
        "",
    );
    let out = dir.path().join("fallback");
    // A fresh cache: the key is model + messages + settings, not the endpoint, so the first
    // judge's answers would be read back for the same model id.
    let outcome = run(
        &toml,
        &dir.path().join("fallback-cache"),
        &options(&out, None, false),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.stats.protocol_figures["meta_fallbacks"], LIMIT);
    for transcript in transcripts(&out) {
        assert_eq!(transcript["decision"]["rule"], "majority");
        assert_eq!(transcript["decision"]["requested"], "meta");
        assert_eq!(final_pairs(&transcript), with_wrong(&gold_of(&transcript)));
    }
}

#[test]
fn rejected_samples_are_rationalized_towards_gold_when_asked() {
    let (_teachers, toml) = start_team(
        &[
            ("a", "teacher", Behaviour::Wrong),
            ("b", "teacher", Behaviour::Wrong),
        ],
        Duration::ZERO,
        "",
    );
    let dir = tempdir();
    let (out, outcome) = run_in(&toml, dir.path(), "on", None, true);
    let figures = &outcome.stats.protocol_figures;
    assert_eq!(
        (
            figures["accepted"].as_u64(),
            figures["rationalized"].as_u64()
        ),
        (Some(0), Some(LIMIT as u64))
    );
    let sft = lines(&out.join(distill::SFT_FILE));
    assert_eq!(sft.len(), LIMIT);
    let labels: Vec<&str> = harness::data::DatasetName::UitVisfd
        .aspect_labels()
        .to_vec();
    for (record, transcript) in sft.iter().zip(transcripts(&out)) {
        assert_eq!(transcript["rationalized"], true);
        let messages = record["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(messages.len(), 3, "system, user, assistant");
        let answer = messages[2]["content"].as_str().unwrap_or_default();
        assert!(answer.starts_with("These labels follow"), "{answer}");
        let mut parsed: Vec<(String, String)> = harness::scoring::parse_absa(answer, &labels)
            .unwrap_or_default()
            .into_iter()
            .map(|pair| (pair.aspect, pair.polarity))
            .collect();
        parsed.sort();
        assert_eq!(
            parsed,
            gold_of(&transcript),
            "the SFT answer reads back as gold"
        );
        assert_eq!(record["id"], transcript["id"]);
    }
    assert_eq!(lines(&out.join(distill::DPO_FILE)).len(), LIMIT);
    let (_, outcome) = run_in(&toml, dir.path(), "off", None, false);
    assert_eq!(outcome.stats.protocol_figures["rationalized"], 0);
    assert_eq!(
        (outcome.stats.records.sft, outcome.stats.records.dpo),
        (0, 0)
    );
}

#[test]
fn a_teacher_that_sees_the_others_may_revise_once() {
    let (_teachers, toml) = start_team(
        &[
            ("a", "teacher", Behaviour::Right),
            ("b", "teacher", Behaviour::Persuadable),
        ],
        Duration::ZERO,
        "",
    );
    let dir = tempdir();
    let (out, _) = run_in(&toml, dir.path(), "out", None, false);
    for transcript in transcripts(&out) {
        assert_eq!(final_pairs(&transcript), gold_of(&transcript));
        assert_eq!(transcript["verdict"], "accepted");
        let revisions = transcript["revisions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(revisions.len(), 2, "both teachers saw the conflict once");
        let changed: BTreeSet<&str> = revisions
            .iter()
            .filter(|r| r["changed"] == true)
            .filter_map(|r| r["agent"].as_str())
            .collect();
        assert_eq!(changed, BTreeSet::from(["b"]));
        assert_eq!(transcript["positions"][1]["revised"], true);
    }
}

#[test]
fn a_second_identical_run_makes_no_http_call_and_writes_the_same_files() {
    let (teachers, toml) = start_team(&AGREE_AND_DISAGREE, Duration::ZERO, "");
    let dir = tempdir();
    let (first, outcome) = run_in(&toml, dir.path(), "first", None, true);
    let sent = requests(&teachers);
    assert!(sent > 0);
    // Ledger token counts are the sums of the usage the teachers returned.
    for (id, teacher) in ["a", "b", "c"].into_iter().zip(&teachers) {
        let ledger = &outcome.stats.ledger[id];
        assert_eq!(
            ledger.prompt_tokens,
            teacher
                .prompt_tokens
                .load(std::sync::atomic::Ordering::Relaxed),
            "{id}"
        );
        assert_eq!(
            ledger.completion_tokens,
            teacher
                .completion_tokens
                .load(std::sync::atomic::Ordering::Relaxed),
            "{id}"
        );
        assert_eq!(ledger.calls, teacher.requests(), "{id}");
        assert_eq!(ledger.cache_hits, 0, "{id}");
    }
    let (second, again) = run_in(&toml, dir.path(), "second", None, true);
    assert_eq!(requests(&teachers), sent, "no HTTP call the second time");
    assert_eq!(data_files(&first), data_files(&second));
    assert!(again
        .stats
        .ledger
        .values()
        .all(|l| l.calls == 0 && l.cache_hits > 0));
    // The cached answers carry the tokens paid for them the first time.
    for (id, paid) in &outcome.stats.ledger {
        let cached = &again.stats.ledger[id];
        assert_eq!(
            (cached.cached_prompt_tokens, cached.cached_completion_tokens),
            (
                paid.prompt_tokens + paid.cached_prompt_tokens,
                paid.completion_tokens + paid.cached_completion_tokens
            ),
            "{id}"
        );
    }
    // The same command in the same directory has nothing left to do.
    let (_, resumed) = run_in(&toml, dir.path(), "first", None, true);
    assert_eq!(resumed.stats.n, LIMIT);
    assert_eq!(data_files(&first), data_files(&second));
}

#[test]
fn failing_teachers_are_retried_and_unreadable_ones_abstain_and_are_counted() {
    let (teachers, toml) = start_team(
        &[
            ("right", "teacher", Behaviour::Right),
            ("flaky", "teacher", Behaviour::Flaky),
            ("prose", "teacher", Behaviour::Unparseable),
            ("broken", "teacher", Behaviour::MalformedBody),
        ],
        Duration::ZERO,
        "",
    );
    let flaky = &teachers[1];
    let dir = tempdir();
    let (out, outcome) = run_in(&toml, dir.path(), "out", None, false);
    assert_eq!(outcome.status, Status::Complete);
    let stats = &outcome.stats;
    assert!(stats.failures["flaky"].retried > 0, "{:?}", stats.failures);
    assert_eq!(stats.failures["flaky"].abstained, 0);
    assert_eq!(stats.failures["prose"].abstained, LIMIT as u64);
    assert_eq!(
        stats.failures["prose"].retried,
        2 * LIMIT as u64,
        "two repair turns each"
    );
    assert_eq!(stats.failures["broken"].abstained, LIMIT as u64);
    assert_eq!(stats.failures["broken"].failed_calls, LIMIT as u64);
    assert_eq!(stats.failures["broken"].retried, 4 * LIMIT as u64);
    // Ledger tokens count answers that arrived, never failed attempts.
    let flaky_ledger = &stats.ledger["flaky"];
    assert_eq!(
        flaky_ledger.prompt_tokens,
        flaky
            .prompt_tokens
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    for transcript in transcripts(&out) {
        assert_eq!(
            final_pairs(&transcript),
            gold_of(&transcript),
            "two readable teachers agree"
        );
        let detection = transcript["detection"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(detection[2]["labels"].is_null() && detection[2]["error"].is_string());
        assert!(detection[3]["labels"].is_null());
    }
}

#[test]
fn the_budget_stops_before_it_is_exceeded_and_a_rerun_finishes_the_same_files() {
    let (_teachers, toml) = start_team(
        &[
            ("a", "teacher", Behaviour::RightOnEven),
            ("b", "teacher", Behaviour::RightOnEven),
            ("c", "teacher", Behaviour::RightOnEven),
        ],
        Duration::from_millis(20),
        "price_in_per_1k = 0.002\nprice_out_per_1k = 0.004\nmax_tokens = 64",
    );
    let dir = tempdir();
    let out = dir.path().join("out");
    let mut limited = options(&out, None, true);
    // One call at a time, so the budget is spent on a few whole samples rather than on the
    // first calls of many.
    limited.concurrency = 1;
    limited.budget = Some(0.009);
    let cache = dir.path().join("cache");
    let outcome = run(&toml, &cache, &limited).unwrap_or_else(|e| panic!("{e}"));
    let Status::BudgetReached { spent, budget } = outcome.status else {
        panic!("expected a budget stop, got {:?}", outcome.status);
    };
    assert!(
        spent <= budget && outcome.stats.cost_usd <= 0.009,
        "{spent} > {budget}"
    );
    assert!(
        (1..LIMIT).contains(&outcome.stats.n),
        "stopped after some samples: {}",
        outcome.stats.n
    );
    assert_eq!(outcome.stats.status, "budget");
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(distill::STATS_FILE)).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(written["status"], "budget");
    // Same command, larger budget: it finishes, and ends with the files of a run that never stopped.
    limited.budget = Some(1.0);
    let finished = run(&toml, &cache, &limited).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finished.status, Status::Complete);
    let through = dir.path().join("through");
    let unlimited = options(&through, None, true);
    run(&toml, &dir.path().join("other-cache"), &unlimited).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data_files(&out), data_files(&through));
    let ids: Vec<String> = transcripts(&out)
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (LIMIT, LIMIT));
}

#[test]
fn a_directory_holding_another_run_is_refused() {
    let (_teachers, toml) = start_team(&[("a", "teacher", Behaviour::Right)], Duration::ZERO, "");
    let dir = tempdir();
    let (out, _) = run_in(&toml, dir.path(), "out", Some(Rule::Majority), false);
    let message = run(
        &toml,
        &dir.path().join("cache"),
        &options(&out, Some(Rule::Weighted), false),
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(message.contains("consensus = \"majority\""), "{message}");
}
