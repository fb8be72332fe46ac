//! The context a debate round shows: one entry per answer of the previous round (the answer,
//! its author's self-reflection and the feedback it received), each capped, and — for the
//! T-DPO records — the entries packed into prompts of at most a token budget (the paper's tree
//! packing: when the entries overflow, a further prompt takes the rest).
//!
//! Lengths are tokens of the student's tokenizer, as in D&R's `mag2preference.py`: at the
//! default budget of 1,000 tokens an entry over 950 tokens has its answer cut to its first 470
//! tokens (its final answer restated), then, if it is still over, its reflection and feedback
//! cut to their first 470; a record's entries are those whose answer parsed, in the round's
//! seeded order, then sorted by length (ascending); a block holds at most 1,000 tokens. The
//! cut sizes scale with the budget (95 % and 47 % of it).

use std::path::Path;
use std::sync::Arc;

use super::transcript::Round;
use crate::error::{Error, Result};

/// The student's tokenizer, which counts and cuts the debate context.
#[derive(Debug, Clone)]
pub struct ContextTokenizer {
    tokenizer: Arc<checkpoint::Tokenizer>,
    sha256: String,
}

impl ContextTokenizer {
    /// Loads `dir/tokenizer.json` (a checkpoint directory's).
    pub fn load(dir: &Path) -> Result<ContextTokenizer> {
        let tokenizer = checkpoint::Tokenizer::load(dir)?;
        let sha256 = checkpoint::file_sha256(&dir.join("tokenizer.json"))?;
        Ok(ContextTokenizer {
            tokenizer: Arc::new(tokenizer),
            sha256,
        })
    }

    /// The sha256 of its `tokenizer.json` (hex): the records depend on it, so a resumed run
    /// must use the same.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Tokens in `text` (none added: no special tokens, no chat template).
    pub fn count(&self, text: &str) -> Result<usize> {
        Ok(self.tokenizer.encode(text)?.ids.len())
    }

    /// `text` up to the end of its first `tokens` tokens (the text itself, not a re-decoding),
    /// or all of it when it is not longer.
    pub fn head(&self, text: &str, tokens: usize) -> Result<String> {
        let encoded = self.tokenizer.encode(text)?;
        if encoded.ids.len() <= tokens {
            return Ok(text.to_string());
        }
        let end = match tokens.checked_sub(1) {
            None => 0,
            Some(last) => encoded.offsets[last].1,
        };
        text.get(..end).map(str::to_string).ok_or_else(|| {
            Error::Fatal(format!(
                "the tokenizer's offset {end} is not a character boundary of the text"
            ))
        })
    }
}

/// An entry's cap: 95 % of the prompt budget (D&R's 950 of 1,000 tokens), so that any one
/// entry fits a prompt.
fn entry_cap(budget: usize) -> usize {
    budget * 95 / 100
}

/// What each part of an over-long entry (the answer; the reflection and feedback) is cut to:
/// 47 % of the budget (D&R's 470 of 1,000 tokens).
fn part_cap(budget: usize) -> usize {
    budget * 47 / 100
}

/// One answer as the next round sees it: the answer, then `Self-reflection:` and the numbered
/// `Feedback:` it received (`None` when there is none). An entry over the cap has its answer
/// cut to its head (its final answer restated), then, if still over, its reflection and
/// feedback.
pub fn entry(
    answer: &str,
    final_answer: Option<&str>,
    reflection: Option<&str>,
    feedback: &[&str],
    budget: usize,
    tokenizer: &ContextTokenizer,
) -> Result<String> {
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
    let compose = |answer: &str, notes: &str| format!("{answer}\n{notes}");
    let whole = compose(answer.trim(), &notes);
    if tokenizer.count(&whole)? <= entry_cap(budget) {
        return Ok(whole);
    }
    let full_answer = answer.trim();
    let mut answer = tokenizer
        .head(full_answer, part_cap(budget))?
        .trim_end()
        .to_string();
    if answer.len() < full_answer.len() {
        if let Some(final_answer) = final_answer {
            answer.push_str(&format!("\n(final answer: {final_answer})"));
        }
    }
    let composed = compose(&answer, &notes);
    if tokenizer.count(&composed)? <= entry_cap(budget) {
        return Ok(composed);
    }
    Ok(compose(&answer, &tokenizer.head(&notes, part_cap(budget))?))
}

