//! The context a debate round shows: one entry per answer of the previous round (the answer,
//! its author's self-reflection and the critiques it received), each capped, and — for the T-DPO
//! records — the entries packed into prompts of at most a word budget (the paper's tree packing:
//! when the entries overflow, a further prompt takes the rest).
//!
//! Lengths are counted in whitespace-separated words, not model tokens, so the budget means the
//! same for every endpoint's tokenizer (a word is ~1.3 tokens of English for BPE tokenizers).

use super::transcript::Round;
use crate::protocols::reasoning::{truncate_words, word_count};

/// An entry's cap: 95 % of the prompt budget, so that any one entry fits a prompt (as D&R's
/// 950 of 1,000 tokens).
fn entry_cap(budget: usize) -> usize {
    budget * 95 / 100
}

/// What each part of an over-long entry (the answer; the reflection and feedback) is cut to:
/// 45 % of the budget, so the two parts and their labels stay within the entry cap.
fn part_cap(budget: usize) -> usize {
    budget * 45 / 100
}

/// One answer as the next round sees it: the answer, then `Self-reflection:` and the numbered
/// `Feedback:` it received (`None` when there is none). An entry over the cap has its answer
/// cut first (its final answer is restated), then its reflection and feedback.
pub fn entry(
    answer: &str,
    final_answer: Option<&str>,
    reflection: Option<&str>,
    feedback: &[&str],
    budget: usize,
) -> String {
    let feedback_text = if feedback.is_empty() {
        "None".to_string()
    } else {
        feedback
            .iter()
            .enumerate()
            .map(|(k, text)| format!("{}. {}", k + 1, text.trim()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let notes = format!(
        "Self-reflection: {}\nFeedback:\n{feedback_text}",
        reflection.map_or("None", str::trim)
    );
    let mut answer = answer.trim().to_string();
    let compose = |answer: &str, notes: &str| format!("{answer}\n{notes}");
    if word_count(&compose(&answer, &notes)) <= entry_cap(budget) {
        return compose(&answer, &notes);
    }
    if word_count(&answer) > part_cap(budget) {
        answer = truncate_words(&answer, part_cap(budget));
        if let Some(final_answer) = final_answer {
            answer.push_str(&format!("\n(final answer: {final_answer})"));
        }
    }
    let composed = compose(&answer, &notes);
    if word_count(&composed) <= entry_cap(budget) {
        return composed;
    }
    compose(&answer, &truncate_words(&notes, part_cap(budget)))
}

/// The entries of `previous`'s answers in the order of `order` (agent ids), as `next`'s prompt
/// shows them. Critiques count when their text arrived.
pub fn entries(previous: &Round, order: &[String], budget: usize) -> Vec<String> {
    order
        .iter()
        .filter_map(|agent| previous.turns.iter().find(|t| &t.answer.agent == agent))
        .filter_map(|turn| {
            let text = turn.answer.text.as_deref()?;
            let feedback: Vec<&str> = previous
                .turns
                .iter()
                .flat_map(|t| &t.critiques_given)
                .filter(|c| c.to == turn.answer.agent)
                .filter_map(|c| c.text.as_deref())
                .collect();
            let reflection = turn.reflection.as_ref().and_then(|r| r.text.as_deref());
            Some(entry(
                text,
                turn.answer.final_answer.as_deref(),
                reflection,
                &feedback,
                budget,
            ))
        })
        .collect()
}

fn labelled(number: usize, entry: &str) -> String {
    format!("Answer {number}:\n{entry}")
}

/// Every entry, numbered, in one block (the live debate prompt).
pub fn join<S: AsRef<str>>(entries: &[S]) -> String {
    entries
        .iter()
        .enumerate()
        .map(|(k, e)| labelled(k + 1, e.as_ref()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The entries packed in order into blocks of at most `budget` words each (numbering restarts
/// in every block). An entry that would overflow the current block starts the next one; a
/// block always holds at least one entry, so nothing is dropped.
pub fn pack(entries: &[String], budget: usize) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Vec<&String> = Vec::new();
    let mut words = 0;
    for entry in entries {
        let cost = word_count(&labelled(current.len() + 1, entry));
        if !current.is_empty() && words + cost > budget {
            blocks.push(join(&current));
            current.clear();
            words = 0;
        }
        words += word_count(&labelled(current.len() + 1, entry));
        current.push(entry);
    }
    if !current.is_empty() {
        blocks.push(join(&current));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize, word: &str) -> String {
        vec![word; n].join(" ")
    }

    #[test]
    fn a_short_entry_holds_answer_reflection_and_numbered_feedback() {
        let text = entry(
            "2 + 2 = 4\nAnswer: 4",
            Some("4"),
            None,
            &["Check the sum.", "Looks off."],
            1000,
        );
        assert_eq!(
            text,
            "2 + 2 = 4\nAnswer: 4\nSelf-reflection: None\nFeedback:\n1. Check the sum.\n2. Looks off."
        );
    }

    #[test]
    fn an_over_long_entry_is_cut_to_the_cap_and_keeps_its_final_answer() {
        let long_answer = format!("{}\nAnswer: 7", words(900, "step"));
        let long_note = words(900, "note");
        let text = entry(&long_answer, Some("7"), Some(&long_note), &[], 1000);
        assert!(
            word_count(&text) <= entry_cap(1000),
            "{}",
            word_count(&text)
        );
        assert!(text.contains("(final answer: 7)"));
        assert!(text.contains("Self-reflection: note"));
    }

    #[test]
    fn packing_starts_a_new_block_when_the_next_entry_would_overflow() {
        let entries: Vec<String> = (0..5).map(|k| words(30, &format!("e{k}"))).collect();
        // Each labelled entry is 32 words: three fit 100, the fourth starts block two.
        let blocks = pack(&entries, 100);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].starts_with("Answer 1:\ne0"));
        assert!(blocks[0].contains("Answer 3:\ne2"));
        assert!(!blocks[0].contains("e3"));
        assert!(blocks[1].starts_with("Answer 1:\ne3"));
        assert!(blocks[1].contains("Answer 2:\ne4"));
        assert!(blocks.iter().all(|b| word_count(b) <= 100));
        assert_eq!(pack(&entries, 10_000).len(), 1);
        assert_eq!(pack(&entries, 10_000)[0], join(&entries));
    }

    #[test]
    fn an_entry_over_the_budget_still_gets_a_block_of_its_own() {
        let entries = vec![words(10, "a"), words(50, "b"), words(10, "c")];
        let blocks = pack(&entries, 20);
        assert_eq!(blocks.len(), 3);
        assert!(pack(&[], 20).is_empty());
    }
}
