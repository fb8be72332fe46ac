#!/usr/bin/env bash
# candle-core 0.10.2 (what mistralrs 0.8.1 pins, so what `r2l serve` runs) vs a newer candle-core
# on the quantized CPU matmul alone: builds candle_qmatmul/main.rs once per version in
# $BENCH_DIR/candle-qmatmul-VERSION (outside the workspace, which keeps one candle version), runs
# both with RAYON_NUM_THREADS=$THREADS one after the other, and prints ms per forward and the
# speed-up per shape. See README.md beside this file ("Would a newer candle-core help?").
#
#   bash benchmarks/serve/candle_qmatmul.sh            # 0.10.2 vs 0.11.1
#   NEW=0.11.0 bash benchmarks/serve/candle_qmatmul.sh
#
# Environment: R2L_HOME (default ~/.cache/r2l), BENCH_DIR (default $R2L_HOME/bench-serve),
# OLD (0.10.2), NEW (0.11.1), THREADS (2), BUILD_ONLY=1 (build both, time nothing). Needs the
# crates registry (first run only).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
BENCH_DIR=${BENCH_DIR:-$R2L_HOME/bench-serve}
OLD=${OLD:-0.10.2}
NEW=${NEW:-0.11.1}
THREADS=${THREADS:-2}

die() { echo "candle_qmatmul.sh: $*" >&2; exit 1; }

build() {
  local version=$1 dir=$BENCH_DIR/candle-qmatmul-$1
  mkdir -p "$dir/src"
  cp "$HERE/candle_qmatmul/main.rs" "$dir/src/main.rs"
  cat >"$dir/Cargo.toml" <<TOML
[package]
name = "candle-qmatmul"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
candle-core = "=$version"

[profile.release]
debug = false

[workspace]
TOML
  # The same CPU flags as the r2l build (.cargo/config.toml): candle's SIMD kernels need AVX2.
  (cd "$dir" && RUSTFLAGS="-C target-cpu=x86-64-v3" cargo build --release --quiet) \
    >"$dir/build.log" 2>&1 || die "building against candle-core $version failed: $dir/build.log"
  echo "$dir/target/release/candle-qmatmul"
}

[ "$(uname -m)" = x86_64 ] || die "written for x86_64 (the flags above)"
old_bin=$(build "$OLD")
new_bin=$(build "$NEW")
[ "${BUILD_ONLY:-0}" = 1 ] && exit 0
RAYON_NUM_THREADS=$THREADS "$old_bin" >"$BENCH_DIR/candle-qmatmul-$OLD.tsv"
RAYON_NUM_THREADS=$THREADS "$new_bin" >"$BENCH_DIR/candle-qmatmul-$NEW.tsv"

# Output checksums: the two versions may sum in a different order, so compare them relatively.
printf 'dtype\tk\tn\tm\t%s ms\t%s ms\tspeed-up\tchecksum rel. diff\n' "$OLD" "$NEW"
paste "$BENCH_DIR/candle-qmatmul-$OLD.tsv" "$BENCH_DIR/candle-qmatmul-$NEW.tsv" | awk -F'\t' '{
  diff = $6 - $12; if (diff < 0) diff = -diff
  scale = $6 < 0 ? -$6 : $6; if (scale < 1) scale = 1
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%.2fx\t%.1e\n", $1, $2, $3, $4, $5, $11, $5 / $11, diff / scale
}'
