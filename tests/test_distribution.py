"""Strategies and precision from gin (`sa3dhp_tf.distribution`): settings errors, TF_CONFIG, the
chief's write rule, the TPU path without a TPU, and two real worker processes on 127.0.0.1."""

import json
import os
import subprocess
import sys
import time

import gin
import numpy as np
import pytest

from sa3dhp_tf import config
from sa3dhp_tf import distribution
from sa3dhp_tf import errors

from sa3dhp_tf import local_cluster as harness
import cli_harness
import shared_stages

REPO = harness.REPO


@pytest.fixture(autouse=True)
def _clean_gin():
  yield
  gin.clear_config()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
  return shared_stages.tiny_benchmark(tmp_path_factory)


def _bind(*bindings):
  config.parse_gin([], list(bindings), finalize=False)


def test_unknown_strategy_is_a_user_error_naming_the_setting():
  _bind("make_strategy.name = 'mirorred'")
  with pytest.raises(errors.UserError, match=r"make_strategy.name = 'mirorred'.*'multi_worker'"):
    distribution.make_strategy()


def test_unknown_precision_is_a_user_error_naming_the_setting():
  _bind("make_strategy.mixed_precision = 'float16'")
  with pytest.raises(errors.UserError, match=r"make_strategy.mixed_precision = 'float16'"):
    distribution.make_strategy()


def test_multi_worker_without_tf_config_is_a_user_error(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  _bind("make_strategy.name = 'multi_worker'")
  with pytest.raises(errors.UserError, match="TF_CONFIG"):
    distribution.make_strategy()


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG is not JSON"),
    ('{"cluster": ["a:1"]}', "needs a 'cluster' dict"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "not in its"),
])
def test_malformed_tf_config_is_a_user_error(monkeypatch, text, message):
  monkeypatch.setenv("TF_CONFIG", text)
  with pytest.raises(errors.UserError, match=message):
    distribution.read_tf_config()


def test_the_chief_is_task_chief_or_worker_zero_without_one():
  two = {"worker": ["a:1", "b:2"]}
  with_chief = {"chief": ["c:3"], "worker": ["a:1", "b:2"]}
  assert distribution.is_chief({})
  assert distribution.is_chief({"cluster": two, "task": {"type": "worker", "index": 0}})
  assert not distribution.is_chief({"cluster": two, "task": {"type": "worker", "index": 1}})
  assert distribution.is_chief({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
  assert not distribution.is_chief({"cluster": with_chief,
                                    "task": {"type": "worker", "index": 0}})


def test_non_chief_writes_to_a_removed_scratch_dir_and_reads_the_chiefs(monkeypatch, tmp_path):
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                              "task": {"type": "worker", "index": 1}}))
  _bind("make_strategy.name = 'multi_worker'")
  with distribution.worker_model_dir(str(tmp_path)) as write_dir:
    assert write_dir != str(tmp_path) and os.path.isdir(write_dir)
    assert distribution.checkpoint_source(write_dir) == str(tmp_path)
  assert not os.path.exists(write_dir)
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                              "task": {"type": "worker", "index": 0}}))
  with distribution.worker_model_dir(str(tmp_path)) as write_dir:
    assert write_dir == str(tmp_path)


_TPU_SCRIPT = r"""
import sys
from sa3dhp_tf import config, distribution, errors
for tpu in ("None", "'local'"):
  config.parse_gin([], ["make_strategy.name = 'tpu'", f"make_strategy.tpu = {tpu}"],
                   finalize=False)
  try:
    distribution.make_strategy()
  except errors.UserError as e:
    print("USER_ERROR", e)
"""


def test_tpu_strategy_without_a_tpu_is_a_user_error():
  """The resolver path runs as far as it can here: without a TPU name (and no TPU_NAME) the
  resolver refuses; with 'local' (a TPU VM) TPU initialisation finds no TPU. Both must say so in
  one line naming the setting. A TPU itself cannot be used here."""
  env = harness.worker_env(["x:1"], 0) | {"TF_CONFIG": ""}
  env.pop("TPU_NAME", None)
  out = subprocess.run([cli_harness.python_executable(), "-c", _TPU_SCRIPT], capture_output=True,
                       text=True, timeout=300, env=env, cwd=REPO)
  lines = [l for l in out.stdout.splitlines() if l.startswith("USER_ERROR")]
  assert len(lines) == 2, out.stdout[-2000:] + out.stderr[-3000:]
  assert "make_strategy.tpu = None" in lines[0] and "TPU Name" in lines[0]
  assert "make_strategy.tpu = 'local'" in lines[1] and "TPUs not found" in lines[1]
  assert all("no TPU found" in l for l in lines)


