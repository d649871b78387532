"""Every pre-learning stage end to end on a tiny benchmark: outputs, frozen inputs, resume,
errors for missing or incompatible earlier stages, and MirroredStrategy vs default."""

import json
import os
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest

from cli_harness import python_executable, run_command
from sa3dhp_tf import config
import sa3dhp_tf.tasks as tasks
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
import shared_stages
import testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  return env


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  return shared_stages.tiny_chain(tmp_path_factory)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
  return shared_stages.tiny_benchmark(tmp_path_factory)


run_stage = testing.run_tiny_stage


def _weights(model):
  return [np.array(w) for w in model.weights]


def test_every_stage_writes_its_output(chain):
  for name, stage in [("pose", "pose_aae"), ("motion", "motion_aae"), ("source", "source"),
                      ("rel", "relation_nets")]:
    info = stage_io.read_stage_info(chain[name], stage)
    assert info["models"]
    results = json.load(open(os.path.join(chain[name], "results.json")))
    assert results
  pose_results = json.load(open(os.path.join(chain["pose"], "results.json")))
  assert np.isfinite(pose_results["target_test_reconstruction_mpjpe"])
  assert 0.0 <= pose_results["prior_samples"]["plausible_fraction"] <= 1.0
  source = json.load(open(os.path.join(chain["source"], "results.json")))
  for split in ("source_test", "target_test"):
    assert source[split]["mpjpe"] > source[split]["pa_mpjpe"] > 0
  rel = json.load(open(os.path.join(chain["rel"], "results.json")))
  assert set(rel) - {"dropped_records"} == {"z3", "v2", "v3"}
  for key in ("z3", "v2", "v3"):
    entry = rel[key]
    assert entry["latent_distance"] > 0 and np.isfinite(entry["network_mae"])


def test_frozen_inputs_stay_bit_identical(chain, tmp_path):
  """Training later stages must not move the earlier stages' models (D_p under G^s training,
  E_p under motion and relation training)."""
  import keras
  from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
  from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor
  models, _ = stage_io.load_stage(chain["pose"], "pose_aae")
  pose_ae = models["pose_autoencoder"]
  before = _weights(pose_ae.decoder)
  network = ImageToLatent(input_size=32, latent_dim=pose_ae.latent_dim, fc_units=(16, 8),
                          backbone_widths=(4, 4, 8), backbone_blocks=(1, 1, 1))
  regressor = SourcePoseRegressor(network, pose_ae.decoder)
  regressor.compile(optimizer=keras.optimizers.Adam(1e-2))
  images = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
  poses = np.random.default_rng(1).normal(0, 200, (4, 17, 3)).astype("float32")
  g_before = _weights(network)
  regressor.fit({"image": images, "pose3d": poses}, batch_size=2, epochs=1, steps_per_epoch=2,
                verbose=0)
  for a, b in zip(before, _weights(pose_ae.decoder)):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(g_before, _weights(network)))


