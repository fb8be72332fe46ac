//! The trainer's view of a checkpoint, for the transformers check (`benchmarks/train/check.sh`):
//! renders one user question with the checkpoint's chat template, runs the student's forward
//! pass and its greedy decoding, and writes `PREFIX.json` (token ids, greedy ids and text, the
//! logits' shape) and `PREFIX.f32` (the logits of every prompt position, little-endian f32,
//! row-major `[positions, vocab]`).
//!
//! `student_logits CHECKPOINT_DIR PREFIX "question" [max new tokens]`

use checkpoint::Turn;
use distill::student::{generate_greedy, Base, KvCache, Llama};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: student_logits CHECKPOINT_DIR PREFIX \"question\" [max new tokens]");
        std::process::exit(2);
    }
    let dir = std::path::Path::new(&args[1]);
    let prefix = &args[2];
    let max_new: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(32);
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    let base = Base::open(dir).unwrap_or_else(|e| fail(&e));
    let Some(template) = base.template.as_ref() else {
        fail(&"the checkpoint has no chat template")
    };
    let text = template
        .render(
            &[Turn {
                role: "user",
                content: &args[3],
            }],
            true,
        )
        .unwrap_or_else(|e| fail(&e));
    let ids = base
        .tokenizer
        .encode(&text)
        .unwrap_or_else(|e| fail(&e))
        .ids;
    let (model, _) = Llama::load(dir, None, 0).unwrap_or_else(|e| fail(&e));
    let logits = model
        .forward(&ids, &mut KvCache::new())
        .and_then(|l| l.to_vec2::<f32>())
        .unwrap_or_else(|e| fail(&e));
    let greedy =
        generate_greedy(&model, &ids, max_new, &base.stop_ids()).unwrap_or_else(|e| fail(&e));
    let greedy_text = base
        .tokenizer
        .decode(&greedy, true)
        .unwrap_or_else(|e| fail(&e));
    let bytes: Vec<u8> = logits
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(format!("{prefix}.f32"), bytes).unwrap_or_else(|e| fail(&e));
    let summary = serde_json::json!({
        "prompt": text,
        "ids": ids,
        "positions": logits.len(),
        "vocab": logits.first().map_or(0, Vec::len),
        "greedy_ids": greedy,
        "greedy_text": greedy_text,
        "stop_ids": base.stop_ids(),
    });
    std::fs::write(format!("{prefix}.json"), summary.to_string()).unwrap_or_else(|e| fail(&e));
    println!("{summary}");
}
