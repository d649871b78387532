"""Input checks of the renderer: image sizes, camera-frame poses and intrinsics, each failing
with a ValueError that names the problem."""

from typing import Tuple

import numpy as np

from sa3dhp_tf import skeleton


MIN_DEPTH_MM = 50.0   # every joint must lie at least this far in front of the camera


def parse_image_size(image_size) -> Tuple[int, int]:
  if np.isscalar(image_size):
    image_size = (image_size, image_size)
  try:
    height, width = image_size
  except (TypeError, ValueError):
    raise ValueError(f"image_size must be (height, width), got {image_size!r}") from None
  if int(height) != height or int(width) != width or height < 4 or width < 4:
    raise ValueError(f"image_size must be two integers >= 4 (height, width), got {image_size!r}")
  return int(height), int(width)


def validate_pose(pose_camera, name: str = "pose_camera") -> np.ndarray:
  """Checks a camera-frame pose `[17, 3]` (mm) for rendering; returns it as float64. Raises a
  ValueError naming the problem (shape, non-finite joint, joint behind or too near the camera)."""
  pose = np.asarray(pose_camera)
  if pose.shape != (skeleton.NUM_JOINTS, 3):
    raise ValueError(f"{name} must have shape [{skeleton.NUM_JOINTS}, 3] (H36M-17 joints, mm, "
                     f"camera frame), got {pose.shape}")
  try:
    pose = pose.astype(np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be numeric, got dtype {pose.dtype}") from None
  finite = np.isfinite(pose).all(axis=-1)
  if not finite.all():
    j = int(np.argmin(finite))
    raise ValueError(f"{name} has a non-finite (NaN/inf) coordinate at joint {j} "
                     f"({skeleton.JOINT_NAMES[j]}): {pose[j].tolist()}")
  near = pose[:, 2] < MIN_DEPTH_MM
  if near.any():
    j = int(np.argmax(near))
    raise ValueError(f"{name}: joint {j} ({skeleton.JOINT_NAMES[j]}) is at depth {pose[j, 2]:.1f} "
                     f"mm, behind or too near the camera; every joint must lie at least "
                     f"{MIN_DEPTH_MM:.0f} mm in front of it (z forward)")
  return pose


def check_intrinsics(intrinsics):
  try:
    values = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy], np.float64)
  except AttributeError:
    raise ValueError(f"intrinsics must be a camera.Intrinsics, got {type(intrinsics).__name__}"
                     ) from None
  if not np.isfinite(values).all() or values[0] <= 0 or values[1] <= 0:
    raise ValueError(f"intrinsics must be finite with positive focal lengths, got {intrinsics}")
  return values
