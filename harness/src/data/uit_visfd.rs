//! UIT-ViSFD loader: RFC-4180 CSV with CRLF records, newlines inside quoted comments, and
//! `{ASPECT#Polarity};` label strings. `{OTHERS}` carries no polarity and is not a scored label.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::nfc;
use super::sample::{AspectPair, Polarity, Sample, Target};
use super::source::{SourceFile, Table};
use crate::error::Result;

const COLUMNS: [&str; 5] = ["index", "comment", "n_star", "date_time", "label"];

static LABEL_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{([A-Z&]+)(?:#(Positive|Negative|Neutral))?\};")
        .unwrap_or_else(|_| unreachable!("the label pattern is a valid regex literal"))
});

/// Loads one UIT-ViSFD split.
pub fn load(source: &SourceFile, aspects: &[&str]) -> Result<Vec<Sample>> {
    let table = read_csv(source)?;
    let ids = table.strings("index")?;
    let comments = table.strings("comment")?;
    let stars = table.strings("n_star")?;
    let dates = table.optional_strings("date_time")?;
    let labels = table.strings("label")?;
    let mut samples = Vec::with_capacity(ids.len());
    for row in 0..ids.len() {
        let id = ids[row].trim();
        if id.parse::<u64>().is_err() {
            return Err(table.malformed(
                row,
                "index",
                format!("expected an integer, found `{id}`"),
            ));
        }
        let star = stars[row].trim();
        let star: u8 = match star.parse() {
            Ok(value @ 1..=5) => value,
            _ => {
                return Err(table.malformed(
                    row,
                    "n_star",
                    format!("expected an integer from 1 to 5, found `{star}`"),
                ))
            }
        };
        let (aspect_labels, has_others) = parse_labels(&labels[row], aspects)
            .map_err(|message| table.malformed(row, "label", message))?;
        samples.push(Sample {
            id: id.to_string(),
            input: nfc(&comments[row]),
            choices: Vec::new(),
            target: Target::Aspects {
                labels: aspect_labels,
            },
            meta: [
                ("n_star".to_string(), json!(star)),
                ("date_time".to_string(), json!(dates[row])),
                ("others".to_string(), json!(has_others)),
            ]
            .into_iter()
            .collect(),
        });
    }
    Ok(samples)
}

/// Reads the CSV with polars, every column as text, and checks that its columns are there.
fn read_csv(source: &SourceFile) -> Result<Table> {
    let table = source.read_csv(&COLUMNS.join(","))?;
    for column in COLUMNS {
        table.column(column)?;
    }
    Ok(table)
}

/// Parses `{ASPECT#Polarity};{OTHERS};...` into sorted labels and whether `{OTHERS}` was given.
fn parse_labels(
    text: &str,
    aspects: &[&str],
) -> std::result::Result<(Vec<AspectPair>, bool), String> {
    let text = text.trim();
    let mut labels = Vec::new();
    let mut has_others = false;
    let mut consumed = 0;
    for item in LABEL_ITEM.captures_iter(text) {
        let whole = item.get(0).map_or(0..0, |m| m.range());
        if whole.start != consumed {
            return Err(format!(
                "unexpected text `{}` before a label item",
                &text[consumed..whole.start]
            ));
        }
        consumed = whole.end;
        let aspect = item.get(1).map_or("", |m| m.as_str());
        match (aspect, item.get(2)) {
            ("OTHERS", None) => has_others = true,
            ("OTHERS", Some(_)) => return Err("`OTHERS` never carries a polarity".to_string()),
            (aspect, None) => return Err(format!("aspect `{aspect}` has no polarity")),
            (aspect, Some(polarity)) => {
                if !aspects.contains(&aspect) {
                    return Err(format!(
                        "unknown aspect `{aspect}`; valid: {}, OTHERS",
                        aspects.join(", ")
                    ));
                }
                let polarity = Polarity::parse(polarity.as_str())
                    .ok_or_else(|| format!("unknown polarity in `{}`", &item[0]))?;
                labels.push(AspectPair::gold(aspect, polarity));
            }
        }
    }
    if consumed != text.len() || consumed == 0 {
        return Err(format!(
            "expected `{{ASPECT#Polarity}};` items, found `{}`",
            &text[consumed..]
        ));
    }
    labels.sort();
    labels.dedup();
    Ok((labels, has_others))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASPECTS: &[&str] = &["BATTERY", "SER&ACC", "GENERAL"];

    #[test]
    fn others_is_dropped_and_flagged() {
        let (labels, others) =
            parse_labels("{BATTERY#Positive};{SER&ACC#Negative};{OTHERS};", ASPECTS)
                .unwrap_or_default();
        assert!(others);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].aspect, "BATTERY");
        assert_eq!(labels[1].polarity, "negative");
    }

    #[test]
    fn garbage_between_items_is_rejected() {
        let error = parse_labels("{BATTERY#Positive};x{GENERAL#Neutral};", ASPECTS).unwrap_err();
        assert!(error.contains("`x`"), "{error}");
    }

    #[test]
    fn missing_polarity_and_unknown_aspect_are_rejected() {
        assert!(parse_labels("{BATTERY};", ASPECTS)
            .unwrap_err()
            .contains("no polarity"));
        assert!(parse_labels("{SOUND#Positive};", ASPECTS)
            .unwrap_err()
            .contains("unknown aspect"));
        assert!(parse_labels("", ASPECTS).is_err());
    }
}
