"""Small layers, loss helpers and training utilities shared by the `sa3dhp_tf.modeling` models.

Every layer here is registered with `keras.saving.register_keras_serializable(package="sa3dhp_tf")`
and has a `get_config`, so the models built from them round-trip through `.keras` files.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import distribution
from sa3dhp_tf import skeleton

PACKAGE = "sa3dhp_tf"

RECONSTRUCTION_LOSSES = ("l1", "l2", "mpjpe")

# The pose decoders put the root first and bone b's child at joint b + 1.
assert skeleton.ROOT == 0 and all(child == b + 1 for b, (_, child) in enumerate(skeleton.BONES))

# ImageNet statistics. `keras.applications.ResNet50` weights expect "caffe" preprocessing:
# BGR channel order, 0-255 scale, per-channel mean subtracted, no std division.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_IMAGENET_RGB_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_RGB_STD = (0.229, 0.224, 0.225)
IMAGE_PREPROCESSING_MODES = ("caffe", "imagenet_standardize", "minus_one_to_one", "none")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoundedLatent(keras.layers.Layer):
  """`r * tanh(h / r)`: maps any real vector into the open box (-r, r).

  Produces the pose code z of `E_p` and `G` (paper: z in [-1, 1]^32, so r = 1; the authors'
  code uses r = 10). Close to the identity for |h| << r.
  """

  def __init__(self, latent_range=1.0, **kwargs):
    super().__init__(**kwargs)
    self.latent_range = _positive_float(latent_range, "latent_range")

  def call(self, inputs):
    r = self.latent_range
    return r * keras.ops.tanh(inputs / r)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(latent_range=self.latent_range)
    return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class RootRelativeNormalize(keras.layers.Layer):
  """Poses `[B, 17, 3]` in mm -> root-relative poses divided by `pose_scale_mm` (unitless).

  Subtracting the root is idempotent, so root-relative inputs pass through unchanged.
  """

  def __init__(self, pose_scale_mm=1000.0, **kwargs):
    super().__init__(**kwargs)
    self.pose_scale_mm = _positive_float(pose_scale_mm, "pose_scale_mm")

  def call(self, poses):
    poses = keras.ops.convert_to_tensor(poses, dtype=self.compute_dtype)
    root = poses[..., skeleton.ROOT:skeleton.ROOT + 1, :]
    return (poses - root) / self.pose_scale_mm

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(pose_scale_mm=self.pose_scale_mm)
    return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class JointsFromOffsets(keras.layers.Layer):
  """Decoder head `[B, 16, 3]` (unitless, non-root joints) -> pose `[B, 17, 3]` in mm, root at 0."""

  def __init__(self, pose_scale_mm=1000.0, **kwargs):
    super().__init__(**kwargs)
    self.pose_scale_mm = _positive_float(pose_scale_mm, "pose_scale_mm")

  def call(self, offsets):
    root = keras.ops.zeros_like(offsets[:, :1, :])
    return keras.ops.concatenate([root, offsets], axis=1) * self.pose_scale_mm

  def compute_output_shape(self, input_shape):
    return (input_shape[0], skeleton.NUM_JOINTS, 3)

  def get_config(self):
    config = super().get_config()
    config.update(pose_scale_mm=self.pose_scale_mm)
    return config


def ancestor_bone_matrix():
  """`[17, 16]` float32 matrix A with A[j, b] = 1 where bone b lies on the path root -> joint j.

  Bone b is `skeleton.BONES[b]` (its child is joint b + 1), so forward kinematics is
  `joints = A @ bone_vectors`.
  """
  matrix = np.zeros((skeleton.NUM_JOINTS, len(skeleton.BONES)), np.float32)
  for joint in range(skeleton.NUM_JOINTS):
    node = joint
    while skeleton.PARENTS[node] >= 0:
      matrix[joint, node - 1] = 1.0
      node = skeleton.PARENTS[node]
  return matrix


@keras.saving.register_keras_serializable(package=PACKAGE)
class BonesToJoints(keras.layers.Layer):
  """Forward kinematics over `skeleton.PARENTS`: unit bone directions x bone lengths -> joints.

  Inputs: `directions` `[B, 16, 3]` (any length; normalised here, bone order `skeleton.BONES`)
  and optionally `scale` `[B, 1]` (a positive global multiplier of every bone length).
  Output: pose `[B, 17, 3]` in mm with the root at 0. Every decoded skeleton has exactly the
  limb lengths `bone_lengths_mm * scale`, as the authors' pose decoder.
  """

  def __init__(self, bone_lengths_mm, **kwargs):
    super().__init__(**kwargs)
    lengths = np.asarray(bone_lengths_mm, np.float64).reshape(-1)
    if lengths.shape != (len(skeleton.BONES),):
      raise ValueError(f"bone_lengths_mm must have {len(skeleton.BONES)} entries (order "
                       f"skeleton.BONES), got shape {lengths.shape}")
    if not np.all(np.isfinite(lengths)) or np.any(lengths <= 0):
      raise ValueError(f"bone_lengths_mm must be positive and finite, got {lengths.tolist()}")
    self.bone_lengths_mm = [float(v) for v in lengths]
    self._lengths = np.asarray(self.bone_lengths_mm, np.float32)
    self._ancestors = ancestor_bone_matrix()

  def call(self, directions, scale=None):
    norm = keras.ops.sqrt(keras.ops.sum(keras.ops.square(directions), axis=-1, keepdims=True)
                          + 1e-12)
    bones = directions / norm * self._lengths[:, None]
    if scale is not None:
      bones = bones * scale[:, :, None]
    return keras.ops.einsum("jb,nbc->njc", self._ancestors, bones)

  def compute_output_shape(self, directions_shape, scale_shape=None):
    return (directions_shape[0], skeleton.NUM_JOINTS, 3)

  def get_config(self):
    config = super().get_config()
    config.update(bone_lengths_mm=list(self.bone_lengths_mm))
    return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImagePreprocessing(keras.layers.Layer):
  """Images float32 in [0, 1], RGB -> the input a backbone expects.

  Modes: 'caffe' (what `keras.applications.ResNet50` ImageNet weights expect: x255, RGB->BGR,
  minus the ImageNet mean), 'imagenet_standardize' ((x - mean) / std per RGB channel),
  'minus_one_to_one' (2x - 1: what `keras.applications.MobileNetV2` weights expect), 'none'
  (identity).
  """

  def __init__(self, mode="imagenet_standardize", **kwargs):
    super().__init__(**kwargs)
    if mode not in IMAGE_PREPROCESSING_MODES:
      raise ValueError(f"mode must be one of {IMAGE_PREPROCESSING_MODES}, got {mode!r}")
    self.mode = mode

  def call(self, images):
    images = keras.ops.convert_to_tensor(images, dtype=self.compute_dtype)
    if self.mode == "caffe":
      bgr = keras.ops.flip(images, axis=-1) * 255.0
      return bgr - keras.ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=images.dtype)
    if self.mode == "imagenet_standardize":
      mean = keras.ops.convert_to_tensor(_IMAGENET_RGB_MEAN, dtype=images.dtype)
      std = keras.ops.convert_to_tensor(_IMAGENET_RGB_STD, dtype=images.dtype)
      return (images - mean) / std
    if self.mode == "minus_one_to_one":
      return images * 2.0 - 1.0
    return images

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(mode=self.mode)
    return config


def float32_output(x, name):
  """`x` as a float32 model output. Under a mixed-precision policy (README "GPUs") layers
  compute in float16/bfloat16; every network ends with this so losses, energies, InfoNCE and
  metrics are computed in float32, as Keras' mixed-precision guide asks. An identity that adds
  no layer under the float32 policy."""
  if keras.mixed_precision.global_policy().compute_dtype == "float32":
    return x
  return keras.layers.Activation("linear", dtype="float32", name=name)(x)


def float32_cast(x):
  """The same for subclassed layers' outputs: a cast under a mixed policy, else `x`."""
  if keras.mixed_precision.global_policy().compute_dtype == "float32":
    return x
  return keras.ops.cast(x, "float32")


