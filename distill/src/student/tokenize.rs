//! Records → token ids with the base model's own chat template and tokenizer.
//!
//! SFT: the conversation is rendered once and tokenized once; a token is learnt when it starts
//! inside an assistant turn being learnt (the turn's text as the template writes it, from the
//! end of the generation prompt through the end-of-turn marker), found by rendering the
//! conversation turn by turn. DPO: as TRL does, the prompt (with the generation prompt) and each
//! completion (the rest of the rendered conversation) are tokenized separately.
//!
//! Length rules. SFT: a sequence over `max_length` tokens is an error. DPO: a prompt over
//! `max_prompt_length` loses earlier context — earlier turns, then the context inside the last
//! user turn between its first paragraph (the question) and its last — and never the system
//! turn, the template's markers or the question; a prompt that cannot fit that way is an error
//! (see [`super::prompt_cut`]). (TRL's `keep_end`, which D&R used, cuts from the very start of
//! the prompt, so the instruction goes first.) Then a completion longer than `max_length` minus
//! the prompt keeps its start (as TRL), counted in the data summary's `completions_cut`.

use chat::{Message, Role};
use checkpoint::{ChatTemplate, Tokenizer, Turn};

use super::data::{DpoRecord, SftRecord};
use super::prompt_cut::{cut_prompt, Cuttable};

/// A tokenized sequence: `learn[i]` says whether token `i` is a training target (predicted
/// from the tokens before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Which tokens are learnt.
    pub learn: Vec<bool>,
}

impl Sequence {
    /// Number of learnt tokens (the first token cannot be one: nothing predicts it).
    pub fn learnt(&self) -> usize {
        self.learn.iter().skip(1).filter(|&&l| l).count()
    }
}

/// A tokenized preference pair sharing one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The prompt tokens.
    pub prompt: Vec<u32>,
    /// The preferred completion's tokens.
    pub chosen: Vec<u32>,
    /// The dispreferred completion's tokens.
    pub rejected: Vec<u32>,
    /// Prompt tokens cut by `max_prompt_length`.
    pub prompt_cut: usize,
    /// Completion tokens cut by `max_length` (chosen + rejected).
    pub completion_cut: usize,
}

impl Pair {
    /// `prompt + completion` with the completion learnt.
    pub fn sequence(&self, chosen: bool) -> Sequence {
        let completion = if chosen { &self.chosen } else { &self.rejected };
        let mut ids = self.prompt.clone();
        ids.extend_from_slice(completion);
        let mut learn = vec![false; self.prompt.len()];
        learn.resize(ids.len(), true);
        Sequence { ids, learn }
    }
}

/// DPO length limits (tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpoLimits {
    /// Most tokens of prompt plus completion.
    pub max_length: usize,
    /// Most prompt tokens.
    pub max_prompt_length: usize,
}

/// Tokenizes records for one base model.
#[derive(Debug, Clone, Copy)]
pub struct Encoder<'a> {
    /// The base model's tokenizer.
    pub tokenizer: &'a Tokenizer,
    /// Its chat template (conversational records need one).
    pub template: Option<&'a ChatTemplate>,
    /// The end-of-sequence token appended to plain-text completions.
    pub eos: Option<u32>,
}

type Msg<T> = std::result::Result<T, String>;

fn role(message: &Message) -> &'static str {
    match message.role {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

pub(crate) fn turns(messages: &[Message]) -> Vec<Turn<'_>> {
    messages
        .iter()
        .map(|m| Turn {
            role: role(m),
            content: &m.content,
        })
        .collect()
}

