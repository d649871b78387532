"""The adaptation stage (Algorithm 1, B) end to end on a tiny benchmark: outputs, what G may
change, the evaluate binary on its output, resume, the guard/baseline/semi-supervised variants,
the label-free snapshot selection, config errors and 'auto' relations."""

import json
import math
import os
import re

import gin
import h5py
import keras
import numpy as np
import pytest

from cli_harness import run_command
from sa3dhp_tf import config
from sa3dhp_tf import relations
from sa3dhp_tf.data import benchmark
from sa3dhp_tf.evaluation import checkpoint_selection
from sa3dhp_tf.evaluation.adaptation_results import AdaptationResults
import sa3dhp_tf.tasks as tasks
from sa3dhp_tf.tasks import adapt
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_KEYS = ("z1", "z2", "z3", "v1", "v2", "v3")
DEFAULT_KEYS = ("z3", "v2", "v3")


def run_stage(stage, model_dir, bindings=()):
  """Runs a stage under tiny/stages.gin; the adapt stage's typed results come back as their
  JSON dict (what results.json holds)."""
  config.parse_gin(["tiny/stages.gin"], list(bindings), finalize=False)
  try:
    tasks.check_stage(stage)
    results = tasks.get_stage(stage)(model_dir)
  finally:
    gin.clear_config()
  if stage == "adapt":
    assert isinstance(results, AdaptationResults)
    assert AdaptationResults.load(model_dir) == results
    return results.to_json()
  return results


def adapt_bindings(chain, *extra, relation_nets=True):
  bindings = [f"adapt.source_dir = '{chain['source']}'"]
  if relation_nets:
    bindings.append(f"adapt.relation_nets_dir = '{chain['rel']}'")
  return bindings + list(extra)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  """Tiny benchmark and every earlier stage; the relation nets cover all six relations so that
  'auto' may pick any of them."""
  root = tmp_path_factory.mktemp("adapt_chain")
  bench = str(root / "bench")
  config.parse_gin(["benchmark/tiny.gin"], [], finalize=False)
  try:
    benchmark.build_benchmark(bench, contact_sheet=False)
  finally:
    gin.clear_config()
  dirs = {name: str(root / name) for name in ("pose", "motion", "source", "rel")}
  dirs["bench"] = bench
  results = {}
  results["pose"] = run_stage("pose_aae", dirs["pose"], [f"pose_aae.data_dir = '{bench}'",
                                                         "pose_aae.steps = 2"])
  results["motion"] = run_stage("motion_aae", dirs["motion"],
                                [f"motion_aae.pose_aae_dir = '{dirs['pose']}'",
                                 "motion_aae.steps = 2"])
  results["source"] = run_stage("source", dirs["source"],
                                [f"source.pose_aae_dir = '{dirs['pose']}'", "source.steps = 2"])
  results["rel"] = run_stage("relation_nets", dirs["rel"],
                             [f"relation_nets.pose_aae_dir = '{dirs['pose']}'",
                              f"relation_nets.motion_aae_dir = '{dirs['motion']}'",
                              f"relation_nets.relation_keys = {ALL_KEYS}",
                              "relation_nets.steps = 2"])
  dirs["results"] = results
  return dirs


@pytest.fixture(scope="module")
def adapted(chain, tmp_path_factory):
  """Default energies, run as 2 steps and then resumed to 4 in the same dir (one loop of 2 steps
  each time). Returns the model dir and what the first run left."""
  model_dir = str(tmp_path_factory.mktemp("adapt_default") / "adapt")
  first = run_stage("adapt", model_dir, adapt_bindings(chain, "adapt.steps = 2",
                                                       "adapt.steps_per_loop = 2"))
  first_history = training_loop.read_history(model_dir)
  second = run_stage("adapt", model_dir, adapt_bindings(chain, "adapt.steps = 4",
                                                        "adapt.steps_per_loop = 2"))
  return {"dir": model_dir, "first": first, "first_history": first_history, "results": second}


