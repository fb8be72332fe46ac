#!/usr/bin/env bash
# lm-eval (EleutherAI's harness, `local-completions`, unchanged) against `r2l serve`: a local-file
# multiple-choice task of N ARC-Challenge test questions scored by log-likelihood, then `r2l eval
# --task arc-challenge-ll` on the same questions through the same server; prints both runs'
# acc/acc_norm and the largest per-choice log-likelihood difference, and exits 1 when they differ
# by more than TOLERANCE.
#
#   bash benchmarks/ecosystem/lm_eval_loglik.sh          # N=50
#
# lm-eval runs in its own venv ($R2L_HOME/venv-lm-eval, `lm_eval[api]`, no torch; made once) with
# the server's own tokenizer (`tokenizer_backend=remote`: `/tokenizer_info`, `/tokenize`,
# `/detokenize`), so it tokenizes context and continuation separately, as it does for any model,
# and sends token ids with `echo`, `max_tokens: 1`, `logprobs: 1`. r2l sends text and splits at
# the context's byte offset. Environment: R2L_HOME, CARGO_TARGET_DIR, R2L_DATA_DIR, N, PORT,
# TOLERANCE (default 1e-3 nats).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
N=${N:-50}
PORT=${PORT:-8437}
TOLERANCE=${TOLERANCE:-1e-3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
R2L=$TARGET/release/r2l
DATA=${R2L_DATA_DIR:-$ROOT/../shared/data}
VENV=$R2L_HOME/venv-lm-eval
MODEL=smollm2-135m-instruct

source "$HERE/common.sh"
(cd "$ROOT" && cargo build --release --quiet -p r2l)
lm_eval_venv "$VENV"
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
start_serve "$R2L" "$PORT" "$WORK/serve.log"

# r2l first: its seeded selection picks the questions.
"$R2L" eval --task arc-challenge-ll --endpoint "http://127.0.0.1:$PORT/v1" --model "$MODEL" \
  --limit "$N" --no-cache --no-progress --data-dir "$DATA" --out "$WORK/r2l" >"$WORK/r2l.json"
R2L_SAMPLES=$(ls "$WORK"/r2l/arc-challenge-ll/*/*/samples.jsonl)

# The same questions as a local file, and an lm-eval task over it with lm-eval's ARC prompt.
python3 - "$R2L_SAMPLES" "$DATA/arc-challenge/test.jsonl" "$WORK/questions.jsonl" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
rows = {r["id"]: r for r in map(json.loads, open(sys.argv[2]))}
with open(sys.argv[3], "w") as out:
    for i in ids:
        r = rows[i]
        labels = r["choices"]["label"]
        out.write(json.dumps({"id": i, "question": r["question"], "choices": r["choices"]["text"],
                              "label": labels.index(r["answerKey"])}) + "\n")
PY
mkdir -p "$WORK/tasks"
cat >"$WORK/tasks/r2l_arc_local.yaml" <<YAML
task: r2l_arc_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: $WORK/questions.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\nAnswer:"
doc_to_choice: choices
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
  - metric: acc_norm
YAML
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$VENV/bin/lm_eval" --model local-completions \
  --model_args "model=$MODEL,base_url=http://127.0.0.1:$PORT/v1/completions,tokenizer_backend=remote,num_concurrent=1,max_retries=3" \
  --tasks r2l_arc_local --include_path "$WORK/tasks" --batch_size 1 --log_samples \
  --output_path "$WORK/lm_eval" >"$WORK/lm_eval.log" 2>&1 || { tail -30 "$WORK/lm_eval.log" >&2; exit 1; }

python3 - "$R2L_SAMPLES" "$WORK/r2l.json" "$WORK/lm_eval" "$TOLERANCE" <<'PY'
import glob, json, sys
r2l = {d["id"]: d for d in map(json.loads, open(sys.argv[1]))}
r2l_run = json.loads(open(sys.argv[2]).read())
samples = glob.glob(sys.argv[3] + "/**/samples_r2l_arc_local_*.jsonl", recursive=True)[0]
results = json.load(open(glob.glob(sys.argv[3] + "/**/results_*.json", recursive=True)[0]))
worst, n, same_pick = 0.0, 0, 0
for doc in map(json.loads, open(samples)):
    ours = r2l[doc["doc"]["id"]]["loglikelihoods"]
    theirs = [float(resp[0]) for resp in doc["filtered_resps"]]
    worst = max(worst, max(abs(a - b) for a, b in zip(ours, theirs)))
    same_pick += max(range(len(ours)), key=ours.__getitem__) == max(range(len(theirs)), key=theirs.__getitem__)
    n += 1
lm = results["results"]["r2l_arc_local"]
print(f"questions: {n}; r2l acc {r2l_run['metrics']['acc']['value']:.3f} acc_norm "
      f"{r2l_run['metrics']['acc_norm']['value']:.3f}; lm-eval acc {lm['acc,none']:.3f} "
      f"acc_norm {lm['acc_norm,none']:.3f}")
print(f"max |r2l - lm-eval| per-choice log-likelihood: {worst:.2e} nats; same pick on {same_pick}/{n}")
sys.exit(0 if worst <= float(sys.argv[4]) else 1)
PY
