"""Metrics: exact values on constructed cases, Procrustes properties, TF == numpy, input errors."""

import json

import numpy as np
import pytest
import tensorflow as tf

import conftest
from sa3dhp_tf import evaluation
from sa3dhp_tf import metrics
from sa3dhp_tf import skeleton


def _random_rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def _poses(n, seed=0):
  """`n` distinct plausible root-relative camera-frame poses `[n, 17, 3]`."""
  rng = np.random.default_rng(seed)
  poses = [conftest.camera_pose(conftest.world_pose(seed + i), azimuth=rng.uniform(-180, 180))
           for i in range(n)]
  return skeleton.root_relative(np.stack(poses))


def _similar_copy(gt, rng, scale=1.3):
  rotations = np.stack([_random_rotation(rng) for _ in range(len(gt))])
  translation = rng.uniform(-500, 500, (len(gt), 1, 3))
  return scale * np.einsum("nij,nkj->nki", rotations, gt) + translation


# --- exact values ---------------------------------------------------------------------------------

def test_mpjpe_on_a_hand_computed_case():
  gt = np.zeros((2, 2, 3))
  pred = np.array([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]],
                   [[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]]])
  # Errors 5, 1, 3, 0 mm.
  assert metrics.mpjpe(pred, gt) == pytest.approx(2.25)
  assert isinstance(metrics.mpjpe(pred, gt), float)
  np.testing.assert_allclose(metrics.per_joint_errors(pred, gt), [4.0, 0.5])
  # No alignment: a constant offset counts in full (callers subtract the root themselves).
  assert metrics.mpjpe(gt + [0.0, 0.0, 10.0], gt) == pytest.approx(10.0)


def _placed_errors(distances, seed=0):
  """gt with integer coordinates and pred displaced along coordinate axes by `distances`, so that
  every joint error equals its distance exactly (no rounding at the thresholds)."""
  rng = np.random.default_rng(seed)
  distances = np.asarray(distances, np.float64)
  gt = rng.integers(-800, 800, distances.shape + (3,)).astype(np.float64)
  axes = np.eye(3)[rng.integers(0, 3, distances.shape)]
  signs = rng.choice([-1.0, 1.0], distances.shape)[..., None]
  return gt + signs * axes * distances[..., None], gt


def test_pck_counts_errors_strictly_below_the_threshold():
  distances = np.array([[0.0, 50.0, 149.9, 150.0, 150.1],
                        [200.0, 10.0, 140.0, 160.0, 1000.0]])
  pred, gt = _placed_errors(distances)
  np.testing.assert_allclose(metrics.joint_errors(pred, gt), distances, atol=1e-9)
  # Below 150: 0, 50, 149.9, 10, 140 -> 5 of 10; exactly 150 does not count.
  assert metrics.pck(pred, gt) == pytest.approx(50.0)
  # Below 50: 0 and 10 -> 2 of 10 (50 itself excluded).
  assert metrics.pck(pred, gt, threshold=50.0) == pytest.approx(20.0)
  assert metrics.pck(pred, gt, threshold=150.05) == pytest.approx(60.0)
  assert metrics.pck(pred, gt, threshold=0.0) == 0.0


def test_auc_is_the_mean_pck_over_31_thresholds():
  pred, gt = _placed_errors(np.array([[2.5, 72.5, 200.0, 0.0]]))
  # Thresholds 0, 5, ..., 150 strictly above each error: 30, 16, 0, 30 of 31.
  assert metrics.auc(pred, gt) == pytest.approx((30 + 16 + 0 + 30) / (4 * 31) * 100.0)
  np.testing.assert_array_equal(metrics.AUC_THRESHOLDS, np.arange(0.0, 151.0, 5.0))
  # Custom thresholds: 0 and 100 -> errors below: none; 2.5, 72.5, 0.
  assert metrics.auc(pred, gt, thresholds=[0.0, 100.0]) == pytest.approx((0 + 3) / 8 * 100.0)
  perfect = np.zeros((3, 17, 3))
  assert metrics.auc(perfect, perfect) == pytest.approx(30 / 31 * 100.0)  # PCK@0 is 0
  assert metrics.pck(perfect, perfect) == 100.0


# --- Procrustes -----------------------------------------------------------------------------------

def test_similarity_copy_has_zero_pa_mpjpe_but_large_mpjpe():
  rng = np.random.default_rng(1)
  gt = _poses(6)
  pred = _similar_copy(gt, rng)
  assert metrics.pa_mpjpe(pred, gt) < 1e-6
  assert metrics.mpjpe(pred, gt) > 50.0
  np.testing.assert_allclose(metrics.procrustes_align(pred, gt), gt, atol=1e-6)
  # Also for a shrinking scale and for any leading axes.
  pred = _similar_copy(gt, rng, scale=0.4).reshape(2, 3, 17, 3)
  assert metrics.pa_mpjpe(pred, gt.reshape(2, 3, 17, 3)) < 1e-6


