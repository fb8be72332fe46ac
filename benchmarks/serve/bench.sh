#!/usr/bin/env bash
# Inference benchmark: `r2l serve` vs llama.cpp (llama-cpp-python's OpenAI server) on the same
# model, quantization, prompt (~256 tokens) and thread count (2). For every model it starts one
# server at a time (never both: the benchmark machine has 2 cores), runs client.py against it
# (prefill tok/s, decode tok/s, 8-concurrent throughput; median of $RUNS runs) and prints a table
# with the ratio r2l/llama.cpp. See README.md beside this file.
#
#   bash benchmarks/serve/bench.sh                 # everything
#   ENGINES="llamaserver r2l" bash benchmarks/serve/bench.sh  # llama.cpp's own llama-server
#       (-np 8, continuous batching; build it first with build_llama_server.sh) instead of
#       llama-cpp-python's one-request-at-a-time server
#   ENGINES=llamacpp bash benchmarks/serve/bench.sh  # one engine only (results are kept, the
#                                                  # table combines whatever has been measured)
#   MODELS="135m-q4_1" RUNS=1 bash benchmarks/serve/bench.sh
#   bash benchmarks/serve/bench.sh table           # print the table of the saved results
#
# Models (MODELS, space-separated):
#   135m-q4_1  SmolLM2-135M-Instruct.Q4_1.gguf, served as is by both engines
#   135m-q8_0  r2l: the converted checkpoint dir + ISQ q8_0; llama.cpp: a Q8_0 GGUF written from it
#   1.5b-q8_0  random-weight 1.5B-shaped Llama (make_random_model.py): r2l: checkpoint dir +
#              ISQ q8_0; llama.cpp: Q8_0 GGUF of the same weights
#
# Environment: R2L_HOME (default ~/.cache/r2l), R2L_BIN (default
# ${CARGO_TARGET_DIR:-$R2L_HOME/target}/release/r2l), R2L_CONVERTED_DIR (converted SmolLM2 dir;
# default $R2L_HOME/models/SmolLM2-135M-Instruct, else made with `r2l convert`), ENGINES, MODELS,
# RUNS (3), THREADS (2), BENCH_DIR (default $R2L_HOME/bench-serve: pip log, models, results),
# RESULTS (default $BENCH_DIR/results: one JSON + server log per model and engine),
# R2L_SERVE_ARGS (extra `r2l serve` flags, e.g. "--max-seqs 8 --prefix-cache-mb 0").
#
# llama-cpp-python is built from source by pip into $R2L_HOME/venv-llamacpp, CPU only, with
# explicit AVX2/FMA/F16C/BMI2 (no AVX-512, no GPU, no BLAS): see LLAMA_CMAKE_ARGS below.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
BENCH_DIR=${BENCH_DIR:-$R2L_HOME/bench-serve}
VENV=$R2L_HOME/venv-llamacpp
R2L_BIN=${R2L_BIN:-${CARGO_TARGET_DIR:-$R2L_HOME/target}/release/r2l}
ENGINES=${ENGINES:-"llamacpp r2l"}
LLAMA_SERVER=${LLAMA_SERVER:-$R2L_HOME/llama-server/bin/llama-server}
LLAMA_SLOTS=${LLAMA_SLOTS:-8}
MODELS=${MODELS:-"135m-q4_1 135m-q8_0 1.5b-q8_0"}
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
READY_TIMEOUT=${READY_TIMEOUT:-900}
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
-DGGML_BLAS=OFF -DLLAMA_CURL=OFF"
GGUF_Q4=$R2L_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_DIR=$BENCH_DIR/models
RESULTS=${RESULTS:-$BENCH_DIR/results}

die() { echo "bench.sh: $*" >&2; exit 1; }
log() { echo "bench.sh: $*" >&2; }

