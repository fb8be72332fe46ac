//! The RL update on tiny random models: the clipped policy-gradient loss with its KL term
//! against a hand computation and its gradients against finite differences, and seeded
//! sampling.

use checkpoint::Architecture;
use distill::student::{
    generate_sampled, generate_sampled_group, grpo_step, kl_k3, random_weights, tiny_config,
    token_logprobs, Grads, GrpoBatch, GrpoSettings, Llama, Packed, Sampling, Sequence,
    TrainOptions, Tuning,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::student_train::{assert_resume_is_exact, lora, tiny_checkpoint};
use crate::support::{check_finite_differences, data_dir};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn model(seed: u64) -> Llama {
    let cfg = tiny_config(Architecture::Llama);
    ok(Llama::from_tensors(
        &cfg,
        ok(random_weights(&cfg, seed, 0.3)),
        None,
        seed,
    ))
}

/// Two prompts with two answers each (one answer empty: it has no token to learn).
fn rollouts() -> (Packed, Vec<f64>) {
    let seq = |prompt: &[u32], answer: &[u32]| {
        let mut ids = prompt.to_vec();
        ids.extend_from_slice(answer);
        let mut learn = vec![false; prompt.len()];
        learn.resize(ids.len(), true);
        Sequence { ids, learn }
    };
    let sequences = [
        seq(&[1, 5, 9], &[12, 7, 2]),
        seq(&[1, 5, 9], &[30, 2]),
        seq(&[1, 8, 21, 4], &[3, 3, 17, 2]),
        seq(&[1, 8, 21, 4], &[]),
    ];
    (Packed::new(&sequences), vec![0.8, -0.8, 1.2, -1.2])
}

#[test]
fn at_the_sampling_policy_the_loss_is_minus_the_mean_advantage_plus_the_kl() {
    let policy = model(3);
    let reference = model(4);
    let (packed, advantages) = rollouts();
    let refs = ok(token_logprobs(&reference, &packed));
    let logps = ok(token_logprobs(&policy, &packed));
    let beta = 0.1;
    // Per answer with tokens: mean over its tokens of (−A + β k3); then mean over the 3 answers.
    let mut expected = 0.0;
    for (s, advantage) in advantages.iter().enumerate().take(3) {
        let tokens: Vec<usize> = (0..packed.targets.len())
            .filter(|&t| packed.target_sequence[t] == s)
            .collect();
        let mean: f64 = tokens
            .iter()
            .map(|&t| -advantage + beta * kl_k3(f64::from(logps[t]), f64::from(refs[t])))
            .sum::<f64>()
            / tokens.len() as f64;
        expected += mean / 3.0;
    }
    let batch = GrpoBatch {
        packed,
        advantages,
        reference: refs,
        old: None,
    };
    let out = ok(grpo_step(&policy, &[batch], beta, &mut Grads::default(), 0));
    assert_eq!(out.sequences, 3);
    assert!(
        (out.loss - expected).abs() < 1e-9,
        "{} vs {expected}",
        out.loss
    );
    assert!(out.kl > 0.0);
}

#[test]
fn grpo_gradients_match_finite_differences() {
    let policy = model(5);
    let reference = model(6);
    let (packed, advantages) = rollouts();
    let refs = ok(token_logprobs(&reference, &packed));
    // An older policy a little off the current one: ratios inside the clip range, not 1.
    let old: Vec<f32> = ok(token_logprobs(&policy, &packed))
        .iter()
        .enumerate()
        .map(|(i, lp)| lp + if i % 2 == 0 { 0.05 } else { -0.07 })
        .collect();
    let batches = [GrpoBatch {
        packed,
        advantages,
        reference: refs,
        old: Some(old),
    }];
    let trained = policy.trained(&Tuning::Full);
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    ok(grpo_step(&policy, &batches, 0.1, &mut grads, 0));
    for (name, t) in &trained {
        let Some(g) = grads.get(t) else {
            panic!("no gradient for {name}");
        };
        check_finite_differences(name, t, g, 1, (3e-4, 0.03), || {
            ok(grpo_step(&policy, &batches, 0.1, &mut Grads::default(), 0)).loss
        });
    }
}

#[test]
fn seeded_sampling_repeats_and_seeds_differ() {
    let policy = model(7);
    let sampling = Sampling {
        temperature: 1.0,
        top_p: 0.95,
    };
    let draw = |seed: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ok(generate_sampled(
            &policy,
            &[1, 5, 9],
            12,
            &[],
            sampling,
            &mut rng,
        ))
    };
    let a = draw(1);
    assert_eq!(a.len(), 12);
    assert_eq!(a, draw(1));
    assert!((2..6).any(|seed| draw(seed) != a));
    // A stop token ends the answer and is kept.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let stopped = ok(generate_sampled(
        &policy,
        &[1, 5, 9],
        12,
        &[a[2]],
        sampling,
        &mut rng,
    ));
    assert_eq!(stopped.last(), Some(&a[2]));
    assert!(stopped.len() <= 3);
}

