//! Debate & Reflect's prompts, after the paper's templates: round 0 is the task's own prompt;
//! later rounds add the last round's answers, reflections and feedback; a right agent critiques
//! each wrong one; a wrong agent reflects, shown the gold answer.

use chat::{Message, Role};
use harness::data::Sample;
use harness::task::{messages, Task};

use crate::agents::Agent;
use crate::protocols::task_prompt;

/// The task's user turn followed by the last round's answers (`context`).
fn with_context(user: &str, context: &str) -> String {
    format!(
        "{user}\n\nYou are debating this question with other agents. These are the answers from the last round, each with its author's self-reflection and the feedback it received:\n\n{context}\n\nConsider them carefully, then answer the question again in the format asked for above. Do not mention the other agents."
    )
}

fn add_context(mut conversation: Vec<Message>, context: &str) -> Vec<Message> {
    if let Some(user) = conversation.iter_mut().rev().find(|m| m.role == Role::User) {
        user.content = with_context(&user.content, context);
    }
    conversation
}

/// Rounds 1..R: the task's prompt (with the agent's persona) and the last round's answers.
pub fn debate(task: &Task, sample: &Sample, agent: &Agent, context: &str) -> Vec<Message> {
    add_context(task_prompt(task, sample, agent), context)
}

/// The prompt of a record: the task's own prompt (as `r2l eval` sends it), with the last
/// round's answers when `context` is given.
pub fn record_prompt(task: &Task, sample: &Sample, context: Option<&str>) -> Vec<Message> {
    let conversation = messages(task, sample, &[]);
    match context {
        Some(context) => add_context(conversation, context),
        None => conversation,
    }
}

const FEEDBACK_RULES: &str = "Be concise (at most 120 words). Write only the feedback; do not give a new answer and do not apologize.";

/// A right agent's critique of a wrong agent's answer.
pub fn critique(agent: &Agent, question: &str, own: &str, other: &str) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "Question:\n{question}\n\nYour correct answer:\n{own}\n\nAn incorrect answer from another agent:\n{other}\n\nYou answered correctly. Help the other agent: point out the incorrect knowledge, faulty reasoning or format errors in its answer. {FEEDBACK_RULES}"
        )),
    ]
}

/// A wrong agent's self-reflection, shown the gold final answer (as the paper does).
pub fn reflection(agent: &Agent, question: &str, gold: &str, own: &str) -> Vec<Message> {
    vec![
        Message::system(agent.system_prompt.clone()),
        Message::user(format!(
            "Question:\n{question}\n\nThe correct final answer: {gold}\n\nYour incorrect answer:\n{own}\n\nYour answer was incorrect. Given the correct final answer, reflect on it: identify the incorrect knowledge, faulty reasoning or format errors in your answer. {FEEDBACK_RULES}"
        )),
    ]
}
