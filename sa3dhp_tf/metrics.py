"""3D pose metrics: MPJPE, PA-MPJPE, PCK, AUC (numpy, Python floats) and TF versions for graphs.

All metrics take predictions and ground truth of the same shape `[..., J, 3]` in millimetres
(usually `[N, J, 3]`; any leading axes are treated as samples). They match the standard
implementations:
- `mpjpe`: mean Euclidean joint error with NO alignment. Pass root-relative poses
  (`skeleton.root_relative`) for the usual protocol #1; the function does not subtract the root.
- `pa_mpjpe`: per-sample similarity Procrustes (scale, rotation, translation) before MPJPE,
  reflections fixed by sign(det R), as VideoPose3D's `p_mpjpe` (protocol #2).
- `pck` / `auc`: MPI-INF-3DHP protocol as MMPose `keypoint_3d_pck/auc` and PoseAug: a joint is
  correct when its error is strictly below the threshold; AUC is the mean PCK over
  `np.linspace(0, 150, 31)` (the 0:5:150 mm of `mpii_compute_3d_pck.m`); both x100.
- `j14_pa_mpjpe`: 3DPW protocol, PA-MPJPE on SPIN's 14 joints (`skeleton.to_j14`).

The numpy functions validate their input and raise ValueError naming the argument on mismatched
shapes, empty arrays or non-finite values. `mpjpe_tf` / `pa_mpjpe_tf` only check static shapes:
inside a graph NaNs propagate to the result.
"""

from typing import Callable, Dict, Hashable, Optional, Sequence

import numpy as np
import tensorflow as tf

from sa3dhp_tf import skeleton

PCK_THRESHOLD = 150.0
AUC_THRESHOLDS = np.linspace(0.0, 150.0, 31)
SUMMARY_METRICS = ("mpjpe", "pa_mpjpe", "pck", "auc")

_MAX_REPORTED_POSITIONS = 5


# --- validation -----------------------------------------------------------------------------------

def _check_array(x, name: str) -> np.ndarray:
  """Converts `x` to float64 `[..., J, 3]`, refusing bad shapes, empty and non-finite input."""
  try:
    arr = np.asarray(x)
  except Exception as e:  # ragged nested lists etc.
    raise ValueError(f"{name} cannot be converted to an array: {e}") from None
  if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
    raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
  if arr.ndim < 2 or arr.shape[-1] != 3:
    raise ValueError(f"{name} must have shape [N, J, 3] (or [..., J, 3]), got {arr.shape}")
  if arr.size == 0:
    raise ValueError(f"{name} is empty (shape {arr.shape}); nothing to evaluate")
  arr = arr.astype(np.float64)
  finite = np.isfinite(arr)
  if not finite.all():
    bad = np.argwhere(~finite)
    num_nan = int(np.isnan(arr).sum())
    num_inf = int(bad.shape[0] - num_nan)
    samples = np.unique(bad[:, :-2], axis=0) if arr.ndim > 2 else np.zeros((1, 0))
    where = ", ".join(str(tuple(int(i) for i in idx)) for idx in bad[:_MAX_REPORTED_POSITIONS])
    more = f" and {bad.shape[0] - _MAX_REPORTED_POSITIONS} more" \
        if bad.shape[0] > _MAX_REPORTED_POSITIONS else ""
    raise ValueError(
        f"{name} contains {bad.shape[0]} non-finite value{'s' if bad.shape[0] > 1 else ''} "
        f"({num_nan} NaN, {num_inf} inf) in "
        f"{samples.shape[0]} sample(s) of shape {arr.shape}; at index {where}{more}")
  return arr


def _check_pair(pred, gt):
  pred = _check_array(pred, "pred")
  gt = _check_array(gt, "gt")
  if pred.shape != gt.shape:
    raise ValueError(f"pred shape {pred.shape} does not match gt shape {gt.shape}")
  return pred, gt


def _flat(x: np.ndarray) -> np.ndarray:
  return x.reshape((-1,) + x.shape[-2:])


def _check_threshold(value, name):
  value = float(value)
  if not np.isfinite(value) or value < 0:
    raise ValueError(f"{name} must be a finite number >= 0, got {value}")
  return value


# --- numpy metrics --------------------------------------------------------------------------------

def joint_errors(pred, gt) -> np.ndarray:
  """Euclidean error of every joint, `[..., J]`, in mm (no alignment)."""
  pred, gt = _check_pair(pred, gt)
  return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred, gt) -> float:
  """Mean per-joint position error in mm, without any alignment: callers pass root-relative poses
  (pelvis subtracted from both) for the standard protocol #1."""
  return float(np.mean(joint_errors(pred, gt)))


