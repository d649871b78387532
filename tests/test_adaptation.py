"""RelationDistillationModel (paper Algorithm 1 step 7), its schedules, checkpoints, distribution,
diagnostics and the collapse monitor, on tiny real components (16 px images)."""

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.modeling import adaptation as ad
from sa3dhp_tf.modeling.collapse_monitor import LatentCollapseWarning, LatentSpreadMonitor
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
from sa3dhp_tf.modeling.relation_network import RelationNetwork

import cli_harness
from testing import TINY

SIZE = 16
LATENT = TINY["pose_autoencoder"]["latent_dim"]
MOTION = TINY["motion_autoencoder"]["motion_dim"]
THETA = 30.0


def make_components(seed=0, keys=("z1", "v3"), motion=True):
  """Tiny untrained G, D_p, E_m and relation nets (an untrained RelationNetwork is the
  identity: its residual branch ends in a zero-initialised layer)."""
  keras.utils.set_random_seed(seed)
  g = ImageToLatent(input_size=SIZE, latent_dim=LATENT, **TINY["image_to_latent"])
  pose_ae = PoseAutoencoder(**TINY["pose_autoencoder"])
  motion_ae = MotionAutoencoder(latent_dim=LATENT, **TINY["motion_autoencoder"])
  if not motion:
    motion_ae = None
  nets = {}
  for key in keys:
    dim = LATENT if relations.get_relation(key).space == relations.POSE else MOTION
    nets[key] = RelationNetwork(dim, name=f"relation_{key}", **TINY["relation_network"])
  return dict(image_to_latent=g, pose_decoder=pose_ae.decoder,
              motion_encoder=None if motion_ae is None else motion_ae.encoder,
              relation_networks=nets)


def make_model(seed=0, energies=("lcr", "z1"), keys=("z1", "v3"), **kwargs):
  motion = "hcr" in energies or any(
      relations.get_relation(k).space == relations.MOTION for k in keys)
  return ad.RelationDistillationModel(**make_components(seed, keys, motion), energies=energies,
                                      **TINY["adaptation"], **kwargs)


def make_batch(seed=0, batch=2, keys=("z1", "v3"), static=False, symmetric=False,
               source=True, target=False, pose_model=None):
  """A batch following the pipeline contract (docs/ARCHITECTURE.md)."""
  rng = np.random.default_rng(seed)
  window = rng.uniform(size=(batch, 60, SIZE, SIZE, 3)).astype(np.float32)
  if static:
    window[:] = window[:, :1]
  if symmetric:
    window = 0.5 * (window + window[..., ::-1, :])
  middle = windows.middle_clip(window, -4)
  out = {"window": window, "augmented": (0.8 * middle + 0.1).numpy()}
  for key in keys:
    relation = relations.get_relation(key)
    anchor_input = middle if relation.space == relations.POSE else window
    out[ad.counterpart_key(key)] = relation.image_pair(anchor_input, THETA)[1].numpy()
  if source or target:
    images = rng.uniform(size=(batch, SIZE, SIZE, 3)).astype(np.float32)
    poses = rng.normal(scale=300.0, size=(batch, 17, 3)).astype(np.float32)
    if pose_model is not None:  # labels the model predicts exactly
      poses = pose_model.pose_decoder(pose_model.image_to_latent(images)).numpy()
    if source:
      out["source_image"], out["source_pose3d"] = images, poses
    if target:
      out["target_image"], out["target_pose3d"] = images, poses
  return out


def dataset(batch):
  return tf.data.Dataset.from_tensors(batch).repeat()


def snapshot(variables):
  return {v.path: np.array(v.numpy()) for v in variables}


class OptimizerTrace(keras.callbacks.Callback):
  """Records, after each step, which energies' optimisers stepped."""

  def __init__(self):
    super().__init__()
    self.steps = []
    self.logs = []

  def on_train_begin(self, logs=None):
    self._last = {k: int(o.iterations.numpy()) for k, o in self.model.energy_optimizers.items()}

  def on_train_batch_end(self, batch, logs=None):
    now = {k: int(o.iterations.numpy()) for k, o in self.model.energy_optimizers.items()}
    self.steps.append(tuple(k for k in now if now[k] != self._last[k]))
    self._last = now
    self.logs.append({k: float(v) for k, v in (logs or {}).items()})


