#!/usr/bin/env bash
# Prefix-cache benchmark: starts `r2l serve --model default --prefix-cache-mb MB` on 127.0.0.1
# and runs prefix_cache.py against it (a shared ~600-token prefix vs a cold one; RSS over 40
# distinct long prompts). Environment: R2L_HOME, R2L_BIN, MB (default 256), OUT (JSON file).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
R2L_BIN=${R2L_BIN:-${CARGO_TARGET_DIR:-$R2L_HOME/target}/release/r2l}
MB=${MB:-256}
OUT=${OUT:-$R2L_HOME/bench-serve/prefix_cache.json}
[ -x "$R2L_BIN" ] || { echo "prefix_cache.sh: no r2l binary at $R2L_BIN" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=${OUT%.json}.log
RAYON_NUM_THREADS=2 "$R2L_BIN" serve --model default --prefix-cache-mb "$MB" --timeout 3600 \
  --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break
  kill -0 $pid 2>/dev/null || { tail -n 20 "$log" >&2; exit 1; }
  sleep 1
done
python3 "$HERE/prefix_cache.py" --url "http://127.0.0.1:$port" --pid $pid --bound-mb "$MB" \
  --out "$OUT"
