"""One pelvis for every motion source: the midpoint of the hip joints (issue 10, item 5).

CMU's ASF root (and the 'Hips' joint of its BVH conversions) sits above and behind the hip
joints; a skeleton built that way here must still give pelvis == hip midpoint, and the offset
the old root-as-pelvis mapping would have had is checked to be what the geometry says.
"""

import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import asf_amc, bvh, kinematics, procedural

import test_motion_asf_amc as asf_fixtures
import test_motion_bvh as bvh_fixtures

J = skeleton.JOINT_INDEX
# CMU-like hip joints: 1.6 units down, 0.8 units back (file -z) and 1.2 units sideways from the
# root, i.e. the root is about 90 mm above and 45 mm in front of the hip midpoint.
HIP = np.array([1.2, -1.6, -0.8])


def _midpoint_error(poses):
  poses = np.asarray(poses, np.float64)
  mid = 0.5 * (poses[:, J["l_hip"]] + poses[:, J["r_hip"]])
  return np.abs(poses[:, J["pelvis"]] - mid).max()


def test_asf_pelvis_is_hip_midpoint_not_root(tmp_path):
  bones = list(asf_fixtures.BONES)
  for k, bone in enumerate(bones):
    if bone[0] in ("lhipjoint", "rhipjoint"):
      sign = 1.0 if bone[0] == "lhipjoint" else -1.0
      offset = HIP * [sign, 1, 1]
      bones[k] = (bone[0], tuple(offset / np.linalg.norm(offset)), float(np.linalg.norm(offset)),
                  bone[3], bone[4])
  asf = tmp_path / "cmu_like.asf"
  amc = tmp_path / "cmu_like.amc"
  asf.write_text(asf_fixtures.asf_text(bones))
  amc.write_text(asf_fixtures.amc_text(asf_fixtures.frames(), bones))
  clip = asf_amc.read_asf_amc(asf, amc, target_fps=None)
  assert _midpoint_error(clip.poses) < 1e-3
  # Rest frame: root at (0, 17, 0) file units; the pelvis is the root plus the mean hip offset.
  expected = asf_fixtures.z_up(np.array([0, 17, 0]) + HIP * [0, 1, 1]) * clip.mm_per_unit
  np.testing.assert_allclose(clip.poses[0, J["pelvis"]], expected, atol=1e-2)
  old_root_offset = np.linalg.norm(HIP[1:]) * clip.mm_per_unit
  assert 95 < old_root_offset < 105   # what the old root-as-pelvis mapping got wrong, in mm


@pytest.mark.parametrize("joints", ["cmu", "lafan1"])
def test_bvh_pelvis_is_hip_midpoint_not_hips_joint(tmp_path, joints):
  table = bvh_fixtures.CMU_JOINTS if joints == "cmu" else bvh_fixtures.LAFAN_JOINTS
  frames = bvh_fixtures.cmu_frames() if joints == "cmu" else [{}]
  path = bvh_fixtures.write_bvh(tmp_path / f"{joints}.bvh", table, frames, 1.0 / 30,
                                all_positions=joints == "lafan1")
  clip = bvh.read_bvh(path)
  assert clip.convention == joints
  assert _midpoint_error(clip.poses) < 1e-3
  assert clip.joint_map["pelvis"] == "lerp(LeftUpLeg, RightUpLeg, 0.5)"


def test_procedural_pelvis_is_hip_midpoint():
  rng = np.random.default_rng(0)
  subject = procedural.sample_subject(rng)
  for action in procedural.ACTIONS[:3]:
    poses = procedural.generate_sequence(rng, action, subject, 20)
    assert _midpoint_error(poses) < 1e-3, action


def test_pelvis_at_hip_midpoint_helper():
  poses = np.random.default_rng(1).normal(size=(4, 17, 3))
  fixed = kinematics.pelvis_at_hip_midpoint(poses)
  np.testing.assert_allclose(fixed[:, 0], (poses[:, 1] + poses[:, 4]) / 2)
  np.testing.assert_array_equal(fixed[:, 1:], poses[:, 1:])
  assert _midpoint_error(fixed) < 1e-12
