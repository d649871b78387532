"""Pose-side transforms (T^y, T^Y of the paper) in TensorFlow; numpy arrays are accepted.

Poses are `[..., 17, 3]` in the camera frame (x right, y down, z forward). Sequences are
`[..., T, 17, 3]` with time on axis -3.
"""

import math

import tensorflow as tf

from sa3dhp_tf import skeleton


def flip_pose(poses):
  """Mirror about the camera's y-z plane: negate x and swap left/right joints (T^y_1)."""
  poses = tf.convert_to_tensor(poses)
  mirrored = poses * tf.constant([-1.0, 1.0, 1.0], dtype=poses.dtype)
  return tf.gather(mirrored, list(skeleton.FLIP_PERMUTATION), axis=-2)


def rotation_about_optical_axis(theta_degrees, dtype=tf.float32):
  """3x3 rotation about the camera z axis. In image coordinates (y down) a positive angle turns
  the picture clockwise on screen; `rotate_image` uses the same convention."""
  t = tf.cast(theta_degrees, dtype) * (math.pi / 180.0)
  c, s = tf.cos(t), tf.sin(t)
  zero, one = tf.zeros_like(c), tf.ones_like(c)
  return tf.stack([tf.stack([c, -s, zero], -1),
                   tf.stack([s, c, zero], -1),
                   tf.stack([zero, zero, one], -1)], -2)


def rotate_pose_inplane(poses, theta_degrees):
  """Rotates poses about the camera's optical axis by theta (T^y_2). Works on root-relative and
  absolute camera-frame poses alike since the rotation is linear."""
  poses = tf.convert_to_tensor(poses)
  rotation = rotation_about_optical_axis(theta_degrees, poses.dtype)
  return tf.linalg.matvec(rotation, poses)


def flip_rotate_pose(poses, theta_degrees):
  """Flip first, then rotate in-plane by theta (T^y_3)."""
  return rotate_pose_inplane(flip_pose(poses), theta_degrees)


def reverse_time(sequences):
  """Reverses a `[..., T, 17, 3]` pose sequence (or any `[..., T, ...]` tensor, given its time axis
  is -3 for poses)."""
  return tf.reverse(tf.convert_to_tensor(sequences), axis=[-3])