# --- fixed seeds: every built-in energy, recorded before the energy registry refactor ------------

ALL_ENERGY_KINDS = ("lcr", "hcr", "z3", "v3", "source", "target_supervised", "domain_adversarial",
                    "latent_spread")
# From the code at 85880af (before the energies registry: if/elif energy dispatch), run with the
# widths of `model_widths.TINY`: make_model(seed=3), make_batch(seed=4), energies before and
# after one eager round-robin cycle at lr 1e-3, and sum |res3 weights| after.
RECORDED_ENERGIES = {
    "before": {"lcr": 2.141116142272949, "hcr": 0.18999332189559937, "z3": 0.036714132875204086,
               "v3": 0.014075679704546928, "source": 0.6273697018623352,
               "target_supervised": 0.6273697018623352, "domain_adversarial": 1.389594316482544,
               "latent_spread": 0.0},
    "stats": {"latent_std": 0.03759380802512169, "latent_std_ratio": 1.0, "collapse": 0.0,
              "domain_accuracy": 0.5},
    "after": {"lcr": 2.032784938812256, "hcr": 0.03876245394349098, "z3": 0.03304539620876312,
              "v3": 0.012257207185029984, "source": 0.626120388507843,
              "target_supervised": 0.626120388507843, "domain_adversarial": 1.3729815483093262,
              "latent_spread": 0.0},
    "res3_abs_sum": 160.1507568359375,
}


def test_every_energy_reproduces_recorded_values():
  keys = ("z3", "v3")
  model = make_model(seed=3, energies=ALL_ENERGY_KINDS, keys=keys)
  batch = make_batch(seed=4, keys=keys, source=True, target=True)
  close = lambda a, b: float(a) == pytest.approx(b, rel=1e-5, abs=1e-6)
  losses, stats = model.compute_energies(batch)
  assert set(losses) == set(RECORDED_ENERGIES["before"])
  for name, value in RECORDED_ENERGIES["before"].items():
    assert close(losses[name], value), name
  assert set(stats) == set(RECORDED_ENERGIES["stats"])
  for name, value in RECORDED_ENERGIES["stats"].items():
    assert close(stats[name], value), name
  model.compile(optimizers={e: 1e-3 for e in ALL_ENERGY_KINDS}, schedule="round_robin",
                run_eagerly=True)
  model.fit(dataset(batch), steps_per_epoch=len(ALL_ENERGY_KINDS), shuffle=False, verbose=0)
  losses, _ = model.compute_energies(batch)
  for name, value in RECORDED_ENERGIES["after"].items():
    assert close(losses[name], value), name
  res3 = sum(np.sum(np.abs(v.numpy())) for v in model.image_to_latent.stage_variables("res3"))
  assert close(res3, RECORDED_ENERGIES["res3_abs_sum"])


# --- what trains -------------------------------------------------------------------------------

def test_only_the_trainable_stage_and_heads_change():
  keys = ("z1", "v3")
  model = make_model(energies=("lcr", "hcr", "z1", "v3", "source"), keys=keys)
  g = model.image_to_latent
  res3 = {v.path for v in g.stage_variables("res3")}
  heads = {v.path for v in model.lcr_head.variables + model.hcr_head.variables}
  assert {v.path for v in model.trainable_variables} == res3 | heads
  frozen = (g.variables + model.pose_decoder.variables + model.motion_encoder.variables
            + [v for net in model.relation_networks.values() for v in net.variables])
  before_frozen = snapshot([v for v in frozen if v.path not in res3])
  before_trained = snapshot([v for v in model.variables if v.path in res3 | heads])
  assert any("embedding_fc0" in p for p in before_frozen)  # G's FC layers are among the frozen
  assert any("moving_mean" in p for p in before_frozen)
  # Eager (tracing this joint step costs ~15 s here; compiled steps are tested below).
  model.compile(optimizers={e: 1e-3 for e in model.energies}, schedule="joint",
                run_eagerly=True)
  history = model.fit(dataset(make_batch(keys=keys)), steps_per_epoch=2, shuffle=False, verbose=0)
  for name, value in history.history.items():
    assert np.all(np.isfinite(value)), name
  after = snapshot(model.variables)
  for path, value in before_frozen.items():
    np.testing.assert_array_equal(after[path], value, err_msg=path)
  changed = {p for p, v in before_trained.items() if not np.array_equal(after[p], v)}
  assert changed == set(before_trained), sorted(set(before_trained) - changed)
  assert {k: int(o.iterations.numpy()) for k, o in model.energy_optimizers.items()} == {
      e: 2 for e in model.energies}


