"""Exporting a finished pose stage: built in a temporary directory, validated against the Keras
models on the benchmark's target test frames, then renamed into place in one step, so a server
polling the output never sees a half-written version.

  export(model_dir, "saved_model", "serving/pose")           -> serving/pose/<version>/
  export(model_dir, "tflite", "pose_int8.tflite", quantize="int8")

Formats are entries of `FORMATS` (`@export_format`); quantisations of `QUANTIZATIONS`.
"""

import datetime
import json
import os
import re
import shutil
import tempfile
import warnings

import numpy as np
import tensorflow as tf

from sa3dhp_tf import errors
from sa3dhp_tf import stage_store
from sa3dhp_tf.data import records
from sa3dhp_tf.export import pose_module

METADATA_FILE = "metadata.json"
CHECK_SPLIT = "target_test"
CALIBRATION_SPLIT = "target_train"
# Float SavedModel vs the Keras models: the same kernels, so the only differences are float32
# rounding of op order. pose3d is in mm (|values| up to ~1e3), so the bound is on the error
# relative to the output's scale: max|served - keras| / max(1, max|keras|).
SAVED_MODEL_TOLERANCE = 1e-5
INCOMPLETE_PREFIX = ".incomplete-"
FORMATS = {}


class ExportError(errors.UserError):
  """An export that cannot be made or did not validate."""


def export_format(name):
  def register(function):
    FORMATS[name] = function
    return function
  return register


def export(model_dir, fmt, output, **kwargs):
  """Exports the stage in `model_dir` as format `fmt` (a key of `FORMATS`) to `output`."""
  if fmt not in FORMATS:
    raise ExportError(f"--format must be one of {sorted(FORMATS)}, got {fmt!r}")
  return FORMATS[fmt](model_dir, output, **kwargs)


# --- check frames ----------------------------------------------------------------------------

def benchmark_jpegs(data_dir, split, count):
  """The first `count` encoded frames of a benchmark split, in file order."""
  try:
    paths = records.shard_paths(data_dir, split)
  except FileNotFoundError as e:
    raise ExportError(f"validation frames: {e}") from e
  kind = records.split_kind(split)
  key = "frames/encoded" if kind == "clip" else "image/encoded"
  jpegs = []
  with records.explain_data_errors(paths, kind):
    for record in records.record_dataset(paths, kind):
      jpegs.extend(np.atleast_1d(record[key].numpy()).tolist())
      if len(jpegs) >= count:
        break
  if len(jpegs) < count:
    raise ExportError(f"the {split} split of {data_dir} has {len(jpegs)} frames, fewer than the "
                      f"{count} needed to validate the export")
  return jpegs[:count]


def decode_uint8(jpegs, size=None):
  """Encoded frames -> uint8 `[N, H, W, 3]` (resized to `size` x `size` if given)."""
  frames = [tf.io.decode_jpeg(j, channels=3) for j in jpegs]
  if size is not None:
    frames = [f if f.shape[:2] == (size, size) else
              tf.cast(tf.round(tf.image.resize(f, [size, size], antialias=True)), tf.uint8)
              for f in frames]
  return np.stack([f.numpy() for f in frames])


def keras_reference(module, jpegs):
  """What the Keras models predict for encoded frames through the evaluation pipeline
  (`pipelines.decode_frame`, then G and D_p eagerly): the export's expected outputs."""
  from sa3dhp_tf.data import pipelines
  size = [module.input_size, module.input_size]
  images = tf.stack([pipelines.decode_frame(j) for j in jpegs])
  if tuple(images.shape[1:3]) != tuple(size):
    images = tf.image.resize(images, size, antialias=True)
  latent = module.image_to_latent(images, training=False)
  return {"pose3d": np.asarray(module.pose_decoder(latent, training=False)),
          "latent": np.asarray(latent)}


def relative_error(got, want):
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  if got.shape != want.shape:
    raise ExportError(f"export output shape {got.shape} differs from the Keras {want.shape}")
  return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


# --- SavedModel ------------------------------------------------------------------------------

def _next_version(output):
  versions = [int(n) for n in os.listdir(output) if re.fullmatch(r"\d+", n)]
  return max(versions, default=0) + 1


