#!/usr/bin/env bash
# Calibrates the benchmark's domain shift with the source-only model and the target-supervised
# oracle ONLY (DESIGN.md section 5): the adaptation method is never run here.
#   bash tools/calibrate_benchmark.sh DATA_DIR RUN_DIR [extra gin bindings for all stages...]
# Writes RUN_DIR/calibration.json: MPJPE/PA-MPJPE of both models on source_test and target_test.
set -euo pipefail
USAGE="tools/calibrate_benchmark.sh DATA_DIR RUN_DIR [BINDING...]"
source "$(dirname "$0")/bash_errors.sh"
need DATA_DIR "${1:-}" "give the benchmark directory"
need RUN_DIR "${2:-}" "give the run directory"
DATA=$1; RUNS=$2; shift 2
[ -f "$DATA/manifest.json" ] || usage_error "DATA_DIR: no benchmark manifest in $DATA"
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$RUNS"
$PY -m sa3dhp_tf.train --gin_file=stages/pose_aae.gin --gin_file=experiments/cpu_budget.gin \
  --gin_bindings="pose_aae.data_dir='$DATA'" "$@" --model_dir="$RUNS/pose_aae"
for role in source oracle; do
  split=source; [ "$role" = oracle ] && split=target_labeled
  $PY -m sa3dhp_tf.train --gin_file=stages/source.gin --gin_file=experiments/cpu_budget.gin \
    --gin_bindings="source.pose_aae_dir='$RUNS/pose_aae'" \
    --gin_bindings="source.train_split='$split'" "$@" --model_dir="$RUNS/$role"
done
$PY - "$RUNS" <<'PYEOF'
import json, os, sys
runs = sys.argv[1]
out = {}
for role in ("source", "oracle"):
  results = json.load(open(os.path.join(runs, role, "results.json")))
  out[role] = {split: {k: round(results[split][k], 1) for k in ("mpjpe", "pa_mpjpe", "latent_std")}
               for split in ("source_test", "target_test")}
out["target_ratio_source_only_over_oracle"] = round(
    out["source"]["target_test"]["mpjpe"] / out["oracle"]["target_test"]["mpjpe"], 2)
json.dump(out, open(os.path.join(runs, "calibration.json"), "w"), indent=2)
print(json.dumps(out, indent=2))
PYEOF
