"""Outlines of projected primitives as cv2 polygons: fixed-point coordinates and the convex hull
of two circles (capsules; a sphere is a capsule of length 0)."""

import numpy as np

from sa3dhp_tf.data.render import vectors


SHIFT = 4             # fixed-point bits of cv2 polygon coordinates
SCALE = float(1 << SHIFT)
ARC_POINTS = 10       # points per half outline of a capsule / sphere
_ARC_FRACTIONS = np.linspace(0.0, 1.0, ARC_POINTS)


def to_fixed_point(points) -> np.ndarray:
  """Pixel coordinates as the int32 fixed-point coordinates cv2 draws with `shift=SHIFT`."""
  return np.round(np.asarray(points, np.float64) * SCALE).astype(np.int32)


def capsule_outlines(start, end, start_radius, end_radius):
  """Convex hull of two circles (centres `[N, 2]`, radii `[N]`) as polygons
  `[N, 2 * ARC_POINTS, 2]`, counter-clockwise; a sphere is a capsule with start == end."""
  axis = end - start
  length = vectors.norm(axis)
  safe = length > 1e-6
  direction = np.where(safe[:, None], axis / np.maximum(length, 1e-6)[:, None],
                       np.array([1.0, 0.0]))
  normal = np.stack([-direction[:, 1], direction[:, 0]], -1)
  # The tangent points sit at +-half_angle from the axis around the end circle.
  cos_half_angle = np.where(safe, (start_radius - end_radius) / np.maximum(length, 1e-6), 0.0)
  half_angle = np.arccos(np.clip(cos_half_angle, -1.0, 1.0))[:, None]
  end_angles = -half_angle + 2.0 * half_angle * _ARC_FRACTIONS              # [-g, g]
  start_angles = half_angle + (2.0 * np.pi - 2.0 * half_angle) * _ARC_FRACTIONS   # [g, 2 pi - g]

  def arc(centre, radius, angles):
    return centre[:, None, :] + radius[:, None, None] * (
        np.cos(angles)[..., None] * direction[:, None, :] +
        np.sin(angles)[..., None] * normal[:, None, :])
  return np.concatenate([arc(end, end_radius, end_angles), arc(start, start_radius, start_angles)],
                        axis=1)
