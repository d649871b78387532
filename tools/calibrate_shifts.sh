#!/usr/bin/env bash
# Calibrates the graded shifts (and the default target) with one G^s and its fine-tuning oracle
# ONLY: no adaptation runs here (issue 11 item 6; criteria: sa3dhp_tf/evaluation/calibration.py;
# the recorded calibration: docs/benchmark.md, "Graded shifts").
#
#   SOURCE=G_S_DIR POSE_AAE=POSE_AAE_DIR bash tools/calibrate_shifts.sh OUT [SHIFTS [BINDING...]]
#
# BINDINGS: gin bindings of the oracle stage, e.g. the backbone settings G^s was trained with
# (with source.init_dir the oracle must name the same architecture).
#
# SHIFTS default "default appearance camera degradation": 'default' is benchmark/default.gin,
# NAME is benchmark/shift_NAME.gin. Per shift: OUT/NAME/benchmark (built unless present; a link
# to an existing benchmark of the same gin file is fine), OUT/NAME/oracle (G^s fine-tuned on
# that target's labels, FINETUNE_STEPS steps, default 500 as in `make demo`) and
# OUT/NAME/calibration.json; OUT/calibration.md sums them up. JOINT_ORACLE=1 also trains
# OUT/NAME/oracle_joint (the ablation's `oracle_joint` row: source labels mixed in, same steps)
# and calibrates with the tighter oracle (docs/benchmark.md, "The joint oracle"). G^s must have
# trained on a benchmark with the same source splits (checked shard by shard). Resumable:
# finished parts are skipped, an interrupted oracle resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
USAGE="SOURCE=DIR POSE_AAE=DIR tools/calibrate_shifts.sh OUT [SHIFTS [BINDING...]]"
source tools/bash_errors.sh
need OUT "${1:-}" "give the output directory"
OUT=$1
SHIFTS=${2:-default appearance camera degradation}
shift $(( $# < 2 ? $# : 2 ))
ORACLE_BINDINGS=()
for b in "$@"; do ORACLE_BINDINGS+=("--gin_bindings=$b"); done
need SOURCE "${SOURCE:-}" "set it to the G^s model dir"
need POSE_AAE "${POSE_AAE:-}" "set it to the pose AAE model dir"
FINETUNE_STEPS=${FINETUNE_STEPS:-500}
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p "$OUT"
declare -A ROW_OF=([oracle]=oracle_finetune [oracle_joint]=oracle_joint)  # dir -> ablation row
for name in $SHIFTS; do
  gin=benchmark/shift_$name.gin
  [ "$name" = default ] && gin=benchmark/default.gin
  bench=$OUT/$name/benchmark
  if [ ! -f "$bench/manifest.json" ]; then
    rm -rf "$bench"
    $PY tools/make_benchmark.py --gin_file="$gin" --output_dir="$bench"
  fi
  oracles=(oracle)
  [ "${JOINT_ORACLE:-0}" = 1 ] && oracles+=(oracle_joint)
  for oracle in "${oracles[@]}"; do
    [ -f "$OUT/$name/$oracle/stage_info.json" ] && continue
    row=${ROW_OF[$oracle]}
    # the row's own bindings (sa3dhp_tf/evaluation/ablation.py), one per line
    mapfile -t row_bindings < <($PY -c "import sys
from sa3dhp_tf.evaluation import ablation
print('\\n'.join(ablation.get_row(sys.argv[1]).oracle_bindings(*sys.argv[2:])))" \
      "$row" "$SOURCE" "$bench" "$FINETUNE_STEPS")
    $PY -m sa3dhp_tf.train --gin_file=stages/source.gin --gin_file=experiments/demo.gin \
      --model_dir="$OUT/$name/$oracle" \
      --gin_bindings="source.data_dir='$bench'" \
      --gin_bindings="source.pose_aae_dir='$POSE_AAE'" \
      "${row_bindings[@]/#/--gin_bindings=}" --gin_bindings="source.seed=0" \
      ${ORACLE_BINDINGS[@]+"${ORACLE_BINDINGS[@]}"}
  done
  $PY tools/calibrate_shift.py --data_dir="$bench" --source_dir="$SOURCE" \
    "${oracles[@]/#/--oracle_dir=$OUT/$name/}" --output="$OUT/$name/calibration.json"
done
$PY - "$OUT" $SHIFTS <<'PY'
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
lines = ["| shift (target style) | constant pose | G^s target | oracle target | G^s source_test "
         "| beats constant | oracle margin | source like oracle | usable |", "|---" * 9 + "|"]
for name in names:
  c = json.load(open(os.path.join(out, name, "calibration.json")))
  m, p = c["mpjpe_mm"], c["passed"]
  yes = lambda k: "yes" if p[k] else "no"
  lines.append(f"| {name} ({c['target_style']}) | {m['constant_pose_target']:.1f} | "
               f"{m['source_only_target']:.1f} | {m['oracle_target']:.1f} | "
               f"{m['source_only_source']:.1f} | {yes('beats_constant_pose')} | "
               f"{yes('oracle_margin')} | {yes('source_like_oracle')} | {yes('all')} |")
tmp = os.path.join(out, "calibration.md.tmp")
open(tmp, "w").write("\n".join(lines) + "\n")
os.replace(tmp, os.path.join(out, "calibration.md"))
print("\n".join(lines))
PY
