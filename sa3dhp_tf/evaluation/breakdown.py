"""Readable and JSON forms of `metrics.evaluate_all` results, for the evaluate binary and tools.

`format_breakdown` renders the summary, the per-action table and the per-joint table as plain
text; `write_results_json` writes results (or any dict of them) as strict JSON, refusing NaN/inf
and non-JSON values with the key path where they occur.
"""

import json
import math
import os
from typing import Any

from sa3dhp_tf import metrics

_LABELS = {"mpjpe": "MPJPE mm", "pa_mpjpe": "PA-MPJPE mm", "pck": "PCK@150 %", "auc": "AUC %"}


def _row(cells, widths):
  return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                   for i, (c, w) in enumerate(zip(cells, widths)))


def _table(header, rows):
  widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
  lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
  lines += [_row(r, widths) for r in rows]
  return "\n".join(lines)


def format_breakdown(results: dict, digits: int = 1) -> str:
  """Text report of an `evaluate_all` result: summary, then per action (if any), then per joint."""
  missing = [k for k in metrics.SUMMARY_METRICS + ("per_joint",) if k not in results]
  if missing:
    raise ValueError(f"results lacks keys {missing}; expected the dict of metrics.evaluate_all")
  fmt = f"{{:.{digits}f}}"
  header = ["", *[_LABELS[k] for k in metrics.SUMMARY_METRICS]]
  overall = ["all" + (f" ({results['num_samples']})" if "num_samples" in results else ""),
             *[fmt.format(results[k]) for k in metrics.SUMMARY_METRICS]]
  rows = [overall]
  for action, summary in results.get("per_action", {}).items():
    rows.append([action, *[fmt.format(summary[k]) for k in metrics.SUMMARY_METRICS]])
  joints = [[name, fmt.format(err)] for name, err in results["per_joint"].items()]
  return (_table(header, rows) + "\n\n"
          + _table(["joint", "error mm"], joints))


def _check_json(value: Any, where: str):
  if isinstance(value, dict):
    for key, item in value.items():
      if not isinstance(key, str):
        raise ValueError(f"{where}: key {key!r} is not a string")
      _check_json(item, f"{where}.{key}")
  elif isinstance(value, (list, tuple)):
    for i, item in enumerate(value):
      _check_json(item, f"{where}[{i}]")
  elif isinstance(value, float):
    if not math.isfinite(value):
      raise ValueError(f"{where} is {value}; results must be finite")
  elif not (value is None or isinstance(value, (str, int, bool))):
    raise ValueError(f"{where} has type {type(value).__name__}, which is not JSON-serializable")


def write_results_json(results: dict, path: str) -> str:
  """Writes `results` to `path` as indented JSON (parent folders created); returns `path`.
  Raises ValueError naming the path and the offending key for non-JSON or non-finite values."""
  try:
    _check_json(results, "results")
  except ValueError as e:
    raise ValueError(f"cannot write {path}: {e}") from None
  folder = os.path.dirname(path)
  if folder:
    os.makedirs(folder, exist_ok=True)
  with open(path, "w") as f:
    json.dump(results, f, indent=2, allow_nan=False)
    f.write("\n")
  return path
