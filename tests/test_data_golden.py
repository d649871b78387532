"""Generated motion and rendered frames stay what they were: values recorded from the code
before the procedural generator and the renderer were split into modules (issue 14), for fixed
seeds. A refactor of `data/motion/procedural` or `data/render` must keep these; a deliberate
change of the synthetic benchmark updates them (and invalidates built benchmarks)."""

import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data import render
from sa3dhp_tf.data.motion import procedural
from sa3dhp_tf.data.render import styles
from sa3dhp_tf.geometry import camera

FRAMES = 45
IMAGE_SIZE = 64


def generate(action_index):
  """One clip of action `action_index` by a subject of its own, as the benchmark draws them."""
  action = procedural.ACTIONS[action_index]
  subject = procedural.sample_subject(np.random.default_rng([14, 100 + action_index]))
  return procedural.synthesize(np.random.default_rng([14, action_index]), action, subject, FRAMES)


def motion_summary(motion):
  """[10] numbers of a clip: mean position of all joints in the first and last frame, the last
  frame's right wrist, and the last heading (mm, degrees)."""
  poses = motion.poses.astype(np.float64)
  return np.concatenate([poses[0].mean(0), poses[-1].mean(0),
                         poses[-1, skeleton.JOINT_INDEX["r_wrist"]], [motion.heading[-1]]])


def render_clip(style_name, seed):
  """Three frames of a walk filmed like the benchmark films it (tracking camera, one
  appearance), uint8 `[3, 64, 64, 3]`."""
  style = styles.get_style(style_name)
  rng = np.random.default_rng([14, 7, seed])
  poses_world = generate(0).poses.astype(np.float64)[::20]
  rotation, distance, _ = camera.random_view(rng, style.camera.view_ranges)
  poses_camera = (poses_world - poses_world[:, skeleton.ROOT:skeleton.ROOT + 1]) @ rotation.T
  poses_camera[..., 2] += distance
  intrinsics = style.sample_intrinsics(rng, distance, IMAGE_SIZE)
  return render.render_sequence(poses_camera, intrinsics, style, rng, (IMAGE_SIZE, IMAGE_SIZE))


def frame_summary(frames):
  """[3 * 3 + 3] numbers: per frame the mean of each colour channel, and the grey value of the
  image centre (where the body is) in each frame."""
  frames = frames.astype(np.float64)
  centre = frames[:, IMAGE_SIZE // 2, IMAGE_SIZE // 2].mean(-1)
  return np.concatenate([frames.mean(axis=(1, 2)).reshape(-1), centre])


# Recorded from the code at commit 85880af (before the split).
MOTION_SUMMARIES = {
    "walk": [
        1456.9163, -911.5655, 958.3337, 446.8488, -61.8252, 961.5892, 397.1264, 289.4858, 941.4496,
        148.9798],
    "run": [
        -530.2602, 2668.6617, 773.2974, -1220.2905, -180.9456, 878.3708, -1472.2506, -157.3242,
        950.3868, 242.3348],
    "jump": [
        -404.2794, 1642.0069, 937.2853, -533.0608, 1360.5170, 999.7779, -106.5834, 1592.7028,
        1126.7216, 70.3383],
    "squat": [
        783.6250, 1038.8836, 911.6977, 693.1393, 1037.6055, 524.6250, 341.2577, 1245.0809,
        470.6372, 178.2278],
    "wave": [
        -204.4124, -731.1338, 1033.8379, -203.5485, -710.4330, 1030.8305, -363.1494, -405.3872,
        1722.6123, 210.5066],
    "reach": [
        11.9739, 467.6827, 1081.9652, -23.8972, 486.9575, 1131.1271, 224.4935, 414.5227, 1005.3801,
        66.9922],
    "kick": [
        32.0713, 312.1927, 996.0624, 147.5027, 449.1015, 1041.8763, 538.9896, 270.9664, 1131.9276,
        42.5654],
    "turn_in_place": [
        419.2383, -219.6950, 911.2841, 338.0873, -302.1629, 911.7687, 440.4881, -117.6329,
        833.1788, 120.8191],
    "bend": [
        -529.1873, 1481.9833, 872.2477, -340.3472, 1293.2187, 1035.2536, -134.0607, 1521.6770,
        925.3712, 123.4996],
    "idle_sway": [
        359.5810, 1404.6463, 1043.5213, 390.4158, 1406.8524, 1050.8891, 759.5287, 1653.8860,
        1282.4316, 103.0952],
    "punch": [
        128.3738, 1474.1841, 1093.7036, 153.7009, 1458.3593, 1103.3226, 289.1158, 1438.7754,
        1530.5529, 65.4459],
    "sit_stand": [
        -246.9090, 819.4526, 654.5443, -190.0591, 895.1307, 631.3884, 96.7584, 990.1650, 702.1755,
        56.0119],
    "arm_circles": [
        171.7358, -83.3910, 1092.2021, 170.0602, -38.8167, 1080.8658, 561.4180, 538.9928,
        1383.0630, 121.8957],
}
FRAME_SUMMARIES = {
    ("source", 0): [
        131.599, 133.682, 73.885, 132.548, 134.088, 73.876, 132.564, 134.600, 73.311, 78.667,
        80.667, 157.000],
    ("source", 1): [
        140.637, 89.216, 69.680, 140.970, 89.499, 69.794, 140.268, 89.103, 69.776, 119.000,
        117.000, 120.333],
    ("source", 2): [
        84.759, 75.368, 83.494, 84.732, 75.127, 83.307, 85.555, 75.879, 83.838, 166.000, 163.667,
        163.333],
    ("source", 3): [
        90.047, 96.737, 83.317, 89.735, 96.574, 83.431, 88.258, 95.131, 82.347, 164.667, 160.333,
        181.667],
    ("target", 0): [
        80.412, 91.674, 59.163, 80.664, 91.638, 59.284, 81.725, 92.333, 60.354, 47.333, 40.000,
        30.667],
    ("target", 1): [
        150.386, 138.796, 142.912, 150.099, 139.247, 143.094, 149.830, 139.118, 142.954, 51.000,
        55.667, 56.667],
    ("target", 2): [
        93.911, 73.536, 79.717, 93.759, 73.555, 80.216, 93.628, 72.890, 79.785, 47.667, 51.333,
        43.667],
    ("target", 3): [
        67.186, 61.307, 66.838, 66.792, 61.217, 66.611, 66.733, 60.848, 66.335, 49.667, 64.000,
        50.667],
}


@pytest.mark.parametrize("action_index", range(len(procedural.ACTIONS)))
def test_generated_clip_matches_the_recorded_one(action_index):
  action = procedural.ACTIONS[action_index]
  # Float64 arithmetic in one order: differences beyond rounding mean the motion changed.
  np.testing.assert_allclose(motion_summary(generate(action_index)), MOTION_SUMMARIES[action],
                             rtol=0, atol=1e-3)


@pytest.mark.parametrize("style_name,seed", sorted(FRAME_SUMMARIES))
def test_rendered_frames_match_the_recorded_ones(style_name, seed):
  # Grey levels: a tolerance far below one changed body part, above libm/codec rounding.
  np.testing.assert_allclose(frame_summary(render_clip(style_name, seed)),
                             FRAME_SUMMARIES[(style_name, seed)], rtol=0, atol=0.05)