setup_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "
import llama_cpp, numpy, gguf, fastapi, uvicorn, sse_starlette
assert llama_cpp.__version__ == '$LLAMA_CPP_PYTHON_VERSION'" 2>/dev/null; then
    return
  fi
  log "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION into $VENV (takes a while on 2 cores)"
  log "CMAKE_ARGS=$LLAMA_CMAKE_ARGS"
  mkdir -p "$BENCH_DIR"
  python3 -m venv "$VENV" || die "python3 -m venv failed (install python3-venv)"
  "$VENV/bin/pip" install -q --upgrade pip
  local start=$SECONDS
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    nice -n 10 "$VENV/bin/pip" install --no-binary llama-cpp-python --no-cache-dir -v \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" numpy gguf \
    >"$BENCH_DIR/pip-llama-cpp-python.log" 2>&1 \
    || die "pip install llama-cpp-python failed; see $BENCH_DIR/pip-llama-cpp-python.log"
  log "llama-cpp-python built and installed in $((SECONDS - start)) s"
}

have_r2l() { [ -x "$R2L_BIN" ]; }

converted_dir() {  # the SmolLM2-135M checkpoint dir that `r2l convert` makes from the GGUF
  local dir=${R2L_CONVERTED_DIR:-$R2L_HOME/models/SmolLM2-135M-Instruct}
  if [ -f "$dir/config.json" ] && [ -f "$dir/model.safetensors" ]; then echo "$dir"; return; fi
  dir=$MODEL_DIR/smollm2-135m
  if [ ! -f "$dir/model.safetensors" ]; then
    have_r2l || die "no converted SmolLM2 dir and no r2l binary at $R2L_BIN to make one (set R2L_CONVERTED_DIR or R2L_BIN)"
    log "r2l convert $GGUF_Q4 $dir"
    "$R2L_BIN" convert "$GGUF_Q4" "$dir" >&2 || die "r2l convert failed"
  fi
  echo "$dir"
}

prepare_models() {
  [ -f "$GGUF_Q4" ] || die "$GGUF_Q4 is missing: run \`bash scripts/setup.sh\` (or \`r2l setup\`) first"
  mkdir -p "$MODEL_DIR" "$RESULTS"
  local conv=""
  case " $MODELS " in *" 135m-q8_0 "*|*" 1.5b-q8_0 "*) conv=$(converted_dir) ;; esac
  if [[ " $MODELS " == *" 135m-q8_0 "* ]] && [ ! -f "$MODEL_DIR/smollm2-135m.Q8_0.gguf" ]; then
    nice -n 10 "$VENV/bin/python" "$HERE/make_random_model.py" from-dir "$conv" \
      --tokenizer-gguf "$GGUF_Q4" --out "$MODEL_DIR/smollm2-135m.Q8_0.gguf"
  fi
  if [[ " $MODELS " == *" 1.5b-q8_0 "* ]]; then
    nice -n 10 "$VENV/bin/python" "$HERE/make_random_model.py" random --tokenizer-dir "$conv" \
      --tokenizer-gguf "$GGUF_Q4" --out "$MODEL_DIR"
  fi
  CONVERTED=$conv
}

