"""Relation energies L^z_r, L^v_r (paper eqs. 2-3): the distance between the frozen relation
network's prediction T(G(x)) and the latent of the transformed input G(T^x(x)).

Kinds (all means over the batch, so they do not grow with the batch size):
- 'l1': mean absolute difference over the batch and the latent dimensions (the authors' choice);
- 'l2': mean squared difference over the batch and the latent dimensions;
- 'l2_norm': mean over the batch of the Euclidean norm of the difference vector (the paper's
  ||.|| literally), with a gradient that stays finite where the difference is exactly zero.
"""

import tensorflow as tf

LOSS_KINDS = ("l1", "l2", "l2_norm")


def _difference(predicted_counterpart, counterpart):
  p = tf.cast(tf.convert_to_tensor(predicted_counterpart), tf.float32)
  c = tf.cast(tf.convert_to_tensor(counterpart), tf.float32)
  if p.shape.rank is not None and c.shape.rank is not None and p.shape.rank != c.shape.rank:
    raise ValueError(f"relation energy: predicted {p.shape} and counterpart {c.shape} differ "
                     "in rank")
  if p.shape.is_fully_defined() and c.shape.is_fully_defined() and p.shape != c.shape:
    raise ValueError(f"relation energy: predicted {p.shape} and counterpart {c.shape} differ")
  return p - c


def relation_energy(predicted_counterpart, counterpart, kind="l1"):
  """Scalar energy between `predicted_counterpart = T(G(x))` and `counterpart = G(T^x(x))`, both
  `[B, ..., D]`. See the module docstring for the kinds."""
  if kind not in LOSS_KINDS:
    raise ValueError(f"relation energy kind must be one of {LOSS_KINDS}, got {kind!r}")
  d = _difference(predicted_counterpart, counterpart)
  if kind == "l1":
    return tf.reduce_mean(tf.abs(d))
  if kind == "l2":
    return tf.reduce_mean(tf.square(d))
  squared = tf.reduce_sum(tf.square(d), axis=-1)
  positive = squared > 0.0
  # sqrt has an infinite derivative at 0: route exact zeros around it.
  norm = tf.where(positive, tf.sqrt(tf.where(positive, squared, tf.ones_like(squared))),
                  tf.zeros_like(squared))
  return tf.reduce_mean(norm)


def relation_residual(predicted_counterpart, counterpart, reduce=True):
  """Diagnostic |T(G(x)) - G(T^x(x))|: the mean absolute difference per sample `[B]` (averaged
  over every non-batch axis), or its batch mean when `reduce`. It says how far G is from
  satisfying a relation, i.e. how much that relation can still teach on a given domain."""
  d = tf.abs(_difference(predicted_counterpart, counterpart))
  if d.shape.rank is not None and d.shape.rank <= 1:
    per_sample = d
  else:
    per_sample = tf.reduce_mean(tf.reshape(d, [tf.shape(d)[0], -1]), axis=-1)
  return tf.reduce_mean(per_sample) if reduce else per_sample
