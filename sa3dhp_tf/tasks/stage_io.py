"""What a finished stage leaves in its model dir, and how later stages load it.

  model_dir/stage_info.json     {"stage", "format_version", "models": [...], "settings": {...},
                                 "inputs": {name: model_dir of an earlier stage}, "results": {...}}
  model_dir/export/<name>.keras one Keras file per model (full config + weights)

Later stages load frozen models through `load_stage`, which checks the stage kind and the
settings they must agree on (e.g. `latent_dim`) BEFORE any training starts, with errors that name
the model dir.
"""

import json
import os

import keras

from sa3dhp_tf import errors
from sa3dhp_tf import lineage

FORMAT_VERSION = 1
INFO_FILE = "stage_info.json"
EXPORT_DIR = "export"


class StageError(errors.UserError):
  """A missing or incompatible earlier stage."""


def save_stage(model_dir, stage, models, settings, inputs=None, results=None):
  export_dir = os.path.join(model_dir, EXPORT_DIR)
  os.makedirs(export_dir, exist_ok=True)
  for name, model in models.items():
    model.save(os.path.join(export_dir, f"{name}.keras"))
  info = {"stage": stage, "format_version": FORMAT_VERSION, "models": sorted(models),
          "settings": settings, "inputs": {k: os.path.abspath(v) for k, v in (inputs or {}).items()},
          "results": results or {}, lineage.LINEAGE_KEY: lineage.record(inputs)}
  tmp = os.path.join(model_dir, INFO_FILE + ".tmp")
  with open(tmp, "w") as f:
    json.dump(info, f, indent=2, default=float)
  os.replace(tmp, os.path.join(model_dir, INFO_FILE))
  return info


def read_stage_info(model_dir, stage=None):
  path = os.path.join(model_dir or "", INFO_FILE)
  if not model_dir or not os.path.isdir(model_dir):
    raise StageError(f"model dir of the {stage or 'earlier'} stage not found: {model_dir!r}")
  if not os.path.isfile(path):
    raise StageError(f"{model_dir} holds no finished {stage or ''} stage (no {INFO_FILE}); "
                     "run that stage first")
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError) as e:
    raise StageError(f"{path} is unreadable or not JSON ({errors.first_line(e)}); rerun that "
                     "stage") from e
  if not isinstance(info, dict):
    raise StageError(f"{path} is not a stage description (a JSON object); rerun that stage")
  if stage is not None and info.get("stage") != stage:
    raise StageError(f"{model_dir} holds a {info.get('stage')!r} stage, expected {stage!r}")
  if info.get("format_version") != FORMAT_VERSION:
    raise StageError(f"{model_dir}: stage format {info.get('format_version')} is not "
                     f"{FORMAT_VERSION}; rerun that stage with this version")
  return info


def load_stage(model_dir, stage, names=None, expect=None):
  """Loads models of a finished stage. `expect` maps setting name -> required value."""
  import sa3dhp_tf.modeling  # noqa: F401  (registers the serializable classes)
  info = read_stage_info(model_dir, stage)
  lineage.check_chain(model_dir, info)
  for key, value in (expect or {}).items():
    have = info["settings"].get(key)
    if have != value:
      raise StageError(f"{model_dir} ({stage}) has {key} = {have!r}, but this stage needs "
                       f"{value!r}")
  models = {}
  for name in names or info["models"]:
    path = os.path.join(model_dir, EXPORT_DIR, f"{name}.keras")
    if not os.path.isfile(path):
      raise StageError(f"{model_dir} ({stage}) lacks model {name!r} ({path})")
    try:
      models[name] = keras.models.load_model(path, compile=False)
    except Exception as e:  # a truncated or foreign file fails in zipfile, h5py or Keras
      raise StageError(f"{path} cannot be loaded ({type(e).__name__}: {errors.first_line(e)}); "
                       "rerun that stage") from e
  return models, info


def freeze(model):
  model.trainable = False
  return model
