#!/usr/bin/env bash
# Fetches the real sample video for `python -m sa3dhp_tf.infer`: Sports2D/Demo/demo.mp4 (an
# outdoor video of two people, 230 frames, 1768x994, 30 fps) from the sports2d 0.8.34 wheel
# (BSD-3-Clause), with `pip download --no-deps` and unzipping that one file into a cache. The
# package is never installed; the video is never committed. Idempotent (a cached copy with the
# right SHA-256 is reused without network).
#
#   tools/fetch_sample_video.sh [CACHE_DIR]     # prints the path of demo.mp4
#
# CACHE_DIR defaults to $SA3DHP_CACHE, else ~/.cache/sa3dhp_tf.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then python="$here/../.venv/bin/python"; else python=python3; fi
fi
args=(--package=sports2d --version=0.8.34 --member=Sports2D/Demo/demo.mp4)
if [ $# -ge 1 ]; then args+=(--cache_dir="$1"); fi
exec "$python" "$here/fetch_wheel_file.py" "${args[@]}"
