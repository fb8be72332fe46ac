//! The student's mathematics on tiny random models: gradients against finite differences (full
//! and LoRA, Llama and Qwen2), the DPO loss against a hand computation, packing against
//! separate sequences, the KV cache against full recomputation, and LoRA merging.

use candle_core::{Device, Tensor};
use checkpoint::Architecture;
use distill::student::{
    dpo_step, pack_pairs, random_weights, sequence_logprobs, sft_loss, sft_step, tiny_config,
    AdamW, AdamWConfig, Config, Grads, KvCache, Llama, LoraConfig, Packed, Pair, PairRef, Sequence,
    Tuning, LORA_MODULES,
};

use crate::support::check_finite_differences;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// LoRA of rank 2 on every projection, without dropout (finite differences need a
/// deterministic loss).
fn lora_config() -> LoraConfig {
    LoraConfig {
        rank: 2,
        alpha: 4.0,
        dropout: 0.0,
        targets: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
    }
}

fn model(cfg: &Config, tuning: &Tuning, seed: u64) -> Llama {
    let lora = match tuning {
        Tuning::Lora(l) => Some(l),
        Tuning::Full => None,
    };
    let model = ok(Llama::from_tensors(
        cfg,
        ok(random_weights(cfg, seed, 0.3)),
        lora,
        seed + 1,
    ));
    if lora.is_some() {
        // B starts at zero (so A's gradient would be zero): give it values.
        for (i, (name, t)) in model.trained(tuning).iter().enumerate() {
            if name.ends_with("lora_B") {
                let values: Vec<f32> = (0..t.elem_count())
                    .map(|j| (((i * 31 + j * 17) % 23) as f32 - 11.0) * 0.02)
                    .collect();
                let src = ok(Tensor::from_vec(values, t.dims(), &Device::Cpu));
                ok(t.slice_set(&src, 0, 0));
            }
        }
    }
    model
}

/// Two sequences of the tiny vocabulary with some learnt tokens.
fn sequences() -> Vec<Sequence> {
    vec![
        Sequence {
            ids: vec![1, 5, 9, 2, 33, 7, 12],
            learn: vec![false, false, true, true, false, true, true],
        },
        Sequence {
            ids: vec![3, 8, 21, 39, 4],
            learn: vec![false, true, true, true, true],
        },
    ]
}

/// Checks the analytic gradient of every trained tensor on its two largest and two fixed
/// coordinates against central differences of the loss.
fn check_gradients(arch: Architecture, tuning: Tuning) {
    let cfg = tiny_config(arch);
    let model = model(&cfg, &tuning, 7);
    let trained = model.trained(&tuning);
    let packed = vec![Packed::new(&sequences())];
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    let step = ok(sft_step(&model, &packed, &mut grads, 0));
    let loss = ok(sft_loss(&model, &packed));
    assert!((step.loss - loss).abs() < 1e-6, "{} vs {loss}", step.loss);
    let mut checked = 0;
    for (name, t) in &trained {
        let g = grads
            .get(t)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        checked += check_finite_differences(name, t, g, 2, (2e-4, 0.02), || {
            ok(sft_loss(&model, &packed))
        });
    }
    assert!(checked >= 2 * trained.len());
}

#[test]
fn full_gradients_match_finite_differences_llama() {
    check_gradients(Architecture::Llama, Tuning::Full);
}

#[test]
fn full_gradients_match_finite_differences_qwen2_with_biases() {
    let cfg = tiny_config(Architecture::Qwen2);
    let m = model(&cfg, &Tuning::Full, 1);
    let names: Vec<String> = m
        .trained(&Tuning::Full)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.iter().any(|n| n.ends_with("qkv.bias")), "{names:?}");
    check_gradients(Architecture::Qwen2, Tuning::Full);
}

#[test]
fn lora_gradients_match_finite_differences() {
    check_gradients(Architecture::Llama, Tuning::Lora(lora_config()));
    check_gradients(Architecture::Qwen2, Tuning::Lora(lora_config()));
}