def _procrustes(pred: np.ndarray, gt: np.ndarray, return_rotation: bool = False):
  """Similarity-aligns validated float64 `pred` `[N, J, 3]` onto `gt` (VideoPose3D math); with
  `return_rotation`, also the rotations `[N, 3, 3]` (applied as `pred @ R`)."""
  mu_gt = gt.mean(axis=1, keepdims=True)
  mu_pred = pred.mean(axis=1, keepdims=True)
  x0 = gt - mu_gt
  y0 = pred - mu_pred
  norm_x = np.sqrt(np.sum(x0 ** 2, axis=(1, 2), keepdims=True))
  norm_y = np.sqrt(np.sum(y0 ** 2, axis=(1, 2), keepdims=True))
  # A degenerate (single-point) pose has zero norm; its best similarity fit is a pure translation.
  x0 = np.divide(x0, norm_x, out=np.zeros_like(x0), where=norm_x > 0)
  y0 = np.divide(y0, norm_y, out=np.zeros_like(y0), where=norm_y > 0)
  h = np.matmul(np.swapaxes(x0, 1, 2), y0)          # [N, 3, 3]
  u, s, vt = np.linalg.svd(h)
  v = np.swapaxes(vt, 1, 2)
  rotation = np.matmul(v, np.swapaxes(u, 1, 2))
  # Refuse reflections: flip the axis of the smallest singular value when det(R) = -1.
  sign_det = np.sign(np.linalg.det(rotation))
  v[:, :, -1] *= sign_det[:, None]
  s[:, -1] *= sign_det
  rotation = np.matmul(v, np.swapaxes(u, 1, 2))
  trace = np.sum(s, axis=1)[:, None, None]
  scale = trace * np.divide(norm_x, norm_y, out=np.zeros_like(norm_x), where=norm_y > 0)
  translation = mu_gt - scale * np.matmul(mu_pred, rotation)
  aligned = scale * np.matmul(pred, rotation) + translation
  return (aligned, rotation) if return_rotation else aligned


def procrustes_align(pred, gt) -> np.ndarray:
  """`pred` similarity-aligned (scale, rotation, translation; no reflection) onto `gt`, per sample;
  same shape as the input, float64."""
  pred, gt = _check_pair(pred, gt)
  return _procrustes(_flat(pred), _flat(gt)).reshape(pred.shape)


def pa_mpjpe(pred, gt) -> float:
  """Procrustes-aligned MPJPE in mm (protocol #2), as VideoPose3D's `p_mpjpe`: every sample is
  aligned to its ground truth by the similarity transform that minimises the squared error, with
  reflections excluded (a mirrored prediction is NOT aligned onto its ground truth)."""
  pred, gt = _check_pair(pred, gt)
  aligned = _procrustes(_flat(pred), _flat(gt))
  return float(np.mean(np.linalg.norm(aligned - _flat(gt), axis=-1)))


def n_mpjpe(pred, gt) -> float:
  """Scale-normalised MPJPE in mm, as VideoPose3D's `n_mpjpe`: each (root-relative) prediction
  is scaled by the least-squares factor `<pred, gt> / <pred, pred>` before MPJPE; no rotation."""
  pred, gt = _check_pair(pred, gt)
  flat_pred, flat_gt = _flat(pred), _flat(gt)
  norm_pred = np.sum(flat_pred ** 2, axis=(1, 2), keepdims=True)
  dot = np.sum(flat_pred * flat_gt, axis=(1, 2), keepdims=True)
  scale = np.divide(dot, norm_pred, out=np.ones_like(dot), where=norm_pred > 0)
  return float(np.mean(np.linalg.norm(scale * flat_pred - flat_gt, axis=-1)))


def procrustes_rotation_deg(pred, gt) -> float:
  """Mean angle (degrees) of the rotation that PA-MPJPE's alignment applies to each prediction:
  how far its global orientation is from the truth (0 when only the body shape is off). Not a
  standard benchmark number; a diagnostic of errors that PA-MPJPE hides."""
  pred, gt = _check_pair(pred, gt)
  _, rotation = _procrustes(_flat(pred), _flat(gt), return_rotation=True)
  cosine = (np.trace(rotation, axis1=1, axis2=2) - 1.0) / 2.0
  return float(np.degrees(np.mean(np.arccos(np.clip(cosine, -1.0, 1.0)))))


def pck(pred, gt, threshold: float = PCK_THRESHOLD) -> float:
  """Percentage (x100) of joints whose error is strictly below `threshold` mm (3DPCK, no
  alignment), as MMPose `keypoint_3d_pck` and PoseAug `compute_PCK`."""
  threshold = _check_threshold(threshold, "threshold")
  errors = joint_errors(pred, gt)
  return float(np.mean(errors < threshold) * 100.0)


