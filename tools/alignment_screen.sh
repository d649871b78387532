#!/usr/bin/env bash
# The gradient-alignment screen of issue 11 (item 3) on the default benchmark: which energies
# point at the truth at G^s, and does non-localness pick the useful relations (paper Fig. 4)?
# Trains what it needs at experiments/cpu_budget.gin (pose AAE, motion AAE, G^s at SOURCE_STEPS
# source steps, relation networks for every relation, the placebo relation networks), then runs
# tools/energy_alignment.py at 2 and 8 clips per batch, 24 batches each.
#
#   bash tools/alignment_screen.sh OUT [SOURCE_STEPS]      (SOURCE_STEPS default 1500)
#
# Finished stages can be reused through the environment (the paths are recorded as given, so
# pass the ones the stages were trained with, not links): BENCHMARK, POSE_AAE, MOTION_AAE,
# SOURCE, RELATION_NETS (default: under OUT). A finished `make demo` has them all, with the same
# settings and G^s at 1500 steps: demo_out/benchmark, demo_out/runs/prelearn/{pose_aae,
# motion_aae,relation_nets}, demo_out/runs/seed0/source.
# Resumable: rerun the same command; finished stages and screens are skipped.
# Output: OUT/screen_clips{2,8}/energy_alignment.{md,json,png}.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="tools/alignment_screen.sh OUT [SOURCE_STEPS]"
source tools/bash_errors.sh
need OUT "${1:-}" "give the output directory"
OUT=$1
SOURCE_STEPS=${2:-1500}
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
BENCHMARK=${BENCHMARK:-$OUT/benchmark}
POSE_AAE=${POSE_AAE:-$OUT/pose_aae}
MOTION_AAE=${MOTION_AAE:-$OUT/motion_aae}
SOURCE=${SOURCE:-$OUT/source}
RELATION_NETS=${RELATION_NETS:-$OUT/relation_nets}
if [ ! -f "$BENCHMARK/manifest.json" ]; then
  $PY tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir="$BENCHMARK"
fi
stage() {  # stage NAME MODEL_DIR BINDINGS...
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/stage_info.json" ]; then return; fi
  local args=()
  for b in "$@"; do args+=("--gin_bindings=$b"); done
  echo "== $(date -u +%H:%M:%S) $name -> $dir (log $dir.log)"
  $PY -m sa3dhp_tf.train --gin_file="stages/$name.gin" --gin_file=experiments/cpu_budget.gin \
    --model_dir="$dir" "${args[@]}" > "$dir.log" 2>&1 || { tail -5 "$dir.log"; exit 1; }
}
stage pose_aae "$POSE_AAE" "pose_aae.data_dir = '$BENCHMARK'"
stage motion_aae "$MOTION_AAE" "motion_aae.pose_aae_dir = '$POSE_AAE'"
RELATIONS="relation_nets.pose_aae_dir = '$POSE_AAE'"
MOTION="relation_nets.motion_aae_dir = '$MOTION_AAE'"
stage relation_nets "$RELATION_NETS" "$RELATIONS" "$MOTION" \
  "relation_nets.relation_keys = ('z3', 'v2', 'v3')"
# the relations the paper does not keep, for the non-localness correlation
stage relation_nets "$OUT/relation_nets_extra" "$RELATIONS" "$MOTION" \
  "relation_nets.relation_keys = ('z1', 'z2', 'v1')"
PLACEBO=$($PY -c "from sa3dhp_tf.evaluation import ablation; print(ablation.PLACEBO_OVERRIDES)")
stage relation_nets "$OUT/relation_nets_placebo" "$RELATIONS" "$MOTION" \
  "relation_nets.relation_keys = ('z3', 'v2', 'v3')" \
  "relation_nets.pose_side_overrides = $PLACEBO"
stage source "$SOURCE" "source.pose_aae_dir = '$POSE_AAE'" "source.steps = $SOURCE_STEPS"
for clips in 2 8; do
  screen="$OUT/screen_clips$clips"
  if [ -f "$screen/energy_alignment.md" ]; then continue; fi
  echo "== $(date -u +%H:%M:%S) screen at $clips clips -> $screen"
  $PY tools/energy_alignment.py --model_dir="$SOURCE" \
    --relation_nets_dir="$RELATION_NETS,$OUT/relation_nets_extra" \
    --placebo_relation_nets_dir="$OUT/relation_nets_placebo" \
    --energies=lcr,hcr,source,latent_spread,z1,z2,z3,v1,v2,v3,placebo:z3,placebo:v2,placebo:v3 \
    --clips="$clips" --batches=24 --output_dir="$screen"
done
cat "$OUT"/screen_clips*/energy_alignment.md