# --- energies ----------------------------------------------------------------------------------

def test_relation_energies_vanish_when_the_relation_holds():
  keys = ("z1", "v1", "v3")
  model = make_model(energies=keys + ("source", "target_supervised"), keys=keys)
  exact = make_batch(keys=keys, static=True, symmetric=True, source=True, target=True,
                     pose_model=model)
  losses, _ = model.compute_energies(exact)
  for name in model.energies:
    assert float(losses[name]) == pytest.approx(0.0, abs=1e-5), name
  # The same energies on a moving, asymmetric video are not zero.
  moving = make_batch(seed=1, keys=keys, source=True, target=True)
  losses, _ = model.compute_energies(moving)
  for name in model.energies:
    assert float(losses[name]) > 1e-4, name


def test_relation_residuals_match_the_l1_energies():
  keys = ("z1", "v3")
  model = make_model(energies=keys, keys=keys)
  batch = make_batch(seed=2, keys=keys)
  losses, _ = model.compute_energies(batch)
  residuals = ad.relation_residuals(model.image_to_latent, model.relation_networks,
                                    model.motion_encoder, batch)
  assert set(residuals) == set(keys)
  for key in keys:
    assert residuals[key] == pytest.approx(float(losses[key]), rel=1e-5)
  exact = make_batch(keys=keys, static=True, symmetric=True, source=False)
  residuals = ad.relation_residuals(model.image_to_latent, model.relation_networks,
                                    model.motion_encoder, exact)
  assert max(residuals.values()) < 1e-5


def _numpy_info_nce(anchors, positives, temperature, groups=None):
  """InfoNCE written out in numpy, independently of `losses.info_nce`: every anchor i against
  its positive i and the positives of every sample of another group (all j != i without groups),
  on L2-normalised embeddings, in float64."""
  a = np.asarray(anchors, np.float64)
  p = np.asarray(positives, np.float64)
  a = a / np.linalg.norm(a, axis=1, keepdims=True)
  p = p / np.linalg.norm(p, axis=1, keepdims=True)
  losses = []
  for i in range(len(a)):
    negatives = [j for j in range(len(p)) if j != i and (groups is None or groups[j] != groups[i])]
    scores = np.array([a[i] @ p[i]] + [a[i] @ p[j] for j in negatives]) / temperature
    losses.append(-(scores[0] - scores.max() - np.log(np.exp(scores - scores.max()).sum())))
  return float(np.mean(losses))


def test_contrastive_energies_use_every_frame_and_clip_as_anchor():
  model = make_model(energies=("lcr", "hcr"), keys=())
  batch = make_batch(seed=3, batch=3, keys=(), source=False)
  losses, _ = model.compute_energies(batch)
  g = model.image_to_latent
  # The anchors are the middle 30 frames raw[15:45] of each 60-frame window, the positives the
  # augmented clip.
  middle = np.asarray(batch["window"])[:, 15:45]
  np.testing.assert_array_equal(middle, windows.middle_clip(batch["window"], -4))
  z_a, f_a = ad.image_latents(g, middle)
  z_p, f_p = ad.image_latents(g, batch["augmented"])
  groups = np.repeat(np.arange(3), 30)
  heads = lambda head, x: np.asarray(head(tf.reshape(x, [90, -1])))
  lcr = _numpy_info_nce(heads(model.lcr_head, f_a), heads(model.lcr_head, f_p), 0.07, groups)
  clips = lambda z: np.asarray(model.hcr_head(model.motion_encoder(z)))
  hcr = _numpy_info_nce(clips(z_a), clips(z_p), 0.07)
  assert float(losses["lcr"]) == pytest.approx(lcr, rel=1e-4)
  assert float(losses["hcr"]) == pytest.approx(hcr, rel=1e-4)
  # Same-clip frames are not negatives: without the exclusion the loss is different.
  lcr_all = _numpy_info_nce(heads(model.lcr_head, f_a), heads(model.lcr_head, f_p), 0.07)
  assert abs(lcr_all - lcr) > 1e-3