def _remove_stale_incomplete(output):
  """Temp dirs left by an export killed before its rename (its process is gone)."""
  for name in os.listdir(output):
    match = re.fullmatch(re.escape(INCOMPLETE_PREFIX) + r"\d+-(\d+)-.*", name)
    if not match:
      continue
    try:
      os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
      shutil.rmtree(os.path.join(output, name), ignore_errors=True)
    except PermissionError:
      pass


def signature_contract(concrete_functions):
  """{key: {"inputs": {name: {dtype, shape}}, "outputs": {...}}} as TF Serving reports it."""
  def spec(s):
    return {"dtype": s.dtype.name, "shape": None if s.shape.rank is None else
            [d if d is not None else -1 for d in s.shape.as_list()]}
  contract = {}
  for key, fn in concrete_functions.items():
    inputs = tf.nest.flatten(fn.structured_input_signature)
    contract[key] = {"inputs": {s.name: spec(s) for s in inputs},
                     "outputs": {n: spec(s) for n, s in sorted(fn.structured_outputs.items())}}
  return contract


def _clips_from_frames(frames, clip_length):
  """One clip of `clip_length` frames cycling through `frames` (validation only)."""
  index = np.arange(clip_length) % len(frames)
  return frames[index][None]


def validate_saved_model(path, module, jpegs, tolerance=SAVED_MODEL_TOLERANCE):
  """Reloads the SavedModel at `path`, runs every signature on `jpegs` and compares with the
  Keras models. Returns {signature: {output: relative error}}; raises ExportError past
  `tolerance`."""
  loaded = tf.saved_model.load(path)
  reference = keras_reference(module, jpegs)
  frames = decode_uint8(jpegs)
  feeds = {
      "serving_default": lambda: loaded.signatures["serving_default"](images=frames),
      "serving_bytes": lambda: loaded.signatures["serving_bytes"](
          images=tf.constant(jpegs, tf.string)),
      pose_module.DEVICE_SIGNATURE: lambda: {
          k: np.concatenate([loaded.signatures[pose_module.DEVICE_SIGNATURE](
              images=decode_uint8([j], module.input_size))[k] for j in jpegs])
          for k in ("pose3d", "latent")},
  }
  errors_by_key = {}
  for key in module.available_signatures():
    if key == "serving_clip":
      clip = _clips_from_frames(frames, module.clip_length)
      out = loaded.signatures["serving_clip"](clips=clip)
      index = np.arange(module.clip_length) % len(jpegs)
      want_motion = np.asarray(module.motion_encoder(reference["latent"][index][None],
                                                     training=False))
      errors_by_key[key] = {
          "pose3d": relative_error(out["pose3d"][0], reference["pose3d"][index]),
          "latent": relative_error(out["latent"][0], reference["latent"][index]),
          "motion": relative_error(out["motion"], want_motion)}
    else:
      out = feeds[key]()
      errors_by_key[key] = {k: relative_error(out[k], reference[k]) for k in reference}
  worst = max((e, k, o) for k, d in errors_by_key.items() for o, e in d.items())
  if worst[0] > tolerance:
    raise ExportError(f"the exported {worst[1]} signature's {worst[2]} differs from the Keras "
                      f"model by {worst[0]:.3g} (relative), over the {tolerance} tolerance")
  return errors_by_key


def _stage_metrics(model_dir, info):
  metrics = {"stage_results": info.get("results", {})}
  path = os.path.join(model_dir, "results.json")
  if os.path.isfile(path):
    with open(path) as f:
      results = json.load(f)
    for split, value in results.items():
      if isinstance(value, dict) and "mpjpe" in value:
        metrics[split] = {k: value.get(k) for k in ("mpjpe", "pa_mpjpe", "pck", "auc")}
    if "mpjpe" in results:
      metrics["selected"] = {k: results.get(k) for k in ("mpjpe", "pa_mpjpe", "pck", "auc")}
  return metrics