def _finite(x):
  return x is not None and math.isfinite(float(x))


def _numpy_weights(model):
  return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


def _h5_datasets(path):
  out = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                 if isinstance(obj, h5py.Dataset) else None)
  return out


# --- 0. fixed seeds: the tiny stages' outputs, recorded before the energy registry refactor ------

# Recorded from the code at 85880af (if/elif energy dispatch), with the fixtures above: every
# stage at its tiny config, 2 steps each; adapt with the default energies, 2 steps in one loop.
RECORDED = {
    "pose": {"source_test_reconstruction_mpjpe": 359.7712388371115,
             "target_test_reconstruction_mpjpe": 465.5987247276171},
    "motion": {"target_test_motion_reconstruction_mpjpe": 477.6264653676491,
               "target_test_latent_reconstruction_mae": 0.1726493090391159},
    "source": {"source_test": 374.23817792402673, "target_test": 479.17776126775925},
    "rel": {"z3": 0.12087049335241318, "v2": 0.06659824401140213, "v3": 0.019473467022180557},
    "adapt_selected": {"source_test": 374.2382054282401, "target_test": 479.1750864751494},
    "adapt_residuals_target": {"z3": 0.012097363360226154, "v2": 0.005183412693440914,
                               "v3": 0.0024332189932465553},
    "adapt_curve_spread": [0.005024542100727558, 0.005021777935326099],
}


def test_tiny_stages_reproduce_recorded_outputs(chain, adapted):
  """Same seeds, same numbers: the refactors of the stages and the energies must not move
  them. Adapting for 2 steps moves target MPJPE by about 3e-3 mm, so the tolerance (1e-5 mm,
  relative 1e-6) sees a change in any energy's gradient."""
  results = chain["results"]
  close = lambda a, b: a == pytest.approx(b, rel=1e-6, abs=1e-5)
  for key, value in RECORDED["pose"].items():
    assert close(results["pose"][key], value), key
  for key, value in RECORDED["motion"].items():
    assert close(results["motion"][key], value), key
  for split, value in RECORDED["source"].items():
    assert close(results["source"][split]["mpjpe"], value), split
  for key, value in RECORDED["rel"].items():
    assert close(results["rel"][key]["network_mae"], value), key
  first = adapted["first"]
  for split, value in RECORDED["adapt_selected"].items():
    assert close(first["selected"][split]["mpjpe"], value), split
  for key, value in RECORDED["adapt_residuals_target"].items():
    assert close(first["before_adaptation"]["relation_residuals_target"][key], value), key
  assert [r["target_spread"] for r in first["curve"]] == pytest.approx(
      RECORDED["adapt_curve_spread"], rel=1e-6)


# --- 1. default energies ----------------------------------------------------------------------

