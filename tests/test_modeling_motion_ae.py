"""Motion AAE (E_m / D_m): shapes, priors, training with and without XLA, serialisation."""


import keras
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.modeling import layers as sl
from sa3dhp_tf.modeling import motion_autoencoder as mae_lib

import testing

T = 10
D = 6


def _sequences(n=32, seed=0, latent_range=1.0):
  """Smooth latent trajectories: per-dimension sinusoids of random frequency and phase."""
  rng = np.random.default_rng(seed)
  t = np.arange(T)[None, :, None]
  freq = rng.uniform(0.3, 1.5, (n, 1, D))
  phase = rng.uniform(0, 2 * np.pi, (n, 1, D))
  return (0.6 * latent_range * np.sin(2 * np.pi * freq * t / T + phase)).astype(np.float32)


def _small(**overrides):
  kwargs = dict(sequence_length=T, latent_dim=D, motion_dim=16, lstm_units=16,
                discriminator_units=(16,), seed=5)
  kwargs.update(overrides)
  return mae_lib.MotionAutoencoder(**kwargs)


def _compile(model, lr=3e-3, **kwargs):
  model.compile(keras.optimizers.Adam(lr), keras.optimizers.Adam(1e-3), **kwargs)
  return model


def _eager_eval(model, sequences):
  """test_step metrics on the whole set, run eagerly (no tracing: keeps the tests fast)."""
  model.reset_metrics()
  logs = {k: float(v) for k, v in model.test_step(tf.constant(sequences)).items()}
  model.reset_metrics()
  return logs


def test_shapes_bounds_and_priors():
  sequences = _sequences(4)
  model = _small(latent_range=0.7)
  v = model.encode(sequences)
  assert v.shape == (4, 16) and v.dtype == tf.float32
  decoded = model.decode(v * 1e4)  # far outside anything seen: still inside the pose-code box
  assert decoded.shape == (4, T, D) and np.all(np.abs(decoded.numpy()) <= 0.7)
  assert model(sequences).shape == (4, T, D)
  uniform = _small(motion_prior="uniform", motion_range=0.5)
  assert np.all(np.abs(uniform.encode(sequences * 50).numpy()) <= 0.5)
  samples = uniform.sample_prior(400, seed=1).numpy()
  assert np.all(np.abs(samples) <= 0.5) and samples.std() > 0.2
  assert abs(model.sample_prior(2000, seed=1).numpy().std() - 1.0) < 0.05


def test_fit_lowers_error_saves_loads_and_flags_nan(tmp_path):
  sequences = _sequences(32)
  model = _compile(_small(name="motion_ae"), lr=1e-2)
  before = _eager_eval(model, sequences)
  history = model.fit(sequences, batch_size=16, epochs=15, verbose=0)  # 30 steps
  after = _eager_eval(model, sequences)
  assert after["latent_mae"] < 0.8 * before["latent_mae"], (before, after)  # ~0.68 measured
  assert set(history.history) == {"loss", "reconstruction_loss", "latent_mae",
                                  "motion_disc_loss", "motion_adv_loss", "motion_code_std"}
  assert model.discriminator_optimizer.iterations.numpy() == 30

  loaded = testing.run_save_load(model, sequences, tmp_path, name="motion_ae")
  assert loaded.compiled
  assert loaded.autoencoder_optimizer.iterations.numpy() == 30
  np.testing.assert_array_equal(loaded.encode(sequences).numpy(),
                                model.encode(sequences).numpy())

  bad = sequences[:16].copy()
  bad[1, 0, 0] = np.inf
  with pytest.raises(tf.errors.InvalidArgumentError, match="motion_ae.*not finite"):
    model.fit(bad, batch_size=16, epochs=1, verbose=0)


def test_jit_compile_trains_and_guard_stops_on_nan():
  sequences = _sequences(16)
  model = _compile(_small(), jit_compile=True)
  weights_before = [w.copy() for w in model.encoder.get_weights()]
  history = model.fit(sequences, batch_size=16, epochs=1, verbose=0)
  assert model.jit_compile is True  # Keras did not silently fall back (CPU LSTM is XLA-able)
  assert np.isfinite(history.history["loss"][-1])
  assert any(not np.array_equal(a, b) for a, b in zip(weights_before,
                                                       model.encoder.get_weights()))
  # XLA drops tf.debugging.check_numerics; the callback catches the NaN instead.
  bad = sequences.copy()
  bad[0, 3, 2] = np.nan
  with pytest.raises(FloatingPointError, match="is nan at training batch 0"):
    model.fit(bad, batch_size=16, epochs=1, verbose=0, callbacks=[sl.NonFiniteLossGuard()])


def test_r1_penalty_changes_only_the_discriminator_update():
  sequences = tf.constant(_sequences(8))
  plain = _compile(_small())
  penalised = _compile(_small(discriminator_r1_weight=100.0))
  penalised.set_weights(plain.get_weights())
  plain.train_step(sequences)
  penalised.train_step(sequences)
  for a, b in zip(plain.encoder.get_weights(), penalised.encoder.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(
      plain.discriminator.get_weights(), penalised.discriminator.get_weights()))


def test_config_round_trip_two_layers():
  model = _small(num_layers=2, motion_prior="uniform", latent_range=10.0,
                 discriminator_r1_weight=2.0)
  assert len([l for l in model.encoder.layers if isinstance(l, keras.layers.Bidirectional)]) == 2
  testing.run_config_round_trip(model, _sequences(3, latent_range=10.0))


def test_bad_settings_are_rejected():
  with pytest.raises(ValueError, match="motion_prior"):
    _small(motion_prior="laplace")
  with pytest.raises(ValueError, match="num_layers"):
    _small(num_layers=0)
  model = _small()
  with pytest.raises(ValueError, match="latent sequences"):
    model.train_step(tf.zeros([2, T, D + 1]))
