"""Gin file resolution and parsing shared by the binaries (flags themselves live in the binaries).

A `--gin_file` is looked up as given, then under the installed package's `gin_configs/` folder,
so `--gin_file=stages/pose_aae.gin` works from any directory and after a plain `pip install`.
"""

import os
import sys

import gin

from sa3dhp_tf import errors

GIN_CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gin_configs")


ConfigError = errors.ConfigError


def bound_value(parameter, default):
  """The gin binding of `parameter` ('fn.arg'), or `default` when it is not bound (stage checks
  read settings this way before anything runs)."""
  try:
    return gin.query_parameter(parameter)
  except ValueError:
    return default


def resolve_gin_file(path: str) -> str:
  candidates = [path]
  if not os.path.isabs(path):
    candidates.append(os.path.join(GIN_CONFIG_DIR, path))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return os.path.abspath(candidate)
  raise ConfigError(f"gin file not found: {path} (looked in . and {GIN_CONFIG_DIR})")


class _QuietIncludeLookups:
  """Drops gin's "Path not found" log lines: it logs one at ERROR level for every search-path
  candidate of an `include` it then finds elsewhere (noise on every command)."""

  def filter(self, record):
    return not (record.pathname.endswith("resource_reader.py")
                and "Path not found" in record.getMessage())


def _quiet_gin_lookups():
  import logging
  for handler_owner in (logging.getLogger(), logging.getLogger("absl")):
    if not any(isinstance(f, _QuietIncludeLookups) for f in handler_owner.filters):
      handler_owner.addFilter(_QuietIncludeLookups())


def parse_gin(gin_files, gin_bindings, finalize=True):
  """Parses files then bindings; every failure becomes a one-line ConfigError naming its source."""
  from sa3dhp_tf.data import read_policy  # noqa: F401  (registers bad_records.skip)
  _quiet_gin_lookups()
  gin.clear_config()
  gin.add_config_file_search_path(GIN_CONFIG_DIR)
  files = [resolve_gin_file(f) for f in (gin_files or [])]
  for path in files:
    try:
      gin.parse_config_file(path)
    except Exception as e:  # gin raises several types; all mean "this file is bad"
      raise ConfigError(f"bad gin file {path}: {_first_line(e)}{_hint(e)}") from e
  for binding in gin_bindings or []:
    try:
      gin.parse_config(binding)
    except Exception as e:
      raise ConfigError(f"bad gin binding {binding!r}: {_first_line(e)}{_hint(e)}") from e
  if finalize:
    gin.finalize()
  return files


_first_line = errors.first_line

# Stage settings that moved: what an old config meets and where the setting lives now.
_MOVED = {
    "model_kwargs": "the model settings are now bound one by one on the model class, e.g. "
                    "PoseAutoencoder.latent_dim = 32, MotionAutoencoder.lstm_units, "
                    "ImageToLatent.backbone, RelationDistillationModel.projection_units",
}


def _hint(error):
  for name, where in _MOVED.items():
    if f"parameter named '{name}'" in str(error):
      return f" ({where})"
  return ""


def write_config(model_dir: str, name: str, text: str) -> str:
  path = os.path.join(model_dir, name)
  with open(path, "w") as f:
    f.write(text)
  return path


def exit_with_error(message):
  """Kept for callers that report outside `errors.run`; see `errors.exit_with_error`."""
  errors.exit_with_error(message)
