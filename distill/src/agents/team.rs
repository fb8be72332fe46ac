//! Building the agents of a run: one HTTP client per endpoint (shared by the agents that use it,
//! so each endpoint has one concurrency limit), local models from the binary, and the answer
//! cache in front of each.

use std::collections::HashMap;
use std::sync::Arc;

use chat::{CacheMode, CachedClient, ChatCache, ChatClient, HttpClient, HttpConfig, RetryPolicy};

use super::agent::{system_prompt, Agent};
use super::config::{AgentsFile, Backend, LocalModel, Role};
use crate::error::{Error, Result};

/// A local model loaded by the caller (distill never loads models itself): the client and the
/// model id it answers as.
pub struct LocalClient {
    /// The in-process client.
    pub client: Arc<dyn ChatClient>,
    /// The model's id (sent in requests and part of the cache key).
    pub model: String,
}

/// The agents of a run, by role.
pub struct Team {
    /// Every teacher, in file order.
    pub teachers: Vec<Arc<Agent>>,
    /// The meta-agent, if the file has one (the first with role = "meta").
    pub meta: Option<Arc<Agent>>,
    /// Students, in file order.
    pub students: Vec<Arc<Agent>>,
    /// The agents file's fingerprint (see [`AgentsFile::fingerprint`]).
    pub fingerprint: String,
    /// The agents file's source.
    pub source: String,
}

impl Team {
    /// Every agent, teachers first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<Agent>> {
        self.teachers
            .iter()
            .chain(self.meta.iter())
            .chain(self.students.iter())
    }
}

/// Builds the agents of `file`. HTTP clients make one attempt per call (the caller retries and
/// counts the retries per agent); `concurrency` caps each endpoint unless its agents ask for
/// less. `local` loads an in-process model (called once per distinct model).
pub fn build_team(
    file: &AgentsFile,
    cache: &ChatCache,
    mode: CacheMode,
    concurrency: usize,
    local: &mut dyn FnMut(&LocalModel) -> Result<LocalClient>,
) -> Result<Team> {
    let mut endpoints: HashMap<(String, Option<String>), Arc<dyn ChatClient>> = HashMap::new();
    let mut locals: HashMap<LocalModel, (Arc<dyn ChatClient>, String)> = HashMap::new();
    let mut team = Team {
        teachers: Vec::new(),
        meta: None,
        students: Vec::new(),
        fingerprint: file.fingerprint(),
        source: file.source.clone(),
    };
    for spec in &file.agents {
        let (client, model) = match &spec.backend {
            Backend::Endpoint { url, api_key_env } => {
                let api_key = match api_key_env {
                    Some(name) => Some(std::env::var(name).map_err(|_| Error::Agents {
                        file: file.source.clone(),
                        agent: Some(spec.id.clone()),
                        key: "api_key_env".to_string(),
                        message: format!("the environment variable {name} is not set"),
                    })?),
                    None => None,
                };
                let key = (url.clone(), api_key.clone());
                let client = match endpoints.get(&key) {
                    Some(client) => client.clone(),
                    None => {
                        let sharing = file.agents.iter().filter(|other| {
                            matches!(&other.backend, Backend::Endpoint { url: u, .. } if u == url)
                        });
                        let limit = sharing
                            .clone()
                            .filter_map(|a| a.concurrency)
                            .min()
                            .unwrap_or(concurrency)
                            .clamp(1, concurrency.max(1));
                        let timeout = sharing.map(|a| a.timeout).max().unwrap_or(spec.timeout);
                        let mut config = HttpConfig::new(url.clone());
                        config.api_key = api_key;
                        config.timeout = timeout;
                        config.concurrency = limit;
                        config.retry = RetryPolicy {
                            max_retries: 0,
                            ..RetryPolicy::default()
                        };
                        let client: Arc<dyn ChatClient> =
                            Arc::new(HttpClient::new(config).map_err(|e| Error::Agents {
                                file: file.source.clone(),
                                agent: Some(spec.id.clone()),
                                key: "endpoint".to_string(),
                                message: e.to_string(),
                            })?);
                        endpoints.insert(key, client.clone());
                        client
                    }
                };
                let model = spec.model.clone().unwrap_or_default();
                (client, model)
            }
            Backend::Local(which) => {
                let (client, own_id) = match locals.get(which) {
                    Some(found) => found.clone(),
                    None => {
                        let loaded = local(which)?;
                        let entry = (loaded.client, loaded.model);
                        locals.insert(which.clone(), entry.clone());
                        entry
                    }
                };
                (client, spec.model.clone().unwrap_or(own_id))
            }
        };
        let agent = Arc::new(Agent {
            system_prompt: system_prompt(spec),
            spec: spec.clone(),
            model,
            client: Arc::new(CachedClient::new(client, cache.clone(), mode)),
        });
        match spec.role {
            Role::Teacher => team.teachers.push(agent),
            // parse_agents admits at most one meta agent.
            Role::Meta => team.meta = Some(agent),
            Role::Student => team.students.push(agent),
        }
    }
    Ok(team)
}
