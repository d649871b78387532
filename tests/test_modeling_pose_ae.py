"""Pose AAE (E_p / D_p): shapes, bounded codes, bone decoder, training, serialisation."""


import keras
import numpy as np
import pytest
import tensorflow as tf

import conftest
from sa3dhp_tf import skeleton
from sa3dhp_tf.modeling import layers as sl
from sa3dhp_tf.modeling import pose_autoencoder as pae_lib

import testing


def _poses(n=48, seed=0):
  """Root-relative camera-frame poses of jittered skeletons seen from random azimuths/rolls."""
  rng = np.random.default_rng(seed)
  poses = [conftest.camera_pose(conftest.world_pose(int(s)), azimuth=float(a), roll=float(r))
           for s, a, r in zip(rng.integers(0, 1000, n), rng.uniform(-180, 180, n),
                              rng.uniform(-30, 30, n))]
  return skeleton.root_relative(np.stack(poses)).astype(np.float32)


def _small(**overrides):
  # R1 off by default here (its double backprop doubles trace time); one test turns it on.
  kwargs = dict(latent_dim=8, encoder_units=(64, 64), decoder_units=(64, 64),
                discriminator_units=(32,), discriminator_r1_weight=0.0, seed=3)
  kwargs.update(overrides)
  return pae_lib.PoseAutoencoder(**kwargs)


def _compile(model, lr=1e-3):
  model.compile(keras.optimizers.Adam(lr), keras.optimizers.Adam(lr))
  return model


def _eager_eval(model, poses):
  """test_step metrics on the whole set, run eagerly (no tracing: keeps the tests fast)."""
  model.reset_metrics()
  logs = {k: float(v) for k, v in model.test_step(tf.constant(poses)).items()}
  model.reset_metrics()
  return logs


def test_shapes_dtypes_and_latent_inside_box():
  model = _small(latent_range=0.5)
  poses = _poses(6)
  poses[0] *= 1e4  # drives the pre-activation far out: the code must still be inside the box
  z = model.encode(poses)
  assert z.shape == (6, 8) and z.dtype == tf.float32
  assert np.all(np.abs(z.numpy()) <= 0.5)
  decoded = model.decode(z)
  assert decoded.shape == (6, 17, 3) and decoded.dtype == tf.float32
  np.testing.assert_array_equal(decoded.numpy()[:, skeleton.ROOT], 0.0)
  assert model(poses).shape == (6, 17, 3)
  # E_p ignores the global position.
  shifted = poses + np.array([100.0, -50.0, 3000.0], np.float32)
  np.testing.assert_allclose(model.encode(shifted), z, atol=1e-5)


def test_forward_kinematics_rebuilds_a_real_pose():
  pose = _poses(1)[0]
  parents = np.array([p for p, _ in skeleton.BONES])
  children = np.array([c for _, c in skeleton.BONES])
  bones = pose[children] - pose[parents]
  lengths = np.linalg.norm(bones, axis=-1)
  fk = sl.BonesToJoints(lengths)
  # Directions of arbitrary length: only their direction may matter.
  rebuilt = fk(bones[None] * np.linspace(0.5, 3.0, 16)[None, :, None].astype(np.float32))
  np.testing.assert_allclose(rebuilt.numpy()[0], pose, atol=1e-2)


def test_bones_decoder_fixed_lengths_are_constant():
  lengths = np.linspace(100.0, 400.0, 16)
  model = _small(decoder_output="bones", bone_lengths_mm=lengths)
  decoded = model.sample_poses(20, seed=1).numpy()
  np.testing.assert_allclose(skeleton.bone_lengths(decoded), np.broadcast_to(lengths, (20, 16)),
                             rtol=1e-4)


def test_bones_decoder_predicted_scale_keeps_proportions():
  model = _small(decoder_output="bones", bone_scale="predicted")
  decoded = model.sample_poses(10, seed=2).numpy()
  ratios = skeleton.bone_lengths(decoded) / np.asarray(pae_lib.H36M_MEAN_BONE_LENGTHS_MM)
  np.testing.assert_allclose(ratios, ratios[:, :1] * np.ones((1, 16)), rtol=1e-4)
  lo, hi = np.exp(-pae_lib.MAX_LOG_BONE_SCALE), np.exp(pae_lib.MAX_LOG_BONE_SCALE)
  assert np.all((ratios[:, 0] >= lo - 1e-5) & (ratios[:, 0] <= hi + 1e-5))