# Tiny pose AAE: adversarial terms off, so E_p/D_p see only the reconstruction loss of the
# batch's poses (the prior samples the discriminators draw depend on the per-replica batch size,
# i.e. on the number of workers; with both weights 0 they do not reach E_p/D_p).
_POSE_BINDINGS = [
    "make_strategy.collective_timeout_s = 120",
    "pose_aae.batch_size = 64", "pose_aae.num_prior_samples = 16",
    "pose_aae.eval_splits = ('source_test',)",
    "PoseAutoencoder.encoder_units = (32,)", "PoseAutoencoder.decoder_units = (32,)",
    "PoseAutoencoder.discriminator_units = (8,)", "PoseAutoencoder.latent_dim = 8",
    "PoseAutoencoder.latent_adversarial_weight = 0.0",
    "PoseAutoencoder.pose_adversarial_weight = 0.0",
]


def _train_args(bench, model_dir, strategy, steps, steps_per_loop, extra=()):
  bindings = [*_POSE_BINDINGS, f"pose_aae.data_dir = '{bench}'",
              f"make_strategy.name = '{strategy}'", f"pose_aae.steps = {steps}",
              f"pose_aae.steps_per_loop = {steps_per_loop}", *extra]
  return ["--gin_file=tiny/stages.gin", "--stage=pose_aae", f"--model_dir={model_dir}",
          *[f"--gin_bindings={b}" for b in bindings]]


def _autoencoder_weights(model_dir):
  import keras
  import sa3dhp_tf.modeling  # noqa: F401
  from sa3dhp_tf.tasks import stage_io
  model = keras.models.load_model(
      os.path.join(model_dir, stage_io.MODELS_DIR, "pose_autoencoder.keras"), compile=False)
  return {w.path: np.array(w) for w in model.encoder.weights + model.decoder.weights}


def _history_steps(model_dir):
  with open(os.path.join(model_dir, "history.jsonl")) as f:
    return [json.loads(line)["step"] for line in f if line.strip()]


def _scratch_left(tmp):
  return [n for n in os.listdir(tmp) if n.startswith("sa3dhp_worker_")]


@pytest.mark.slow
def test_two_workers_reach_the_weights_of_one_worker(bench, tmp_path, monkeypatch):
  """Same global batch (64 = 2 x 32), same batches (data sharding), same init: the two-worker
  run must end at the single worker's E_p/D_p weights.

  Tolerance: atol 1e-6, rtol 0. Measured 2026-12-02 after the fix: max |two - one| = 3e-8 after
  6 Adam steps (lr 1e-3), from the all-reduce summing two half-batch gradients in another order
  than one full-batch mean (float32, ~1e-7 relative). Each weight moves ~6e-3 in 6 steps, so a
  run on other batches (the old failure: up to 1.1e-2) or without each replica's 1/2 share of
  the loss (Adam with twice the gradient: another epsilon ratio, ~1e-5 on small-gradient
  entries) is far outside 1e-6. Everything after the weight comparison (chief-only writes,
  removed scratch dirs) is also checked by the kill/restart test below."""
  tmp = tmp_path / "tmp"
  tmp.mkdir()
  monkeypatch.setenv("TMPDIR", str(tmp))
  single = tmp_path / "single"
  model_dir = tmp_path / "two"
  (tmp_path / "one_log").mkdir()
  # Both runs at once: each process is mostly start-up, tracing and evaluation on one thread,
  # so overlapping them keeps the test's wall time near one run's on 2 cores.
  with harness.cluster(_train_args(bench, single, "default", 6, 2), 1,
                       str(tmp_path / "one_log"), cli_harness.python_executable()) as one, \
       harness.cluster(_train_args(bench, model_dir, "multi_worker", 6, 2), 2,
                       str(tmp_path), cli_harness.python_executable()) as two:
    one.start()
    two.start()
    assert one.wait(timeout=900) == [0], one.log(0)[-3000:]
    codes = two.wait(timeout=900)
    assert codes == [0, 0], two.log(0)[-3000:] + two.log(1)[-3000:]
  expected, got = _autoencoder_weights(single), _autoencoder_weights(model_dir)
  assert sorted(got) == sorted(expected)
  moved = max(np.abs(got[k] - expected[k]).max() for k in got)
  for key in got:
    np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-6, err_msg=key)
  # Chief-only writes: the outputs exist once, in model_dir; the non-chief left nothing behind.
  assert _history_steps(model_dir) == [2, 4, 6]
  for name in ("stage_info.json", "results.json", "config.gin", "operative_config.gin"):
    assert (model_dir / name).exists(), name
  assert _scratch_left(tmp) == []
  results = json.loads((model_dir / "results.json").read_text())
  assert np.isfinite(results["source_test_reconstruction_mpjpe"])
  print("max |two - one| weight difference:", moved)


