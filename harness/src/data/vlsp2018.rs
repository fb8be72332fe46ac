//! VLSP 2018 ABSA loader for the original `.txt` release: BOM, records of three lines (`#n`,
//! text, labels) separated by blank lines, and label lines with irregular spacing. The format is
//! not tabular, so it is parsed here rather than by polars.

use std::sync::LazyLock;

use regex::Regex;

use super::nfc;
use super::sample::{AspectPair, Polarity, Sample, Target};
use super::source::SourceFile;
use crate::error::Result;

static LABEL_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\s*([A-Z_&]+)#([A-Z_&]+)\s*,\s*(positive|negative|neutral)\s*\}")
        .unwrap_or_else(|_| unreachable!("the label pattern is a valid regex literal"))
});

/// Loads one VLSP 2018 split (hotel or restaurant).
pub fn load(source: &SourceFile, aspects: &[&str]) -> Result<Vec<Sample>> {
    let text = source.text()?;
    let mut samples = Vec::new();
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .peekable();
    loop {
        while lines.next_if(|(_, line)| line.trim().is_empty()).is_some() {}
        let Some((id_line, id_text)) = lines.next() else {
            break;
        };
        let id = id_text
            .trim()
            .strip_prefix('#')
            .filter(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                source.malformed(
                    id_line,
                    "id",
                    format!("expected `#<number>`, found `{id_text}`"),
                )
            })?;
        let expected_id = samples.len() + 1;
        if id.parse::<usize>().ok() != Some(expected_id) {
            return Err(source.malformed(
                id_line,
                "id",
                format!("expected `#{expected_id}` (ids count up from 1), found `#{id}`"),
            ));
        }
        let (text_line, review) = next_content_line(&mut lines)
            .ok_or_else(|| source.malformed(id_line, "text", "record has no review line"))?;
        let (label_line, label_text) = next_content_line(&mut lines)
            .ok_or_else(|| source.malformed(text_line, "labels", "record has no label line"))?;
        let labels = parse_labels(label_text, aspects)
            .map_err(|message| source.malformed(label_line, "labels", message))?;
        samples.push(Sample {
            id: id.to_string(),
            input: nfc(review.trim()),
            choices: Vec::new(),
            target: Target::Aspects { labels },
            meta: Default::default(),
        });
    }
    Ok(samples)
}

/// The next line of the current record; a blank line ends the record early.
fn next_content_line<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Option<(usize, &'a str)> {
    lines.next().filter(|(_, line)| !line.trim().is_empty())
}

/// Parses `{ENTITY#ATTRIBUTE, polarity}, ...` with tolerant spacing; duplicates are removed.
fn parse_labels(text: &str, aspects: &[&str]) -> std::result::Result<Vec<AspectPair>, String> {
    let mut labels = Vec::new();
    let mut consumed = 0;
    for item in LABEL_ITEM.captures_iter(text) {
        let whole = item.get(0).map_or(0..0, |m| m.range());
        let between = &text[consumed..whole.start];
        let separator_ok = if consumed == 0 {
            between.trim().is_empty()
        } else {
            between.trim() == ","
        };
        if !separator_ok {
            return Err(format!("unexpected text `{between}` between label items"));
        }
        consumed = whole.end;
        let aspect = format!("{}#{}", &item[1], &item[2]);
        if !aspects.contains(&aspect.as_str()) {
            return Err(format!(
                "unknown aspect `{aspect}`; valid: {}",
                aspects.join(", ")
            ));
        }
        let polarity =
            Polarity::parse(&item[3]).ok_or_else(|| format!("unknown polarity `{}`", &item[3]))?;
        labels.push(AspectPair::gold(aspect, polarity));
    }
    if labels.is_empty() || !text[consumed..].trim().is_empty() {
        return Err(format!(
            "expected `{{ENTITY#ATTRIBUTE, polarity}}` items, found `{}`",
            text[consumed..].trim()
        ));
    }
    labels.sort();
    labels.dedup();
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASPECTS: &[&str] = &[
        "HOTEL#GENERAL",
        "ROOMS#CLEANLINESS",
        "FOOD&DRINKS#STYLE&OPTIONS",
    ];

    #[test]
    fn irregular_spacing_and_duplicates_are_tolerated() {
        let labels = parse_labels(
            "{HOTEL#GENERAL,  positive},{ROOMS#CLEANLINESS, negative}, {ROOMS#CLEANLINESS, negative}",
            ASPECTS,
        )
        .unwrap_or_default();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].aspect, "HOTEL#GENERAL");
    }

    #[test]
    fn ampersands_in_entity_and_attribute_parse() {
        let labels =
            parse_labels("{FOOD&DRINKS#STYLE&OPTIONS, neutral}", ASPECTS).unwrap_or_default();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].polarity, "neutral");
    }

    #[test]
    fn junk_and_unknown_aspects_are_rejected() {
        assert!(parse_labels("{HOTEL#GENERAL, positive} oops", ASPECTS).is_err());
        assert!(parse_labels("{HOTEL#VIEW, positive}", ASPECTS)
            .unwrap_err()
            .contains("unknown aspect"));
        assert!(parse_labels("", ASPECTS).is_err());
    }
}
