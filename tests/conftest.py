"""Shared helpers for tests: a plausible posed skeleton, a camera looking at it, a blob renderer."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sa3dhp_tf.geometry import camera  # noqa: E402

# A standing, mid-stride pose in the world frame (z up, mm), facing +y: its right side is +x.
_WORLD_POSE = np.array([
    [0.0, 0.0, 950.0],       # pelvis
    [110.0, 0.0, 940.0],     # r_hip
    [120.0, 40.0, 500.0],    # r_knee
    [125.0, -20.0, 80.0],    # r_ankle
    [-110.0, 0.0, 940.0],    # l_hip
    [-140.0, 120.0, 520.0],  # l_knee
    [-150.0, 60.0, 100.0],   # l_ankle
    [0.0, 10.0, 1180.0],     # spine
    [0.0, 20.0, 1420.0],     # thorax
    [0.0, 60.0, 1520.0],     # neck_nose
    [0.0, 30.0, 1640.0],     # head
    [-170.0, 15.0, 1400.0],  # l_shoulder
    [-300.0, 80.0, 1180.0],  # l_elbow
    [-280.0, 300.0, 1100.0], # l_wrist
    [170.0, 15.0, 1400.0],   # r_shoulder
    [350.0, 0.0, 1250.0],    # r_elbow
    [520.0, 40.0, 1380.0],   # r_wrist
])


def world_pose(seed: int = 0) -> np.ndarray:
  """A plausible H36M-17 pose `[17, 3]` in the world frame, jittered by a few cm."""
  rng = np.random.default_rng(seed)
  return _WORLD_POSE + rng.uniform(-20.0, 20.0, _WORLD_POSE.shape)


def world_motion(num_frames: int = 60, seed: int = 0) -> np.ndarray:
  """A smooth world-frame sequence `[T, 17, 3]`: limbs swinging, the body drifting slowly."""
  rng = np.random.default_rng(seed)
  base = world_pose(seed)
  t = np.arange(num_frames, dtype=np.float64)[:, None, None]
  amplitude = rng.uniform(20.0, 90.0, (1, 17, 3))
  amplitude[:, 0] = 0.0
  phase = rng.uniform(0, 2 * np.pi, (1, 17, 3))
  swing = amplitude * np.sin(2 * np.pi * t / num_frames + phase)
  drift = np.concatenate([3.0 * t, -2.0 * t, np.zeros_like(t)], axis=-1)
  return base[None] + swing + drift


def camera_pose(pose_world: np.ndarray, azimuth=-70.0, elevation=10.0, roll=5.0,
                distance=4000.0) -> np.ndarray:
  """The pose (or sequence) in the frame of a look-at camera aimed at the (mean) pelvis, so that
  the pelvis lies on the optical axis about `distance` mm away."""
  rotation = camera.look_at_rotation(azimuth, elevation, roll)
  target = np.asarray(pose_world)[..., 0, :].reshape(-1, 3).mean(axis=0)
  return camera.world_to_camera(pose_world, rotation, target, distance)


def render_blobs(points_2d, height: int, width: int, sigma: float = 2.0) -> np.ndarray:
  """Renders pixel points `[..., K, 2]` as a sum of Gaussians: float32 `[..., H, W, 1]`."""
  points = np.asarray(points_2d, np.float64)
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
  du = xs - points[..., 0, None, None]
  dv = ys - points[..., 1, None, None]
  image = np.exp(-(du ** 2 + dv ** 2) / (2.0 * sigma ** 2)).sum(axis=-3)
  return image[..., None].astype(np.float32)


@pytest.fixture
def posed_camera_pose():
  return camera_pose(world_pose(0))


@pytest.fixture(autouse=True)
def _op_determinism_off_after_each_test():
  """A stage turns TF's op determinism on for its whole process (sa3dhp_tf.reproducibility);
  every test starts from TF's default instead of from whatever an earlier test ran."""
  yield
  from sa3dhp_tf import reproducibility
  reproducibility.set_op_determinism(False)
