"""Every gin file the package ships parses against the registered configurables, and every
value it binds passes the stage checks the training binary runs (a typo in a value fails here,
not an hour into a run)."""

import glob
import os

import gin
import pytest

from sa3dhp_tf import config
from sa3dhp_tf import errors
from sa3dhp_tf import settings
from sa3dhp_tf.data import benchmark  # registers the benchmark configurables
import sa3dhp_tf.tasks as tasks  # registers the stages and `train.stage`
import testing

FILES = sorted(os.path.relpath(p, config.GIN_CONFIG_DIR) for p in
               glob.glob(os.path.join(config.GIN_CONFIG_DIR, "**", "*.gin"), recursive=True))


def test_there_are_configs():
  assert {"stages/adapt.gin", "experiments/paper_resnet50.gin", "benchmark/default.gin",
          "styles/source.gin", "styles/target.gin", "tiny/stages.gin"} <= set(FILES)


def check_file(path):
  """Parses `path` (after the placeholders, so its own bindings win) and runs every stage's
  check and the benchmark builder's range checks."""
  config.parse_gin([], testing.required_placeholders(), finalize=False)
  try:
    gin.parse_config_file(config.resolve_gin_file(path))
    for stage in tasks.stage_names():
      tasks.check_stage(stage)
    settings.check_bound("build_benchmark", benchmark.build_benchmark, benchmark.BUILD_RULES)
  finally:
    gin.clear_config()


@pytest.mark.parametrize("path", FILES)
def test_parses(path):
  check_file(path)


@pytest.mark.parametrize("binding, culprit", [
    ("adapt.selection_rule = 'finall'", "adapt.selection_rule"),
    ("pose_aae.steps_per_loop = 7", "pose_aae.steps"),
    ("source.learning_rate = 0", "source.learning_rate"),
])
def test_a_bad_value_in_a_file_fails(tmp_path, binding, culprit):
  bad = tmp_path / "bad.gin"
  bad.write_text(f"include 'tiny/stages.gin'\n{binding}\n")
  with pytest.raises(errors.UserError, match=culprit):
    check_file(str(bad))
