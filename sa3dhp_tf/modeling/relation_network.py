"""Relation networks `T^z_r` (pose codes z -> z) and `T^v_r` (motion codes v -> v), Sec. 3.3.2.

`T^z_r` is trained to regress `E_p(T^y_r(y))` from `E_p(y)`; `T^v_r` regresses
`E_m E_p(T^Y_r(Y))` from `E_m E_p(Y)`. Both are MLPs with a residual connection from input to
output and a zero-initialised last layer, so an untrained relation net is exactly the identity
(the "no relation" baseline its `identity_error` metric reports).

Bounded codes (`output_range=r`, pose relations): the residual is added in the pre-tanh space,
`T(x) = r * tanh(atanh(x / r) + MLP(x / r) / r)` with x / r clipped to |.| <= 1 - 1e-4, so the
output stays in the latent box and the identity is still exact. `output_range=None` (motion v):
`T(x) = x + MLP(x)`.
"""

import keras
import tensorflow as tf

from sa3dhp_tf.modeling import layers as sl

RELATION_LOSSES = ("l1", "l2")
_ATANH_CLIP = 1.0 - 1e-4


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class LatentResidual(keras.layers.Layer):
  """`(x, delta)` -> `x + delta`; inside the box (-r, r): `r * tanh(atanh(x / r) + delta / r)`."""

  def __init__(self, output_range=None, **kwargs):
    super().__init__(**kwargs)
    self.output_range = None if output_range is None else float(output_range)
    if self.output_range is not None and not self.output_range > 0:
      raise ValueError(f"output_range must be positive or None, got {output_range}")

  def call(self, x, delta):
    if self.output_range is None:
      return x + delta
    r = self.output_range
    pre = tf.atanh(tf.clip_by_value(x / r, -_ATANH_CLIP, _ATANH_CLIP))
    return r * tf.tanh(pre + delta / r)

  def compute_output_shape(self, x_shape, delta_shape):
    return x_shape

  def get_config(self):
    config = super().get_config()
    config.update(output_range=self.output_range)
    return config


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class RelationNetwork(keras.Model):
  """`T^z` / `T^v`: a residual MLP code -> code.

  Args:
    dim: code size (32 for z, 128 for v).
    hidden_units: hidden Dense widths.
    output_range: r of the pose-code box (same as the pose AAE's latent_range), or None for
      unbounded motion codes.
    activation: hidden activation.
    loss: 'l1' (default, as the authors' code) or 'l2' (mean squared error) on raw codes.
    residual: False drops the input -> output connection (plain MLP; the last layer is then
      initialised as usual, not to zeros).
    check_numerics: raise (graph mode) when the loss is NaN/Inf.
  Training data: `(anchor_codes, counterpart_codes)` pairs (`fit(x=anchors, y=counterparts)` or
  a dataset of 2-tuples, or dicts {'anchor', 'counterpart'}).
  Metrics: loss, mae (mean |T(anchor) - counterpart|), identity_error (mean |anchor -
  counterpart|, what the identity map would score).
  """

  def __init__(self, dim=32, hidden_units=(512, 512), output_range=None,
               activation="leaky_relu", loss="l1", residual=True, check_numerics=True,
               **kwargs):
    super().__init__(**kwargs)
    if loss not in RELATION_LOSSES:
      raise ValueError(f"loss must be one of {RELATION_LOSSES}, got {loss!r}")
    self.dim = int(dim)
    self.hidden_units = tuple(int(u) for u in hidden_units)
    self.output_range = None if output_range is None else float(output_range)
    self.activation = activation
    self.relation_loss = loss
    self.residual = bool(residual)
    self.check_numerics = bool(check_numerics)

    codes = keras.Input((self.dim,), name="codes")
    x = codes if self.output_range is None else keras.layers.Rescaling(
        1.0 / self.output_range, name="normalize")(codes)
    delta = sl.dense_stack(x, self.hidden_units, activation, "relation", self.dim,
                           final_kernel_initializer="zeros" if self.residual else
                           "glorot_uniform")
    if self.residual:
      out = LatentResidual(self.output_range, name="residual")(codes, delta)
    elif self.output_range is not None:
      out = sl.BoundedLatent(self.output_range, name="bounded")(delta)
    else:
      out = delta
    self.network = keras.Model(codes, sl.float32_output(out, "out_float32"), name="relation_mlp")

    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.mae_tracker = keras.metrics.Mean(name="mae")
    self.identity_tracker = keras.metrics.Mean(name="identity_error")
    self.built = True

  def call(self, codes, training=False):
    """T(codes), `[B, dim]`."""
    return self.network(codes, training=training)

  @property
  def metrics(self):
    return [self.loss_tracker, self.mae_tracker, self.identity_tracker]

  def _unpack(self, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(x, dict):
      missing = {"anchor", "counterpart"} - set(x)
      if missing:
        raise KeyError(f"{self.name}: batch dict lacks {sorted(missing)}")
      x, y = x["anchor"], x["counterpart"]
    if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
      x, y = x
    if y is None:
      raise ValueError(f"{self.name} trains on (anchor_codes, counterpart_codes) pairs; got no "
                       "counterpart")
    return tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.float32)

  def _terms(self, anchor, counterpart, training):
    predicted = self.network(anchor, training=training)
    error = predicted - counterpart
    if self.relation_loss == "l1":
      loss = tf.reduce_mean(tf.abs(error))
    else:
      loss = tf.reduce_mean(tf.square(error))
    if self.check_numerics:
      loss = sl.check_finite(loss, f"{self.name}: relation loss")
    return loss, tf.reduce_mean(tf.abs(error)), tf.reduce_mean(tf.abs(counterpart - anchor))

  def _record(self, loss, mae, identity):
    self.loss_tracker.update_state(loss)
    self.mae_tracker.update_state(mae)
    self.identity_tracker.update_state(identity)
    return {m.name: m.result() for m in self.metrics}

  def train_step(self, data):
    anchor, counterpart = self._unpack(data)
    with tf.GradientTape() as tape:
      terms = self._terms(anchor, counterpart, training=True)
      # mixed_float16 loss scaling; the replica share (gradients are summed over replicas).
      scaled = self.optimizer.scale_loss(sl.replica_share(terms[0]))
    variables = self.network.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
    return self._record(*terms)

  def test_step(self, data):
    anchor, counterpart = self._unpack(data)
    return self._record(*self._terms(anchor, counterpart, training=False))

  def get_config(self):
    config = super().get_config()
    config.update(dim=self.dim, hidden_units=list(self.hidden_units),
                  output_range=self.output_range, activation=self.activation,
                  loss=self.relation_loss, residual=self.residual,
                  check_numerics=self.check_numerics)
    return config

  @classmethod
  def from_config(cls, config):
    return cls(**config)
