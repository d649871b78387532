"""Label-free checkpoint selection for the adaptation stage: the per-loop snapshot records
(`selection.jsonl`), the rules that pick one without target labels, and how well each
criterion tracks the target error it stands in for.

A record (one per snapshot): 'step', 'source_val_mpjpe', 'target_spread', 'pose_prior_score',
'target_residuals', and, for reporting only, 'target_test_mpjpe' / 'target_test_pa_mpjpe'.
"""

import json
import os

import numpy as np

SELECTION_RULES = ("final", "final_unless_collapsed", "source_val", "pose_prior", "spread")
SELECTION_FILE = "selection.jsonl"


def append_record(model_dir, record):
  """Appends one snapshot record to `selection.jsonl` (one JSON line)."""
  with open(os.path.join(model_dir, SELECTION_FILE), "a") as f:
    f.write(json.dumps(record) + "\n")


def read_selection(model_dir):
  """The snapshot records of `model_dir`, by step (the last record of a re-measured step)."""
  path = os.path.join(model_dir, SELECTION_FILE)
  if not os.path.exists(path):
    return []
  by_step = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        by_step[record["step"]] = record  # a resumed run may re-measure a step: keep the last
  return [by_step[s] for s in sorted(by_step)]


def select_snapshot(history, rule, collapse_fraction=0.5):
  """Picks a snapshot record by a label-free `rule` (never reads target_test_* fields):
  - 'final': the last snapshot;
  - 'final_unless_collapsed': the last snapshot whose target latent spread is at least
    `collapse_fraction` of the initial one (the initial G^s if all collapsed);
  - 'source_val': the lowest source validation MPJPE;
  - 'pose_prior': the highest pose-discriminator score of predicted target poses;
  - 'spread': the largest target latent spread."""
  if rule not in SELECTION_RULES:
    raise ValueError(f"selection rule must be one of {SELECTION_RULES}, got {rule!r}")
  if rule == "final":
    return history[-1]
  if rule == "final_unless_collapsed":
    floor = collapse_fraction * history[0]["target_spread"]
    alive = [r for r in history if r["target_spread"] >= floor]
    return alive[-1] if alive else history[0]
  if rule == "source_val":
    return min(history, key=lambda r: r["source_val_mpjpe"])
  if rule == "pose_prior":
    return max(history, key=lambda r: r["pose_prior_score"])
  return max(history, key=lambda r: r["target_spread"])


def _spearman(a, b):
  ranks = lambda x: np.argsort(np.argsort(np.asarray(x)))
  if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
    return None
  return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def criterion_correlations(history):
  """Spearman correlation of each label-free criterion with target test MPJPE across snapshots:
  how well each criterion tracks the error it stands in for (sign: a good criterion to minimise
  correlates positively)."""
  target = [r["target_test_mpjpe"] for r in history]
  return {"source_val_mpjpe": _spearman([r["source_val_mpjpe"] for r in history], target),
          "negative_pose_prior_score": _spearman([-r["pose_prior_score"] for r in history],
                                                 target),
          "negative_target_spread": _spearman([-r["target_spread"] for r in history], target)}


def best_by_target_labels(history):
  """The snapshot target labels would pick (for reporting next to the label-free choice)."""
  return min(history, key=lambda r: r["target_test_mpjpe"])
