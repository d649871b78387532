"""Held-out labeled poses of the benchmark, for evaluating the pose-space stages.

The mocap split is all training data; the labeled test splits (`source_test`, `target_test`) hold
subjects and motions no stage trains on, in the camera frames that images are seen in.
"""

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data import records


def heldout_poses(data_dir, split, max_records=None):
  """Root-relative camera-frame poses `[N, 17, 3]` of a labeled split (frame or clip records)."""
  paths = records.shard_paths(data_dir, split)
  kind = records.split_kind(split)
  poses = []
  dataset = records.record_dataset(paths, kind)
  if max_records:
    dataset = dataset.take(max_records)
  with records.explain_data_errors(paths, kind):
    for record in dataset:
      pose = record["pose3d"].numpy().reshape(-1, skeleton.NUM_JOINTS, 3)
      poses.append(pose)
  if not poses:
    raise ValueError(f"split {split!r} in {data_dir} has no labeled poses")
  return np.concatenate(poses).astype(np.float32)


def heldout_windows(data_dir, split="target_test", length=30, max_records=None):
  """Labeled clips as root-relative pose windows `[N, length, 17, 3]` (consecutive frames)."""
  paths = records.shard_paths(data_dir, split)
  windows = []
  dataset = records.record_dataset(paths, "clip")
  if max_records:
    dataset = dataset.take(max_records)
  with records.explain_data_errors(paths, "clip"):
    for record in dataset:
      clip = record["pose3d"].numpy().reshape(-1, skeleton.NUM_JOINTS, 3)
      for start in range(0, len(clip) - length + 1, length):
        windows.append(clip[start:start + length])
  if not windows:
    raise ValueError(f"split {split!r} in {data_dir} has no labeled clips of {length} frames")
  return np.stack(windows).astype(np.float32)