/// The trained tensors of `arch`'s tiny model whose names end with each of `suffixes`.
fn assert_trains(arch: Architecture, suffixes: &[&str]) {
    let m = model(&tiny_config(arch), &Tuning::Full, 1);
    let names: Vec<String> = m
        .trained(&Tuning::Full)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for suffix in suffixes {
        assert!(
            names.iter().any(|n| n.ends_with(suffix)),
            "{suffix}: {names:?}"
        );
    }
}

#[test]
fn full_gradients_match_finite_differences_qwen3_query_key_norms() {
    assert_trains(
        Architecture::Qwen3,
        &["self_attn.q_norm.weight", "self_attn.k_norm.weight"],
    );
    check_gradients(Architecture::Qwen3, Tuning::Full);
}

#[test]
fn full_gradients_match_finite_differences_mistral_sliding_window() {
    // A 3-token window over sequences of 5 and 7 tokens.
    assert_eq!(tiny_config(Architecture::Mistral).sliding_window, Some(3));
    check_gradients(Architecture::Mistral, Tuning::Full);
}

#[test]
fn full_gradients_match_finite_differences_gemma3() {
    // Its four norms per block (scaling by 1 + weight), query/key norms, GELU gate, soft-capped
    // logits, a sliding-window block with its own RoPE base, scaled embeddings.
    assert_trains(
        Architecture::Gemma3,
        &[
            "post_attention_layernorm.weight",
            "pre_feedforward_layernorm.weight",
            "post_feedforward_layernorm.weight",
            "self_attn.q_norm.weight",
        ],
    );
    check_gradients(Architecture::Gemma3, Tuning::Full);
}

#[test]
fn lora_gradients_match_finite_differences_qwen3_mistral_gemma3() {
    for arch in [
        Architecture::Qwen3,
        Architecture::Mistral,
        Architecture::Gemma3,
    ] {
        check_gradients(arch, Tuning::Lora(lora_config()));
    }
}

/// Per-sequence log-probabilities of the learnt tokens by the inference path (KV cache,
/// logits to f64, log-softmax by hand): independent of the training path.
fn logprob_by_hand(model: &Llama, sequence: &Sequence) -> f64 {
    let logits = ok(model.forward(&sequence.ids, &mut KvCache::new()));
    let rows: Vec<Vec<f32>> = ok(logits.to_vec2());
    let mut total = 0f64;
    for i in 1..sequence.ids.len() {
        if !sequence.learn[i] {
            continue;
        }
        let row = &rows[i - 1];
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        total += f64::from(row[sequence.ids[i] as usize]) - max - sum.ln();
    }
    total
}

fn pairs() -> Vec<Pair> {
    vec![
        Pair {
            prompt: vec![1, 14, 15],
            chosen: vec![20, 21, 2],
            rejected: vec![30, 2],
            prompt_cut: 0,
            completion_cut: 0,
        },
        Pair {
            prompt: vec![1, 16],
            chosen: vec![22, 2],
            rejected: vec![31, 32, 33, 2],
            prompt_cut: 0,
            completion_cut: 0,
        },
    ]
}

