//! Metrics of the harness and the statistics around them: ABSA F1, Krippendorff's alpha, rank
//! correlation and accuracy as corpus metrics, bootstrap confidence intervals over any of them,
//! and paired significance tests between two runs.

mod absa_f1;
mod absa_metric;
mod absa_scores;
mod accuracy;
mod alpha;
mod alpha_coded;
mod alpha_coding;
mod alpha_dense;
mod alpha_disagreement;
mod alpha_interval;
mod alpha_level;
mod alpha_metric;
#[cfg(test)]
mod alpha_test_data;
mod bootstrap;
mod corpus;
mod paired;
mod rank_correlation;
mod roc_auc;

pub use self::{
    absa_f1::{AbsaF1, AspectPair},
    absa_metric::{AbsaMetric, AbsaMetricView},
    absa_scores::{AbsaScores, CategoryCounts, CategoryScores, LevelScores},
    accuracy::Accuracy,
    alpha::ReliabilityData,
    alpha_dense::alpha_of_coder_rows,
    alpha_level::Level,
    alpha_metric::AlphaMetric,
    bootstrap::{bootstrap_ci, estimate, percentile, BootstrapConfig, Estimate, Resampler},
    corpus::CorpusMetric,
    paired::{mcnemar, paired_bootstrap, McNemar, McNemarMethod, PairedBootstrap},
    rank_correlation::{spearman, Spearman},
    roc_auc::roc_auc,
};
