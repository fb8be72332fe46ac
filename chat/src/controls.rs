//! The sampling controls beyond temperature and top-p, as a request sends them: OpenAI's
//! `frequency_penalty`, `presence_penalty` and `logit_bias`, and vLLM's `repetition_penalty`,
//! `top_k` and `min_p`. A server checks their ranges; these types only carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The six controls of one request, each absent unless the client set it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SamplingControls {
    /// Subtracted from a token's logit once per time it was generated so far (OpenAI: −2 to 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Subtracted from a token's logit if it was generated at all so far (OpenAI: −2 to 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Divides a positive logit (multiplies a negative one) of every token already in the
    /// prompt or the answer (> 0; 1 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f64>,
    /// Sample only from the `top_k` likeliest tokens (0 or −1 = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    /// Sample only tokens at least `min_p` times as likely as the likeliest (0–1; 0 = all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f64>,
    /// Token id (as a string, OpenAI's shape) → added to that token's logit (−100 to 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, f64>>,
}

impl SamplingControls {
    /// The request fields these controls are sent as.
    pub const FIELDS: [&'static str; 6] = [
        "frequency_penalty",
        "presence_penalty",
        "repetition_penalty",
        "top_k",
        "min_p",
        "logit_bias",
    ];

    /// True when the client set none of them.
    pub fn is_empty(&self) -> bool {
        *self == SamplingControls::default()
    }

    /// Moves the controls out of `other` (the fields a request type does not model), for a
    /// request type that does not carry them as fields. A field of the wrong type is an error
    /// naming it; `null` counts as absent.
    pub fn take_from(
        other: &mut Map<String, Value>,
    ) -> Result<SamplingControls, (&'static str, serde_json::Error)> {
        let mut taken = Map::new();
        for field in SamplingControls::FIELDS {
            if let Some(value) = other.remove(field) {
                // Each field on its own, so that an error names it.
                let mut one = Map::new();
                one.insert(field.to_string(), value.clone());
                serde_json::from_value::<SamplingControls>(Value::Object(one))
                    .map_err(|error| (field, error))?;
                taken.insert(field.to_string(), value);
            }
        }
        serde_json::from_value(Value::Object(taken)).map_err(|error| ("(body)", error))
    }

    /// The controls as JSON members, only those set (for cache keys: a request without them
    /// keeps the key it always had).
    pub fn members(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(members)) => members,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(members) => members,
            _ => Map::new(),
        }
    }

    #[test]
    fn controls_are_taken_out_of_the_other_fields() {
        let mut other = map(json!({"top_k": 5, "logit_bias": {"42": -100}, "user": "u"}));
        let controls = SamplingControls::take_from(&mut other).unwrap_or_default();
        assert_eq!(controls.top_k, Some(5));
        assert_eq!(
            controls.logit_bias,
            Some(BTreeMap::from([("42".to_string(), -100.0)]))
        );
        assert_eq!(other.keys().collect::<Vec<_>>(), ["user"]);
        assert!(SamplingControls::take_from(&mut Map::new())
            .unwrap_or_default()
            .is_empty());
    }

    #[test]
    fn a_control_of_the_wrong_type_is_named() {
        let mut other = map(json!({"min_p": 0.1, "presence_penalty": "high"}));
        let (field, _) = SamplingControls::take_from(&mut other).expect_err("a string penalty");
        assert_eq!(field, "presence_penalty");
    }

    #[test]
    fn only_set_controls_are_members() {
        let controls = SamplingControls {
            min_p: Some(0.05),
            ..Default::default()
        };
        assert_eq!(
            Value::Object(controls.members()),
            json!({"min_p": 0.05}),
            "unset controls are left out"
        );
        assert!(SamplingControls::default().members().is_empty());
    }
}