def test_mirrored_copy_is_not_aligned_away():
  gt = _poses(4, seed=3)
  mirrored = gt * [-1.0, 1.0, 1.0]
  # An orthogonal alignment that allowed reflections would bring this to exactly 0.
  assert metrics.pa_mpjpe(mirrored, gt) > 20.0
  # Mirroring AND swapping left/right (the flip relation) is also a different pose.
  flipped = mirrored[:, list(skeleton.FLIP_PERMUTATION)]
  assert metrics.pa_mpjpe(flipped, gt) > 5.0
  # The result is a proper similarity image of the prediction (orientation kept).
  aligned = metrics.procrustes_align(mirrored, gt)
  for p, a in zip(mirrored, aligned):
    p0, a0 = p - p.mean(0), a - a.mean(0)
    transform, *_ = np.linalg.lstsq(p0, a0, rcond=None)
    assert np.linalg.det(transform) > 0


def test_procrustes_minimises_the_squared_error_over_proper_similarities():
  rng = np.random.default_rng(4)
  gt = _poses(3, seed=7)
  pred = _similar_copy(gt, rng, scale=0.9) + rng.normal(0, 40.0, gt.shape)
  aligned = metrics.procrustes_align(pred, gt)
  for n in range(len(gt)):
    best = np.sum((aligned[n] - gt[n]) ** 2)
    # Recover the transform pred -> aligned, then perturb it: the error never goes down.
    centre_p, centre_a = pred[n].mean(0), aligned[n].mean(0)
    m, *_ = np.linalg.lstsq(pred[n] - centre_p, aligned[n] - centre_a, rcond=None)
    scale = np.cbrt(np.linalg.det(m))
    rotation = m / scale
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    for _ in range(50):
      # A small rotation (Rodrigues), a slightly different scale and translation.
      axis = rng.normal(size=3)
      axis /= np.linalg.norm(axis)
      angle = rng.uniform(-0.05, 0.05)
      k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
      small = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
      s = scale * rng.uniform(0.97, 1.03)
      t = centre_a + rng.normal(0, 5.0, 3)
      other = s * (pred[n] - centre_p) @ (rotation @ small) + t
      assert np.sum((other - gt[n]) ** 2) >= best - 1e-6


def test_degenerate_prediction_aligns_to_the_gt_centroid():
  gt = _poses(2)
  pred = np.zeros_like(gt) + 123.0
  expected = np.mean(np.linalg.norm(gt - gt.mean(axis=1, keepdims=True), axis=-1))
  assert metrics.pa_mpjpe(pred, gt) == pytest.approx(expected)
  assert float(metrics.pa_mpjpe_tf(pred, gt)) == pytest.approx(expected)


def test_j14_pa_mpjpe_uses_the_spin_joints_only():
  rng = np.random.default_rng(5)
  gt = _poses(3, seed=11)
  pred = gt + rng.normal(0, 30.0, gt.shape)
  moved = pred.copy()
  moved[:, [0, 7, 9]] += rng.normal(0, 300.0, (3, 3, 3))  # joints outside the protocol
  expected = metrics.pa_mpjpe((pred - pred[:, :1])[:, list(skeleton.H36M_TO_J14)],
                              (gt - gt[:, :1])[:, list(skeleton.H36M_TO_J14)])
  assert metrics.j14_pa_mpjpe(pred, gt) == pytest.approx(expected)
  assert metrics.j14_pa_mpjpe(moved, gt) == pytest.approx(expected)
  assert metrics.pa_mpjpe(moved, gt) > metrics.pa_mpjpe(pred, gt) + 10.0
  with pytest.raises(ValueError, match="pred17"):
    metrics.j14_pa_mpjpe(pred[:, :14], gt[:, :14])


# --- TF versions ----------------------------------------------------------------------------------

def _tf_case():
  rng = np.random.default_rng(6)
  gt = _poses(8, seed=20)
  pred = _similar_copy(gt, rng, scale=1.1) + rng.normal(0, 25.0, gt.shape)
  pred[1] = gt[1] * [-1.0, 1.0, 1.0]   # a mirrored sample: the reflection fix must happen in TF too
  pred[2] = gt[2] + rng.normal(0, 80.0, gt[2].shape)
  return pred, gt