impl Encoder<'_> {
    fn template(&self) -> Msg<&ChatTemplate> {
        self.template.ok_or_else(|| {
            "conversational records need a chat template, and the base model has none".to_string()
        })
    }

    fn render(&self, turns: &[Turn<'_>], generation_prompt: bool) -> Msg<String> {
        self.template()?
            .render(turns, generation_prompt)
            .map_err(|e| e.to_string())
    }

    fn encode(&self, text: &str) -> Msg<checkpoint::Encoded> {
        self.tokenizer.encode(text).map_err(|e| e.to_string())
    }

    fn eos(&self) -> Msg<u32> {
        self.eos.ok_or_else(|| {
            "plain-text records need an end-of-sequence token, and the base model names none"
                .to_string()
        })
    }

    /// An SFT record as a sequence of at most `max_length` tokens.
    pub fn sft(&self, record: &SftRecord, max_length: usize) -> Msg<Sequence> {
        let sequence = match record {
            SftRecord::Conversation {
                messages,
                learn_from,
            } => self.conversation(messages, *learn_from)?,
            SftRecord::Text { prompt, completion } => {
                let prompt = self.encode(prompt)?.ids;
                let mut completion = self.encode(completion)?.ids;
                completion.push(self.eos()?);
                let mut learn = vec![false; prompt.len()];
                learn.resize(prompt.len() + completion.len(), true);
                let mut ids = prompt;
                ids.extend(completion);
                Sequence { ids, learn }
            }
        };
        if sequence.ids.len() > max_length {
            return Err(format!(
                "{} tokens, over --max-length {max_length}: shorten the record or raise --max-length",
                sequence.ids.len()
            ));
        }
        if sequence.learnt() == 0 {
            return Err("no token to learn".to_string());
        }
        Ok(sequence)
    }

    fn conversation(&self, messages: &[Message], learn_from: usize) -> Msg<Sequence> {
        let all = turns(messages);
        let full = self.render(&all, false)?;
        let mut spans = Vec::new();
        for (i, message) in messages.iter().enumerate().skip(learn_from) {
            if message.role != Role::Assistant {
                continue;
            }
            let before = self.render(&all[..i], true)?;
            let through = self.render(&all[..=i], false)?;
            if !through.starts_with(&before) || !full.starts_with(&through) {
                return Err(format!(
                    "the chat template does not render this conversation turn by turn \
                     (message {i}): cannot tell which tokens are the assistant's"
                ));
            }
            spans.push(before.len()..through.len());
        }
        let encoded = self.encode(&full)?;
        let learn = encoded
            .offsets
            .iter()
            .map(|(start, _)| spans.iter().any(|s| s.contains(start)))
            .collect();
        Ok(Sequence {
            ids: encoded.ids,
            learn,
        })
    }

    /// A DPO record as a prompt and two completions within `limits`.
    pub fn dpo(&self, record: &DpoRecord, limits: DpoLimits) -> Msg<Pair> {
        let (mut prompt, chosen, rejected, prompt_cut) = match record {
            DpoRecord::Conversation {
                prompt,
                chosen,
                rejected,
            } => {
                let prompt_turns = turns(prompt);
                let prompt_text = self.render(&prompt_turns, true)?;
                let completion = |answer: &[Message], name: &str| -> Msg<Vec<u32>> {
                    let mut all = prompt_turns.clone();
                    all.extend(turns(answer));
                    let full = self.render(&all, false)?;
                    let rest = full.strip_prefix(&prompt_text).ok_or_else(|| {
                        format!("the chat template renders the prompt differently once `{name}` follows it")
                    })?;
                    Ok(self.encode(rest)?.ids)
                };
                let chosen = completion(chosen, "chosen")?;
                let rejected = completion(rejected, "rejected")?;
                let encoded = self.encode(&prompt_text)?;
                let cuttable = Cuttable::of_conversation(&prompt_text, prompt);
                let (ids, cut) = cut_prompt(encoded, &cuttable, limits.max_prompt_length)?;
                (ids, chosen, rejected, cut)
            }
            DpoRecord::Text {
                prompt,
                chosen,
                rejected,
            } => {
                let encoded = self.encode(prompt)?;
                let cuttable = Cuttable::of_text(prompt);
                let (ids, cut) = cut_prompt(encoded, &cuttable, limits.max_prompt_length)?;
                let eos = self.eos()?;
                let mut chosen = self.encode(chosen)?.ids;
                chosen.push(eos);
                let mut rejected = self.encode(rejected)?.ids;
                rejected.push(eos);
                (ids, chosen, rejected, cut)
            }
        };
        if prompt.is_empty() {
            // Something must predict the first completion token.
            prompt = vec![self.eos()?];
        }
        let room = limits.max_length.saturating_sub(prompt.len());
        if room == 0 {
            return Err(format!(
                "the prompt takes {} tokens, leaving no room under --max-length {}",
                prompt.len(),
                limits.max_length
            ));
        }
        let keep = |mut ids: Vec<u32>| {
            let cut = ids.len().saturating_sub(room);
            ids.truncate(room);
            (ids, cut)
        };
        let (chosen, chosen_cut) = keep(chosen);
        let (rejected, rejected_cut) = keep(rejected);
        if chosen.is_empty() || rejected.is_empty() {
            return Err("an empty completion: nothing to prefer".to_string());
        }
        Ok(Pair {
            prompt,
            chosen,
            rejected,
            prompt_cut,
            completion_cut: chosen_cut + rejected_cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_learn_only_the_completion() {
        let pair = Pair {
            prompt: vec![1, 2],
            chosen: vec![3],
            rejected: vec![4, 5],
            prompt_cut: 0,
            completion_cut: 0,
        };
        let rejected = pair.sequence(false);
        assert_eq!(rejected.ids, vec![1, 2, 4, 5]);
        assert_eq!(rejected.learn, vec![false, false, true, true]);
        assert_eq!(rejected.learnt(), 2);
    }
}
