"""The procedural body: per-subject bone lengths and forward kinematics on the H36M-17 skeleton.

Body frame (rest): x forward, y left, z up; standing upright, arms hanging. Rotations per
segment (s = +1 left, -1 right; mirrored so both sides read the same anatomically):
- pelvis (root): Rz(heading + root_yaw) @ Ry(root_pitch) @ Rx(-root_roll); pitch > 0 tips it
  forward. The hip joints ride on it, but the thighs are posed from Rz(heading) @ Ry(root_pitch),
  so pelvic roll and axial rotation (gait) move the hips without swinging a planted leg;
- thigh: Ry(-hip_flex) @ Rx(s * hip_abd) @ Rz(s * hip_twist); shank: Ry(knee_flex);
- lower back (pelvis->spine), upper back (spine->thorax), neck (thorax->neck_nose), head
  (neck_nose->head): Ry(flex) @ Rx(-lat) @ Rz(twist); flex > 0 bends forward, lat > 0 left;
- clavicle (thorax->shoulder): Rz(-s * clav_prot) @ Rx(s * clav_elev);
- upper arm, relative to the thorax frame: Rz(-s p) @ Rx(s e) @ Rz(s (p + twist)) with e =
  shoulder_elev (0 hanging, 90 horizontal, 180 overhead) and p = shoulder_plane (0 sideways,
  90 forward, < 0 behind, > 90 across the body); forearm: Ry(-elbow_flex).
Actions may write an arm as `{s}_arm_flex` / `{s}_arm_abd` (a sagittal swing and a sideways
lift), converted to elevation and plane before limits are applied.
"""

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import kinematics
from sa3dhp_tf.data.motion.procedural import joint_angles


@dataclasses.dataclass(frozen=True)
class SubjectBody:
  """Bone lengths (mm) of one subject, left/right symmetric.

  height: the nominal stature the proportions were drawn from; ankle_height: ankle joint above
  the floor when standing; hip_half_width: pelvis to each hip joint; lower_spine: pelvis to
  spine; upper_spine: spine to thorax; neck: thorax to neck/nose; head: neck/nose to head top;
  shoulder_half_width: thorax to each shoulder joint.
  """
  subject_id: str
  height: float
  ankle_height: float
  hip_half_width: float
  thigh: float
  shin: float
  lower_spine: float
  upper_spine: float
  neck: float
  head: float
  shoulder_half_width: float
  upper_arm: float
  forearm: float

  def rest_offsets(self) -> np.ndarray:
    """`[17, 3]` offset of each joint from its parent in the rest body frame (x fwd, y left)."""

    def unit(v):
      v = np.asarray(v, np.float64)
      return v / np.linalg.norm(v)

    offsets = np.zeros((skeleton.NUM_JOINTS, 3))
    index = skeleton.JOINT_INDEX
    for side, sign in joint_angles.SIDE_SIGN.items():
      offsets[index[f"{side}_hip"]] = (0.0, sign * self.hip_half_width, 0.0)
      offsets[index[f"{side}_knee"]] = (0.0, 0.0, -self.thigh)
      offsets[index[f"{side}_ankle"]] = (0.0, 0.0, -self.shin)
      offsets[index[f"{side}_shoulder"]] = self.shoulder_half_width * unit((0.0, sign, -0.08))
      offsets[index[f"{side}_elbow"]] = (0.0, 0.0, -self.upper_arm)
      offsets[index[f"{side}_wrist"]] = (0.0, 0.0, -self.forearm)
    offsets[index["spine"]] = self.lower_spine * unit((-0.05, 0.0, 1.0))
    offsets[index["thorax"]] = self.upper_spine * unit((0.03, 0.0, 1.0))
    offsets[index["neck_nose"]] = self.neck * unit((0.3, 0.0, 1.0))
    offsets[index["head"]] = self.head * unit((-0.15, 0.0, 1.0))
    return offsets

  def bone_lengths(self) -> np.ndarray:
    """`[16]` bone lengths in the order of `skeleton.BONES`."""
    offsets = self.rest_offsets()
    return np.array([np.linalg.norm(offsets[c]) for _, c in skeleton.BONES])


# Segment lengths as fractions of stature (close to H36M means for a 1.75 m subject).
PROPORTIONS = {
    "ankle_height": 0.045, "hip_half_width": 0.072, "thigh": 0.245, "shin": 0.245,
    "lower_spine": 0.135, "upper_spine": 0.150, "neck": 0.068, "head": 0.080,
    "shoulder_half_width": 0.090, "upper_arm": 0.163, "forearm": 0.148,
}
_LEG_SEGMENTS = ("thigh", "shin")
_TRUNK_SEGMENTS = ("lower_spine", "upper_spine")
_WIDTHS = ("hip_half_width", "shoulder_half_width")


