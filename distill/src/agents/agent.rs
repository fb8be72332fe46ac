//! An agent ready to call: its spec, the model id it sends, its system prompt and its cached
//! client.

use std::sync::Arc;

use chat::{CachedClient, ChatRequest, Message};

use super::config::{AgentSpec, Role};

/// An agent of a protocol run.
pub struct Agent {
    /// How its file describes it.
    pub spec: AgentSpec,
    /// The model id sent in its requests.
    pub model: String,
    /// Its system prompt (persona): from `system_prompt`, else built from role and expertise.
    pub system_prompt: String,
    /// Its client: the answer cache in front of its endpoint's (shared) client or local model.
    pub client: Arc<CachedClient>,
}

/// The system prompt built from an agent's role and expertise.
pub fn persona(spec: &AgentSpec) -> String {
    let intro = match spec.role {
        Role::Teacher => format!(
            "You are {}, one of several expert annotators working on the same text.",
            spec.id
        ),
        Role::Meta => format!(
            "You are {}, the lead annotator: you reconcile the other annotators' positions into one final answer.",
            spec.id
        ),
        Role::Student => format!("You are {}, a student model learning the task.", spec.id),
    };
    if spec.expertise.is_empty() {
        intro
    } else {
        format!("{intro} {}", spec.expertise)
    }
}

/// The system prompt an agent answers with: its file's `system_prompt`, else the [`persona`]
/// built from its role and expertise.
pub fn system_prompt(spec: &AgentSpec) -> String {
    spec.system_prompt.clone().unwrap_or_else(|| persona(spec))
}

impl Agent {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// A request for `messages` with the agent's generation settings and the run's `seed`.
    pub fn request(&self, messages: Vec<Message>, seed: u64) -> ChatRequest {
        ChatRequest {
            model: self.model.clone(),
            messages,
            max_tokens: Some(self.spec.max_tokens),
            temperature: Some(self.spec.temperature),
            top_p: self.spec.top_p,
            seed: Some(seed),
            ..Default::default()
        }
    }

    /// The most a request can cost, in USD: every prompt byte counted as a token (byte-level
    /// BPE tokens cover at least one byte each) plus 8 tokens of chat template per message, and
    /// `max_tokens` completion tokens. The budget reserves this before a call is sent, so it is
    /// never exceeded.
    pub fn worst_case_cost(&self, request: &ChatRequest) -> f64 {
        let prompt_bound: usize = request
            .messages
            .iter()
            .map(|m| m.content.len() + 8)
            .sum::<usize>()
            + 8;
        let completion_bound = request.max_tokens.unwrap_or(self.spec.max_tokens);
        self.cost(prompt_bound as u64, u64::from(completion_bound))
    }

    /// What `prompt_tokens` in and `completion_tokens` out cost at the agent's prices (USD).
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        prompt_tokens as f64 / 1000.0 * self.spec.price_in_per_1k
            + completion_tokens as f64 / 1000.0 * self.spec.price_out_per_1k
    }
}
