//! The registry of datasets: names, splits, files and label sets, as one explicit `match`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A dataset the harness can load from the shared data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetName {
    /// UIT-ViSFD: Vietnamese smartphone reviews, 10 aspects × 3 polarities (`{OTHERS}` dropped).
    UitVisfd,
    /// VLSP 2018 ABSA, hotel domain: 34 `ENTITY#ATTRIBUTE` aspects.
    Vlsp2018Hotel,
    /// VLSP 2018 ABSA, restaurant domain: 12 `ENTITY#ATTRIBUTE` aspects.
    Vlsp2018Restaurant,
    /// UIT-ViSD4SA: Vietnamese smartphone reviews with aspect spans, scored per comment.
    UitVisd4sa,
    /// ABSAbank-Imm (SuperLim 2): Swedish paragraphs rated 1–5 towards immigration.
    AbsabankImm,
    /// GSM8K grade-school math word problems (integer answers).
    Gsm8k,
    /// MATH-500 competition problems (LaTeX answers).
    Math500,
    /// StrategyQA (BIG-bench version): yes/no multi-hop questions.
    Strategyqa,
    /// CommonsenseQA v1.11: 5-way multiple choice.
    Commonsenseqa,
    /// ARC-Challenge: 3–5-way multiple choice science questions.
    ArcChallenge,
    /// MedMCQA (MedAgentsBench single-answer subset): 4-way medical multiple choice.
    Medmcqa,
}

/// What kind of target a dataset has, which decides how it is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskFamily {
    /// Sets of (aspect, polarity) per text, scored with F1 over the given label set.
    Absa,
    /// A real-valued rating (ABSAbank-Imm 1–5), scored with Krippendorff's alpha and Spearman.
    Rating,
    /// A single final answer, scored with accuracy.
    Reasoning(AnswerKind),
}

/// How a reasoning dataset's answers are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// An integer (GSM8K): commas stripped, compared numerically.
    Integer,
    /// A LaTeX expression (MATH-500), compared after normalisation.
    Latex,
    /// `yes` or `no` (StrategyQA).
    YesNo,
    /// A choice letter (CommonsenseQA, ARC, MedMCQA).
    ChoiceLetter,
}

const UIT_VISFD_ASPECTS: &[&str] = &[
    "BATTERY",
    "CAMERA",
    "DESIGN",
    "FEATURES",
    "GENERAL",
    "PERFORMANCE",
    "PRICE",
    "SCREEN",
    "SER&ACC",
    "STORAGE",
];

const VLSP_HOTEL_ASPECTS: &[&str] = &[
    "FACILITIES#CLEANLINESS",
    "FACILITIES#COMFORT",
    "FACILITIES#DESIGN&FEATURES",
    "FACILITIES#GENERAL",
    "FACILITIES#MISCELLANEOUS",
    "FACILITIES#PRICES",
    "FACILITIES#QUALITY",
    "FOOD&DRINKS#MISCELLANEOUS",
    "FOOD&DRINKS#PRICES",
    "FOOD&DRINKS#QUALITY",
    "FOOD&DRINKS#STYLE&OPTIONS",
    "HOTEL#CLEANLINESS",
    "HOTEL#COMFORT",
    "HOTEL#DESIGN&FEATURES",
    "HOTEL#GENERAL",
    "HOTEL#MISCELLANEOUS",
    "HOTEL#PRICES",
    "HOTEL#QUALITY",
    "LOCATION#GENERAL",
    "ROOMS#CLEANLINESS",
    "ROOMS#COMFORT",
    "ROOMS#DESIGN&FEATURES",
    "ROOMS#GENERAL",
    "ROOMS#MISCELLANEOUS",
    "ROOMS#PRICES",
    "ROOMS#QUALITY",
    "ROOM_AMENITIES#CLEANLINESS",
    "ROOM_AMENITIES#COMFORT",
    "ROOM_AMENITIES#DESIGN&FEATURES",
    "ROOM_AMENITIES#GENERAL",
    "ROOM_AMENITIES#MISCELLANEOUS",
    "ROOM_AMENITIES#PRICES",
    "ROOM_AMENITIES#QUALITY",
    "SERVICE#GENERAL",
];

