#!/usr/bin/env bash
# Where does `r2l serve` spend a decode step (and a prefill)? Starts the server on the converted
# default model (ISQ q8_0, RAYON_NUM_THREADS=2), then samples it with `perf record` while it
# answers one request and prints the hottest symbols (self time, all threads).
#
#   bash benchmarks/serve/profile.sh decode    # 8-token prompt, 256 generated tokens
#   bash benchmarks/serve/profile.sh prefill   # ~1,000-token prompt, 1 generated token
#
# Environment: R2L_HOME (default ~/.cache/r2l), R2L_BIN (default
# ${CARGO_TARGET_DIR:-$R2L_HOME/target}/release/r2l; the release profile keeps debug info, so
# symbols resolve), MODEL (default $R2L_HOME/models/SmolLM2-135M-Instruct), ISQ (q8_0), TOP (25).
set -euo pipefail

mode=${1:-decode}
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
R2L_BIN=${R2L_BIN:-${CARGO_TARGET_DIR:-$R2L_HOME/target}/release/r2l}
MODEL=${MODEL:-$R2L_HOME/models/SmolLM2-135M-Instruct}
ISQ=${ISQ:-q8_0}
TOP=${TOP:-25}
command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 1; }
[ -x "$R2L_BIN" ] || { echo "profile.sh: no r2l binary at $R2L_BIN" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RAYON_NUM_THREADS=2 "$R2L_BIN" serve --model "$MODEL" --isq "$ISQ" --port "$port" \
  --timeout 3600 >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do
  kill -0 $server 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done

model=$(curl -sf "http://127.0.0.1:$port/v1/models" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
case $mode in
  decode) body="{\"model\": \"$model\", \"prompt\": \"Once upon a time, in a small village,\", \"max_tokens\": 256, \"temperature\": 0}" ;;
  prefill)
    words=$(python3 -c 'print(" ".join(["the lighthouse keeper climbed the stairs"] * 160))')
    body="{\"model\": \"$model\", \"prompt\": \"$words\", \"max_tokens\": 1, \"temperature\": 0}" ;;
  *) echo "profile.sh: mode is decode or prefill, not $mode" >&2; exit 2 ;;
esac
# warm-up, so the profile holds no one-time work
curl -sf -o /dev/null "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' \
  -d "{\"model\": \"$model\", \"prompt\": \"Hello\", \"max_tokens\": 4, \"temperature\": 0}"

perf record -F 999 -g -p $server -o "$work/perf.data" 2>"$work/perf.log" &
perf_pid=$!
sleep 1
start=$(date +%s.%N)
curl -sf "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' -d "$body" \
  >"$work/response.json"
end=$(date +%s.%N)
kill -INT $perf_pid
wait $perf_pid 2>/dev/null || true
python3 - "$work/response.json" "$start" "$end" <<'PY'
import json, sys
usage = json.load(open(sys.argv[1]))["usage"]
seconds = float(sys.argv[3]) - float(sys.argv[2])
print(f"request: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} generated tokens in {seconds:.2f} s")
PY
perf report -i "$work/perf.data" --no-children --sort symbol --percent-limit 0.5 --stdio 2>/dev/null \
  | grep -E '^ +[0-9]' | head -n "$TOP"
# The hot closures are all named `call_mut`; the source lines of the three hottest tell them apart
# (k_quants.rs / avx.rs: candle's quantized matmul; attention/backends/cpu.rs: mistral.rs's attention).
echo "source lines of the three hottest symbols:"
perf annotate -i "$work/perf.data" --stdio -l 2>/dev/null \
  | awk '/^Sorted summary/ {n++; shown=0; if (n > 3) exit; print "  symbol " n ":"; next}
         n >= 1 && /^ +[0-9.]+ [^ ]+:[0-9]+$/ && shown < 6 {print "   " $0; shown++}'
