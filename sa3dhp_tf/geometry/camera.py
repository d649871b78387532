"""Pinhole cameras: projection with intrinsics and random virtual views of world-frame mocap.

World frame (mocap, benchmark generator, BVH/AMC readers after conversion): z up, millimetres.
Camera frame: OpenCV convention, x right, y down, z forward (depth), millimetres.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Intrinsics:
  """Pinhole intrinsics in pixels. `principal_point_at_centre` gives (W-1)/2, (H-1)/2, the point
  about which image flips and rotations commute exactly with projection."""
  fx: float
  fy: float
  cx: float
  cy: float

  @classmethod
  def centred(cls, focal: float, width: int, height: int) -> "Intrinsics":
    return cls(focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)

  def as_array(self) -> np.ndarray:
    return np.array([self.fx, self.fy, self.cx, self.cy], np.float32)

  def matrix(self) -> np.ndarray:
    return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float64)


def project(points_camera: np.ndarray, intrinsics: Intrinsics, min_depth: float = 1e-3):
  """Projects camera-frame points `[..., 3]` to pixels `[..., 2]`. Raises if a point is behind
  or on the camera plane, since its projection would be meaningless."""
  points = np.asarray(points_camera, np.float64)
  depth = points[..., 2]
  if np.any(depth <= min_depth):
    raise ValueError(f"cannot project points at depth <= {min_depth} mm (min depth {depth.min()})")
  u = intrinsics.fx * points[..., 0] / depth + intrinsics.cx
  v = intrinsics.fy * points[..., 1] / depth + intrinsics.cy
  return np.stack([u, v], axis=-1)


@dataclasses.dataclass(frozen=True)
class ViewRanges:
  """Ranges (uniform) of a random virtual camera around a subject. Angles in degrees, distance mm.

  azimuth: rotation about the world's vertical axis; elevation: camera height angle above the
  subject's root (positive looks down); roll: rotation about the optical axis."""
  azimuth: tuple = (-180.0, 180.0)
  elevation: tuple = (-10.0, 30.0)
  roll: tuple = (-30.0, 30.0)
  distance: tuple = (3500.0, 6000.0)


def look_at_rotation(azimuth_deg, elevation_deg, roll_deg) -> np.ndarray:
  """World-to-camera rotation for a camera that looks horizontally at azimuth `azimuth_deg`
  towards the target, tilted down by `elevation_deg` and rolled by `roll_deg`."""
  az, el, roll = np.deg2rad([azimuth_deg, elevation_deg, roll_deg])
  # Camera forward direction in world (z up): from camera to target.
  forward = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), -np.sin(el)])
  world_up = np.array([0.0, 0.0, 1.0])
  right = np.cross(forward, world_up)
  right /= np.linalg.norm(right)
  down = np.cross(forward, right)
  base = np.stack([right, down, forward])  # rows: camera axes expressed in world coordinates
  c, s = np.cos(roll), np.sin(roll)
  roll_matrix = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
  return roll_matrix @ base


def world_to_camera(points_world, rotation, target_world, distance):
  """Places the camera `distance` mm from `target_world` along its optical axis and expresses
  `points_world` `[..., 3]` in its frame."""
  points = np.asarray(points_world, np.float64) - np.asarray(target_world, np.float64)
  cam = points @ np.asarray(rotation).T
  cam[..., 2] += distance
  return cam


def random_view(rng: np.random.Generator, ranges: ViewRanges = ViewRanges()):
  """Samples (rotation, distance, (azimuth, elevation, roll)) from `ranges`."""
  az = rng.uniform(*ranges.azimuth)
  el = rng.uniform(*ranges.elevation)
  roll = rng.uniform(*ranges.roll)
  dist = rng.uniform(*ranges.distance)
  return look_at_rotation(az, el, roll), dist, (az, el, roll)


def view_sequence(rng: np.random.Generator, poses_world: np.ndarray,
                  ranges: ViewRanges = ViewRanges(), root: int = 0) -> np.ndarray:
  """Sees a world-frame sequence `[T, J, 3]` (or single pose `[J, 3]`) from one random virtual
  camera aimed at the mean root position; returns camera-frame poses of the same shape."""
  poses_world = np.asarray(poses_world, np.float64)
  rotation, dist, _ = random_view(rng, ranges)
  target = poses_world[..., root, :].reshape(-1, 3).mean(axis=0)
  return world_to_camera(poses_world, rotation, target, dist)


def look_at_root_rotation(root_camera: np.ndarray) -> np.ndarray:
  """Rotation `[..., 3, 3]` of a virtual camera at the same centre that looks straight at
  `root_camera` `[..., 3]`, keeping image "down" as close as possible to the original camera's.

  A person-centred crop seen through this virtual camera has the pelvis on the optical axis and
  the principal point at the crop centre, where flips and in-plane rotations of the image match
  the pose-side relation transforms exactly."""
  forward = np.asarray(root_camera, np.float64)
  forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
  down = np.broadcast_to(np.array([0.0, 1.0, 0.0]), forward.shape)
  right = np.cross(down, forward)
  right /= np.linalg.norm(right, axis=-1, keepdims=True)
  new_down = np.cross(forward, right)
  return np.stack([right, new_down, forward], axis=-2)


def to_root_camera(poses_camera: np.ndarray, root: int = 0):
  """Expresses camera-frame poses `[..., J, 3]` in their per-frame look-at-root virtual camera.
  Returns (poses in the virtual camera, rotations `[..., 3, 3]`); the root lands on (0, 0, d)."""
  poses_camera = np.asarray(poses_camera, np.float64)
  rotation = look_at_root_rotation(poses_camera[..., root, :])
  return np.einsum("...ij,...kj->...ki", rotation, poses_camera), rotation
