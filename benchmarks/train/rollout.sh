#!/usr/bin/env bash
# RL rollout benchmark: the tokens per second of the GRPO trainer's candle sampler (f32, KV
# cache, one answer at a time, the prompt prefilled for every answer) against `r2l serve` on
# the same checkpoint answering the same chat prompts with the same sampling (temperature 0.5,
# at most 256 new tokens, 8 answers per question, one request at a time). Serve runs twice: on
# the unquantized weights (`--isq none`) and as `r2l reproduce` serves students (q8_0). One
# process at a time. Prints one JSON line per engine, then the ratios sampler / serve (> 1 means
# the sampler is faster).
#
#   bash benchmarks/train/rollout.sh                  # 4 GSM8K train questions x 8 answers
#   QUESTIONS=2 GROUP=4 bash benchmarks/train/rollout.sh
#
# Environment: R2L_HOME (default ~/.cache/r2l), MODEL (default the converted default model),
# CARGO_TARGET_DIR, R2L_DATA_DIR (the datasets), QUESTIONS (4), GROUP (8), MAX_NEW (256), THREADS
# (2). The Python client is the setup venv's (`openai`).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
MODEL=${MODEL:-$R2L_HOME/models/SmolLM2-135M-Instruct}
QUESTIONS=${QUESTIONS:-4}
GROUP=${GROUP:-8}
MAX_NEW=${MAX_NEW:-256}
THREADS=${THREADS:-2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
R2L=$TARGET/release/r2l
PYTHON=${PYTHON:-$R2L_HOME/venv/bin/python}
export RAYON_NUM_THREADS=$THREADS

die() { echo "rollout.sh: $*" >&2; exit 1; }
[ -f "$MODEL/model.safetensors" ] || die "$MODEL has no model.safetensors (run the setup step)"
"$PYTHON" -c 'import openai' 2>/dev/null || die "$PYTHON has no openai (run the setup step)"
(cd "$ROOT" && cargo build --release --quiet --workspace --bins)

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
echo "load before: $(uptime)" >&2

# 1. The sampler inside the trainer: the GRPO steps' own rollout time (training excluded). The
#    learning rate is the default; the answers of step k are drawn before step k's update.
"$R2L" train grpo --task gsm8k --split train --limit "$QUESTIONS" --max-steps "$QUESTIONS" \
  --batch 1 --group "$GROUP" --max-new-tokens "$MAX_NEW" --temperature 0.5 --verifiable-only \
  --policy "$MODEL" --out "$WORK/grpo" --no-progress >&2
"$PYTHON" - "$WORK/grpo/train_log.jsonl" "$THREADS" <<'PY' | tee "$WORK/results.jsonl"
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
tokens = sum(s["answer_tokens"] for s in steps)
seconds = sum(s["rollout_s"] for s in steps)
print(json.dumps({"engine": "candle-sampler", "threads": int(sys.argv[2]), "answers": sum(s["answers"] for s in steps),
                  "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}))
PY

# 2. The same chat prompts (the task's messages of the same questions) through r2l serve.
"$R2L" data sft --task gsm8k --split train --limit "$QUESTIONS" --out "$WORK/prompts.jsonl" >&2
for isq in none q8_0; do
  port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$R2L" serve --model "$MODEL" --isq "$isq" --port "$port" >"$WORK/serve-$isq.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "r2l serve exited: $(tail -5 "$WORK/serve-$isq.log")"
    sleep 1
  done
  "$PYTHON" "$HERE/rollout_client.py" "http://127.0.0.1:$port/v1" "$WORK/prompts.jsonl" \
    "$GROUP" "$MAX_NEW" "serve-isq-$isq" "$THREADS" | tee -a "$WORK/results.jsonl"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
done
echo "load after: $(uptime)" >&2

"$PYTHON" - "$WORK/results.jsonl" <<'PY'
import json, sys
runs = {r["engine"]: r for r in map(json.loads, open(sys.argv[1]))}
sampler = runs["candle-sampler"]
print(f"{'engine':16} {'answers':>7} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'sampler/engine':>14}")
for name, r in runs.items():
    print(f"{name:16} {r['answers']:>7} {r['tokens']:>7} {r['seconds']:>8.1f} {r['tokens_per_s']:>7.1f} "
          f"{sampler['tokens_per_s'] / r['tokens_per_s']:>14.2f}")
PY
