//! UIT-ViSD4SA loader: JSON Lines of `text` plus `[start, end, "ASPECT#POLARITY"]` spans whose
//! offsets count code points of the raw (not NFC) text. Spans are kept in `meta.spans`; the
//! comment-level target is the set of distinct (aspect, polarity) pairs over its spans, so a
//! comment with mixed feelings about one aspect keeps both pairs.

use serde_json::json;

use super::nfc;
use super::sample::{AspectPair, Polarity, Sample, Target};
use super::source::{JsonType, SourceFile};
use crate::error::Result;

/// Loads one UIT-ViSD4SA split.
pub fn load(source: &SourceFile, aspects: &[&str]) -> Result<Vec<Sample>> {
    let table =
        source.read_json_lines(&[("text", JsonType::String), ("labels", JsonType::Array)])?;
    let texts = table.strings("text")?;
    let raw_lines: Vec<&str> = source.text()?.split('\n').collect();
    let mut samples = Vec::with_capacity(texts.len());
    for (row, text) in texts.iter().enumerate() {
        // Spans are `[int, int, string]` tuples: polars reads them as lists of strings (it
        // stringifies the offsets), so the spans are read from the line itself with serde.
        let line_number = table.line(row);
        let raw = raw_lines
            .get(line_number.saturating_sub(1))
            .copied()
            .unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(raw)
            .map_err(|error| table.malformed(row, "(json)", format!("not valid JSON: {error}")))?;
        let spans = line.get("labels").cloned().unwrap_or_default();
        let spans = spans
            .as_array()
            .ok_or_else(|| table.malformed(row, "labels", "expected an array of spans"))?;
        let characters: Vec<char> = text.chars().collect();
        let mut labels = Vec::new();
        let mut span_meta = Vec::new();
        for (index, span) in spans.iter().enumerate() {
            let field = format!("labels[{index}]");
            let parsed = parse_span(span, characters.len(), aspects)
                .map_err(|message| table.malformed(row, &field, message))?;
            let span_text: String = characters[parsed.start..parsed.end].iter().collect();
            span_meta.push(json!({
                "start": parsed.start,
                "end": parsed.end,
                "clamped": parsed.clamped,
                "aspect": parsed.label.aspect,
                "polarity": parsed.label.polarity,
                "text": nfc(&span_text),
            }));
            labels.push(parsed.label);
        }
        labels.sort();
        labels.dedup();
        samples.push(Sample {
            id: row.to_string(),
            input: nfc(text),
            choices: Vec::new(),
            target: Target::Aspects { labels },
            meta: [("spans".to_string(), json!(span_meta))]
                .into_iter()
                .collect(),
        });
    }
    Ok(samples)
}

struct Span {
    start: usize,
    end: usize,
    clamped: bool,
    label: AspectPair,
}

/// Reads one `[start, end, "ASPECT#POLARITY"]`; `end` past the text is clamped (a known quirk).
fn parse_span(
    span: &serde_json::Value,
    text_length: usize,
    aspects: &[&str],
) -> std::result::Result<Span, String> {
    let parts = span
        .as_array()
        .filter(|parts| parts.len() == 3)
        .ok_or_else(|| format!("expected [start, end, \"ASPECT#POLARITY\"], found {span}"))?;
    let offset = |value: &serde_json::Value, name: &str| {
        value
            .as_u64()
            .or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(|v| v as usize)
            .ok_or_else(|| format!("{name} must be a non-negative integer, found {value}"))
    };
    let start = offset(&parts[0], "start")?;
    let raw_end = offset(&parts[1], "end")?;
    let end = raw_end.min(text_length);
    if start > end {
        return Err(format!(
            "span [{start}, {raw_end}) does not fit a text of {text_length} characters"
        ));
    }
    let label = parts[2]
        .as_str()
        .ok_or_else(|| format!("label must be a string, found {}", parts[2]))?;
    let (aspect, polarity) = label
        .split_once('#')
        .ok_or_else(|| format!("label `{label}` is not ASPECT#POLARITY"))?;
    if !aspects.contains(&aspect) {
        return Err(format!(
            "unknown aspect `{aspect}`; valid: {}",
            aspects.join(", ")
        ));
    }
    let polarity =
        Polarity::parse(polarity).ok_or_else(|| format!("unknown polarity in `{label}`"))?;
    Ok(Span {
        start,
        end,
        clamped: end != raw_end,
        label: AspectPair::gold(aspect, polarity),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASPECTS: &[&str] = &["BATTERY", "SER&ACC"];

    #[test]
    fn an_end_past_the_text_is_clamped() {
        let span = parse_span(&json!([3, 12, "BATTERY#POSITIVE"]), 10, ASPECTS).ok();
        let span = span.map(|s| (s.start, s.end, s.clamped));
        assert_eq!(span, Some((3, 10, true)));
    }

    #[test]
    fn bad_spans_are_explained() {
        assert!(parse_span(&json!([11, 12, "BATTERY#POSITIVE"]), 10, ASPECTS).is_err());
        assert!(parse_span(&json!([1, 2, "BATTERY"]), 10, ASPECTS).is_err());
        assert!(parse_span(&json!([1, 2, "SOUND#POSITIVE"]), 10, ASPECTS).is_err());
        assert!(parse_span(&json!(["a", 2, "BATTERY#POSITIVE"]), 10, ASPECTS).is_err());
        assert!(parse_span(&json!([1, 2]), 10, ASPECTS).is_err());
    }
}