#[test]
fn a_group_decoded_together_draws_what_each_answer_draws_alone() {
    let policy = model(7);
    let sampling = Sampling {
        temperature: 1.0,
        top_p: 0.95,
    };
    let prompt = [1u32, 5, 9, 4];
    let alone = |seed: u64, stop: &[u32]| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ok(generate_sampled(
            &policy, &prompt, 10, stop, sampling, &mut rng,
        ))
    };
    // A stop token that ends some answers early and not others: the batch shrinks as they end.
    let stop = [alone(0, &[])[3]];
    let mut rngs: Vec<ChaCha8Rng> = (0..6).map(ChaCha8Rng::seed_from_u64).collect();
    let group = ok(generate_sampled_group(
        &policy, &prompt, 10, &stop, sampling, &mut rngs,
    ));
    let each: Vec<Vec<u32>> = (0..6).map(|seed| alone(seed, &stop)).collect();
    assert_eq!(group, each);
    assert!(
        group.iter().any(|a| a.len() < 10) && group.iter().any(|a| a.len() == 10),
        "{group:?}"
    );
}

#[test]
fn a_stopped_grpo_run_resumed_equals_an_uninterrupted_one_bit_for_bit() {
    // The tiny checkpoint answers GSM8K questions with words of its small vocabulary: never
    // right, so every reward is -1 and the advantages 0; the KL term still trains the adapters.
    let tmp = ok(tempfile::tempdir());
    let base = tmp.path().join("base");
    tiny_checkpoint(&base);
    // Room for a GSM8K prompt (the tiny config's context is 64 tokens).
    let config = base.join("config.json");
    let mut json: serde_json::Value =
        ok(serde_json::from_str(&ok(std::fs::read_to_string(&config))));
    json["max_position_embeddings"] = 1024.into();
    ok(std::fs::write(&config, json.to_string()));
    let options = |out: &std::path::Path| {
        let mut settings = GrpoSettings::new("gsm8k", data_dir());
        settings.limit = Some(3);
        settings.group = 2;
        settings.max_new_tokens = 6;
        settings.kl = 0.5;
        settings.sampling.temperature = 1.0;
        let mut o = TrainOptions::grpo(settings, &base, out);
        o.tuning = lora(0.1);
        // 90 steps of a few milliseconds: the stop after two lands well before the end.
        o.epochs = 30;
        o.lr = 1e-2;
        o
    };
    assert_resume_is_exact(tmp.path(), options, &["model.safetensors"]);
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    let answers = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        ok(std::fs::read_to_string(dir.join("train_log.jsonl")))
            .lines()
            .map(|l| ok(serde_json::from_str::<serde_json::Value>(l))["answer_tokens"].clone())
            .collect()
    };
    assert_eq!(
        answers(&whole),
        answers(&parts),
        "the resumed run drew other answers"
    );
}
