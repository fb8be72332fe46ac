#!/usr/bin/env bash
# End to end, an old r2l binary against a new one on the same machine, one after the other:
#   r2l eval --task uit-visfd-constrained --local default --limit 64
#   r2l distill r2l --task uit-visfd --split train --limit 8      (built-in offline agents)
# Every run writes to a fresh directory with --no-cache, so no answer comes from a cache.
# Usage: ab.sh OLD_BIN NEW_BIN [eval|distill|all]   Environment: R2L_HOME, OUT (results dir).
set -euo pipefail
old=${1:?usage: ab.sh OLD_BIN NEW_BIN [eval|distill|all]}
new=${2:?usage: ab.sh OLD_BIN NEW_BIN [eval|distill|all]}
which=${3:-all}
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
OUT=${OUT:-$R2L_HOME/bench-serve/ab}
mkdir -p "$OUT"
for bin in "$old" "$new"; do [ -x "$bin" ] || { echo "ab.sh: $bin is not executable" >&2; exit 1; }; done

# timed LABEL BIN ARGS...: runs `BIN ARGS... --out DIR --no-cache --no-progress`, prints seconds
timed() {
  local label=$1 bin=$2; shift 2
  local dir="$OUT/$label"
  rm -rf "$dir"; mkdir -p "$dir"
  local t0 t1
  t0=$(date +%s.%N)
  RAYON_NUM_THREADS=2 "$bin" "$@" --out "$dir" --no-cache --no-progress >"$dir.log" 2>&1 \
    || { tail -n 20 "$dir.log" >&2; echo "ab.sh: $label failed (log: $dir.log)" >&2; exit 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')"
}

row() {  # row NAME ARGS...: old then new, then the speed-up
  local name=$1; shift
  local t_old t_new
  t_old=$(timed "$name-old" "$old" "$@")
  t_new=$(timed "$name-new" "$new" "$@")
  python3 -c "print(f'| $name | {$t_old} s | {$t_new} s | {$t_old / $t_new:.2f}x |')"
}

echo "# ab.sh $(date -u +%FT%TZ) old=$old new=$new (load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "| command | old | new | speed-up |"
echo "| --- | --- | --- | --- |"
if [ "$which" = eval ] || [ "$which" = all ]; then
  row eval-uit-visfd-constrained-64 eval --task uit-visfd-constrained --local default --limit 64
fi
if [ "$which" = distill ] || [ "$which" = all ]; then
  row distill-r2l-uit-visfd-8 distill r2l --task uit-visfd --split train --limit 8
fi
