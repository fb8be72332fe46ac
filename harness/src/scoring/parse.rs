//! Parsers for raw model output. Small models wrap answers in `<think>` blocks, code fences and
//! prose, write trailing commas and vary label case and spacing; each parser tolerates that and,
//! when it gives up, says why.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::accuracy::normalize_answer;
use super::answer::{choice_letter, gsm8k_number, last_boxed, normalize_math, yes_no};
use crate::data::{AnswerKind, AspectPair};

/// The result of reading a model's text: the value, or why there is none.
pub type Parsed<T> = std::result::Result<T, String>;

static THINK_BLOCK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<think>.*?</think>").unwrap_or_else(|_| unreachable!("valid regex literal"))
});
static TRAILING_COMMA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r",\s*([\]}])").unwrap_or_else(|_| unreachable!("valid regex literal"))
});
static BRACED_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\{\s*([A-Z_&]+(?:\s*#\s*[A-Z_&]+)?)\s*[#,]\s*(positive|negative|neutral)\s*\}")
        .unwrap_or_else(|_| unreachable!("valid regex literal"))
});
static RATING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d.])([1-5](?:\.\d+)?)(?:[^\d.]|$)")
        .unwrap_or_else(|_| unreachable!("valid regex literal"))
});
static ANSWER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^[\s*#>_-]*(?:final\s+answer|answer|svar|đáp\s+án)\s*(?:is)?\s*[:：]?\s*(.+)$",
    )
    .unwrap_or_else(|_| unreachable!("valid regex literal"))
});
static LETTER_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:answer\s+is|correct\s+(?:answer|option)\s+is)\s*:?\s*\(?([A-J])\b|\(([A-J])\)",
    )
    .unwrap_or_else(|_| unreachable!("valid regex literal"))
});

/// Removes `<think>...</think>` blocks; an unclosed `<think>` hides everything after it.
pub fn strip_thinking(text: &str) -> Parsed<String> {
    let without = THINK_BLOCK.replace_all(text, "");
    match without.find("<think>") {
        Some(0) => Err("the output is an unterminated <think> block".to_string()),
        Some(at) => Ok(without[..at].to_string()),
        None => Ok(without.into_owned()),
    }
}

/// The first JSON value (array or object) in `text`, with code fences, prose and trailing
/// commas tolerated.
pub fn first_json(text: &str) -> Option<Value> {
    let unfenced = text.replace("```json", "```").replace("```JSON", "```");
    let candidates = unfenced
        .split("```")
        .chain(std::iter::once(unfenced.as_str()));
    for candidate in candidates {
        for (start, _) in candidate.match_indices(['[', '{']) {
            if let Some(value) = balanced_json(&candidate[start..]) {
                return Some(value);
            }
        }
    }
    None
}