def _metadata(module, model_dir, fmt, contract, validation, **extra):
  info = module.stage_info
  gin_path = os.path.join(model_dir, "operative_config.gin")
  gin_text = open(gin_path).read() if os.path.isfile(gin_path) else None
  return {"format": fmt, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
          "tensorflow": tf.__version__, "stage": info["stage"],
          "stages": {k: os.path.abspath(v) for k, v in module.stage_dirs.items()},
          "stage_inputs": info.get("inputs", {}), "stage_settings": info.get("settings", {}),
          "operative_config": gin_text,
          "input_contract": {"pixels": "uint8 RGB, any size; scaled to [0, 1] and resized "
                                       f"(antialiased) to {module.input_size}x"
                                       f"{module.input_size} inside the graph",
                             "pose3d": "root-relative camera-frame joints, mm, H36M-17 order",
                             "clip_length": module.clip_length,
                             "signatures": contract},
          "metrics": _stage_metrics(model_dir, info), "validation": validation, **extra}


def write_json_atomic(path, payload):
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(payload, f, indent=2, default=float)
  os.replace(tmp, path)


def _check_frames(module, data_dir, num_check_frames):
  data_dir = data_dir or module.stage_info["settings"].get("data_dir")
  if not data_dir:
    raise ExportError(f"{module.stage_dirs['model']} records no data_dir; pass --data_dir")
  return data_dir, benchmark_jpegs(data_dir, CHECK_SPLIT, num_check_frames)


def build_saved_model(module, path):
  signatures = module.get_inference_signatures()
  tf.saved_model.save(module, path, signatures=signatures)
  return signatures


@export_format("saved_model")
def export_saved_model(model_dir, output, version=None, motion_aae_dir=None, data_dir=None,
                       num_check_frames=8, before_rename=None):
  """Writes `output/<version>/` (TF Serving's layout; default version: the next integer) with
  the SavedModel and `metadata.json`. `before_rename(tmp_dir)` is called with the validated
  build (tests interrupt there). Returns the version dir."""
  errors.ensure_writable_dir(output, "--output")
  version = _next_version(output) if version is None else int(version)
  if version < 1:
    raise ExportError(f"--version must be a positive integer, got {version}")
  final = os.path.join(output, str(version))
  if os.path.exists(final):
    raise ExportError(f"--output {output} already has version {version}; pick another "
                      "--version or leave it out for the next one")
  module = pose_module.PoseExportModule.from_stage(model_dir, motion_aae_dir)
  data_dir, jpegs = _check_frames(module, data_dir, num_check_frames)
  _remove_stale_incomplete(output)
  tmp = tempfile.mkdtemp(prefix=f"{INCOMPLETE_PREFIX}{version}-{os.getpid()}-", dir=output)
  try:
    signatures = build_saved_model(module, tmp)
    validation = validate_saved_model(tmp, module, jpegs)
    write_json_atomic(os.path.join(tmp, METADATA_FILE), _metadata(
        module, model_dir, "saved_model", signature_contract(signatures),
        {"frames": len(jpegs), "split": CHECK_SPLIT, "data_dir": os.path.abspath(data_dir),
         "tolerance": SAVED_MODEL_TOLERANCE, "relative_error": validation},
        version=version))
    if before_rename is not None:
      before_rename(tmp)
    os.rename(tmp, final)  # one step: TF Serving sees no version, or a whole one
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return final


# --- TFLite ----------------------------------------------------------------------------------

def _converter_float16(converter, calibration):
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.target_spec.supported_types = [tf.float16]


def _converter_dynamic_int8(converter, calibration):
  converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _converter_int8(converter, calibration):
  """Full integer: weights and activations int8, ranges calibrated on target-train frames; the
  uint8 pixels stay the input (the graph's first op scales them)."""
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = lambda: ({"images": f[None]} for f in calibration())
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                         tf.lite.OpsSet.TFLITE_BUILTINS]


QUANTIZATIONS = {"none": lambda converter, calibration: None,
                 "float16": _converter_float16,
                 "dynamic_int8": _converter_dynamic_int8,
                 "int8": _converter_int8}


def freeze_device_signature(saved_model_dir, output):
  """A SavedModel holding only the device signature, its variables folded into constants.
  Converted with resource variables, Keras 3's weights stay READ_VARIABLE ops the TFLite file
  never initialises (NaN outputs, or a failed invoke under int8; measured here)."""
  from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
  loaded = tf.saved_model.load(saved_model_dir)  # kept alive: the function reads its variables
  function = loaded.signatures[pose_module.DEVICE_SIGNATURE]
  frozen = convert_variables_to_constants_v2(function)
  spec = tf.nest.flatten(function.structured_input_signature)[0]

  @tf.function(input_signature=[spec])
  def device(images):
    return tf.nest.pack_sequence_as(function.structured_outputs,
                                    tf.nest.flatten(frozen(images)))

  tf.saved_model.save(tf.Module(), output,
                      signatures={pose_module.DEVICE_SIGNATURE: device.get_concrete_function()})
  return output


