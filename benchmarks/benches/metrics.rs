//! Criterion benchmarks of the corpus metrics: interval alpha on a large matrix, and ABSA F1
//! over the real UIT-ViSFD test set (gold labels as predictions, with a bootstrap).

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use harness::data::{load, DatasetName};
use harness::metrics::{
    alpha_of_coder_rows, bootstrap_ci, AbsaF1, AbsaMetric, BootstrapConfig, CorpusMetric, Level,
    ReliabilityData,
};
use r2l_benchmarks::data_dir;

fn alpha(c: &mut Criterion) {
    let values = r2l_benchmarks::reliability_matrix(10, 1_000_000, 0.3, 0);
    let mut group = c.benchmark_group("alpha");
    group.sample_size(10);
    group.bench_function(
        "interval 10 coders x 1e6 units, 30% missing (build + alpha)",
        |b| {
            b.iter(|| {
                let data = ReliabilityData::from_coder_rows(&values, 10).map_err(|e| e.to_string());
                data.and_then(|d| d.alpha(Level::Interval).map_err(|e| e.to_string()))
            })
        },
    );
    group.bench_function(
        "interval 10 coders x 1e6 units, 30% missing (streamed, alpha_of_coder_rows)",
        |b| b.iter(|| alpha_of_coder_rows(&values, 10, Level::Interval).map_err(|e| e.to_string())),
    );
    let small = r2l_benchmarks::reliability_matrix(3, 5_000, 0.3, 1);
    let data = ReliabilityData::from_coder_rows(&small, 3).ok();
    if let Some(data) = data {
        group.bench_function("interval bootstrap 1000 resamples, 3 x 5000", |b| {
            b.iter(|| bootstrap_ci(&data.metric(Level::Interval), &BootstrapConfig::default()))
        });
    }
    group.finish();
}

fn absa_f1(c: &mut Criterion) {
    let dataset = load(DatasetName::UitVisfd, "test", &data_dir())
        .unwrap_or_else(|e| panic!("the F1 benchmark needs the real UIT-ViSFD test split: {e}"));
    let labels: Vec<String> = DatasetName::UitVisfd
        .aspect_labels()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let gold: Vec<Vec<harness::data::AspectPair>> = dataset
        .samples
        .iter()
        .map(|s| s.aspect_labels().to_vec())
        .collect();
    let mut group = c.benchmark_group("absa_f1 uit-visfd test");
    group.bench_function("build + all 8 metrics", |b| {
        b.iter(|| {
            let f1 = AbsaF1::new(&labels, &gold, &gold).ok();
            f1.map(|f1| AbsaMetric::ALL.map(|m| f1.metric(m).value()))
        })
    });
    if let Ok(f1) = AbsaF1::new(&labels, &gold, &gold) {
        group.sample_size(20);
        group.bench_function("pair micro F1 bootstrap, 1000 resamples", |b| {
            b.iter(|| {
                bootstrap_ci(
                    &f1.metric(AbsaMetric::AspectPolarityMicroF1),
                    &BootstrapConfig::default(),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, alpha, absa_f1);
criterion_main!(benches);
