//! `agents.toml`: who the agents are, where they are reached, how they sample and what they
//! cost. Errors name the file, the agent and the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The default offline agents (three teachers, a meta-agent and a student, all the embedded default model
/// in-process), used by r2l and debate when `--agents` is not given.
pub const DEFAULT_AGENTS_TOML: &str = include_str!("../../agents.toml");

/// AgentArk's default offline team (five agents and an aggregator, all the embedded default
/// model in-process at temperature 0.5, as AgentArk's debate runs one model five times), used
/// by agentark when `--agents` is not given.
pub const AGENTARK_AGENTS_TOML: &str = include_str!("../../agents-agentark.toml");

/// What an agent does in a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Labels, explains and debates.
    Teacher,
    /// Reconciles the teachers' positions into the final answer.
    Meta,
    /// The model being taught (debate protocols let it take part).
    Student,
}

impl Role {
    /// The role's name in `agents.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Meta => "meta",
            Role::Student => "student",
        }
    }
}

/// A model run in-process by the r2l binary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum LocalModel {
    /// The embedded default model (SmolLM2-135M-Instruct).
    Default,
    /// A .gguf file or checkpoint directory (resolved against the agents file).
    Path(PathBuf),
}

/// Where an agent is reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Backend {
    /// An OpenAI-compatible base URL.
    Endpoint {
        /// e.g. `http://127.0.0.1:8001/v1`.
        url: String,
        /// The environment variable that holds its API key, if any (the key itself is never
        /// stored or written).
        api_key_env: Option<String>,
    },
    /// A model in-process.
    Local(LocalModel),
}

/// One agent as its file describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSpec {
    /// Unique id: names the agent in transcripts and the ledger.
    pub id: String,
    /// Its role.
    pub role: Role,
    /// Where it is reached.
    pub backend: Backend,
    /// The model id sent in requests (None for a local model: the model's own id).
    pub model: Option<String>,
    /// Goes into its system prompt.
    pub expertise: String,
    /// Replaces the system prompt built from role and expertise, when given.
    pub system_prompt: Option<String>,
    /// Sampling temperature, 0–2.
    pub temperature: f64,
    /// Nucleus sampling mass, (0, 1], when set.
    pub top_p: Option<f64>,
    /// Most tokens per answer.
    pub max_tokens: u32,
    /// USD per 1,000 prompt tokens.
    pub price_in_per_1k: f64,
    /// USD per 1,000 completion tokens.
    pub price_out_per_1k: f64,
    /// Most requests in flight to its endpoint (agents sharing an endpoint use the smallest).
    pub concurrency: Option<usize>,
    /// Time allowed per request attempt.
    pub timeout: Duration,
}

/// A parsed agents file.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentsFile {
    /// Where it came from (a path, or `built-in:agents.toml`).
    pub source: String,
    /// The agents, in file order.
    pub agents: Vec<AgentSpec>,
}

