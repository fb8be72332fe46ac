//! One SFT optimizer step of the student trainer, timed: `batch` sequences of `seq` tokens
//! (deterministic pseudo-random ids, every token but the first learnt, as transformers'
//! `labels = input_ids`), forward + backward + clipping + AdamW. Prints one JSON line with
//! seconds per step (median of the timed steps), tokens/s and the process's peak RSS.
//!
//! `train_step MODEL_DIR full|lora [batch] [seq] [timed steps] [lora rank]`; threads come from
//! `RAYON_NUM_THREADS` (all cores when unset).

use std::time::Instant;

use distill::student::{
    clip_scale, grad_norm, sft_step, AdamW, AdamWConfig, Grads, Llama, LoraConfig, Packed,
    Sequence, Tuning, LORA_MODULES,
};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: train_step MODEL_DIR full|lora [batch] [seq] [steps] [lora rank]");
        std::process::exit(2);
    }
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |a| a.parse().unwrap_or(default))
    };
    let (batch, seq, steps, rank) = (arg(3, 4), arg(4, 256), arg(5, 3), arg(6, 16));
    let tuning = match args[2].as_str() {
        "full" => Tuning::Full,
        "lora" => Tuning::Lora(LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            dropout: 0.0,
            targets: LORA_MODULES.iter().map(|m| m.to_string()).collect(),
        }),
        other => {
            eprintln!("unknown mode {other}: full or lora");
            std::process::exit(2);
        }
    };
    let lora = match &tuning {
        Tuning::Lora(l) => Some(l),
        Tuning::Full => None,
    };
    let dir = std::path::Path::new(&args[1]);
    let (model, _) = Llama::load(dir, lora, 0).unwrap_or_else(|e| panic!("{e}"));
    let vocab = model.cfg.vocab_size as u64;
    // A fixed linear congruential stream of token ids.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let sequences: Vec<Sequence> = (0..batch)
        .map(|_| {
            let ids = (0..seq)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    ((state >> 33) % vocab) as u32
                })
                .collect();
            Sequence {
                ids,
                learn: vec![true; seq],
            }
        })
        .collect();
    let packed = vec![Packed::new(&sequences)];
    let trained = model.trained(&tuning);
    let mut optimizer = AdamW::new(AdamWConfig::default(), &trained);
    let mut grads = Grads::new(trained.iter().map(|(_, t)| t));
    let mut times = Vec::new();
    let mut loss = 0.0;
    // One untimed warm-up step, then the timed ones.
    for step in 0..=steps {
        let started = Instant::now();
        grads.clear();
        let out =
            sft_step(&model, &packed, &mut grads, step as u64).unwrap_or_else(|e| panic!("{e}"));
        let norm = grad_norm(&trained, &grads).unwrap_or_else(|e| panic!("{e}"));
        optimizer
            .step(&trained, &grads, 1e-5, clip_scale(norm, 1.0))
            .unwrap_or_else(|e| panic!("{e}"));
        if step > 0 {
            times.push(started.elapsed().as_secs_f64());
        }
        loss = out.loss;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "engine": "candle (r2l)",
            "mode": args[2],
            "batch": batch,
            "seq": seq,
            "threads": rayon_threads(),
            "s_per_step": median,
            "steps_s": times,
            "tokens_per_s": (batch * seq) as f64 / median,
            "peak_rss_mb": peak_rss_mb(),
            "loss": loss,
        })
    );
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
