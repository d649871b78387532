"""The relations registry: one entry per relation, holding its image side and its pose side.

A relation `r` couples an anchor with a counterpart in three spaces at once: images/clips
(`T^x_r`, `T^X_r`), raw poses/pose sequences (`T^y_r`, `T^Y_r`) and latents (the learned relation
network `T^z_r` / `T^v_r`). Keeping both hand-made faces in one entry means a new relation is one
`register_relation` call, and tests can check that the two faces agree (render then transform ==
transform then render).

Inputs of each face:
- pose relations (`space == "pose"`): one frame, poses `[..., 17, 3]` / images `[..., H, W, C]`;
  the anchor is the input itself.
- motion relations (`space == "motion"`): a raw window of `windows.WINDOW_LENGTH` = 60 frames at
  30 fps, poses `[..., 60, 17, 3]` / clips `[..., 60, H, W, C]`; each relation picks its own
  30-frame anchor and counterpart from the window.
"""

import dataclasses
from typing import Callable, Dict, Tuple

import tensorflow as tf

from sa3dhp_tf.geometry import image_transforms as imt
from sa3dhp_tf.geometry import pose_transforms as pt
from sa3dhp_tf.geometry import windows

DEFAULT_THETA = 30.0
POSE = "pose"
MOTION = "motion"

# Time axes of raw windows: poses [..., T, 17, 3], clips [..., T, H, W, C].
_POSE_TIME_AXIS = -3
_CLIP_TIME_AXIS = -4


@dataclasses.dataclass(frozen=True)
class Relation:
  """One relation. `pose_pair(window, theta)` and `image_pair(window, theta, fill_mode)` return
  `(anchor, counterpart)`.

  `anchor_frames(raw_window, time_axis)` selects, from a raw 60-frame window of anything (images,
  poses, or latents G(x) with time on `time_axis`), the frames that are this relation's anchors
  when training on clip batches: the middle clip raw[15:45] for frame relations and v1/v2, the
  fast clip raw[::2] for v3. It lets the adaptation step run G once on the raw window.
  """
  key: str
  name: str
  space: str
  pose_pair: Callable[..., Tuple[tf.Tensor, tf.Tensor]]
  image_pair: Callable[..., Tuple[tf.Tensor, tf.Tensor]]
  uses_theta: bool
  anchor_frames: Callable[..., tf.Tensor]
  description: str = ""

  @property
  def window_length(self) -> int:
    return 1 if self.space == POSE else windows.WINDOW_LENGTH


_REGISTRY: Dict[str, Relation] = {}


def register_relation(relation: Relation) -> Relation:
  if relation.space not in (POSE, MOTION):
    raise ValueError(f"relation {relation.key!r}: space must be {POSE!r} or {MOTION!r}")
  if relation.key in _REGISTRY:
    raise ValueError(f"relation {relation.key!r} is already registered")
  _REGISTRY[relation.key] = relation
  return relation


def get_relation(key: str) -> Relation:
  try:
    return _REGISTRY[key]
  except KeyError:
    raise KeyError(f"unknown relation {key!r}; registered: {sorted(_REGISTRY)}") from None


def relation_keys(space: str = None):
  """Registered keys in registration order, optionally of one space."""
  return [k for k, r in _REGISTRY.items() if space is None or r.space == space]


# --- pose relations -------------------------------------------------------------------------------

def _pose_relation(key, name, pose_fn, image_fn, uses_theta, description):
  def pose_pair(pose, theta=DEFAULT_THETA):
    pose = tf.convert_to_tensor(pose)
    return pose, pose_fn(pose, theta)

  def image_pair(image, theta=DEFAULT_THETA, fill_mode="reflect"):
    image = tf.convert_to_tensor(image)
    return image, image_fn(image, theta, fill_mode)

  return register_relation(Relation(key, name, POSE, pose_pair, image_pair, uses_theta,
                                    windows.middle_clip, description))


_pose_relation("z1", "pose-flip",
               lambda p, t: pt.flip_pose(p),
               lambda x, t, f: imt.flip_image(x),
               False, "horizontal image flip / negate x and swap left-right joints")
_pose_relation("z2", "inplane-theta",
               pt.rotate_pose_inplane,
               lambda x, t, f: imt.rotate_image(x, t, fill_mode=f),
               True, "rotate the image about its centre / the pose about the optical axis")
_pose_relation("z3", "flip+inplane-theta",
               pt.flip_rotate_pose,
               lambda x, t, f: imt.flip_rotate_image(x, t, fill_mode=f),
               True, "flip, then rotate by theta")


# --- motion relations -----------------------------------------------------------------------------

def _per_frame_backward_relation(key, name, pose_fn, image_fn, uses_theta, description):
  """Anchor: the middle 30 frames; counterpart: the per-frame transform, played backwards."""

  def pose_pair(window, theta=DEFAULT_THETA):
    anchor = windows.middle_clip(window, _POSE_TIME_AXIS)
    return anchor, pt.reverse_time(pose_fn(anchor, theta))

  def image_pair(window, theta=DEFAULT_THETA, fill_mode="reflect"):
    anchor = windows.middle_clip(window, _CLIP_TIME_AXIS)
    return anchor, imt.reverse_clip(image_fn(anchor, theta, fill_mode))

  return register_relation(Relation(key, name, MOTION, pose_pair, image_pair, uses_theta,
                                    windows.middle_clip, description))


_per_frame_backward_relation("v1", "flip-backward",
                             lambda p, t: pt.flip_pose(p),
                             lambda x, t, f: imt.flip_image(x),
                             False, "flip every frame, reverse time")
_per_frame_backward_relation("v2", "flip+inplane-theta-backward",
                             pt.flip_rotate_pose,
                             lambda x, t, f: imt.flip_rotate_image(x, t, fill_mode=f),
                             True, "flip and rotate every frame, reverse time")


def _slow_backward_poses(window, theta=DEFAULT_THETA):
  del theta
  return windows.slow_backward_pair(window, _POSE_TIME_AXIS)


def _slow_backward_clips(window, theta=DEFAULT_THETA, fill_mode="reflect"):
  del theta, fill_mode
  return windows.slow_backward_pair(window, _CLIP_TIME_AXIS)


register_relation(Relation("v3", "slow-backward", MOTION, _slow_backward_poses,
                           _slow_backward_clips, False, windows.fast_clip,
                           "anchor raw[::2] (fast), counterpart reversed(raw[15:45]) (slow)"))
