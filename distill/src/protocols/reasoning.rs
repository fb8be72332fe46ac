//! What the reasoning protocols (Debate & Reflect, AgentArk) share: the task check, one agent's
//! answer judged against gold with the harness task's own parser and judge, and the text
//! helpers their prompts and records use (word counts, truncation, a seeded agent order).

use std::collections::BTreeMap;

use chat::{Message, Usage};
use harness::data::{AnswerKind, DatasetName, Sample, Target, TaskFamily};
use harness::scoring::parse_final_answer;
use harness::task::{answer_kind, Task};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::agents::Agent;
use crate::call::{CallSite, Caller, Halt};
use crate::error::{Error, Result};

/// The reasoning tasks the debate protocols run on: the default task of every dataset scored
/// by its final answer.
pub fn reasoning_tasks() -> Vec<&'static str> {
    DatasetName::names_where(|family| matches!(family, TaskFamily::Reasoning(_)))
}

/// The task's answer kind; an error unless it is a reasoning task (checked before any model is
/// loaded).
pub fn reasoning_kind(task: &Task, protocol: &str) -> Result<AnswerKind> {
    answer_kind(task).ok_or_else(|| {
        Error::InvalidInput(format!(
            "the {protocol} protocol judges final answers and needs a reasoning task ({}); {} is not scored by accuracy",
            reasoning_tasks().join(", "),
            task.name
        ))
    })
}

/// The gold final answer of `sample`, as the dataset gives it.
pub fn gold_answer(sample: &Sample) -> String {
    match &sample.target {
        Target::Answer { value } => value.clone(),
        _ => String::new(),
    }
}

/// One agent's answer to a question, judged against gold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The agent.
    pub agent: String,
    /// Its answer (the last one, after repair turns); None when no answer came (the agent
    /// abstained: every attempt failed).
    pub text: Option<String>,
    /// The final answer the task parser read, normalised; None when it read none.
    pub final_answer: Option<String>,
    /// Whether the final answer equals gold (the harness judge).
    pub correct: bool,
    /// Why there is no answer, or why the parser read no final answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked after answers without a final answer.
    pub parse_retries: u32,
    /// Tokens of its calls (the answer and its repair turns); None in transcripts written
    /// before tokens were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl Answer {
    /// Whether the agent answered (whatever the answer).
    pub fn answered(&self) -> bool {
        self.text.is_some()
    }

    /// Whether it answered and was wrong (no final answer counts as wrong).
    pub fn incorrect(&self) -> bool {
        self.answered() && !self.correct
    }
}

/// Judges `text` as an answer to `sample` with the task's parser and judge.
pub fn judge_text(task: &Task, sample: &Sample, agent: &str, text: String) -> Answer {
    match harness::scoring::judge_text(&task.scorer, sample, Some(&text)) {
        Ok(judgement) => Answer {
            agent: agent.to_string(),
            final_answer: judgement.record.predicted_answer().map(str::to_string),
            correct: judgement.record.correct == Some(true),
            error: judgement.record.reason,
            text: Some(text),
            parse_retries: 0,
            usage: None,
        },
        Err(error) => Answer {
            agent: agent.to_string(),
            final_answer: None,
            correct: false,
            error: Some(error.to_string()),
            text: Some(text),
            parse_retries: 0,
            usage: None,
        },
    }
}

/// One agent's answers in one round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AgentRound {
    /// Answers given (abstentions not counted).
    pub answers: usize,
    /// Right answers.
    pub correct: usize,
}

/// Every agent's answers in one round, over the questions that reached it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RoundAccuracy {
    /// The round (0 = the independent first answers).
    pub round: usize,
    /// Questions that reached the round.
    pub questions: usize,
    /// Answers given.
    pub answers: usize,
    /// Right answers.
    pub correct: usize,
    /// Right answers / answers given (None when there were none).
    pub accuracy: Option<f64>,
    /// Agents that gave no answer (every attempt failed).
    pub abstained: usize,
    /// Per agent.
    pub per_agent: BTreeMap<String, AgentRound>,
}

/// Adds one question's answers in round `round` to `rounds`, and each agent's repair turns and
/// abstentions to `failures`.
pub fn tally_round<'a>(
    rounds: &mut Vec<RoundAccuracy>,
    round: usize,
    answers: impl Iterator<Item = &'a Answer>,
    failures: &mut BTreeMap<String, (u64, u64)>,
) {
    if rounds.len() <= round {
        rounds.resize_with(round + 1, RoundAccuracy::default);
    }
    let figures = &mut rounds[round];
    figures.round = round;
    figures.questions += 1;
    for answer in answers {
        let agent_failures = failures.entry(answer.agent.clone()).or_default();
        agent_failures.0 += u64::from(answer.parse_retries);
        let agent = figures.per_agent.entry(answer.agent.clone()).or_default();
        if answer.answered() {
            figures.answers += 1;
            agent.answers += 1;
            figures.correct += usize::from(answer.correct);
            agent.correct += usize::from(answer.correct);
        } else {
            figures.abstained += 1;
            agent_failures.1 += 1;
        }
    }
    figures.accuracy =
        (figures.answers > 0).then(|| figures.correct as f64 / figures.answers as f64);
}

