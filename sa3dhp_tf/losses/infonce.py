"""InfoNCE (van den Oord et al. 2018) for the contrastive energies L_LCR and L_HCR (paper eq. 1).

Differences from the authors' TF1 code, on purpose:
- every sample of the batch is an anchor (their code uses only the first one);
- when anchors are frames grouped by clip (`groups`), the frames of the anchor's own clip are
  removed from its negatives: the paper's negatives are "unique instances that are in no way
  related" to the anchor, and the neighbouring frames of one clip are related.
As theirs: embeddings are L2-normalised, the temperature is 0.07 and the positive branch is under
stop-gradient (so only the anchor branch, and the projection head through it, is trained).
"""

import keras
import tensorflow as tf

DEFAULT_TEMPERATURE = 0.07
# Logit given to pairs removed from the negatives; finite so that 0 * it stays finite.
_MASKED_LOGIT = -1e9


def _l2_normalize(x):
  return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1, epsilon=1e-12)


def _check_rank2(name, x):
  if x.shape.rank is not None and x.shape.rank != 2:
    raise ValueError(f"info_nce: {name} must be [N, D], got shape {x.shape}")


def info_nce(anchors, positives, temperature=DEFAULT_TEMPERATURE, groups=None,
             gathered_positives=None, gathered_groups=None, anchor_offset=0):
  """Mean InfoNCE loss over the anchors.

  Anchor `i` is scored against its positive `i` and against the positives of every other sample
  `j` whose group differs from its own (all `j != i` when `groups` is None):

    loss_i = -log( exp(a_i . p_i / t) / (exp(a_i . p_i / t) + sum_neg exp(a_i . p_j / t)) )

  with `a`, `p` L2-normalised and `p` under stop-gradient.

  Args:
    anchors: `[N, D]` embeddings of the anchors.
    positives: `[N, D]` embeddings of their positives (same order).
    temperature: the softmax temperature t (> 0).
    groups: optional int `[N]`; samples sharing a group (e.g. frames of one clip) are never
      negatives of each other.
    gathered_positives / gathered_groups / anchor_offset: for data parallelism. The positives
      (and groups) of the whole global batch `[M, D]` (`[M]`), e.g. gathered from every replica,
      with the local anchors' own positives at rows `anchor_offset .. anchor_offset + N - 1`.
      Then the negatives come from the global batch, and the mean over replicas of the local
      losses equals the loss of the global batch. Default: the local positives.

  Returns:
    Scalar float32 loss (mean over the anchors).
  """
  if temperature <= 0:
    raise ValueError(f"info_nce: temperature must be > 0, got {temperature}")
  anchors = tf.convert_to_tensor(anchors)
  positives = tf.convert_to_tensor(positives)
  _check_rank2("anchors", anchors)
  _check_rank2("positives", positives)
  a = _l2_normalize(anchors)
  if gathered_positives is None:
    if gathered_groups is not None:
      raise ValueError("info_nce: gathered_groups needs gathered_positives")
    keys = positives
    key_groups = groups
  else:
    keys = tf.convert_to_tensor(gathered_positives)
    _check_rank2("gathered_positives", keys)
    key_groups = gathered_groups
    if (groups is None) != (gathered_groups is None):
      raise ValueError("info_nce: give both groups and gathered_groups, or neither")
  k = tf.stop_gradient(_l2_normalize(keys))
  logits = tf.matmul(a, k, transpose_b=True) / tf.cast(temperature, tf.float32)  # [N, M]
  n = tf.shape(a)[0]
  labels = tf.range(n) + tf.cast(anchor_offset, tf.int32)
  if key_groups is not None:
    g_anchor = tf.reshape(tf.convert_to_tensor(groups), [-1])
    g_key = tf.reshape(tf.convert_to_tensor(key_groups), [-1])
    same_group = tf.equal(g_anchor[:, None], g_key[None, :])
    own = tf.one_hot(labels, tf.shape(k)[0], on_value=True, off_value=False, dtype=tf.bool)
    masked = tf.logical_and(same_group, tf.logical_not(own))
    logits = tf.where(masked, tf.constant(_MASKED_LOGIT, tf.float32), logits)
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
  return tf.reduce_mean(losses)


@keras.saving.register_keras_serializable(package="sa3dhp_tf")
class ProjectionHead(keras.layers.Layer):
  """SimCLR-style projection head g(.): Dense(hidden, relu) -> Dense(output). InfoNCE is computed
  on its (L2-normalised) output, so that the contrastive energy shapes g's space and leaves some
  freedom to the features below it."""

  def __init__(self, hidden_units=256, output_units=128, **kwargs):
    super().__init__(**kwargs)
    self.hidden_units = int(hidden_units)
    self.output_units = int(output_units)
    if self.hidden_units <= 0 or self.output_units <= 0:
      raise ValueError(f"ProjectionHead: units must be > 0, got hidden_units={hidden_units}, "
                       f"output_units={output_units}")
    self.hidden = keras.layers.Dense(self.hidden_units, activation="relu", name="hidden")
    self.out = keras.layers.Dense(self.output_units, name="output")

  def build(self, input_shape):
    if not self.hidden.built:
      self.hidden.build(input_shape)
    if not self.out.built:
      self.out.build(tuple(input_shape[:-1]) + (self.hidden_units,))
    self.built = True

  def call(self, inputs):
    # float32 under a mixed-precision policy: InfoNCE's logits and softmax stay float32.
    return keras.ops.cast(self.out(self.hidden(inputs)), "float32")

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.output_units,)

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=self.hidden_units, output_units=self.output_units)
    return config
