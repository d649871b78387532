"""Joint-angle channels of the procedural body: their anatomical limits, the smooth clamp that
enforces them, and the conversion of an arm swing into shoulder elevation and plane.

Angles are degrees; the conventions of each channel are in `body.py`. `{s}_...` channels exist
for both sides (s = l, r), mirrored so that both sides read the same anatomically.
"""

from typing import Dict, Tuple

import numpy as np


def _build_limits() -> Dict[str, Tuple[float, float]]:
  limits = {"root_pitch": (-30.0, 85.0), "root_roll": (-20.0, 20.0), "root_yaw": (-25.0, 25.0)}
  trunk = {
      "spine": ((-30.0, 60.0), (-30.0, 30.0), (-35.0, 35.0)),
      "chest": ((-20.0, 45.0), (-20.0, 20.0), (-30.0, 30.0)),
      "neck": ((-40.0, 50.0), (-35.0, 35.0), (-70.0, 70.0)),
      "head": ((-30.0, 35.0), (-20.0, 20.0), (-20.0, 20.0)),
  }
  for segment, (flex, lat, twist) in trunk.items():
    limits[f"{segment}_flex"], limits[f"{segment}_lat"] = flex, lat
    limits[f"{segment}_twist"] = twist
  for side in ("l", "r"):
    limits.update({
        f"{side}_hip_flex": (-30.0, 125.0), f"{side}_hip_abd": (-25.0, 50.0),
        f"{side}_hip_twist": (-40.0, 40.0), f"{side}_knee_flex": (0.0, 150.0),
        f"{side}_clav_elev": (-10.0, 30.0), f"{side}_clav_prot": (-20.0, 25.0),
        f"{side}_shoulder_elev": (0.0, 175.0), f"{side}_shoulder_plane": (-100.0, 140.0),
        f"{side}_shoulder_twist": (-100.0, 100.0), f"{side}_elbow_flex": (0.0, 150.0),
    })
  return limits


# Joint-angle channels and their (min, max) in degrees. Heading is not limited.
JOINT_LIMITS = _build_limits()
CHANNELS = tuple(JOINT_LIMITS)
# Sharpness (1/deg) of the smooth clamp: values inside the range move by at most ln2/k = 2 deg.
CLAMP_SHARPNESS = 1.0 / 3.0

# Sign of the lateral (y, left) axis on each side of the body.
SIDE_SIGN = {"l": 1.0, "r": -1.0}
# Channels whose sign flips when a motion is mirrored left <-> right (about the sagittal plane).
MIRRORED_CHANNELS = ("root_roll", "root_yaw", "spine_lat", "spine_twist", "chest_lat",
                     "chest_twist", "neck_lat", "neck_twist", "head_lat", "head_twist", "_yaw")


def soft_clamp(x, lo, hi, k=CLAMP_SHARPNESS):
  """Smooth, monotone map of x into (lo, hi): lo + softplus(x - lo) - softplus(x - hi)."""
  return lo + (np.logaddexp(0.0, k * (x - lo)) - np.logaddexp(0.0, k * (x - hi))) / k


def arm_from_swing(flex, abd):
  """(elevation, plane) in degrees of an arm swung forward by `flex` (about the lateral axis)
  after being lifted sideways by `abd` (keep abd > 0 for a continuous plane)."""
  flex_rad, abd_rad = np.deg2rad(flex), np.deg2rad(abd)
  elevation = np.rad2deg(np.arccos(np.clip(np.cos(flex_rad) * np.cos(abd_rad), -1.0, 1.0)))
  plane = np.rad2deg(np.arctan2(np.sin(flex_rad) * np.cos(abd_rad), np.sin(abd_rad)))
  return elevation, plane
