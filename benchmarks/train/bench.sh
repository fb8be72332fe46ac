#!/usr/bin/env bash
# Trainer benchmark: one SFT step (batch 4 x 256 tokens) of SmolLM2-135M, r2l's candle trainer
# (`train_step`) against PyTorch-CPU + transformers (+ peft) on the same token ids, full
# fine-tuning and LoRA (r16, alpha 32, every projection), the same thread count for both. One
# process at a time (each takes GBs). Prints one JSON line per run, then a table with the ratio
# r2l/PyTorch of seconds per step (< 1 means r2l is faster).
#
#   bash benchmarks/train/bench.sh            # THREADS=1 and 2, MODES="full lora", STEPS=3
#   THREADS=1 MODES=lora bash benchmarks/train/bench.sh
#
# Environment: R2L_HOME (default ~/.cache/r2l), MODEL (default the converted default model),
# CARGO_TARGET_DIR (where `cargo build --release --workspace --bins` put train_step), THREADS,
# MODES, STEPS, BATCH, SEQ. The PyTorch venv comes from venv.sh (several GB, made once).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
MODEL=${MODEL:-$R2L_HOME/models/SmolLM2-135M-Instruct}
THREADS=${THREADS:-"1 2"}
MODES=${MODES:-"full lora"}
STEPS=${STEPS:-3}
BATCH=${BATCH:-4}
SEQ=${SEQ:-256}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# --workspace: the same feature set as the test build, so nothing heavy recompiles
(cd "$ROOT" && cargo build --release --quiet --workspace --bins)
PYTHON=$(bash "$HERE/venv.sh")
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "load before: $(uptime)" >&2
for t in $THREADS; do
  for mode in $MODES; do
    RAYON_NUM_THREADS=$t "$TARGET/release/train_step" "$MODEL" "$mode" "$BATCH" "$SEQ" "$STEPS" | tee -a "$OUT"
    OMP_NUM_THREADS=$t "$PYTHON" "$HERE/torch_step.py" "$MODEL" "$mode" "$t" "$BATCH" "$SEQ" "$STEPS" | tee -a "$OUT"
  done
done
echo "load after: $(uptime)" >&2
python3 - "$OUT" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'mode':5} {'threads':>7} {'r2l s/step':>10} {'torch s/step':>12} {'ratio':>6} {'r2l tok/s':>9} {'torch tok/s':>11} {'r2l RSS MB':>10} {'torch RSS MB':>12}")
for r2l, torch in zip(runs[0::2], runs[1::2]):
    print(f"{r2l['mode']:5} {r2l['threads']:>7} {r2l['s_per_step']:>10.2f} {torch['s_per_step']:>12.2f} "
          f"{r2l['s_per_step'] / torch['s_per_step']:>6.2f} {r2l['tokens_per_s']:>9.0f} {torch['tokens_per_s']:>11.0f} "
          f"{r2l['peak_rss_mb']:>10.0f} {torch['peak_rss_mb']:>12.0f}")
PY