/// Asks `agent` for an answer to `sample` (repair turns when no final answer can be read) and
/// judges it. An answer still without a final answer after the repair turns is kept, and wrong.
pub async fn ask_answer(
    caller: &Caller,
    agent: &Agent,
    site: CallSite<'_>,
    conversation: Vec<Message>,
    task: &Task,
    sample: &Sample,
    kind: AnswerKind,
) -> std::result::Result<Answer, Halt> {
    let reply = caller
        .ask_parsed(agent, site, conversation, |raw| {
            parse_final_answer(raw, kind).map(|_| ())
        })
        .await?;
    Ok(match reply.raw {
        Some(text) => {
            let mut answer = judge_text(task, sample, agent.id(), text);
            answer.parse_retries = reply.parse_retries;
            answer.usage = Some(reply.usage);
            answer
        }
        None => Answer {
            agent: agent.id().to_string(),
            text: None,
            final_answer: None,
            correct: false,
            error: reply.value.err(),
            parse_retries: reply.parse_retries,
            usage: Some(reply.usage),
        },
    })
}

/// Feedback one agent wrote: a critique of another agent's answer, or a self-reflection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// The agent that wrote it.
    pub from: String,
    /// The agent it is about (itself for a reflection).
    pub to: String,
    /// The feedback (cleaned); None when no usable answer came.
    pub text: Option<String>,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Repair turns asked after empty answers.
    pub parse_retries: u32,
    /// Tokens of its calls (the feedback and its repair turns); None in transcripts written
    /// before tokens were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Asks `agent` for feedback (critique or reflection): any non-empty text, with a leading
/// `### Feedback` / `Feedback:` header removed.
pub async fn ask_feedback(
    caller: &Caller,
    agent: &Agent,
    to: &str,
    site: CallSite<'_>,
    conversation: Vec<Message>,
) -> std::result::Result<Feedback, Halt> {
    let reply = caller
        .ask_parsed(agent, site, conversation, |raw| {
            let text = clean_feedback(raw);
            if text.is_empty() {
                Err("the feedback is empty".to_string())
            } else {
                Ok(text)
            }
        })
        .await?;
    Ok(Feedback {
        from: agent.id().to_string(),
        to: to.to_string(),
        error: reply.value.as_ref().err().cloned(),
        text: reply.value.ok(),
        parse_retries: reply.parse_retries,
        usage: Some(reply.usage),
    })
}

/// Feedback text without a leading header and surrounding blank space.
pub fn clean_feedback(raw: &str) -> String {
    let text = raw.trim();
    let text = text
        .strip_prefix("### Feedback")
        .unwrap_or(text)
        .trim_start();
    let text = text.strip_prefix("Feedback:").unwrap_or(text);
    text.trim().to_string()
}

/// Words in `text` (whitespace-separated): the unit of the prompt budgets.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `text` cut after its first `words` words (its own line breaks kept), marked with ` […]`
/// when anything was cut.
pub fn truncate_words(text: &str, words: usize) -> String {
    let mut seen = 0;
    let mut in_word = false;
    for (at, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word {
                seen += 1;
                in_word = false;
                if seen == words {
                    return if text[at..].trim().is_empty() {
                        text.to_string()
                    } else {
                        format!("{} […]", &text[..at])
                    };
                }
            }
        } else {
            in_word = true;
        }
    }
    if words == 0 && !text.trim().is_empty() {
        return "[…]".to_string();
    }
    text.to_string()
}

/// `text` with every run of whitespace made one space, trimmed: two answers that differ only
/// in spacing are the same answer.
pub fn normalize_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The positions of `agents` in an order shuffled by `seed`, the sample and the round: the
/// same inputs always give the same order, and each question and round gets its own.
pub fn seeded_order(seed: u64, sample: &str, round: usize, agents: &[String]) -> Vec<usize> {
    let mut keyed: Vec<([u8; 32], usize)> = agents
        .iter()
        .enumerate()
        .map(|(position, agent)| {
            let key = Sha256::digest(format!("{seed}\u{0}{sample}\u{0}{round}\u{0}{agent}"));
            (key.into(), position)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, position)| position).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_line_breaks_and_marks_the_cut() {
        let text = "one two\nthree four five";
        assert_eq!(truncate_words(text, 3), "one two\nthree […]");
        assert_eq!(truncate_words(text, 5), text);
        assert_eq!(truncate_words(text, 9), text);
        assert_eq!(truncate_words("a b ", 2), "a b ");
        assert_eq!(word_count(&truncate_words(text, 3)), 4);
    }

    #[test]
    fn feedback_headers_are_removed() {
        assert_eq!(
            clean_feedback("### Feedback\nCheck step 2."),
            "Check step 2."
        );
        assert_eq!(clean_feedback("  Feedback: too short "), "too short");
        assert_eq!(clean_feedback("\n\n"), "");
    }

    #[test]
    fn the_seeded_order_is_stable_and_depends_on_seed_sample_and_round() {
        let agents: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let order = seeded_order(0, "s1", 1, &agents);
        assert_eq!(order, seeded_order(0, "s1", 1, &agents));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        let others = [
            seeded_order(1, "s1", 1, &agents),
            seeded_order(0, "s2", 1, &agents),
            seeded_order(0, "s1", 2, &agents),
        ];
        assert!(others.iter().any(|o| *o != order));
    }
}
