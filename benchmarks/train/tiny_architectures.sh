#!/usr/bin/env bash
# Regenerates tests/fixtures/architectures/ (tiny random-weight Qwen3, Mistral and Gemma 3
# checkpoints written by transformers, with transformers' logits and greedy tokens): see
# tiny_architectures.py. Needs the train-bench venv (venv.sh); offline, not in CI.
#
#   bash benchmarks/train/tiny_architectures.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PYTHON=$(bash "$HERE/venv.sh")
OUT=$ROOT/tests/fixtures/architectures
rm -rf "$OUT"
TQDM_DISABLE=1 HF_HUB_OFFLINE=1 "$PYTHON" "$HERE/tiny_architectures.py" "$OUT"
