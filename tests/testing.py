"""Shared test harness (as keras-hub's TestCase: `run_serialization_test`,
`run_model_saving_test`): config round trip and Keras save/load of a model, each checked on
outputs, plus the tiny model widths every test, the benchmark tool's `--tiny` and
gin_configs/tiny/stages.gin share (`sa3dhp_tf.model_widths.TINY`).

Export parity (SavedModel / TFLite outputs equal to the Keras model's) joins these when the
export lands.
"""

import os

import keras
import numpy as np

from sa3dhp_tf.model_widths import TINY  # noqa: F401  (re-exported for the tests)


def _outputs(model, inputs, call):
  out = call(model, inputs) if call else model(inputs)
  return keras.ops.convert_to_numpy(out)


def run_config_round_trip(model, inputs, call=None, atol=1e-5):
  """`from_config(get_config())` gives a model with the same config and, with the same weights,
  the same outputs on `inputs` (`call(model, inputs)` if given, else `model(inputs)`).
  Returns the clone."""
  clone = type(model).from_config(model.get_config())
  clone.set_weights(model.get_weights())
  np.testing.assert_allclose(_outputs(clone, inputs, call), _outputs(model, inputs, call),
                             atol=atol)
  assert clone.get_config() == model.get_config()
  return clone


def run_save_load(model, inputs, directory, call=None, name="model"):
  """`model.save` to a .keras file and `keras.models.load_model` give a model of the same class
  with bit-identical outputs on `inputs`, compiled iff the original was. Returns the loaded
  model."""
  path = os.path.join(str(directory), f"{name}.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded, type(model)), type(loaded)
  assert loaded.compiled == model.compiled
  np.testing.assert_array_equal(_outputs(loaded, inputs, call), _outputs(model, inputs, call))
  return loaded


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_tool(path, args, cwd, timeout=180):
  """Runs a tools/*.py binary with this checkout on PYTHONPATH; returns the CompletedProcess."""
  from cli_harness import run_command
  return run_command([path, *args], cwd=cwd, timeout=timeout)


def required_placeholders():
  """Gin bindings for every `gin.REQUIRED` stage parameter (model dirs, data dirs: given per
  run, never in a shipped file), so that the stage checks can run on a shipped config."""
  import inspect

  import gin

  import sa3dhp_tf.tasks as tasks
  bindings = []
  for stage in tasks.stage_names():
    for name, parameter in inspect.signature(tasks.get_stage(stage)).parameters.items():
      if parameter.default is gin.REQUIRED:
        bindings.append(f"{stage}.{name} = '/placeholder'")
  return bindings


def build_tiny_benchmark(out, bindings=()):
  """The tiny benchmark (`benchmark/tiny.gin` + `bindings`) in `out`; returns `out`."""
  import gin

  from sa3dhp_tf import config
  from sa3dhp_tf.data import benchmark
  config.parse_gin(["benchmark/tiny.gin"], list(bindings), finalize=False)
  try:
    benchmark.build_benchmark(out, contact_sheet=False)
  finally:
    gin.clear_config()
  return out


def run_tiny_stage(stage, model_dir, bindings=(), files=("tiny/stages.gin",)):
  """Runs `stage` in this process under `files` + `bindings` after its checks; returns its
  results."""
  import gin

  from sa3dhp_tf import config
  import sa3dhp_tf.tasks as tasks
  config.parse_gin(list(files), list(bindings), finalize=False)
  try:
    tasks.check_stage(stage)
    return tasks.get_stage(stage)(model_dir)
  finally:
    gin.clear_config()
