#!/usr/bin/env bash
# `make demo`: builds the default synthetic benchmark, runs every stage (pose AAE, motion AAE,
# G^s, relation networks, adaptation, and the target-supervised oracle), evaluates source-only vs
# adapted on the target test split and prints the results table. About 12 minutes on 2 CPU cores.
# Reruns skip finished work and resume interrupted stages. Output: demo_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${DEMO_OUT:-demo_out}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
if [ ! -f "$OUT/benchmark/manifest.json" ]; then
  $PY tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir="$OUT/benchmark"
fi
$PY tools/ablation.py --data_dir="$OUT/benchmark" --output="$OUT/runs" --seeds=1 \
  --shared_source --gin_file=experiments/demo.gin \
  --rows=source_only,oracle_finetune,full --finetune_steps=500 --results_md="$OUT/results.md"
echo
cat "$OUT/results.md"
echo "Contact sheet of the benchmark: $OUT/benchmark/contact_sheet.png"
