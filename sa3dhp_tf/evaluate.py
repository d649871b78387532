r"""Evaluates an image-to-latent model (source or adapted) on a labeled benchmark split.

  python -m sa3dhp_tf.evaluate --model_dir=runs/adapt [--gin_file=F ...] [--gin_bindings=...] \
      [--split=target_test] [--data_dir=DIR] --output=results.json

`model_dir` is the model dir of a `source` or `adapt` stage; the pose decoder D_p is taken from
the pose AAE stage it was trained with. The JSON has top-level `mpjpe`, `pa_mpjpe` (mm), `pck`,
`auc` (percent), `latent_std`, `per_action` and `per_joint`. Bad paths or stage dirs print one
line and exit with status 2.
"""

import json

from absl import flags

from sa3dhp_tf import config
from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [], "Gin config file(s).")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings.")
flags.DEFINE_string("model_dir", None, "Model dir of a source or adapt stage.")
flags.DEFINE_string("split", "target_test", "Labeled split to evaluate on.")
flags.DEFINE_string("data_dir", None, "Benchmark dir (default: the one the model trained on).")
flags.DEFINE_string("output", None, "Where to write the results JSON.")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "model_dir", "output")
  errors.ensure_writable_file(FLAGS.output, "--output")
  from sa3dhp_tf import evaluation
  from sa3dhp_tf.evaluation.stage_evaluation import evaluate_model
  # Registers every configurable evaluate_model reaches (pipelines, stages) before gin locks
  # the config.
  from sa3dhp_tf.evaluation import pose_evaluation  # noqa: F401
  import sa3dhp_tf.tasks  # noqa: F401
  config.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  try:
    results = evaluate_model(FLAGS.model_dir, FLAGS.split, FLAGS.data_dir)
  except FileNotFoundError as e:
    raise errors.UserError(str(e)) from e
  evaluation.write_results_json(results, FLAGS.output)
  print(evaluation.format_breakdown(results))
  print(json.dumps({k: results[k] for k in ("mpjpe", "pa_mpjpe", "n_mpjpe",
                                          "procrustes_rotation_deg", "pck", "auc",
                                          "latent_std")}))
  if "protocol" in results:     # experiments/paper_*.gin select one (evaluation.protocols)
    print(json.dumps({"protocol": results["protocol"]}))


if __name__ == "__main__":
  errors.run(main)
