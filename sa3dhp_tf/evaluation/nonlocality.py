"""How non-local is a relation? The latent distance of paper section 3.3.3 and Figure 4.

For a pose relation r (z*), `d^z_r = mean ||E_p(y) - E_p(T^y_r(y))||_2` over mocap poses y; for a
motion relation (v*), `d^v_r = mean ||E_m(E_p(A)) - E_m(E_p(C))||_2` over raw 60-frame mocap
windows, where (A, C) = `relation.pose_pair(window)` (anchor and counterpart 30-frame clips, E_p
applied per frame). The larger d, the more diverse the samples the relation couples; the paper
keeps the most non-local ones (1 pose + 2 motion relations, Fig. 4), which
`select_most_nonlocal` / `auto_relations` do automatically.

The latent pairs come from `relation_nets.LatentPairs`, i.e. exactly the pairs the relation
networks are trained on. Selection reads only the unlabeled mocap split (never target labels):

  keys = nonlocality.auto_relations(pose_aae_dir, motion_aae_dir)   # e.g. ['z3', 'v2', 'v3']
"""

import numpy as np
import tensorflow as tf

from sa3dhp_tf import errors
from sa3dhp_tf import relations
from sa3dhp_tf import skeleton
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.tasks import motion_aae
from sa3dhp_tf.tasks import relation_nets

MOCAP_SPLIT = "mocap"
DEFAULT_NUM_POSES = 2048
DEFAULT_NUM_WINDOWS = 256
_SPACES = (relations.POSE, relations.MOTION)


class NonlocalityError(errors.UserError):
  """A measurement or selection that the given inputs cannot support (too few mocap samples,
  more relations asked for than measured, no data dir); the message says which."""


# --- latent pairs and distances -------------------------------------------------------------------

def _check_samples(samples, what, shape_tail):
  if samples is None:
    raise ValueError(f"{what} are needed for the requested relations but none were given")
  samples = np.asarray(samples, np.float32)
  if samples.ndim != len(shape_tail) + 1 or tuple(samples.shape[1:]) != shape_tail:
    raise ValueError(f"{what} must have shape [N, {', '.join(map(str, shape_tail))}], "
                     f"got {list(samples.shape)}")
  if not len(samples):
    raise ValueError(f"{what}: no samples given")
  if not np.all(np.isfinite(samples)):
    raise ValueError(f"{what} hold non-finite values")
  return samples


def relation_codes(pose_ae, motion_ae, pose_samples, window_samples, relation_keys=None,
                   theta=relations.DEFAULT_THETA, batch_size=256):
  """Latent (anchor, counterpart) pairs per relation: `{key: (anchors [N, D], counterparts
  [N, D])}` as numpy, D = latent_dim (z, pose relations) or motion_dim (v, motion relations).

  `pose_samples`: root-relative camera-frame poses `[N, 17, 3]` (mm), used by pose relations;
  `window_samples`: raw windows `[M, 60, 17, 3]`, used by motion relations. `relation_keys`:
  default every registered relation; a sample set (and `motion_ae`) is only needed by the
  relations that use it."""
  keys = list(relations.relation_keys() if relation_keys is None else relation_keys)
  chosen = [relations.get_relation(k) for k in keys]
  if any(r.space == relations.POSE for r in chosen):
    pose_samples = _check_samples(pose_samples, "pose_samples", (skeleton.NUM_JOINTS, 3))
  if any(r.space == relations.MOTION for r in chosen):
    window_samples = _check_samples(window_samples, "window_samples",
                                    (windows.WINDOW_LENGTH, skeleton.NUM_JOINTS, 3))
    if motion_ae is None:
      raise ValueError(f"motion relations {[r.key for r in chosen if r.space == relations.MOTION]}"
                       " need a motion auto-encoder (motion_ae is None)")
    if motion_ae.sequence_length != windows.CLIP_LENGTH:
      raise ValueError(f"the motion auto-encoder takes {motion_ae.sequence_length}-frame "
                       f"sequences; motion relations pair {windows.CLIP_LENGTH}-frame clips")
    if motion_ae.latent_dim != pose_ae.latent_dim:
      raise ValueError(f"motion auto-encoder latent_dim {motion_ae.latent_dim} != pose "
                       f"auto-encoder latent_dim {pose_ae.latent_dim}")
  codes = {}
  for relation in chosen:
    pairs = relation_nets.LatentPairs(relation, pose_ae, motion_ae, float(theta))
    samples = pose_samples if relation.space == relations.POSE else window_samples
    anchors, counterparts = [], []
    for start in range(0, len(samples), batch_size):
      a, c = pairs(tf.constant(samples[start:start + batch_size]))
      anchors.append(np.asarray(a))
      counterparts.append(np.asarray(c))
    codes[relation.key] = (np.concatenate(anchors), np.concatenate(counterparts))
  return codes


