//! Distillation protocols, one module each, each with its own transcript type. The registry is
//! a `match`: an unknown name fails and lists the valid ones.

pub mod r2l;

use crate::error::{Error, Result};

/// The protocols r2l runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolName {
    /// R2L (LREC 2026): detection, processing, rationale generation, aggregation (ABSA tasks).
    R2l,
}

impl ProtocolName {
    /// Every protocol's name.
    pub const NAMES: [&'static str; 1] = ["r2l"];

    /// Parses a protocol name.
    pub fn parse(name: &str) -> Result<ProtocolName> {
        match name {
            "r2l" => Ok(ProtocolName::R2l),
            other => Err(Error::InvalidInput(format!(
                "unknown protocol `{other}`; valid: {}",
                ProtocolName::NAMES.join(", ")
            ))),
        }
    }

    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolName::R2l => "r2l",
        }
    }
}