def _optimizer_iterations(checkpoint):
  import h5py
  with h5py.File(checkpoint) as f:
    return {name: int(f[name]["vars"]["0"][()]) for name in f
            if name.endswith("optimizer") and "vars" in f[name]}


def test_killed_worker_stops_the_run_and_a_restart_resumes_without_losing_a_step(
    bench, tmp_path, monkeypatch):
  tmp = tmp_path / "tmp"
  tmp.mkdir()
  monkeypatch.setenv("TMPDIR", str(tmp))
  model_dir = tmp_path / "run"
  total = 40
  args = _train_args(bench, model_dir, "multi_worker", total, 2,
                     ["make_strategy.collective_timeout_s = 60"])
  history = model_dir / "history.jsonl"
  with harness.cluster(args, 2, str(tmp_path), cli_harness.python_executable()) as run:
    run.start()
    deadline = time.monotonic() + 900
    while not (history.exists() and len(history.read_text().splitlines()) >= 2):
      assert time.monotonic() < deadline, run.log(0)[-3000:]
      assert run.procs[0].poll() is None, run.log(0)[-3000:]
      time.sleep(0.2)
    run.kill(1)
    chief_code = run.procs[0].wait(timeout=600)
    chief_log = run.log(0)
    before = _history_steps(model_dir)
    assert before[-1] < total, "the run finished before the kill; make it longer"
    assert chief_code == errors.EXIT_USER_ERROR, chief_log[-3000:]
    assert "error: a worker of the multi-worker run stopped" in chief_log, chief_log[-3000:]
    assert not (model_dir / "stage_info.json").exists()
    assert run.start().wait(timeout=900) == [0, 0], run.log(0)[-3000:] + run.log(1)[-3000:]
    assert f"resumed from step {before[-1]}" in run.log(0)
  # Every loop recorded once, in order: none lost, none repeated; the optimisers stepped exactly
  # `total` times (a restart from scratch or a repeated loop would count more).
  assert _history_steps(model_dir) == list(range(2, total + 1, 2))
  assert _optimizer_iterations(model_dir / "checkpoints" / f"ckpt-{total}.weights.h5") == {
      "autoencoder_optimizer": total, "discriminator_optimizer": total}
  assert (model_dir / "stage_info.json").exists()
  assert _scratch_left(tmp) == []


_BFLOAT16_SCRIPT = r"""
import json, math, os, sys
import keras
from sa3dhp_tf import config, distribution
import sa3dhp_tf.tasks as tasks
from sa3dhp_tf.tasks import training_loop
bench, root = sys.argv[1:3]
dirs = {s: f"{root}/{s}" for s in ("pose_aae", "motion_aae", "source", "relation_nets", "adapt")}
bindings = {
    "pose_aae": [f"pose_aae.data_dir = '{bench}'"],
    "motion_aae": [f"motion_aae.pose_aae_dir = '{dirs['pose_aae']}'"],
    "source": [f"source.pose_aae_dir = '{dirs['pose_aae']}'"],
    "relation_nets": [f"relation_nets.pose_aae_dir = '{dirs['pose_aae']}'",
                      f"relation_nets.motion_aae_dir = '{dirs['motion_aae']}'"],
    "adapt": [f"adapt.source_dir = '{dirs['source']}'",
              f"adapt.relation_nets_dir = '{dirs['relation_nets']}'",
              "adapt.energies = ('lcr', 'hcr', 'z3', 'v2', 'v3')"],
}
report = {}
for stage, extra in bindings.items():
  import gin
  gin.clear_config()
  config.parse_gin(["tiny/stages.gin"], ["make_strategy.mixed_precision = 'mixed_bfloat16'",
                                         *extra], finalize=False)
  strategy = distribution.make_strategy()
  assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
  tasks.get_stage(stage)(dirs[stage])
  # relation_nets trains one network per relation, each with its history in relations/<key>/.
  history = [h for where, _, names in sorted(os.walk(dirs[stage])) if "history.jsonl" in names
             for h in training_loop.read_history(where)]
  losses = {k: v for h in history for k, v in h.items() if "loss" in k}
  report[stage] = {"steps": [h["step"] for h in history],
                   "finite": all(math.isfinite(v) for h in history for k, v in h.items()
                                 if k not in ("step", "time")),
                   "losses": len(losses)}
print("REPORT " + json.dumps(report))
"""