def distances_from_codes(codes):
  """`{key: (anchors, counterparts)}` -> `{key: {"space", "name", "latent_distance", "std",
  "num_samples"}}`: mean and (population) std over samples of the per-sample L2 distance."""
  out = {}
  for key, (anchors, counterparts) in codes.items():
    relation = relations.get_relation(key)
    d = np.linalg.norm(np.asarray(anchors, np.float64) - np.asarray(counterparts, np.float64),
                       axis=-1)
    out[key] = {"space": relation.space, "name": relation.name,
                "latent_distance": float(np.mean(d)), "std": float(np.std(d)),
                "num_samples": int(d.shape[0])}
  return out


def latent_distances(pose_ae, motion_ae, pose_samples, window_samples, relation_keys=None,
                     theta=relations.DEFAULT_THETA, batch_size=256):
  """Latent distance of each relation (paper Fig. 4A/B): `{key: {"space", "name",
  "latent_distance", "std", "num_samples"}}`; d^z through E_p for pose relations, d^v through
  E_m o E_p (per frame) for motion relations. Arguments as `relation_codes`."""
  return distances_from_codes(relation_codes(pose_ae, motion_ae, pose_samples, window_samples,
                                             relation_keys, theta, batch_size))


# --- selection ------------------------------------------------------------------------------------

def select_most_nonlocal(distances, k, space=None, per_space=False):
  """Keys of the `k` most non-local relations of `distances` (as `latent_distances` returns),
  by decreasing latent distance, ties broken by key.

  - default: the k largest over all relations;
  - `space='pose'` or `'motion'`: the k largest of that space only;
  - `per_space=True`: the k largest of each space, pose block first, then motion (each block by
    decreasing distance); a space absent from `distances` contributes nothing.
  Raises ValueError when fewer than k candidates exist (in a space, with `per_space`)."""
  k = int(k)
  if k < 0:
    raise ValueError(f"k must be >= 0, got {k}")
  if space is not None and per_space:
    raise ValueError("give either space or per_space=True, not both")
  if space is not None and space not in _SPACES:
    raise ValueError(f"space must be one of {_SPACES}, got {space!r}")

  def top(candidates, where):
    if k > len(candidates):
      raise NonlocalityError(f"asked for the {k} most non-local {where}relations but only "
                       f"{len(candidates)} were measured: {sorted(candidates)}")
    ranked = sorted(candidates, key=lambda key: (-distances[key]["latent_distance"], key))
    return ranked[:k]

  if per_space:
    selected = []
    for sp in _SPACES:
      candidates = [key for key, d in distances.items() if d["space"] == sp]
      if candidates:
        selected += top(candidates, f"{sp} ")
    return selected
  candidates = [key for key, d in distances.items() if space is None or d["space"] == space]
  return top(candidates, f"{space} " if space else "")


def select_relations(distances, k_pose=1, k_motion=2):
  """The paper's recipe: the `k_pose` most non-local pose relations, then the `k_motion` most
  non-local motion relations (each block by decreasing distance)."""
  return (select_most_nonlocal(distances, k_pose, space=relations.POSE)
          + select_most_nonlocal(distances, k_motion, space=relations.MOTION))


