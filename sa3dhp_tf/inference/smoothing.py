"""Temporal smoothing of per-frame poses.

Gaussian smoothing along time, zero-phase (offline: a frame's pose uses past and future frames,
so nothing lags), applied separately to each run of consecutive frames that have a pose. A gap
(frames without a detection) is never bridged: the poses on either side are smoothed without
each other and the gap stays empty. Near the ends of a run the kernel is renormalised over the
frames that exist.
"""

import numpy as np

from sa3dhp_tf import errors

METHODS = ("none", "gaussian")


def runs(valid: np.ndarray):
  """(start, stop) of each run of consecutive True values."""
  valid = np.asarray(valid, bool)
  edges = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def gaussian_smooth(values: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
  """Smooths `values` `[T, ...]` along axis 0 within runs of `valid` `[T]`; frames outside the
  runs are returned unchanged (NaN stays NaN)."""
  values = np.asarray(values, np.float64)
  out = values.copy()
  if sigma <= 0:
    return out
  radius = max(1, int(np.ceil(3.0 * sigma)))
  offsets = np.arange(-radius, radius + 1)
  kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
  for start, stop in runs(valid):
    segment = values[start:stop]
    length = stop - start
    flat = segment.reshape(length, -1)
    total = np.zeros_like(flat)
    weight = np.zeros((length, 1))
    for offset, k in zip(offsets, kernel):
      lo, hi = max(0, -offset), min(length, length - offset)
      if hi <= lo:
        continue
      total[lo:hi] += k * flat[lo + offset:hi + offset]
      weight[lo:hi] += k
    out[start:stop] = (total / weight).reshape(segment.shape)
  return out


def smooth_poses(poses: np.ndarray, valid: np.ndarray, method: str, sigma: float) -> np.ndarray:
  if method not in METHODS:
    raise errors.UserError(f"--smoothing must be one of {', '.join(METHODS)}, got {method!r}")
  if method == "none":
    return np.asarray(poses, np.float64).copy()
  if not sigma > 0:
    raise errors.UserError(f"--smoothing_sigma must be > 0 frames, got {sigma}")
  return gaussian_smooth(poses, valid, sigma)
