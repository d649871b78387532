"""What a finished stage leaves in its model dir: the writing side. Reading a stage back (for
later stages, evaluation and export) is `sa3dhp_tf.stage_store`, which documents the layout;
its names are re-exported here so stage code keeps one import.
"""

import json
import os

from sa3dhp_tf import stage_store
from sa3dhp_tf.stage_store import (  # noqa: F401  (re-exported for the stages)
    FORMAT_VERSION, INFO_FILE, MODELS_DIR, StageError, freeze, load_stage, read_stage_info)


def save_stage(model_dir, stage, models, settings, inputs=None, results=None):
  models_dir = os.path.join(model_dir, MODELS_DIR)
  os.makedirs(models_dir, exist_ok=True)
  for name, model in models.items():
    model.save(os.path.join(models_dir, f"{name}.keras"))
  info = {"stage": stage, "format_version": FORMAT_VERSION, "models": sorted(models),
          "settings": settings, "inputs": {k: os.path.abspath(v) for k, v in (inputs or {}).items()},
          "results": results or {}}
  with open(os.path.join(model_dir, INFO_FILE), "w") as f:
    json.dump(info, f, indent=2, default=float)
  return info
