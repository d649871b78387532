#!/usr/bin/env bash
# The prepared GPU check: step times with XLA and mixed precision on/off at the paper's scale,
# input frames/s against the step, peak GPU memory; one JSON (docstring of tools/gpu_check.py).
#   bash tools/gpu_check.sh [--report=gpu_check.json] [--steps=200]
#   bash tools/gpu_check.sh --smoke      # tiny, also on a CPU (what `make test` runs)
# Install the GPU wheel first: pip install -e '.[gpu]' (or tensorflow[and-cuda]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
if [ -x .venv/bin/python ] && [ "$PY" = python ]; then PY=.venv/bin/python; fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
fi
exec env TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
  "$PY" tools/gpu_check.py "$@"