def test_latent_spread_guard_and_collapse_metrics():
  model = make_model(energies=("latent_spread",), keys=(), spread_floor=0.5)
  batch = make_batch(seed=4, keys=(), source=False)
  losses, stats = model.compute_energies(batch)
  reference = model.reference_latent_std.numpy()
  assert float(losses["latent_spread"]) == 0.0 and reference.min() > 0
  assert float(stats["latent_std_ratio"]) == pytest.approx(1.0)
  constant = dict(batch, window=np.repeat(batch["window"][:, :1], 60, axis=1))
  constant["window"][:] = constant["window"][:1]
  losses, stats = model.compute_energies(constant)
  np.testing.assert_allclose(model.reference_latent_std.numpy(), reference)
  assert float(losses["latent_spread"]) == pytest.approx(0.5 * reference.mean(), rel=1e-4)
  assert float(stats["latent_std"]) < 1e-6 and float(stats["collapse"]) == 1.0


def test_domain_adversarial_reverses_the_gradient_into_g():
  model = make_model(energies=("domain_adversarial",), keys=())
  batch = make_batch(seed=5, keys=(), source=True)
  g_vars = model.energy_variables("domain_adversarial")
  n_g = len(model.image_to_latent.stage_variables("res3"))

  def gradients(weight):
    model.gradient_reversal_weight = weight
    with tf.GradientTape() as tape:
      loss = model.compute_energies(batch)[0]["domain_adversarial"]
    return float(loss), tape.gradient(loss, g_vars)

  loss_pos, grad_pos = gradients(1.0)
  loss_neg, grad_neg = gradients(-1.0)
  assert loss_pos == pytest.approx(loss_neg) and np.isfinite(loss_pos)
  for g_pos, g_neg in zip(grad_pos[:n_g], grad_neg[:n_g]):  # G: reversed
    np.testing.assert_allclose(g_pos.numpy(), -g_neg.numpy(), rtol=1e-5, atol=1e-9)
  assert max(np.abs(g.numpy()).max() for g in grad_pos[:n_g]) > 0
  for g_pos, g_neg in zip(grad_pos[n_g:], grad_neg[n_g:]):  # discriminator: not reversed
    np.testing.assert_allclose(g_pos.numpy(), g_neg.numpy(), rtol=1e-5, atol=1e-9)
  model.gradient_reversal_weight = 1.0
  disc_before = snapshot(model.domain_discriminator.variables)
  model.compile(run_eagerly=True)
  history = model.fit(dataset(batch), steps_per_epoch=1, shuffle=False, verbose=0)
  assert 0.0 <= history.history["domain_accuracy"][-1] <= 1.0
  assert any(not np.array_equal(v.numpy(), disc_before[v.path])
             for v in model.domain_discriminator.variables)


def _probe_energy_loss(inputs):
  """A new energy, defined here only: a linear probe on G's anchor latents regresses the
  latents of the augmented clip (stop-gradient target)."""
  z_anchor = inputs.anchor[0]
  z_augmented = tf.stop_gradient(inputs.latents["augmented"][0])
  predicted = inputs.layers["probe_head"](tf.reshape(z_anchor, [-1, z_anchor.shape[-1]]))
  return tf.reduce_mean(tf.abs(predicted - tf.reshape(z_augmented, [-1, z_anchor.shape[-1]])))


@pytest.fixture
def probe_energy():
  from sa3dhp_tf.modeling import energies
  entry = energies.register_energy(energies.Energy(
      name="probe", loss=_probe_energy_loss, batch_keys=("window", "augmented"),
      image_keys=("augmented",),
      layers=(energies.EnergyLayer("probe_head",
                                   lambda m: keras.layers.Dense(m.latent_dim, name="probe_head"),
                                   lambda m: m.latent_dim),),
      learning_rate=1e-3))
  yield entry
  energies.unregister_energy("probe")


