"""Pose-side and image-side transforms agree with each other through a centred pinhole camera."""

import numpy as np
import pytest
import tensorflow as tf

import conftest
from sa3dhp_tf import skeleton
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.geometry import image_transforms as imt
from sa3dhp_tf.geometry import pose_transforms as pt

HEIGHT, WIDTH = 72, 88  # not square, so that a swapped width/height shows
THETAS = (30.0, -30.0, 12.5, 90.0, -135.0)


def _smooth_image(height=HEIGHT, width=WIDTH, channels=3):
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  planes = [0.5 + 0.4 * np.sin(xs / 9.0 + 0.7 * c) * np.cos(ys / 11.0 - 0.3 * c)
            for c in range(channels)]
  return np.stack(planes, axis=-1)


def _centroid(image):
  image = np.asarray(image, np.float64)[..., 0]
  ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
  total = image.sum()
  return np.array([(xs * image).sum() / total, (ys * image).sum() / total])


# --- pose side ------------------------------------------------------------------------------------

def test_flip_pose_is_an_involution_and_mirrors_with_the_permutation(posed_camera_pose):
  poses = np.stack([posed_camera_pose, conftest.camera_pose(conftest.world_pose(5))])
  flipped = pt.flip_pose(poses).numpy()
  np.testing.assert_array_equal(pt.flip_pose(flipped).numpy(), poses)
  perm = list(skeleton.FLIP_PERMUTATION)
  np.testing.assert_array_equal(flipped[..., 0], -poses[:, perm, 0])
  np.testing.assert_array_equal(flipped[..., 1:], poses[:, perm, 1:])
  # The left wrist of the mirror image is where the right wrist was, mirrored.
  l_wrist, r_wrist = skeleton.JOINT_INDEX["l_wrist"], skeleton.JOINT_INDEX["r_wrist"]
  np.testing.assert_array_equal(flipped[0, l_wrist], poses[0, r_wrist] * [-1, 1, 1])
  # Mirroring swaps the lengths of symmetric bones.
  lengths, flipped_lengths = skeleton.bone_lengths(poses), skeleton.bone_lengths(flipped)
  for left, right in skeleton.SYMMETRIC_BONES:
    np.testing.assert_allclose(flipped_lengths[:, left - 1], lengths[:, right - 1], rtol=1e-6)


@pytest.mark.parametrize("theta", THETAS)
def test_rotate_pose_then_back_is_identity(posed_camera_pose, theta):
  there = pt.rotate_pose_inplane(posed_camera_pose, theta)
  back = pt.rotate_pose_inplane(there, -theta).numpy()
  np.testing.assert_allclose(back, posed_camera_pose, atol=1e-9)
  # A rotation about the optical axis keeps depth and bone lengths.
  np.testing.assert_allclose(there.numpy()[:, 2], posed_camera_pose[:, 2], atol=1e-9)
  np.testing.assert_allclose(skeleton.bone_lengths(there.numpy()),
                             skeleton.bone_lengths(posed_camera_pose), rtol=1e-9)


def test_rotation_matrix_is_proper_and_batched():
  thetas = tf.constant([0.0, 30.0, -75.0])
  rotations = pt.rotation_about_optical_axis(thetas, tf.float64).numpy()
  assert rotations.shape == (3, 3, 3)
  for r in rotations:
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_reverse_time_reverses_the_frame_axis():
  seq = np.arange(2 * 6 * 17 * 3, dtype=np.float32).reshape(2, 6, 17, 3)
  np.testing.assert_array_equal(pt.reverse_time(seq).numpy(), seq[:, ::-1])


# --- image side -----------------------------------------------------------------------------------

def test_flip_image_is_an_involution_on_images_and_clips():
  image = _smooth_image()
  clip = np.stack([image, image[::-1]])[None]  # [1, 2, H, W, 3]
  np.testing.assert_array_equal(imt.flip_image(imt.flip_image(image)).numpy(), image)
  np.testing.assert_array_equal(imt.flip_image(clip).numpy(), clip[..., ::-1, :])
  np.testing.assert_array_equal(imt.reverse_clip(clip).numpy(), clip[:, ::-1])


