#!/usr/bin/env bash
# `r2l train sft --backend trl` end to end on this CPU: STEPS (4) optimizer steps of TRL's own
# `trl sft` (in the PyTorch + TRL venv of venv.sh) on the committed R2L quick sft.jsonl, the
# merged student served by `r2l serve` and evaluated by `r2l eval` over HTTP; then the same steps
# with `--backend candle` from the same base. Prints both loss curves side by side (the same
# records in every step: batch BATCH (4) = the file's 4 records) and the eval line. Last,
# `r2l reproduce r2l --quick --config` with `[sft]` and `[dpo]` on `backend = "trl"` runs the whole
# loop at tiny size (2 eval samples, 2 distilled, 2 steps per training): every training of the
# table goes through TRL, the students are served, evaluated and compared; the same command again
# must skip every step. Exits 0 when every step ran.
#
#   bash benchmarks/train/trl_backend.sh
#   STEPS=8 LIMIT=8 bash benchmarks/train/trl_backend.sh
#
# Environment: R2L_HOME, CARGO_TARGET_DIR, R2L_DATA_DIR, STEPS, BATCH, LIMIT (eval samples, 4),
# PORT (18471), WORK (a temporary directory).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
R2L=$TARGET/release/r2l
STEPS=${STEPS:-4}
BATCH=${BATCH:-4}
LIMIT=${LIMIT:-4}
PORT=${PORT:-18471}
DATA=$ROOT/results/reproduce/r2l-quick/distill/sft.jsonl
WORK=${WORK:-$(mktemp -d)}

mkdir -p "$WORK"
PYTHON=$(bash "$HERE/venv.sh")
(cd "$ROOT" && cargo build --release --quiet -p r2l)

echo "== r2l train sft --backend trl ($STEPS steps, batch $BATCH)" >&2
"$R2L" train sft --backend trl --python "$PYTHON" --data "$DATA" --out "$WORK/trl" \
  --max-steps "$STEPS" --batch "$BATCH" --no-progress 2>"$WORK/trl.log" | tee "$WORK/trl.json"
echo "== r2l train sft --backend candle ($STEPS steps, batch $BATCH)" >&2
"$R2L" train sft --data "$DATA" --out "$WORK/candle" --max-steps "$STEPS" --batch "$BATCH" \
  --no-progress 2>"$WORK/candle.log" | tee "$WORK/candle.json"

echo "== loss per step (trl, candle)"
python3 - "$WORK/trl/train_log.jsonl" "$WORK/candle/train_log.jsonl" <<'PY'
import json, sys
def losses(path):
    return {r["step"]: r for r in map(json.loads, open(path)) if "step" in r and "loss" in r}
trl, candle = losses(sys.argv[1]), losses(sys.argv[2])
print("step  trl_loss  candle_loss  trl_lr      candle_lr")
for step in sorted(set(trl) | set(candle)):
    t, c = trl.get(step, {}), candle.get(step, {})
    print(f"{step:>4}  {t.get('loss', float('nan')):>8.4f}  {c.get('loss', float('nan')):>11.4f}  "
          f"{t.get('learning_rate', float('nan')):<10.3g}  {c.get('lr', float('nan')):<10.3g}")
first_t, first_c = trl[min(trl)]["loss"], candle[min(candle)]["loss"]
print(f"first-step loss: trl {first_t:.4f}, candle {first_c:.4f}, |diff| {abs(first_t - first_c):.4f}")
PY

echo "== the TRL student served by r2l serve and evaluated over HTTP ($LIMIT samples)"
"$R2L" serve --model "$WORK/trl" --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null || { tail -5 "$WORK/serve.log" >&2; exit 1; }
MODEL=$(curl -sf "http://127.0.0.1:$PORT/v1/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
"$R2L" eval --task uit-visfd --endpoint "http://127.0.0.1:$PORT/v1" --model "$MODEL" \
  --limit "$LIMIT" --out "$WORK/runs" --no-cache --no-progress
kill $SERVER 2>/dev/null || true

echo "== r2l reproduce r2l --quick with [sft] and [dpo] through TRL (tiny size)"
cat >"$WORK/reproduce.toml" <<TOML
[eval]
tasks = ["uit-visfd"]
limit = 2
[distill]
limit = 2
[sft]
backend = "trl"
python = "$PYTHON"
max_steps = 2
[dpo]
lora_rank = 16
epochs = 1
batch = 2
grad_accum = 1
seed = 0
backend = "trl"
python = "$PYTHON"
max_steps = 2
TOML
START=$(date +%s)
"$R2L" reproduce r2l --quick --config "$WORK/reproduce.toml" --out "$WORK/reproduce" \
  >"$WORK/reproduce.out" 2>"$WORK/reproduce.log" \
  || { tail -20 "$WORK/reproduce.log" >&2; exit 1; }
echo "first run: $(( $(date +%s) - START )) s"
python3 - "$WORK/reproduce" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
trainings = sorted(root.rglob("training.json"))
backends = {str(p.parent.relative_to(root)): json.load(open(p)).get("backend") for p in trainings}
for name, backend in backends.items():
    print(f"  {name}: backend {backend}")
if not backends or any(b != "trl" for b in backends.values()):
    sys.exit(f"a training did not go through TRL: {backends}")
PY
START=$(date +%s)
"$R2L" reproduce r2l --quick --config "$WORK/reproduce.toml" --out "$WORK/reproduce" \
  >"$WORK/reproduce2.out" 2>"$WORK/reproduce2.log" \
  || { tail -20 "$WORK/reproduce2.log" >&2; exit 1; }
echo "second run: $(( $(date +%s) - START )) s; $(grep -c 'unchanged since it finished' "$WORK/reproduce2.log" || true) steps skipped as unchanged"
echo "work directory: $WORK" >&2