def sample_subject(rng: np.random.Generator, subject_id: Optional[str] = None,
                   height_range: Tuple[float, float] = (1500.0, 1950.0)) -> SubjectBody:
  """Draws a plausible adult: stature uniform in `height_range` (mm), every proportion jittered
  (about 3% each) plus correlated leg-vs-trunk and broad-vs-narrow factors, at most 15% in all."""
  height = float(rng.uniform(*height_range))
  leg_factor = float(np.clip(rng.normal(0.0, 0.025), -0.05, 0.05))
  width_factor = float(np.clip(rng.normal(0.0, 0.05), -0.1, 0.1))
  hip_vs_shoulder = float(np.clip(rng.normal(0.0, 0.04), -0.08, 0.08))
  lengths = {}
  for name, ratio in PROPORTIONS.items():
    jitter = float(np.clip(rng.normal(0.0, 0.03), -0.08, 0.08))
    if name in _LEG_SEGMENTS:
      jitter += leg_factor
    elif name in _TRUNK_SEGMENTS:
      jitter -= leg_factor
    elif name in _WIDTHS:
      jitter += width_factor + (hip_vs_shoulder if name == "hip_half_width" else -hip_vs_shoulder)
    lengths[name] = height * ratio * (1.0 + float(np.clip(jitter, -0.15, 0.15)))
  if subject_id is None:
    subject_id = f"subject_{int(rng.integers(10**8)):08d}"
  return SubjectBody(subject_id=subject_id, height=height, **lengths)


def forward_kinematics(angles: Dict[str, np.ndarray], heading_deg: np.ndarray,
                        subject: SubjectBody) -> np.ndarray:
  """Root-relative world positions `[T, 17, 3]` (pelvis at the origin), vectorised over frames.

  The pelvis frame is Rz(heading + root_yaw) @ Ry(root_pitch) @ Rx(-root_roll); the hip joints
  ride on it, but the thighs are posed from Rz(heading) @ Ry(root_pitch): pelvic roll and axial
  rotation move the hips (pelvic drop, pelvis rotation in gait) without swinging a planted leg.
  """
  index = skeleton.JOINT_INDEX
  offsets = subject.rest_offsets()

  def rot(axis, degrees):
    return kinematics.axis_rotation(axis, np.deg2rad(degrees))

  def apply(frames, offset):
    return np.einsum("tab,b->ta", frames, offset)

  heading = rot("z", heading_deg)
  pitch = rot("y", angles["root_pitch"])
  pelvis = heading @ rot("z", angles["root_yaw"]) @ pitch @ rot("x", -angles["root_roll"])
  legs = heading @ pitch
  positions = np.zeros(heading_deg.shape + (skeleton.NUM_JOINTS, 3))

  frame = pelvis
  for segment, child, parent in (("spine", "spine", "pelvis"), ("chest", "thorax", "spine"),
                                 ("neck", "neck_nose", "thorax"), ("head", "head", "neck_nose")):
    frame = frame @ (rot("y", angles[f"{segment}_flex"]) @ rot("x", -angles[f"{segment}_lat"]) @
                     rot("z", angles[f"{segment}_twist"]))
    positions[:, index[child]] = positions[:, index[parent]] + apply(frame, offsets[index[child]])
    if child == "thorax":
      thorax = frame

  for side, sign in joint_angles.SIDE_SIGN.items():
    side_angles = {k[2:]: v for k, v in angles.items() if k.startswith(side + "_")}
    hip, knee, ankle = index[f"{side}_hip"], index[f"{side}_knee"], index[f"{side}_ankle"]
    positions[:, hip] = apply(pelvis, offsets[hip])
    thigh = legs @ (rot("y", -side_angles["hip_flex"]) @ rot("x", sign * side_angles["hip_abd"]) @
                    rot("z", sign * side_angles["hip_twist"]))
    positions[:, knee] = positions[:, hip] + apply(thigh, offsets[knee])
    shank = thigh @ rot("y", side_angles["knee_flex"])
    positions[:, ankle] = positions[:, knee] + apply(shank, offsets[ankle])

    shoulder, elbow = index[f"{side}_shoulder"], index[f"{side}_elbow"]
    wrist = index[f"{side}_wrist"]
    clavicle = (thorax @ rot("z", -sign * side_angles["clav_prot"]) @
                rot("x", sign * side_angles["clav_elev"]))
    positions[:, shoulder] = positions[:, index["thorax"]] + apply(clavicle, offsets[shoulder])
    plane = side_angles["shoulder_plane"]
    # The upper arm is posed from the thorax frame (the clavicle only moves the shoulder).
    upper_arm = thorax @ (rot("z", -sign * plane) @
                          rot("x", sign * side_angles["shoulder_elev"]) @
                          rot("z", sign * (plane + side_angles["shoulder_twist"])))
    positions[:, elbow] = positions[:, shoulder] + apply(upper_arm, offsets[elbow])
    forearm = upper_arm @ rot("y", -side_angles["elbow_flex"])
    positions[:, wrist] = positions[:, elbow] + apply(forearm, offsets[wrist])
  return positions
