#!/usr/bin/env bash
# The README's "Run a model on a video" picture: an exported model (MODEL; the README's is
# `make demo`'s adapted model) or, without MODEL, a G^s trained briefly on the default synthetic
# benchmark (experiments/demo.gin's settings with a 600-step source stage: a picture, not a
# result) and exported as a SavedModel, run on the real sample video (tools/fetch_sample_video.sh).
# Writes docs/images/infer_panel.png. Each training step is skipped when its output exists.
#   tools/sample_video_panel.sh [WORK_DIR [MODEL]]   # default: sample_panel_out/ (relative paths: to the repository root)
# MODEL: an exported SavedModel (base or version dir) or .tflite to use instead of training one,
# e.g. `make demo`'s demo_out/exported/saved_model (the adapted model of the README's panel).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-sample_panel_out}
MODEL=${2:-}
export TF_CPP_MIN_LOG_LEVEL=2
if [ -n "$MODEL" ] && [ ! -e "$MODEL" ]; then
  echo "error: the model $MODEL does not exist" >&2
  exit 2
fi
mkdir -p "$OUT"
if [ -z "$MODEL" ]; then
  if [ ! -f "$OUT/benchmark/manifest.json" ]; then
    $PY tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir="$OUT/benchmark"
  fi
  if [ ! -f "$OUT/pose/stage_info.json" ]; then
    $PY -m sa3dhp_tf.train --stage=pose_aae --model_dir="$OUT/pose" \
      --gin_file=experiments/demo.gin --gin_bindings="pose_aae.data_dir='$OUT/benchmark'"
  fi
  if [ ! -f "$OUT/source/stage_info.json" ]; then
    $PY -m sa3dhp_tf.train --stage=source --model_dir="$OUT/source" \
      --gin_file=experiments/demo.gin --gin_bindings="source.pose_aae_dir='$OUT/pose'" \
      --gin_bindings="source.steps=600" --gin_bindings="source.steps_per_loop=300"
  fi
  if ! ls "$OUT"/export/*/saved_model.pb >/dev/null 2>&1; then
    $PY -m sa3dhp_tf.export --model_dir="$OUT/source" --format=saved_model --output="$OUT/export"
  fi
  MODEL="$OUT/export"
fi
video="$(tools/fetch_sample_video.sh)"
$PY -m sa3dhp_tf.infer --model="$MODEL" --video="$video" --output="$OUT/infer"
# Downscaled to 1200 px wide, 256 colours (the committed picture stays under 300 KB).
$PY - "$OUT/infer/panel.png" docs/images/infer_panel.png <<'PYEOF'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im = im.resize((1200, round(im.height * 1200 / im.width)), Image.LANCZOS)
im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
    sys.argv[2], optimize=True)
PYEOF
echo "docs/images/infer_panel.png (from $OUT/infer/poses.mp4, frame in $OUT/infer/poses.json)"