def auc(pred, gt, thresholds: Optional[Sequence[float]] = None) -> float:
  """Area under the 3DPCK curve: mean PCK (x100) over `thresholds` mm, by default
  `np.linspace(0, 150, 31)` as MMPose `keypoint_3d_auc` and PoseAug `compute_AUC`."""
  thresholds = AUC_THRESHOLDS if thresholds is None else np.asarray(thresholds, np.float64)
  if thresholds.ndim != 1 or thresholds.size == 0:
    raise ValueError(f"thresholds must be a non-empty 1-D sequence, got shape {thresholds.shape}")
  for t in thresholds:
    _check_threshold(t, "thresholds")
  errors = joint_errors(pred, gt).reshape(-1)
  return float(np.mean([np.mean(errors < t) for t in thresholds]) * 100.0)


def j14_pa_mpjpe(pred17, gt17) -> float:
  """3DPW protocol: PA-MPJPE on the 14 joints of SPIN's `H36M_TO_J14` (pelvis subtracted first)."""
  pred17, gt17 = _check_array(pred17, "pred17"), _check_array(gt17, "gt17")
  for name, arr in (("pred17", pred17), ("gt17", gt17)):
    if arr.shape[-2] != skeleton.NUM_JOINTS:
      raise ValueError(f"{name} must have {skeleton.NUM_JOINTS} H36M joints, got shape {arr.shape}")
  return pa_mpjpe(skeleton.to_j14(pred17), skeleton.to_j14(gt17))


# --- breakdowns -----------------------------------------------------------------------------------

def per_joint_errors(pred, gt) -> np.ndarray:
  """Mean error of every joint over the samples, `[J]` float64 mm (no alignment)."""
  errors = joint_errors(pred, gt)
  return errors.reshape((-1, errors.shape[-1])).mean(axis=0)


def _native(label):
  """A group label as a plain Python value (numpy scalars unwrapped, bytes decoded)."""
  if isinstance(label, np.generic):
    label = label.item()
  if isinstance(label, bytes):
    label = label.decode("utf-8")
  return label


def _check_groups(groups, num_samples: int, leading_shape, name: str) -> np.ndarray:
  if groups is None:
    raise ValueError(f"{name} must be given")
  labels = np.asarray(groups)
  if labels.shape != tuple(leading_shape) and labels.shape != (num_samples,):
    raise ValueError(f"{name} must have one label per sample, i.e. shape {tuple(leading_shape)} "
                     f"or ({num_samples},), got {labels.shape}")
  return labels.reshape(-1)


def per_group(metric_fn: Callable, pred, gt, groups) -> Dict[Hashable, float]:
  """Applies `metric_fn(pred_g, gt_g)` to the samples of every group; returns {group: metric}
  sorted by group. `groups` holds one label per sample (e.g. the action of every frame)."""
  pred, gt = _check_pair(pred, gt)
  labels = _check_groups(groups, _flat(pred).shape[0], pred.shape[:-2], "groups")
  flat_pred, flat_gt = _flat(pred), _flat(gt)
  result = {}
  for label in sorted(set(labels.tolist()), key=lambda x: (str(type(x)), x)):
    index = np.flatnonzero(labels == label)
    result[_native(label)] = metric_fn(flat_pred[index], flat_gt[index])
  return result


