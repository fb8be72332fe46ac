#!/usr/bin/env bash
# Creates (once) the Python venv of the trainer checks and benchmark: PyPI torch + transformers
# + peft + trl (transformers 5.24: 5.25 needs Python 3.12; trl 1.0.0: the last release with
# PRMTrainer, under trl.experimental.prm; requests: its GRPOTrainer imports it). Never part of setup or CI: PyPI's Linux
# torch wheel pulls ~6 GB of CUDA libraries (the CPU-only index is not reachable from the
# reference machine), and it runs CPU-only here.
# Prints the venv's python.
set -euo pipefail
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
VENV=${TRAIN_BENCH_VENV:-$R2L_HOME/venv-train-bench}
SPECS="torch==2.15.0 transformers==5.24.0 peft==0.21.2 numpy==2.4.6 trl==1.0.0 requests"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import torch, transformers, peft, numpy, trl, requests' 2>/dev/null; then
  printf '%s\n' "$VENV/bin/python"
  exit 0
fi
printf 'venv: installing %s into %s (several GB)\n' "$SPECS" "$VENV" >&2
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check $SPECS >&2
printf '%s\n' "$VENV/bin/python"
