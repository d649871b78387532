"""An exported model behind one call: `predict(crops uint8 [N, S, S, 3] RGB)` ->
(`pose3d` `[N, 17, 3]` mm root-relative, `latent` `[N, D]`).

`load_predictor(path)` takes what `python -m sa3dhp_tf.export` writes:
  - a SavedModel version dir (`P/<version>/saved_model.pb`), run through its `serving_default`
    signature (resizing and scaling happen inside the graph);
  - the model base dir `P` of TF Serving's layout: its highest numeric version;
  - a `.tflite` file, run with ai_edge_litert through its one signature (the exporter's device
    signature: one uint8 crop at the model's fixed input size, no resize inside; crops are
    resized to it here).
"""

import json
import os

import cv2
import numpy as np

from sa3dhp_tf import errors

SIGNATURE = "serving_default"
METADATA_FILE = "metadata.json"
# Crop side sent to a SavedModel when its metadata names no input size (any size is accepted).
DEFAULT_CROP_SIZE = 128


class ModelError(errors.UserError):
  """A --model path that is not an exported model."""


def _metadata_file(path):
  """The exporter's metadata (`{}` if absent or unreadable: it only gives the crop size)."""
  if not os.path.isfile(path):
    return {}
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError):
    return {}


def _metadata(version_dir):
  """metadata.json of a SavedModel version dir (the exporter writes it inside)."""
  return _metadata_file(os.path.join(version_dir, METADATA_FILE))


def _image_size(metadata):
  """The model's input side from metadata.json, wherever the exporter put it."""
  stack = [metadata]
  while stack:
    item = stack.pop()
    if isinstance(item, dict):
      for key in ("image_size", "input_size", "model_image_size"):
        value = item.get(key)
        if isinstance(value, int) and value > 0:
          return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
          return int(value[0])
      stack.extend(item.values())
  return None


def resolve_saved_model(path):
  """The version dir for `path` (a version dir, or a base dir of numeric versions)."""
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return path
  versions = [d for d in os.listdir(path) if d.isdigit()
              and os.path.isfile(os.path.join(path, d, "saved_model.pb"))]
  if not versions:
    raise ModelError(f"--model {path}: no saved_model.pb, nor numeric version dirs holding one")
  return os.path.join(path, max(versions, key=int))


class SavedModelPredictor:
  kind = "saved_model"

  def __init__(self, path):
    self.path = resolve_saved_model(path)
    import tensorflow as tf  # after the path checks: a wrong path fails without TF's import
    try:
      loaded = tf.saved_model.load(self.path)
    except Exception as e:  # TF raises many types for a damaged SavedModel
      raise ModelError(f"--model {self.path}: cannot load the SavedModel "
                       f"({errors.first_line(e)})") from e
    if SIGNATURE not in loaded.signatures:
      raise ModelError(f"--model {self.path}: no {SIGNATURE!r} signature (has "
                       f"{sorted(loaded.signatures)})")
    self._loaded = loaded  # keeps the variables alive
    self._fn = loaded.signatures[SIGNATURE]
    inputs = self._fn.structured_input_signature[1]
    if len(inputs) != 1:
      raise ModelError(f"--model {self.path}: {SIGNATURE} takes {sorted(inputs)}, expected one "
                       "image input")
    self._input_name, spec = next(iter(inputs.items()))
    if spec.dtype != tf.uint8 or spec.shape.rank != 4:
      raise ModelError(f"--model {self.path}: {SIGNATURE} takes {spec}, expected uint8 "
                       "[N, H, W, 3] crops")
    self._tf = tf
    self.metadata = _metadata(self.path)
    self.crop_size = _image_size(self.metadata) or DEFAULT_CROP_SIZE

  def predict(self, crops):
    out = self._fn(**{self._input_name: self._tf.constant(np.asarray(crops, np.uint8))})
    return out["pose3d"].numpy(), out["latent"].numpy()


class TFLitePredictor:
  kind = "tflite"

  def __init__(self, path, num_threads=None):
    from ai_edge_litert import interpreter as litert
    self.path = path
    try:
      self._interpreter = litert.Interpreter(model_path=path, num_threads=num_threads)
    except Exception as e:  # ai_edge_litert raises ValueError/RuntimeError for bad files
      raise ModelError(f"--model {path}: not a TFLite model ({errors.first_line(e)})") from e
    signatures = sorted(self._interpreter.get_signature_list())
    if len(signatures) != 1 and SIGNATURE not in signatures:
      raise ModelError(f"--model {path}: expected one signature (or {SIGNATURE!r}), has "
                       f"{signatures}")
    key = SIGNATURE if SIGNATURE in signatures else signatures[0]
    self._runner = self._interpreter.get_signature_runner(key)
    input_details = self._runner.get_input_details()
    if len(input_details) != 1:
      raise ModelError(f"--model {path}: {SIGNATURE} takes {sorted(input_details)}, expected "
                       "one image input")
    self._input_name, detail = next(iter(input_details.items()))
    shape = detail["shape_signature"]
    if len(shape) != 4 or shape[-1] != 3:
      raise ModelError(f"--model {path}: input shape {list(shape)}, expected [N, H, W, 3]")
    self._dtype = detail["dtype"]
    self._fixed = int(shape[1]) if shape[1] > 0 else None
    self.metadata = _metadata_file(f"{path}.{METADATA_FILE}")
    self.crop_size = self._fixed or _image_size(self.metadata) or DEFAULT_CROP_SIZE

  def predict(self, crops):
    poses, latents = [], []
    for crop in np.asarray(crops):
      if crop.shape[0] != self.crop_size:
        crop = cv2.resize(crop, (self.crop_size, self.crop_size), interpolation=cv2.INTER_AREA)
      out = self._runner(**{self._input_name: crop[None].astype(self._dtype)})
      poses.append(out["pose3d"][0])
      latents.append(out["latent"][0])
    return np.stack(poses), np.stack(latents)


def load_predictor(path, num_threads=None):
  if not path:
    raise ModelError("--model is required")
  if not os.path.exists(path):
    raise ModelError(f"--model not found: {path}")
  if os.path.isfile(path):
    if not path.endswith(".tflite"):
      raise ModelError(f"--model {path}: expected a SavedModel dir or a .tflite file")
    return TFLitePredictor(path, num_threads=num_threads)
  return SavedModelPredictor(path)