@pytest.mark.slow
def test_every_stage_trains_with_finite_numbers_under_mixed_bfloat16(bench, tmp_path):
  """bfloat16 runs on this CPU; float16 (GPUs, with loss scaling) cannot be run here."""
  out = subprocess.run([cli_harness.python_executable(), "-c", _BFLOAT16_SCRIPT, bench,
                        str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=REPO,
                       env=harness.worker_env(["x:1"], 0) | {"TF_CONFIG": ""})
  lines = [l for l in out.stdout.splitlines() if l.startswith("REPORT ")]
  assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-4000:]
  report = json.loads(lines[-1][len("REPORT "):])
  assert set(report) == {"pose_aae", "motion_aae", "source", "relation_nets", "adapt"}
  for stage, entry in report.items():
    assert entry["steps"] and entry["finite"] and entry["losses"], (stage, entry)
  for stage in ("pose_aae", "source", "adapt"):
    results = json.loads((tmp_path / stage / "results.json").read_text())
    assert results, stage
  adapted = json.loads((tmp_path / "adapt" / "results.json").read_text())
  assert np.isfinite(adapted["selected"]["target_test"]["mpjpe"])


def test_float32_outputs_under_a_mixed_policy():
  """Under mixed_bfloat16 the networks compute in bfloat16 but hand float32 to the losses."""
  import keras
  from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
  distribution.apply_precision("mixed_bfloat16")
  try:
    model = PoseAutoencoder(encoder_units=(16,), decoder_units=(16,), discriminator_units=(8,),
                            latent_dim=4)
    model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    poses = np.random.default_rng(0).normal(0, 300, (4, 17, 3)).astype("float32")
    z = model.encoder(poses)
    assert model.encoder.layers[2].compute_dtype == "bfloat16"
    assert z.dtype == "float32" and model.decoder(z).dtype == "float32"
    assert model.latent_discriminator(z).dtype == "float32"
    logs = model.train_on_batch(poses, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()), logs
  finally:
    distribution.apply_precision(None)


def _gpu_check(args, timeout):
  # no TF_CONFIG at all: MirroredStrategy's cluster resolver cannot parse an empty one
  env = harness.worker_env(["x:1"], 0) | {"PY": cli_harness.python_executable()}
  env.pop("TF_CONFIG", None)
  return subprocess.run(["bash", os.path.join(REPO, "tools", "gpu_check.sh"), *args],
                        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def test_gpu_check_without_a_gpu_stops_with_one_error_line(tmp_path):
  out = _gpu_check([f"--report={tmp_path / 'r.json'}"], 300)
  assert out.returncode == errors.EXIT_USER_ERROR, out.stderr[-3000:]
  assert out.stderr.strip().splitlines()[-1].startswith("error: no GPU found"), out.stderr
  assert not (tmp_path / "r.json").exists()


def test_gpu_check_refuses_an_unknown_variant(tmp_path):
  out = _gpu_check(["--smoke", "--variants=xla_off_float32,xla_sideways",
                    f"--report={tmp_path / 'r.json'}"], 300)
  assert out.returncode == errors.EXIT_USER_ERROR, out.stderr[-3000:]
  assert out.stderr.strip().splitlines()[-1].startswith("error: --variants:"), out.stderr
  assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_gpu_check_smoke_runs_both_switches_on_the_cpu(tmp_path_factory, tmp_path):
  report = tmp_path / "gpu_check.json"
  # The session's tiny benchmark and prerequisite stages, reused from the work dir (the
  # variants only read them); the stages that run are the variants'.
  chain = shared_stages.tiny_chain(tmp_path_factory)
  work = tmp_path / "work"
  work.mkdir()
  for name, key in (("benchmark", "bench"), ("pose_aae", "pose"), ("motion_aae", "motion"),
                    ("relation_nets", "rel")):
    os.symlink(chain[key], work / name)
  # 2 steps (2 loops of 1: the second one is timed) and the two variants that turn each switch
  # once: the code paths of all four at under half the cost (docs/performance.md, "Test
  # suite"); the other two combine the same switches.
  out = _gpu_check(["--smoke", "--steps=2", "--variants=xla_on_mixed,xla_off_float32",
                    f"--report={report}", f"--work_dir={work}"], 1200)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
  result = json.loads(report.read_text())
  assert result["gpus"] == [] and result["mixed_precision_policy"] == "mixed_bfloat16"
  assert result["variants"] == ["xla_off_float32", "xla_on_mixed"]
  assert result["benchmark_reused"]
  assert all(result["stages"][s] == {"reused": True}
             for s in ("pose_aae", "motion_aae", "relation_nets"))
  for stage in ("source", "adapt"):
    variants = result["stages"][stage]
    assert sorted(variants) == ["xla_off_float32", "xla_on_mixed_bfloat16"]
    for name, entry in variants.items():
      assert "error" not in entry, (stage, name, entry)
      assert entry["step_seconds"] > 0 and entry["wall_seconds"] >= entry["step_seconds"]
  pipeline = result["input_pipeline"]
  assert pipeline["pipelines"]["full"]["window_frames_per_sec"] > 0
  assert pipeline["consumer"]
