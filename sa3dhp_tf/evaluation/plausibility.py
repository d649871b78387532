"""Is a pose a plausible human? Checks for decoded prior samples of the pose auto-encoder."""

import numpy as np

from sa3dhp_tf import skeleton

_BONE_INDEX = {child: i for i, (_, child) in enumerate(skeleton.BONES)}
# (parent joint, joint, child joint) triples whose interior angle must not close completely.
_HINGES = {"r_knee": (1, 2, 3), "l_knee": (4, 5, 6), "r_elbow": (14, 15, 16),
           "l_elbow": (11, 12, 13)}


def interior_angles(poses):
  """Interior angle in degrees at knees and elbows, `{name: [N]}` (180 = straight limb)."""
  poses = np.asarray(poses, np.float64)
  out = {}
  for name, (a, b, c) in _HINGES.items():
    u = poses[:, a] - poses[:, b]
    v = poses[:, c] - poses[:, b]
    cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-9)
    out[name] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
  return out


def plausibility_report(poses, reference_bone_lengths, symmetry_tolerance=0.15,
                        length_tolerance=0.35, min_hinge_angle=30.0):
  """Fractions of `poses` `[N, 17, 3]` that pass each check, and of those passing all:
  - symmetric: every left bone within `symmetry_tolerance` (relative) of its right twin;
  - lengths: every bone within `length_tolerance` (relative) of `reference_bone_lengths`;
  - hinges: knees and elbows not folded beyond `min_hinge_angle` degrees interior angle."""
  poses = np.asarray(poses, np.float64)
  lengths = skeleton.bone_lengths(poses)
  left = lengths[:, [_BONE_INDEX[l] for l, _ in skeleton.SYMMETRIC_BONES]]
  right = lengths[:, [_BONE_INDEX[r] for _, r in skeleton.SYMMETRIC_BONES]]
  symmetric = np.all(np.abs(left - right) <= symmetry_tolerance * np.maximum(left, right), axis=1)
  reference = np.asarray(reference_bone_lengths, np.float64)
  in_range = np.all(np.abs(lengths - reference) <= length_tolerance * reference, axis=1)
  angles = interior_angles(poses)
  hinges = np.all(np.stack([a >= min_hinge_angle for a in angles.values()], 1), axis=1)
  return {"num_samples": int(len(poses)),
          "symmetric_fraction": float(symmetric.mean()),
          "bone_length_fraction": float(in_range.mean()),
          "hinge_fraction": float(hinges.mean()),
          "plausible_fraction": float((symmetric & in_range & hinges).mean())}
