"""One procedural sequence: an action's script mirrored or not, resting posture, noise and joint
limits, forward kinematics and root placement."""

import dataclasses
from typing import Dict

import numpy as np

from sa3dhp_tf.data.motion.procedural import actions as action_lib
from sa3dhp_tf.data.motion.procedural import body
from sa3dhp_tf.data.motion.procedural import curves
from sa3dhp_tf.data.motion.procedural import joint_angles
from sa3dhp_tf.data.motion.procedural import root_motion


def _resting_posture(rng) -> Dict[str, float]:
  """Per-sequence resting posture offsets (degrees)."""
  uniform = rng.uniform
  posture = {"spine_flex": rng.normal(3, 3), "chest_flex": rng.normal(2, 3),
             "neck_flex": rng.normal(5, 5), "head_flex": rng.normal(0, 4),
             "head_lat": rng.normal(0, 2), "root_pitch": rng.normal(0, 2)}
  width, toe_out, knee = uniform(1, 5), uniform(-3, 10), uniform(0, 6)
  for side in ("l", "r"):
    posture.update({f"{side}_hip_abd": width + rng.normal(0, 0.5),
                    f"{side}_hip_twist": toe_out + rng.normal(0, 2),
                    f"{side}_knee_flex": knee + rng.normal(0, 1),
                    f"{side}_hip_flex": 0.5 * knee,
                    f"{side}_elbow_flex": uniform(5, 25),
                    f"{side}_shoulder_twist": uniform(-15, 15),
                    f"{side}_clav_elev": uniform(-3, 5)})
  return posture


_NOISE_STD = {"root": 0.7, "spine": 1.0, "chest": 1.0, "neck": 3.0, "head": 2.0, "hip": 1.5,
              "knee": 1.5, "clav": 1.0, "shoulder_elev": 2.0, "shoulder_plane": 4.0,
              "shoulder_twist": 5.0, "elbow": 3.0}


def _noise_std(channel: str) -> float:
  name = channel[2:] if channel[:2] in ("l_", "r_") else channel
  for key, std in _NOISE_STD.items():
    if name.startswith(key):
      return std
  raise KeyError(channel)


@dataclasses.dataclass(frozen=True)
class ProceduralMotion:
  """One generated sequence. poses: `[T, 17, 3]` float32 mm, z-up world; angles: the limited
  joint angles (degrees) per channel of `JOINT_LIMITS`, `[T]` each; heading: `[T]` degrees
  (facing direction about z; 0 faces +x); mirrored: whether the right-lead script was mirrored."""
  poses: np.ndarray
  angles: Dict[str, np.ndarray]
  heading: np.ndarray
  action: str
  subject: body.SubjectBody
  fps: float
  mirrored: bool


def synthesize(rng: np.random.Generator, action: str, subject: body.SubjectBody, num_frames: int,
               fps: float = 30.0) -> ProceduralMotion:
  """Generates one sequence with its joint angles (see `generate_sequence`)."""
  if action not in action_lib.ACTION_FUNCTIONS:
    raise ValueError(f"unknown action {action!r}; known: {action_lib.ACTIONS}")
  if not isinstance(subject, body.SubjectBody):
    raise TypeError(f"subject must be a SubjectBody, got {type(subject).__name__}")
  num_frames = int(num_frames)
  if num_frames < 1:
    raise ValueError(f"num_frames must be >= 1, got {num_frames}")
  if not fps > 0:
    raise ValueError(f"fps must be positive, got {fps}")
  t = np.arange(num_frames) / float(fps)
  rest_swing, rest_direct = {}, {}
  flex, abd = rng.uniform(-5, 12), rng.uniform(6, 14)
  for side in ("l", "r"):
    rest_swing[f"{side}_arm_flex"] = flex + rng.normal(0, 2)
    rest_swing[f"{side}_arm_abd"] = abd + rng.normal(0, 1)
    elevation, plane = joint_angles.arm_from_swing(rest_swing[f"{side}_arm_flex"],
                                                   rest_swing[f"{side}_arm_abd"])
    rest_direct[f"{side}_shoulder_elev"] = float(elevation)
    rest_direct[f"{side}_shoulder_plane"] = float(plane)
  style = action_lib.ActionStyle(speed=float(rng.uniform(0.8, 1.25)),
                                 amp=float(rng.uniform(0.75, 1.2)), fps=float(fps),
                                 rest_swing=rest_swing, rest_direct=rest_direct)
  result = action_lib.ACTION_FUNCTIONS[action](rng, t, style)
  mirrored = bool(rng.uniform() < 0.5)
  if mirrored:
    result = action_lib.mirror_action(result)

  # Arms: an action writes an arm as a swing or as elevation/plane (absolute), or leaves it at
  # rest; swings become elevation/plane. Then posture, noise and limits.
  channels = dict(result.channels)
  for side in ("l", "r"):
    swing = [k for k in (f"{side}_arm_flex", f"{side}_arm_abd") if k in channels]
    direct = [k for k in (f"{side}_shoulder_elev", f"{side}_shoulder_plane") if k in channels]
    if swing and direct:
      raise AssertionError(f"action {action} wrote both {swing} and {direct}")
    if direct:
      continue
    flex = channels.pop(f"{side}_arm_flex", style.rest_swing[f"{side}_arm_flex"])
    abd = channels.pop(f"{side}_arm_abd", style.rest_swing[f"{side}_arm_abd"])
    elevation, plane = joint_angles.arm_from_swing(flex + np.zeros_like(t), abd + np.zeros_like(t))
    channels[f"{side}_shoulder_elev"], channels[f"{side}_shoulder_plane"] = elevation, plane
  unknown = sorted(set(channels) - set(joint_angles.JOINT_LIMITS))
  if unknown:
    raise AssertionError(f"action {action} wrote unknown channels {unknown}")
  posture = _resting_posture(rng)
  angles = {}
  for name, (lo, hi) in joint_angles.JOINT_LIMITS.items():
    value = (channels.get(name, 0.0) + posture.get(name, 0.0) +
             curves.smooth_noise(rng, t, _noise_std(name), 0.1, 0.8))
    angles[name] = joint_angles.soft_clamp(
        np.broadcast_to(value, t.shape).astype(np.float64), lo, hi)

  heading = rng.uniform(0, 360) + curves.smooth_noise(rng, t, 2.0, 0.02, 0.1)
  if result.yaw is not None:
    heading = heading + result.yaw
  relative = body.forward_kinematics(angles, heading, subject)
  root = root_motion.place_root(relative, t, subject, result, heading, rng, fps)
  poses = relative + root[:, None, :]
  return ProceduralMotion(poses=poses.astype(np.float32), angles=angles, heading=heading,
                          action=action, subject=subject, fps=float(fps), mirrored=mirrored)


def generate_sequence(rng: np.random.Generator, action: str, subject: body.SubjectBody,
                      num_frames: int, fps: float = 30.0) -> np.ndarray:
  """One sequence of `action` by `subject`: `[num_frames, 17, 3]` float32, mm, z-up world.

  Speed, amplitude, phase, timing, posture, mirroring (left/right lead), heading and start
  position are drawn from `rng`; the result is a deterministic function of the rng state.
  """
  return synthesize(rng, action, subject, num_frames, fps).poses
