//! The prompts of R2L's phases. Detection uses the task's own prompt (the teacher's persona is
//! put before the task's system message); the later phases show the review, the label set and
//! the positions so far, and ask for a `Rationale:` line followed by a `Labels:` JSON list.

use chat::Message;
use harness::data::Sample;
use harness::task::Task;

use super::labels::Label;
use crate::agents::Agent;
use crate::protocols::task_prompt;

/// What detection adds to the task's prompt: the optional per-item fields.
const DETECTION_EXTRA: &str = "You may add to each item \"evidence\" (the words of the review that show it) and \"confidence\" (a number from 0 to 1).";

/// The answer format of the phases after detection.
const DECISION_FORMAT: &str = "Answer in exactly this format:\nRationale: <two to four sentences that quote the review>\nLabels: <a JSON list such as [{\"aspect\": \"...\", \"polarity\": \"...\"}], using only the aspects above; [] when there are none>";

/// Phase 1: the task's own prompt, the agent's persona first, and the optional fields.
pub fn detection(task: &Task, sample: &Sample, agent: &Agent) -> Vec<Message> {
    let mut conversation = task_prompt(task, sample, agent);
    if let Some(last) = conversation.last_mut() {
        last.content = format!("{}\n\n{DETECTION_EXTRA}", last.content);
    }
    conversation
}

/// A position shown to another agent: its labels as JSON, and its rationale.
pub struct Shown<'a> {
    /// The agent that holds it.
    pub agent: &'a str,
    /// Its labels.
    pub labels: &'a [Label],
    /// Its rationale (may be empty).
    pub rationale: &'a str,
}

fn labels_json(labels: &[Label]) -> String {
    super::labels::answer_json(&super::labels::pair_set(labels))
}

/// The label set first and the review after it, so an agent's consecutive calls share their
/// beginning (the prefix cache of `r2l serve` prefills only what follows).
fn review_block(sample: &Sample, aspects: &str) -> String {
    format!(
        "Aspects: {aspects}\nPolarities: positive, negative, neutral\n\nReview:\n{}",
        sample.input
    )
}

fn positions_block(positions: &[Shown<'_>]) -> String {
    positions
        .iter()
        .map(|p| {
            let rationale = if p.rationale.is_empty() {
                "(none given)"
            } else {
                p.rationale
            };
            format!(
                "- {}: labels {}\n  rationale: {rationale}",
                p.agent,
                labels_json(p.labels)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Phase 3: a rationale for the agent's own labels.
pub fn rationale(agent: &Agent, sample: &Sample, aspects: &str, labels: &[Label]) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "{}\n\nYour labels: {}\n\nExplain in two to four sentences why the review supports each of these labels (or, for [], why it gives no opinion on any aspect), quoting its words. Do not change the labels; write only the explanation.",
            review_block(sample, aspects),
            labels_json(labels)
        )),
    ]
}

/// Phase 3, on a conflict: the agent sees the others' labels and rationales and may revise once.
pub fn revision(
    agent: &Agent,
    sample: &Sample,
    aspects: &str,
    own: &Shown<'_>,
    others: &[Shown<'_>],
    conflicts: &[String],
) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "{}\n\nYour labels: {}\nYour rationale: {}\n\nThe other annotators:\n{}\n\nYou disagree on: {}. Reconsider your labels in the light of their arguments. Keep what the review supports and change what it does not.\n\n{DECISION_FORMAT}",
            review_block(sample, aspects),
            labels_json(own.labels),
            if own.rationale.is_empty() { "(none given)" } else { own.rationale },
            positions_block(others),
            conflicts.join(", ")
        )),
    ]
}

/// Phase 4, `meta`: every position and rationale; the meta-agent gives the final labels and a
/// rationale that explains them.
pub fn meta(
    agent: &Agent,
    sample: &Sample,
    aspects: &str,
    positions: &[Shown<'_>],
) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "{}\n\nThe annotators' positions:\n{}\n\nDecide the final labels: keep each label the review supports, whoever proposed it, and drop the others. Write a rationale that explains the final labels.\n\n{DECISION_FORMAT}",
            review_block(sample, aspects),
            positions_block(positions)
        )),
    ]
}

/// A rationale that reaches given labels: the final labels when no teacher's rationale fits
/// them, or the gold labels (STaR's rationalization).
pub fn explain(agent: &Agent, sample: &Sample, aspects: &str, labels: &[Label]) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "{}\n\nThe correct labels are: {}\n\nExplain in two to four sentences why the review supports exactly these labels (or, for [], why it gives no opinion on any aspect), quoting its words. Write only the explanation.",
            review_block(sample, aspects),
            labels_json(labels)
        )),
    ]
}