impl AgentsFile {
    /// A hash of everything that shapes the agents' answers (ids, roles, backends, models,
    /// prompts, sampling) but not prices, limits or keys: a run resumed with other agents would
    /// mix two runs' data, so the output directory remembers it.
    pub fn fingerprint(&self) -> String {
        let shaping: Vec<_> = self
            .agents
            .iter()
            .map(|a| {
                serde_json::json!({
                    "id": a.id, "role": a.role, "backend": a.backend, "model": a.model,
                    "expertise": a.expertise, "system_prompt": a.system_prompt,
                    "temperature": a.temperature, "top_p": a.top_p, "max_tokens": a.max_tokens,
                })
            })
            .collect();
        Sha256::digest(serde_json::Value::Array(shaping).to_string().as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The agents with `role`, in file order.
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &AgentSpec> {
        self.agents.iter().filter(move |a| a.role == role)
    }
}

/// The keys an agent table may hold.
const KEYS: [&str; 15] = [
    "id",
    "role",
    "endpoint",
    "local",
    "model",
    "api_key_env",
    "expertise",
    "system_prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "price_in_per_1k",
    "price_out_per_1k",
    "concurrency",
    "timeout_s",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    id: String,
    role: Option<String>,
    endpoint: Option<String>,
    local: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    #[serde(default)]
    expertise: String,
    system_prompt: Option<String>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
    price_in_per_1k: Option<f64>,
    price_out_per_1k: Option<f64>,
    concurrency: Option<usize>,
    timeout_s: Option<f64>,
}

/// Reads and validates an agents file; relative `local` paths resolve against its directory.
pub fn read_agents_file(path: &Path) -> Result<AgentsFile> {
    let text = std::fs::read_to_string(path).map_err(crate::error::io_error(path))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_agents(&text, &path.display().to_string(), base)
}

/// Parses and validates agents-file text; `source` names it in errors, `base` resolves paths.
pub fn parse_agents(text: &str, source: &str, base: &Path) -> Result<AgentsFile> {
    let fail = |agent: Option<&str>, key: &str, message: String| Error::Agents {
        file: source.to_string(),
        agent: agent.map(str::to_string),
        key: key.to_string(),
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        fail(None, "(toml)", format!("{}{at}", error.message().trim()))
    })?;
    if let Some(key) = table.keys().find(|k| *k != "agents") {
        return Err(fail(
            None,
            key,
            "unknown top-level key; the file holds [[agents]] tables only".to_string(),
        ));
    }
    let entries = match table.get("agents") {
        Some(toml::Value::Array(entries)) if !entries.is_empty() => entries,
        _ => {
            return Err(fail(
                None,
                "agents",
                "no [[agents]] table; define at least one teacher".to_string(),
            ))
        }
    };
    let mut agents: Vec<AgentSpec> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let position = format!("agents[{index}]");
        let Some(entry_table) = entry.as_table() else {
            return Err(fail(
                Some(&position),
                "agents",
                "must be a table".to_string(),
            ));
        };
        let name = match entry_table.get("id") {
            Some(toml::Value::String(id)) if !id.trim().is_empty() => id.clone(),
            Some(toml::Value::String(_)) => {
                return Err(fail(Some(&position), "id", "is empty".to_string()))
            }
            Some(_) => return Err(fail(Some(&position), "id", "must be a string".to_string())),
            None => return Err(fail(Some(&position), "id", "required".to_string())),
        };
        if let Some(key) = entry_table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(fail(
                Some(&name),
                key,
                format!("unknown key; valid: {}", KEYS.join(", ")),
            ));
        }
        let raw: RawAgent = serde_path_to_error::deserialize(entry.clone()).map_err(|error| {
            fail(
                Some(&name),
                &error.path().to_string(),
                error.inner().message().to_string(),
            )
        })?;
        if agents.iter().any(|a| a.id == name) {
            return Err(fail(
                Some(&name),
                "id",
                format!("`{name}` is used by two agents; ids must be unique"),
            ));
        }
        agents.push(validate(raw, base, |key, message| {
            fail(Some(&name), key, message)
        })?);
    }
    if let Some(second) = agents.iter().filter(|a| a.role == Role::Meta).nth(1) {
        return Err(fail(
            Some(&second.id),
            "role",
            "a second meta agent; a run has at most one".to_string(),
        ));
    }
    if !agents.iter().any(|a| a.role == Role::Teacher) {
        return Err(fail(
            None,
            "role",
            "no agent has role = \"teacher\"; a protocol needs at least one".to_string(),
        ));
    }
    Ok(AgentsFile {
        source: source.to_string(),
        agents,
    })
}