def test_default_energies_write_every_output(adapted):
  model_dir = adapted["dir"]
  info = stage_io.read_stage_info(model_dir, "adapt")
  assert info["stage"] == "adapt" and info["models"] == ["image_to_latent"]
  assert info["settings"]["energies"] == ["lcr", "hcr", *DEFAULT_KEYS]
  assert info["settings"]["trainable_stages"] == ["res3"]
  assert os.path.isfile(os.path.join(model_dir, "models", "image_to_latent.keras"))

  results = json.load(open(os.path.join(model_dir, "results.json")))
  assert results["energies"] == ["lcr", "hcr", *DEFAULT_KEYS]
  assert results["theta"] == pytest.approx(relations.DEFAULT_THETA)
  for split in ("source_test", "target_test"):
    metrics = results["selected"][split]
    for key in ("mpjpe", "pa_mpjpe", "pck", "auc"):
      assert _finite(metrics[key]), (split, key, metrics)
    assert metrics["mpjpe"] > metrics["pa_mpjpe"] > 0
    assert 0 <= metrics["pck"] <= 100 and 0 <= metrics["auc"] <= 100
  assert info["results"]["selected"] == results["selected"]

  # One record per loop plus the initial G^s (step 0), each with a snapshot.
  curve = results["curve"]
  assert [r["step"] for r in curve] == [0, 2, 4]
  for record in curve:
    for key in ("source_val_mpjpe", "target_spread", "pose_prior_score", "target_test_mpjpe",
                "target_test_pa_mpjpe"):
      assert _finite(record[key]), (record["step"], key)
    assert set(record["target_residuals"]) == set(DEFAULT_KEYS)
    assert os.path.isfile(os.path.join(model_dir, "snapshots", f"g-{record['step']}.weights.h5"))
  assert sorted(os.listdir(os.path.join(model_dir, "snapshots"))) == [
      "g-0.weights.h5", "g-2.weights.h5", "g-4.weights.h5"]

  # Nothing collapsed at lr 1e-5, so the default rule keeps the final snapshot.
  assert results["selection_rule"] == "final_unless_collapsed"
  assert results["collapsed_at_step"] is None
  assert results["selected_step"] == 4 == info["results"]["selected_step"]
  assert results["target_test_mpjpe_at_selected_step_subset"] == curve[-1]["target_test_mpjpe"]
  # The tiny target_test fits in the one evaluation batch of each loop, so the exported G (the
  # selected snapshot) scores exactly what that snapshot scored.
  assert results["selected"]["target_test"]["num_samples"] <= 256
  assert results["selected"]["target_test"]["mpjpe"] == pytest.approx(
      curve[-1]["target_test_mpjpe"], rel=1e-6)
  # The report-only "best" snapshot is the one with the lowest target error of the curve.
  target_errors = {r["step"]: r["target_test_mpjpe"] for r in curve}
  best_step = min(target_errors, key=target_errors.get)
  assert results["best_step_by_target_labels"] == best_step
  assert results["target_test_mpjpe_at_best_step_subset"] == min(target_errors.values())
  assert results["latent_spread_target_before"] == curve[0]["target_spread"]

  before = results["before_adaptation"]
  for side in ("relation_residuals_source", "relation_residuals_target"):
    assert set(before[side]) == set(DEFAULT_KEYS), side
    for key, value in before[side].items():
      assert _finite(value) and value > 0, (side, key, value)
  # The target residuals before adapting are those of G^s, i.e. the step-0 record's.
  for key in DEFAULT_KEYS:
    assert before["relation_residuals_target"][key] == pytest.approx(
        curve[0]["target_residuals"][key], rel=1e-5)


def test_exported_g_differs_from_source_only_in_res3(chain, adapted):
  source, _ = stage_io.load_stage(chain["source"], "source", ["image_to_latent"])
  adapted_models, _ = stage_io.load_stage(adapted["dir"], "adapt", ["image_to_latent"])
  before = _numpy_weights(source["image_to_latent"])
  after = _numpy_weights(adapted_models["image_to_latent"])
  assert set(before) == set(after) and len(before) == len(source["image_to_latent"].weights)
  res3 = [p for p in before if p.startswith("res3_")]
  others = [p for p in before if not p.startswith("res3_")]
  assert res3 and any(p.startswith("res4_") for p in others)
  assert any(p.startswith("embedding") for p in others)
  changed = [p for p in res3 if not np.array_equal(before[p], after[p])]
  assert changed, "no res3 variable moved during adaptation"
  for path in others:
    np.testing.assert_array_equal(before[path], after[path], err_msg=path)
  # BatchNorm runs in inference mode: res3's moving statistics stay those of G^s too.
  for path in res3:
    if "moving_" in path:
      np.testing.assert_array_equal(before[path], after[path], err_msg=path)


# --- 2. the evaluate binary on the adapted model -----------------------------------------------