def test_missing_or_incompatible_earlier_stage(chain, bench, tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(stage_io.StageError, match=str(empty)):
    run_stage("motion_aae", str(tmp_path / "m"), [f"motion_aae.pose_aae_dir = '{empty}'"])
  assert not (tmp_path / "m" / "checkpoints").exists()
  with pytest.raises(stage_io.StageError, match="'pose_aae' stage, expected 'motion_aae'"):
    run_stage("relation_nets", str(tmp_path / "r"),
              [f"relation_nets.pose_aae_dir = '{chain['pose']}'",
               f"relation_nets.motion_aae_dir = '{chain['pose']}'"])
  # A pose AE of another latent size than the motion AE was trained on.
  other_pose = str(tmp_path / "pose16")
  run_stage("pose_aae", other_pose, [f"pose_aae.data_dir = '{bench}'", "pose_aae.steps = 2",
                                     "PoseAutoencoder.encoder_units = (16,)",
                                     "PoseAutoencoder.decoder_units = (16,)",
                                     "PoseAutoencoder.discriminator_units = (8,)",
                                     "PoseAutoencoder.latent_dim = 6"])
  with pytest.raises(stage_io.StageError, match=r"latent_dim = 8.*needs 6"):
    run_stage("relation_nets", str(tmp_path / "r2"),
              [f"relation_nets.pose_aae_dir = '{other_pose}'",
               f"relation_nets.motion_aae_dir = '{chain['motion']}'"])
  assert not (tmp_path / "r2" / "relations").exists()


def test_resume_continues_from_checkpoint(bench, tmp_path):
  model_dir = str(tmp_path / "pose")
  run_stage("pose_aae", model_dir, [f"pose_aae.data_dir = '{bench}'", "pose_aae.steps = 2"])
  first = training_loop.read_history(model_dir)
  assert [h["step"] for h in first] == [2]
  run_stage("pose_aae", model_dir, [f"pose_aae.data_dir = '{bench}'", "pose_aae.steps = 6"])
  steps = [h["step"] for h in training_loop.read_history(model_dir)]
  assert steps == [2, 4, 6]  # continued at loop 2, did not redo loop 1


def test_killed_run_resumes_via_cli(bench, tmp_path):
  """SIGKILL mid-run, rerun the same command: it continues from the last checkpoint."""
  model_dir = tmp_path / "killed"
  cmd = [sys.executable, "-m", "sa3dhp_tf.train", "--gin_file=tiny/stages.gin",
         "--stage=pose_aae", f"--gin_bindings=pose_aae.data_dir = '{bench}'",
         "--gin_bindings=pose_aae.steps = 400", "--gin_bindings=pose_aae.steps_per_loop = 2",
         f"--model_dir={model_dir}"]
  proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  history = model_dir / "history.jsonl"
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if history.exists() and len(history.read_text().splitlines()) >= 2:
      break
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = [json.loads(l)["step"] for l in history.read_text().splitlines()]
  assert done and done[-1] < 400
  resumed = subprocess.run(cmd[:-3] + ["--gin_bindings=pose_aae.steps = %d" % (done[-1] + 4),
                                       "--gin_bindings=pose_aae.steps_per_loop = 2",
                                       f"--model_dir={model_dir}"],
                           env=_env(), capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  steps = [json.loads(l)["step"] for l in history.read_text().splitlines()]
  # Everything logged before the kill is kept; the rerun adds the remaining two loops only.
  assert steps[-2:] == [done[-1] + 2, done[-1] + 4]
  assert steps.count(done[-1]) == 1
  assert (model_dir / "stage_info.json").exists()


_MIRRORED_SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import gin
from sa3dhp_tf import config
import sa3dhp_tf.tasks as tasks
from sa3dhp_tf.tasks import training_loop
bench, strategy, model_dir = sys.argv[1:4]
config.parse_gin(["tiny/stages.gin"], [f"pose_aae.data_dir = '{bench}'",
                 f"make_strategy.name = '{strategy}'", "pose_aae.steps = 6",
                 "pose_aae.batch_size = 64",
                 "PoseAutoencoder.latent_adversarial_weight = 0.0",
                 "PoseAutoencoder.pose_adversarial_weight = 0.0"], finalize=False)
tasks.get_stage("pose_aae")(model_dir)
print(json.dumps([h["reconstruction_loss"] for h in training_loop.read_history(model_dir)]))
"""


def test_mirrored_strategy_matches_default(bench, tmp_path):
  curves = {}
  for strategy in ("default", "mirrored"):
    out = subprocess.run([python_executable(), "-c", _MIRRORED_SCRIPT, bench, strategy,
                          str(tmp_path / strategy)], env=_env(), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    curves[strategy] = json.loads(out.stdout.strip().splitlines()[-1])
  assert len(curves["default"]) == 3
  np.testing.assert_allclose(curves["mirrored"], curves["default"], rtol=0.05)


def test_checkpoint_restores_every_weight_and_optimizer_state(chain, tmp_path):
  """Keras-list attributes (G's FC layers) and optimizer slots must survive a checkpoint."""
  import keras
  from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
  from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor
  models, _ = stage_io.load_stage(chain["pose"], "pose_aae")
  decoder = models["pose_autoencoder"].decoder

  def build():
    network = ImageToLatent(input_size=32, latent_dim=decoder.input_shape[-1], fc_units=(16, 8),
                            backbone_widths=(4, 4, 8), backbone_blocks=(1, 1, 1))
    model = SourcePoseRegressor(network, decoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    training_loop.build_optimizers(model)
    return model

  model = build()
  rng = np.random.default_rng(0)
  data = {"image": rng.random((4, 32, 32, 3)).astype("float32"),
          "pose3d": rng.normal(0, 200, (4, 17, 3)).astype("float32")}
  model.fit(data, batch_size=2, epochs=1, verbose=0)
  checkpoints = training_loop.WeightCheckpoints(str(tmp_path / "ckpt"))
  checkpoints.save(model, 7)
  restored = build()
  assert checkpoints.restore(restored) == 7
  for a, b in zip(model.weights, restored.weights):
    np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=a.path)
  fc = [w for w in restored.weights if "fc" in w.path]
  assert fc, [w.path for w in restored.weights][:20]
  for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
    np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=a.path)
  assert int(restored.optimizer.iterations) == 2


def test_source_cosine_schedule_runs_and_ends_at_its_floor(chain, tmp_path):
  from sa3dhp_tf.tasks import source_model
  learning_rate = source_model._learning_rate  # pylint: disable=protected-access
  schedule = learning_rate(1e-3, "cosine", 100, 0.05)
  assert float(schedule(0)) == pytest.approx(1e-3)
  assert float(schedule(100)) == pytest.approx(5e-5)
  assert float(schedule(50)) == pytest.approx(5e-5 + 0.5 * (1e-3 - 5e-5), rel=1e-4)
  assert learning_rate(1e-3, None, 100, 0.05) == 1e-3
  model_dir = str(tmp_path / "cosine")
  bindings = [f"source.pose_aae_dir = '{chain['pose']}'", "source.steps = 4",
              "source.learning_rate_decay = 'cosine'"]
  config.parse_gin(["tiny/stages.gin"], bindings, finalize=False)
  try:
    tasks.check_stage("source")
    tasks.get_stage("source")(model_dir)
    assert "source.learning_rate_decay = 'cosine'" in gin.operative_config_str()
  finally:
    gin.clear_config()
  assert [h["step"] for h in training_loop.read_history(model_dir)][-1] == 4


def test_source_init_dir_starts_from_an_earlier_source_stage(chain, tmp_path):
  """The fine-tuning oracle: G starts as G^s. With learning rate 1e-30 (0 is refused as a
  setting) every Adam step is at most ~1e-30: below a float32 ulp of every parameter except those
  at 0 (biases), which may move by that much; so the trained parameters equal G^s's to 1e-25,
  while a G not started from G^s differs by ~1e-3 (BatchNorm moving statistics still move, so
  they are not compared)."""
  model_dir = str(tmp_path / "finetune")
  run_stage("source", model_dir, [f"source.pose_aae_dir = '{chain['pose']}'", "source.steps = 2",
                                  f"source.init_dir = '{chain['source']}'",
                                  "source.learning_rate = 1e-30",
                                  "source.train_split = 'target_labeled'"])
  start = stage_io.load_stage(chain["source"], "source", ["image_to_latent"])[0]["image_to_latent"]
  tuned, info = stage_io.load_stage(model_dir, "source", ["image_to_latent"])
  tuned = tuned["image_to_latent"]
  assert info["inputs"]["init"] == chain["source"]
  assert tuned.get_config() == start.get_config()
  for a, b in zip(start.trainable_variables, tuned.trainable_variables):
    np.testing.assert_allclose(np.array(b), np.array(a), rtol=0, atol=1e-25)


def _pose_keys(dataset):
  return [np.asarray(p, np.float32).tobytes() for batch in dataset
          for p in np.reshape(np.asarray(batch["pose3d"]), (-1, 17 * 3))]


def test_mixed_source_dataset_draws_each_split_by_its_weight(chain):
  """The joint oracle's batches: frames of both labeled splits, in the weights' proportion
  (the poses, which augmentation leaves alone, tell the splits apart)."""
  from sa3dhp_tf.data import records
  from sa3dhp_tf.tasks.source_model import mixed_source_dataset
  bench = chain["bench"]
  owner = {}
  for split in ("source", "target_labeled"):
    for key in _pose_keys(records.record_dataset(records.shard_paths(bench, split), "frame")
                          .batch(64)):
      owner.setdefault(key, set()).add(split)
  assert all(len(s) == 1 for s in owner.values())  # no pose in both splits
  counts = {}
  for weight in (1.0, 3.0):
    mixed = mixed_source_dataset([(bench, "target_labeled", 1.0), (bench, "source", weight)],
                                 16, seed=0).take(8)
    splits = [next(iter(owner[key])) for key in _pose_keys(mixed)]  # KeyError: a foreign pose
    counts[weight] = splits.count("source")
    assert len(splits) == 128
  # binomial(128, p): sd 5.7 at p = 1/2, 4.9 at p = 3/4; these bounds are 4 sd wide
  assert 41 <= counts[1.0] <= 87 and 76 <= counts[3.0] <= 116, counts
  assert counts[3.0] > counts[1.0]


def test_joint_oracle_row_trains_from_g_s_on_both_label_sets(chain, tmp_path):
  from sa3dhp_tf.evaluation import ablation
  model_dir = str(tmp_path / "joint")
  run_stage("source", model_dir, [f"source.pose_aae_dir = '{chain['pose']}'"] +
            ablation.get_row("oracle_joint").oracle_bindings(chain["source"], chain["bench"], 2))
  info = stage_io.read_stage_info(model_dir, "source")
  assert info["settings"]["train_split"] == "target_labeled"
  assert info["settings"]["extra_sources"] == [[chain["bench"], "source", 1.0]]
  assert info["inputs"]["init"] == chain["source"]
  assert [h["step"] for h in training_loop.read_history(model_dir)][-1] == 2


def test_source_init_dir_errors(chain, tmp_path):
  with pytest.raises(stage_io.StageError, match="no_such_stage"):
    run_stage("source", str(tmp_path / "a"), [f"source.pose_aae_dir = '{chain['pose']}'",
                                              f"source.init_dir = '{tmp_path}/no_such_stage'"])
  # The tiny widths G^s was trained with are bound again (tiny/stages.gin): accepted; another
  # width would be ignored (G is init's), so it is refused, naming the binding.
  with pytest.raises(stage_io.StageError,
                     match=r"ImageToLatent.fc_units = \(8, 4\), but source.init_dir .* has "
                           r"\[32, 16\]"):
    run_stage("source", str(tmp_path / "b"), [f"source.pose_aae_dir = '{chain['pose']}'",
                                              f"source.init_dir = '{chain['source']}'",
                                              "ImageToLatent.fc_units = (8, 4)"])
  assert not (tmp_path / "b" / "checkpoints").exists()


def test_diagnose_source_tool_trains_every_variant(chain, tmp_path):
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = tmp_path / "diag.json"
  tool = os.path.join(repo, "tools", "diagnose_source.py")
  done = run_command([tool, f"--pose_aae_dir={chain['pose']}", "--steps=2", "--log_every=1",
                      "--batch_size=4", "--eval_batches=1", f"--output={out}"],
                     cwd=str(tmp_path), timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  report = json.loads(out.read_text())
  assert list(report["variants"]) == ["paper", "latent", "joint_head"]
  for name, result in report["variants"].items():
    assert [p["step"] for p in result["curve"]] == [1, 2]
    assert np.isfinite(result["held_out"]["target_test"]["mpjpe"])
    assert ("joint_head_mpjpe_mm" in result["curve"][-1]) == (name == "joint_head")
    assert ("latent_mae" in result["curve"][-1]) == (name != "paper")
  assert report["mean_pose_mpjpe"]["source_test"] > 0
  bad = run_command([tool, f"--pose_aae_dir={chain['pose']}", "--variants=paper,nope",
                     f"--output={out}"], cwd=str(tmp_path))
  assert bad.returncode == 2 and "error: --variants" in bad.stderr
