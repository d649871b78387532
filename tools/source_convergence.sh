#!/usr/bin/env bash
# Is G^s converged? Trains the source stage at growing step budgets (experiments/cpu_budget.gin's
# settings, cosine decay over each budget) from one pose AAE, and tabulates source_test and
# target_test MPJPE per budget with the per-loop source validation curve of each run
# (issue 11 item 2). Writes OUT/source_convergence.{md,json,png}.
#
#   bash tools/source_convergence.sh OUT [BUDGETS] [SEEDS [BINDING...]]
#                                        (defaults "1500 4000 8000", "0", none)
#
# BINDINGS: gin bindings of every source stage, e.g. the MobileNetV2 backbone of the camera table
# (tools/camera_table.sh). They are recorded in OUT/bindings.txt, and a later command into the
# same OUT with other bindings is an error: its finished runs were trained under the first ones.
#
# EXTRA_TARGETS="NAME=BENCHMARK_DIR ...": also evaluate every run on the target_test of these
# benchmarks (e.g. camera=DIR, a graded shift sharing the source splits), into
# OUT/target_test_NAME/, and add them to the table.
# Finished stages can be reused through the environment (paths are recorded as given: pass the
# ones they were trained with): BENCHMARK, POSE_AAE (default: under OUT). A finished `make demo`
# has both with the same settings (demo_out/benchmark, demo_out/runs/prelearn/pose_aae), and its
# G^s (demo_out/runs/seed0/source) is this script's 1500-step budget, seed 0: link it as
# OUT/source_1500_s0 to skip that run.
# Resumable: rerun the same command after a kill; finished stages are skipped and an
# interrupted stage continues from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="tools/source_convergence.sh OUT [BUDGETS] [SEEDS [BINDING...]]"
source tools/bash_errors.sh
need OUT "${1:-}" "give the output directory"
OUT=$1
BUDGETS=${2:-1500 4000 8000}
SEEDS=${3:-0}
shift $(( $# < 3 ? $# : 3 ))
BINDINGS=("$@")
for n in $BUDGETS; do [[ $n =~ ^[1-9][0-9]*$ ]] || usage_error "BUDGETS: '$n' is not a step count"; done
for n in $SEEDS; do [[ $n =~ ^[0-9]+$ ]] || usage_error "SEEDS: '$n' is not a seed"; done
EXTRA_NAMES=() EXTRA_DIRS=()
for pair in ${EXTRA_TARGETS:-}; do
  name=${pair%%=*} dir=${pair#*=}
  [[ $pair == *=* && $name =~ ^[A-Za-z0-9_]+$ ]] ||
    usage_error "EXTRA_TARGETS: '$pair' is not NAME=BENCHMARK_DIR"
  [ -f "$dir/manifest.json" ] || usage_error "EXTRA_TARGETS: no benchmark manifest in '$dir'"
  EXTRA_NAMES+=("$name") EXTRA_DIRS+=("$dir")
done
RECORDED=$(printf '%s\n' ${BINDINGS[@]+"${BINDINGS[@]}"})
if [ -f "$OUT/bindings.txt" ] && [ "$(cat "$OUT/bindings.txt")" != "$RECORDED" ]; then
  usage_error "BINDING: $OUT/bindings.txt records other bindings for the runs there; use another OUT"
fi
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
printf '%s' "$RECORDED" > "$OUT/bindings.txt.tmp" && mv "$OUT/bindings.txt.tmp" "$OUT/bindings.txt"
BENCHMARK=${BENCHMARK:-$OUT/benchmark}
POSE_AAE=${POSE_AAE:-$OUT/pose_aae}
if [ ! -f "$BENCHMARK/manifest.json" ]; then
  $PY tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir="$BENCHMARK"
fi
stage() {  # stage NAME MODEL_DIR BINDINGS...
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/stage_info.json" ]; then return; fi
  local args=()
  for b in "$@"; do args+=("--gin_bindings=$b"); done
  echo "== $(date -u +%H:%M:%S) $name -> $dir"
  $PY -m sa3dhp_tf.train --gin_file="stages/$name.gin" --gin_file=experiments/cpu_budget.gin \
    --model_dir="$dir" "${args[@]}" > "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
}
stage pose_aae "$POSE_AAE" "pose_aae.data_dir = '$BENCHMARK'"
for seed in $SEEDS; do
  for steps in $BUDGETS; do
    stage source "$OUT/source_${steps}_s$seed" "source.pose_aae_dir = '$POSE_AAE'" \
      "source.seed = $seed" "source.steps = $steps" ${BINDINGS[@]+"${BINDINGS[@]}"}
  done
done
for i in "${!EXTRA_NAMES[@]}"; do
  name=${EXTRA_NAMES[i]} dir=${EXTRA_DIRS[i]}
  mkdir -p "$OUT/target_test_$name"
  for seed in $SEEDS; do
    for steps in $BUDGETS; do
      result=$OUT/target_test_$name/source_${steps}_s$seed.json
      [ -f "$result" ] && continue
      $PY -m sa3dhp_tf.evaluate --model_dir="$OUT/source_${steps}_s$seed" --data_dir="$dir" \
        --split=target_test --output="$result" > "$result.log" 2>&1 ||
        { tail -5 "$result.log"; exit 1; }
    done
  done
done
EXTRA_LIST=$(IFS=,; echo "${EXTRA_NAMES[*]:-}")
$PY tools/source_convergence_report.py --runs="$OUT" --budgets="${BUDGETS// /,}" \
  --seeds="${SEEDS// /,}" --bindings_file="$OUT/bindings.txt" \
  --extra_targets="$EXTRA_LIST"
