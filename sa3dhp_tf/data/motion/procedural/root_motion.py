"""World placement of the procedural body: the root (pelvis) trajectory over the ground z = 0.

The pelvis height keeps the lower ankle at the subject's ankle height above the ground (plus a
heel rise in gait), but never falls faster than gravity, so jumps and running get ballistic
flight phases; horizontally the root moves against the planted feet (a foot within a few mm of
the floor, and in its stance phase for gaits), so locomotion and turning emerge from the legs
and bending or squatting moves the pelvis over planted feet; airborne, the body keeps its
momentum. A support foot may sink or hover by up to ~2 cm where the support passes from one
foot to the other or at landings (smoothing), and stance feet slide by ~0.1 m/s when walking
and ~0.4 m/s when running.
"""

import math

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion.procedural import actions as action_lib
from sa3dhp_tf.data.motion.procedural import body


def _gaussian_smooth(x, sigma):
  """Smooths `[T, ...]` along time with a Gaussian; the ends are padded by point reflection
  (2 x[0] - x[k]), which keeps linear trends unbiased up to the first and last frames."""
  x = np.asarray(x, np.float64)
  if sigma <= 0 or x.shape[0] < 2:
    return x
  radius = min(int(math.ceil(3 * sigma)), x.shape[0] - 1)
  kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  kernel /= kernel.sum()
  head = 2.0 * x[:1] - x[radius:0:-1]
  tail = 2.0 * x[-1:] - x[-2:-radius - 2:-1]
  padded = np.concatenate([head, x, tail], axis=0)
  flat = padded.reshape(padded.shape[0], -1)
  out = np.stack([np.convolve(flat[:, k], kernel, mode="valid") for k in range(flat.shape[1])],
                 axis=-1)
  return out.reshape(x.shape)


GRAVITY_MM = 9810.0
CONTACT_SMOOTHING_S = 0.035
CONTACT_GAP_MM = 12.0
LANDING_SMOOTHING_S = 0.04
VELOCITY_SMOOTHING_S = 0.05
MOMENTUM_FRAMES = 8


def place_root(relative, t, subject: body.SubjectBody, action: action_lib.ActionMotion, heading,
               rng, fps: float) -> np.ndarray:
  """Root trajectory `[T, 3]` for root-relative poses `relative`.

  Vertical: each ankle needs the root at least `z_f = ankle_height + heel_lift_f - rel_z_f`
  high. Frame by frame, the root takes the higher of that support height (soft max over the
  feet) and its ballistic continuation under gravity: it stands on the lower foot, and flies
  where the legs pull away faster than it could fall (take-off of jumps, running).
  Horizontal: the feet in contact with the ground (within a few mm of their support height)
  do not slide, the root moving against their motion relative to it (averaged when both are
  down); airborne, the body keeps its take-off velocity (plus `action.flight_speed`).
  """
  index = skeleton.JOINT_INDEX
  num_frames = len(t)
  left, right = relative[:, index["l_ankle"]], relative[:, index["r_ankle"]]
  lift = action.heel_lift or {}
  need_left = subject.ankle_height + lift.get("l", 0.0) - left[:, 2]
  need_right = subject.ankle_height + lift.get("r", 0.0) - right[:, 2]
  soft_max_mm = 10.0   # mm: soft maximum, rounds the switch from one support foot to the other
  contact_z = (np.logaddexp(need_left / soft_max_mm, need_right / soft_max_mm) * soft_max_mm -
               soft_max_mm * math.log(2.0))
  contact_z = np.maximum(contact_z, np.maximum(need_left, need_right))
  # Round the hand-over from one support foot to the other (the support foot may sink or
  # hover by a few mm there).
  contact_z = _gaussian_smooth(contact_z, sigma=CONTACT_SMOOTHING_S * fps)
  root_z = contact_z.copy()
  fall = GRAVITY_MM / fps ** 2
  for i in range(2, num_frames):
    root_z[i] = max(contact_z[i], 2.0 * root_z[i - 1] - root_z[i - 2] - fall)
  # Soften landings (the legs absorb the impact over a couple of frames).
  root_z = _gaussian_smooth(root_z, sigma=LANDING_SMOOTHING_S * fps)

  # A foot is planted when its ankle is within a few mm of its flat-foot height; a rising heel
  # (rolling over the toes) releases it, and with no foot planted the body keeps its momentum.
  def planted(ankle_z):
    gap = root_z + ankle_z - subject.ankle_height
    return 1.0 / (1.0 + np.exp((gap - CONTACT_GAP_MM) / 4.0))

  contact_left, contact_right = planted(left[:, 2]), planted(right[:, 2])
  if action.stance is not None:
    contact_left = contact_left * action.stance["l"]
    contact_right = contact_right * action.stance["r"]
  # Contact weights between frames (a step runs from one frame to the next).
  contact_left = np.concatenate(
      [contact_left[:1], 0.5 * (contact_left[1:] + contact_left[:-1])])[:, None]
  contact_right = np.concatenate(
      [contact_right[:1], 0.5 * (contact_right[1:] + contact_right[:-1])])[:, None]
  total = contact_left + contact_right
  airborne = total[:, 0] < 0.05
  step_left = np.diff(left[:, :2], axis=0, prepend=left[:1, :2])
  step_right = np.diff(right[:, :2], axis=0, prepend=right[:1, :2])
  velocity = -(contact_left * step_left + contact_right * step_right) / np.maximum(total, 1e-6)
  facing = np.deg2rad(heading)
  forward = np.stack([np.cos(facing), np.sin(facing)], axis=-1)
  frame = 0
  while frame < num_frames:
    if not airborne[frame]:
      frame += 1
      continue
    end = frame
    while end < num_frames and airborne[end]:
      end += 1
    before = velocity[max(0, frame - MOMENTUM_FRAMES):frame]
    carried = before.mean(axis=0) if len(before) else np.zeros(2)
    velocity[frame:end] = carried + forward[frame:end] * action.flight_speed / fps
    frame = end
  velocity = _gaussian_smooth(velocity, sigma=VELOCITY_SMOOTHING_S * fps)
  # Centre the path on a random point near the origin (keeps float32 coordinates small).
  path = np.cumsum(velocity, axis=0)
  xy = rng.uniform(-1500.0, 1500.0, 2) + path - 0.5 * (path.min(axis=0) + path.max(axis=0))
  return np.concatenate([xy, root_z[:, None]], axis=-1)
