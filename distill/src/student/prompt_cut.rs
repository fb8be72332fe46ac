//! Which tokens a DPO prompt over `max_prompt_length` loses: earlier context, never the question.
//!
//! A prompt is cut in this order, and only here:
//! 1. the text of *earlier turns* — the user and assistant turns between the system turn and the
//!    last user turn — oldest first, each from its start;
//! 2. the *context* inside the last user turn: its text between the first paragraph and the last
//!    (paragraphs are separated by a blank line), from the end of that span backwards, so the
//!    text right after the question goes last.
//!
//! Never cut: the system turn (the instruction), the chat template's markers, and the last user
//! turn's first paragraph (the question) and last paragraph (the closing request). A prompt that
//! does not fit once everything cuttable is gone is an error, not a cut question.
//!
//! Why this shape: Debate & Reflect's packed T-DPO prompt (`distill/src/protocols/debate`) is
//! `[system, user]`, the user turn being the task's own prompt (the question, then its format
//! instruction), a paragraph introducing the last round's answers, the numbered answers with
//! their reflections and feedback, and a closing paragraph asking for a new answer. Cutting that
//! turn's start (the rule before this one, TRL's `keep_end` in spirit) cut the question first.
//! Here the last round's answers go, latest first, and the task's instruction paragraph only
//! when no answer is left; the question stays whole. A prompt without context (an R2L or
//! AgentArk record: the task's prompt alone) has nothing cuttable in its user turn, so it either
//! fits or is an error. A plain-string prompt is read as one user turn.

use std::ops::Range;

use chat::{Message, Role};

/// Byte ranges of a rendered prompt whose tokens may be cut, in the order they are cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cuttable {
    /// The text of the earlier turns, oldest first; each loses tokens from its start.
    pub earlier: Vec<Range<usize>>,
    /// The context inside the last user turn; it loses tokens from its end backwards.
    pub context: Option<Range<usize>>,
}

impl Cuttable {
    /// The cuttable parts of `rendered`, the chat template's rendering of `messages`: each
    /// message's text is found in order; one the template does not write verbatim is kept whole.
    pub fn of_conversation(rendered: &str, messages: &[Message]) -> Cuttable {
        let last_user = messages.iter().rposition(|m| m.role == Role::User);
        let mut cuttable = Cuttable::default();
        let mut cursor = 0;
        for (index, message) in messages.iter().enumerate() {
            if message.content.is_empty() {
                continue;
            }
            let Some(found) = rendered[cursor..].find(&message.content) else {
                continue;
            };
            let start = cursor + found;
            cursor = start + message.content.len();
            let is_system = matches!(message.role, Role::System | Role::Developer);
            match last_user {
                Some(last) if index < last && !is_system => cuttable.earlier.push(start..cursor),
                Some(last) if index == last => {
                    cuttable.context = context_span(&message.content, start);
                }
                _ => {}
            }
        }
        cuttable
    }

    /// The cuttable part of a plain-string prompt: its context, as if it were one user turn.
    pub fn of_text(prompt: &str) -> Cuttable {
        Cuttable {
            earlier: Vec::new(),
            context: context_span(prompt, 0),
        }
    }
}

/// The span of `text` (which starts at byte `offset` of the prompt) between its first paragraph
/// and its last, blank-line separators excluded; None with fewer than three paragraphs.
fn context_span(text: &str, offset: usize) -> Option<Range<usize>> {
    const BLANK_LINE: &str = "\n\n";
    let first_paragraph_end = text.find(BLANK_LINE)?;
    let last_paragraph_separator = text.rfind(BLANK_LINE)?;
    let start = first_paragraph_end + BLANK_LINE.len();
    (start < last_paragraph_separator).then(|| offset + start..offset + last_paragraph_separator)
}

/// The indices of the tokens `cuttable` allows to cut, in cutting order. A token is cuttable
/// when its whole byte span lies inside a cuttable range.
fn cut_order(offsets: &[(usize, usize)], cuttable: &Cuttable) -> Vec<usize> {
    let inside = |range: &Range<usize>| {
        let range = range.clone();
        offsets
            .iter()
            .enumerate()
            .filter(move |(_, (start, end))| range.start <= *start && *end <= range.end)
            .map(|(index, _)| index)
    };
    let mut order: Vec<usize> = cuttable.earlier.iter().flat_map(inside).collect();
    if let Some(context) = &cuttable.context {
        order.extend(inside(context).rev());
    }
    order
}

