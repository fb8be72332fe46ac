//! Datasets: loaders for the real files in the shared data directory, and their statistics.

mod absabank_imm;
mod dataset;
mod local;
mod local_records;
mod multiple_choice;
mod reasoning;
mod registry;
mod reliability_csv;
mod sample;
mod source;
mod stats;
mod uit_visd4sa;
mod uit_visfd;
mod vlsp2018;

pub use absabank_imm::{annotator_matrix, ANNOTATORS};
pub use dataset::{load, load_absabank_tsv, Dataset, DatasetSource};
pub use local::{LocalDataset, LocalKind, RawLocal};
pub use registry::{find_data_dir, AnswerKind, DatasetName, TaskFamily, DATA_DIR_ENV};
pub use reliability_csv::{read_reliability_csv, ReliabilityTable};
pub use sample::{AspectPair, Choice, Polarity, Sample, Target};
pub use source::{sha256_hex, SourceFile};
pub use stats::{dataset_stats, CountTable, DatasetStats};

/// Unicode NFC normalisation: some Vietnamese texts write diacritics decomposed.
fn nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}
