"""Shape helpers for batches of frames, clips and per-frame latents: G is frame-wise, so clips
`[B, T, H, W, 3]` are flattened to frames and the latents reshaped back."""

import tensorflow as tf


def as_images(x):
  """float32 images in [0, 1] (uint8 inputs are scaled)."""
  x = tf.convert_to_tensor(x)
  if x.dtype.is_integer:
    return tf.cast(x, tf.float32) / 255.0
  return tf.cast(x, tf.float32)


def dims(x):
  """Static dims where known, dynamic scalars elsewhere (keeps static shapes through reshape)."""
  dynamic = tf.shape(x)
  return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape.as_list())]


def flatten_leading(x, keep):
  """`[..., *last keep dims]` -> `[N, *last keep dims]`."""
  return tf.reshape(x, [-1] + dims(x)[-keep:])


def flat_latents(z):
  """Latents or features `[..., D]` -> `[N, D]`."""
  return flatten_leading(z, 1)
