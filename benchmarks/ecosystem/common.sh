# Shared by the lm-eval checks (sourced): the lm-eval venv and a running `r2l serve`.

# Makes $1, a venv with lm_eval[api]==0.4.13 (no torch needed for API models), unless it has it.
lm_eval_venv() {
  local venv=$1
  if ! "$venv/bin/python" -c 'import lm_eval' 2>/dev/null; then
    echo "installing lm_eval[api]==0.4.13 into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "lm_eval[api]==0.4.13"
  fi
}

# Starts `$1 serve` on 127.0.0.1:$2 with its log in $3, sets SERVER to its pid, and waits until
# /ready answers (returns 1 with the log's tail after 120 s). The caller kills $SERVER.
start_serve() {
  local r2l=$1 port=$2 log=$3
  "$r2l" serve --port "$port" >"$log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null && return 0
    sleep 1
  done
  echo "r2l serve did not get ready: $(tail -5 "$log")" >&2
  return 1
}