def dense_stack(x, units, activation, name, final_units=None, final_activation=None,
                final_kernel_initializer="glorot_uniform"):
  """Functional-API MLP: `Dense(u, activation)` for each u in `units`, then an optional final
  `Dense(final_units)`. Layers are named `{name}_fc{i}` and `{name}_out`."""
  for i, width in enumerate(units):
    x = keras.layers.Dense(int(width), activation=activation, name=f"{name}_fc{i}")(x)
  if final_units is not None:
    x = keras.layers.Dense(int(final_units), activation=final_activation,
                           kernel_initializer=final_kernel_initializer, name=f"{name}_out")(x)
    x = float32_output(x, f"{name}_out_float32")
  return x


def reconstruction_error(diff, kind):
  """Per-sample error `[B]` of `diff` `[B, ..., C]` (already divided by its scale).

  'l1': mean |diff|; 'l2': mean diff^2; 'mpjpe': Euclidean norm over the last axis (C),
  averaged over the other non-batch axes (joints or frames).
  """
  if kind == "l1":
    values = tf.abs(diff)
  elif kind == "l2":
    values = tf.square(diff)
  elif kind == "mpjpe":
    values = tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12)
  else:
    raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}")
  rank = len(values.shape)
  return tf.reduce_mean(values, axis=list(range(1, rank))) if rank > 1 else values