/// The entry of each answer of `previous` in the order of `order` (agent ids) that `keep`
/// accepts. Critiques count when their text arrived.
fn entries_where(
    previous: &Round,
    order: &[String],
    budget: usize,
    tokenizer: &ContextTokenizer,
    keep: impl Fn(&super::transcript::Turn) -> bool,
) -> Result<Vec<String>> {
    let mut shown = Vec::new();
    for agent in order {
        let Some(turn) = previous.turns.iter().find(|t| &t.answer.agent == agent) else {
            continue;
        };
        let Some(text) = turn.answer.text.as_deref() else {
            continue;
        };
        if !keep(turn) {
            continue;
        }
        let feedback: Vec<&str> = previous
            .turns
            .iter()
            .flat_map(|t| &t.critiques_given)
            .filter(|c| c.to == turn.answer.agent)
            .filter_map(|c| c.text.as_deref())
            .collect();
        let reflection = turn.reflection.as_ref().and_then(|r| r.text.as_deref());
        shown.push(entry(
            text,
            turn.answer.final_answer.as_deref(),
            reflection,
            &feedback,
            budget,
            tokenizer,
        )?);
    }
    Ok(shown)
}

/// The entries of `previous`'s answers in the order of `order` (agent ids), as the next round's
/// live prompt shows them: every answer that came.
pub fn entries(
    previous: &Round,
    order: &[String],
    budget: usize,
    tokenizer: &ContextTokenizer,
) -> Result<Vec<String>> {
    entries_where(previous, order, budget, tokenizer, |_| true)
}

/// The entries of a T-DPO record's context, as D&R builds them: only answers whose final
/// answer parsed, in the round's seeded order (`order`), then sorted by length in tokens,
/// shortest first (a stable sort: equal lengths keep the seeded order).
pub fn record_entries(
    previous: &Round,
    order: &[String],
    budget: usize,
    tokenizer: &ContextTokenizer,
) -> Result<Vec<String>> {
    let parsed = entries_where(previous, order, budget, tokenizer, |turn| {
        turn.answer.final_answer.is_some()
    })?;
    let mut sized = parsed
        .into_iter()
        .map(|entry| Ok((tokenizer.count(&entry)?, entry)))
        .collect::<Result<Vec<(usize, String)>>>()?;
    sized.sort_by_key(|(tokens, _)| *tokens);
    Ok(sized.into_iter().map(|(_, entry)| entry).collect())
}

fn labelled(number: usize, entry: &str) -> String {
    format!("Answer {number}:\n{entry}")
}