def _summary(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
  return {"mpjpe": mpjpe(pred, gt), "pa_mpjpe": pa_mpjpe(pred, gt),
          "pck": pck(pred, gt), "auc": auc(pred, gt)}


def default_joint_names(num_joints: int) -> Sequence[str]:
  """H36M-17 or J14 names for 17 or 14 joints, else 'joint_<i>'."""
  if num_joints == skeleton.NUM_JOINTS:
    return skeleton.JOINT_NAMES
  if num_joints == len(skeleton.J14_NAMES):
    return skeleton.J14_NAMES
  return tuple(f"joint_{i}" for i in range(num_joints))


def evaluate_all(pred, gt, actions=None, joint_names: Optional[Sequence[str]] = None) -> dict:
  """Every metric at once, as a JSON-serializable dict:

  {"num_samples": int, "mpjpe": mm, "pa_mpjpe": mm, "pck": %, "auc": %, "n_mpjpe": mm,
   "procrustes_rotation_deg": degrees,
   "per_joint": {joint name: mean error mm},
   "per_action": {action: {"mpjpe", "pa_mpjpe", "pck", "auc"}}}  ({} when `actions` is None)

  `actions` holds one label per sample (strings, bytes or numbers; keys become strings).
  """
  pred, gt = _check_pair(pred, gt)
  flat_pred, flat_gt = _flat(pred), _flat(gt)
  num_joints = flat_pred.shape[1]
  if joint_names is None:
    joint_names = default_joint_names(num_joints)
  joint_names = [str(n) for n in joint_names]
  if len(joint_names) != num_joints:
    raise ValueError(f"joint_names has {len(joint_names)} names for {num_joints} joints")
  if len(set(joint_names)) != num_joints:
    raise ValueError(f"joint_names must be unique, got {joint_names}")
  results = {"num_samples": int(flat_pred.shape[0])}
  results.update(_summary(flat_pred, flat_gt))
  results["n_mpjpe"] = n_mpjpe(flat_pred, flat_gt)
  results["procrustes_rotation_deg"] = procrustes_rotation_deg(flat_pred, flat_gt)
  per_joint = per_joint_errors(flat_pred, flat_gt)
  results["per_joint"] = {name: float(e) for name, e in zip(joint_names, per_joint)}
  per_action = {}
  if actions is not None:
    labels = _check_groups(actions, flat_pred.shape[0], pred.shape[:-2], "actions")
    grouped = per_group(_summary, flat_pred, flat_gt, labels)
    for label, summary in grouped.items():
      key = str(label)
      if key in per_action:
        raise ValueError(f"actions: labels {label!r} collide as the string {key!r}")
      per_action[key] = summary
  results["per_action"] = per_action
  return results


# --- TensorFlow versions --------------------------------------------------------------------------

def _tf_pair(pred, gt):
  pred = tf.convert_to_tensor(pred)
  if not pred.dtype.is_floating:
    pred = tf.cast(pred, tf.float32)
  gt = tf.cast(tf.convert_to_tensor(gt), pred.dtype)
  if pred.shape.rank is not None and (pred.shape.rank < 2 or pred.shape[-1] not in (None, 3)):
    raise ValueError(f"pred must have shape [N, J, 3] (or [..., J, 3]), got {pred.shape}")
  if not pred.shape.is_compatible_with(gt.shape):
    raise ValueError(f"pred shape {pred.shape} does not match gt shape {gt.shape}")
  return pred, gt


def mpjpe_tf(pred, gt):
  """`mpjpe` as a scalar tensor (dtype of `pred`, float32 for integer input)."""
  pred, gt = _tf_pair(pred, gt)
  return tf.reduce_mean(tf.norm(pred - gt, axis=-1))


def procrustes_align_tf(pred, gt):
  """`procrustes_align` in TF, batched over every leading axis with `tf.linalg.svd`. Meant for
  evaluation inside graphs: SVD gradients are unstable for repeated singular values."""
  pred, gt = _tf_pair(pred, gt)
  mu_gt = tf.reduce_mean(gt, axis=-2, keepdims=True)
  mu_pred = tf.reduce_mean(pred, axis=-2, keepdims=True)
  x0 = gt - mu_gt
  y0 = pred - mu_pred
  norm_x = tf.sqrt(tf.reduce_sum(tf.square(x0), axis=[-2, -1], keepdims=True))
  norm_y = tf.sqrt(tf.reduce_sum(tf.square(y0), axis=[-2, -1], keepdims=True))
  x0 = tf.math.divide_no_nan(x0, norm_x)
  y0 = tf.math.divide_no_nan(y0, norm_y)
  h = tf.linalg.matmul(x0, y0, transpose_a=True)     # [..., 3, 3]
  s, u, v = tf.linalg.svd(h)                         # h = u diag(s) v^T
  rotation = tf.linalg.matmul(v, u, transpose_b=True)
  sign_det = tf.sign(tf.linalg.det(rotation))
  v = tf.concat([v[..., :2], v[..., 2:] * sign_det[..., tf.newaxis, tf.newaxis]], axis=-1)
  s = tf.concat([s[..., :2], s[..., 2:] * sign_det[..., tf.newaxis]], axis=-1)
  rotation = tf.linalg.matmul(v, u, transpose_b=True)
  trace = tf.reduce_sum(s, axis=-1)[..., tf.newaxis, tf.newaxis]
  scale = trace * tf.math.divide_no_nan(norm_x, norm_y)
  translation = mu_gt - scale * tf.linalg.matmul(mu_pred, rotation)
  return scale * tf.linalg.matmul(pred, rotation) + translation


def pa_mpjpe_tf(pred, gt):
  """`pa_mpjpe` as a scalar tensor; inputs `[..., J, 3]`, one alignment per leading index."""
  pred, gt = _tf_pair(pred, gt)
  aligned = procrustes_align_tf(pred, gt)
  return tf.reduce_mean(tf.norm(aligned - gt, axis=-1))
