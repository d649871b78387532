"""The gradient-alignment screen (`evaluation/energy_alignment.py`, `tools/energy_alignment.py`):
energies built in this file to agree with, oppose or ignore the labeled target error score
+1, -1 and "no gradient"; the statistics against hand-computed values; the tool end to end on
the tiny stages."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import energy_alignment as alignment
from sa3dhp_tf.modeling import adaptation
from sa3dhp_tf.modeling import energies as energy_lib
from sa3dhp_tf.tasks import adapt as adapt_stage
import cli_harness
import shared_stages


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  return shared_stages.tiny_chain(tmp_path_factory)


def _all_frames(x, axis):
  del axis
  return x


def _error_mm(inputs, scale):
  """The labeled error of the anchor frames (every window frame), written here independently:
  `scale` * mean joint distance of D_p(z) to the root-relative labels."""
  z = tf.reshape(inputs.anchor[0], [-1, inputs.anchor[0].shape[-1]])
  predicted = inputs.model.pose_decoder(z, training=False)
  truth = tf.reshape(inputs.batch[contract.WINDOW_POSE], [-1, 17, 3])
  truth = truth - truth[:, :1]
  predicted = predicted - predicted[:, :1]
  # joints 1..16: the root's error is 0 after centring, and a norm's gradient at 0 is NaN
  squared = tf.reduce_sum(tf.square(predicted[:, 1:] - truth[:, 1:]), -1)
  return scale * tf.reduce_sum(tf.sqrt(squared)) / tf.cast(tf.shape(predicted)[0] * 17,
                                                           tf.float32)


@pytest.fixture
def probe_energies():
  keys = (contract.WINDOW, contract.WINDOW_POSE)
  entries = [
      energy_lib.Energy(name="probe_agree", loss=lambda i: _error_mm(i, 2.5), batch_keys=keys,
                        anchor_frames=_all_frames),
      energy_lib.Energy(name="probe_oppose", loss=lambda i: _error_mm(i, -0.1), batch_keys=keys,
                        anchor_frames=_all_frames),
      # depends on G's output only through stop_gradient: touches no trainable variable
      energy_lib.Energy(name="probe_constant",
                        loss=lambda i: tf.reduce_mean(tf.stop_gradient(i.anchor[0])) + 1.0,
                        batch_keys=keys, anchor_frames=_all_frames),
  ]
  for entry in entries:
    energy_lib.register_energy(entry)
  yield [e.name for e in entries]
  for entry in entries:
    energy_lib.unregister_energy(entry.name)


def _screen_batches(data_dir, count):
  dataset = pipelines.target_windows(records.shard_paths(data_dir, "target_test"), 2,
                                     relation_keys=(), with_augmented=False, seed=0,
                                     with_poses=True)
  return list(dataset.take(count))


def test_energies_that_agree_oppose_or_ignore_the_error(chain, probe_energies):
  inputs = adapt_stage.load_inputs(chain["source"], None, [])
  model = adaptation.RelationDistillationModel(
      inputs.network, pose_decoder=inputs.pose_ae.decoder, energies=tuple(probe_energies),
      trainable_stages=("res3",))
  batches = _screen_batches(chain["bench"], 3)
  result = alignment.screen({"paper": model}, batches, probe_energies)
  summary = alignment.summarize(result)
  assert all(math.isfinite(c) for c in result.cosines["probe_agree"])
  assert summary["probe_agree"]["n"] == 3 and summary["probe_agree"]["mean"] > 0.999
  assert summary["probe_oppose"]["mean"] < -0.999
  assert summary["probe_constant"] == {"mean": summary["probe_constant"]["mean"], "sem":
                                       summary["probe_constant"]["sem"], "n": 0,
                                       "no_gradient_batches": 3}
  assert math.isnan(summary["probe_constant"]["mean"])
  # the target error the screen reports is the one D_p(G(x)) makes on those clips (mm)
  frames = tf.reshape(batches[0][contract.WINDOW], [-1, *batches[0][contract.WINDOW].shape[2:]])
  predicted = inputs.pose_ae.decoder(inputs.network(frames)).numpy()
  truth = batches[0][contract.WINDOW_POSE].numpy().reshape(-1, 17, 3)
  truth = truth - truth[:, :1]
  expected = np.linalg.norm(predicted - predicted[:, :1] - truth, axis=-1).mean()
  assert result.target_error_mm[0] == pytest.approx(expected, rel=1e-4)


def test_target_error_has_a_finite_gradient_when_the_roots_agree():
  # the case of every real batch: D_p's root and the label's root both at the origin
  truth = tf.constant(np.random.default_rng(0).normal(size=(4, 17, 3)) * 100, tf.float32)
  truth = truth - truth[:, :1]
  offset = np.zeros((4, 17, 3), np.float32)
  offset[:, 1, 0] = 10.0
  predicted = tf.Variable(truth + offset)
  with tf.GradientTape() as tape:
    error = alignment.root_relative_mpjpe(predicted, truth)
  gradient = tape.gradient(error, predicted).numpy()
  assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0
  # joint 1 of every pose is 10 mm off along x, the others exact: MPJPE = 10 / 17
  assert float(error) == pytest.approx(10.0 / 17, rel=1e-5)


def test_statistics_against_hand_computed_values():
  assert alignment.cosine([1.0, 0.0], [0.0, 3.0]) == pytest.approx(0.0)
  assert alignment.cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
  assert math.isnan(alignment.cosine([0.0, 0.0], [1.0, 2.0]))
  mean, sem, n = alignment.mean_and_sem([0.1, 0.3, float("nan"), 0.5])
  assert (mean, n) == (pytest.approx(0.3), 3)
  assert sem == pytest.approx(0.2 / math.sqrt(3))  # sample std of (0.1, 0.3, 0.5) is 0.2
  # ranks (0,1,2,3) vs (0,2,1,3): sum d^2 = 2, rho = 1 - 6*2/(4*15) = 0.8
  assert alignment.rank_correlation([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
  assert alignment.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
  assert alignment.rank_correlation([1, 2], [1, 2]) is None
  correlation = alignment.nonlocality_correlation(
      {"z1": {"mean": 0.1}, "z2": {"mean": 0.3}, "z3": {"mean": 0.2}, "v1": {"mean": 0.0}},
      {"z1": 1.0, "z2": 3.0, "z3": 2.0, "v1": 5.0}, {"z1": "pose", "z2": "pose", "z3": "pose",
                                                     "v1": "motion"})
  assert correlation["pose"]["spearman"] == pytest.approx(1.0)
  assert correlation["motion"]["keys"] == ["v1"] and correlation["motion"]["spearman"] is None


def _tool(args, cwd):
  return cli_harness.run_command(["tools/energy_alignment.py", *args], cwd=cwd, timeout=600)


def test_tool_on_an_adapt_stage(chain, tmp_path):
  out = tmp_path / "screen"
  done = _tool([f"--model_dir={chain['adapt']}", f"--output_dir={out}", "--batches=2",
                f"--placebo_relation_nets_dir={chain['rel']}"], tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  payload = json.load(open(out / "energy_alignment.json"))
  selected = json.load(open(os.path.join(chain["adapt"], "stage_info.json")))["results"][
      "selected_step"]
  assert list(payload["states"]) == [f"adapt step {s}" for s in sorted({0, selected})]
  keys = json.load(open(os.path.join(chain["rel"], "stage_info.json")))["settings"][
      "relation_keys"]
  assert payload["energies"] == ["lcr", "hcr", "source", "latent_spread", *keys,
                                 *[f"placebo:{k}" for k in keys]]
  for state in payload["states"].values():
    for key in keys:
      # the same networks passed as placebo give the same gradients, batch by batch
      np.testing.assert_allclose(state["cosines"][f"placebo:{key}"], state["cosines"][key],
                                 atol=1e-6)
      assert -1.0 <= state["summary"][key]["mean"] <= 1.0
    assert state["target_error_mm"] > 0
  assert set(payload["latent_distances"]) >= set(keys)
  assert (out / "energy_alignment.png").stat().st_size > 10_000
  assert "diagnosis only" in (out / "energy_alignment.md").read_text()


@pytest.mark.parametrize("args,culprit", [
    (["--batches=1"], "--batches"),
    (["--split=target_train"], "--split"),
    (["--energies=target_supervised"], "target labels"),
    (["--energies=placebo:z3"], "--placebo_relation_nets_dir"),
    (["--energies=nonsense"], "--energies"),
    (["--snapshot_steps=7"], "no snapshot at step 7"),
])
def test_tool_bad_inputs(chain, tmp_path, args, culprit):
  done = _tool([f"--model_dir={chain['adapt']}", f"--output_dir={tmp_path / 'o'}", *args],
               tmp_path)
  assert done.returncode == 2, done.stderr[-2000:]
  lines = cli_harness.own_stderr_lines(done.stderr)
  assert len(lines) == 1 and lines[0].startswith("error: ") and culprit in lines[0], lines
  assert not (tmp_path / "o" / "energy_alignment.json").exists()