def check_reconstruction_loss(kind):
  if kind not in RECONSTRUCTION_LOSSES:
    raise ValueError(f"reconstruction_loss must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}")
  return kind


def discriminator_loss(real_logits, fake_logits):
  """Binary cross-entropy of a discriminator: real -> 1, fake -> 0 (mean over the batch)."""
  real = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.ones_like(real_logits),
                                                 logits=real_logits)
  fake = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(fake_logits),
                                                 logits=fake_logits)
  return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(fake_logits):
  """Non-saturating adversarial loss of the generator: fake -> 1."""
  return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=tf.ones_like(fake_logits), logits=fake_logits))


def real_logits_and_r1(discriminator, real, input_scale=1.0, enabled=True):
  """Discriminator logits on real samples and the R1 penalty (Mescheder et al. 2018)
  `E |d logit / d(real / input_scale)|^2` (0.0 when not `enabled`).

  Call it inside the discriminator's gradient tape so that the penalty is differentiated."""
  if not enabled:
    return discriminator(real, training=True), 0.0
  with tf.GradientTape() as tape:
    tape.watch(real)
    logits = discriminator(real, training=True)
  grads = tape.gradient(logits, real) * input_scale  # d(sum of logits) / d(real)
  rank = len(grads.shape)
  return logits, tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=list(range(1, rank))))


def replica_share(loss):
  """`loss` (a mean over this replica's batch) divided by the replicas in sync: the objective a
  train step differentiates. Keras optimizers SUM the replicas' gradients (`apply_gradients`
  all-reduces with ReduceOp.SUM), so each replica must contribute 1/replicas of the global-batch
  mean, as `keras.Model.compile`'s losses do (`scale_loss_for_distribution`); otherwise a run on
  N replicas steps with N times the gradient (SGD: N times the learning rate; Adam: another
  epsilon). 1 outside a strategy."""
  context = tf.distribute.get_replica_context()
  replicas = context.num_replicas_in_sync if context is not None else 1
  return loss / replicas if replicas > 1 else loss


def batch_std(codes):
  """Mean over code dimensions of the standard deviation across the batch (collapse monitor)."""
  return tf.reduce_mean(tf.math.reduce_std(codes, axis=0))


def check_finite(value, what):
  """Raises `InvalidArgumentError` naming `what` if `value` has NaN/Inf (graph mode).

  Under XLA (`jit_compile=True`) TensorFlow drops this check; use `NonFiniteLossGuard`."""
  return tf.debugging.check_numerics(value, f"{what} is not finite (NaN or Inf)")


class NonFiniteLossGuard(keras.callbacks.Callback):
  """Raises `FloatingPointError` as soon as a logged metric is NaN or Inf.

  The models' `train_step`s check their losses with `tf.debugging.check_numerics`, which XLA
  silently drops; this callback covers `jit_compile=True` runs (and any metric, e.g.
  a collapsing latent std). `keys=None` checks every logged value.
  """

  def __init__(self, keys=None, every_n_steps=1):
    super().__init__()
    self.keys = None if keys is None else tuple(keys)
    self.every_n_steps = max(int(every_n_steps), 1)

  def _check(self, logs, where):
    for key, value in (logs or {}).items():
      if self.keys is not None and key not in self.keys:
        continue
      try:
        scalar = float(np.asarray(value))
      except (TypeError, ValueError):
        continue
      if not math.isfinite(scalar):
        raise FloatingPointError(f"metric {key!r} is {scalar} at {where}; stopping training")

  def on_train_batch_end(self, batch, logs=None):
    if batch % self.every_n_steps == 0:
      self._check(logs, f"training batch {batch}")

  def on_epoch_end(self, epoch, logs=None):
    self._check(logs, f"end of epoch {epoch}")