/// Parses the balanced bracket expression at the start of `text` (strings respected).
fn balanced_json(text: &str) -> Option<Value> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (index, character) in text.char_indices() {
        if in_string {
            match (escaped, character) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match character {
            '"' => in_string = true,
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let slice = &text[..=index];
                    return serde_json::from_str(slice).ok().or_else(|| {
                        serde_json::from_str(&TRAILING_COMMA.replace_all(slice, "$1")).ok()
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// Maps a model's aspect spelling onto the label set (`battery` → `BATTERY`,
/// `rooms # cleanliness` → `ROOMS#CLEANLINESS`, `room amenities#quality` → `ROOM_AMENITIES#QUALITY`);
/// unknown aspects are returned upper-cased so that the metric counts them as invalid.
pub fn canonical_aspect(aspect: &str, label_set: &[&str]) -> String {
    let squeezed: String = aspect
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let squeezed = squeezed
        .replace(" # ", "#")
        .replace("# ", "#")
        .replace(" #", "#");
    let squeezed = squeezed.replace(" & ", "&");
    let key = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .collect()
    };
    let wanted = key(&squeezed);
    label_set
        .iter()
        .find(|label| key(label) == wanted)
        .map_or(squeezed.replace(' ', "_"), |label| label.to_string())
}

/// Maps a polarity spelling onto `positive` / `negative` / `neutral` (English abbreviations,
/// Vietnamese and Swedish words included); anything else is returned lower-cased.
pub fn canonical_polarity(polarity: &str) -> String {
    let lower = polarity.trim().to_lowercase();
    match lower.as_str() {
        "pos" | "+" | "tích cực" | "tich cuc" | "positiv" => "positive".to_string(),
        "neg" | "-" | "tiêu cực" | "tieu cuc" | "negativ" => "negative".to_string(),
        "neu" | "0" | "trung tính" | "trung tinh" | "neutral" | "neutralt" => {
            "neutral".to_string()
        }
        _ => lower,
    }
}

/// Reads ABSA output: a JSON list of `{aspect, polarity}` (or `{"aspects": [...]}`,
/// `[["ASPECT", "polarity"]]`, `["ASPECT#polarity"]`, `{"ASPECT": "polarity"}`), else
/// `{ASPECT#Polarity}` / `{ENTITY#ATTRIBUTE, polarity}` items in the text.
pub fn parse_absa(output: &str, label_set: &[&str]) -> Parsed<Vec<AspectPair>> {
    let text = strip_thinking(output)?;
    if let Some(value) = first_json(&text) {
        if let Some(pairs) = pairs_from_json(&value) {
            return Ok(pairs
                .into_iter()
                .map(|pair| {
                    AspectPair::new(
                        canonical_aspect(&pair.aspect, label_set),
                        canonical_polarity(&pair.polarity),
                    )
                })
                .collect());
        }
    }
    let braced: Vec<AspectPair> = BRACED_LABEL
        .captures_iter(&text)
        .map(|item| {
            AspectPair::new(
                canonical_aspect(&item[1], label_set),
                canonical_polarity(&item[2]),
            )
        })
        .collect();
    if !braced.is_empty() {
        return Ok(braced);
    }
    if text.trim().is_empty() {
        return Err("empty output".to_string());
    }
    Err("no JSON list of {aspect, polarity} and no {ASPECT#polarity} items found".to_string())
}

fn pairs_from_json(value: &Value) -> Option<Vec<AspectPair>> {
    match value {
        Value::Array(items) => items.iter().map(pair_from_item).collect(),
        Value::Object(object) => {
            if let Some(inner) = ["aspects", "labels", "results", "output"]
                .iter()
                .find_map(|k| object.get(*k))
            {
                return pairs_from_json(inner);
            }
            if let Some(pair) = pair_from_item(value) {
                return Some(vec![pair]);
            }
            object
                .iter()
                .map(|(aspect, polarity)| {
                    polarity
                        .as_str()
                        .map(|p| AspectPair::new(aspect.as_str(), p))
                })
                .collect()
        }
        _ => None,
    }
}

fn pair_from_item(item: &Value) -> Option<AspectPair> {
    match item {
        Value::Object(object) => {
            let get = |keys: &[&str]| {
                keys.iter()
                    .find_map(|k| object.get(*k)?.as_str().map(str::to_string))
            };
            Some(AspectPair::new(
                get(&["aspect", "category", "Aspect"])?,
                get(&["polarity", "sentiment", "Polarity"])?,
            ))
        }
        Value::Array(parts) if parts.len() == 2 => {
            Some(AspectPair::new(parts[0].as_str()?, parts[1].as_str()?))
        }
        Value::String(text) => {
            let (aspect, polarity) = text.rsplit_once(['#', ':', ','])?;
            Some(AspectPair::new(aspect.trim(), polarity.trim()))
        }
        _ => None,
    }
}

/// Reads a 1–5 rating: `{"score": x}` JSON, else the first number from 1 to 5 in the text.
pub fn parse_rating(output: &str) -> Parsed<f64> {
    let text = strip_thinking(output)?;
    if let Some(Value::Object(object)) = first_json(&text) {
        if let Some(score) = ["score", "rating", "label"]
            .iter()
            .find_map(|k| object.get(*k))
        {
            return score
                .as_f64()
                .or_else(|| score.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("`score` is not a number: {score}"));
        }
    }
    let from_line = ANSWER_LINE
        .captures_iter(&text)
        .last()
        .and_then(|line| RATING.captures(&line[1]).map(|c| c[1].to_string()));
    let first = from_line.or_else(|| RATING.captures(&text).map(|c| c[1].to_string()));
    first
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| "no rating from 1 to 5 found".to_string())
}

/// Reads a final answer of `kind`: an `Answer:` / `Final answer:` line, `\boxed{}` or
/// `####` first, then the whole text. A choice letter is not checked against the question's
/// choices here: the scorer counts a letter outside them as an invalid label.
pub fn parse_final_answer(output: &str, kind: AnswerKind) -> Parsed<String> {
    let text = strip_thinking(output)?;
    let answer_line = ANSWER_LINE
        .captures_iter(&text)
        .last()
        .map(|c| c[1].trim().to_string());
    match kind {
        AnswerKind::Integer => answer_line
            .as_deref()
            .and_then(gsm8k_number)
            .or_else(|| gsm8k_number(&text))
            .ok_or_else(|| "no number found".to_string()),
        AnswerKind::Latex => {
            let raw = last_boxed(&text)
                .map(str::to_string)
                .or(answer_line)
                .ok_or_else(|| "no \\boxed{} answer or answer line found".to_string())?;
            let normalized = normalize_math(&raw);
            if normalized.is_empty() {
                Err("the answer is empty".to_string())
            } else {
                Ok(normalized)
            }
        }
        AnswerKind::YesNo => answer_line
            .as_deref()
            .and_then(yes_no)
            .or_else(|| yes_no(&text))
            .or_else(|| {
                let lower = text.to_lowercase();
                let yes = lower.rfind("yes");
                let no = lower.rfind(" no");
                match (yes, no) {
                    (Some(y), Some(n)) => Some(if y > n { "yes" } else { "no" }),
                    (Some(_), None) => Some("yes"),
                    (None, Some(_)) => Some("no"),
                    (None, None) => None,
                }
            })
            .map(str::to_string)
            .ok_or_else(|| "no yes/no answer found".to_string()),
        AnswerKind::ChoiceLetter => {
            let letter = answer_line
                .as_deref()
                .and_then(choice_letter)
                .or_else(|| {
                    LETTER_IN_TEXT.captures_iter(&text).last().and_then(|c| {
                        c.get(1)
                            .or_else(|| c.get(2))
                            .map(|m| m.as_str().to_uppercase())
                    })
                })
                .or_else(|| choice_letter(&text))
                .ok_or_else(|| "no choice letter found".to_string())?;
            Ok(letter)
        }
    }
}

/// The final answer of `kind` in the last `\boxed{…}` of `output` (AgentArk's reading: its
/// content, normalised as a bare answer of `kind`); an output without a `\boxed{}` falls back
/// to [`parse_final_answer`], as AgentArk falls back to the last number.
pub fn parse_boxed_answer(output: &str, kind: AnswerKind) -> Parsed<String> {
    let text = strip_thinking(output)?;
    match last_boxed(&text) {
        Some(boxed) => normalize_answer(boxed, kind)
            .map_err(|reason| format!("the last \\boxed{{}}: {reason}")),
        None => parse_final_answer(&text, kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: &[&str] = &[
        "BATTERY",
        "SER&ACC",
        "ROOM_AMENITIES#QUALITY",
        "ROOMS#CLEANLINESS",
    ];

    #[test]
    fn absa_json_inside_think_fences_and_prose() {
        let output = "<think>hmm</think>Sure! Here it is:\n```json\n[{\"aspect\": \"battery\", \"polarity\": \"Positive\"},\n {\"aspect\": \"SER & ACC\", \"polarity\": \"neg\"},]\n```\nDone.";
        let pairs = parse_absa(output, LABELS);
        assert_eq!(
            pairs,
            Ok(vec![
                AspectPair::new("BATTERY", "positive"),
                AspectPair::new("SER&ACC", "negative")
            ])
        );
    }

    #[test]
    fn absa_alternative_shapes() {
        let expected = Ok(vec![AspectPair::new("ROOMS#CLEANLINESS", "neutral")]);
        assert_eq!(
            parse_absa(
                "{\"aspects\": [[\"rooms # cleanliness\", \"NEUTRAL\"]]}",
                LABELS
            ),
            expected
        );
        assert_eq!(
            parse_absa("[\"ROOMS#CLEANLINESS#neutral\"]", LABELS),
            expected
        );
        assert_eq!(
            parse_absa("{\"rooms#cleanliness\": \"neutral\"}", LABELS),
            expected
        );
        assert_eq!(parse_absa("{ROOMS#CLEANLINESS, neutral}", LABELS), expected);
        assert_eq!(
            parse_absa(
                "[{\"aspect\": \"room amenities#quality\", \"polarity\": \"positive\"}]",
                LABELS
            ),
            Ok(vec![AspectPair::new("ROOM_AMENITIES#QUALITY", "positive")])
        );
        assert_eq!(parse_absa("[]", LABELS), Ok(vec![]));
    }

    #[test]
    fn absa_failures_say_why() {
        assert!(parse_absa("I think the phone is good.", LABELS)
            .unwrap_err()
            .contains("no JSON list"));
        assert!(parse_absa("<think>never ends", LABELS)
            .unwrap_err()
            .contains("unterminated"));
        assert_eq!(parse_absa("", LABELS), Err("empty output".to_string()));
    }

    #[test]
    fn ratings() {
        assert_eq!(parse_rating("{\"score\": 2}"), Ok(2.0));
        assert_eq!(parse_rating("Score: 4\nBecause..."), Ok(4.0));
        assert_eq!(parse_rating("Betyg: 3.5"), Ok(3.5));
        assert!(parse_rating("very negative").is_err());
    }

    #[test]
    fn final_answers() {
        let gsm = parse_final_answer(
            "She makes 9 * 2 = 18.\nFinal answer: $18",
            AnswerKind::Integer,
        );
        assert_eq!(gsm, Ok("18".to_string()));
        let math = parse_final_answer("so \\boxed{\\dfrac{1}{2}}", AnswerKind::Latex);
        assert_eq!(math, Ok("\\frac{1}{2}".to_string()));
        let yes = parse_final_answer("Frost happens in December.\nAnswer: Yes", AnswerKind::YesNo);
        assert_eq!(yes, Ok("yes".to_string()));
        let letter = parse_final_answer("The answer is (c) library.", AnswerKind::ChoiceLetter);
        assert_eq!(letter, Ok("C".to_string()));
        let letter = parse_final_answer("Answer: B", AnswerKind::ChoiceLetter);
        assert_eq!(letter, Ok("B".to_string()));
        assert!(parse_final_answer("I don't know", AnswerKind::Integer).is_err());
    }

    #[test]
    fn boxed_answers_come_from_the_last_box_before_any_later_number() {
        // A Qwen2.5-Math style answer: steps separated by blank lines, then the box; a number
        // after the box does not replace it (the standard reading would take 3).
        let output = "Janet's ducks lay 16 eggs.\n\nShe sells 16 - 3 - 4 = 9 eggs for $2 each: 9 * 2 = 18.\n\nSo she makes \\boxed{\\$18} every day, about 3 weeks' rent.";
        assert_eq!(
            parse_boxed_answer(output, AnswerKind::Integer),
            Ok("18".to_string())
        );
        assert_eq!(
            parse_final_answer(output, AnswerKind::Integer),
            Ok("3".to_string())
        );
        assert_eq!(
            parse_boxed_answer("\\boxed{5} then \\boxed{1,600}", AnswerKind::Integer),
            Ok("1600".to_string())
        );
        // Without a box, AgentArk's fallback: the standard reading (here, the last number).
        assert_eq!(
            parse_boxed_answer("9 * 2 = 18", AnswerKind::Integer),
            Ok("18".to_string())
        );
        let empty = parse_boxed_answer("so \\boxed{n}", AnswerKind::Integer);
        assert!(
            empty.as_ref().is_err_and(|e| e.contains("\\boxed{}")),
            "{empty:?}"
        );
        assert_eq!(
            parse_boxed_answer("<think>\\boxed{1}</think>\\boxed{2}", AnswerKind::Integer),
            Ok("2".to_string())
        );
    }
}
