//! Final-answer normalisation for the reasoning datasets: GSM8K numbers, MATH LaTeX, yes/no
//! and choice letters. Gold and prediction go through the same function before comparison;
//! MATH answers that are plain numbers are then compared by value (`0.5` = `\frac{1}{2}` = `1/2`).

use std::sync::LazyLock;

use regex::Regex;

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
        .unwrap_or_else(|_| unreachable!("valid regex literal"))
});

/// The number a GSM8K answer gives: the text after the last `####` if present, else the last
/// number in the text; thousands commas, `$` and trailing zeros of decimals removed
/// (`"1,600.00"` → `"1600"`). None when the text holds no number.
pub fn gsm8k_number(text: &str) -> Option<String> {
    let tail = text.rsplit_once("####").map_or(text, |(_, after)| after);
    let found = NUMBER.find_iter(tail).last()?.as_str().replace(',', "");
    let value: f64 = found.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Some(format!("{}", value as i64))
    } else {
        Some(format!("{value}"))
    }
}

/// The content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced.
pub fn last_boxed(text: &str) -> Option<&str> {
    let start = ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|marker| text.rfind(marker).map(|at| at + marker.len()))
        .max()?;
    let rest = &text[start..];
    let open = rest.find('{')?;
    if !rest[..open].trim().is_empty() {
        // `\boxed 5`: the argument is the next token.
        return rest.split_whitespace().next();
    }
    let mut depth = 0usize;
    for (index, character) in rest.char_indices().skip_while(|(i, _)| *i < open) {
        match character {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[open + 1..index]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Normalises a MATH answer like the Hendrycks MATH / PRM800K string grader: `\boxed{}` unwrapped,
/// `\left`/`\right`, `\!`, `\,`, spaces, `$`, degrees, `\%` and right-hand `\text{ units}`
/// removed, `tfrac`/`dfrac` → `frac`, `\frac12` → `\frac{1}{2}`, `\sqrt2` → `\sqrt{2}`,
/// `0.5` → `\frac{1}{2}`, `a/b` → `\frac{a}{b}`, and a short `x =` prefix dropped.
pub fn normalize_math(answer: &str) -> String {
    let mut text = last_boxed(answer).unwrap_or(answer).trim().to_string();
    text = text
        .trim_matches('$')
        .trim()
        .trim_end_matches('.')
        .to_string();
    for (from, to) in [
        ("\n", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\\\", "\\"),
        ("tfrac", "frac"),
        ("dfrac", "frac"),
        ("\\left", ""),
        ("\\right", ""),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\$", ""),
    ] {
        text = text.replace(from, to);
    }
    if let Some((value, _units)) = text.split_once("\\text{ ") {
        text = value.to_string();
    }
    text = text.replace("\\%", "").replace('%', "");
    text = text.replace(" .", " 0.").replace("{.", "{0.");
    if text.starts_with('.') {
        text.insert(0, '0');
    }
    if let Some((left, right)) = text.split_once('=') {
        if left.trim().chars().count() <= 2 && !right.contains('=') {
            text = right.to_string();
        }
    }
    text = fix_sqrt(&text);
    text.retain(|c| c != ' ');
    text = fix_fracs(&text);
    if text == "0.5" {
        text = "\\frac{1}{2}".to_string();
    }
    fix_a_slash_b(&text)
}

/// `\sqrt3` → `\sqrt{3}`.
fn fix_sqrt(text: &str) -> String {
    let mut parts = text.split("\\sqrt");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("\\sqrt");
        let mut chars = part.chars();
        match chars.next() {
            Some(first) if first != '{' && first != ' ' => {
                out.push('{');
                out.push(first);
                out.push('}');
                out.push_str(chars.as_str());
            }
            _ => out.push_str(part),
        }
    }
    out
}

/// `\frac12` → `\frac{1}{2}`, `\frac1{b}` → `\frac{1}{b}`.
fn fix_fracs(text: &str) -> String {
    let mut parts = text.split("\\frac");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("\\frac");
        let chars: Vec<char> = part.chars().collect();
        match chars.as_slice() {
            ['{', ..] => out.push_str(part),
            [a, '{', rest @ ..] => {
                out.push_str(&format!("{{{a}}}{{"));
                out.extend(rest);
            }
            [a, b, rest @ ..] => {
                out.push_str(&format!("{{{a}}}{{{b}}}"));
                out.extend(rest);
            }
            _ => return text.to_string(),
        }
    }
    out
}

/// `3/4` (two integers) → `\frac{3}{4}`.
fn fix_a_slash_b(text: &str) -> String {
    match text.split_once('/') {
        Some((a, b))
            if !b.contains('/')
                && a.parse::<i64>().is_ok_and(|n| n.to_string() == a)
                && b.parse::<i64>().is_ok_and(|n| n.to_string() == b) =>
        {
            format!("\\frac{{{a}}}{{{b}}}")
        }
        _ => text.to_string(),
    }
}

/// The value of a normalised MATH answer (see [`normalize_math`]) that is a plain number: an
/// integer or decimal (`-0.75`), or a fraction of two (`\frac{3}{4}`, `-\frac{3}{4}`,
/// `\frac{-3}{4}`, `1.5/2`). None for anything else (expressions, roots, tuples, intervals),
/// and for a zero denominator.
pub fn math_number(normalized: &str) -> Option<f64> {
    let (negative, magnitude) = match normalized.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, normalized),
    };
    let value = match magnitude
        .strip_prefix("\\frac{")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|rest| rest.split_once("}{"))
        .or_else(|| magnitude.split_once('/'))
    {
        Some((numerator, denominator)) => {
            let denominator = plain_number(denominator)?;
            if denominator == 0.0 {
                return None;
            }
            plain_number(numerator)? / denominator
        }
        None => plain_number(magnitude)?,
    };
    Some(if negative { -value } else { value })
}

