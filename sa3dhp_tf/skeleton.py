"""The Human3.6M 17-joint skeleton, in the order MMPose and VideoPose3D use.

All poses in the library are arrays `[..., 17, 3]` in millimetres. Camera-frame poses use the
OpenCV convention (x right, y down, z forward); world-frame mocap uses z up.
"""

import numpy as np

JOINT_NAMES = (
    "pelvis",       # 0
    "r_hip",        # 1
    "r_knee",       # 2
    "r_ankle",      # 3
    "l_hip",        # 4
    "l_knee",       # 5
    "l_ankle",      # 6
    "spine",        # 7
    "thorax",       # 8
    "neck_nose",    # 9
    "head",         # 10
    "l_shoulder",   # 11
    "l_elbow",      # 12
    "l_wrist",      # 13
    "r_shoulder",   # 14
    "r_elbow",      # 15
    "r_wrist",      # 16
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}
ROOT = 0

# Kinematic tree: parent of every joint (-1 for the root).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# Bones as (parent, child) pairs, one per non-root joint, in joint order.
BONES = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))

LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)
CENTRE_JOINTS = (0, 7, 8, 9, 10)

# Index i of the flipped pose takes joint FLIP_PERMUTATION[i] of the original.
FLIP_PERMUTATION = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)

# 3DPW / LSP 14-joint protocol as SPIN's H36M_TO_J14: H36M-17 without pelvis (0), spine (7)
# and neck/nose (9). Order: r_ankle, r_knee, r_hip, l_hip, l_knee, l_ankle, r_wrist, r_elbow,
# r_shoulder, l_shoulder, l_elbow, l_wrist, neck (thorax), head (top).
H36M_TO_J14 = (3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10)
J14_NAMES = tuple(JOINT_NAMES[i] for i in H36M_TO_J14)

# Symmetric bone pairs (left bone child, right bone child), for plausibility checks.
SYMMETRIC_BONES = ((4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16))


def _check_pose_shape(poses: np.ndarray, name: str = "poses") -> np.ndarray:
  poses = np.asarray(poses)
  if poses.ndim < 2 or poses.shape[-2:] != (NUM_JOINTS, 3):
    raise ValueError(f"{name} must have shape [..., {NUM_JOINTS}, 3], got {poses.shape}")
  return poses


def root_relative(poses: np.ndarray) -> np.ndarray:
  """Subtracts the pelvis from every joint."""
  poses = _check_pose_shape(poses)
  return poses - poses[..., ROOT:ROOT + 1, :]


def bone_lengths(poses: np.ndarray) -> np.ndarray:
  """Length of every bone, `[..., 16]`, in the order of `BONES`."""
  poses = _check_pose_shape(poses)
  parents = np.array([p for p, _ in BONES])
  children = np.array([c for _, c in BONES])
  return np.linalg.norm(poses[..., children, :] - poses[..., parents, :], axis=-1)


def to_j14(poses: np.ndarray) -> np.ndarray:
  """Maps H36M-17 poses to the 14-joint 3DPW protocol; pelvis subtracted first (as SPIN)."""
  return root_relative(poses)[..., list(H36M_TO_J14), :]


def _check_tables():
  # Cheap import-time invariants: a wrong table here silently corrupts every relation.
  assert len(PARENTS) == NUM_JOINTS and len(FLIP_PERMUTATION) == NUM_JOINTS
  assert sorted(FLIP_PERMUTATION) == list(range(NUM_JOINTS))
  for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS):
    assert FLIP_PERMUTATION[left] == right and FLIP_PERMUTATION[right] == left
    assert JOINT_NAMES[left][2:] == JOINT_NAMES[right][2:]


_check_tables()
