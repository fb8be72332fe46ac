//! The sampling controls a request may add to temperature and top-p — `logit_bias`, the
//! frequency, presence and repetition penalties, `top_k` and `min_p` — checked, and applied to
//! the logits by r2l, not by mistral.rs: 0.8.1 declares `logits_bias` but never applies it,
//! ignores `min_p` unless `top_p` < 1, counts the prompt in the frequency and presence
//! penalties, and applies its penalties before r2l's logits processors (so the log-probabilities
//! r2l records would no longer be the model's). Whenever a request sets a control, r2l's
//! [`super::chooser::Chooser`] chooses every token, so greedy, seeded, unseeded and
//! log-probability requests all honour the controls the same way.
//!
//! The order is vLLM's: bias, then the repetition penalty, then the frequency and presence
//! penalties (on the logits); then temperature, `top_k`, `min_p` and `top_p` (on the
//! probabilities, see [`super::seeded::SeededSampler`]).

use std::collections::HashMap;

use chat::SamplingControls;

/// Most `logit_bias` entries in one request (OpenAI's limit).
pub const MAX_LOGIT_BIAS: usize = 300;

/// A request field out of range: which field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The request field (`logit_bias`, `top_k`, ...).
    pub field: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl InvalidField {
    /// `field` is wrong: `message` says how.
    pub(crate) fn new(field: &str, message: impl Into<String>) -> InvalidField {
        InvalidField {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InvalidField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

/// The controls of one request, checked, in the units they are applied in.
#[derive(Debug, Clone, PartialEq)]
pub struct Controls {
    /// (token id, logit offset), ordered by id.
    pub logit_bias: Vec<(u32, f32)>,
    /// Logit offset per time a token was generated so far (0 = off).
    pub frequency_penalty: f32,
    /// Logit offset for a token generated at least once so far (0 = off).
    pub presence_penalty: f32,
    /// Divisor of positive (multiplier of negative) logits of tokens in the prompt or the
    /// answer (1 = off).
    pub repetition_penalty: f32,
    /// Tokens kept when sampling, likeliest first (0 = all).
    pub top_k: usize,
    /// Smallest probability kept when sampling, as a fraction of the likeliest token's (0 = all).
    pub min_p: f64,
}

impl Default for Controls {
    fn default() -> Controls {
        Controls {
            logit_bias: Vec::new(),
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            repetition_penalty: 1.0,
            top_k: 0,
            min_p: 0.0,
        }
    }
}

impl Controls {
    /// The controls `requested`, checked for a model of `vocab` tokens: penalties −2 to 2
    /// (OpenAI's range), `repetition_penalty` > 0, `top_k` ≥ −1 (0 and −1 = off, vLLM's
    /// convention), `min_p` 0–1, at most [`MAX_LOGIT_BIAS`] `logit_bias` entries, each a token
    /// id of the vocabulary written as a decimal string with a bias from −100 to 100.
    pub fn check(requested: &SamplingControls, vocab: usize) -> Result<Controls, InvalidField> {
        let penalty = |field: &str, value: Option<f64>| match value {
            Some(v) if !(-2.0..=2.0).contains(&v) => Err(InvalidField::new(
                field,
                format!("{field} must be from -2 to 2, got {v}"),
            )),
            _ => Ok(value.unwrap_or(0.0) as f32),
        };
        let frequency_penalty = penalty("frequency_penalty", requested.frequency_penalty)?;
        let presence_penalty = penalty("presence_penalty", requested.presence_penalty)?;
        let repetition_penalty = match requested.repetition_penalty {
            Some(v) if !(v > 0.0 && v.is_finite()) => {
                return Err(InvalidField::new(
                    "repetition_penalty",
                    format!("repetition_penalty must be above 0 (1 = off), got {v}"),
                ))
            }
            value => value.unwrap_or(1.0) as f32,
        };
        let top_k = match requested.top_k {
            None | Some(-1) => 0,
            Some(k) => usize::try_from(k).map_err(|_| {
                InvalidField::new(
                    "top_k",
                    format!("top_k must be at least 1 (0 or -1 = off), got {k}"),
                )
            })?,
        };
        let min_p = match requested.min_p {
            Some(v) if !(0.0..=1.0).contains(&v) => {
                return Err(InvalidField::new(
                    "min_p",
                    format!("min_p must be from 0 to 1, got {v}"),
                ))
            }
            value => value.unwrap_or(0.0),
        };
        let logit_bias = match &requested.logit_bias {
            None => Vec::new(),
            Some(biases) => check_bias(biases, vocab)?,
        };
        Ok(Controls {
            logit_bias,
            frequency_penalty,
            presence_penalty,
            repetition_penalty,
            top_k,
            min_p,
        })
    }

    /// True when no control is set (mistral.rs may then choose the tokens itself).
    pub fn is_none(&self) -> bool {
        *self == Controls::default()
    }

    /// True when the controls change the logits (bias or a penalty), not only what is kept.
    pub fn adjusts_logits(&self) -> bool {
        !self.logit_bias.is_empty()
            || self.frequency_penalty != 0.0
            || self.presence_penalty != 0.0
            || self.repetition_penalty != 1.0
    }

    /// Applies the bias and the penalties to `logits`, the scores of the token after
    /// `context` (the prompt's `prompt_len` tokens, then the answer so far). The frequency and
    /// presence penalties count the answer's tokens only (OpenAI's definition, as vLLM), the
    /// repetition penalty the prompt's too (as vLLM and transformers).
    pub fn adjust(&self, logits: &mut [f32], context: &[u32], prompt_len: usize) {
        for &(id, bias) in &self.logit_bias {
            if let Some(logit) = logits.get_mut(id as usize) {
                *logit += bias;
            }
        }
        if self.repetition_penalty != 1.0 {
            let mut seen = vec![false; logits.len()];
            for &id in context {
                if let Some(seen) = seen.get_mut(id as usize) {
                    *seen = true;
                }
            }
            for (logit, _) in logits.iter_mut().zip(&seen).filter(|(_, seen)| **seen) {
                *logit = if *logit > 0.0 {
                    *logit / self.repetition_penalty
                } else {
                    *logit * self.repetition_penalty
                };
            }
        }
        if self.frequency_penalty != 0.0 || self.presence_penalty != 0.0 {
            let mut counts: HashMap<u32, u32> = HashMap::new();
            for &id in context.get(prompt_len..).unwrap_or_default() {
                *counts.entry(id).or_default() += 1;
            }
            for (id, count) in counts {
                if let Some(logit) = logits.get_mut(id as usize) {
                    *logit -= self.frequency_penalty * count as f32 + self.presence_penalty;
                }
            }
        }
    }
}

/// `logit_bias` as (token id, bias) pairs ordered by id.
fn check_bias(
    biases: &std::collections::BTreeMap<String, f64>,
    vocab: usize,
) -> Result<Vec<(u32, f32)>, InvalidField> {
    if biases.len() > MAX_LOGIT_BIAS {
        return Err(InvalidField::new(
            "logit_bias",
            format!(
                "{} entries; at most {MAX_LOGIT_BIAS} are accepted",
                biases.len()
            ),
        ));
    }
    let mut pairs = Vec::with_capacity(biases.len());
    for (key, &bias) in biases {
        let id: u32 = key.parse().map_err(|_| {
            InvalidField::new(
                "logit_bias",
                format!("key {key:?} is not a token id (a decimal integer as a string)"),
            )
        })?;
        if id as usize >= vocab {
            return Err(InvalidField::new(
                "logit_bias",
                format!("token id {id} is outside the model's vocabulary of {vocab}"),
            ));
        }
        if !(-100.0..=100.0).contains(&bias) {
            return Err(InvalidField::new(
                "logit_bias",
                format!("the bias of token {id} must be from -100 to 100, got {bias}"),
            ));
        }
        pairs.push((id, bias as f32));
    }
    pairs.sort_by_key(|&(id, _)| id);
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn checked(requested: SamplingControls) -> Result<Controls, InvalidField> {
        Controls::check(&requested, 10)
    }

    #[test]
    fn no_control_is_none() {
        let none = checked(SamplingControls::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(none.is_none() && !none.adjusts_logits());
        let off = checked(SamplingControls {
            top_k: Some(-1),
            min_p: Some(0.0),
            repetition_penalty: Some(1.0),
            presence_penalty: Some(0.0),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(off.is_none(), "the neutral values are off: {off:?}");
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let bias = |key: &str, value: f64| SamplingControls {
            logit_bias: Some(BTreeMap::from([(key.to_string(), value)])),
            ..Default::default()
        };
        let cases = [
            (
                SamplingControls {
                    frequency_penalty: Some(2.5),
                    ..Default::default()
                },
                "frequency_penalty",
            ),
            (
                SamplingControls {
                    presence_penalty: Some(-3.0),
                    ..Default::default()
                },
                "presence_penalty",
            ),
            (
                SamplingControls {
                    repetition_penalty: Some(0.0),
                    ..Default::default()
                },
                "repetition_penalty",
            ),
            (
                SamplingControls {
                    top_k: Some(-2),
                    ..Default::default()
                },
                "top_k",
            ),
            (
                SamplingControls {
                    min_p: Some(1.5),
                    ..Default::default()
                },
                "min_p",
            ),
            (bias("seven", 1.0), "logit_bias"),
            (bias("-1", 1.0), "logit_bias"),
            (bias("10", 1.0), "logit_bias"),
            (bias("3", 100.5), "logit_bias"),
        ];
        for (requested, field) in cases {
            let error = checked(requested.clone()).expect_err(field);
            assert_eq!(error.field, field, "{requested:?}: {error}");
        }
        let many = SamplingControls {
            logit_bias: Some((0..=MAX_LOGIT_BIAS).map(|i| (i.to_string(), 1.0)).collect()),
            ..Default::default()
        };
        assert_eq!(
            Controls::check(&many, 1000)
                .expect_err("too many entries")
                .field,
            "logit_bias"
        );
        assert!(checked(bias("9", -100.0)).is_ok());
    }

    #[test]
    fn adjustments_follow_the_definitions() {
        let controls = Controls {
            logit_bias: vec![(0, 5.0)],
            frequency_penalty: 0.5,
            presence_penalty: 0.25,
            repetition_penalty: 2.0,
            ..Default::default()
        };
        // Prompt [1, 2]; answer so far [2, 3, 3].
        let context = [1, 2, 2, 3, 3];
        let mut logits = [1.0f32, 4.0, -1.0, 2.0, 3.0];
        controls.adjust(&mut logits, &context, 2);
        assert_eq!(logits[0], 6.0, "biased, never seen");
        assert_eq!(logits[1], 2.0, "in the prompt: repetition penalty only");
        assert_eq!(
            logits[2],
            -2.0 - 0.5 - 0.25,
            "negative: multiplied, then once"
        );
        assert_eq!(logits[3], 1.0 - 1.0 - 0.25, "twice in the answer");
        assert_eq!(logits[4], 3.0, "never seen");
    }

    #[test]
    fn out_of_vocabulary_context_tokens_are_skipped() {
        let controls = Controls {
            logit_bias: vec![(7, 1.0)],
            repetition_penalty: 1.5,
            frequency_penalty: 1.0,
            ..Default::default()
        };
        let mut logits = [1.0f32, 1.0];
        controls.adjust(&mut logits, &[9, 1, 9], 2);
        assert_eq!(logits, [1.0, 1.0 / 1.5]);
    }
}
