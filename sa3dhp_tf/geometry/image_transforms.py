"""Image-side transforms (T^x, T^X of the paper) with core TensorFlow ops.

Images are `[..., H, W, C]` (single images, batches, or clips `[B, T, H, W, C]`). Flips and
rotations act about the image centre ((W-1)/2, (H-1)/2); for a camera whose principal point is
that centre they commute exactly with projection of the pose-side transforms in
`pose_transforms` (up to resampling).
"""

import math

import tensorflow as tf

FILL_MODES = ("constant", "reflect", "wrap", "nearest")


def flip_image(images):
  """Horizontal flip (T^x_1)."""
  return tf.reverse(tf.convert_to_tensor(images), axis=[-2])


def _rotation_transform(theta_degrees, height, width):
  """Projective transform (output -> input pixel map) for a rotation by theta about the centre,
  matching `pose_transforms.rotation_about_optical_axis`."""
  t = tf.cast(theta_degrees, tf.float32) * (math.pi / 180.0)
  c, s = tf.cos(t), tf.sin(t)
  cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
  cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
  return tf.stack([c, s, cx - c * cx - s * cy,
                   -s, c, cy + s * cx - c * cy,
                   0.0, 0.0])


def rotate_image(images, theta_degrees, fill_mode="reflect", interpolation="bilinear",
                 fill_value=0.0):
  """Rotates images about their centre by theta degrees (T^x_2): the image of a pose rotated by
  `rotate_pose_inplane(pose, theta)`."""
  if fill_mode not in FILL_MODES:
    raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
  images = tf.convert_to_tensor(images)
  in_dtype = images.dtype
  shape = tf.shape(images)
  height, width, channels = shape[-3], shape[-2], shape[-1]
  flat = tf.reshape(images, tf.concat([[-1], shape[-3:]], 0))
  transform = _rotation_transform(theta_degrees, height, width)
  transforms = tf.tile(transform[tf.newaxis], [tf.shape(flat)[0], 1])
  if not in_dtype.is_floating:
    flat = tf.cast(flat, tf.float32)
  rotated = tf.raw_ops.ImageProjectiveTransformV3(
      images=flat, transforms=transforms, output_shape=tf.stack([height, width]),
      fill_value=tf.cast(fill_value, flat.dtype), interpolation=interpolation.upper(),
      fill_mode=fill_mode.upper())
  rotated = tf.reshape(rotated, shape)
  if not in_dtype.is_floating:
    rotated = tf.cast(tf.clip_by_value(tf.round(rotated), in_dtype.min, in_dtype.max), in_dtype)
  return tf.ensure_shape(rotated, images.shape) if images.shape.rank else rotated


def flip_rotate_image(images, theta_degrees, **kwargs):
  """Flip first, then rotate (T^x_3)."""
  return rotate_image(flip_image(images), theta_degrees, **kwargs)


def reverse_clip(clips):
  """Reverses time of clips `[..., T, H, W, C]`."""
  return tf.reverse(tf.convert_to_tensor(clips), axis=[-4])


def rotate_points_2d(points, theta_degrees, height, width):
  """Rotates pixel coordinates `[..., 2]` about the image centre the way `rotate_image` moves
  image content; used by tests and by the renderer's consistency checks."""
  points = tf.convert_to_tensor(points, tf.float64)
  t = tf.cast(theta_degrees, tf.float64) * (math.pi / 180.0)
  c, s = tf.cos(t), tf.sin(t)
  centre = tf.constant([(width - 1) / 2.0, (height - 1) / 2.0], tf.float64)
  p = points - centre
  return tf.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], -1) + centre


def flip_points_2d(points, width):
  points = tf.convert_to_tensor(points, tf.float64)
  return tf.stack([(width - 1.0) - points[..., 0], points[..., 1]], -1)
