//! AgentArk's prompts, after its debate code: round 0 is the task's own prompt; in later rounds
//! each agent's own conversation goes on with the other agents' latest solutions; the
//! aggregator reads every final solution and gives the final answer.

use chat::{Message, Role};
use harness::data::Sample;
use harness::task::Task;

use crate::agents::Agent;
use crate::protocols::reasoning::truncate_words;
use crate::protocols::task_prompt;

/// The most words of another agent's solution shown in a prompt (longer ones are cut, so a
/// prompt stays bounded whatever the agents write).
pub const SHOWN_WORDS: usize = 600;

/// The user turn of a round after the first: the other agents' latest solutions.
pub fn update(question: &str, others: &[&str]) -> Message {
    if others.is_empty() {
        return Message::user(
            "Can you verify that your answer is correct? Please reiterate your answer, ending with the final-answer line the question asks for.".to_string(),
        );
    }
    let opinions: String = others
        .iter()
        .map(|text| {
            format!(
                "\n\nOne agent's solution:\n```\n{}\n```",
                truncate_words(text.trim(), SHOWN_WORDS)
            )
        })
        .collect();
    Message::user(format!(
        "These are the recent solutions of the other agents:{opinions}\n\nUse these opinions carefully as additional advice: can you give an updated answer? End with the final-answer line the question asks for.\n\nThe original problem:\n{question}"
    ))
}

/// An agent's conversation for a round: the task's prompt, then per earlier round its own
/// solution (when it gave one) and the update that followed.
pub fn conversation(
    task: &Task,
    sample: &Sample,
    agent: &Agent,
    history: &[(Option<&str>, Message)],
) -> Vec<Message> {
    let mut messages = task_prompt(task, sample, agent);
    for (own, update) in history {
        if let Some(own) = own {
            messages.push(Message::assistant(own.to_string()));
        }
        messages.push(update.clone());
    }
    messages
}

/// The aggregator's prompt: the question and every final solution.
pub fn aggregate(task: &Task, sample: &Sample, agent: &Agent, solutions: &[&str]) -> Vec<Message> {
    let mut messages = task_prompt(task, sample, agent);
    let listed: String = solutions
        .iter()
        .enumerate()
        .map(|(k, text)| {
            format!(
                "\n\nSolution {}:\n{}",
                k + 1,
                truncate_words(text.trim(), SHOWN_WORDS)
            )
        })
        .collect();
    if let Some(user) = messages.iter_mut().rev().find(|m| m.role == Role::User) {
        user.content = format!(
            "{}\n\nSeveral agents solved this task:{listed}\n\nGiven all the above solutions, reason over them carefully and give the final answer to the task, ending with the final-answer line the task asks for.",
            user.content
        );
    }
    messages
}
