#!/usr/bin/env bash
# Ecosystem check: EleutherAI lm-eval's `local-chat-completions` model against `r2l serve`,
# offline, on a local-JSONL task that uses r2l's own GSM8K prompt. It checks that
#   1. lm-eval runs unchanged against r2l serve, and its outputs are byte-identical to what
#      `r2l eval` gets for the same questions;
#   2. stop sequences are cut the way OpenAI cuts them (the text ends before the stop string):
#      a second task stops at "\n\n" and no output may contain it.
# Not part of CI (it installs lm-eval and generates 2 × N answers with the default model).
#
# usage: bash benchmarks/ecosystem/lm_eval.sh [N=10]
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${1:-10}"
R2L_HOME="${R2L_HOME:-$HOME/.cache/r2l}"
DATA="${R2L_DATA_DIR:-../shared/data}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/r2l-lm-eval.XXXXXX")"
VENV="$R2L_HOME/venv-lm-eval"
PORT="${PORT:-8091}"
MODEL=smollm2-135m-instruct
say() { printf 'lm-eval check: %s\n' "$*" >&2; }
die() { printf 'lm-eval check: error: %s\n' "$*" >&2; exit 1; }

[ -f "$DATA/gsm8k/test.jsonl" ] || die "$DATA/gsm8k/test.jsonl not found (set R2L_DATA_DIR)"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
lm_eval_venv "$VENV"
cargo build --release --quiet --workspace --bins
R2L="${CARGO_TARGET_DIR:-target}/release/r2l"

say "starting r2l serve on 127.0.0.1:$PORT"
SERVER=
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
start_serve "$R2L" "$PORT" "$WORK/serve.log" || die "r2l serve did not start"

say "r2l eval on $N GSM8K test questions"
"$R2L" eval --task gsm8k --endpoint "http://127.0.0.1:$PORT/v1" --model "$MODEL" --limit "$N" \
  --concurrency 1 --out "$WORK/runs" --run-id r2l --no-cache --no-progress --data-dir "$DATA" > /dev/null
SAMPLES="$WORK/runs/gsm8k/$MODEL/r2l/samples.jsonl"

# The same questions, in the same order, as lm-eval documents (GSM8K ids are row indices).
"$VENV/bin/python" - "$SAMPLES" "$DATA/gsm8k/test.jsonl" "$WORK/docs.jsonl" <<'PY'
import json, sys
samples, test, out = sys.argv[1:]
rows = [json.loads(line) for line in open(test, encoding="utf-8")]
ids = [json.loads(line)["id"] for line in open(samples, encoding="utf-8")]
with open(out, "w", encoding="utf-8") as f:
    for i in ids:
        f.write(json.dumps({"id": i, "question": rows[int(i)]["question"], "answer": rows[int(i)]["answer"]}) + "\n")
PY

mkdir -p "$WORK/tasks"
for variant in plain stop; do
  until_line='until: []'
  [ "$variant" = stop ] && until_line='until: ["\n\n"]'
  cat > "$WORK/tasks/r2l_gsm8k_$variant.yaml" <<YAML
task: r2l_gsm8k_$variant
dataset_path: json
dataset_kwargs:
  data_files:
    test: $WORK/docs.jsonl
test_split: test
output_type: generate_until
doc_to_text: "{{question}}\n\nSolve the problem step by step. End with a last line of the form: Answer: <number>"
doc_to_target: "{{answer.split('#### ')[-1]}}"
generation_kwargs:
  $until_line
  max_gen_toks: 384
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
YAML
done

say "lm-eval local-chat-completions against r2l serve (plain and with stop [\"\\n\\n\"])"
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$VENV/bin/lm_eval" --model local-chat-completions \
  --model_args "model=$MODEL,base_url=http://127.0.0.1:$PORT/v1/chat/completions,num_concurrent=1,max_retries=1,tokenized_requests=False,tokenizer_backend=None" \
  --tasks r2l_gsm8k_plain,r2l_gsm8k_stop --include_path "$WORK/tasks" --apply_chat_template \
  --system_instruction "You solve math word problems step by step." \
  --log_samples --output_path "$WORK/lm-eval" > "$WORK/lm-eval.log" 2>&1 \
  || die "lm_eval failed: $(tail -20 "$WORK/lm-eval.log")"

"$VENV/bin/python" - "$SAMPLES" "$WORK/lm-eval" <<'PY'
import glob, json, sys
samples, out = sys.argv[1:]
r2l = [json.loads(line)["output"] for line in open(samples, encoding="utf-8")]
def outputs(task):
    [path] = glob.glob(f"{out}/**/samples_{task}_*.jsonl", recursive=True)
    rows = sorted((json.loads(l) for l in open(path, encoding="utf-8")), key=lambda r: r["doc_id"])
    return [r["resps"][0][0] for r in rows]
plain, stopped = outputs("r2l_gsm8k_plain"), outputs("r2l_gsm8k_stop")
identical = sum(a == b for a, b in zip(plain, r2l))
leaked = [s for s in stopped if "\n\n" in s]
prefixes = sum(p.startswith(s) for p, s in zip(plain, stopped))
print(json.dumps({"questions": len(r2l), "identical_to_r2l_eval": identical,
                  "stop_outputs_containing_the_stop_string": len(leaked),
                  "stop_outputs_that_are_prefixes_of_the_plain_output": prefixes}))
sys.exit(0 if identical == len(r2l) and not leaked and prefixes == len(r2l) else 1)
PY
say "passed; work files in $WORK"