@pytest.mark.parametrize("theta", (30.0, -30.0, 12.5))
def test_rotate_image_then_back_is_identity_on_a_smooth_image(theta):
  image = _smooth_image()
  back = imt.rotate_image(imt.rotate_image(image, theta), -theta).numpy()
  assert back.shape == image.shape and back.dtype == np.float32
  # Pixels whose round trip stays inside the frame: a disc about the centre.
  ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
  inside = np.hypot(xs - (WIDTH - 1) / 2, ys - (HEIGHT - 1) / 2) < min(HEIGHT, WIDTH) / 2 - 2
  err = np.abs(back - image)[inside]
  assert err.max() < 0.02 and err.mean() < 0.005


def test_rotate_image_keeps_integer_dtype_and_refuses_unknown_fill_mode():
  image = (255 * _smooth_image()).astype(np.uint8)
  assert imt.rotate_image(image, 10.0).dtype == tf.uint8
  with pytest.raises(ValueError, match="fill_mode"):
    imt.rotate_image(image, 10.0, fill_mode="mirror")


@pytest.mark.parametrize("theta", (30.0, -30.0, 90.0, -135.0))
def test_image_rotation_moves_a_blob_where_rotate_points_2d_says(theta):
  point = np.array([62.0, 20.0])  # off-centre, so a wrong sign or centre shows
  image = conftest.render_blobs(point[None], HEIGHT, WIDTH, sigma=1.5)
  rotated = imt.rotate_image(image, theta, fill_mode="constant").numpy()
  expected = imt.rotate_points_2d(point, theta, HEIGHT, WIDTH).numpy()
  np.testing.assert_allclose(_centroid(rotated), expected, atol=0.02)
  peak = np.unravel_index(np.argmax(rotated[..., 0]), rotated.shape[:2])
  assert np.hypot(peak[1] - expected[0], peak[0] - expected[1]) <= 1.0
  # Sanity: the opposite angle lands somewhere else, so the sign is really being tested.
  other = imt.rotate_points_2d(point, -theta, HEIGHT, WIDTH).numpy()
  assert np.linalg.norm(other - expected) > 5.0


def test_image_flip_moves_a_blob_where_flip_points_2d_says():
  point = np.array([62.0, 20.0])
  image = conftest.render_blobs(point[None], HEIGHT, WIDTH, sigma=1.5)
  flipped = imt.flip_image(image).numpy()
  np.testing.assert_allclose(_centroid(flipped), imt.flip_points_2d(point, WIDTH).numpy(),
                             atol=1e-3)


def test_single_bright_pixel_rotates_to_the_predicted_pixel():
  image = np.zeros((HEIGHT, WIDTH, 1), np.float32)
  image[20, 62] = 1.0
  rotated = imt.rotate_image(image, 90.0, fill_mode="constant",
                             interpolation="nearest").numpy()[..., 0]
  expected = imt.rotate_points_2d([62.0, 20.0], 90.0, HEIGHT, WIDTH).numpy()
  ys, xs = np.nonzero(rotated)
  assert len(xs) == 1
  np.testing.assert_allclose([xs[0], ys[0]], expected, atol=0.5)


# --- the two sides through the camera -------------------------------------------------------------

@pytest.fixture
def intrinsics():
  return camera.Intrinsics.centred(500.0, WIDTH, HEIGHT)


def test_flip_pose_then_project_equals_project_then_flip(posed_camera_pose, intrinsics):
  assert np.allclose(posed_camera_pose[0, :2], 0.0, atol=1e-6)
  assert 3500.0 < posed_camera_pose[0, 2] < 4500.0
  projected = camera.project(posed_camera_pose, intrinsics)
  direct = camera.project(pt.flip_pose(posed_camera_pose).numpy(), intrinsics)
  via_2d = imt.flip_points_2d(projected, WIDTH).numpy()[list(skeleton.FLIP_PERMUTATION)]
  np.testing.assert_allclose(direct, via_2d, atol=1e-4)