const VLSP_RESTAURANT_ASPECTS: &[&str] = &[
    "AMBIENCE#GENERAL",
    "DRINKS#PRICES",
    "DRINKS#QUALITY",
    "DRINKS#STYLE&OPTIONS",
    "FOOD#PRICES",
    "FOOD#QUALITY",
    "FOOD#STYLE&OPTIONS",
    "LOCATION#GENERAL",
    "RESTAURANT#GENERAL",
    "RESTAURANT#MISCELLANEOUS",
    "RESTAURANT#PRICES",
    "SERVICE#GENERAL",
];

impl DatasetName {
    /// The names of the datasets whose family `keep` accepts, in [`DatasetName::ALL`]'s order
    /// (each is also the name of its default task): the ABSA tasks, the reasoning tasks...
    pub fn names_where(keep: impl Fn(TaskFamily) -> bool) -> Vec<&'static str> {
        DatasetName::ALL
            .iter()
            .filter(|dataset| keep(dataset.family()))
            .map(|dataset| dataset.name())
            .collect()
    }

    /// Every dataset, in the order `data stats` lists them.
    pub const ALL: [DatasetName; 11] = [
        DatasetName::UitVisfd,
        DatasetName::Vlsp2018Hotel,
        DatasetName::Vlsp2018Restaurant,
        DatasetName::UitVisd4sa,
        DatasetName::AbsabankImm,
        DatasetName::Gsm8k,
        DatasetName::Math500,
        DatasetName::Strategyqa,
        DatasetName::Commonsenseqa,
        DatasetName::ArcChallenge,
        DatasetName::Medmcqa,
    ];

    /// The dataset's command-line name (also the name of its default task).
    pub fn name(self) -> &'static str {
        match self {
            DatasetName::UitVisfd => "uit-visfd",
            DatasetName::Vlsp2018Hotel => "vlsp2018-hotel",
            DatasetName::Vlsp2018Restaurant => "vlsp2018-restaurant",
            DatasetName::UitVisd4sa => "uit-visd4sa",
            DatasetName::AbsabankImm => "absabank-imm",
            DatasetName::Gsm8k => "gsm8k",
            DatasetName::Math500 => "math500",
            DatasetName::Strategyqa => "strategyqa",
            DatasetName::Commonsenseqa => "commonsenseqa",
            DatasetName::ArcChallenge => "arc-challenge",
            DatasetName::Medmcqa => "medmcqa",
        }
    }

    /// Looks a dataset up by its command-line name; the error lists the valid names.
    pub fn parse(name: &str) -> Result<DatasetName> {
        DatasetName::ALL
            .into_iter()
            .find(|dataset| dataset.name() == name)
            .ok_or_else(|| Error::Unknown {
                kind: "dataset",
                name: name.to_string(),
                valid: DatasetName::ALL.map(DatasetName::name).join(", "),
            })
    }

    /// The splits this dataset has, evaluation split last but one or last.
    pub fn splits(self) -> &'static [&'static str] {
        match self {
            DatasetName::UitVisfd
            | DatasetName::Vlsp2018Hotel
            | DatasetName::Vlsp2018Restaurant
            | DatasetName::UitVisd4sa
            | DatasetName::AbsabankImm => &["train", "dev", "test"],
            DatasetName::Gsm8k => &["train", "test", "test_socratic"],
            DatasetName::Math500 | DatasetName::Strategyqa | DatasetName::ArcChallenge => &["test"],
            DatasetName::Commonsenseqa => &["dev"],
            DatasetName::Medmcqa => &["test", "hard"],
        }
    }

    /// The split evaluated by default: `test`, or `dev` for CommonsenseQA (its test labels are hidden).
    pub fn default_split(self) -> &'static str {
        match self {
            DatasetName::Commonsenseqa => "dev",
            _ => "test",
        }
    }

    /// Checks that `split` exists for this dataset; the error lists the valid splits.
    pub fn check_split(self, split: &str) -> Result<()> {
        check_split_of(self.name(), self.splits(), split)
    }

    /// The file holding `split`, relative to the data directory.
    pub fn relative_path(self, split: &str) -> Result<PathBuf> {
        self.check_split(split)?;
        let capitalised = |s: &str| {
            let mut chars = s.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        };
        let vlsp_number = |split: &str| match split {
            "train" => 1,
            "dev" => 2,
            _ => 3,
        };
        let path = match self {
            DatasetName::UitVisfd => format!("uit-visfd/{}.csv", capitalised(split)),
            DatasetName::Vlsp2018Hotel => format!(
                "vlsp2018-absa/hotel/{}-VLSP2018-SA-Hotel-{split}.txt",
                vlsp_number(split)
            ),
            DatasetName::Vlsp2018Restaurant => format!(
                "vlsp2018-absa/restaurant/{}-VLSP2018-SA-Restaurant-{split}.txt",
                vlsp_number(split)
            ),
            DatasetName::UitVisd4sa => format!("uit-visd4sa/{split}.jsonl"),
            DatasetName::AbsabankImm => format!("absabank-imm/absabank-imm_{split}.jsonl"),
            DatasetName::Gsm8k => format!("gsm8k/{split}.jsonl"),
            DatasetName::Math500 => "math500/test.jsonl".to_string(),
            DatasetName::Strategyqa => "strategyqa/task.json".to_string(),
            DatasetName::Commonsenseqa => "commonsenseqa/dev_rand_split.jsonl".to_string(),
            DatasetName::ArcChallenge => "arc-challenge/test.jsonl".to_string(),
            DatasetName::Medmcqa => match split {
                "hard" => "medmcqa/test_hard.jsonl".to_string(),
                _ => "medmcqa/test.jsonl".to_string(),
            },
        };
        Ok(PathBuf::from(path))
    }

    /// The file holding `split` under `data_dir`.
    pub fn path(self, data_dir: &Path, split: &str) -> Result<PathBuf> {
        Ok(data_dir.join(self.relative_path(split)?))
    }

    /// How the dataset is scored.
    pub fn family(self) -> TaskFamily {
        match self {
            DatasetName::UitVisfd
            | DatasetName::Vlsp2018Hotel
            | DatasetName::Vlsp2018Restaurant
            | DatasetName::UitVisd4sa => TaskFamily::Absa,
            DatasetName::AbsabankImm => TaskFamily::Rating,
            DatasetName::Gsm8k => TaskFamily::Reasoning(AnswerKind::Integer),
            DatasetName::Math500 => TaskFamily::Reasoning(AnswerKind::Latex),
            DatasetName::Strategyqa => TaskFamily::Reasoning(AnswerKind::YesNo),
            DatasetName::Commonsenseqa | DatasetName::ArcChallenge | DatasetName::Medmcqa => {
                TaskFamily::Reasoning(AnswerKind::ChoiceLetter)
            }
        }
    }

    /// The scored aspect label set of an ABSA dataset (empty for the others). UIT-ViSFD's
    /// `OTHERS` is not in it: it never carries a polarity, so it cannot be scored as a pair.
    pub fn aspect_labels(self) -> &'static [&'static str] {
        match self {
            DatasetName::UitVisfd | DatasetName::UitVisd4sa => UIT_VISFD_ASPECTS,
            DatasetName::Vlsp2018Hotel => VLSP_HOTEL_ASPECTS,
            DatasetName::Vlsp2018Restaurant => VLSP_RESTAURANT_ASPECTS,
            _ => &[],
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks that `split` is one of `splits` of dataset `name`; the error lists the valid splits.
pub(crate) fn check_split_of(name: &str, splits: &[&str], split: &str) -> Result<()> {
    if splits.contains(&split) {
        Ok(())
    } else {
        Err(Error::Unknown {
            kind: "split",
            name: format!("{split} (dataset {name})"),
            valid: splits.join(", "),
        })
    }
}

/// The environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "R2L_DATA_DIR";

/// The data directory, resolved at run time: `explicit` (`--data-dir`) when given, else
/// `$R2L_DATA_DIR` when set, else the first of `./shared/data` and `../shared/data` (relative to
/// the working directory) that exists. An installed binary therefore works from any directory;
/// when nothing is found the error lists every place it looked.
pub fn find_data_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let from_env = std::env::var_os(DATA_DIR_ENV).filter(|dir| !dir.is_empty());
    let candidates: Vec<(PathBuf, &str)> = match (explicit, from_env) {
        (Some(dir), _) => vec![(dir.to_path_buf(), "--data-dir")],
        (None, Some(dir)) => vec![(PathBuf::from(dir), DATA_DIR_ENV)],
        (None, None) => ["shared/data", "../shared/data"]
            .into_iter()
            .map(|relative| (PathBuf::from(relative), "beside the working directory"))
            .collect(),
    };
    if let Some((dir, _)) = candidates.iter().find(|(dir, _)| dir.is_dir()) {
        return Ok(dir.clone());
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let looked = candidates
        .iter()
        .map(|(dir, source)| format!("{} ({source})", cwd.join(dir).display()))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::File {
        path: candidates[0].0.clone(),
        message: format!(
            "data directory not found; looked in {looked}; pass --data-dir DIR or set {DATA_DIR_ENV}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists_follow_the_dataset_families() {
        assert_eq!(
            DatasetName::names_where(|family| family == TaskFamily::Absa),
            [
                "uit-visfd",
                "vlsp2018-hotel",
                "vlsp2018-restaurant",
                "uit-visd4sa"
            ]
        );
        assert_eq!(
            DatasetName::names_where(|family| matches!(family, TaskFamily::Reasoning(_))),
            [
                "gsm8k",
                "math500",
                "strategyqa",
                "commonsenseqa",
                "arc-challenge",
                "medmcqa"
            ]
        );
        assert_eq!(
            DatasetName::names_where(|family| family == TaskFamily::Rating),
            ["absabank-imm"]
        );
    }

    #[test]
    fn every_name_round_trips() {
        for dataset in DatasetName::ALL {
            assert_eq!(DatasetName::parse(dataset.name()).ok(), Some(dataset));
        }
    }

    #[test]
    fn unknown_name_lists_valid_names() {
        let message = DatasetName::parse("imdb")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown dataset `imdb`"), "{message}");
        assert!(message.contains("uit-visfd, vlsp2018-hotel"), "{message}");
    }

    #[test]
    fn unknown_split_lists_valid_splits() {
        let message = DatasetName::Commonsenseqa
            .relative_path("test")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(message.contains("valid: dev"), "{message}");
    }

    #[test]
    fn label_sets_have_the_documented_sizes() {
        assert_eq!(DatasetName::UitVisfd.aspect_labels().len(), 10);
        assert_eq!(DatasetName::Vlsp2018Hotel.aspect_labels().len(), 34);
        assert_eq!(DatasetName::Vlsp2018Restaurant.aspect_labels().len(), 12);
    }

    #[test]
    fn vlsp_paths_follow_the_release_names() {
        let path = DatasetName::Vlsp2018Restaurant.relative_path("dev").ok();
        assert_eq!(
            path,
            Some(PathBuf::from(
                "vlsp2018-absa/restaurant/2-VLSP2018-SA-Restaurant-dev.txt"
            ))
        );
        let path = DatasetName::UitVisfd.relative_path("test").ok();
        assert_eq!(path, Some(PathBuf::from("uit-visfd/Test.csv")));
    }
}
