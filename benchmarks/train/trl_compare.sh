#!/usr/bin/env bash
# PRM and GRPO step time: `r2l train prm|grpo` (candle, f32) against TRL's PRMTrainer and
# GRPOTrainer (PyTorch CPU, f32) on the same model, data and settings, every weight trained, the
# same thread count, one process at a time. Prints one JSON line per run, then a table with the
# ratio r2l/TRL (< 1 means r2l is faster).
#
#   bash benchmarks/train/trl_compare.sh          # THREADS=2, MODES="prm grpo"
#   MODES=grpo GROUP=4 STEPS=3 bash benchmarks/train/trl_compare.sh
#
# PRM: one epoch over the mixed rows of STEPWISE (default: the committed R2L offline run's
# stepwise.jsonl), batch PRM_BATCH (2); r2l without its contrastive term (TRL has none).
# GRPO: STEPS (4) GSM8K train questions, one per step, GROUP (8) answers of at most MAX_NEW (256)
# tokens at temperature 0.5, the verifiable reward only. Generation lengths differ between the
# engines (sampling), so the table also gives seconds per 1,000 answer tokens.
#
# Environment: R2L_HOME, MODEL (default the converted default model), CARGO_TARGET_DIR,
# R2L_DATA_DIR, THREADS, MODES, STEPWISE, PRM_BATCH, GROUP, STEPS, MAX_NEW. The PyTorch + TRL
# venv comes from venv.sh (several GB, made once).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
MODEL=${MODEL:-$R2L_HOME/models/SmolLM2-135M-Instruct}
THREADS=${THREADS:-2}
MODES=${MODES:-"prm grpo"}
STEPWISE=${STEPWISE:-$ROOT/results/distill-offline/uit-visfd-r2l/stepwise.jsonl}
PRM_BATCH=${PRM_BATCH:-2}
GROUP=${GROUP:-8}
STEPS=${STEPS:-4}
MAX_NEW=${MAX_NEW:-256}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
R2L=$TARGET/release/r2l

(cd "$ROOT" && cargo build --release --quiet --workspace --bins)
PYTHON=$(bash "$HERE/venv.sh")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/results.jsonl
echo "load before: $(uptime)" >&2

# The r2l run's train_log.jsonl as the JSON line trl_step.py prints.
r2l_result() {
  "$PYTHON" - "$1" "$2" "$THREADS" <<'PY'
import json, statistics, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
seconds = [s["step_s"] for s in steps]
result = {"engine": "r2l", "mode": sys.argv[2], "threads": int(sys.argv[3]), "seconds": seconds,
          "median_s_per_step": statistics.median(seconds[1:] or seconds)}
if sys.argv[2] == "grpo":
    result["completion_tokens"] = [s["answer_tokens"] for s in steps]
print(json.dumps(result))
PY
}

for mode in $MODES; do
  case $mode in
    prm)
      rows=$("$PYTHON" -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(sum(1 for r in rows if any(r['labels']) and not all(r['labels'])))" "$STEPWISE")
      steps=$(( (rows + PRM_BATCH - 1) / PRM_BATCH ))
      RAYON_NUM_THREADS=$THREADS "$R2L" train prm --data "$STEPWISE" --base "$MODEL" --full \
        --contrastive 0 --batch "$PRM_BATCH" --max-steps "$steps" --out "$WORK/prm" --no-progress >&2
      r2l_result "$WORK/prm/train_log.jsonl" prm | tee -a "$OUT"
      OMP_NUM_THREADS=$THREADS "$PYTHON" "$HERE/trl_step.py" prm "$MODEL" "$THREADS" "$STEPWISE" \
        "$PRM_BATCH" "$steps" 2>"$WORK/trl-prm.log" | tee -a "$OUT" || { tail -20 "$WORK/trl-prm.log" >&2; exit 1; }
      ;;
    grpo)
      RAYON_NUM_THREADS=$THREADS "$R2L" train grpo --task gsm8k --split train --limit "$STEPS" \
        --max-steps "$STEPS" --batch 1 --group "$GROUP" --max-new-tokens "$MAX_NEW" --full \
        --verifiable-only --policy "$MODEL" --out "$WORK/grpo" --no-progress >&2
      r2l_result "$WORK/grpo/train_log.jsonl" grpo | tee -a "$OUT"
      "$R2L" data sft --task gsm8k --split train --limit "$STEPS" --out "$WORK/prompts.jsonl" >&2
      OMP_NUM_THREADS=$THREADS "$PYTHON" "$HERE/trl_step.py" grpo "$MODEL" "$THREADS" "$WORK/prompts.jsonl" \
        "$GROUP" "$STEPS" "$MAX_NEW" 2>"$WORK/trl-grpo.log" | tee -a "$OUT" || { tail -20 "$WORK/trl-grpo.log" >&2; exit 1; }
      ;;
    *) echo "trl_compare.sh: unknown mode $mode (prm or grpo)" >&2; exit 2 ;;
  esac
done
echo "load after: $(uptime)" >&2

python3 - "$OUT" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'mode':5} {'threads':>7} {'r2l s/step':>10} {'TRL s/step':>10} {'ratio':>6} {'r2l s total':>11} {'TRL s total':>11} {'r2l s/1k tok':>12} {'TRL s/1k tok':>12}")
for r2l, trl in zip(runs[0::2], runs[1::2]):
    per_k = lambda r: (f"{1000 * sum(r['seconds']) / sum(r['completion_tokens']):>12.1f}"
                       if r.get("completion_tokens") else f"{'–':>12}")
    print(f"{r2l['mode']:5} {r2l['threads']:>7} {r2l['median_s_per_step']:>10.2f} {trl['median_s_per_step']:>10.2f} "
          f"{r2l['median_s_per_step'] / trl['median_s_per_step']:>6.2f} {sum(r2l['seconds']):>11.1f} "
          f"{sum(trl['seconds']):>11.1f} {per_k(r2l)} {per_k(trl)}")
PY
