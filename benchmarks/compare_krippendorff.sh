#!/usr/bin/env bash
# Runs fast-krippendorff (PyPI `krippendorff`) and r2l on the same matrices and prints the speed
# ratios: interval alpha on 10 coders x 1e6 units (30 % missing), and a 1000-resample bootstrap
# over 5,000 units x 3 coders. Same input files, best of several runs each, single process each.
set -euo pipefail
cd "$(dirname "$0")/.."
R2L_HOME="${R2L_HOME:-$HOME/.cache/r2l}"
venv="$R2L_HOME/venv-bench"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check krippendorff numpy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

peer="$("$venv/bin/python" benchmarks/krippendorff_peer.py "$work")"
# Build the whole workspace (not just this package) so features stay unified with the tests.
cargo build --release --quiet --workspace --bins
timing="${CARGO_TARGET_DIR:-target}/release/alpha_timing"
ours_alpha="$("$timing" "$work/alpha_10x1e6.f64" 10 alpha 5)"
ours_boot="$("$timing" "$work/bootstrap_3x5000.f64" 3 bootstrap 5)"

python3 - "$peer" "$ours_alpha" "$ours_boot" <<'PY'
import json, sys
peer = [json.loads(line) for line in sys.argv[1].splitlines()]
ours = [json.loads(sys.argv[2]), json.loads(sys.argv[3])]
for case, p, o in zip(["interval alpha, 10 x 1e6, 30% missing", "1000-resample bootstrap, 3 x 5000"], peer, ours):
    extra = f"alpha peer {p['alpha']:.6f} r2l {o['alpha']:.6f}" if "alpha" in p else f"ci peer {p['ci95']} r2l {o['ci95']}"
    print(f"{case}: fast-krippendorff {p['seconds']:.3f} s, r2l {o['seconds']:.4f} s, ratio {p['seconds'] / o['seconds']:.1f}x ({extra})")
PY
