"""Temporal windows shared by pose sequences and clips.

The slow-backward relation (v3) pairs, inside one raw 60-frame window at 30 fps, the "fast" anchor
`raw[::2]` (30 frames spanning 2 s, i.e. 15 fps content played at 30 fps) with the "slow"
counterpart `reversed(raw[15:45])` (the middle second at the original speed, played backwards).
"""

import tensorflow as tf

CLIP_LENGTH = 30
WINDOW_LENGTH = 60
SLOW_START = 15
SLOW_STOP = 45


def _check_window(window, time_axis):
  length = window.shape[time_axis]
  if length is not None and length != WINDOW_LENGTH:
    raise ValueError(
        f"slow-backward needs windows of {WINDOW_LENGTH} frames on axis {time_axis}, got {length}")


def fast_clip(window, time_axis):
  """`raw[::2]` of a 60-frame window: 30 frames covering 2 s, the slow-backward anchor."""
  window = tf.convert_to_tensor(window)
  _check_window(window, time_axis)
  axis = time_axis % window.shape.rank
  return tf.gather(window, tf.range(0, WINDOW_LENGTH, 2), axis=axis)


def slow_backward_pair(window, time_axis):
  """Returns (anchor, counterpart) for a raw 60-frame window; works for poses and images."""
  window = tf.convert_to_tensor(window)
  axis = time_axis % max(window.shape.rank, 1)
  anchor = fast_clip(window, time_axis)
  counterpart = tf.reverse(tf.gather(window, tf.range(SLOW_START, SLOW_STOP), axis=axis), [axis])
  return anchor, counterpart


def middle_clip(window, time_axis):
  """The 30 consecutive middle frames `raw[15:45]` of a 60-frame window: the anchor clip of the
  speed-preserving motion relations (v1, v2) and of the clip-level contrastive energy, shared with
  the slow-backward counterpart so that one forward pass of G serves them all."""
  window = tf.convert_to_tensor(window)
  _check_window(window, time_axis)
  axis = time_axis % window.shape.rank
  return tf.gather(window, tf.range(SLOW_START, SLOW_STOP), axis=axis)