def convert_saved_model(saved_model_dir, quantize="none", calibration=None):
  """TFLite flatbuffer bytes of the SavedModel's device signature."""
  if quantize not in QUANTIZATIONS:
    raise ExportError(f"--quantize must be one of {sorted(QUANTIZATIONS)}, got {quantize!r}")
  converter = tf.lite.TFLiteConverter.from_saved_model(
      saved_model_dir, signature_keys=[pose_module.DEVICE_SIGNATURE])
  QUANTIZATIONS[quantize](converter, calibration)
  with warnings.catch_warnings():
    # The int8 calibration inside the converter builds a tf.lite.Interpreter of its own, which
    # warns that tf.lite.Interpreter is deprecated; the project runs its files with ai_edge_litert.
    warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated",
                            category=UserWarning)
    return converter.convert()


def tflite_runner(model, num_threads=1):
  """The device signature of a TFLite file (path) or flatbuffer (bytes) under ai_edge_litert."""
  from ai_edge_litert import interpreter as litert
  kwargs = {"model_path": model} if isinstance(model, str) else {"model_content": model}
  interpreter = litert.Interpreter(num_threads=num_threads, **kwargs)
  return interpreter.get_signature_runner(pose_module.DEVICE_SIGNATURE)


def run_tflite(runner, frames):
  """{pose3d, latent} of uint8 frames `[N, S, S, 3]`, one invoke per frame."""
  outs = [runner(images=f[None]) for f in frames]
  return {k: np.concatenate([o[k] for o in outs]) for k in ("pose3d", "latent")}


@export_format("tflite")
def export_tflite(model_dir, output, quantize="none", motion_aae_dir=None, data_dir=None,
                  num_check_frames=8, num_calibration_frames=64, version=None):
  """Writes the TFLite file `output` (and `output`.metadata.json), converted from a validated
  SavedModel of the stage. Returns its path."""
  del version  # a TFLite file has no serving versions
  if quantize not in QUANTIZATIONS:
    raise ExportError(f"--quantize must be one of {sorted(QUANTIZATIONS)}, got {quantize!r}")
  errors.ensure_writable_file(output, "--output")
  module = pose_module.PoseExportModule.from_stage(model_dir, motion_aae_dir)
  data_dir, jpegs = _check_frames(module, data_dir, num_check_frames)
  calibration = lambda: decode_uint8(  # noqa: E731
      benchmark_jpegs(data_dir, CALIBRATION_SPLIT, num_calibration_frames), module.input_size)
  with tempfile.TemporaryDirectory(prefix=".export-", dir=os.path.dirname(
      os.path.abspath(output))) as tmp:
    saved = os.path.join(tmp, "saved_model")
    signatures = build_saved_model(module, saved)
    validate_saved_model(saved, module, jpegs)
    device = os.path.join(tmp, "device_saved_model")
    freeze_device_signature(saved, device)
    flatbuffer = convert_saved_model(device, quantize, calibration)
  reference = keras_reference(module, jpegs)
  got = run_tflite(tflite_runner(flatbuffer), decode_uint8(jpegs, module.input_size))
  error = {k: relative_error(got[k], reference[k]) for k in reference}
  tmp_file = f"{output}.tmp-{os.getpid()}"
  with open(tmp_file, "wb") as f:
    f.write(flatbuffer)
  os.replace(tmp_file, output)
  write_json_atomic(f"{output}.{METADATA_FILE}", _metadata(
      module, model_dir, "tflite",
      signature_contract({pose_module.DEVICE_SIGNATURE:
                          signatures[pose_module.DEVICE_SIGNATURE]}),
      {"frames": len(jpegs), "split": CHECK_SPLIT, "relative_error_vs_keras": error},
      quantize=quantize, bytes=len(flatbuffer),
      calibration={"split": CALIBRATION_SPLIT, "frames": num_calibration_frames}
      if quantize == "int8" else None))
  return output