static PLAIN_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
        .unwrap_or_else(|_| unreachable!("valid regex literal"))
});

/// `12`, `-0.75`, `.5`, `3.` as a number; None for anything else (no exponents, `inf` or `nan`).
fn plain_number(text: &str) -> Option<f64> {
    PLAIN_NUMBER
        .is_match(text)
        .then(|| text.parse().ok())
        .flatten()
}

/// Whether two normalised MATH answers are equal: the same string, or both plain numbers (see
/// [`math_number`]) with the same value up to a relative 1e-9 (the rounding of a decimal
/// string, not an approximation: `0.333` is not `\frac{1}{3}`).
pub fn math_answers_equal(predicted: &str, gold: &str) -> bool {
    if predicted == gold {
        return true;
    }
    match (math_number(predicted), math_number(gold)) {
        (Some(p), Some(g)) => (p - g).abs() <= 1e-9 * p.abs().max(g.abs()),
        _ => false,
    }
}

/// `yes` or `no` from an answer such as `Yes.`, `no`, `True`, `FALSE`; None otherwise.
pub fn yes_no(text: &str) -> Option<&'static str> {
    let word: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect::<String>()
        .to_lowercase();
    match word.as_str() {
        "yes" | "true" => Some("yes"),
        "no" | "false" => Some("no"),
        _ => None,
    }
}

