"""Latent distance (paper section 3.3.3, Fig. 4): values on tiny trained stages, exact zeros for
relations that map the sample onto itself, selection order, PCA, and tools/latent_distance.py."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import conftest
import shared_stages
from sa3dhp_tf import relations
from sa3dhp_tf import skeleton
from sa3dhp_tf.evaluation import nonlocality
import cli_harness

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, "tools", "latent_distance.py")
# Small, fast samples of the tiny mocap split (the defaults are 2048 poses / 256 windows).
SAMPLING = dict(num_poses=128, num_windows=12, seed=3, shuffle_buffer=256)
# TF's C++ runtime and absl log lines on stderr are not the binary's own output.
_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                       r"|[IWE]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] )")


def _tool(args, cwd):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in [env.get("PYTHONPATH")] if p])
  return subprocess.Popen([cli_harness.python_executable(), TOOL, *args], cwd=cwd, env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop(process):
  """Teardown: ends a run that no test collected (e.g. under -k)."""
  if process.poll() is None:
    process.kill()
  process.communicate()


def _finish(process, timeout=180):
  stdout, stderr = process.communicate(timeout=timeout)
  return process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def bad_dir_run(tmp_path_factory):
  """The bad-dir run needs no stages: start it first, so it overlaps the stage training."""
  cwd = tmp_path_factory.mktemp("bad_cwd")
  process = _tool([f"--pose_aae_dir={cwd / 'missing_pose'}", f"--motion_aae_dir={cwd}",
                   "--output=out"], str(cwd))
  yield process, cwd
  _stop(process)


@pytest.fixture(scope="module")
def stages(bad_dir_run, tmp_path_factory):
  chain = shared_stages.tiny_chain(tmp_path_factory)
  return {name: chain[name] for name in ("bench", "pose", "motion")}


@pytest.fixture(scope="module")
def cli_run(stages, tmp_path_factory):
  """The CLI on the tiny stages, started early so it runs alongside the in-process tests."""
  cwd = tmp_path_factory.mktemp("cli_cwd")
  process = _tool([f"--pose_aae_dir={stages['pose']}", f"--motion_aae_dir={stages['motion']}",
                   "--output=out", "--num_pca_anchors=3"]
                  + [f"--{k}={v}" for k, v in SAMPLING.items()], str(cwd))
  yield process, cwd
  _stop(process)


@pytest.fixture(scope="module")
def autoencoders(stages, cli_run):
  del cli_run  # started first, on purpose: it runs while the in-process tests do
  pose_ae, motion_ae, _ = nonlocality.load_autoencoders(stages["pose"], stages["motion"])
  return pose_ae, motion_ae


@pytest.fixture(scope="module")
def cli_summary(cli_run):
  process, cwd = cli_run
  rc, stdout, stderr = _finish(process)
  assert rc == 0, stderr[-3000:]
  assert "Traceback" not in stderr
  summary = json.load(open(cwd / "out" / "latent_distance.json"))
  return summary, json.loads(stdout), cwd / "out"


def _symmetric_pose():
  """A root-relative camera-frame pose with flip(pose) == pose: midline joints at x = 0, each
  right joint the mirror image of its left twin."""
  pose = conftest.camera_pose(conftest.world_pose(0))
  pose = pose - pose[0]
  pose[[0, 7, 8, 9, 10], 0] = 0.0
  pose[list(skeleton.RIGHT_JOINTS)] = pose[list(skeleton.LEFT_JOINTS)] * [-1.0, 1.0, 1.0]
  return pose.astype(np.float32)


def _encode_windows(pose_ae, motion_ae, clips):
  codes = pose_ae.encoder(tf.constant(clips.reshape(-1, skeleton.NUM_JOINTS, 3)), training=False)
  codes = tf.reshape(codes, [clips.shape[0], clips.shape[1], -1])
  return np.asarray(motion_ae.encoder(codes, training=False))


def test_relations_that_fix_the_sample_have_zero_distance(autoencoders):
  pose_ae, motion_ae = autoencoders
  symmetric = _symmetric_pose()
  np.testing.assert_allclose(np.asarray(relations.get_relation("z1").pose_pair(symmetric)[1]),
                             symmetric, atol=1e-6)
  asymmetric = conftest.camera_pose(conftest.world_pose(1))
  asymmetric = (asymmetric - asymmetric[0]).astype(np.float32)
  moving = conftest.camera_pose(conftest.world_motion(60, seed=2))
  moving = (moving - moving[:, :1]).astype(np.float32)
  # poses: symmetric, symmetric (stretched), asymmetric; windows: still symmetric, still
  # asymmetric, moving.
  poses = np.stack([symmetric, symmetric * [1.0, 0.9, 1.1], asymmetric]).astype(np.float32)
  windows_ = np.stack([np.repeat(symmetric[None], 60, 0), np.repeat(asymmetric[None], 60, 0),
                       moving])

  # The paper's mean distance: exactly 0 for a relation whose pose side is the identity here.
  d = nonlocality.latent_distances(pose_ae, None, poses[:2], None, ["z1"])["z1"]
  assert d["latent_distance"] < 1e-5 and d["num_samples"] == 2

  def per_sample(theta, keys=None):
    codes = nonlocality.relation_codes(pose_ae, motion_ae, poses, windows_, keys, theta)
    return {k: np.linalg.norm(a - c, axis=-1) for k, (a, c) in codes.items()}

  zero, moved = 1e-5, 1e-3
  d0 = per_sample(0.0)
  # flip(y) == y for symmetric poses; rotation by 0 is the identity; a still symmetric clip is its
  # own mirrored reversal; a still clip's fast and slow-backward clips are equal. Elsewhere the
  # same relations move the sample, so the zeros do not come from a constant encoder.
  assert np.all(d0["z1"][:2] < zero) and d0["z1"][2] > moved
  assert np.all(d0["z2"] < zero)
  assert np.all(d0["z3"][:2] < zero) and d0["z3"][2] > moved
  assert d0["v1"][0] < zero and np.all(d0["v1"][1:] > moved)
  assert d0["v2"][0] < zero and np.all(d0["v2"][1:] > moved)
  assert np.all(d0["v3"][:2] < zero) and d0["v3"][2] > moved
  d30 = per_sample(30.0, ["z2", "z3", "v2"])  # theta reaches the theta relations
  assert np.all(d30["z2"] > moved) and np.all(d30["z3"][:2] > moved) and d30["v2"][0] > moved


def test_selection_order():
  distances = {key: {"space": relations.get_relation(key).space, "latent_distance": value}
               for key, value in [("z1", 0.2), ("z2", 0.5), ("z3", 0.5), ("v1", 0.9),
                                  ("v2", 0.1), ("v3", 0.4)]}
  assert nonlocality.select_most_nonlocal(distances, 3) == ["v1", "z2", "z3"]
  assert nonlocality.select_most_nonlocal(distances, 6) == ["v1", "z2", "z3", "v3", "z1", "v2"]
  assert nonlocality.select_most_nonlocal(distances, 1, space="pose") == ["z2"]
  assert nonlocality.select_most_nonlocal(distances, 2, space="motion") == ["v1", "v3"]
  assert nonlocality.select_most_nonlocal(distances, 2, per_space=True) == ["z2", "z3", "v1",
                                                                             "v3"]
  assert nonlocality.select_relations(distances, 1, 2) == ["z2", "v1", "v3"]
  assert nonlocality.select_most_nonlocal(distances, 0) == []
  with pytest.raises(nonlocality.NonlocalityError, match="only 3 were measured"):
    nonlocality.select_most_nonlocal(distances, 4, space="motion")
  with pytest.raises(ValueError, match="space"):
    nonlocality.select_most_nonlocal(distances, 1, space="image")


def test_pca_recovers_the_dominant_direction():
  rng = np.random.default_rng(0)
  direction = np.array([3.0, -4.0, 0.0, 0.0]) / 5.0
  points = 5.0 + rng.normal(0, 10, (400, 1)) * direction + rng.normal(0, 0.1, (400, 4))
  mean, components, ratio = nonlocality.pca(points, 2)
  np.testing.assert_allclose(mean, points.mean(0))
  assert abs(components[0] @ direction) > 0.999
  np.testing.assert_allclose(components @ components.T, np.eye(2), atol=1e-9)
  assert ratio[0] > 0.99 and ratio[0] >= ratio[1] >= 0
  # Motion embeddings: one PCA over the anchors and counterparts of the motion relations only.
  codes = {k: (rng.normal(0, 1, (7, 5)), rng.normal(3, 1, (7, 5))) for k in ("v1", "v3")}
  codes["z1"] = (rng.normal(0, 1, (4, 2)), rng.normal(0, 1, (4, 2)))
  projection = nonlocality.motion_embedding_pca(codes)
  assert projection["keys"] == ["v1", "v3"]
  mean, components, _ = nonlocality.pca(np.concatenate([np.concatenate(codes[k])
                                                        for k in ("v1", "v3")]))
  for key in ("v1", "v3"):
    for side, index in (("anchors", 0), ("counterparts", 1)):
      np.testing.assert_allclose(projection[side][key], (codes[key][index] - mean) @ components.T,
                                 atol=1e-9)
  # Counterparts sit 3 apart from anchors in every dimension: PC 1 separates them.
  assert np.all(projection["anchors"]["v1"][:, 0] * projection["counterparts"]["v1"][:, 0] < 0)
  with pytest.raises(ValueError, match="motion"):
    nonlocality.motion_embedding_pca({"z1": codes["z1"]})


def test_cli_distances_are_positive_and_match_direct_encoding(cli_summary, autoencoders):
  summary, _, _ = cli_summary
  distances = summary["distances"]
  assert list(distances) == relations.relation_keys() == ["z1", "z2", "z3", "v1", "v2", "v3"]
  assert summary["num_pose_samples"] == 128 and summary["num_window_samples"] == 12
  for key, entry in distances.items():
    assert entry["space"] == relations.get_relation(key).space
    assert np.isfinite(entry["latent_distance"]) and entry["latent_distance"] > 1e-4, (key, entry)
    assert np.isfinite(entry["std"]) and entry["std"] >= 0
    assert entry["num_samples"] == (128 if entry["space"] == relations.POSE else 12)
  # The same seeds here give the same samples; recompute d^z_1 and d^v_3 by hand from them:
  # E_p(y) vs E_p(flip(y)), and E_m E_p(raw[::2]) vs E_m E_p(reversed(raw[15:45])).
  keras.utils.set_random_seed(SAMPLING["seed"])  # as the CLI does
  poses, windows_ = nonlocality.sample_mocap(summary["data_dir"], 128, 12, seed=3,
                                             shuffle_buffer=256)
  assert poses.shape == (128, 17, 3) and windows_.shape == (12, 60, 17, 3)
  assert np.abs(poses[:, 0]).max() < 1e-3  # root-relative
  assert len(np.unique(poses.reshape(128, -1), axis=0)) == 128
  pose_ae, motion_ae = autoencoders
  flipped = (poses * [-1.0, 1.0, 1.0])[:, list(skeleton.FLIP_PERMUTATION)].astype(np.float32)
  z, z_flip = (np.asarray(pose_ae.encoder(tf.constant(p), training=False))
               for p in (poses, flipped))
  d = np.linalg.norm(z - z_flip, axis=-1)
  np.testing.assert_allclose(distances["z1"]["latent_distance"], d.mean(), rtol=1e-4)
  np.testing.assert_allclose(distances["z1"]["std"], d.std(), rtol=1e-3)
  v_fast = _encode_windows(pose_ae, motion_ae, windows_[:, ::2])
  v_slow_back = _encode_windows(pose_ae, motion_ae, windows_[:, 15:45][:, ::-1].copy())
  d = np.linalg.norm(v_fast - v_slow_back, axis=-1)
  np.testing.assert_allclose(distances["v3"]["latent_distance"], d.mean(), rtol=1e-4)


def test_cli_selects_by_decreasing_distance(cli_summary):
  summary, stdout, _ = cli_summary
  distances = summary["distances"]
  ranked = nonlocality.select_most_nonlocal(distances, len(distances))
  values = [distances[k]["latent_distance"] for k in ranked]
  assert sorted(ranked) == sorted(distances) and values == sorted(values, reverse=True)
  selected = summary["selected"]
  assert selected == nonlocality.select_relations(distances, 1, 2) == stdout["selected"]
  assert summary["selected_by_space"] == {"pose": selected[:1], "motion": selected[1:]}
  pose_best = max(relations.relation_keys("pose"), key=lambda k: distances[k]["latent_distance"])
  assert selected[0] == pose_best
  (left_out,) = [k for k in relations.relation_keys("motion") if k not in selected[1:]]
  assert (distances[selected[1]]["latent_distance"] >= distances[selected[2]]["latent_distance"]
          >= distances[left_out]["latent_distance"])


def test_auto_relations_matches_the_cli(stages, cli_summary):
  summary, _, _ = cli_summary
  keras.utils.set_random_seed(SAMPLING["seed"])
  keys = nonlocality.auto_relations(stages["pose"], stages["motion"], k_pose=2, k_motion=1,
                                    **SAMPLING)
  assert keys == nonlocality.select_relations(summary["distances"], 2, 1)
  assert [relations.get_relation(k).space for k in keys] == ["pose", "pose", "motion"]


def test_cli_writes_json_and_plots(cli_summary):
  summary, _, out = cli_summary
  assert summary["theta"] == 30.0 and summary["split"] == "mocap" and summary["seed"] == 3
  ratio = summary["motion_pca"]["explained_variance_ratio"]
  assert len(ratio) == 2 and 1.0 >= ratio[0] >= ratio[1] > 0
  assert sorted(os.listdir(out)) == ["latent_distance.json", "latent_distance.png",
                                     "motion_pca.png"]
  for name in ("latent_distance.png", "motion_pca.png"):
    data = (out / name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000, name
    assert summary["files"][name] == str(out / name)


def test_cli_bad_pose_dir_is_one_line_error(bad_dir_run):
  process, cwd = bad_dir_run
  rc, _, stderr = _finish(process)
  own = [line for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
  assert rc == 2, stderr[-3000:]
  assert len(own) == 1 and own[0].startswith("error: "), stderr[-3000:]
  assert "missing_pose" in own[0] and "Traceback" not in stderr
  assert not (cwd / "out").exists()
