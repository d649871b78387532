#!/usr/bin/env bash
# G^s trained from scratch (small_resnet) against G^s on the ImageNet MobileNetV2 layers
# (tools/fetch_backbone_weights.py), same source stage budget (experiments/demo.gin), per seed,
# evaluated on source_test and target_test. Writes OUT/backbone_comparison.md.
#
#   bash tools/backbone_comparison.sh OUT [SEEDS]      (SEEDS default "0 1 2")
#
# Resumable: rerun the same command after a kill; finished stages are skipped and an
# interrupted stage continues from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="tools/backbone_comparison.sh OUT [SEEDS]"
source tools/bash_errors.sh
need OUT "${1:-}" "give the output directory"
OUT=$1
SEEDS=${2:-0 1 2}
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
if [ ! -f "$OUT/benchmark/manifest.json" ]; then
  $PY tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir="$OUT/benchmark"
fi
SIZE=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['image_size'])" \
  "$OUT/benchmark/manifest.json")
WEIGHTS="$OUT/mobilenet_v2_imagenet_$SIZE.weights.h5"
[ -f "$WEIGHTS" ] || $PY tools/fetch_backbone_weights.py --input_size="$SIZE" --output="$WEIGHTS"

stage() {  # stage NAME MODEL_DIR BINDINGS...
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/stage_info.json" ]; then return; fi
  local args=()
  for b in "$@"; do args+=("--gin_bindings=$b"); done
  $PY -m sa3dhp_tf.train --gin_file="stages/$name.gin" --gin_file=experiments/demo.gin \
    --model_dir="$dir" "${args[@]}"
}

stage pose_aae "$OUT/pose_aae" "pose_aae.data_dir = '$OUT/benchmark'"
for seed in $SEEDS; do
  stage source "$OUT/scratch_s$seed" "source.pose_aae_dir = '$OUT/pose_aae'" "source.seed = $seed"
  stage source "$OUT/mobilenet_v2_s$seed" "source.pose_aae_dir = '$OUT/pose_aae'" \
    "source.seed = $seed" \
    "ImageToLatent.backbone = 'mobilenet_v2'" "ImageToLatent.backbone_weights = '$WEIGHTS'" \
    "ImageToLatent.fc_units = (1024, 512)"
done
$PY - "$OUT" $SEEDS <<'PY'
import json, os, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
rows = []
for name, label in (("scratch", "small_resnet from scratch"),
                    ("mobilenet_v2", "MobileNetV2, ImageNet layers to block_13_expand")):
  cells = []
  for split in ("source_test", "target_test"):
    values = [json.load(open(os.path.join(out, f"{name}_s{s}", "results.json")))[split]["mpjpe"]
              for s in seeds]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
  rows.append(f"| {label} | {cells[0]} | {cells[1]} |")
text = "\n".join([f"G^s MPJPE (mm), mean ± std over seeds {', '.join(seeds)} "
                  "(experiments/demo.gin source budget)", "",
                  "| backbone | source_test | target_test |", "|---|---|---|", *rows, ""])
tmp = os.path.join(out, "backbone_comparison.md.tmp")
open(tmp, "w").write(text)
os.replace(tmp, os.path.join(out, "backbone_comparison.md"))
print(text)
PY