# model_for ENGINE MODEL -> "PATH ISQ" (ISQ is "-" for a GGUF served as is)
model_for() {
  case "$1:$2" in
    *:135m-q4_1) echo "$GGUF_Q4 -" ;;
    r2l:135m-q8_0) echo "$CONVERTED q8_0" ;;
    llamacpp:135m-q8_0|llamaserver:135m-q8_0) echo "$MODEL_DIR/smollm2-135m.Q8_0.gguf -" ;;
    r2l:1.5b-q8_0) echo "$MODEL_DIR/random-1.5b q8_0" ;;
    llamacpp:1.5b-q8_0|llamaserver:1.5b-q8_0) echo "$MODEL_DIR/random-1.5b.Q8_0.gguf -" ;;
    *) die "unknown model $2 (known: 135m-q4_1 135m-q8_0 1.5b-q8_0)" ;;
  esac
}

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    # a graceful shutdown waits for running generations: give it 10 s, then SIGKILL
    for _ in $(seq 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server ENGINE PATH ISQ PORT LOG; waits until the model is loaded
start_server() {
  local engine=$1 path=$2 isq=$3 port=$4 logf=$5 probe
  if [ "$engine" = r2l ]; then
    have_r2l || die "no r2l binary at $R2L_BIN (build it with cargo build --release, or set R2L_BIN)"
    local isq_arg=()
    [ "$isq" != - ] && isq_arg=(--isq "$isq")
    # shellcheck disable=SC2086  # R2L_SERVE_ARGS is a list of flags
    RAYON_NUM_THREADS=$THREADS "$R2L_BIN" serve --model "$path" "${isq_arg[@]}" ${R2L_SERVE_ARGS:-} \
      --timeout 3600 --host 127.0.0.1 --port "$port" >"$logf" 2>&1 &
    probe=/ready
  elif [ "$engine" = llamaserver ]; then
    [ -x "$LLAMA_SERVER" ] || die "no llama-server at $LLAMA_SERVER: run benchmarks/serve/build_llama_server.sh"
    # continuous batching over LLAMA_SLOTS parallel slots, 2048 tokens of context each
    "$LLAMA_SERVER" --model "$path" --threads "$THREADS" --threads-batch "$THREADS" \
      --parallel "$LLAMA_SLOTS" --ctx-size $((2048 * LLAMA_SLOTS)) --cont-batching \
      --host 127.0.0.1 --port "$port" >"$logf" 2>&1 &
    probe=/health
  else
    "$VENV/bin/python" -m llama_cpp.server --model "$path" --n_threads "$THREADS" \
      --n_threads_batch "$THREADS" --n_ctx 2048 --interrupt_requests False \
      --host 127.0.0.1 --port "$port" >"$logf" 2>&1 &
    probe=/v1/models
  fi
  SERVER_PID=$!
  local start=$SECONDS
  until curl -sf -o /dev/null "http://127.0.0.1:$port$probe"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 30 "$logf" >&2
      die "$engine server exited before it was ready (log: $logf)"
    fi
    if (( SECONDS - start > READY_TIMEOUT )); then
      tail -n 30 "$logf" >&2
      die "$engine server not ready after $READY_TIMEOUT s (log: $logf)"
    fi
    sleep 1
  done
  log "$engine ready in $((SECONDS - start)) s on port $port (model $path, isq $isq)"
}

run_one() {  # run_one ENGINE MODEL
  local engine=$1 model=$2 path isq port
  read -r path isq <<<"$(model_for "$engine" "$model")"
  port=$(free_port)
  log "=== $model / $engine (load average $(cut -d' ' -f1-3 /proc/loadavg)) ==="
  start_server "$engine" "$path" "$isq" "$port" "$RESULTS/$model.$engine.log"
  "$VENV/bin/python" "$HERE/client.py" measure --url "http://127.0.0.1:$port" --engine "$engine" \
    --model-label "$model" --label "$model $engine $(basename "$path") isq=$isq threads=$THREADS" \
    --runs "$RUNS" --out "$RESULTS/$model.$engine.json" >/dev/null || {
      kill -0 "$SERVER_PID" 2>/dev/null || log "the $engine server is no longer running"
      tail -n 5 "$RESULTS/$model.$engine.log" >&2
      die "client.py failed against $engine ($model); server log: $RESULTS/$model.$engine.log"
    }
  stop_server
}

if [ "${1:-}" = table ]; then
  "$VENV/bin/python" "$HERE/client.py" table "$RESULTS"
  exit
fi
[ $# -eq 0 ] || die "unknown argument $1 (only \`table\`)"

setup_venv
prepare_models
for model in $MODELS; do
  for engine in $ENGINES; do
    run_one "$engine" "$model"
  done
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS," \
  "llama-cpp-python $LLAMA_CPP_PYTHON_VERSION"
"$VENV/bin/python" "$HERE/client.py" table "$RESULTS"
