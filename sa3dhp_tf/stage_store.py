"""A finished stage directory, read back: its `stage_info.json`, its Keras models and the earlier
stages they depend on. The one place `tasks/` (later stages), `evaluation/` and `export/` load
stages from; it imports no task, so none of them reaches up into another.

  model_dir/stage_info.json     {"stage", "format_version", "models": [...], "settings": {...},
                                 "inputs": {name: model_dir of an earlier stage}, "results": {...}}
  model_dir/models/<name>.keras one Keras file per model (full config + weights); runs finished
                                before the rename keep them in `model_dir/export/`, still read.

Loading checks the stage kind and the settings later stages must agree on (e.g. `latent_dim`)
before any work starts, with errors that name the model dir. Writing is `tasks/stage_io.py`.
"""

import collections
import json
import os

from sa3dhp_tf import errors

FORMAT_VERSION = 1
INFO_FILE = "stage_info.json"
MODELS_DIR = "models"
# Where stages wrote their models before "export" came to mean serving only (issue 9).
LEGACY_MODELS_DIR = "export"
POSE_STAGES = ("source", "adapt")  # stages whose image_to_latent predicts poses


class StageError(errors.UserError):
  """A missing or incompatible earlier stage."""


def read_stage_info(model_dir, stage=None):
  """`stage_info.json` of a finished stage; `stage` (a name or a tuple) is the kind expected."""
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
    raise StageError(f"{path} is unreadable: {e}") from e
  expected = (stage,) if isinstance(stage, str) else stage
  if expected is not None and info.get("stage") not in expected:
    raise StageError(f"{model_dir} holds a {info.get('stage')!r} stage, expected "
                     f"{' or '.join(repr(s) for s in expected)}")
  if info.get("format_version") != FORMAT_VERSION:
    raise StageError(f"{model_dir}: stage format {info.get('format_version')} is not "
                     f"{FORMAT_VERSION}; rerun that stage with this version")
  return info


def model_path(model_dir, name):
  """The Keras file of model `name`: `models/`, else the pre-rename `export/`, else None."""
  for folder in (MODELS_DIR, LEGACY_MODELS_DIR):
    path = os.path.join(model_dir, folder, f"{name}.keras")
    if os.path.isfile(path):
      return path
  return None


def load_stage(model_dir, stage, names=None, expect=None):
  """Loads models of a finished stage. `expect` maps setting name -> required value."""
  import keras
  import sa3dhp_tf.modeling  # noqa: F401  (registers the serializable classes)
  info = read_stage_info(model_dir, stage)
  for key, value in (expect or {}).items():
    have = info["settings"].get(key)
    if have != value:
      raise StageError(f"{model_dir} ({info['stage']}) has {key} = {have!r}, but this stage "
                       f"needs {value!r}")
  models = {}
  for name in names or info["models"]:
    path = model_path(model_dir, name)
    if path is None:
      raise StageError(f"{model_dir} ({info['stage']}) lacks model {name!r} "
                       f"({os.path.join(model_dir, MODELS_DIR, name + '.keras')})")
    models[name] = keras.models.load_model(path, compile=False)
  return models, info


def freeze(model):
  model.trainable = False
  return model


def load_pose_autoencoder(pose_aae_dir):
  """Frozen E_p / D_p (`PoseAutoencoder`) of a finished `pose_aae` stage, and its info."""
  models, info = load_stage(pose_aae_dir, "pose_aae", ["pose_autoencoder"])
  return freeze(models["pose_autoencoder"]), info


def load_motion_autoencoder(motion_aae_dir, latent_dim):
  """Frozen E_m / D_m of a finished `motion_aae` stage trained on `latent_dim`-sized codes."""
  models, info = load_stage(motion_aae_dir, "motion_aae", ["motion_autoencoder"],
                            expect={"latent_dim": latent_dim})
  return freeze(models["motion_autoencoder"]), info


PoseEstimator = collections.namedtuple(
    "PoseEstimator", ["image_to_latent", "pose_autoencoder", "info", "pose_info"])


def load_pose_estimator(model_dir):
  """G (a `source` or `adapt` stage's `image_to_latent`) with the frozen pose AAE whose D_p turns
  its codes into poses: everything needed to go from images to 3D poses."""
  info = read_stage_info(model_dir, POSE_STAGES)
  models, _ = load_stage(model_dir, info["stage"], ["image_to_latent"])
  pose_ae, pose_info = load_pose_autoencoder(info["inputs"].get("pose_aae"))
  return PoseEstimator(freeze(models["image_to_latent"]), pose_ae, info, pose_info)


def motion_aae_dir_of(info):
  """The motion AAE a pose stage's lineage reaches (adapt -> relation_nets -> motion_aae), or
  None (a `source` stage, or an adapt run without relation networks)."""
  if "motion_aae" in info.get("inputs", {}):
    return info["inputs"]["motion_aae"]
  relation_dir = info.get("inputs", {}).get("relation_nets")
  if relation_dir:
    return read_stage_info(relation_dir, "relation_nets")["inputs"].get("motion_aae")
  return None
