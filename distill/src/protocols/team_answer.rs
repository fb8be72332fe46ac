//! What a reasoning team (Debate & Reflect, AgentArk) answers at the end of a question, and
//! what the answer cost: the `predictions.jsonl` lines `r2l score --predictions` reads, and the
//! calls and tokens per question `stats.json` reports beside them (the AgentArk efficiency claim
//! compares them with a student's one call per question). Both are rebuilt from the transcripts,
//! so a resumed run writes the same figures as one that ran through.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::protocols::reasoning::{Answer, Feedback};

/// A `predictions.jsonl` line: `{"id", "output"}`, the answer's full text, which `r2l score`
/// reads with the task's own parser and judge (as `r2l eval` reads a model's output). A
/// question without any answer gets an empty output, scored as unparsed: every finished
/// question has its line, so a run of the predictions aligns with the other rows' runs.
pub fn prediction_line(id: &str, output: Option<&str>) -> Value {
    json!({"id": id, "output": output.unwrap_or_default()})
}

/// The text of the team's majority answer among `answers`: the most frequent parsed final
/// answer (a tie goes to the one given first, in file order), represented by the first answer
/// that gave it; when no final answer parsed, the first answer's text; None when none came.
pub fn majority_text<'a>(answers: impl IntoIterator<Item = &'a Answer>) -> Option<&'a str> {
    let answered: Vec<&Answer> = answers.into_iter().filter(|a| a.answered()).collect();
    let mut votes: HashMap<&str, usize> = HashMap::new();
    for final_answer in answered.iter().filter_map(|a| a.final_answer.as_deref()) {
        *votes.entry(final_answer).or_default() += 1;
    }
    let mut winner: Option<(&str, usize)> = None;
    for final_answer in answered.iter().filter_map(|a| a.final_answer.as_deref()) {
        let count = votes.get(final_answer).copied().unwrap_or_default();
        if winner.is_none_or(|(_, best)| count > best) {
            winner = Some((final_answer, count));
        }
    }
    match winner {
        Some((final_answer, _)) => answered
            .iter()
            .find(|a| a.final_answer.as_deref() == Some(final_answer))
            .and_then(|a| a.text.as_deref()),
        None => answered.first().and_then(|a| a.text.as_deref()),
    }
}

/// Calls and tokens per question, means over the finished questions (None when no question is
/// finished; tokens also None when a transcript predates token counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct QuestionCost {
    /// Agent calls per question: every answer, critique, reflection and aggregation, each with
    /// its repair turns (one call each; transport retries of one call are not counted).
    pub calls_per_question: Option<f64>,
    /// Prompt + completion tokens per question, as the endpoints reported them (cached answers
    /// count the tokens they were paid for).
    pub tokens_per_question: Option<f64>,
}

/// Sums calls and tokens over the questions of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CostTally {
    questions: usize,
    calls: u64,
    tokens: u64,
    tokens_unknown: bool,
}

impl CostTally {
    /// Counts one answer's calls and tokens.
    pub fn answer(&mut self, answer: &Answer) {
        self.calls(answer.parse_retries, answer.usage.as_ref());
    }

    /// Counts one critique's or reflection's calls and tokens.
    pub fn feedback(&mut self, feedback: &Feedback) {
        self.calls(feedback.parse_retries, feedback.usage.as_ref());
    }

    fn calls(&mut self, parse_retries: u32, usage: Option<&chat::Usage>) {
        self.calls += 1 + u64::from(parse_retries);
        match usage {
            Some(usage) => self.tokens += usage.prompt_tokens + usage.completion_tokens,
            None => self.tokens_unknown = true,
        }
    }

    /// Ends a question.
    pub fn question_done(&mut self) {
        self.questions += 1;
    }

    /// The means per question.
    pub fn per_question(&self) -> QuestionCost {
        if self.questions == 0 {
            return QuestionCost::default();
        }
        let questions = self.questions as f64;
        QuestionCost {
            calls_per_question: Some(self.calls as f64 / questions),
            tokens_per_question: (!self.tokens_unknown).then(|| self.tokens as f64 / questions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat::Usage;

    fn answer(agent: &str, text: Option<&str>, final_answer: Option<&str>) -> Answer {
        Answer {
            agent: agent.to_string(),
            text: text.map(str::to_string),
            final_answer: final_answer.map(str::to_string),
            correct: false,
            error: None,
            parse_retries: 0,
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                total_tokens: 15,
            }),
        }
    }

    #[test]
    fn the_majority_wins_and_a_tie_goes_to_the_first_given() {
        let answers = [
            answer("a", Some("so 3"), Some("3")),
            answer("b", Some("so 4"), Some("4")),
            answer("c", Some("thus 4"), Some("4")),
        ];
        assert_eq!(majority_text(&answers), Some("so 4"));
        assert_eq!(majority_text(&answers[..2]), Some("so 3"));
        let unparsed = [answer("a", None, None), answer("b", Some("no idea"), None)];
        assert_eq!(majority_text(&unparsed), Some("no idea"));
        assert_eq!(majority_text(&unparsed[..1]), None);
    }

    #[test]
    fn repair_turns_are_calls_and_old_transcripts_leave_tokens_unknown() {
        let mut tally = CostTally::default();
        let mut repaired = answer("a", Some("x"), Some("1"));
        repaired.parse_retries = 2;
        tally.answer(&repaired);
        tally.answer(&answer("b", Some("y"), Some("2")));
        tally.question_done();
        tally.question_done();
        assert_eq!(
            tally.per_question(),
            QuestionCost {
                calls_per_question: Some(2.0),
                tokens_per_question: Some(15.0)
            }
        );
        let mut old = answer("c", Some("z"), Some("3"));
        old.usage = None;
        tally.answer(&old);
        assert_eq!(tally.per_question().tokens_per_question, None);
        assert_eq!(CostTally::default().per_question(), QuestionCost::default());
    }
}
