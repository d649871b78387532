#!/usr/bin/env bash
# Issue 11, the first table: the camera shift (docs/results.md), i.e. tools/shift_table.sh with
# SHIFT=camera; what it runs, calibrates and writes is described there.
#
#   bash tools/camera_table.sh OUT [SEEDS]        (SEEDS: the ablation's --seeds, default 1)
#
# Resumable: rerun the same command after a kill.
cd "$(dirname "$0")/.."
USAGE="tools/camera_table.sh OUT [SEEDS]" exec bash tools/shift_table.sh camera "$@"