/// `encoded` cut to at most `max` tokens by dropping cuttable tokens in order (see the module
/// documentation); returns the ids and how many were cut. The error says how many tokens could
/// be cut at most.
pub fn cut_prompt(
    encoded: checkpoint::Encoded,
    cuttable: &Cuttable,
    max: usize,
) -> std::result::Result<(Vec<u32>, usize), String> {
    let excess = encoded.ids.len().saturating_sub(max);
    if excess == 0 {
        return Ok((encoded.ids, 0));
    }
    let order = cut_order(&encoded.offsets, cuttable);
    if order.len() < excess {
        return Err(format!(
            "the prompt has {} tokens and only {} of them are earlier turns or context that may be \
             cut (the system turn, the question — the last user turn's first paragraph — and its \
             closing paragraph are never cut): it cannot fit --max-prompt-length {max}; raise it \
             or shorten the record",
            encoded.ids.len(),
            order.len()
        ));
    }
    let mut dropped = vec![false; encoded.ids.len()];
    for &index in &order[..excess] {
        dropped[index] = true;
    }
    let ids = encoded
        .ids
        .into_iter()
        .zip(dropped)
        .filter(|(_, dropped)| !dropped)
        .map(|(id, _)| id)
        .collect();
    Ok((ids, excess))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ChatML rendering, as SmolLM2's and Qwen's templates write it.
    fn chatml(messages: &[Message]) -> String {
        let mut text = String::new();
        for message in messages {
            let role = match message.role {
                Role::System | Role::Developer => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            text.push_str(&format!(
                "<|im_start|>{role}\n{}<|im_end|>\n",
                message.content
            ));
        }
        text + "<|im_start|>assistant\n"
    }

    /// One token per whitespace-separated word, the ChatML markers tokens of their own (ids are
    /// token positions), so kept tokens can be read back as text.
    fn words(text: &str) -> (checkpoint::Encoded, Vec<&str>) {
        const SPECIALS: [&str; 2] = ["<|im_start|>", "<|im_end|>"];
        let special_at = |at: usize| SPECIALS.iter().find(|s| text[at..].starts_with(**s));
        let mut offsets = Vec::new();
        let mut at = 0;
        while let Some(character) = text[at..].chars().next() {
            if let Some(special) = special_at(at) {
                offsets.push((at, at + special.len()));
                at += special.len();
            } else if character.is_whitespace() {
                at += character.len_utf8();
            } else {
                let end = text[at..]
                    .char_indices()
                    .find(|(i, c)| c.is_whitespace() || (*i > 0 && special_at(at + i).is_some()))
                    .map_or(text.len(), |(i, _)| at + i);
                offsets.push((at, end));
                at = end;
            }
        }
        let tokens = offsets
            .iter()
            .map(|(start, end)| &text[*start..*end])
            .collect();
        let ids = (0..offsets.len() as u32).collect();
        (checkpoint::Encoded { ids, offsets }, tokens)
    }

    fn kept_text(ids: &[u32], tokens: &[&str]) -> String {
        ids.iter()
            .map(|&id| tokens[id as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn squash(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    const QUESTION: &str = "Zane purchases 2 polo shirts from the 40% off rack at the men's store. The polo shirts are $50 each at the regular price. How much did he pay for the shirts?";
    const FORMAT: &str =
        "Solve the problem step by step. End with a last line of the form: Answer: <number>";
    const CLOSING: &str = "Consider them carefully, then answer the question again in the format asked for above. Do not mention the other agents.";

    /// A packed Debate & Reflect T-DPO prompt as `distill/src/protocols/debate` writes it.
    fn debate_prompt() -> Vec<Message> {
        let answer = |n: usize, text: &str, reflection: &str| {
            format!("Answer {n}:\n{text}\nSelf-reflection: {reflection}\nFeedback:\n1. Check the discount: 40% of $50 is $20.")
        };
        let user = format!(
            "{QUESTION}\n\n{FORMAT}\n\nYou are debating this question with other agents. These are the answers from the last round, each with its author's self-reflection and the feedback it received:\n\n{}\n\n{}\n\n{}\n\n{CLOSING}",
            answer(1, "Each shirt costs 50 - 20 = 30 dollars, so two cost 60.\nAnswer: 60", "None"),
            answer(2, "He pays 40% of 100, which is 40.\nAnswer: 40", "I took the discount as the price paid."),
            answer(3, "Two shirts at $50 are $100; 40% off leaves $60.\nAnswer: 60", "None"),
        );
        vec![
            Message::system("You solve math word problems step by step."),
            Message::user(user),
        ]
    }

    #[test]
    fn a_debate_prompt_loses_its_last_answers_and_keeps_the_question_whole() {
        let prompt = debate_prompt();
        let rendered = chatml(&prompt);
        let cuttable = Cuttable::of_conversation(&rendered, &prompt);
        assert!(cuttable.earlier.is_empty());
        let context = cuttable.context.clone().unwrap_or_default();
        assert!(rendered[context.clone()].starts_with(FORMAT), "{rendered}");
        assert!(rendered[context].ends_with("$20."));
        let (encoded, tokens) = words(&rendered);
        let total = encoded.ids.len();
        let (ids, cut) =
            cut_prompt(encoded, &cuttable, total - 50).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((ids.len(), cut), (total - 50, 50));
        let kept = kept_text(&ids, &tokens);
        for whole in [
            "You solve math word problems step by step.",
            QUESTION,
            FORMAT,
            "Answer 1:",
            CLOSING,
        ] {
            assert!(kept.contains(&squash(whole)), "lost `{whole}` from: {kept}");
        }
        // The latest answers went first: the third and the end of the second are gone.
        assert!(
            !kept.contains("Answer 3:") && !kept.contains("I took the discount"),
            "{kept}"
        );
        assert!(
            kept.starts_with("<|im_start|> system") && kept.ends_with("<|im_start|> assistant")
        );
    }

    #[test]
    fn the_question_is_never_cut_even_when_nothing_else_is_left() {
        let prompt = debate_prompt();
        let rendered = chatml(&prompt);
        let cuttable = Cuttable::of_conversation(&rendered, &prompt);
        let (encoded, tokens) = words(&rendered);
        let cuttable_tokens = cut_order(&encoded.offsets, &cuttable).len();
        let smallest = encoded.ids.len() - cuttable_tokens;
        // At the limit every context token is gone and every protected one stays.
        let (ids, _) =
            cut_prompt(encoded.clone(), &cuttable, smallest).unwrap_or_else(|e| panic!("{e}"));
        let kept = kept_text(&ids, &tokens);
        assert!(
            kept.contains(&squash(QUESTION)) && kept.contains(&squash(CLOSING)),
            "{kept}"
        );
        assert!(
            !kept.contains("Answer 1:") && !kept.contains("Solve the problem"),
            "{kept}"
        );
        // One token fewer is an error that says what is kept.
        let error = cut_prompt(encoded, &cuttable, smallest - 1)
            .err()
            .unwrap_or_default();
        assert!(
            error.contains(&format!("only {cuttable_tokens} of them"))
                && error.contains("the question"),
            "{error}"
        );
    }

    #[test]
    fn a_prompt_without_context_fits_or_is_an_error() {
        // An R2L / AgentArk record: the task's own prompt (question, then format instruction).
        let prompt = vec![
            Message::system("You solve math word problems step by step."),
            Message::user(format!("{QUESTION}\n\n{FORMAT}")),
        ];
        let rendered = chatml(&prompt);
        let cuttable = Cuttable::of_conversation(&rendered, &prompt);
        assert_eq!(cuttable, Cuttable::default());
        let (encoded, _) = words(&rendered);
        let total = encoded.ids.len();
        assert_eq!(
            cut_prompt(encoded.clone(), &cuttable, total).ok(),
            Some(((0..total as u32).collect(), 0))
        );
        let error = cut_prompt(encoded, &cuttable, total - 1)
            .err()
            .unwrap_or_default();
        assert!(error.contains("only 0 of them"), "{error}");
    }

    #[test]
    fn earlier_turns_go_before_the_context_oldest_first() {
        let prompt = vec![
            Message::system("Answer in one word."),
            Message::user("first question about the hotel"),
            Message::assistant("first reply about the room"),
            Message::user(
                "Is the pool open?\n\nEarlier guests said yes and no.\n\nAnswer yes or no.",
            ),
        ];
        let rendered = chatml(&prompt);
        let cuttable = Cuttable::of_conversation(&rendered, &prompt);
        assert_eq!(cuttable.earlier.len(), 2);
        assert_eq!(
            &rendered[cuttable.earlier[0].clone()],
            "first question about the hotel"
        );
        let context = cuttable.context.clone().unwrap_or_default();
        assert_eq!(&rendered[context], "Earlier guests said yes and no.");
        let (encoded, tokens) = words(&rendered);
        let total = encoded.ids.len();
        let (ids, _) =
            cut_prompt(encoded.clone(), &cuttable, total - 7).unwrap_or_else(|e| panic!("{e}"));
        let kept = kept_text(&ids, &tokens);
        // The five words of the first question and the first two of the first reply.
        assert!(
            kept.contains("user <|im_end|> <|im_start|> assistant about the room <|im_end|>"),
            "{kept}"
        );
        assert!(kept.contains("Earlier guests said yes and no."), "{kept}");
        let (ids, _) = cut_prompt(encoded, &cuttable, total - 12).unwrap_or_else(|e| panic!("{e}"));
        let kept = kept_text(&ids, &tokens);
        assert!(
            kept.contains("open? Earlier guests said yes Answer yes or no. <|im_end|>"),
            "{kept}"
        );
    }

    #[test]
    fn a_plain_prompt_keeps_its_first_and_last_paragraphs() {
        let prompt = "Question: what is 2 + 3?\n\nA friend said 6.\n\nAnother said 5.\n\nAnswer with a number.";
        let cuttable = Cuttable::of_text(prompt);
        let (encoded, tokens) = words(prompt);
        let (ids, cut) = cut_prompt(encoded, &cuttable, 13).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cut, 4);
        assert_eq!(
            kept_text(&ids, &tokens),
            "Question: what is 2 + 3? A friend said Answer with a number."
        );
        assert_eq!(
            Cuttable::of_text("One paragraph.\n\nTwo."),
            Cuttable::default()
        );
    }
}