def test_evaluate_cli_on_adapted_model(adapted, tmp_path):
  output = tmp_path / "eval.json"
  proc = run_command(["-m", "sa3dhp_tf.evaluate", f"--model_dir={adapted['dir']}",
                      f"--output={output}"], cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  payload = json.loads(output.read_text())
  for key in ("mpjpe", "pa_mpjpe", "pck", "auc"):
    assert _finite(payload[key]), (key, payload.get(key))
  # It evaluated the exported (selected) G on target_test: the stage's own final numbers.
  selected = adapted["results"]["selected"]["target_test"]
  assert payload["mpjpe"] == pytest.approx(selected["mpjpe"], rel=1e-4)
  assert payload["pa_mpjpe"] == pytest.approx(selected["pa_mpjpe"], rel=1e-4)


# --- 3. resume ----------------------------------------------------------------------------------

def test_resume_continues_loops_and_round_robin(adapted):
  model_dir = adapted["dir"]
  assert [h["step"] for h in adapted["first_history"]] == [2]
  assert [r["step"] for r in adapted["first"]["curve"]] == [0, 2]
  history = training_loop.read_history(model_dir)
  assert [h["step"] for h in history] == [2, 4]
  # Loop 1 ran 'lcr' and 'hcr'; the resumed loop continued the cycle with 'z3' and 'v2' (a
  # restarted cycle would have run 'lcr' and 'hcr' again). Energies not run log a zero mean.
  assert history[0]["lcr_loss"] > 0 and history[0]["hcr_loss"] > 0
  assert history[0]["z3_loss"] == 0 and history[0]["v2_loss"] == 0
  assert history[1]["z3_loss"] > 0 and history[1]["v2_loss"] > 0
  assert history[1]["lcr_loss"] == 0 and history[1]["hcr_loss"] == 0
  assert history[1]["v3_loss"] == 0

  # selection.jsonl: step 0 measured once (not again on resume), one line per loop.
  with open(os.path.join(model_dir, "selection.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f if line.strip()]
  assert steps == [0, 2, 4]

  # The checkpoint holds the model's schedule position (its first own variable) = 4, and each
  # of the four energies run so far has taken exactly one optimiser step.
  values = _h5_datasets(os.path.join(model_dir, "checkpoints", "ckpt-4.weights.h5"))
  assert int(values["vars/0"]) == 4
  iterations = sorted(int(v) for k, v in values.items()
                      if re.fullmatch(r"energy_optimizers/[^/]+/vars/0", k))
  assert iterations == [0, 1, 1, 1, 1]


# --- 4. guards, baselines, variants -------------------------------------------------------------

# Multi-energy variants run 'joint' (every energy in the one step), so that one loop of one step
# exercises each energy's data and gradient; round robin would run only the first. The source-only
# control keeps relation_nets_dir set (as in a shared config) without relation energies; DANN runs
# without one. Each variant also picks its snapshot by another selection rule.
VARIANTS = {
    "source_only": (("source",), "round_robin", True, "source_val"),
    "relations_with_source": (("lcr", "hcr", "z3", "source"), "joint", True, "final"),
    "domain_adversarial": (("domain_adversarial",), "round_robin", False, "pose_prior"),
    "semi_supervised": (("target_supervised", "z3"), "joint", True, "final_unless_collapsed"),
    "latent_spread": (("latent_spread", "z3"), "joint", True, "spread"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_runs_one_loop(chain, tmp_path, variant):
  energies, schedule, with_relation_nets, rule = VARIANTS[variant]
  model_dir = str(tmp_path / variant)
  results = run_stage("adapt", model_dir, adapt_bindings(
      chain, f"adapt.energies = {energies}", f"adapt.schedule = '{schedule}'",
      f"adapt.selection_rule = '{rule}'", "adapt.steps = 1", "adapt.steps_per_loop = 1",
      relation_nets=with_relation_nets))
  assert results["energies"] == list(energies)
  assert results["selection_rule"] == rule
  # The rule's choice, worked out here from the two recorded snapshots (steps 0 and 1).
  initial, last = results["curve"]
  expected = {
      "pose_prior": max((initial, last), key=lambda r: r["pose_prior_score"])["step"],
      "spread": max((initial, last), key=lambda r: r["target_spread"])["step"],
      "final_unless_collapsed": (1 if last["target_spread"] >= 0.5 * initial["target_spread"]
                                 else 0),
      "source_val": min((initial, last), key=lambda r: r["source_val_mpjpe"])["step"],
      "final": 1,
  }[rule]
  assert results["selected_step"] == expected
  for split in ("source_test", "target_test"):
    for key in ("mpjpe", "pa_mpjpe", "pck", "auc"):
      assert _finite(results["selected"][split][key]), (split, key)
  assert [r["step"] for r in results["curve"]] == [0, 1]
  for record in results["curve"]:
    assert _finite(record["source_val_mpjpe"]) and _finite(record["target_test_mpjpe"])
  (record,) = training_loop.read_history(model_dir)
  for energy in energies:
    loss = record[f"{energy}_loss"]
    assert _finite(loss), (energy, loss)
    # At the first step the spread hinge is 0 by construction (the reference is that step's).
    assert loss > 0 or energy == "latent_spread", (energy, loss)
  if "domain_adversarial" in energies:
    assert 0.0 <= record["domain_accuracy"] <= 1.0
  keys = [e for e in energies if e in relations.relation_keys()]
  assert set(results["before_adaptation"]["relation_residuals_target"]) == set(keys)
  # The step moved G (res3 has a gradient from every one of these energies).
  g0 = _h5_datasets(os.path.join(model_dir, "snapshots", "g-0.weights.h5"))
  g1 = _h5_datasets(os.path.join(model_dir, "snapshots", "g-1.weights.h5"))
  assert g0.keys() == g1.keys()
  assert any(not np.array_equal(g0[k], g1[k]) for k in g0)


# --- 5. label-free selection ------------------------------------------------------------------

def _record(step, spread, source_val=100.0, prior=0.0, target=200.0):
  return {"step": step, "target_spread": spread, "source_val_mpjpe": source_val,
          "pose_prior_score": prior, "target_test_mpjpe": target}


def test_select_snapshot_rules():
  # target_test_mpjpe is lowest at step 30: no rule may pick by it.
  history = [_record(0, 1.0, source_val=90.0, prior=0.1, target=300.0),
             _record(10, 1.4, source_val=80.0, prior=0.2, target=250.0),
             _record(20, 0.9, source_val=85.0, prior=0.7, target=240.0),
             _record(30, 0.7, source_val=95.0, prior=0.3, target=100.0)]
  pick = lambda rule: checkpoint_selection.select_snapshot(history, rule)["step"]
  assert pick("final") == 30
  assert pick("final_unless_collapsed") == 30  # 0.7 >= 0.5 * 1.0
  assert pick("source_val") == 10
  assert pick("pose_prior") == 20
  assert pick("spread") == 10
  assert set(checkpoint_selection.SELECTION_RULES) == {"final", "final_unless_collapsed", "source_val",
                                        "pose_prior", "spread"}
  with pytest.raises(ValueError, match="nope"):
    checkpoint_selection.select_snapshot(history, "nope")


def test_select_snapshot_final_unless_collapsed_falls_back():
  collapsed_last = [_record(0, 1.0), _record(10, 0.8), _record(20, 0.6), _record(30, 0.1)]
  assert checkpoint_selection.select_snapshot(collapsed_last, "final")["step"] == 30
  assert checkpoint_selection.select_snapshot(collapsed_last, "final_unless_collapsed")["step"] == 20
  # A stricter collapse fraction moves the fallback earlier.
  assert checkpoint_selection.select_snapshot(collapsed_last, "final_unless_collapsed",
                               collapse_fraction=0.7)["step"] == 10
  # Collapsed from the first loop on: back to G^s.
  all_collapsed = [_record(0, 1.0), _record(10, 0.2), _record(20, 0.05)]
  assert checkpoint_selection.select_snapshot(all_collapsed, "final_unless_collapsed")["step"] == 0


def test_criterion_correlations():
  short = [_record(0, 1.0, 90.0, 0.1, 300.0), _record(10, 0.9, 80.0, 0.2, 250.0)]
  assert checkpoint_selection.criterion_correlations(short) == {
      "source_val_mpjpe": None, "negative_pose_prior_score": None,
      "negative_target_spread": None}
  # Target error falls as the source error falls, the prior score rises, the spread rises:
  # every criterion tracks it (positive correlation of the quantity to minimise).
  good = [_record(10 * i, spread=1.0 + i, source_val=100.0 - i, prior=0.1 * i,
                  target=300.0 - 10 * i) for i in range(5)]
  correlations = checkpoint_selection.criterion_correlations(good)
  for key, value in correlations.items():
    assert value == pytest.approx(1.0), key
  # Reversed criteria: the source error rises while the target error falls.
  bad = [_record(10 * i, spread=5.0 - i, source_val=100.0 + i, prior=-0.1 * i,
                 target=300.0 - 10 * i) for i in range(5)]
  for key, value in checkpoint_selection.criterion_correlations(bad).items():
    assert value == pytest.approx(-1.0), key
  # A constant criterion carries no information.
  flat = [_record(10 * i, spread=1.0, source_val=100.0 - i, prior=0.1 * i,
                  target=300.0 - 10 * i) for i in range(4)]
  assert checkpoint_selection.criterion_correlations(flat)["negative_target_spread"] is None


# --- 6. configuration errors ------------------------------------------------------------------

@pytest.mark.parametrize("binding, pattern", [
    ("adapt.energies = ('z9',)", "z9"),
    ("adapt.selection_rule = 'nope'", "nope"),
])
def test_check_stage_rejects_bad_config(binding, pattern):
  config.parse_gin(["tiny/stages.gin"], ["adapt.source_dir = '/nonexistent'", binding],
                   finalize=False)
  try:
    with pytest.raises(config.ConfigError, match=pattern):
      tasks.check_stage("adapt")
  finally:
    gin.clear_config()


ENERGY_KINDS = ("lcr", "hcr", "z3", "source", "latent_spread", "auto")


def _check_adapt_energies(energies):
  config.parse_gin(["tiny/stages.gin"], ["adapt.source_dir = '/nonexistent'",
                                         f"adapt.energies = {tuple(energies)!r}"], finalize=False)
  try:
    tasks.check_stage("adapt")
  finally:
    gin.clear_config()


def test_check_stage_accepts_every_energy_kind():
  _check_adapt_energies(ENERGY_KINDS)  # raises if any kind is refused
  # ... and it does read every entry: one misspelt entry, wherever it is, is refused by name.
  for i, kind in enumerate(ENERGY_KINDS):
    bad = ENERGY_KINDS[:i] + (kind + "x",) + ENERGY_KINDS[i + 1:]
    with pytest.raises(config.ConfigError, match=re.escape(repr(kind + "x"))):
      _check_adapt_energies(bad)


def test_missing_relation_network_fails_before_training(chain, tmp_path):
  rel_z3 = str(tmp_path / "rel_z3")
  run_stage("relation_nets", rel_z3, [f"relation_nets.pose_aae_dir = '{chain['pose']}'",
                                      f"relation_nets.motion_aae_dir = '{chain['motion']}'",
                                      "relation_nets.relation_keys = ('z3',)",
                                      "relation_nets.steps = 2"])
  model_dir = tmp_path / "adapt"
  with pytest.raises(stage_io.StageError, match=re.escape(rel_z3) + r".*'z1'"):
    run_stage("adapt", str(model_dir), [f"adapt.source_dir = '{chain['source']}'",
                                        f"adapt.relation_nets_dir = '{rel_z3}'",
                                        "adapt.energies = ('lcr', 'z3', 'z1')"])
  assert not (model_dir / "checkpoints").exists()
  assert not (model_dir / "stage_info.json").exists()


def test_theta_mismatch_fails_before_training(chain, tmp_path):
  model_dir = tmp_path / "adapt"
  with pytest.raises(stage_io.StageError, match=r"theta = 10.*" + re.escape(chain["rel"])):
    run_stage("adapt", str(model_dir), adapt_bindings(chain, "adapt.theta = 10"))
  assert not (model_dir / "checkpoints").exists()


# --- 7. 'auto' relations ------------------------------------------------------------------------

def _latent_distances(chain, theta=relations.DEFAULT_THETA):
  """d = mean ||E(u) - E(T(u))||_2 of every relation, computed here from the stages' encoders on
  the test's own mocap sample (not through sa3dhp_tf.evaluation.nonlocality)."""
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  from sa3dhp_tf.modeling.latent_pairs import encode_pose_windows
  pose_ae = stage_io.load_stage(chain["pose"], "pose_aae")[0]["pose_autoencoder"]
  motion_ae = stage_io.load_stage(chain["motion"], "motion_aae")[0]["motion_autoencoder"]
  paths = records.shard_paths(chain["bench"], "mocap")
  poses = next(iter(pipelines.mocap_poses(paths, 1024, seed=11)))
  clips = next(iter(pipelines.mocap_windows(paths, 128, strides=(1,), seed=11)))
  encoders = {relations.POSE: lambda u: pose_ae.encoder(u, training=False),
              relations.MOTION: lambda u: motion_ae.encoder(
                  encode_pose_windows(pose_ae.encoder, u), training=False)}
  distances = {}
  for key in ALL_KEYS:
    relation = relations.get_relation(key)
    anchor, counterpart = relation.pose_pair(poses if relation.space == relations.POSE
                                             else clips, theta)
    encode = encoders[relation.space]
    difference = np.asarray(encode(anchor), np.float64) - np.asarray(encode(counterpart))
    distances[key] = float(np.mean(np.linalg.norm(difference, axis=-1)))
  return distances


def test_auto_energies_pick_relations_by_nonlocality(chain, tmp_path):
  model_dir = str(tmp_path / "auto")
  results = run_stage("adapt", model_dir, adapt_bindings(
      chain, "adapt.energies = ('lcr', 'auto')", "adapt.steps = 1", "adapt.steps_per_loop = 1"))
  energies = results["energies"]
  assert energies[0] == "lcr" and "auto" not in energies
  chosen = energies[1:]
  spaces = [relations.get_relation(k).space for k in chosen]
  # Default auto_relations = (1, 2): one pose relation, then two motion relations.
  assert spaces == [relations.POSE, relations.MOTION, relations.MOTION], chosen
  assert len(set(chosen)) == 3 and set(chosen) <= set(ALL_KEYS)
  # The most non-local relations by distances measured here on another mocap sample: the pose
  # pick is the largest d^z, the motion picks the two largest d^v (5% slack for sampling).
  d = _latent_distances(chain)
  pose_d = sorted((d[k] for k in ALL_KEYS if k.startswith("z")), reverse=True)
  motion_d = sorted((d[k] for k in ALL_KEYS if k.startswith("v")), reverse=True)
  assert d[chosen[0]] >= 0.95 * pose_d[0], (chosen, d)
  assert min(d[chosen[1]], d[chosen[2]]) >= 0.95 * motion_d[1], (chosen, d)
  info = stage_io.read_stage_info(model_dir, "adapt")
  assert info["settings"]["energies"] == energies
  for side in ("relation_residuals_source", "relation_residuals_target"):
    assert set(results["before_adaptation"][side]) == set(chosen)
  for key in chosen:
    assert _finite(results["before_adaptation"]["relation_residuals_target"][key]), key
  # The model was built with the chosen relation energies (one loss tracker each); the single
  # round-robin step ran 'lcr' (the relation energies train in the default-energies test).
  (record,) = training_loop.read_history(model_dir)
  assert record["lcr_loss"] > 0
  for key in chosen:
    assert record[f"{key}_loss"] == 0, key
  for split in ("source_test", "target_test"):
    assert _finite(results["selected"][split]["mpjpe"])
