//! A training file read and tokenized for one base model: every bad record is an error naming
//! `file:line`; and the counts of the tokenized data that `training.json` keeps.

use std::path::Path;

use super::data::{data_error, read_dpo, read_sft};
use super::export::Base;
use super::options::TrainOptions;
use super::tokenize::{DpoLimits, Encoder, Pair, Sequence};
use crate::error::Result;

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

impl DataSummary {
    /// The counts of SFT sequences.
    pub fn of_sequences(sequences: &[Sequence]) -> DataSummary {
        let mut summary = DataSummary {
            examples: sequences.len(),
            ..DataSummary::default()
        };
        for s in sequences {
            summary.tokens += s.ids.len();
            summary.longest = summary.longest.max(s.ids.len());
        }
        summary
    }

    /// The counts of DPO pairs.
    pub fn of_pairs(pairs: &[Pair]) -> DataSummary {
        let mut summary = DataSummary {
            examples: pairs.len(),
            ..DataSummary::default()
        };
        for p in pairs {
            summary.tokens += p.prompt.len() + p.chosen.len() + p.rejected.len();
            summary.longest = summary
                .longest
                .max(p.prompt.len() + p.chosen.len().max(p.rejected.len()));
            summary.prompts_cut += usize::from(p.prompt_cut > 0);
            summary.completions_cut += usize::from(p.completion_cut > 0);
        }
        summary
    }
}

fn encoder(base: &Base) -> Encoder<'_> {
    Encoder {
        tokenizer: &base.tokenizer,
        template: base.template.as_ref(),
        eos: base.eos(),
    }
}

/// Reads `options.data` as SFT records and tokenizes them with `base`'s tokenizer and chat
/// template (`eos` appended to plain-text completions). No sequence may exceed the model's
/// context nor `options.max_length`.
pub fn load_sft(options: &TrainOptions, base: &Base) -> Result<Vec<Sequence>> {
    let path: &Path = &options.data;
    let encoder = encoder(base);
    let context = base.config.max_position_embeddings;
    read_sft(path)?
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
        .collect()
}

/// Reads `options.data` as DPO records and tokenizes them with `base`'s tokenizer and chat
/// template, cutting as [`DpoLimits`] say.
pub fn load_dpo(
    options: &TrainOptions,
    base: &Base,
    max_prompt_length: usize,
) -> Result<Vec<Pair>> {
    let path: &Path = &options.data;
    let context = base.config.max_position_embeddings;
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
    let encoder = encoder(base);
    read_dpo(path)?
        .iter()
        .map(|r| {
            encoder
                .dpo(&r.record, limits)
                .map_err(|m| data_error(path, r.line, m))
        })
        .collect()
}
