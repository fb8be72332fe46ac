#!/usr/bin/env bash
# The transformers check of a trained student: trains one with `r2l train sft` (LoRA, a few
# steps on a small hand-written SFT file, unless CHECKPOINT names one), writes the trainer's
# logits and greedy answer (`student_logits`), asks `r2l serve --isq none` the same question,
# then loads the checkpoint with AutoModelForCausalLM.from_pretrained and compares: logits within
# 1e-4, greedy tokens equal to the trainer's, answer equal to r2l serve's. Offline, not in CI.
#
#   bash benchmarks/train/check.sh
#   CHECKPOINT=/path/to/student bash benchmarks/train/check.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
QUESTION=${QUESTION:-"Is the review 'The room was clean and the staff were kind.' positive or negative?"}
WORK=$(mktemp -d)
trap 'kill "${SERVER:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# --workspace: the same feature set as the test build, so nothing heavy recompiles
(cd "$ROOT" && cargo build --release --quiet --workspace --bins)
R2L="$TARGET/release/r2l"
PYTHON=$(bash "$HERE/venv.sh")
if [ -z "${CHECKPOINT:-}" ]; then
  CHECKPOINT=$WORK/student
  python3 - "$WORK/sft.jsonl" <<'PY'
import json, sys
reviews = [("The room was spotless and the staff were kind.", "positive"),
           ("Cold food and a slow waiter.", "negative"),
           ("The price is high but the view is lovely.", "neutral"),
           ("Fast delivery, careful packaging.", "positive")]
with open(sys.argv[1], "w") as f:
    for i, (review, label) in enumerate(reviews):
        f.write(json.dumps({"messages": [
            {"role": "system", "content": "Label the sentiment of the review."},
            {"role": "user", "content": review},
            {"role": "assistant", "content": f"The sentiment is {label}."}], "id": str(i)}) + "\n")
PY
  "$R2L" train sft --data "$WORK/sft.jsonl" --base default --out "$CHECKPOINT" --max-steps 4 --batch 2 --lr 1e-3 --no-progress
fi
"$TARGET/release/student_logits" "$CHECKPOINT" "$WORK/trainer" "$QUESTION" 32 >/dev/null

"$R2L" serve --model "$CHECKPOINT" --isq none --port 0 2> "$WORK/serve.log" &
SERVER=$!
for _ in $(seq 600); do
  BASE=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORK/serve.log" | head -1)
  if [ -n "$BASE" ] && curl -sf "$BASE/ready" >/dev/null; then break; fi
  sleep 0.5
done
[ -n "${BASE:-}" ] || { cat "$WORK/serve.log" >&2; exit 1; }
MODEL_ID=$(basename "$CHECKPOINT")
python3 - "$BASE" "$MODEL_ID" "$QUESTION" "$WORK/served.txt" <<'PY'
import json, sys, urllib.request
base, model, question, out = sys.argv[1:5]
body = json.dumps({"model": model, "messages": [{"role": "user", "content": question}],
                   "temperature": 0, "max_tokens": 32}).encode()
request = urllib.request.Request(base + "/v1/chat/completions", body, {"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request))["choices"][0]["message"]["content"]
open(out, "w", encoding="utf-8").write(answer)
PY
kill "$SERVER"; SERVER=
"$PYTHON" "$HERE/check_transformers.py" "$CHECKPOINT" "$WORK/trainer" "$WORK/served.txt"