# --- PCA of motion embeddings (Fig. 4C) -----------------------------------------------------------

def pca(points, num_components=2):
  """PCA by SVD of the centred data. Returns (mean [D], components [C, D] (orthonormal rows,
  each signed so that its largest-magnitude entry is positive), explained_variance_ratio [C])."""
  points = np.asarray(points, np.float64)
  if points.ndim != 2 or len(points) < 2:
    raise ValueError(f"PCA needs at least 2 points [N, D], got shape {list(points.shape)}")
  if not 1 <= num_components <= min(points.shape):
    raise ValueError(f"num_components must be in [1, {min(points.shape)}], got {num_components}")
  mean = points.mean(axis=0)
  _, singular, vt = np.linalg.svd(points - mean, full_matrices=False)
  components = vt[:num_components]
  signs = np.sign(components[np.arange(num_components), np.argmax(np.abs(components), axis=1)])
  components = components * np.where(signs == 0, 1.0, signs)[:, None]
  variance = singular ** 2
  total = variance.sum()
  ratio = variance[:num_components] / total if total > 0 else np.zeros(num_components)
  return mean, components, ratio


def motion_embedding_pca(codes, relation_keys=None, num_components=2):
  """2D (by default) PCA of motion embeddings v, fitted on the anchors and counterparts of every
  motion relation in `codes` (as `relation_codes` returns). Returns `{"keys", "mean",
  "components", "explained_variance_ratio", "anchors": {key: [M, C]}, "counterparts": {key:
  [M, C]}}`. Anchors differ per relation: the middle clip for v1/v2, the fast clip raw[::2] for
  v3 (see `Relation.anchor_frames`)."""
  keys = [k for k in (codes if relation_keys is None else relation_keys)
          if relations.get_relation(k).space == relations.MOTION]
  missing = [k for k in keys if k not in codes]
  if missing or not keys:
    raise ValueError(f"motion embedding PCA needs codes of motion relations; missing: "
                     f"{missing or 'all (no motion relation given)'}")
  stacked = np.concatenate([np.concatenate(codes[k]) for k in keys])
  mean, components, ratio = pca(stacked, num_components)
  project = lambda x: (np.asarray(x, np.float64) - mean) @ components.T
  return {"keys": keys, "mean": mean, "components": components,
          "explained_variance_ratio": ratio,
          "anchors": {k: project(codes[k][0]) for k in keys},
          "counterparts": {k: project(codes[k][1]) for k in keys}}


# --- from finished stages and the mocap split -----------------------------------------------------

def load_autoencoders(pose_aae_dir, motion_aae_dir):
  """Frozen (pose_ae, motion_ae, pose stage info) of two finished stages; raises
  `stage_io.StageError` naming the dir when one is missing or incompatible."""
  pose_ae, pose_info = motion_aae.load_pose_autoencoder(pose_aae_dir)
  motion_ae, _ = relation_nets.load_motion_autoencoder(motion_aae_dir, pose_ae.latent_dim)
  return pose_ae, motion_ae, pose_info


def _take(dataset, count, what, data_dir):
  batches, have = [], 0
  for batch in dataset:
    batches.append(batch.numpy())
    have += len(batches[-1])
    if have >= count:
      break
  if have < count:
    raise NonlocalityError(f"the {MOCAP_SPLIT} split in {data_dir} yields {have} {what}, "
                     f"fewer than the {count} asked for")
  return np.concatenate(batches)[:count].astype(np.float32)