def test_tf_metrics_match_numpy_in_float32_and_float64():
  pred, gt = _tf_case()
  for dtype, rtol in ((np.float64, 1e-9), (np.float32, 1e-4)):
    p, g = tf.constant(pred.astype(dtype)), tf.constant(gt.astype(dtype))
    assert metrics.mpjpe_tf(p, g).shape == ()
    assert metrics.pa_mpjpe_tf(p, g).dtype == p.dtype
    np.testing.assert_allclose(float(metrics.mpjpe_tf(p, g)), metrics.mpjpe(pred, gt), rtol=rtol)
    np.testing.assert_allclose(float(metrics.pa_mpjpe_tf(p, g)), metrics.pa_mpjpe(pred, gt),
                               rtol=rtol)
  aligned_tf = metrics.procrustes_align_tf(pred, gt).numpy()
  np.testing.assert_allclose(aligned_tf, metrics.procrustes_align(pred, gt), atol=1e-6)


def test_tf_metrics_in_a_graph_with_extra_leading_axes():
  pred, gt = _tf_case()
  fn = tf.function(lambda p, g: (metrics.mpjpe_tf(p, g), metrics.pa_mpjpe_tf(p, g)),
                   input_signature=[tf.TensorSpec([None, None, 17, 3], tf.float32)] * 2)
  m, pa = fn(pred.reshape(2, 4, 17, 3).astype(np.float32),
             gt.reshape(2, 4, 17, 3).astype(np.float32))
  np.testing.assert_allclose(float(m), metrics.mpjpe(pred, gt), rtol=1e-4)
  np.testing.assert_allclose(float(pa), metrics.pa_mpjpe(pred, gt), rtol=1e-4)


def test_tf_metrics_refuse_mismatched_static_shapes():
  with pytest.raises(ValueError, match="pred shape .* does not match gt shape"):
    metrics.mpjpe_tf(np.zeros((2, 17, 3), np.float32), np.zeros((2, 16, 3), np.float32))
  with pytest.raises(ValueError, match="pred must have shape"):
    metrics.pa_mpjpe_tf(np.zeros((2, 17, 2), np.float32), np.zeros((2, 17, 2), np.float32))


# --- input errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [metrics.mpjpe, metrics.pa_mpjpe, metrics.pck, metrics.auc])
def test_mismatched_shapes_name_both_arguments(fn):
  with pytest.raises(ValueError, match=r"pred shape \(4, 17, 3\) does not match gt shape"):
    fn(np.zeros((4, 17, 3)), np.zeros((4, 16, 3)))


@pytest.mark.parametrize("pred_shape,gt_shape,name", [
    ((4, 17, 2), (4, 17, 2), "pred"), ((4, 17, 3), (17,), "gt"), ((0, 17, 3), (0, 17, 3), "pred"),
])
def test_bad_or_empty_arrays_name_the_argument(pred_shape, gt_shape, name):
  with pytest.raises(ValueError, match=rf"^{name} "):
    metrics.mpjpe(np.zeros(pred_shape), np.zeros(gt_shape))


def test_non_finite_values_are_counted_and_located():
  gt = np.zeros((5, 17, 3))
  pred = np.zeros((5, 17, 3))
  pred[1, 3, 0] = np.nan
  pred[1, 3, 2] = np.nan
  pred[4, 16, 1] = np.inf
  with pytest.raises(ValueError) as info:
    metrics.pa_mpjpe(pred, gt)
  message = str(info.value)
  assert message.startswith("pred contains 3 non-finite values (2 NaN, 1 inf) in 2 sample(s)")
  assert "(1, 3, 0)" in message and "(4, 16, 1)" in message
  bad_gt = gt.copy()
  bad_gt[2, 5, 1] = np.nan
  with pytest.raises(ValueError, match=r"^gt contains 1 non-finite .*\(2, 5, 1\)"):
    metrics.mpjpe(gt, bad_gt)
  with pytest.raises(ValueError, match="must hold real numbers"):
    metrics.mpjpe(np.full((1, 17, 3), "a"), gt[:1])


def test_bad_thresholds_are_refused():
  pose = np.zeros((1, 17, 3))
  with pytest.raises(ValueError, match="threshold"):
    metrics.pck(pose, pose, threshold=-1.0)
  with pytest.raises(ValueError, match="thresholds"):
    metrics.auc(pose, pose, thresholds=[5.0, np.nan])


# --- breakdowns -----------------------------------------------------------------------------------

def _action_case():
  gt = _poses(6, seed=30)
  offsets = np.array([12.0, 12.0, 42.0, 42.0, 200.0, 200.0])
  pred = gt + offsets[:, None, None] * np.array([1.0, 0.0, 0.0])
  actions = np.array(["walk", "walk", "sit", "sit", "jump", "jump"])
  return pred, gt, actions


