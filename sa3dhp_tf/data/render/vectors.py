"""Batched 3-vector algebra of the renderer (numpy, last axis is the vector)."""

import numpy as np


def norm(v):
  return np.sqrt(np.sum(v * v, axis=-1))


def cross(a, b):
  a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
  b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
  return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def normalize(v, fallback=None):
  n = norm(v)[..., None]
  out = v / np.maximum(n, 1e-9)
  if fallback is not None:
    out = np.where(n > 1e-9, out, fallback)
  return out
