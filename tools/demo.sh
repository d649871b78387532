#!/usr/bin/env bash
# `make demo`: builds the default synthetic benchmark, runs every stage (pose AAE, motion AAE,
# G^s, relation networks, adaptation, and the fine-tuning oracle), evaluates source-only vs
# adapted on the target test split, exports the adapted model (SavedModel, int8 TFLite), draws the pictures and ends with a short answer in plain
# words. Time on 2 CPU cores: README ("Two commands"), measured by tools/time_demo.sh.
# Reruns skip finished work and resume interrupted stages. Output: demo_out/.
#
# Progress: "== step i/n" per demo step, and inside the training step one line per training
# stage ("[ablation] [k/m] ...") with a bar, steps and the time left; command lines and
# training output go to the per-stage logs. On a terminal the bar is redrawn in place; in a
# log file (CI, nohup) it is printed as plain lines.
#
# Settings for tests and smoke runs (defaults: the real demo): DEMO_OUT, DEMO_BENCHMARK_GIN,
# DEMO_GIN (gin files of every stage, space-separated), DEMO_FINETUNE_STEPS.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${DEMO_OUT:-demo_out}
BENCHMARK_GIN=${DEMO_BENCHMARK_GIN:-benchmark/default.gin}
DEMO_GIN=${DEMO_GIN:-experiments/demo.gin}
FINETUNE_STEPS=${DEMO_FINETUNE_STEPS:-500}
export TF_CPP_MIN_LOG_LEVEL=2
LOGS="$OUT/logs"
mkdir -p "$LOGS"
START=$(date +%s)

elapsed() {
  local s=$(( $(date +%s) - START ))
  printf '%d min %02d s' $((s / 60)) $((s % 60))
}

# --- the steps: one function each; STEPS lists them in order --------------------------------
# To add a step: define its function and add its name to STEPS before `answer`, which stays
# last so that the short answer is the last thing printed.

step_benchmark() {  # build the synthetic benchmark (skipped when it exists)
  if [ -f "$OUT/benchmark/manifest.json" ]; then
    echo "benchmark already built: $OUT/benchmark"
    return
  fi
  $PY -m sa3dhp_tf.progress --step="$1" --title="synthetic benchmark" \
    --log="$LOGS/benchmark.log" -- \
    $PY tools/make_benchmark.py --gin_file="$BENCHMARK_GIN" --output_dir="$OUT/benchmark"
}

step_train() {  # every training stage, then source-only vs adapted vs oracle on target_test
  local gin_flags=()
  for f in $DEMO_GIN; do gin_flags+=(--gin_file="$f"); done
  $PY tools/ablation.py --data_dir="$OUT/benchmark" --output="$OUT/runs" --seeds=1 \
    --shared_source "${gin_flags[@]}" \
    --rows=source_only,oracle_finetune,full --finetune_steps="$FINETUNE_STEPS" \
    --noprint_rows --results_md="$OUT/results.md"
}

step_export() {  # the adapted G: a SavedModel for TF Serving and an int8 TFLite file
  local adapted="$OUT/runs/seed0/full" serving="$OUT/exported/saved_model"
  local tflite="$OUT/exported/sa3dhp_int8.tflite"
  if [ -d "$serving/1" ] && [ -f "$tflite" ]; then
    echo "already exported: $serving/1, $tflite"
    return
  fi
  # version 1: a rerun re-exports the same model into the same place instead of a new version
  rm -rf "$serving" "$tflite"
  $PY -m sa3dhp_tf.progress --step="$1" --title="SavedModel (TF Serving)" \
    --log="$LOGS/export_saved_model.log" -- \
    $PY -m sa3dhp_tf.export --model_dir="$adapted" --format=saved_model --output="$serving" \
    --version=1
  $PY -m sa3dhp_tf.progress --step="$1" --title="int8 TFLite" \
    --log="$LOGS/export_tflite.log" -- \
    $PY -m sa3dhp_tf.export --model_dir="$adapted" --format=tflite --quantize=int8 \
    --output="$tflite"
  echo "exported the adapted model: SavedModel $serving/1 (TF Serving layout), int8 TFLite $tflite"
}

step_answer() {  # pictures and the short answer (printed after the last step)
  $PY -m sa3dhp_tf.progress --step="$1" --title="pictures and the short answer" \
    --log="$LOGS/report.log" -- \
    $PY tools/demo_report.py --runs="$OUT/runs" --data_dir="$OUT/benchmark" \
    --output_dir="$OUT" --results_md="$OUT/results.md" \
    --exported_dir="$OUT/exported"
}

STEPS=(benchmark train export answer)
TITLES=("build the synthetic benchmark"
        "train the stages and evaluate on the target test split"
        "export the adapted model (SavedModel for TF Serving, int8 TFLite)"
        "draw the pictures and write the short answer")

# --- run them --------------------------------------------------------------------------------
for i in "${!STEPS[@]}"; do
  echo "== step $((i + 1))/${#STEPS[@]}: ${TITLES[i]} (elapsed $(elapsed))"
  "step_${STEPS[i]}" "$((i + 1))/${#STEPS[@]}"
done
echo
echo "== demo finished in $(elapsed); output in $OUT/"
echo
cat "$OUT/summary.txt"
echo "The benchmark's contact sheet: $OUT/benchmark/contact_sheet.png"