def test_per_group_splits_by_label():
  pred, gt, actions = _action_case()
  result = metrics.per_group(metrics.mpjpe, pred, gt, actions)
  assert list(result) == ["jump", "sit", "walk"]
  assert result == pytest.approx({"walk": 12.0, "sit": 42.0, "jump": 200.0})
  # Labels per sample may also come with the leading shape of the poses.
  result = metrics.per_group(metrics.pck, pred.reshape(2, 3, 17, 3), gt.reshape(2, 3, 17, 3),
                             actions.reshape(2, 3))
  assert result == {"jump": 0.0, "sit": 100.0, "walk": 100.0}
  with pytest.raises(ValueError, match=r"groups must have one label per sample.*\(5,\)"):
    metrics.per_group(metrics.mpjpe, pred, gt, actions[:5])


def test_evaluate_all_is_complete_and_json_serializable():
  pred, gt, actions = _action_case()
  results = metrics.evaluate_all(pred, gt, actions=actions.astype(bytes))
  assert set(results) == {"num_samples", "mpjpe", "pa_mpjpe", "pck", "auc", "n_mpjpe",
                          "procrustes_rotation_deg", "per_joint", "per_action"}
  assert results["num_samples"] == 6
  assert results["mpjpe"] == pytest.approx(254.0 / 3.0)
  assert results["pck"] == pytest.approx(200.0 / 3.0)
  assert results["pa_mpjpe"] < 1e-6  # pure translations
  assert list(results["per_joint"]) == list(skeleton.JOINT_NAMES)
  assert results["per_joint"]["head"] == pytest.approx(254.0 / 3.0)
  assert sorted(results["per_action"]) == ["jump", "sit", "walk"]
  walk = results["per_action"]["walk"]
  assert set(walk) == set(metrics.SUMMARY_METRICS)
  assert walk["mpjpe"] == pytest.approx(12.0) and walk["pck"] == 100.0
  assert walk["auc"] == pytest.approx(28 / 31 * 100.0)   # error 12: thresholds 15..150
  assert results["per_action"]["sit"]["auc"] == pytest.approx(22 / 31 * 100.0)  # 45..150
  assert results["auc"] == pytest.approx((28 + 22 + 0) / 93 * 100.0)
  decoded = json.loads(json.dumps(results, allow_nan=False))
  assert decoded == results
  no_actions = metrics.evaluate_all(pred[:, list(skeleton.H36M_TO_J14)],
                                    gt[:, list(skeleton.H36M_TO_J14)])
  assert no_actions["per_action"] == {}
  assert list(no_actions["per_joint"]) == list(skeleton.J14_NAMES)
  with pytest.raises(ValueError, match="joint_names has 2 names for 17 joints"):
    metrics.evaluate_all(pred, gt, joint_names=["a", "b"])
  with pytest.raises(ValueError, match="actions must have one label per sample"):
    metrics.evaluate_all(pred, gt, actions=["walk"])


def test_breakdown_report_and_json_file(tmp_path):
  pred, gt, actions = _action_case()
  results = metrics.evaluate_all(pred, gt, actions=actions)
  text = evaluation.format_breakdown(results)
  assert "MPJPE mm" in text and "all (6)" in text
  assert "walk" in text and "200.0" in text and "r_wrist" in text
  path = evaluation.write_results_json(results, str(tmp_path / "out" / "results.json"))
  with open(path) as f:
    assert json.load(f) == results
  results["per_action"]["sit"]["auc"] = float("nan")
  with pytest.raises(ValueError, match=r"results\.per_action\.sit\.auc is nan"):
    evaluation.write_results_json(results, str(tmp_path / "bad.json"))
  with pytest.raises(ValueError, match="has type ndarray"):
    evaluation.write_results_json({"per_joint": np.zeros(3)}, str(tmp_path / "bad.json"))
  assert not (tmp_path / "bad.json").exists()


def _rotation_z(degrees):
  a = np.radians(degrees)
  return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def test_n_mpjpe_removes_scale_only():
  rng = np.random.default_rng(3)
  gt = rng.normal(0.0, 200.0, (5, 17, 3))
  gt -= gt[:, :1]
  assert metrics.n_mpjpe(1.3 * gt, gt) == pytest.approx(0.0, abs=1e-9)
  rotated = gt @ _rotation_z(40.0).T
  assert metrics.n_mpjpe(rotated, gt) > 10.0
  # the least-squares scale never makes the error worse than the unscaled one
  noisy = gt + rng.normal(0.0, 30.0, gt.shape)
  assert metrics.n_mpjpe(noisy, gt) <= metrics.mpjpe(noisy, gt) + 1e-9


def test_procrustes_rotation_deg_reads_the_global_rotation():
  rng = np.random.default_rng(4)
  gt = rng.normal(0.0, 200.0, (4, 17, 3))
  assert metrics.procrustes_rotation_deg(gt, gt) == pytest.approx(0.0, abs=1e-4)
  for angle in (30.0, 120.0):
    assert metrics.procrustes_rotation_deg(0.8 * gt @ _rotation_z(angle).T + 5.0, gt) == (
        pytest.approx(angle, abs=1e-4))