def sample_mocap(data_dir, num_poses=DEFAULT_NUM_POSES, num_windows=DEFAULT_NUM_WINDOWS, seed=0,
                 batch_size=256, shuffle_buffer=None):
  """Reproducible samples of the unlabeled mocap split, under random virtual views as the
  relation networks see them (`pipelines.mocap_poses` / `mocap_windows`): poses `[num_poses, 17,
  3]` and raw windows `[num_windows, 60, 17, 3]` (root-relative camera frame, mm). Either count
  may be 0 (then that array is None). `shuffle_buffer`: default each pipeline's own; a smaller
  one starts faster but draws from fewer sequences.

  As every seeded TF op, the draws depend on `seed` AND on TF's global seed: runs that must agree
  call `reproducibility.seed_everything(s)` first, as the stages and tools/latent_distance.py do."""
  paths = records.shard_paths(data_dir, MOCAP_SPLIT)
  poses = window_samples = None
  shuffle = {} if shuffle_buffer is None else {"shuffle_buffer": int(shuffle_buffer)}
  with records.explain_data_errors(paths, "mocap"):
    if num_poses:
      poses = _take(pipelines.mocap_poses(paths, min(batch_size, num_poses), seed=seed,
                                          repeat=True, **shuffle),
                    num_poses, "poses", data_dir)
    if num_windows:
      window_samples = _take(
          pipelines.mocap_windows(paths, min(batch_size, num_windows),
                                  window_length=windows.WINDOW_LENGTH, strides=(1,), seed=seed,
                                  repeat=True, **shuffle),
          num_windows, f"{windows.WINDOW_LENGTH}-frame windows", data_dir)
  return poses, window_samples


def measure_nonlocality(pose_aae_dir, motion_aae_dir, data_dir=None, theta=relations.DEFAULT_THETA,
                        num_poses=DEFAULT_NUM_POSES, num_windows=DEFAULT_NUM_WINDOWS, seed=0,
                        relation_keys=None, shuffle_buffer=None):
  """Loads the two stages, samples the mocap split of `data_dir` (default: the pose stage's
  data dir) and measures every relation (or those of `relation_keys`). Returns `{"distances",
  "codes" (as `relation_codes`), "pose_samples", "window_samples" (as `sample_mocap`),
  "data_dir", "theta", "num_pose_samples", "num_window_samples", "seed"}`."""
  pose_ae, motion_ae, pose_info = load_autoencoders(pose_aae_dir, motion_aae_dir)
  data_dir = data_dir or pose_info["settings"].get("data_dir")
  if not data_dir:
    raise NonlocalityError(f"{pose_aae_dir} records no data_dir; pass one")
  keys = list(relations.relation_keys() if relation_keys is None else relation_keys)
  spaces = {relations.get_relation(k).space for k in keys}
  poses, window_samples = sample_mocap(
      data_dir, num_poses if relations.POSE in spaces else 0,
      num_windows if relations.MOTION in spaces else 0, seed, shuffle_buffer=shuffle_buffer)
  codes = relation_codes(pose_ae, motion_ae, poses, window_samples, keys, theta)
  return {"distances": distances_from_codes(codes), "codes": codes, "pose_samples": poses,
          "window_samples": window_samples, "data_dir": data_dir,
          "theta": float(theta), "seed": int(seed),
          "num_pose_samples": 0 if poses is None else int(len(poses)),
          "num_window_samples": 0 if window_samples is None else int(len(window_samples))}


def auto_relations(pose_aae_dir, motion_aae_dir, data_dir=None, k_pose=1, k_motion=2,
                   theta=relations.DEFAULT_THETA, num_poses=DEFAULT_NUM_POSES,
                   num_windows=DEFAULT_NUM_WINDOWS, seed=0, shuffle_buffer=None):
  """The relation keys to adapt with, chosen by non-localness on the mocap split (no target
  labels): the `k_pose` most non-local pose relations, then the `k_motion` most non-local motion
  relations, e.g. `['z3', 'v2', 'v3']`. Deterministic for a given `seed` and TF global seed
  (see `sample_mocap`)."""
  result = measure_nonlocality(pose_aae_dir, motion_aae_dir, data_dir, theta, num_poses,
                               num_windows, seed, shuffle_buffer=shuffle_buffer)
  return select_relations(result["distances"], k_pose, k_motion)
