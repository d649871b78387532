"""Relation networks T^z / T^v: identity at init, box bound, training, serialisation."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.modeling import relation_network as rn

import testing

DIM = 8
# A toy "flip": swap dimension pairs and negate some, as a relation acts on codes.
_PERM = np.array([1, 0, 3, 2, 5, 4, 7, 6])
_SIGN = np.array([1, -1, 1, -1, 1, 1, -1, 1], np.float32)


def _pairs(n=256, seed=0, bound=0.9):
  anchors = np.random.default_rng(seed).uniform(-bound, bound, (n, DIM)).astype(np.float32)
  return anchors, (anchors[:, _PERM] * _SIGN).astype(np.float32)


def test_untrained_net_is_identity_and_output_stays_in_box():
  anchors, _ = _pairs(16)
  bounded = rn.RelationNetwork(DIM, hidden_units=(16,), output_range=1.0)
  np.testing.assert_allclose(bounded(anchors), anchors, atol=1e-5)
  unbounded = rn.RelationNetwork(DIM, hidden_units=(16,), output_range=None)
  codes = anchors * 50.0
  np.testing.assert_allclose(unbounded(codes), codes, rtol=1e-6)
  # Large residuals (and inputs on the box edge) must not leave the box.
  weights = bounded.get_weights()
  bounded.set_weights([w + 5.0 for w in weights])
  edge = np.concatenate([anchors, np.full((1, DIM), 1.0, np.float32),
                         np.full((1, DIM), -1.0, np.float32)])
  out = bounded(edge).numpy()
  assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)


def test_fit_beats_identity_and_reports_both_errors():
  anchors, counterparts = _pairs(256)
  model = rn.RelationNetwork(DIM, hidden_units=(64, 64), output_range=1.0)
  model.compile(keras.optimizers.Adam(3e-3))
  before = model.evaluate(anchors, counterparts, batch_size=64, verbose=0, return_dict=True)
  np.testing.assert_allclose(before["mae"], before["identity_error"], rtol=1e-4)
  history = model.fit(anchors, counterparts, batch_size=32, epochs=4, verbose=0)  # 32 steps
  after = model.evaluate(anchors, counterparts, batch_size=64, verbose=0, return_dict=True)
  assert set(history.history) == {"loss", "mae", "identity_error"}
  assert after["mae"] < 0.5 * after["identity_error"], after
  np.testing.assert_allclose(after["identity_error"], before["identity_error"], rtol=1e-5)
  # Dict batches mean the same as (x, y) pairs.
  model.reset_metrics()
  logs = model.test_step({"anchor": anchors[:64], "counterpart": counterparts[:64]})
  np.testing.assert_allclose(logs["mae"], np.abs(model(anchors[:64]) - counterparts[:64]).mean(),
                             rtol=1e-5)


def test_l2_loss_is_mean_squared_error():
  anchors, counterparts = _pairs(32)
  model = rn.RelationNetwork(DIM, hidden_units=(16,), output_range=None, loss="l2")
  model.compile(keras.optimizers.Adam())
  logs = model.test_step((anchors, counterparts))
  np.testing.assert_allclose(logs["loss"], np.mean((anchors - counterparts) ** 2), rtol=1e-5)
  np.testing.assert_allclose(logs["mae"], np.mean(np.abs(anchors - counterparts)), rtol=1e-5)


def test_config_round_trip_and_keras_save_load(tmp_path):
  anchors, counterparts = _pairs(64)
  model = rn.RelationNetwork(DIM, hidden_units=(16, 16), output_range=10.0, name="t_z3")
  model.compile(keras.optimizers.Adam(1e-2))
  model.fit(anchors * 10, counterparts * 10, batch_size=32, epochs=1, verbose=0)
  testing.run_config_round_trip(model, anchors, atol=1e-6)
  assert testing.run_save_load(model, anchors, tmp_path, name="t_z3").compiled


def test_plain_mlp_variant_and_bad_settings():
  anchors, _ = _pairs(4)
  plain = rn.RelationNetwork(DIM, hidden_units=(16,), output_range=0.5, residual=False)
  out = plain(anchors * 100).numpy()
  assert out.shape == (4, DIM) and np.all(np.abs(out) <= 0.5)
  assert not np.allclose(plain(anchors), anchors, atol=1e-3)
  with pytest.raises(ValueError, match="loss"):
    rn.RelationNetwork(DIM, loss="huber")
  with pytest.raises(ValueError, match="counterpart"):
    rn.RelationNetwork(DIM).test_step((tf.zeros([2, DIM]),))


def test_nan_codes_raise_a_named_error():
  anchors, counterparts = _pairs(32)
  anchors[2, 1] = np.nan
  model = rn.RelationNetwork(DIM, hidden_units=(16,), name="t_v2")
  model.compile(keras.optimizers.Adam())
  with pytest.raises(tf.errors.InvalidArgumentError, match="t_v2.*not finite"):
    model.fit(anchors, counterparts, batch_size=32, epochs=1, verbose=0)