#[test]
fn dpo_loss_equals_the_hand_computation_and_a_step_raises_the_margin() {
    let cfg = tiny_config(Architecture::Llama);
    let tuning = Tuning::Full;
    let policy = model(&cfg, &tuning, 11);
    let reference = model(&cfg, &tuning, 12);
    let pairs = pairs();
    let beta = 0.5;
    let refs: Vec<PairRef> = pairs
        .iter()
        .map(|p| PairRef {
            chosen: logprob_by_hand(&reference, &p.sequence(true)),
            rejected: logprob_by_hand(&reference, &p.sequence(false)),
        })
        .collect();
    let mut hand_loss = 0f64;
    let mut hand_margin = 0f64;
    for (p, r) in pairs.iter().zip(&refs) {
        let z = beta
            * ((logprob_by_hand(&policy, &p.sequence(true)) - r.chosen)
                - (logprob_by_hand(&policy, &p.sequence(false)) - r.rejected));
        hand_loss += -(1.0 / (1.0 + (-z).exp())).ln() / pairs.len() as f64;
        hand_margin += z / pairs.len() as f64;
    }
    let borrowed: Vec<&Pair> = pairs.iter().collect();
    let packed = pack_pairs(&borrowed);
    let trained = policy.trained(&tuning);
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    let step = ok(dpo_step(
        &policy,
        &[(packed.clone(), refs.clone())],
        beta,
        &mut grads,
        0,
    ));
    assert!(
        (step.loss - hand_loss).abs() < 1e-5,
        "trainer {} vs hand {hand_loss}",
        step.loss
    );
    assert!((step.margin - hand_margin).abs() < 1e-5);
    let mut adam = AdamW::new(AdamWConfig::default(), &trained);
    ok(adam.step(&trained, &grads, 1e-2, 1.0));
    let after = ok(sequence_logprobs(&policy, &packed));
    let margin_after: f64 = refs
        .iter()
        .enumerate()
        .map(|(k, r)| beta * ((after[2 * k] - r.chosen) - (after[2 * k + 1] - r.rejected)))
        .sum::<f64>()
        / refs.len() as f64;
    assert!(
        margin_after > step.margin,
        "margin {} → {margin_after}",
        step.margin
    );
}

#[test]
fn packed_sequences_equal_separate_ones_and_the_kv_cache_equals_recomputation() {
    let cfg = tiny_config(Architecture::Qwen2);
    let model = model(&cfg, &Tuning::Full, 5);
    let seqs = sequences();
    // Packed training path vs the inference path, per sequence.
    let together = ok(sequence_logprobs(&model, &Packed::new(&seqs)));
    for (s, lp) in seqs.iter().zip(&together) {
        assert!((lp - logprob_by_hand(&model, s)).abs() < 1e-4, "{lp}");
    }
    // Token by token through the cache vs all at once.
    let ids = &seqs[0].ids;
    let all: Vec<Vec<f32>> = ok(ok(model.forward(ids, &mut KvCache::new())).to_vec2());
    let mut cache = KvCache::new();
    for (i, &id) in ids.iter().enumerate() {
        let row: Vec<Vec<f32>> = ok(ok(model.forward(&[id], &mut cache)).to_vec2());
        let diff = row[0]
            .iter()
            .zip(&all[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "position {i}: {diff}");
    }
    assert_eq!(cache.len(), ids.len());
}

#[test]
fn merged_lora_weights_give_the_adapted_model() {
    let cfg = tiny_config(Architecture::Llama);
    let tuning = Tuning::Lora(lora_config());
    let adapted = model(&cfg, &tuning, 9);
    let merged = ok(Llama::from_tensors(&cfg, ok(adapted.hf_tensors()), None, 0));
    let ids = &sequences()[1].ids;
    let a: Vec<Vec<f32>> = ok(ok(adapted.forward(ids, &mut KvCache::new())).to_vec2());
    let b: Vec<Vec<f32>> = ok(ok(merged.forward(ids, &mut KvCache::new())).to_vec2());
    let base = ok(Llama::from_tensors(
        &cfg,
        ok(random_weights(&cfg, 9, 0.3)),
        None,
        0,
    ));
    let c: Vec<Vec<f32>> = ok(ok(base.forward(ids, &mut KvCache::new())).to_vec2());
    let max_diff = |x: &[Vec<f32>], y: &[Vec<f32>]| {
        x.iter()
            .flatten()
            .zip(y.iter().flatten())
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    };
    assert!(max_diff(&a, &b) < 1e-5, "merge changes the logits");
    assert!(max_diff(&a, &c) > 1e-3, "the adapters do nothing");
}
