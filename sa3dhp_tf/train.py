r"""Runs one training stage.

  python -m sa3dhp_tf.train --gin_file=stages/pose_aae.gin [--gin_file=F2 ...] \
      [--gin_bindings='pose_aae.steps = 100' ...] --model_dir=runs/pose_aae [--stage=pose_aae]

The stage is `--stage` if given, else the gin binding `train.stage`. Configuration errors
(unknown stage, missing gin file, bad binding) print one line naming the culprit, exit with
status 2 and write nothing. The full parsed config is written to `model_dir/config.gin` before
training and the operative config to `model_dir/operative_config.gin` after it. In a multi-worker
run only the chief writes into `--model_dir` (see `sa3dhp_tf.distribution`). One run per model
dir at a time: a second run into a dir in use exits with status 2 (`sa3dhp_tf.model_dir_lock`).
"""

import os
import shutil

from absl import flags
from absl import logging
import gin

from sa3dhp_tf import config
from sa3dhp_tf import distribution
from sa3dhp_tf import errors
from sa3dhp_tf import model_dir_lock

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [], "Gin config file(s); repeatable.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, e.g. 'pose_aae.steps = 10'; repeatable.")
flags.DEFINE_string("model_dir", None, "Directory for checkpoints, logs and configs.")
flags.DEFINE_string("stage", None, "Stage to run; overrides the gin binding `train.stage`.")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "model_dir")
  import sa3dhp_tf.tasks as tasks  # registers every stage's configurables before parsing
  try:
    config.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
    stage_name = FLAGS.stage or tasks.selected_stage()
    if not stage_name:
      raise config.ConfigError("no stage given: pass --stage or bind train.stage; known stages: "
                               + ", ".join(tasks.stage_names()))
    stage_fn = tasks.get_stage(stage_name)
    tasks.check_stage(stage_name)
  except KeyError as e:  # the stage registry's lookup
    raise errors.UserError(e.args[0] if e.args else str(e)) from e
  # Before anything else touches TensorFlow: a multi-worker strategy configures the runtime.
  distribution.make_strategy()
  created = not os.path.exists(FLAGS.model_dir)
  with distribution.worker_model_dir(FLAGS.model_dir) as model_dir:
    errors.ensure_writable_dir(model_dir, "--model_dir")
    # Outside the cleanup below: a run refused for a busy dir must not remove the other's files.
    with model_dir_lock.exclusive(model_dir):
      config.write_config(model_dir, "config.gin", gin.config_str())
      logging.info("running stage %s into %s", stage_name, model_dir)
      try:
        try:
          stage_fn(model_dir)
        except FileNotFoundError as e:
          raise errors.UserError(str(e)) from e
      except errors.UserError:
        if created:
          remove_if_untrained(FLAGS.model_dir)
        raise
      config.write_config(model_dir, "operative_config.gin", gin.operative_config_str())


def remove_if_untrained(model_dir):
  """Removes a model dir this run created when a user error stopped it before any checkpoint:
  a bad input must leave nothing behind, while a resumable partial run is kept."""
  for _, _, names in os.walk(model_dir):
    if any(name.endswith(".weights.h5") for name in names):
      return
  shutil.rmtree(model_dir, ignore_errors=True)


def run_main():
  errors.run(main)


if __name__ == "__main__":
  run_main()