def test_fit_lowers_error_saves_loads_resumes_and_flags_nan(tmp_path):
  poses = _poses(48)
  model = _compile(_small(name="pose_ae"), lr=2e-3)
  before = _eager_eval(model, poses)
  history = model.fit(poses, batch_size=16, epochs=10, verbose=0)  # 30 steps
  after = _eager_eval(model, poses)
  assert after["mpjpe_mm"] < 0.7 * before["mpjpe_mm"], (before, after)
  assert set(history.history) == {"loss", "reconstruction_loss", "mpjpe_mm", "latent_disc_loss",
                                  "pose_disc_loss", "latent_adv_loss", "pose_adv_loss",
                                  "latent_std", "latent_saturation"}
  assert all(np.isfinite(v[-1]) for v in history.history.values())
  assert model.autoencoder_optimizer.iterations.numpy() == 30
  assert model.discriminator_optimizer.iterations.numpy() == 30

  loaded = testing.run_save_load(model, poses, tmp_path, name="pose_ae")
  np.testing.assert_array_equal(loaded.encode(poses).numpy(), model.encode(poses).numpy())
  assert loaded.compiled and loaded.autoencoder_optimizer.iterations.numpy() == 30
  loaded.fit(poses[:16], batch_size=16, epochs=1, verbose=0)
  assert loaded.autoencoder_optimizer.iterations.numpy() == 31

  bad = poses[:16].copy()
  bad[3, 5, 1] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match="pose_ae.*not finite"):
    model.fit(bad, batch_size=16, epochs=1, verbose=0)


def test_discriminators_learn_and_only_their_optimizer_moves_them():
  poses = _poses(32)
  model = _small(latent_adversarial_weight=0.0, pose_adversarial_weight=0.0)
  primary = {id(v) for v in model._primary_variables()}
  disc = {id(v) for v in model._discriminator_variables()}
  assert not primary & disc and primary | disc == {id(v) for v in model.trainable_variables}
  encoder_before = [w.copy() for w in model.encoder.get_weights()]
  disc_before = [w.copy() for w in model.latent_discriminator.get_weights()]
  model.compile(keras.optimizers.SGD(0.0), keras.optimizers.Adam(1e-3))
  for _ in range(2):
    model.train_step(tf.constant(poses))
  for a, b in zip(encoder_before, model.encoder.get_weights()):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b)
             for a, b in zip(disc_before, model.latent_discriminator.get_weights()))


def test_r1_penalty_changes_only_the_discriminator_update():
  poses = tf.constant(_poses(16))
  plain = _compile(_small())
  penalised = _compile(_small(discriminator_r1_weight=100.0))
  assert pae_lib.PoseAutoencoder().discriminator_r1_weight > 0  # on by default
  penalised.set_weights(plain.get_weights())
  # Same weights and prior draws (same seed); the update is simultaneous, so the auto-encoder
  # step is identical and only the discriminator step feels the penalty.
  logs_plain = plain.train_step(poses)
  logs_penalised = penalised.train_step(poses)
  np.testing.assert_allclose(logs_penalised["latent_disc_loss"], logs_plain["latent_disc_loss"],
                             rtol=1e-5)
  for a, b in zip(plain.encoder.get_weights(), penalised.encoder.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(
      plain.latent_discriminator.get_weights(), penalised.latent_discriminator.get_weights()))
  assert 0.0 <= float(logs_plain["latent_saturation"]) <= 1.0


def test_config_round_trip_gives_same_outputs():
  model = _small(decoder_output="bones", bone_scale="predicted", latent_range=10.0,
                 reconstruction_loss="mpjpe")
  testing.run_config_round_trip(model, _poses(4))


def test_sample_poses_deterministic_per_seed():
  model = _small()
  np.testing.assert_array_equal(model.sample_poses(3, seed=7), model.sample_poses(3, seed=7))
  z = model.sample_prior(500, seed=1).numpy()
  assert np.all(np.abs(z) <= model.latent_range) and z.std() > 0.4


def test_bad_settings_are_rejected():
  with pytest.raises(ValueError, match="decoder_output"):
    _small(decoder_output="mesh")
  with pytest.raises(ValueError, match="bone_lengths_mm"):
    _small(decoder_output="bones", bone_lengths_mm=[100.0] * 15)
  with pytest.raises(ValueError, match="reconstruction_loss"):
    _small(reconstruction_loss="huber")
  optimizer = keras.optimizers.Adam()
  with pytest.raises(ValueError, match="distinct"):
    _small().compile(optimizer, optimizer)
