r"""Calibrates one benchmark's domain shift with G^s and its oracle only (no adaptation).

  python tools/calibrate_shift.py --data_dir=BENCH --source_dir=G_S --oracle_dir=ORACLE \
      --output=calibration.json

G_S: a `source` stage (its source splits must be BENCH's: a graded shift shares them with the
default benchmark); ORACLE: a `source` stage trained on BENCH's labeled target frames. Give
--oracle_dir more than once and the oracle is the one with the lowest target MPJPE (the tightest
floor, as in the ablation's gap closure); each one's figures are in the JSON. Evaluates them on
BENCH, computes the constant mean pose floor and checks the criteria of
`sa3dhp_tf/evaluation/calibration.py`, fixed before any shift was measured. Writes the JSON
(temporary name, then renamed) and prints one line per criterion. Bad input: one `error:` line,
exit status 2.
"""

import json
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Benchmark dir whose target is calibrated.")
flags.DEFINE_string("source_dir", None, "Model dir of the source-only G^s.")
flags.DEFINE_multi_string("oracle_dir", None, "Model dir of an oracle (trained on target "
                          "labels); repeat for several, the tightest is the calibration's.")
flags.DEFINE_string("output", None, "Where to write calibration.json.")


def fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  for name in ("data_dir", "source_dir", "oracle_dir", "output"):
    if not getattr(FLAGS, name):
      fail(f"--{name} is required")
  from sa3dhp_tf import errors
  try:  # before minutes of evaluation, not after
    errors.ensure_writable_file(FLAGS.output, "--output")
  except errors.UserError as e:
    fail(str(e))
  if not os.path.isfile(os.path.join(FLAGS.data_dir, "manifest.json")):
    fail(f"--data_dir {FLAGS.data_dir}: no manifest.json (not a benchmark dir)")
  from sa3dhp_tf import json_files
  from sa3dhp_tf import stage_store
  from sa3dhp_tf.evaluation import calibration
  from sa3dhp_tf.evaluation import stage_evaluation
  try:
    trained_on = stage_store.read_stage_info(FLAGS.source_dir)["settings"]["data_dir"]
  except (errors.UserError, KeyError) as e:
    fail(f"--source_dir {FLAGS.source_dir}: {e}")
  if os.path.realpath(trained_on) != os.path.realpath(FLAGS.data_dir):
    differ = calibration.differing_source_shards(trained_on, FLAGS.data_dir)
    if differ:
      fail(f"--source_dir {FLAGS.source_dir} trained on {trained_on}, whose source splits are "
           f"not --data_dir's: {', '.join(differ[:3])} differ")
  try:
    source = {split: stage_evaluation.evaluate_model(FLAGS.source_dir, split, FLAGS.data_dir)
              for split in ("target_test", "source_test")}
    oracles = {d: stage_evaluation.evaluate_model(d, "target_test", FLAGS.data_dir)
               for d in FLAGS.oracle_dir}
  except errors.UserError as e:
    fail(str(e))
  oracle_dir = min(oracles, key=lambda d: oracles[d]["mpjpe"])
  oracle = oracles[oracle_dir]
  gt = calibration.root_relative_poses(FLAGS.data_dir, "target_test")
  measured = {"source_only_target": source["target_test"]["mpjpe"],
              "source_only_source": source["source_test"]["mpjpe"],
              "oracle_target": oracle["mpjpe"],
              "constant_pose_target": calibration.constant_pose_mpjpe(FLAGS.data_dir, gt)}
  verdict = calibration.check(measured)
  # Not a criterion (it reads the target test labels): the floor of a constant pose chosen with
  # hindsight, for comparison with the source mean pose of criterion 1.
  informative = {"constant_target_test_mean_pose":
                 calibration.own_mean_pose_mpjpe(gt)}
  with open(os.path.join(FLAGS.data_dir, "manifest.json")) as f:
    target_style = json.load(f)["styles"]["target"]
  payload = {"data_dir": FLAGS.data_dir, "target_style": target_style,
             "source_dir": FLAGS.source_dir, "oracle_dir": oracle_dir,
             "oracles": {d: {"mpjpe_mm": r["mpjpe"], "pa_mpjpe_mm": r["pa_mpjpe"]}
                         for d, r in oracles.items()},
             "mpjpe_mm": measured,
             "pa_mpjpe_mm": {"source_only_target": source["target_test"]["pa_mpjpe"],
                             "source_only_source": source["source_test"]["pa_mpjpe"],
                             "oracle_target": oracle["pa_mpjpe"]},
             "uses_target_test_labels_not_a_criterion_mpjpe_mm": informative,
             "criteria": {c.name: c.description for c in calibration.CRITERIA},
             "passed": verdict}
  json_files.write_json(FLAGS.output, payload)
  print(f"{target_style}: " + ", ".join(f"{k} {v:.1f} mm" for k, v in measured.items()))
  if len(oracles) > 1:
    print("  oracles (the lowest is oracle_target): " + ", ".join(
        f"{d} {r['mpjpe']:.1f} mm" for d, r in oracles.items()))
  print(f"  (not a criterion) the target test split's own mean pose: "
        f"{informative['constant_target_test_mean_pose']:.1f} mm")
  for c in calibration.CRITERIA:
    print(f"  {'pass' if verdict[c.name] else 'FAIL'}  {c.name}: {c.description}")
  print(f"  {'usable' if verdict['all'] else 'not usable'} for the adaptation table")


if __name__ == "__main__":
  app.run(main)
