//! A loaded dataset split, the dispatch from a dataset name to its loader, and the source a
//! task reads (a built-in dataset or a user's own file).

use std::path::{Path, PathBuf};

use super::local::LocalDataset;
use super::registry::{check_split_of, DatasetName, TaskFamily};
use super::sample::Sample;
use super::source::SourceFile;
use super::{absabank_imm, multiple_choice, reasoning, uit_visd4sa, uit_visfd, vlsp2018};
use crate::error::{Error, Result};

/// One split of a dataset, loaded from its file.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Which dataset (a built-in's name, or a local dataset's).
    pub name: String,
    /// How it is scored.
    pub family: TaskFamily,
    /// Which split (`train`, `dev`, `test`, ...).
    pub split: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Lower-case hex sha256 of that file, as stored.
    pub sha256: String,
    /// The samples, in file order.
    pub samples: Vec<Sample>,
}

/// Loads `split` of `name` from `data_dir`, checking every record; ids must be unique.
pub fn load(name: DatasetName, split: &str, data_dir: &Path) -> Result<Dataset> {
    check_data_dir(data_dir)?;
    let path = name.path(data_dir, split)?;
    let source = SourceFile::read(&path)?;
    let aspects = name.aspect_labels();
    let samples = match name {
        DatasetName::UitVisfd => uit_visfd::load(&source, aspects)?,
        DatasetName::Vlsp2018Hotel | DatasetName::Vlsp2018Restaurant => {
            vlsp2018::load(&source, aspects)?
        }
        DatasetName::UitVisd4sa => uit_visd4sa::load(&source, aspects)?,
        DatasetName::AbsabankImm => absabank_imm::load(&source)?,
        DatasetName::Gsm8k => reasoning::load_gsm8k(&source)?,
        DatasetName::Math500 => reasoning::load_math500(&source)?,
        DatasetName::Strategyqa => reasoning::load_strategyqa(&source)?,
        DatasetName::Commonsenseqa => multiple_choice::load_commonsenseqa(&source)?,
        DatasetName::ArcChallenge => multiple_choice::load_arc(&source)?,
        DatasetName::Medmcqa => multiple_choice::load_medmcqa(&source)?,
    };
    check_unique_ids(&path, &samples)?;
    Ok(Dataset {
        name: name.name().to_string(),
        family: name.family(),
        split: split.to_string(),
        path,
        sha256: source.sha256,
        samples,
    })
}

/// Loads `split` of ABSAbank-Imm from its TSV twin (`absabank-imm_<split>.tsv`).
pub fn load_absabank_tsv(split: &str, data_dir: &Path) -> Result<Dataset> {
    check_data_dir(data_dir)?;
    let name = DatasetName::AbsabankImm;
    let path = name.path(data_dir, split)?.with_extension("tsv");
    let source = SourceFile::read(&path)?;
    let samples = absabank_imm::load_tsv(&source)?;
    check_unique_ids(&path, &samples)?;
    Ok(Dataset {
        name: name.name().to_string(),
        family: name.family(),
        split: split.to_string(),
        path,
        sha256: source.sha256,
        samples,
    })
}

/// Where a task's samples come from: a built-in dataset under the data directory, or a user's
/// own file named by the task's `[dataset]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSource {
    /// A built-in dataset.
    BuiltIn(DatasetName),
    /// A local JSON Lines, CSV or Parquet file.
    Local(Box<LocalDataset>),
}

impl DatasetSource {
    /// The name run logs and reports show.
    pub fn name(&self) -> &str {
        match self {
            DatasetSource::BuiltIn(name) => name.name(),
            DatasetSource::Local(local) => &local.name,
        }
    }

    /// How its samples are scored.
    pub fn family(&self) -> TaskFamily {
        match self {
            DatasetSource::BuiltIn(name) => name.family(),
            DatasetSource::Local(local) => local.kind.family(),
        }
    }

    /// The splits it has.
    pub fn splits(&self) -> &'static [&'static str] {
        match self {
            DatasetSource::BuiltIn(name) => name.splits(),
            DatasetSource::Local(local) => local.splits(),
        }
    }

    /// The split evaluated by default.
    pub fn default_split(&self) -> &'static str {
        match self {
            DatasetSource::BuiltIn(name) => name.default_split(),
            DatasetSource::Local(_) => "test",
        }
    }

    /// Checks that `split` exists; the error lists the valid splits.
    pub fn check_split(&self, split: &str) -> Result<()> {
        check_split_of(self.name(), self.splits(), split)
    }

    /// The ABSA aspect label set scored by F1 (empty for the other families).
    pub fn aspect_labels(&self) -> Vec<String> {
        match self {
            DatasetSource::BuiltIn(name) => {
                name.aspect_labels().iter().map(|s| s.to_string()).collect()
            }
            DatasetSource::Local(local) => local.labels.clone(),
        }
    }

    /// Loads `split`: a built-in from `data_dir`, a local file from beside its task file.
    pub fn load(&self, split: &str, data_dir: &Path) -> Result<Dataset> {
        match self {
            DatasetSource::BuiltIn(name) => load(*name, split, data_dir),
            DatasetSource::Local(local) => {
                self.check_split(split)?;
                let dataset = local.load(split)?;
                check_unique_ids(&dataset.path, &dataset.samples)?;
                Ok(dataset)
            }
        }
    }
}

impl std::fmt::Display for DatasetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn check_data_dir(data_dir: &Path) -> Result<()> {
    if data_dir.is_dir() {
        Ok(())
    } else {
        Err(Error::File {
            path: data_dir.to_path_buf(),
            message: "data directory not found; pass --data-dir or set R2L_DATA_DIR".to_string(),
        })
    }
}

fn check_unique_ids(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    for sample in samples {
        if !seen.insert(sample.id.as_str()) {
            return Err(Error::File {
                path: path.to_path_buf(),
                message: format!("sample id `{}` occurs more than once", sample.id),
            });
        }
    }
    Ok(())
}
