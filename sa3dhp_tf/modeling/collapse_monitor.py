"""`LatentSpreadMonitor`: watches the spread of G's latents on a held batch of target frames.

Collapse is the first failure of relation distillation, and a fast one (docs: a constant code at
a fixed point of T^z satisfies every relation energy; a prototype went from latent std 0.10 to
0.002 within 250 steps). The monitor measures, every `every_n_steps` training steps, the standard
deviation over the held frames of G's latents (averaged over the latent dimensions), logs it,
and warns (or stops training) when it falls below `min_fraction` of its value at the start.
"""

import logging
import math
import warnings

import keras
import tensorflow as tf

ON_COLLAPSE = ("warn", "stop")
_LOGGER = logging.getLogger(__name__)


class LatentCollapseWarning(UserWarning):
  """The spread of G's latents fell below the configured fraction of its starting value."""


def latent_spread(image_to_latent, images, batch_size=256):
  """Std over samples of G's latents, averaged over the latent dimensions, for images
  `[N, H, W, 3]` or clips `[B, T, H, W, 3]` (flattened to frames). float."""
  images = tf.convert_to_tensor(images)
  if images.dtype.is_integer:
    images = tf.cast(images, tf.float32) / 255.0
  images = tf.cast(images, tf.float32)
  if images.shape.rank is None or images.shape.rank < 4:
    raise ValueError(f"latent_spread needs images [N, H, W, 3] or clips [B, T, H, W, 3], got "
                     f"shape {images.shape}")
  images = tf.reshape(images, [-1] + images.shape.as_list()[-3:])
  count = int(images.shape[0])
  if count < 2:
    raise ValueError(f"latent_spread needs at least 2 frames, got {count}")
  latents = [image_to_latent(images[i:i + batch_size], training=False)
             for i in range(0, count, batch_size)]
  z = tf.concat(latents, axis=0)
  return float(tf.reduce_mean(tf.math.reduce_std(tf.cast(z, tf.float32), axis=0)))


class LatentSpreadMonitor(keras.callbacks.Callback):
  """Logs the latent spread of G on held target frames; warns or stops on collapse.

  Args:
    images: held target frames `[N, H, W, 3]` or clips `[B, T, H, W, 3]`, float in [0, 1].
    every_n_steps: measure every this many training steps (and at the start of training).
    min_fraction: collapse when spread < min_fraction * reference spread.
    on_collapse: 'warn' (a `LatentCollapseWarning` and an error log line, once) or 'stop'
      (also sets `model.stop_training`).
    image_to_latent: the network to watch; default `model.image_to_latent` when the model has
      one (`RelationDistillationModel`), else the model itself.
    reference_spread: the starting value to compare with; default: measured at
      `on_train_begin` of the first `fit` (pass G^s's value when resuming a run).
    log_dir: if given, the spread is also written as a TensorBoard scalar `name` there (needs
      the tensorboard package). A `keras.callbacks.TensorBoard` placed after this callback
      also sees it in the batch logs.
    name: the logs key (`name` and `name + '_ratio'` are added to the batch and epoch logs).
    batch_size: frames per forward pass.
  Steps are counted from the model's `schedule_position` when it has one (resumed runs keep
  their step axis), else from 0.
  Attributes after training: `reference_spread`, `history` (list of (step, spread)),
  `collapsed_at_step` (None if no collapse).
  """

  def __init__(self, images, every_n_steps=50, min_fraction=0.2, on_collapse="warn",
               image_to_latent=None, reference_spread=None, log_dir=None,
               name="latent_spread", batch_size=256):
    super().__init__()
    if on_collapse not in ON_COLLAPSE:
      raise ValueError(f"on_collapse must be one of {ON_COLLAPSE}, got {on_collapse!r}")
    if int(every_n_steps) < 1:
      raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
    if not 0.0 < float(min_fraction) < 1.0:
      raise ValueError(f"min_fraction must be in (0, 1), got {min_fraction}")
    self.images = images
    self.every_n_steps = int(every_n_steps)
    self.min_fraction = float(min_fraction)
    self.on_collapse = on_collapse
    self.image_to_latent = image_to_latent
    self.reference_spread = None if reference_spread is None else float(reference_spread)
    if log_dir is not None:
      try:
        import tensorboard  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
      except ImportError as error:
        raise ImportError(f"LatentSpreadMonitor(log_dir={log_dir!r}) writes TensorBoard "
                          "summaries and needs the tensorboard package; install it or pass "
                          "log_dir=None (the spread still goes to the Keras logs)") from error
    self.log_dir = log_dir
    self.name = name
    self.batch_size = int(batch_size)
    self.history = []
    self.collapsed_at_step = None
    self._step = 0
    self._last = None
    self._writer = None

  def _network(self):
    if self.image_to_latent is not None:
      return self.image_to_latent
    return getattr(self.model, "image_to_latent", self.model)

  def _measure(self):
    spread = latent_spread(self._network(), self.images, self.batch_size)
    if not math.isfinite(spread):
      raise FloatingPointError(f"{self.name}: latent spread is {spread} at step {self._step}")
    return spread

  def _record(self, spread, logs):
    ratio = spread / self.reference_spread if self.reference_spread > 0 else 0.0
    self._last = (spread, ratio)
    self.history.append((self._step, spread))
    if logs is not None:
      logs[self.name] = spread
      logs[self.name + "_ratio"] = ratio
    if self._writer is not None:
      with self._writer.as_default():
        tf.summary.scalar(self.name, spread, step=self._step)
        tf.summary.scalar(self.name + "_ratio", ratio, step=self._step)
      self._writer.flush()
    if ratio < self.min_fraction:
      self._collapse(spread, ratio)

  def _collapse(self, spread, ratio):
    first = self.collapsed_at_step is None
    if first:
      self.collapsed_at_step = self._step
      message = (f"latent collapse: spread of G's latents on the held target frames is "
                 f"{spread:.3g}, {ratio:.1%} of its reference {self.reference_spread:.3g} "
                 f"(threshold {self.min_fraction:.0%}) at step {self._step}")
      _LOGGER.error(message)
      warnings.warn(message, LatentCollapseWarning, stacklevel=2)
    if self.on_collapse == "stop" and self.model is not None:
      self.model.stop_training = True

  def on_train_begin(self, logs=None):
    # Count steps from the model's own position when it keeps one, so a resumed run logs on
    # the same step axis and keeps the same measuring cadence.
    position = getattr(self.model, "schedule_position", None)
    if self._step == 0 and position is not None:
      self._step = int(position.numpy())
    if self.log_dir is not None and self._writer is None:
      self._writer = tf.summary.create_file_writer(self.log_dir)
    spread = self._measure()
    if self.reference_spread is None:
      self.reference_spread = spread
    self._record(spread, None)

  def on_train_batch_end(self, batch, logs=None):
    self._step += 1
    if self._step % self.every_n_steps == 0:
      self._record(self._measure(), logs)

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None and self._last is not None:
      logs[self.name], logs[self.name + "_ratio"] = self._last

  def on_train_end(self, logs=None):
    if self._writer is not None:
      self._writer.flush()

