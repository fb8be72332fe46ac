//! Turning the tokens a generation chose into OpenAI's `logprobs` shapes: each token placed in
//! the answer's text by decoding the ids before it, so a stop string or the end-of-sequence
//! token (which the answer leaves out) is left out of the log-probabilities too.

use std::collections::BTreeMap;

use chat::{ChatLogprobs, CompletionLogprobs, TokenLogprob, TopLogprob};

use super::error::ApiError;
use crate::engine::{Chosen, TokenText};

/// A chosen token with its text and where that text starts in the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPiece {
    /// The token's own text.
    pub text: String,
    /// Byte offset of the token in the answer (or echoed prompt + answer).
    pub offset: usize,
    /// The token, its log-probability (None for a prompt's first token) and alternatives.
    pub logprob: Option<f32>,
    /// The likeliest alternatives at its position.
    pub top: Vec<(u32, f32)>,
}

/// Hands out chosen tokens in order as the answer's text grows.
#[derive(Debug, Default)]
pub struct Aligner {
    handed: usize,
    /// A chat answer is delivered without its leading whitespace (the first token's).
    trims_leading_space: bool,
    /// Bytes of whitespace the first token's text starts with, once known.
    lead: usize,
}

impl Aligner {
    /// An aligner for a chat answer (delivered without its leading whitespace) or a text
    /// completion (delivered whole).
    pub fn new(chat: bool) -> Aligner {
        Aligner {
            trims_leading_space: chat,
            ..Aligner::default()
        }
    }

    /// The tokens of `chosen` not yet handed out whose text starts before byte `end` of the
    /// answer.
    pub fn take(
        &mut self,
        tokens: &TokenText,
        chosen: &[Chosen],
        end: usize,
    ) -> Result<Vec<TokenPiece>, ApiError> {
        let ids: Vec<u32> = chosen.iter().map(|c| c.id).collect();
        let mut out = Vec::new();
        while self.handed < chosen.len() {
            let i = self.handed;
            let text = tokens.decode(&ids[i..=i]).map_err(ApiError::internal)?;
            if i == 0 && self.trims_leading_space {
                self.lead = text.len() - text.trim_start().len();
            }
            let before = tokens
                .decode_skipping_special(&ids[..i])
                .map_err(ApiError::internal)?;
            let offset = before.len().saturating_sub(self.lead);
            // A text completion lists a special token at the end (the end-of-sequence token, no
            // text) as OpenAI's API does: a client asking for one token with `echo` (lm-eval)
            // drops the last entry as the generated one.
            let special_at_end = !self.trims_leading_space
                && offset == end
                && tokens
                    .decode_skipping_special(&ids[i..=i])
                    .map_err(ApiError::internal)?
                    .is_empty();
            if offset >= end && !special_at_end {
                break;
            }
            out.push(TokenPiece {
                text,
                offset,
                logprob: Some(chosen[i].logprob),
                top: chosen[i].top.clone(),
            });
            self.handed += 1;
        }
        Ok(out)
    }
}

fn token_text(tokens: &TokenText, id: u32) -> Result<String, ApiError> {
    tokens.decode(&[id]).map_err(ApiError::internal)
}

/// Chat's `logprobs.content`.
pub fn chat_logprobs(tokens: &TokenText, pieces: &[TokenPiece]) -> Result<ChatLogprobs, ApiError> {
    let mut content = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let mut top_logprobs = Vec::with_capacity(piece.top.len());
        for &(id, logprob) in &piece.top {
            let token = token_text(tokens, id)?;
            top_logprobs.push(TopLogprob {
                bytes: Some(token.as_bytes().to_vec()),
                token,
                logprob: f64::from(logprob),
            });
        }
        content.push(TokenLogprob {
            token: piece.text.clone(),
            logprob: f64::from(piece.logprob.unwrap_or(0.0)),
            bytes: Some(piece.text.as_bytes().to_vec()),
            top_logprobs,
        });
    }
    Ok(ChatLogprobs { content })
}

/// A legacy completion's `logprobs`; `shift` is added to every offset (the echoed prompt's
/// length before an answer's tokens).
pub fn completion_logprobs(
    tokens: &TokenText,
    pieces: &[TokenPiece],
    shift: usize,
    into: &mut CompletionLogprobs,
) -> Result<(), ApiError> {
    for piece in pieces {
        into.tokens.push(piece.text.clone());
        into.token_logprobs.push(piece.logprob.map(f64::from));
        into.text_offset.push(piece.offset + shift);
        let top = match piece.logprob {
            None => None,
            Some(_) => {
                let mut top = BTreeMap::new();
                for &(id, logprob) in &piece.top {
                    top.insert(token_text(tokens, id)?, f64::from(logprob));
                }
                Some(top)
            }
        };
        into.top_logprobs.push(top);
    }
    Ok(())
}
