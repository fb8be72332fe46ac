//! A training file read and tokenized for one base model: every bad record is an error naming
//! `file:line`.

use std::path::Path;

use checkpoint::{ChatTemplate, Tokenizer};

use super::data::{data_error, read_dpo, read_sft};
use super::options::{Objective, TrainOptions};
use super::tokenize::{DpoLimits, Encoder, Pair, Sequence};
use crate::error::Result;

/// The tokenized examples of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Examples {
    /// SFT sequences.
    Sft(Vec<Sequence>),
    /// DPO pairs.
    Dpo(Vec<Pair>),
}

/// Counts worth reporting about the tokenized data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DataSummary {
    /// Examples (SFT sequences or DPO pairs).
    pub examples: usize,
    /// Tokens over all examples (DPO: prompt once, both completions).
    pub tokens: usize,
    /// Longest sequence (DPO: prompt + the longer completion), tokens.
    pub longest: usize,
    /// DPO prompts cut to `max_prompt_length`.
    pub prompts_cut: usize,
    /// DPO completions cut to fit `max_length`.
    pub completions_cut: usize,
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Examples::Sft(s) => s.len(),
            Examples::Dpo(p) => p.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts for the log.
    pub fn summary(&self) -> DataSummary {
        let mut summary = DataSummary {
            examples: self.len(),
            ..DataSummary::default()
        };
        match self {
            Examples::Sft(sequences) => {
                for s in sequences {
                    summary.tokens += s.ids.len();
                    summary.longest = summary.longest.max(s.ids.len());
                }
            }
            Examples::Dpo(pairs) => {
                for p in pairs {
                    summary.tokens += p.prompt.len() + p.chosen.len() + p.rejected.len();
                    summary.longest = summary
                        .longest
                        .max(p.prompt.len() + p.chosen.len().max(p.rejected.len()));
                    summary.prompts_cut += usize::from(p.prompt_cut > 0);
                    summary.completions_cut += usize::from(p.completion_cut > 0);
                }
            }
        }
        summary
    }
}

/// Reads and tokenizes `options.data` with the tokenizer and chat template of `options.base`;
/// `eos` is appended to plain-text completions. No sequence may exceed `context` tokens (the
/// model's context length) nor `options.max_length`.
pub fn load_examples(
    options: &TrainOptions,
    tokenizer: &Tokenizer,
    template: Option<&ChatTemplate>,
    eos: Option<u32>,
    context: usize,
) -> Result<Examples> {
    let path: &Path = &options.data;
    let encoder = Encoder {
        tokenizer,
        template,
        eos,
    };
    match options.objective {
        Objective::Sft => read_sft(path)?
            .iter()
            .map(|r| {
                let sequence = encoder
                    .sft(&r.record, options.max_length)
                    .map_err(|m| data_error(path, r.line, m))?;
                if sequence.ids.len() > context {
                    return Err(data_error(
                        path,
                        r.line,
                        format!(
                            "{} tokens, over the model's context of {context} tokens",
                            sequence.ids.len()
                        ),
                    ));
                }
                Ok(sequence)
            })
            .collect::<Result<Vec<_>>>()
            .map(Examples::Sft),
        Objective::Dpo {
            max_prompt_length, ..
        } => {
            if options.max_length > context {
                return Err(crate::error::Error::InvalidInput(format!(
                    "--max-length {} exceeds the model's context of {context} tokens",
                    options.max_length
                )));
            }
            let limits = DpoLimits {
                max_length: options.max_length,
                max_prompt_length,
            };
            read_dpo(path)?
                .iter()
                .map(|r| {
                    encoder
                        .dpo(&r.record, limits)
                        .map_err(|m| data_error(path, r.line, m))
                })
                .collect::<Result<Vec<_>>>()
                .map(Examples::Dpo)
        }
    }
}