def test_an_energy_registered_in_the_test_file_trains_one_step(probe_energy):
  from sa3dhp_tf.modeling import energies
  with pytest.raises(ValueError, match="already registered"):
    energies.register_energy(probe_energy)
  with pytest.raises(ValueError, match="relation key"):
    energies.register_energy(dataclasses.replace(probe_energy, name="z3"))
  model = make_model(energies=("probe", "z1"), keys=("z1",))
  assert model.required_batch_keys() == ["window", "augmented", "counterpart/z1"]
  probe = model.probe_head
  assert {v.path for v in model.energy_variables("probe")} == (
      {v.path for v in model.image_to_latent.stage_variables("res3")}
      | {v.path for v in probe.trainable_variables})
  batch = make_batch(seed=2, keys=("z1",), source=False)
  # Its loss, computed here from G and the probe directly.
  z_anchor, _ = ad.image_latents(model.image_to_latent, windows.middle_clip(batch["window"], -4))
  z_augmented, _ = ad.image_latents(model.image_to_latent, batch["augmented"])
  expected = np.mean(np.abs(probe(tf.reshape(z_anchor, [-1, LATENT])).numpy()
                            - z_augmented.numpy().reshape(-1, LATENT)))
  losses, _ = model.compute_energies(batch, ("probe",))
  assert float(losses["probe"]) == pytest.approx(expected, rel=1e-5)
  model.compile()  # the probe's default learning rate comes from its entry
  assert model.energy_optimizers["probe"].learning_rate.numpy() == pytest.approx(1e-3)
  g_frozen = snapshot([v for v in model.image_to_latent.variables
                       if v.path not in {w.path for w in model.energy_variables("probe")}])
  trained = snapshot(model.energy_variables("probe"))
  history = model.fit(dataset(batch), steps_per_epoch=1, shuffle=False, verbose=0)  # compiled step
  assert np.isfinite(history.history["probe_loss"][-1])
  assert int(model.energy_optimizers["probe"].iterations.numpy()) == 1
  assert int(model.energy_optimizers["z1"].iterations.numpy()) == 0
  after = snapshot(model.variables)
  assert all(not np.array_equal(after[p], v) for p, v in trained.items()
             if "kernel" in p and ("probe_head" in p or "res3" in p))
  for path, value in g_frozen.items():
    np.testing.assert_array_equal(after[path], value, err_msg=path)


def test_bad_configuration_and_batches_are_named():
  components = make_components(keys=("z1",))
  with pytest.raises(ValueError, match="relation_networks\\['z3'\\]"):
    ad.RelationDistillationModel(**components, energies=("z3",))
  with pytest.raises(KeyError, match="unknown energy 'z9'.*relation keys"):
    ad.RelationDistillationModel(**components, energies=("z9",))
  with pytest.raises(ValueError, match="motion_encoder"):
    ad.RelationDistillationModel(**dict(components, motion_encoder=None), energies=("hcr",))
  model = ad.RelationDistillationModel(**components, energies=("z1", "source"),
                                       **TINY["adaptation"])
  assert model.required_batch_keys() == ["window", "counterpart/z1", "source_image",
                                         "source_pose3d"]
  batch = make_batch(keys=("z1",))
  del batch["counterpart/z1"]
  with pytest.raises(KeyError, match="counterpart/z1"):
    model.compute_energies(batch)
  with pytest.raises(ValueError, match="schedule"):
    model.compile(schedule="random")
  with pytest.raises(ValueError, match="own"):
    shared = keras.optimizers.Adam()
    model.compile(optimizers={"z1": shared, "source": shared})


# --- schedules ---------------------------------------------------------------------------------

