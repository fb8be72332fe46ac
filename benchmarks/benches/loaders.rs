//! Criterion benchmarks of every dataset loader on the real files (the train split where there is
//! one, else the evaluation split).

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use harness::data::{load, DatasetName};
use r2l_benchmarks::data_dir;

fn loaders(c: &mut Criterion) {
    let dir = data_dir();
    assert!(
        dir.is_dir(),
        "the loader benchmarks need the real data: {} not found",
        dir.display()
    );
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    for name in DatasetName::ALL {
        let split = if name.splits().contains(&"train") {
            "train"
        } else {
            name.default_split()
        };
        group.bench_function(format!("{name} {split}"), |b| {
            b.iter(|| load(name, split, &dir).map(|d| d.samples.len()).ok())
        });
    }
    group.finish();
}

criterion_group!(benches, loaders);
criterion_main!(benches);