fn validate(raw: RawAgent, base: &Path, fail: impl Fn(&str, String) -> Error) -> Result<AgentSpec> {
    let role = match raw.role.as_deref().unwrap_or("teacher") {
        "teacher" => Role::Teacher,
        "meta" => Role::Meta,
        "student" => Role::Student,
        other => {
            return Err(fail(
                "role",
                format!("unknown role `{other}`; valid: teacher, meta, student"),
            ))
        }
    };
    let backend = match (raw.endpoint, raw.local) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "endpoint",
                "give either `endpoint` or `local`, not both".to_string(),
            ))
        }
        (None, None) => {
            return Err(fail(
                "endpoint",
                "missing: give `endpoint` (an OpenAI-compatible base URL) or `local` (\"default\" or a model path)".to_string(),
            ))
        }
        (Some(url), None) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(fail(
                    "endpoint",
                    format!("`{url}` must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)"),
                ));
            }
            Backend::Endpoint {
                url: url.trim_end_matches('/').to_string(),
                api_key_env: raw.api_key_env,
            }
        }
        (None, Some(local)) => {
            if raw.api_key_env.is_some() {
                return Err(fail(
                    "api_key_env",
                    "a local model takes no API key".to_string(),
                ));
            }
            Backend::Local(match local.as_str() {
                "default" => LocalModel::Default,
                "" => return Err(fail("local", "is empty".to_string())),
                path => {
                    let path = PathBuf::from(path);
                    LocalModel::Path(if path.is_absolute() {
                        path
                    } else {
                        base.join(path)
                    })
                }
            })
        }
    };
    let model = raw.model.filter(|m| !m.trim().is_empty());
    if model.is_none() && matches!(backend, Backend::Endpoint { .. }) {
        return Err(fail(
            "model",
            "required for an endpoint agent (the model id the endpoint serves)".to_string(),
        ));
    }
    let temperature = raw.temperature.unwrap_or(0.7);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(fail(
            "temperature",
            format!("must be from 0 to 2, got {temperature}"),
        ));
    }
    if let Some(top_p) = raw.top_p {
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(fail("top_p", format!("must be in (0, 1], got {top_p}")));
        }
    }
    let max_tokens = raw.max_tokens.unwrap_or(512);
    if max_tokens == 0 {
        return Err(fail("max_tokens", "must be at least 1".to_string()));
    }
    for (key, price) in [
        ("price_in_per_1k", raw.price_in_per_1k),
        ("price_out_per_1k", raw.price_out_per_1k),
    ] {
        if let Some(price) = price {
            if !(price.is_finite() && price >= 0.0) {
                return Err(fail(key, format!("must be a price >= 0, got {price}")));
            }
        }
    }
    if raw.concurrency == Some(0) {
        return Err(fail("concurrency", "must be at least 1".to_string()));
    }
    let timeout = raw.timeout_s.unwrap_or(300.0);
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(fail(
            "timeout_s",
            format!("must be a positive number of seconds, got {timeout}"),
        ));
    }
    Ok(AgentSpec {
        id: raw.id,
        role,
        backend,
        model,
        expertise: raw.expertise.trim().to_string(),
        system_prompt: raw.system_prompt,
        temperature,
        top_p: raw.top_p,
        max_tokens,
        price_in_per_1k: raw.price_in_per_1k.unwrap_or(0.0),
        price_out_per_1k: raw.price_out_per_1k.unwrap_or(0.0),
        concurrency: raw.concurrency,
        timeout: Duration::from_secs_f64(timeout),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[agents]]
id = "qwen"
role = "teacher"
endpoint = "http://127.0.0.1:8001/v1"
model = "qwen2.5-32b-instruct"
api_key_env = "QWEN_API_KEY"
expertise = "Vietnamese product reviews; strict about polarity"
temperature = 0.7
max_tokens = 512
price_in_per_1k = 0.5
price_out_per_1k = 1.5

[[agents]]
id = "judge"
role = "meta"
local = "students/m.gguf"
"#;

    fn parse(text: &str) -> Result<AgentsFile> {
        parse_agents(text, "agents.toml", Path::new("/cfg"))
    }

    fn error_of(text: &str) -> String {
        parse(text).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_format_parses() {
        let file = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.agents.len(), 2);
        let qwen = &file.agents[0];
        assert_eq!(qwen.role, Role::Teacher);
        assert_eq!(qwen.price_out_per_1k, 1.5);
        assert_eq!(
            qwen.backend,
            Backend::Endpoint {
                url: "http://127.0.0.1:8001/v1".into(),
                api_key_env: Some("QWEN_API_KEY".into())
            }
        );
        assert_eq!(
            file.agents[1].backend,
            Backend::Local(LocalModel::Path(PathBuf::from("/cfg/students/m.gguf")))
        );
    }

    #[test]
    fn the_shipped_default_agents_parse() {
        let file = parse_agents(DEFAULT_AGENTS_TOML, "built-in", Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.with_role(Role::Teacher).count(), 3);
        assert_eq!(file.with_role(Role::Meta).count(), 1);
        assert_eq!(file.with_role(Role::Student).count(), 1);
        let temperatures: std::collections::BTreeSet<String> = file
            .agents
            .iter()
            .map(|a| a.temperature.to_string())
            .collect();
        assert_eq!(temperatures.len(), 5, "distinct temperatures");
        assert!(file
            .agents
            .iter()
            .all(|a| a.backend == Backend::Local(LocalModel::Default)));
    }

    #[test]
    fn agentarks_default_team_is_five_agents_of_one_model_at_temperature_0_5() {
        let file = parse_agents(AGENTARK_AGENTS_TOML, "built-in", Path::new("."))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.with_role(Role::Teacher).count(), 5);
        assert_eq!(file.with_role(Role::Meta).count(), 1);
        assert_eq!(file.with_role(Role::Student).count(), 0);
        assert!(file
            .agents
            .iter()
            .all(|a| { a.backend == Backend::Local(LocalModel::Default) && a.temperature == 0.5 }));
        // Every request carries the run's seed: the prompts differ, or five agents would give
        // one answer.
        let prompts: std::collections::BTreeSet<_> = file
            .agents
            .iter()
            .map(|a| a.system_prompt.clone())
            .collect();
        assert_eq!(prompts.len(), 6);
    }

    #[test]
    fn errors_name_file_agent_and_key() {
        let message = error_of(&GOOD.replace("temperature = 0.7", "tempreature = 0.7"));
        assert!(
            message.starts_with("agents.toml: agent `qwen`: key `tempreature`: unknown key"),
            "{message}"
        );
        let message = error_of(&format!(
            "{GOOD}\n[[agents]]\nid = \"qwen\"\nlocal = \"default\"\n"
        ));
        assert!(
            message.contains("agent `qwen`: key `id`: `qwen` is used by two agents"),
            "{message}"
        );
        let message = error_of("[[agents]]\nid = \"j\"\nrole = \"meta\"\nlocal = \"default\"\n");
        assert!(
            message.contains("key `role`: no agent has role = \"teacher\""),
            "{message}"
        );
        let message = error_of(&GOOD.replace("role = \"teacher\"", "role = \"meta\""));
        assert!(
            message.contains("agent `judge`: key `role`: a second meta agent"),
            "{message}"
        );
        let message = error_of(&GOOD.replace(
            "local = \"students/m.gguf\"",
            "local = \"x\"\nendpoint = \"http://h/v1\"\nmodel = \"m\"",
        ));
        assert!(
            message.contains("agent `judge`: key `endpoint`: give either"),
            "{message}"
        );
        let message = error_of(&GOOD.replace("local = \"students/m.gguf\"", ""));
        assert!(
            message.contains("agent `judge`: key `endpoint`: missing"),
            "{message}"
        );
        let message = error_of(&GOOD.replace("max_tokens = 512", "max_tokens = \"many\""));
        assert!(
            message.contains("agent `qwen`: key `max_tokens`"),
            "{message}"
        );
        let message = error_of(&GOOD.replace("temperature = 0.7", "temperature = 3.0"));
        assert!(
            message.contains("key `temperature`: must be from 0 to 2"),
            "{message}"
        );
        let message = error_of(&GOOD.replace("role = \"teacher\"", "role = \"oracle\""));
        assert!(message.contains("unknown role `oracle`"), "{message}");
        let message = error_of(&GOOD.replace("model = \"qwen2.5-32b-instruct\"\n", ""));
        assert!(
            message.contains("agent `qwen`: key `model`: required"),
            "{message}"
        );
        let message = error_of("[[agents]]\nrole = \"teacher\"\n");
        assert!(
            message.contains("agent `agents[0]`: key `id`: required"),
            "{message}"
        );
        let message = error_of("agents = 3\n");
        assert!(message.contains("key `agents`"), "{message}");
        let message = error_of("[[agents]\n");
        assert!(message.contains("(line 1)"), "{message}");
    }

    #[test]
    fn the_fingerprint_follows_answer_shaping_settings_only() {
        let file = parse(GOOD).unwrap_or_else(|e| panic!("{e}"));
        let cheaper = parse(&GOOD.replace("price_in_per_1k = 0.5", "price_in_per_1k = 0.1"))
            .unwrap_or_else(|e| panic!("{e}"));
        let hotter = parse(&GOOD.replace("temperature = 0.7", "temperature = 0.9"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.fingerprint(), cheaper.fingerprint());
        assert_ne!(file.fingerprint(), hotter.fingerprint());
    }
}