def test_round_robin_visits_every_optimizer_in_turn_and_joint_applies_all():
  energies = ("z1", "source", "lcr")
  model = make_model(energies=energies, keys=("z1",))
  batch = make_batch(keys=("z1",))
  model.compile(run_eagerly=True)
  trace = OptimizerTrace()
  model.fit(dataset(batch), steps_per_epoch=6, shuffle=False, verbose=0, callbacks=[trace])
  assert trace.steps == [(e,) for e in energies] * 2
  assert {k: int(o.iterations.numpy()) for k, o in model.energy_optimizers.items()} == {
      e: 2 for e in energies}
  assert int(model.schedule_position.numpy()) == 6
  # A custom cycle.
  model.compile(schedule=("z1", "z1", "lcr"), run_eagerly=True)
  trace = OptimizerTrace()
  model.fit(dataset(batch), steps_per_epoch=3, shuffle=False, verbose=0, callbacks=[trace])
  assert trace.steps == [("z1",), ("z1",), ("lcr",)]
  # Joint: every optimiser in every step.
  model.compile(schedule="joint", run_eagerly=True)
  trace = OptimizerTrace()
  model.fit(dataset(batch), steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[trace])
  assert trace.steps == [energies] * 2
  assert {k: int(o.iterations.numpy()) for k, o in model.energy_optimizers.items()} == {
      e: 2 for e in energies}
  # Several steps per execution, and a finite data set that ends the epoch early.
  model.compile(run_eagerly=True, steps_per_execution=2)
  position = int(model.schedule_position.numpy())
  with pytest.warns(UserWarning, match="ran out of data"):  # the early end, as Keras says it
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(3), epochs=1, shuffle=False, verbose=0)
  assert int(model.schedule_position.numpy()) == position + 3
  # evaluate: every energy, no update.
  before = snapshot(model.trainable_variables)
  logs = model.evaluate(dataset(batch), steps=1, verbose=0, return_dict=True)
  assert {f"{e}_loss" for e in energies} <= set(logs)
  assert all(np.isfinite(v) for v in logs.values())
  for v in model.trainable_variables:
    np.testing.assert_array_equal(v.numpy(), before[v.path])


def test_head_warmup_moves_only_the_heads_before_any_update_of_g():
  energies = ("z1", "lcr", "hcr")
  model = make_model(energies=energies, keys=("z1",), head_warmup_steps=3)
  model.compile(optimizers={e: 1e-3 for e in energies}, run_eagerly=True)
  g = snapshot(model.image_to_latent.stage_variables("res3"))
  heads = {"lcr": snapshot(model.lcr_head.trainable_variables),
           "hcr": snapshot(model.hcr_head.trainable_variables)}
  assert model.next_energies() == ("lcr",)
  model.fit(dataset(make_batch(keys=("z1",))), steps_per_epoch=3, shuffle=False, verbose=0)
  for path, value in g.items():
    np.testing.assert_array_equal(snapshot(model.image_to_latent.variables)[path], value,
                                  err_msg=path)
  for energy, layer in (("lcr", model.lcr_head), ("hcr", model.hcr_head)):
    after = snapshot(layer.trainable_variables)
    assert all(not np.array_equal(after[p], v) for p, v in heads[energy].items()), energy
  # round robin over the energies with heads (lcr, hcr, lcr), each on its own optimiser;
  # G's optimisers have not stepped
  assert {k: int(o.iterations.numpy()) for k, o in model.head_warmup_optimizers.items()} == {
      "lcr": 2, "hcr": 1}
  assert {k: int(o.iterations.numpy()) for k, o in model.energy_optimizers.items()} == {
      e: 0 for e in energies}
  assert model.next_energies() == ("z1",)  # the regular cycle starts at its beginning
  model.fit(dataset(make_batch(keys=("z1",))), steps_per_epoch=1, shuffle=False, verbose=0)
  after = snapshot(model.image_to_latent.variables)
  assert any(not np.array_equal(after[p], v) for p, v in g.items())
  assert int(model.energy_optimizers["z1"].iterations.numpy()) == 1
  with pytest.raises(ValueError, match="head_warmup_steps = 2 but none of the energies"):
    make_model(energies=("z1",), keys=("z1",), head_warmup_steps=2)
  with pytest.raises(ValueError, match="head_warmup_steps must be an integer >= 0"):
    make_model(energies=("lcr",), keys=("z1",), head_warmup_steps=-1)