/// Every entry, numbered, in one block.
pub fn join<S: AsRef<str>>(entries: &[S]) -> String {
    entries
        .iter()
        .enumerate()
        .map(|(k, e)| labelled(k + 1, e.as_ref()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The entries packed in order into blocks of at most `budget` tokens each (numbering restarts
/// in every block). An entry that would take the current block over the budget starts the next
/// one; a block always holds at least one entry, so nothing is dropped.
pub fn pack(
    entries: &[String],
    budget: usize,
    tokenizer: &ContextTokenizer,
) -> Result<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Vec<&String> = Vec::new();
    for entry in entries {
        current.push(entry);
        if current.len() > 1 && tokenizer.count(&join(&current))? > budget {
            current.pop();
            blocks.push(join(&current));
            current = vec![entry];
        }
    }
    if !current.is_empty() {
        blocks.push(join(&current));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokenizer whose tokens are the whitespace-separated words (a WordLevel model with
    /// an empty vocabulary: every word is one unknown token), so lengths are easy to state.
    fn word_tokenizer() -> (tempfile::TempDir, ContextTokenizer) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":{"type":"WhitespaceSplit"},"post_processor":null,
            "decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0},"unk_token":"[UNK]"}}"#;
        std::fs::write(dir.path().join("tokenizer.json"), json).unwrap_or_else(|e| panic!("{e}"));
        let tokenizer = ContextTokenizer::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        (dir, tokenizer)
    }

    fn words(n: usize, word: &str) -> String {
        vec![word; n].join(" ")
    }

    fn count(tokenizer: &ContextTokenizer, text: &str) -> usize {
        tokenizer.count(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_head_is_the_text_up_to_the_end_of_its_nth_token() {
        let (_dir, tokenizer) = word_tokenizer();
        let head = |text: &str, n: usize| tokenizer.head(text, n).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(head("one  two\nthree four", 3), "one  two\nthree");
        assert_eq!(head("one two", 5), "one two");
        assert_eq!(head("one two", 0), "");
        assert_eq!(count(&tokenizer, "one  two\nthree four"), 4);
    }

    #[test]
    fn a_short_entry_holds_answer_reflection_and_numbered_feedback() {
        let (_dir, tokenizer) = word_tokenizer();
        let text = entry(
            "2 + 2 = 4\nAnswer: 4",
            Some("4"),
            None,
            &["Check the sum.", "Looks off."],
            1000,
            &tokenizer,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "2 + 2 = 4\nAnswer: 4\nSelf-reflection: None\nFeedback:\n1. Check the sum.\n2. Looks off."
        );
    }

    #[test]
    fn an_entry_over_950_tokens_keeps_the_first_470_of_its_answer_then_of_its_notes() {
        let (_dir, tokenizer) = word_tokenizer();
        let build = |answer: &str, reflection: &str| {
            entry(answer, Some("7"), Some(reflection), &[], 1000, &tokenizer)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        // 951 tokens with its notes (947 + "Self-reflection: short" + "Feedback: None"): over
        // the cap, so the answer is cut to its first 470 tokens and the final answer restated.
        let answer = format!("{} Answer: 7", words(945, "step"));
        let text = build(&answer, "short");
        assert_eq!(
            count(
                &tokenizer,
                &format!("{answer}\nSelf-reflection: short\nFeedback:\nNone")
            ),
            951
        );
        assert_eq!(
            text,
            format!(
                "{}\n(final answer: 7)\nSelf-reflection: short\nFeedback:\nNone",
                words(470, "step")
            )
        );
        // 950 tokens: kept whole.
        let answer = format!("{} Answer: 7", words(944, "step"));
        assert_eq!(
            build(&answer, "short"),
            format!("{answer}\nSelf-reflection: short\nFeedback:\nNone")
        );
        // Long notes too: they are cut to their first 470 tokens after the answer.
        let text = build(
            &format!("{} Answer: 7", words(900, "step")),
            &words(900, "note"),
        );
        let notes = format!("Self-reflection: {}", words(469, "note"));
        assert_eq!(
            text,
            format!("{}\n(final answer: 7)\n{notes}", words(470, "step"))
        );
        assert_eq!(count(&tokenizer, &text), 470 + 3 + 470);
        // A short answer with long notes: the answer stays whole.
        let text = build("Answer: 7", &words(1200, "note"));
        assert!(
            text.starts_with("Answer: 7\nSelf-reflection: note"),
            "{text}"
        );
        assert_eq!(count(&tokenizer, &text), 2 + 470);
    }

    #[test]
    fn packing_starts_a_new_block_when_the_next_entry_would_take_it_over_the_budget() {
        let (_dir, tokenizer) = word_tokenizer();
        let entries: Vec<String> = (0..5).map(|k| words(30, &format!("e{k}"))).collect();
        // Each labelled entry is 32 tokens: three fit 100, the fourth starts block two.
        let blocks = pack(&entries, 100, &tokenizer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].starts_with("Answer 1:\ne0"));
        assert!(blocks[0].contains("Answer 3:\ne2"));
        assert!(!blocks[0].contains("e3"));
        assert!(blocks[1].starts_with("Answer 1:\ne3"));
        assert!(blocks[1].contains("Answer 2:\ne4"));
        assert!(blocks.iter().all(|b| count(&tokenizer, b) <= 100));
        // 96 tokens exactly fill a budget of 96; 95 does not hold the third.
        assert_eq!(
            pack(&entries[..3], 96, &tokenizer).map(|b| b.len()).ok(),
            Some(1)
        );
        assert_eq!(
            pack(&entries[..3], 95, &tokenizer).map(|b| b.len()).ok(),
            Some(2)
        );
        let whole = pack(&entries, 10_000, &tokenizer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(whole, vec![join(&entries)]);
    }

    #[test]
    fn an_entry_over_the_budget_still_gets_a_block_of_its_own() {
        let (_dir, tokenizer) = word_tokenizer();
        let entries = vec![words(10, "a"), words(50, "b"), words(10, "c")];
        let blocks = pack(&entries, 20, &tokenizer).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(blocks.len(), 3);
        assert!(pack(&[], 20, &tokenizer).is_ok_and(|b| b.is_empty()));
    }
}
