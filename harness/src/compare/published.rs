//! Published reference numbers (`results/published/*.toml`) and where a run stands beside them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::runner::RunManifest;

/// One published figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The system that reached it.
    pub system: String,
    /// The r2l task it corresponds to.
    pub task: String,
    /// The split.
    pub split: String,
    /// The r2l metric name it is compared with.
    pub metric: String,
    /// The figure, on r2l's scale (fractions, not percent).
    pub value: f64,
    /// How close (absolute) a reproduction must come.
    pub tolerance: f64,
    /// False when the source does not say how F1 was averaged.
    #[serde(default = "stated")]
    pub averaging_stated: bool,
    /// False when the figure comes from a secondary summary of the paper, not checked against
    /// the paper itself.
    #[serde(default = "stated")]
    pub verified: bool,
    /// Why the figure is only loosely comparable with r2l's task (e.g. another test set), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loosely_comparable: Option<String>,
    /// What a reader needs to know about the paper's setup to read the comparison (its prompt,
    /// token limit or model), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Where it comes from (filled from the file's `citation`).
    #[serde(default)]
    pub citation: String,
}

fn stated() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferenceFile {
    citation: String,
    reference: Vec<Reference>,
}

const BUILT_IN: [(&str, &str); 5] = [
    (
        "superlim-absabank-imm.toml",
        include_str!("../../../results/published/superlim-absabank-imm.toml"),
    ),
    (
        "vlsp2018.toml",
        include_str!("../../../results/published/vlsp2018.toml"),
    ),
    (
        "uit-visfd.toml",
        include_str!("../../../results/published/uit-visfd.toml"),
    ),
    (
        "agentark.toml",
        include_str!("../../../results/published/agentark.toml"),
    ),
    (
        "debate-reflect.toml",
        include_str!("../../../results/published/debate-reflect.toml"),
    ),
];

fn parse(text: &str, source: &str) -> Result<Vec<Reference>> {
    let file: ReferenceFile = crate::task::parse_toml(text, source)?;
    Ok(file
        .reference
        .into_iter()
        .map(|reference| Reference {
            citation: file.citation.clone(),
            ..reference
        })
        .collect())
}

/// The references shipped with r2l (the files under `results/published/`).
pub fn built_in_references() -> Result<Vec<Reference>> {
    let mut all = Vec::new();
    for (name, text) in BUILT_IN {
        all.extend(parse(text, &format!("results/published/{name}"))?);
    }
    Ok(all)
}

/// The references in every `.toml` file of `dir`.
pub fn load_references(dir: &Path) -> Result<Vec<Reference>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut all = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        all.extend(parse(&text, &path.display().to_string())?);
    }
    Ok(all)
}

/// A run's metric beside one published figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedCell {
    /// The reference.
    pub reference: Reference,
    /// The run's value of that metric.
    pub run_value: f64,
    /// The run's 95% CI, if computed.
    pub run_ci95: Option<(f64, f64)>,
    /// `reproduced` (within tolerance of the run's value or CI), `above` or `below` (the run
    /// relative to the reference); `(loose)` is appended when the averaging was not stated.
    pub verdict: String,
}

/// The references for the run's task and split, each with a verdict.
pub fn against_published(run: &RunManifest, references: &[Reference]) -> Vec<PublishedCell> {
    references
        .iter()
        .filter(|r| r.task == run.task.name && r.split == run.dataset.split)
        .filter_map(|reference| {
            let estimate = run.metrics.get(&reference.metric)?;
            let (low, high) = estimate.ci95.unwrap_or((estimate.value, estimate.value));
            let reproduced = reference.value >= low - reference.tolerance
                && reference.value <= high + reference.tolerance;
            let mut verdict = if reproduced {
                "reproduced".to_string()
            } else if estimate.value > reference.value {
                "above".to_string()
            } else {
                "below".to_string()
            };
            if !reference.averaging_stated {
                verdict.push_str(" (loose: averaging not stated)");
            }
            if let Some(why) = &reference.loosely_comparable {
                verdict.push_str(&format!(" (loose: {why})"));
            }
            if !reference.verified {
                verdict.push_str(" (unverified)");
            }
            Some(PublishedCell {
                reference: reference.clone(),
                run_value: estimate.value,
                run_ci95: estimate.ci95,
                verdict,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_references_parse_with_their_citations() {
        let references = built_in_references().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(references.len(), 15 + 10 + 5);
        let kb = references
            .iter()
            .find(|r| r.system == "KB-BERT-base")
            .map(|r| (r.value, r.citation.contains("superlim")));
        assert_eq!(kb, Some((0.529, true)));
        assert!(references
            .iter()
            .filter(|r| r.task == "uit-visfd")
            .all(|r| !r.averaging_stated));
        let distillation: Vec<_> = references
            .iter()
            .filter(|r| r.citation.contains("AgentArk") || r.citation.contains("Debate"))
            .collect();
        assert_eq!(distillation.len(), 15);
        assert!(distillation.iter().all(|r| !r.verified));
        assert!(references
            .iter()
            .filter(|r| r.task == "math500")
            .all(|r| r.loosely_comparable.is_some()));
        // AgentArk evaluates HF MedMCQA, r2l the MedAgentsBench subset; its GSM8K setup and
        // D&R's student are noted on every row.
        let medmcqa: Vec<_> = references.iter().filter(|r| r.task == "medmcqa").collect();
        assert_eq!(medmcqa.len(), 4);
        assert!(medmcqa.iter().all(|r| r
            .loosely_comparable
            .as_deref()
            .is_some_and(|why| why.contains("MedAgentsBench"))));
        let noted = |citation: &str, task: &str, needles: &[&str]| {
            let rows: Vec<_> = distillation
                .iter()
                .filter(|r| r.citation.contains(citation) && r.task == task)
                .collect();
            !rows.is_empty()
                && rows.iter().all(|r| {
                    r.note
                        .as_deref()
                        .is_some_and(|note| needles.iter().all(|n| note.contains(n)))
                })
        };
        assert!(noted("AgentArk", "gsm8k", &["\\boxed{}", "3,000"]));
        assert!(noted("Debate", "math500", &["Mistral-7B-Instruct-v0.2"]));
    }
}