def test_resume_continues_the_schedule(tmp_path):
  energies = ("z1", "source", "lcr")
  batch = make_batch(keys=("z1",))
  model = make_model(seed=0, energies=energies, keys=("z1",))
  model.compile(optimizers={e: 1e-3 for e in energies}, run_eagerly=True)
  model.fit(dataset(batch), steps_per_epoch=4, shuffle=False, verbose=0)
  assert model.next_energies() == ("source",)
  path = str(tmp_path / "adapt.weights.h5")
  model.save_weights(path)
  for restore in ("first", "second"):  # loading twice must not disturb the schedule either
    fresh = make_model(seed=1, energies=energies, keys=("z1",))
    fresh.compile(optimizers={e: 1e-3 for e in energies}, run_eagerly=True)
    fresh.load_weights(path)
    assert fresh.next_energies() == ("source",), restore
    for a, b in zip(model.variables, fresh.variables):
      if "seed_generator" in a.path:  # RNG state of unused LSTM dropout: not model state
        continue
      np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{restore}: {a.path}")
    assert {k: int(o.iterations.numpy()) for k, o in fresh.energy_optimizers.items()} == {
        "z1": 2, "source": 1, "lcr": 1}, restore
    trace = OptimizerTrace()
    fresh.fit(dataset(batch), steps_per_epoch=2, shuffle=False, verbose=0, callbacks=[trace])
    assert trace.steps == [("source",), ("lcr",)], restore
    assert int(fresh.schedule_position.numpy()) == 6


def test_compiled_round_robin_under_xla():
  """Compiled per-energy steps under XLA (compiled without XLA: the MirroredStrategy test)."""
  from sa3dhp_tf import reproducibility
  reproducibility.set_op_determinism(False)  # an earlier stage in this process may have set it
  energies = ("z1", "source")
  batch = make_batch(keys=("z1",))
  model = make_model(seed=0, energies=energies, keys=("z1",), trainable_stages=("res4",))
  expected = {k: float(v) for k, v in model.compute_energies(batch, energies)[0].items()}
  model.reference_latent_std.assign(tf.zeros([LATENT]))
  model.compile(jit_compile=True)
  assert model.jit_compile is True
  trace = OptimizerTrace()
  model.fit(dataset(batch), steps_per_epoch=4, shuffle=False, verbose=0, callbacks=[trace])
  assert trace.steps == [("z1",), ("source",)] * 2
  # Step 1 minimises z1 and step 2 the source loss; step 2's G differs from the initial one
  # only in res3 by one Adam step of 1e-5, which moves the loss by far less than 1%.
  assert trace.logs[0]["z1_loss"] == pytest.approx(expected["z1"], rel=1e-4)
  assert trace.logs[1]["source_loss"] == pytest.approx(expected["source"], rel=1e-2)
  for logs in trace.logs:
    assert all(np.isfinite(v) for v in logs.values())


# --- distribution ------------------------------------------------------------------------------

_MIRRORED_SCRIPT = r"""
import json, os, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, os.environ["TESTS_DIR"])
import numpy as np
import test_adaptation as t

energies = ("lcr", "z1")
batch = t.make_batch(seed=7, batch=4, keys=("z1",), source=False)
results = {}
for mode in ("default", "mirrored"):
  strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if mode == "mirrored"
              else tf.distribute.get_strategy())
  with strategy.scope():
    model = t.make_model(seed=0, energies=energies, keys=("z1",), trainable_stages=("res4",))
    model.compile(optimizers={e: 1e-3 for e in energies}, run_eagerly=(mode == "default"))
  trace = t.OptimizerTrace()
  model.fit(t.dataset(batch), steps_per_epoch=3, shuffle=False, verbose=0, callbacks=[trace])
  res4 = [v.numpy().tolist() for v in model.image_to_latent.stage_variables("res4")]
  results[mode] = {"steps": trace.steps, "logs": trace.logs, "res4": res4,
                   "replicas": strategy.num_replicas_in_sync}
print("RESULT" + json.dumps(results))
"""


