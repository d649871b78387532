"""Every gin file the package ships parses against the registered configurables."""

import glob
import os

import gin
import pytest

from sa3dhp_tf import config
from sa3dhp_tf.data import benchmark  # noqa: F401  (registers the benchmark configurables)
import sa3dhp_tf.tasks  # noqa: F401  (registers the stages and `train.stage`)

FILES = sorted(os.path.relpath(p, config.GIN_CONFIG_DIR) for p in
               glob.glob(os.path.join(config.GIN_CONFIG_DIR, "**", "*.gin"), recursive=True))


def test_there_are_configs():
  assert {"stages/adapt.gin", "experiments/paper_resnet50.gin", "benchmark/default.gin",
          "styles/source.gin", "styles/target.gin", "tiny/stages.gin"} <= set(FILES)


@pytest.mark.parametrize("path", FILES)
def test_parses(path):
  try:
    config.parse_gin([path], [], finalize=False)
  finally:
    gin.clear_config()
