//! Who answers a task's prompt when it is not the bare model: a persona (an agent's system
//! prompt, put before the task's system message) and the agent's own sampling settings.

use chat::{Message, Role};
use serde::{Deserialize, Serialize};

use super::spec::GenerationSettings;

/// How an agent answers a task: its system prompt, put before the task's system message, and
/// the sampling settings of its agents file, each replacing the task's when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persona {
    /// The agent's system prompt.
    pub system_prompt: String,
    /// Sampling temperature, 0–2 (None: the task's).
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, in (0, 1] (None: the task's).
    pub top_p: Option<f64>,
    /// Most tokens per answer (None: the task's).
    pub max_tokens: Option<u32>,
}

impl Persona {
    /// The task's generation settings with the persona's sampling settings in their place.
    pub fn generation(&self, task: &GenerationSettings) -> GenerationSettings {
        GenerationSettings {
            max_tokens: self.max_tokens.unwrap_or(task.max_tokens),
            temperature: self.temperature.unwrap_or(task.temperature),
            top_p: self.top_p.unwrap_or(task.top_p),
            ..task.clone()
        }
    }
}

/// `conversation` with `prefix` put before its system message (separated by a blank line), or
/// as a system message of its own when the conversation has none: how an agent's persona
/// precedes a task's prompt, in distillation and in evaluation alike.
pub fn with_system_prefix(mut conversation: Vec<Message>, prefix: &str) -> Vec<Message> {
    match conversation.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{prefix}\n\n{}", first.content);
        }
        _ => conversation.insert(0, Message::system(prefix.to_string())),
    }
    conversation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_goes_before_the_system_message_or_becomes_one() {
        let with_system = vec![Message::system("Label it."), Message::user("Review")];
        let prefixed = with_system_prefix(with_system, "You are strict.");
        assert_eq!(prefixed.len(), 2);
        assert_eq!(prefixed[0].content, "You are strict.\n\nLabel it.");
        let without_system = with_system_prefix(vec![Message::user("Review")], "You are strict.");
        assert_eq!(without_system.len(), 2);
        assert_eq!(without_system[0].role, Role::System);
        assert_eq!(without_system[0].content, "You are strict.");
    }

    #[test]
    fn the_persona_replaces_only_the_sampling_settings_it_has() {
        let task = GenerationSettings {
            max_tokens: 256,
            temperature: 0.0,
            top_p: 0.9,
            seed: 7,
            stop: vec!["\n\n".to_string()],
        };
        let persona = Persona {
            system_prompt: "You are strict.".to_string(),
            temperature: Some(0.2),
            top_p: None,
            max_tokens: Some(160),
        };
        let settings = persona.generation(&task);
        assert_eq!(
            (settings.max_tokens, settings.temperature, settings.top_p),
            (160, 0.2, 0.9)
        );
        assert_eq!((settings.seed, settings.stop), (7, task.stop));
    }
}