def test_mirrored_strategy_matches_the_default_strategy():
  env = dict(os.environ, TESTS_DIR=os.path.dirname(os.path.abspath(__file__)),
             TF_CPP_MIN_LOG_LEVEL="2")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  proc = subprocess.run([cli_harness.python_executable(), "-c", _MIRRORED_SCRIPT],
                        capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  results = json.loads(line[len("RESULT"):])
  default, mirrored = results["default"], results["mirrored"]
  assert (default["replicas"], mirrored["replicas"]) == (1, 2)
  assert [tuple(s) for s in mirrored["steps"]] == [("lcr",), ("z1",), ("lcr",)]
  assert mirrored["steps"] == default["steps"]
  for step, (a, b) in enumerate(zip(default["logs"], mirrored["logs"])):
    for key in ("loss", "lcr_loss", "z1_loss"):
      assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (step, key)
  moved = 0.0
  initial = [v.numpy() for v in
             make_components(0, motion=False)["image_to_latent"].stage_variables("res4")]
  for a, b, c in zip(default["res4"], mirrored["res4"], initial):
    np.testing.assert_allclose(np.array(b), np.array(a), atol=2e-5)
    moved = max(moved, float(np.abs(np.array(a) - c).max()))
  assert moved > 1e-3


# --- collapse monitor --------------------------------------------------------------------------

class _Collapse(keras.callbacks.Callback):
  """Makes G's output constant after `at` steps (zero last FC kernel: z = r tanh(b / r))."""

  def __init__(self, at):
    super().__init__()
    self.at = at

  def on_train_batch_end(self, batch, logs=None):
    if batch + 1 == self.at:
      kernel = self.model.image_to_latent.latent_head.kernel
      kernel.assign(tf.zeros_like(kernel))


@pytest.mark.parametrize("on_collapse", ["stop", "warn"])
def test_latent_spread_monitor_on_a_constructed_collapse(on_collapse):
  model = make_model(energies=("z1",), keys=("z1",))
  batch = make_batch(keys=("z1",), source=False)
  held = batch["window"][:, ::6]
  monitor = LatentSpreadMonitor(held, every_n_steps=1, min_fraction=0.3, on_collapse=on_collapse)
  model.compile(run_eagerly=True)
  with pytest.warns(LatentCollapseWarning, match="latent collapse"):
    history = model.fit(dataset(batch), steps_per_epoch=5, shuffle=False, verbose=0,
                        callbacks=[_Collapse(at=2), monitor])
  assert monitor.collapsed_at_step == 2
  assert monitor.reference_spread > 0
  assert history.history["latent_spread"][-1] < 1e-6
  steps = int(model.schedule_position.numpy())
  assert steps == (2 if on_collapse == "stop" else 5)
  if on_collapse == "warn":
    assert history.history["collapse"][-1] > 0  # the model's own metric saw it too


def test_latent_spread_monitor_is_quiet_without_collapse(tmp_path):
  model = make_model(energies=("z1",), keys=("z1",))
  batch = make_batch(keys=("z1",), source=False)
  log_dir = str(tmp_path / "tb") if _tensorboard_installed() else None
  monitor = LatentSpreadMonitor(batch["window"][:, ::6], every_n_steps=2, min_fraction=0.3,
                                on_collapse="stop", log_dir=log_dir)
  model.compile(run_eagerly=True)
  with warnings.catch_warnings():
    warnings.simplefilter("error", LatentCollapseWarning)
    history = model.fit(dataset(batch), steps_per_epoch=4, shuffle=False, verbose=0, callbacks=[monitor])
  assert monitor.collapsed_at_step is None
  assert [s for s, _ in monitor.history] == [0, 2, 4]
  assert history.history["latent_spread_ratio"][-1] == pytest.approx(1.0, abs=0.05)
  if _tensorboard_installed():
    assert os.listdir(tmp_path / "tb")
  with pytest.raises(ValueError, match="on_collapse"):
    LatentSpreadMonitor(batch["window"], on_collapse="ignore")
  if not _tensorboard_installed():
    with pytest.raises(ImportError, match="tensorboard"):
      LatentSpreadMonitor(batch["window"], log_dir=str(tmp_path / "tb"))


def _tensorboard_installed():
  try:
    import tensorboard  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True