@pytest.mark.parametrize("theta", THETAS)
def test_rotate_pose_then_project_equals_project_then_rotate(posed_camera_pose, intrinsics, theta):
  projected = camera.project(posed_camera_pose, intrinsics)
  direct = camera.project(pt.rotate_pose_inplane(posed_camera_pose, theta).numpy(), intrinsics)
  via_2d = imt.rotate_points_2d(projected, theta, HEIGHT, WIDTH).numpy()
  np.testing.assert_allclose(direct, via_2d, atol=1e-4)


@pytest.mark.parametrize("theta", (30.0, -45.0))
def test_flip_rotate_pose_then_project_equals_project_then_flip_rotate(posed_camera_pose,
                                                                       intrinsics, theta):
  projected = camera.project(posed_camera_pose, intrinsics)
  direct = camera.project(pt.flip_rotate_pose(posed_camera_pose, theta).numpy(), intrinsics)
  flipped = imt.flip_points_2d(projected, WIDTH).numpy()[list(skeleton.FLIP_PERMUTATION)]
  via_2d = imt.rotate_points_2d(flipped, theta, HEIGHT, WIDTH).numpy()
  np.testing.assert_allclose(direct, via_2d, atol=1e-4)


@pytest.mark.parametrize("theta", (30.0, -30.0))
def test_render_then_transform_equals_transform_then_render(posed_camera_pose, theta):
  # Small focal length so that the whole body stays inside the frame after rotation.
  small = camera.Intrinsics.centred(100.0, WIDTH, HEIGHT)
  render = lambda pose: conftest.render_blobs(camera.project(pose, small), HEIGHT, WIDTH)
  image = render(posed_camera_pose)
  pairs = [
      (imt.flip_image(image), render(pt.flip_pose(posed_camera_pose).numpy())),
      (imt.rotate_image(image, theta, fill_mode="constant"),
       render(pt.rotate_pose_inplane(posed_camera_pose, theta).numpy())),
      (imt.flip_rotate_image(image, theta, fill_mode="constant"),
       render(pt.flip_rotate_pose(posed_camera_pose, theta).numpy())),
  ]
  for transformed, rendered in pairs:
    err = np.abs(transformed.numpy() - rendered)
    assert err.max() < 0.1 * rendered.max() and err.mean() < 3e-3
  # And a wrong sign would be caught: the image rotated the other way does not match.
  wrong = imt.rotate_image(image, -theta, fill_mode="constant").numpy()
  assert np.abs(wrong - pairs[1][1]).max() > 0.3


def test_to_root_camera_puts_the_root_on_the_optical_axis():
  world = conftest.world_motion(5, seed=8)
  rotation = camera.look_at_rotation(40.0, 15.0, 0.0)
  # A camera aimed 600 mm beside and 400 mm above the person: the root is off-axis.
  poses = camera.world_to_camera(world, rotation, world[0, 0] + [600.0, 0.0, 400.0], 4000.0)
  virtual, rotations = camera.to_root_camera(poses)
  assert rotations.shape == (5, 3, 3) and virtual.shape == poses.shape
  for r in rotations:
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert r[1] @ [0.0, 1.0, 0.0] > 0.95          # image "down" stays nearly where it was
  np.testing.assert_allclose(virtual[:, 0, :2], 0.0, atol=1e-9)
  np.testing.assert_allclose(virtual[:, 0, 2], np.linalg.norm(poses[:, 0], axis=-1))
  np.testing.assert_allclose(skeleton.bone_lengths(virtual), skeleton.bone_lengths(poses),
                             rtol=1e-10)
  # A root already on the axis keeps the camera as it is.
  on_axis = conftest.camera_pose(conftest.world_pose(0))
  np.testing.assert_allclose(camera.look_at_root_rotation(on_axis[0]), np.eye(3), atol=1e-9)
