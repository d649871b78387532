"""JSON results files, written whole or not at all: every stage, the evaluation and the tools
write their results through `write_json`, so a reader never sees half a file."""

import json
import os

import numpy as np


def _default(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  raise TypeError(f"not JSON serializable: {type(value)}")


def write_json(path, payload):
  """Writes `payload` (numpy scalars and arrays allowed) to `path` through a temporary file in
  the same directory, renamed over `path`. Returns `path`."""
  # Output checks prove a path creatable without creating it, so the folder may be new here.
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    with open(tmp, "w") as f:
      json.dump(payload, f, indent=2, default=_default)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path
