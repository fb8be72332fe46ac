//! Agents: the `agents.toml` format, and agents built from it (each with its system prompt,
//! its generation settings, its prices and a cached client for its endpoint or local model).

mod agent;
mod config;
mod team;

pub use agent::{persona, system_prompt, Agent};
pub use config::{
    parse_agents, read_agents_file, AgentSpec, AgentsFile, Backend, LocalModel, Role,
    AGENTARK_AGENTS_TOML, DEFAULT_AGENTS_TOML,
};
pub use team::{build_team, LocalClient, Team};
