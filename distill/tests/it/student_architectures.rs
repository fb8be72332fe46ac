//! The trainer on the papers' student architectures: tiny random-weight Qwen3, Mistral (sliding
//! window) and Gemma 3 checkpoints written by transformers 5.24, with transformers' float64
//! logits and greedy tokens beside them (`tests/fixtures/architectures/`, generated once by
//! `benchmarks/train/tiny_architectures.sh`). The inference path (KV cache), the training path
//! (packed rows, the fused head) and greedy decoding must each give transformers' answer; the
//! export must reload into the same model.

use std::path::PathBuf;

use distill::student::{
    export, generate_greedy, token_logprobs, Base, KvCache, Llama, LoraConfig, Packed, Sequence,
    LORA_MODULES,
};
use serde::Deserialize;

const ARCHITECTURES: [&str; 3] = ["qwen3", "mistral", "gemma3"];

/// The largest |trainer − transformers (float64)| logit allowed: the trainer runs in f32 over
/// logits of magnitude ≤ 10, where transformers' own f32 run is off by ~2e-5.
const LOGIT_TOLERANCE: f32 = 2e-4;

#[derive(Deserialize)]
struct Expected {
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
    greedy_ids: Vec<u32>,
}

fn fixture(name: &str) -> (PathBuf, Expected) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/architectures")
        .join(name);
    let text = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let expected = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    (dir, expected)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// log-softmax of `row` at `id`, in f64.
fn logprob(row: &[f32], id: u32) -> f32 {
    let max = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    (f64::from(row[id as usize]) - max - sum.ln()) as f32
}

fn load(dir: &std::path::Path, lora: Option<&LoraConfig>) -> Llama {
    Llama::load(dir, lora, 0)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .0
}

#[test]
fn logits_and_greedy_tokens_equal_transformers() {
    for name in ARCHITECTURES {
        let (dir, expected) = fixture(name);
        let model = load(&dir, None);
        // Inference path, the whole prompt at once, then token by token through the cache.
        let logits: Vec<Vec<f32>> = model
            .forward(&expected.ids, &mut KvCache::new())
            .and_then(|l| l.to_vec2())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let diff = max_diff(&logits.concat(), &expected.logits.concat());
        println!("{name}: max |trainer - transformers| logit {diff:.2e}");
        assert!(diff < LOGIT_TOLERANCE, "{name}: logits differ by {diff}");
        let mut cache = KvCache::new();
        let stepwise: Vec<f32> = expected
            .ids
            .iter()
            .flat_map(|&id| {
                model
                    .forward(&[id], &mut cache)
                    .and_then(|l| l.flatten_all()?.to_vec1())
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
            })
            .collect();
        let diff = max_diff(&stepwise, &expected.logits.concat());
        assert!(
            diff < LOGIT_TOLERANCE,
            "{name}: cached logits differ by {diff}"
        );
        // Training path: every prompt token's log-probability.
        let sequence = Sequence {
            ids: expected.ids.clone(),
            learn: vec![true; expected.ids.len()],
        };
        let ours = token_logprobs(&model, &Packed::new([&sequence]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs: Vec<f32> = expected
            .logits
            .iter()
            .zip(&expected.ids[1..])
            .map(|(row, &id)| logprob(row, id))
            .collect();
        let diff = max_diff(&ours, &theirs);
        assert!(
            diff < LOGIT_TOLERANCE,
            "{name}: training-path logprobs differ by {diff}"
        );
        let greedy = generate_greedy(&model, &expected.ids, expected.greedy_ids.len(), &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(greedy, expected.greedy_ids, "{name}: greedy tokens");
    }
}

#[test]
fn lora_and_full_exports_reload_into_the_same_model() {
    let lora = LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.0,
        targets: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
    };
    for name in ARCHITECTURES {
        let (dir, expected) = fixture(name);
        let model = load(&dir, Some(&lora));
        // Give every adapter a non-zero B so the merge changes the weights.
        for (i, (tensor_name, t)) in model
            .trained(&distill::student::Tuning::Lora(lora.clone()))
            .iter()
            .enumerate()
        {
            if tensor_name.ends_with("lora_B") {
                let values: Vec<f32> = (0..t.elem_count())
                    .map(|j| (((i * 7 + j * 13) % 17) as f32 - 8.0) * 0.01)
                    .collect();
                let src =
                    candle_core::Tensor::from_vec(values, t.dims(), &candle_core::Device::Cpu)
                        .unwrap_or_else(|e| panic!("{e}"));
                t.slice_set(&src, 0, 0).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let adapted: Vec<f32> = model
            .forward(&expected.ids, &mut KvCache::new())
            .and_then(|l| l.flatten_all()?.to_vec1())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = Base::open(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        export(&model, &base, out.path(), &serde_json::json!({}))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let reloaded: Vec<f32> = load(out.path(), None)
            .forward(&expected.ids, &mut KvCache::new())
            .and_then(|l| l.flatten_all()?.to_vec1())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let diff = max_diff(&adapted, &reloaded);
        assert!(diff < 1e-4, "{name}: the merged export differs by {diff}");
        let base: Vec<f32> = expected.logits.concat();
        assert!(
            max_diff(&adapted, &base) > 1e-3,
            "{name}: the adapters changed nothing"
        );
    }
}
