"""Named model widths. `TINY` holds the tiny widths of gin_configs/tiny/models.gin, the one
definition that tiny/stages.gin includes and the tests (tests/testing.py) and
`tools/bench_adapt_step.py --tiny` read: every stage trains in seconds on a CPU.

`TINY[model]` holds the constructor arguments of one model class that set its size, keyed as
below; the latent size of G and of the motion AAE comes from the pose AAE's `latent_dim`, as in
the stages.
"""

import os

from gin import config_parser

TINY_GIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gin_configs", "tiny",
                        "models.gin")
# gin configurable of tiny/models.gin -> key of TINY
_KEYS = {"PoseAutoencoder": "pose_autoencoder", "MotionAutoencoder": "motion_autoencoder",
         "ImageToLatent": "image_to_latent", "relation_nets": "relation_network",
         "RelationDistillationModel": "adaptation"}


class _LiteralsOnly:
  """Parser delegate: the widths file holds literals only (no @references, no %macros)."""

  def configurable_reference(self, scoped_name, evaluate):
    raise ValueError(f"{TINY_GIN}: @{scoped_name}: only literal values belong here")

  def macro(self, macro_name):
    raise ValueError(f"{TINY_GIN}: %{macro_name}: only literal values belong here")


def _read_widths(path):
  widths = {key: {} for key in _KEYS.values()}
  with open(path) as f:
    for statement in config_parser.ConfigParser(f, _LiteralsOnly()):
      if not isinstance(statement, config_parser.BindingStatement) or statement.scope:
        raise ValueError(f"{path}: only unscoped bindings belong here, got {statement}")
      widths[_KEYS[statement.selector]][statement.arg_name] = statement.value
  return widths


TINY = _read_widths(TINY_GIN)
