"""Skeleton tables and helpers: H36M-17 order, flip permutation, 14-joint protocol, camera views."""

import numpy as np
import pytest

import conftest
from sa3dhp_tf import skeleton
from sa3dhp_tf.geometry import camera

# SPIN's constants.H36M_TO_J14, written out here rather than imported from the module under test.
SPIN_H36M_TO_J14 = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]


def test_joint_order_is_the_mmpose_videopose3d_h36m_order():
  assert skeleton.JOINT_NAMES == (
      "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
      "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")
  assert skeleton.NUM_JOINTS == 17 and skeleton.ROOT == 0


def test_parents_form_a_tree_rooted_at_the_pelvis():
  assert skeleton.PARENTS[0] == -1
  for child, parent in enumerate(skeleton.PARENTS[1:], start=1):
    assert 0 <= parent < child
  assert len(skeleton.BONES) == 16
  assert {c for _, c in skeleton.BONES} == set(range(1, 17))


def test_flip_permutation_maps_every_left_joint_to_its_right_twin():
  perm = skeleton.FLIP_PERMUTATION
  names = skeleton.JOINT_NAMES
  assert list(perm) == [0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]
  for i, name in enumerate(names):
    if name.startswith("l_"):
      assert names[perm[i]] == "r_" + name[2:]
    elif name.startswith("r_"):
      assert names[perm[i]] == "l_" + name[2:]
    else:
      assert perm[i] == i
  # An involution: applying it twice gives the identity.
  assert [perm[perm[i]] for i in range(17)] == list(range(17))


def test_left_right_tables_are_consistent_with_names():
  assert all(skeleton.JOINT_NAMES[j].startswith("l_") for j in skeleton.LEFT_JOINTS)
  assert all(skeleton.JOINT_NAMES[j].startswith("r_") for j in skeleton.RIGHT_JOINTS)
  assert sorted(skeleton.LEFT_JOINTS + skeleton.RIGHT_JOINTS + skeleton.CENTRE_JOINTS) == \
      list(range(17))
  for left, right in skeleton.SYMMETRIC_BONES:
    assert skeleton.JOINT_NAMES[left][2:] == skeleton.JOINT_NAMES[right][2:]


def test_to_j14_is_spin_order_with_pelvis_subtracted_first():
  rng = np.random.default_rng(0)
  poses = rng.normal(0, 300, (4, 5, 17, 3)) + np.array([100.0, -50.0, 4000.0])
  expected = (poses - poses[..., 0:1, :])[..., SPIN_H36M_TO_J14, :]
  assert list(skeleton.H36M_TO_J14) == SPIN_H36M_TO_J14
  np.testing.assert_array_equal(skeleton.to_j14(poses), expected)
  # The joints left out are exactly the pelvis, spine and neck/nose.
  assert set(range(17)) - set(skeleton.H36M_TO_J14) == {0, 7, 9}
  assert skeleton.J14_NAMES[0] == "r_ankle" and skeleton.J14_NAMES[-1] == "head"


def test_root_relative_and_bone_lengths():
  pose = conftest.world_pose(1)
  rel = skeleton.root_relative(pose)
  np.testing.assert_array_equal(rel[0], 0.0)
  np.testing.assert_allclose(rel[5], pose[5] - pose[0])
  lengths = skeleton.bone_lengths(np.stack([pose, pose + 7.0]))
  assert lengths.shape == (2, 16)
  np.testing.assert_allclose(lengths[0], lengths[1])
  # Bone of the right knee (child 2, parent 1), by hand.
  np.testing.assert_allclose(lengths[0, 1], np.linalg.norm(pose[2] - pose[1]))


@pytest.mark.parametrize("shape", [(17,), (16, 3), (2, 17, 2)])
def test_pose_helpers_refuse_bad_shapes(shape):
  with pytest.raises(ValueError, match="poses must have shape"):
    skeleton.root_relative(np.zeros(shape))


def test_look_at_rotation_is_proper_and_aims_at_the_target():
  intrinsics = camera.Intrinsics.centred(500.0, 128, 96)
  rng = np.random.default_rng(2)
  target = np.array([300.0, -200.0, 900.0])
  for _ in range(20):
    az, el, roll = rng.uniform(-180, 180), rng.uniform(-30, 40), rng.uniform(-45, 45)
    rotation = camera.look_at_rotation(az, el, roll)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-12)
    cam = camera.world_to_camera(target, rotation, target, 4000.0)
    np.testing.assert_allclose(cam, [0.0, 0.0, 4000.0], atol=1e-9)
    np.testing.assert_allclose(camera.project(cam, intrinsics),
                               [intrinsics.cx, intrinsics.cy], atol=1e-9)


def test_look_at_camera_without_roll_keeps_world_up_pointing_up_in_the_image():
  intrinsics = camera.Intrinsics.centred(500.0, 128, 96)
  target = np.zeros(3)
  for az in (-120.0, 0.0, 75.0):
    for el in (-10.0, 0.0, 25.0):
      rotation = camera.look_at_rotation(az, el, 0.0)
      above = camera.world_to_camera(target + [0, 0, 500.0], rotation, target, 4000.0)
      uv = camera.project(above, intrinsics)
      assert uv[1] < intrinsics.cy - 10          # y down: higher in the world = smaller v
      assert uv[0] == pytest.approx(intrinsics.cx, abs=1e-9)
  # Positive elevation looks down: the camera centre lies above the target.
  rotation = camera.look_at_rotation(30.0, 20.0, 0.0)
  centre_world = target - 4000.0 * rotation[2]
  assert centre_world[2] == pytest.approx(4000.0 * np.sin(np.deg2rad(20.0)))


def test_project_refuses_points_behind_the_camera():
  intrinsics = camera.Intrinsics.centred(500.0, 64, 64)
  with pytest.raises(ValueError, match="depth"):
    camera.project(np.array([[0.0, 0.0, 1000.0], [0.0, 0.0, -5.0]]), intrinsics)


def test_view_sequence_keeps_bone_lengths_and_aims_at_the_mean_root():
  motion = conftest.world_motion(40, seed=3)
  rng = np.random.default_rng(4)
  ranges = camera.ViewRanges()
  cam = camera.view_sequence(rng, motion, ranges)
  assert cam.shape == motion.shape
  np.testing.assert_allclose(skeleton.bone_lengths(cam), skeleton.bone_lengths(motion), rtol=1e-10)
  # Pairwise distances between frames are kept too (one rigid camera for the whole sequence).
  np.testing.assert_allclose(np.linalg.norm(cam[0, 0] - cam[-1, 10]),
                             np.linalg.norm(motion[0, 0] - motion[-1, 10]), rtol=1e-10)
  mean_root = cam[:, 0].mean(axis=0)
  np.testing.assert_allclose(mean_root[:2], 0.0, atol=1e-8)
  assert ranges.distance[0] <= mean_root[2] <= ranges.distance[1]
