//! A request's sampling fields as the client sent them, and their checks — applied by the one
//! place a [`super::GenerationRequest`] is built from them
//! ([`super::ServedModel::generation_request`]), shared by `/v1/chat/completions`,
//! `/v1/completions`, `/v1/absa` and the in-process client, so every door checks and applies the
//! same fields the same way.

use super::controls::{Controls, InvalidField};
use super::logprobs::MAX_TOP_LOGPROBS;
use crate::error::Error;

/// Most stop sequences per request (OpenAI's limit).
pub const MAX_STOP: usize = 4;

/// Sampling fields common to both completion kinds, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct Sampling<'a> {
    /// `max_tokens`.
    pub max_tokens: Option<u32>,
    /// `temperature`.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `seed`.
    pub seed: Option<u64>,
    /// `n`.
    pub n: Option<u32>,
    /// `stop`.
    pub stop: Option<&'a chat::Stop>,
    /// Alternatives per token when log-probabilities are asked for (None: not asked).
    pub logprobs: Option<usize>,
    /// The penalties, `top_k`, `min_p` and `logit_bias` (checked in
    /// [`super::ServedModel::generation_request`]).
    pub controls: chat::SamplingControls,
}

impl<'a> Sampling<'a> {
    /// Choices asked for (`n`, default 1).
    pub fn choices(&self) -> usize {
        self.n.map_or(1, |n| n as usize)
    }

    /// The sampling of choice `index` of `n`: a seeded request's choice `i` draws with seed
    /// `seed + i`, so the choices differ from each other and each is reproducible (unseeded
    /// sampled choices differ anyway; greedy ones are all the same answer).
    pub fn choice(&self, index: usize) -> Sampling<'a> {
        Sampling {
            seed: self.seed.map(|seed| seed.wrapping_add(index as u64)),
            ..self.clone()
        }
    }

    /// The sampling fields of a chat request (`top_logprobs` checked: 0–20, with `logprobs`).
    pub fn of_chat(request: &'a chat::ChatRequest) -> Result<Sampling<'a>, InvalidField> {
        let top = request.top_logprobs.map_or(0, |k| k as usize);
        if top > MAX_TOP_LOGPROBS {
            return Err(InvalidField::new(
                "top_logprobs",
                format!("top_logprobs must be from 0 to {MAX_TOP_LOGPROBS}, got {top}"),
            ));
        }
        let asked = request.logprobs == Some(true);
        if request.top_logprobs.is_some() && !asked {
            return Err(InvalidField::new(
                "top_logprobs",
                "top_logprobs needs `logprobs: true`",
            ));
        }
        if asked && request.response_format.is_some() {
            return Err(InvalidField::new(
                "logprobs",
                "logprobs cannot be combined with response_format on this server",
            ));
        }
        Ok(Sampling {
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            seed: request.seed,
            n: request.n,
            stop: request.stop.as_ref(),
            logprobs: asked.then_some(top),
            controls: request.controls(),
        })
    }

    /// The sampling fields of a legacy completion (`logprobs` checked: 0–20) with its
    /// `controls` (taken out of the request's other fields).
    pub fn of_completion(
        request: &'a chat::CompletionRequest,
        controls: chat::SamplingControls,
    ) -> Result<Sampling<'a>, InvalidField> {
        if let Some(k) = request.logprobs {
            if k as usize > MAX_TOP_LOGPROBS {
                return Err(InvalidField::new(
                    "logprobs",
                    format!("logprobs must be from 0 to {MAX_TOP_LOGPROBS}, got {k}"),
                ));
            }
        }
        Ok(Sampling {
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            seed: request.seed,
            n: request.n,
            stop: request.stop.as_ref(),
            logprobs: request.logprobs.map(|k| k as usize),
            controls,
        })
    }

    /// The fields checked for a model of `vocab` tokens (the first error found is answered):
    /// `temperature` and `top_p`, the stop sequences, then the controls. Returns the stop
    /// sequences and the controls.
    pub(crate) fn check(&self, vocab: usize) -> Result<(Vec<String>, Controls), InvalidField> {
        self.check_ranges()?;
        let stop = self.stop_sequences()?;
        let controls = Controls::check(&self.controls, vocab)?;
        Ok((stop, controls))
    }

    /// The stop sequences, checked: at most [`MAX_STOP`], none empty.
    fn stop_sequences(&self) -> Result<Vec<String>, InvalidField> {
        let stop = self.stop.map(|s| s.to_vec()).unwrap_or_default();
        if stop.len() > MAX_STOP || stop.iter().any(|s| s.is_empty()) {
            return Err(InvalidField::new(
                "stop",
                format!("at most {MAX_STOP} non-empty stop sequences"),
            ));
        }
        Ok(stop)
    }

    /// Checks `temperature` (0–2) and `top_p` (in (0, 1]).
    fn check_ranges(&self) -> Result<(), InvalidField> {
        if let Some(temperature) = self.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return Err(InvalidField::new(
                    "temperature",
                    format!("temperature must be from 0 to 2, got {temperature}"),
                ));
            }
        }
        if let Some(top_p) = self.top_p {
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(InvalidField::new(
                    "top_p",
                    format!("top_p must be in (0, 1], got {top_p}"),
                ));
            }
        }
        Ok(())
    }
}

impl From<InvalidField> for Error {
    fn from(invalid: InvalidField) -> Error {
        Error::InvalidField {
            field: invalid.field,
            message: invalid.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_draw_with_consecutive_seeds() {
        let sampling = Sampling {
            seed: Some(7),
            n: Some(3),
            ..Default::default()
        };
        assert_eq!(sampling.choices(), 3);
        assert_eq!(sampling.choice(2).seed, Some(9));
        assert_eq!(
            Sampling::default().choice(1).seed,
            None,
            "unseeded stays so"
        );
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let hot = Sampling {
            temperature: Some(2.5),
            ..Default::default()
        };
        assert_eq!(
            hot.check_ranges().map_err(|e| e.field),
            Err("temperature".into())
        );
        let nucleus = Sampling {
            top_p: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            nucleus.check_ranges().map_err(|e| e.field),
            Err("top_p".into())
        );
        let empty = chat::Stop::Many(vec![String::new()]);
        let stop = Sampling {
            stop: Some(&empty),
            ..Default::default()
        };
        assert_eq!(
            stop.stop_sequences().map_err(|e| e.field),
            Err("stop".into())
        );
        let request = chat::ChatRequest {
            top_logprobs: Some(3),
            ..Default::default()
        };
        assert_eq!(
            Sampling::of_chat(&request).map(|_| ()).map_err(|e| e.field),
            Err("top_logprobs".into()),
            "top_logprobs without logprobs"
        );
    }
}