def _positive_float(value, name):
  value = float(value)
  if not value > 0.0 or not math.isfinite(value):
    raise ValueError(f"{name} must be a positive finite number, got {value}")
  return value


def unpack_model_input(data, key, model_name):
  """Returns the tensor a single-input `train_step` receives: a tensor, `(x,)`, `(x, None, w)`
  or a dict holding `key`."""
  x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
  if isinstance(x, dict):
    if key not in x:
      raise KeyError(f"{model_name} expects a tensor or a dict with key {key!r}; got keys "
                     f"{sorted(x)}")
    x = x[key]
  return x


class TwoOptimizerModelMixin:
  """`compile(primary_optimizer, discriminator_optimizer)` plumbing for the adversarial
  auto-encoders (as the Keras GAN guide): the optimizers are built at compile time on their own
  variable lists, and `get_compile_config`/`compile_from_config` make `.keras` files restore a
  compiled model with its optimizer state.

  Subclasses define `_PRIMARY_OPTIMIZER` (attribute name), `_primary_variables()` and
  `_discriminator_variables()`.
  """

  _PRIMARY_OPTIMIZER = "autoencoder_optimizer"

  def _compile_two(self, primary_optimizer, discriminator_optimizer, **kwargs):
    primary_optimizer = keras.optimizers.get(primary_optimizer)
    discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
    if primary_optimizer is discriminator_optimizer:
      raise ValueError("the auto-encoder and the discriminator need two distinct optimizer "
                       "instances")
    # Dynamic loss scaling under mixed_float16, as keras.Model.compile adds for one optimizer.
    primary_optimizer = distribution.loss_scaled(primary_optimizer)
    discriminator_optimizer = distribution.loss_scaled(discriminator_optimizer)
    for key in ("optimizer", "loss", "metrics"):
      if kwargs.get(key) is not None:
        raise ValueError(f"{type(self).__name__}.compile takes no {key!r}; its losses are "
                         "constructor settings and its metrics are built in")
      kwargs.pop(key, None)
    # `self.optimizer` is the primary optimizer, so Keras callbacks see its iteration count.
    super().compile(optimizer=primary_optimizer, **kwargs)
    setattr(self, self._PRIMARY_OPTIMIZER, primary_optimizer)
    self.discriminator_optimizer = discriminator_optimizer
    # Build now (not inside the first traced step): XLA-safe, and `.keras` loading restores the
    # optimizer state into these variables. An optimizer reused from an earlier compile keeps its
    # variables.
    if not primary_optimizer.built:
      primary_optimizer.build(self._primary_variables())
    if not discriminator_optimizer.built:
      discriminator_optimizer.build(self._discriminator_variables())
    self._two_optimizer_compile_kwargs = {
        k: v for k, v in kwargs.items() if k in ("run_eagerly", "jit_compile",
                                                 "steps_per_execution")}

  def get_compile_config(self):
    if not getattr(self, "compiled", False) or not hasattr(self, "discriminator_optimizer"):
      return {}
    config = {
        self._PRIMARY_OPTIMIZER: keras.saving.serialize_keras_object(
            getattr(self, self._PRIMARY_OPTIMIZER)),
        "discriminator_optimizer": keras.saving.serialize_keras_object(
            self.discriminator_optimizer),
    }
    config.update(self._two_optimizer_compile_kwargs)
    return config

  def compile_from_config(self, config):
    if not config:
      return
    config = dict(config)
    primary = keras.saving.deserialize_keras_object(config.pop(self._PRIMARY_OPTIMIZER))
    disc = keras.saving.deserialize_keras_object(config.pop("discriminator_optimizer"))
    self.compile(primary, disc, **config)
