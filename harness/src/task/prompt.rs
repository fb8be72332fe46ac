//! Turning a sample into chat messages: template rendering, few-shot turns, and the gold answer
//! written the way the task asks the model to answer.

use chat::{ChatRequest, Message, Stop};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::persona::{with_system_prefix, Persona};
use super::spec::Task;
use crate::data::Sample;
use crate::scoring::Scorer;

/// Renders a template's `{{placeholders}}` for `sample` (placeholders were checked at load).
pub fn render(template: &str, task: &Task, sample: &Sample) -> String {
    let mut out = String::with_capacity(template.len() + sample.input.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        match after[..end].trim() {
            "input" => out.push_str(&sample.input),
            "labels" => out.push_str(&labels(task)),
            "choices" => out.push_str(&choices(sample)),
            "letters" => out.push_str(
                &sample
                    .choices
                    .iter()
                    .map(|c| c.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            other => {
                out.push_str("{{");
                out.push_str(other);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn labels(task: &Task) -> String {
    match &task.scorer {
        Scorer::AbsaF1 { labels } => labels.join(", "),
        _ => String::new(),
    }
}

fn choices(sample: &Sample) -> String {
    sample
        .choices
        .iter()
        .map(|choice| format!("{}. {}", choice.label, choice.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The gold answer written as the task's prompt asks the model to write it (for few-shot turns);
/// see [`Scorer::gold_answer`].
pub fn gold_answer(task: &Task, sample: &Sample) -> String {
    task.scorer.gold_answer(sample)
}

/// The chat messages for `sample`: system, then one user/assistant pair per few-shot example,
/// then the sample's user turn.
pub fn messages(task: &Task, sample: &Sample, few_shot: &[Sample]) -> Vec<Message> {
    let mut messages = Vec::with_capacity(2 + 2 * few_shot.len());
    if let Some(system) = &task.prompt.system {
        messages.push(Message::system(render(system, task, sample)));
    }
    for example in few_shot {
        messages.push(Message::user(render(&task.prompt.user, task, example)));
        messages.push(Message::assistant(gold_answer(task, example)));
    }
    messages.push(Message::user(render(&task.prompt.user, task, sample)));
    messages
}

/// The full request for `sample` to `model`, with the task's generation settings.
pub fn request(task: &Task, model: &str, sample: &Sample, few_shot: &[Sample]) -> ChatRequest {
    request_as(task, model, sample, few_shot, None)
}

/// The full request for `sample` to `model` answering as `persona`: its system prompt before
/// the task's system message and its sampling settings in place of the task's (None: the
/// task's own prompt and settings, as [`request`]).
pub fn request_as(
    task: &Task,
    model: &str,
    sample: &Sample,
    few_shot: &[Sample],
    persona: Option<&Persona>,
) -> ChatRequest {
    let (messages, settings) = match persona {
        Some(persona) => (
            with_system_prefix(messages(task, sample, few_shot), &persona.system_prompt),
            persona.generation(&task.generation),
        ),
        None => (messages(task, sample, few_shot), task.generation.clone()),
    };
    ChatRequest {
        model: model.to_string(),
        messages,
        max_tokens: Some(settings.max_tokens),
        temperature: Some(settings.temperature),
        top_p: Some(settings.top_p),
        seed: Some(settings.seed),
        stop: (!settings.stop.is_empty()).then(|| Stop::Many(settings.stop.clone())),
        response_format: task.output.response_format(&task.name),
        ..Default::default()
    }
}

/// The first `limit` samples of a stable shuffle seeded by `seed` (all samples, shuffled, when
/// `limit` is None). The same seed always picks the same samples in the same order.
pub fn select(samples: &[Sample], limit: Option<usize>, seed: u64) -> Vec<Sample> {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.truncate(limit.unwrap_or(samples.len()));
    order
        .into_iter()
        .map(|index| samples[index].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Choice, DatasetName, Target};
    use serde_json::json;

    fn task() -> Task {
        Task::from_toml(
            "name = \"t\"\nversion = \"1\"\ndataset = \"arc-challenge\"\nscorer = \"accuracy\"\n[prompt]\nsystem = \"Pick one of {{letters}}.\"\nuser = \"{{input}}\\n{{choices}}\"\n",
            "t.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn sample(id: &str) -> Sample {
        Sample {
            id: id.to_string(),
            input: "Which is red?".to_string(),
            choices: vec![
                Choice {
                    label: "A".into(),
                    text: "sky".into(),
                },
                Choice {
                    label: "B".into(),
                    text: "blood".into(),
                },
            ],
            target: Target::Answer { value: "B".into() },
            meta: Default::default(),
        }
    }

    #[test]
    fn templates_render_choices_and_letters() {
        let messages = messages(&task(), &sample("1"), &[sample("0")]);
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[0].content, "Pick one of A, B.");
        assert_eq!(messages[1].content, "Which is red?\nA. sky\nB. blood");
        assert_eq!(messages[2].content, "Answer: B");
        assert_eq!(
            task().dataset,
            crate::data::DatasetSource::BuiltIn(DatasetName::ArcChallenge)
        );
    }

    #[test]
    fn gsm8k_gold_answers_are_written_as_each_prompt_asks() {
        let solved = Sample {
            id: "0".to_string(),
            input: "Janet has 3 apples and buys 2. How many?".to_string(),
            choices: Vec::new(),
            target: Target::Answer { value: "5".into() },
            meta: [(
                "rationale".to_string(),
                json!("She has 3 apples.\nShe buys 2, so 3 + 2 = 5.\n"),
            )]
            .into_iter()
            .collect(),
        };
        let answer_of = |name: &str| {
            let task = super::super::resolve_task(name).unwrap_or_else(|e| panic!("{e}"));
            gold_answer(&task, &solved)
        };
        assert_eq!(
            answer_of("gsm8k"),
            "She has 3 apples.\nShe buys 2, so 3 + 2 = 5.\nAnswer: 5"
        );
        assert_eq!(
            answer_of("gsm8k-boxed"),
            "She has 3 apples.\n\nShe buys 2, so 3 + 2 = 5.\n\n\\boxed{5}"
        );
    }

    #[test]
    fn selection_is_stable_for_a_seed() {
        let samples: Vec<Sample> = (0..50).map(|i| sample(&i.to_string())).collect();
        let ids = |picked: Vec<Sample>| picked.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(
            ids(select(&samples, Some(5), 7)),
            ids(select(&samples, Some(5), 7))
        );
        assert_ne!(
            ids(select(&samples, Some(5), 7)),
            ids(select(&samples, Some(5), 8))
        );
        assert_eq!(select(&samples, None, 1).len(), 50);
    }
}
