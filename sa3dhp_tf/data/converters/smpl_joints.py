"""SMPL's 24 joints (SURREAL, 3DPW) -> H36M-17: an approximation, documented here once.

SMPL joints: 0 pelvis, 1 l_hip, 2 r_hip, 3 spine1, 4 l_knee, 5 r_knee, 6 spine2, 7 l_ankle,
8 r_ankle, 9 spine3, 10 l_foot, 11 r_foot, 12 neck, 13 l_collar, 14 r_collar, 15 head,
16 l_shoulder, 17 r_shoulder, 18 l_elbow, 19 r_elbow, 20 l_wrist, 21 r_wrist, 22 l_hand,
23 r_hand.

Mapping: pelvis = midpoint of the SMPL hips (kinematics.PELVIS_DEFINITION; SMPL's own pelvis
joint sits above them), hips/knees/ankles/shoulders/elbows/wrists = the SMPL joints of the same
name, spine = spine2 (6, mid-back), thorax = neck (12, base of the neck), neck_nose = head (15,
the skull's base/centre), head = head + (head - neck) (no SMPL joint at the top of the head).
These are joint-regressor positions, not the H36M marker-based ones: SMPL's hips sit wider and
higher inside the pelvis, its shoulders lower; SPIN-style 3DPW numbers regress H36M joints from
the SMPL mesh instead, which needs the mesh (not in the 3DPW pickles' joint arrays). The
14-joint 3DPW protocol (skeleton.H36M_TO_J14) uses thorax and head, both approximated here.
"""

import numpy as np

from sa3dhp_tf.data.motion import kinematics

SMPL_TO_H36M = {
    "r_hip": 2, "r_knee": 5, "r_ankle": 8, "l_hip": 1, "l_knee": 4, "l_ankle": 7, "spine": 6,
    "thorax": 12, "neck_nose": 15, "l_shoulder": 16, "l_elbow": 18, "l_wrist": 20,
    "r_shoulder": 17, "r_elbow": 19, "r_wrist": 21,
}


def smpl24_to_h36m17(joints) -> np.ndarray:
  """`[..., 24, 3]` SMPL joints -> `[..., 17, 3]` H36M-17 (see the module docstring)."""
  from sa3dhp_tf import skeleton
  joints = np.asarray(joints, np.float64)
  if joints.shape[-2:] != (24, 3):
    raise ValueError(f"SMPL joints must be [..., 24, 3], got {joints.shape}")
  out = np.zeros(joints.shape[:-2] + (17, 3))
  for name, index in SMPL_TO_H36M.items():
    out[..., skeleton.JOINT_INDEX[name], :] = joints[..., index, :]
  out[..., skeleton.JOINT_INDEX["head"], :] = 2.0 * joints[..., 15, :] - joints[..., 12, :]
  return kinematics.pelvis_at_hip_midpoint(out)
