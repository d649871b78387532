"""InfoNCE and relation energies: analytic values, anchors, negatives, gradients."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.losses import ProjectionHead, info_nce, relation_energy, relation_residual


def _reference_info_nce(anchors, positives, temperature, groups=None):
  """Plain numpy InfoNCE with every sample as an anchor; per-anchor losses."""
  a = anchors / np.linalg.norm(anchors, axis=-1, keepdims=True)
  p = positives / np.linalg.norm(positives, axis=-1, keepdims=True)
  logits = a @ p.T / temperature
  losses = []
  for i in range(len(a)):
    keep = [j for j in range(len(p)) if j == i or groups is None or groups[j] != groups[i]]
    row = logits[i, keep]
    losses.append(-(logits[i, i] - np.log(np.sum(np.exp(row)))))
  return np.array(losses)


def test_info_nce_analytic_orthonormal():
  t = 0.5
  e = np.eye(3, dtype=np.float32)
  loss = float(info_nce(e, e, temperature=t))
  assert loss == pytest.approx(math.log(1.0 + 2.0 * math.exp(-1.0 / t)), rel=1e-5)
  # Scaling embeddings changes nothing: they are L2-normalised.
  assert float(info_nce(3.0 * e, 0.5 * e, temperature=t)) == pytest.approx(loss, rel=1e-5)


def test_info_nce_every_sample_is_an_anchor():
  rng = np.random.default_rng(0)
  anchors = rng.normal(size=(6, 5)).astype(np.float32)
  positives = (anchors + rng.normal(scale=[[0.05]] * 3 + [[2.0]] * 3, size=(6, 5))).astype(
      np.float32)
  per_anchor = _reference_info_nce(anchors, positives, 0.2)
  loss = float(info_nce(anchors, positives, temperature=0.2))
  assert loss == pytest.approx(per_anchor.mean(), rel=1e-4)
  # The per-anchor losses really differ, so a first-anchor-only loss would not match.
  assert abs(per_anchor[0] - per_anchor.mean()) > 0.05


def test_info_nce_same_group_frames_are_not_negatives():
  t = 0.5
  e1, e2 = np.eye(2, dtype=np.float32)
  # Two clips of two frames; frames of a clip look alike.
  emb = np.stack([e1, e1, e2, e2])
  groups = np.array([0, 0, 1, 1])
  with_groups = float(info_nce(emb, emb, temperature=t, groups=groups))
  without = float(info_nce(emb, emb, temperature=t))
  # With groups: one positive (logit 1/t) against the other clip's two frames (logit 0).
  assert with_groups == pytest.approx(math.log(1.0 + 2.0 * math.exp(-1.0 / t)), rel=1e-5)
  # Without: the sibling frame is a negative as close as the positive.
  assert without == pytest.approx(math.log(2.0 + 2.0 * math.exp(-1.0 / t)), rel=1e-5)
  rng = np.random.default_rng(1)
  a = rng.normal(size=(8, 4)).astype(np.float32)
  p = rng.normal(size=(8, 4)).astype(np.float32)
  g = np.repeat(np.arange(4), 2)
  assert float(info_nce(a, p, temperature=0.3, groups=g)) == pytest.approx(
      _reference_info_nce(a, p, 0.3, g).mean(), rel=1e-4)


def test_info_nce_single_group_is_zero_and_finite():
  rng = np.random.default_rng(2)
  a = tf.constant(rng.normal(size=(4, 3)), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(a)
    loss = info_nce(a, a + 1.0, groups=tf.zeros([4], tf.int32))
  grad = tape.gradient(loss, a)
  assert float(loss) == pytest.approx(0.0, abs=1e-6)
  assert np.all(np.isfinite(grad.numpy()))


def test_info_nce_zero_embeddings_stay_finite():
  a = tf.Variable(tf.zeros([3, 4]))
  with tf.GradientTape() as tape:
    loss = info_nce(a, tf.zeros([3, 4]))
  assert float(loss) == pytest.approx(math.log(3.0), rel=1e-6)  # all logits equal
  assert np.all(np.isfinite(tape.gradient(loss, a).numpy()))


def test_info_nce_gradient_only_through_anchors():
  rng = np.random.default_rng(3)
  a = tf.Variable(rng.normal(size=(5, 4)), dtype=tf.float32)
  p = tf.Variable(rng.normal(size=(5, 4)), dtype=tf.float32)
  with tf.GradientTape() as tape:
    loss = info_nce(a, p, groups=[0, 0, 1, 2, 2])
  grad_a, grad_p = tape.gradient(loss, [a, p])
  assert grad_p is None
  assert np.all(np.isfinite(grad_a.numpy())) and np.abs(grad_a.numpy()).max() > 0


def test_info_nce_gathered_negatives_equal_global_batch():
  rng = np.random.default_rng(4)
  a = rng.normal(size=(8, 6)).astype(np.float32)
  p = rng.normal(size=(8, 6)).astype(np.float32)
  g = np.repeat(np.arange(4), 2)
  full = float(info_nce(a, p, groups=g))
  halves = [float(info_nce(a[s:s + 4], p[s:s + 4], groups=g[s:s + 4], gathered_positives=p,
                           gathered_groups=g, anchor_offset=s)) for s in (0, 4)]
  assert np.mean(halves) == pytest.approx(full, rel=1e-5)
  local_only = float(info_nce(a[:4], p[:4], groups=g[:4]))
  assert local_only != pytest.approx(halves[0], rel=1e-3)


def test_info_nce_bad_arguments():
  e = np.eye(2, dtype=np.float32)
  with pytest.raises(ValueError, match="temperature"):
    info_nce(e, e, temperature=0.0)
  with pytest.raises(ValueError, match=r"\[N, D\]"):
    info_nce(e[None], e[None])
  with pytest.raises(ValueError, match="groups"):
    info_nce(e, e, groups=[0, 1], gathered_positives=e)


def test_projection_head_shapes_and_serialization():
  head = ProjectionHead(hidden_units=16, output_units=8, name="lcr_head")
  x = tf.random.normal([3, 10])
  y = head(x)
  assert y.shape == (3, 8)
  assert len(head.trainable_weights) == 4
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
  assert isinstance(clone, ProjectionHead)
  assert (clone.hidden_units, clone.output_units, clone.name) == (16, 8, "lcr_head")
  clone.build((None, 10))
  clone.set_weights(head.get_weights())
  np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)
  with pytest.raises(ValueError, match="units"):
    ProjectionHead(hidden_units=0)


def test_relation_energy_values_and_zero():
  p = tf.constant([[1.0, 2.0], [0.0, 0.0]])
  c = tf.constant([[0.0, 0.0], [3.0, 4.0]])
  assert float(relation_energy(p, c, "l1")) == pytest.approx((1 + 2 + 3 + 4) / 4)
  assert float(relation_energy(p, c, "l2")) == pytest.approx((1 + 4 + 9 + 16) / 4)
  assert float(relation_energy(p, c, "l2_norm")) == pytest.approx((math.sqrt(5) + 5) / 2)
  for kind in ("l1", "l2", "l2_norm"):
    assert float(relation_energy(c, c, kind)) == 0.0


def test_relation_energy_gradient_finite_at_zero():
  x = tf.Variable([[0.5, -0.5], [1.0, 2.0]])
  target = tf.constant([[0.5, -0.5], [0.0, 2.0]])  # first row exactly satisfied
  for kind in ("l1", "l2", "l2_norm"):
    with tf.GradientTape() as tape:
      energy = relation_energy(x, target, kind)
    grad = tape.gradient(energy, x).numpy()
    assert np.all(np.isfinite(grad)), kind
    assert grad[1, 0] > 0, kind


def test_relation_energy_bad_input():
  with pytest.raises(ValueError, match="kind"):
    relation_energy(np.zeros((2, 3)), np.zeros((2, 3)), "huber")
  with pytest.raises(ValueError, match="differ"):
    relation_energy(np.zeros((2, 3)), np.zeros((2, 4)))


def test_relation_residual_per_sample():
  p = np.zeros((2, 3, 2), np.float32)
  c = np.stack([np.ones((3, 2)), 3 * np.ones((3, 2))]).astype(np.float32)
  np.testing.assert_allclose(relation_residual(p, c, reduce=False).numpy(), [1.0, 3.0])
  assert float(relation_residual(p, c)) == pytest.approx(2.0)