/// The choice letter an answer names (`C`, `(C)`, `C.`, `C) text`, `Answer: C`), upper-cased;
/// None when it names none. The caller checks it against the question's choices.
pub fn choice_letter(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .strip_prefix("Answer:")
        .or_else(|| text.strip_prefix("answer:"))
        .unwrap_or(text)
        .trim();
    let trimmed = text.trim_start_matches(['(', '[', '*']);
    let mut chars = trimmed.chars();
    let first = chars.next()?;
    let next = chars.next();
    let ends_token = next.is_none_or(|c| !c.is_alphanumeric());
    (first.is_ascii_alphabetic() && ends_token).then(|| first.to_ascii_uppercase().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm8k_numbers_follow_the_marker_or_the_last_number() {
        assert_eq!(
            gsm8k_number("so 16-3-4=9 eggs\n#### 1,600").as_deref(),
            Some("1600")
        );
        assert_eq!(
            gsm8k_number("It costs $18.00 in total").as_deref(),
            Some("18")
        );
        assert_eq!(gsm8k_number("-5").as_deref(), Some("-5"));
        assert_eq!(gsm8k_number("0.25 of it").as_deref(), Some("0.25"));
        assert_eq!(gsm8k_number("no idea"), None);
    }

    #[test]
    fn math_answers_normalise_like_the_hendrycks_grader() {
        assert_eq!(
            normalize_math("\\left( 3, \\frac{\\pi}{2} \\right)"),
            "(3,\\frac{\\pi}{2})"
        );
        assert_eq!(normalize_math("\\dfrac12"), "\\frac{1}{2}");
        assert_eq!(normalize_math("0.5"), "\\frac{1}{2}");
        assert_eq!(normalize_math("3/4"), "\\frac{3}{4}");
        assert_eq!(normalize_math("x = 5"), "5");
        assert_eq!(normalize_math("90^\\circ"), "90");
        assert_eq!(normalize_math("10\\%"), "10");
        assert_eq!(normalize_math("\\sqrt2"), "\\sqrt{2}");
        assert_eq!(normalize_math("5 \\text{ cm}"), "5");
        assert_eq!(
            normalize_math("The answer is $\\boxed{\\frac{1}{4}}$."),
            "\\frac{1}{4}"
        );
    }

    fn equal(predicted: &str, gold: &str) -> bool {
        math_answers_equal(&normalize_math(predicted), &normalize_math(gold))
    }

    #[test]
    fn math_answers_are_equal_when_their_numbers_are() {
        for (predicted, gold) in [
            ("0.5", "\\frac{1}{2}"),
            ("1/2", "\\frac{1}{2}"),
            ("\\dfrac12", "0.5"),
            ("0.50", "\\frac12"),
            ("-\\frac{3}{4}", "-0.75"),
            ("\\frac{-3}{4}", "-0.75"),
            ("-3/4", "-\\tfrac{3}{4}"),
            ("\\frac{2}{4}", "\\frac{1}{2}"),
            ("5.0", "5"),
            ("\\boxed{.25}", "\\frac{1}{4}"),
            ("x = 1.5", "\\frac{3}{2}"),
            ("10\\%", "10"),
        ] {
            assert!(equal(predicted, gold), "{predicted} should equal {gold}");
        }
    }

    #[test]
    fn math_answers_differ_when_their_numbers_do_or_they_are_not_numbers() {
        for (predicted, gold) in [
            ("0.333", "\\frac{1}{3}"),
            ("\\frac{1}{2}", "\\frac{1}{3}"),
            ("-0.75", "0.75"),
            ("1.4142135623730951", "\\sqrt{2}"),
            ("\\frac{\\sqrt{2}}{2}", "0.7071067811865476"),
            ("1+x", "x+1"),
            ("(3,4)", "(4,3)"),
            ("\\frac{1}{0}", "\\frac{2}{0}"),
            ("1e3", "1000"),
        ] {
            assert!(
                !equal(predicted, gold),
                "{predicted} should differ from {gold}"
            );
        }
        // Non-numeric answers still match as normalised strings.
        assert!(equal("\\sqrt2", "\\sqrt{2}"));
        assert!(equal(
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            "(3,\\frac{\\pi}{2})"
        ));
    }

    #[test]
    fn math_numbers_read_integers_decimals_and_fractions_only() {
        assert_eq!(math_number("-0.75"), Some(-0.75));
        assert_eq!(math_number("\\frac{3}{4}"), Some(0.75));
        assert_eq!(math_number("-\\frac{-1}{8}"), Some(0.125));
        assert_eq!(math_number("1.5/3"), Some(0.5));
        assert_eq!(math_number("\\frac{\\pi}{2}"), None);
        assert_eq!(math_number("\\frac{1}{2}+1"), None);
        assert_eq!(math_number("inf"), None);
        assert_eq!(math_number(""), None);
    }

    #[test]
    fn boxed_content_keeps_nested_braces() {
        assert_eq!(
            last_boxed("a \\boxed{1} b \\boxed{\\frac{a}{b}}"),
            Some("\\frac{a}{b}")
        );
        assert_eq!(last_boxed("\\boxed{unclosed"), None);
        assert_eq!(last_boxed("nothing"), None);
    }

    #[test]
    fn yes_no_and_letters_tolerate_decoration() {
        assert_eq!(yes_no("Yes."), Some("yes"));
        assert_eq!(yes_no("FALSE"), Some("no"));
        assert_eq!(yes_no("maybe"), None);
        assert_eq!(choice_letter("(c)").as_deref(), Some("C"));
        assert_eq!(choice_letter("B) the library").as_deref(), Some("B"));
        assert_eq!(choice_letter("Answer: D").as_deref(), Some("D"));
        assert_eq!(choice_letter("Bank"), None);
    }
}
