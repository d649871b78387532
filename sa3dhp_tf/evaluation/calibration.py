"""Calibrating a domain shift with the source-only model and its oracle only (DESIGN.md section
5; issue 11 item 6), before any adaptation row runs on it.

A shift is usable for testing adaptation when it is hard enough that adaptation has room, yet
not so hard that the source model is hopeless. The criteria were fixed before any shift was
measured against them (docs/benchmark.md, "Graded shifts", gives the date), and a shift is not
changed afterwards because of how the method scores on it:

  beats_constant_pose   G^s beats the constant mean pose in MPJPE on the target test split;
  oracle_margin         the oracle beats G^s on the target by at least ORACLE_MARGIN_MM;
  source_like_oracle    G^s on the source test split is about as good as the oracle on the
                        target: their ratio lies in SOURCE_ORACLE_RATIO.

The constant mean pose is the root-relative mean of the labeled source frames, predicted for
every frame: the floor any model must beat.
"""

import dataclasses
import hashlib
import os
from typing import Callable, Dict

import numpy as np

ORACLE_MARGIN_MM = 20.0
SOURCE_ORACLE_RATIO = (0.8, 1.25)
MEAN_POSE_FRAMES = 2048  # labeled source frames averaged: plenty for a mean pose


@dataclasses.dataclass(frozen=True)
class Criterion:
  name: str
  description: str
  passes: Callable[[Dict[str, float]], bool]


CRITERIA = (
    Criterion("beats_constant_pose",
              "source-only target MPJPE < constant mean pose target MPJPE",
              lambda m: m["source_only_target"] < m["constant_pose_target"]),
    Criterion("oracle_margin",
              f"oracle target MPJPE <= source-only target MPJPE - {ORACLE_MARGIN_MM:g} mm",
              lambda m: m["oracle_target"] <= m["source_only_target"] - ORACLE_MARGIN_MM),
    Criterion("source_like_oracle",
              f"source-only source_test MPJPE / oracle target MPJPE in "
              f"[{SOURCE_ORACLE_RATIO[0]:g}, {SOURCE_ORACLE_RATIO[1]:g}]",
              lambda m: SOURCE_ORACLE_RATIO[0] <= m["source_only_source"] / m["oracle_target"]
              <= SOURCE_ORACLE_RATIO[1]),
)


def root_relative_poses(data_dir, split, max_frames=None):
  """Root-relative 3D poses [N, J, 3] of a labeled split, in file order (all of it, or the first
  `max_frames`)."""
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  paths = records.shard_paths(data_dir, split)
  kind = records.split_kind(split)
  poses, count = [], 0
  with records.explain_data_errors(paths, kind):
    for batch in pipelines.labeled_frames(paths, 256, kind=kind):
      y = batch["pose3d"].numpy()
      poses.append(y - y[:, :1])
      count += len(y)
      if max_frames is not None and count >= max_frames:
        break
  return np.concatenate(poses)[:max_frames]


def source_mean_pose(data_dir):
  """The mean root-relative pose of the first MEAN_POSE_FRAMES labeled source frames."""
  return root_relative_poses(data_dir, "source", MEAN_POSE_FRAMES).mean(axis=0)


def constant_pose_mpjpe(data_dir, gt):
  """MPJPE (mm) of predicting `source_mean_pose(data_dir)` for every frame of `gt` [N, J, 3]
  (root-relative): a model that ignores its input."""
  return float(np.linalg.norm(gt - source_mean_pose(data_dir), axis=-1).mean())


def own_mean_pose_mpjpe(gt):
  """MPJPE (mm) of predicting the mean of `gt` itself for every frame: a constant pose chosen
  with the labels' hindsight, so never a criterion; for comparison only."""
  return float(np.linalg.norm(gt - gt.mean(axis=0), axis=-1).mean())


TARGET_INDEPENDENT_SPLITS = ("mocap", "source", "source_test")


def _shard_digest(path):
  # Record by record, each re-serialised deterministically: protobuf does not fix the order of
  # map entries (the features), so two builds of the same records need not match byte for byte.
  import tensorflow as tf
  digest = hashlib.sha256()
  for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
    example = tf.train.Example.FromString(record)
    digest.update(example.SerializeToString(deterministic=True))
  return digest.hexdigest()


def _digests(data_dir):
  return {name: _shard_digest(os.path.join(data_dir, name))
          for name in sorted(os.listdir(data_dir))
          if name.endswith(".tfrecord") and name.split("-")[0] in TARGET_INDEPENDENT_SPLITS}


def differing_source_shards(dir_a, dir_b):
  """Names of the mocap/source/source_test shards that differ between two benchmark dirs
  (present in one only, or holding other records): empty when a model trained before adaptation on one
  may be evaluated on the other's target."""
  a, b = _digests(dir_a), _digests(dir_b)
  return sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))


def check(measured):
  """`measured`: source_only_target, source_only_source, oracle_target, constant_pose_target
  (MPJPE, mm). Returns {criterion name: passed}, and 'all'."""
  missing = sorted({"source_only_target", "source_only_source", "oracle_target",
                    "constant_pose_target"} - set(measured))
  if missing:
    raise KeyError(f"calibration needs {missing}")
  bad = [k for k, v in measured.items() if not np.isfinite(v) or v <= 0]
  if bad:
    raise ValueError(f"calibration: non-finite or non-positive MPJPE in {bad}")
  verdict = {c.name: bool(c.passes(measured)) for c in CRITERIA}
  verdict["all"] = all(verdict.values())
  return verdict
