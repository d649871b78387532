"""The body as 3D primitives built from an H36M-17 camera-frame pose: limb capsules, hands, feet,
neck, head (hair, face, nose), chest mark, and the torso as two convex hulls of spheres."""

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.render import appearance as appearance_lib
from sa3dhp_tf.data.render import vectors


_JOINT = skeleton.JOINT_INDEX
# Limb capsules between joints: (part, radius kind, proximal joint, distal joint).
LIMBS = (
    ("upper_leg_r", "upper_leg", "r_hip", "r_knee"),
    ("lower_leg_r", "lower_leg", "r_knee", "r_ankle"),
    ("upper_leg_l", "upper_leg", "l_hip", "l_knee"),
    ("lower_leg_l", "lower_leg", "l_knee", "l_ankle"),
    ("upper_arm_l", "upper_arm", "l_shoulder", "l_elbow"),
    ("lower_arm_l", "lower_arm", "l_elbow", "l_wrist"),
    ("upper_arm_r", "upper_arm", "r_shoulder", "r_elbow"),
    ("lower_arm_r", "lower_arm", "r_elbow", "r_wrist"),
)
_LIMB_START = np.array([_JOINT[a] for _, _, a, _ in LIMBS])
_LIMB_END = np.array([_JOINT[b] for _, _, _, b in LIMBS])
# Every primitive except the torso, in a fixed order (limbs first).
PRIMITIVES = tuple(p for p, _, _, _ in LIMBS) + (
    "neck", "hand_l", "hand_r", "foot_l", "foot_r", "hair", "face", "nose", "chest_mark")
PRIMITIVE_PART = np.array([appearance_lib.PART_INDEX[p] for p in PRIMITIVES])
NUM_PRIMITIVES = len(PRIMITIVES)
TORSO_INDEX = NUM_PRIMITIVES   # index of the torso in the depth sort
# Torso spheres at joints: (joint, radius kind); the waist sphere is added between pelvis and spine.
_PELVIS_SPHERES = (("pelvis", "pelvis"), ("r_hip", "hip"), ("l_hip", "hip"))
_CHEST_SPHERES = (("spine", "spine"), ("thorax", "thorax"), ("l_shoulder", "shoulder"),
                  ("r_shoulder", "shoulder"))
_PELVIS_JOINTS = np.array([_JOINT[j] for j, _ in _PELVIS_SPHERES])
_CHEST_JOINTS = np.array([_JOINT[j] for j, _ in _CHEST_SPHERES])
_WAIST_FRACTION = 0.5   # waist (shirt hem) position between pelvis and spine joints


def body_geometry(pose, appearance: appearance_lib.Appearance):
  """3D primitives of the body: (start [N, 3], end [N, 3], start_radius [N], end_radius [N])
  of the capsules `PRIMITIVES` (a sphere has start == end) and the torso regions
  [(sphere centres [M, 3], radii [M], part index)] drawn in that order."""
  radii = appearance.radii
  pelvis, thorax = pose[_JOINT["pelvis"]], pose[_JOINT["thorax"]]
  across = ((pose[_JOINT["l_hip"]] - pose[_JOINT["r_hip"]]) +
            (pose[_JOINT["l_shoulder"]] - pose[_JOINT["r_shoulder"]]))
  up = vectors.normalize(thorax - pelvis, np.array([0.0, -1.0, 0.0]))
  facing = vectors.normalize(vectors.cross(across, up), np.array([0.0, 0.0, -1.0]))
  # Head: centre below the head-top joint; face direction from the nose's offset from the
  # thorax->head axis, leaning on the torso's facing direction when the nose is on that axis.
  head_radius = appearance.head_radius
  head_up = vectors.normalize(pose[_JOINT["head"]] - thorax, up)
  nose_offset = pose[_JOINT["neck_nose"]] - thorax
  nose_offset = nose_offset - (nose_offset @ head_up) * head_up
  head_facing = vectors.normalize(nose_offset + 60.0 * facing, facing)
  centre = pose[_JOINT["head"]] - 0.75 * head_radius * head_up
  hair = centre - 0.2 * head_radius * head_facing + 0.1 * head_radius * head_up
  face = centre + 0.15 * head_radius * head_facing - 0.08 * head_radius * head_up
  nose_r = appearance.nose_radius * head_radius
  nose = centre + (1.0 + appearance.nose_protrusion) * head_radius * head_facing \
      - nose_r * head_facing - 0.12 * head_radius * head_up

  start = np.empty((NUM_PRIMITIVES, 3))
  end = np.empty((NUM_PRIMITIVES, 3))
  start_radius = np.empty(NUM_PRIMITIVES)
  end_radius = np.empty(NUM_PRIMITIVES)
  n = len(LIMBS)
  start[:n], end[:n] = pose[_LIMB_START], pose[_LIMB_END]
  for i, (_, kind, _, _) in enumerate(LIMBS):
    start_radius[i], end_radius[i] = radii[kind]
  i = n
  start[i], end[i] = thorax, centre - 0.5 * head_radius * head_up     # neck
  start_radius[i], end_radius[i] = radii["neck"]
  for side in ("l", "r"):                                          # hands
    i += 1
    wrist, elbow = pose[_JOINT[f"{side}_wrist"]], pose[_JOINT[f"{side}_elbow"]]
    start[i] = end[i] = (wrist +
                         0.4 * appearance.hand_length * vectors.normalize(wrist - elbow, up))
    start_radius[i] = end_radius[i] = radii["hand"]
  for side in ("l", "r"):                                          # feet, pointing forward
    i += 1
    ankle, knee = pose[_JOINT[f"{side}_ankle"]], pose[_JOINT[f"{side}_knee"]]
    shin = vectors.normalize(ankle - knee, -up)
    forward = vectors.normalize(facing - (facing @ shin) * shin, facing)
    start[i] = ankle - 0.15 * appearance.foot_length * forward
    end[i] = ankle + 0.85 * appearance.foot_length * forward + 0.5 * radii["foot"] * shin
    start_radius[i] = radii["foot"]
    end_radius[i] = 0.85 * radii["foot"]
  for point, radius in ((hair, 0.9 * head_radius), (face, 0.85 * head_radius), (nose, nose_r)):
    i += 1
    start[i] = end[i] = point
    start_radius[i] = end_radius[i] = radius
  i += 1                                                           # chest mark
  chest = pose[_JOINT["spine"]] + 0.6 * (thorax - pose[_JOINT["spine"]])
  start[i] = end[i] = chest + 0.8 * radii["spine"] * facing
  start_radius[i] = end_radius[i] = appearance.chest_mark_radius
  waist = pelvis + _WAIST_FRACTION * (pose[_JOINT["spine"]] - pelvis)
  pelvis_region = (np.concatenate([pose[_PELVIS_JOINTS], waist[None]]),
                   np.array([radii[k] for _, k in _PELVIS_SPHERES] + [radii["pelvis"]]),
                   appearance_lib.PART_INDEX["pelvis"])
  chest_region = (np.concatenate([pose[_CHEST_JOINTS], waist[None]]),
                  np.array([radii[k] for _, k in _CHEST_SPHERES] + [0.92 * radii["spine"]]),
                  appearance_lib.PART_INDEX["torso"])
  return start, end, start_radius, end_radius, (pelvis_region, chest_region)
