"""The relations registry: frame indices of every relation; pose and image sides agree."""

import numpy as np
import pytest
import tensorflow as tf

import conftest
from sa3dhp_tf import relations
from sa3dhp_tf import skeleton
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.geometry import image_transforms as imt
from sa3dhp_tf.geometry import pose_transforms as pt
from sa3dhp_tf.geometry import windows

HEIGHT, WIDTH = 72, 88
ALL_KEYS = ["z1", "z2", "z3", "v1", "v2", "v3"]
MIDDLE = list(range(15, 45))
FAST = list(range(0, 60, 2))
SLOW_BACKWARD = list(range(44, 14, -1))


def _indexed_window(shape_tail, batch=2):
  """A `[batch, 60, *shape_tail]` window whose every value equals its frame index (+1000*batch)."""
  t = np.arange(60, dtype=np.float32).reshape((1, 60) + (1,) * len(shape_tail))
  b = 1000.0 * np.arange(batch, dtype=np.float32).reshape((batch, 1) + (1,) * len(shape_tail))
  return np.broadcast_to(t + b, (batch, 60) + tuple(shape_tail)).copy()


def _frames_of(values, batch_index=0):
  """Frame indices encoded by `_indexed_window` along axis 1 of `values[batch_index]`."""
  values = np.asarray(values)[batch_index] - 1000.0 * batch_index
  flat = values.reshape(values.shape[0], -1)
  assert np.all(flat == flat[:, :1]), "frames got mixed"
  return flat[:, 0].astype(int).tolist()


def _camera_window(seed=0):
  return conftest.camera_pose(conftest.world_motion(60, seed))


# --- the registry ---------------------------------------------------------------------------------

def test_registry_holds_the_six_relations_of_the_paper():
  assert relations.relation_keys() == ALL_KEYS
  assert relations.relation_keys(relations.POSE) == ["z1", "z2", "z3"]
  assert relations.relation_keys(relations.MOTION) == ["v1", "v2", "v3"]
  uses_theta = {k: relations.get_relation(k).uses_theta for k in ALL_KEYS}
  assert uses_theta == {"z1": False, "z2": True, "z3": True, "v1": False, "v2": True, "v3": False}
  for key in ALL_KEYS:
    relation = relations.get_relation(key)
    assert relation.key == key
    assert relation.window_length == (1 if key.startswith("z") else 60)


def test_unknown_key_names_the_key_and_lists_known_keys():
  with pytest.raises(KeyError) as info:
    relations.get_relation("v9")
  message = str(info.value)
  assert "'v9'" in message
  for key in ALL_KEYS:
    assert f"'{key}'" in message


def test_duplicate_and_malformed_registrations_are_refused():
  before = dict(relations._REGISTRY)
  with pytest.raises(ValueError, match="'z1' is already registered"):
    relations.register_relation(relations.get_relation("z1"))
  bad = relations.Relation("z9", "bad", "latent", lambda x: (x, x), lambda x: (x, x), False,
                           windows.middle_clip)
  with pytest.raises(ValueError, match="'z9'.*space"):
    relations.register_relation(bad)
  assert relations._REGISTRY == before


# --- frame indices --------------------------------------------------------------------------------

def test_slow_backward_pairs_have_the_stated_frame_indices():
  v3 = relations.get_relation("v3")
  poses = _indexed_window((17, 3))
  clips = _indexed_window((4, 5, 3))
  for anchor, counterpart in (v3.pose_pair(poses), v3.image_pair(clips)):
    assert anchor.shape[1] == counterpart.shape[1] == 30
    for b in range(2):
      assert _frames_of(anchor, b) == FAST          # raw[::2]
      assert _frames_of(counterpart, b) == SLOW_BACKWARD  # reversed(raw[15:45])


@pytest.mark.parametrize("key", ["v1", "v2"])
def test_per_frame_backward_relations_anchor_middle_and_reverse_transformed_frames(key):
  relation = relations.get_relation(key)
  theta = 25.0
  frame_fn = pt.flip_pose if key == "v1" else (lambda p: pt.flip_rotate_pose(p, theta))
  window = _camera_window(1)
  anchor, counterpart = relation.pose_pair(window, theta)
  np.testing.assert_array_equal(anchor.numpy(), window[15:45])
  for k in range(30):
    np.testing.assert_allclose(counterpart.numpy()[k], frame_fn(window[44 - k]).numpy(),
                               atol=1e-9)
  # Image side on a clip with distinct frames.
  rng = np.random.default_rng(2)
  clip = rng.uniform(0, 1, (60, 12, 16, 3)).astype(np.float32)
  image_fn = imt.flip_image if key == "v1" else (
      lambda x: imt.flip_rotate_image(x, theta, fill_mode="reflect"))
  anchor, counterpart = relation.image_pair(clip, theta)
  np.testing.assert_array_equal(anchor.numpy(), clip[15:45])
  for k in (0, 7, 29):
    np.testing.assert_allclose(counterpart.numpy()[k], image_fn(clip[44 - k]).numpy(), atol=1e-6)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_anchor_frames_selects_the_anchor_indices(key):
  relation = relations.get_relation(key)
  expected = FAST if key == "v3" else MIDDLE
  latents = _indexed_window((32,))                  # G(x) of a window: [B, 60, 32]
  assert _frames_of(relation.anchor_frames(latents, time_axis=-2)) == expected
  clips = _indexed_window((4, 5, 3))
  assert _frames_of(relation.anchor_frames(clips, time_axis=-4), 1) == expected
  if relation.space == relations.MOTION:
    # The anchors of `pose_pair` are the frames `anchor_frames` picks.
    poses = _indexed_window((17, 3))
    np.testing.assert_array_equal(relation.anchor_frames(poses, time_axis=-3).numpy(),
                                  relation.pose_pair(poses)[0].numpy())


@pytest.mark.parametrize("key", ["v1", "v2", "v3"])
def test_motion_relations_refuse_windows_of_the_wrong_length(key):
  relation = relations.get_relation(key)
  with pytest.raises(ValueError, match="60 frames"):
    relation.pose_pair(np.zeros((59, 17, 3), np.float32))
  with pytest.raises(ValueError, match="60 frames"):
    relation.image_pair(np.zeros((2, 61, 4, 5, 3), np.float32))


# --- the two faces agree --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ALL_KEYS)
def test_pose_side_and_image_side_agree_on_shapes(key):
  relation = relations.get_relation(key)
  if relation.space == relations.POSE:
    poses, images = np.zeros((3, 17, 3), np.float32), np.zeros((3, 16, 20, 3), np.float32)
    out_poses, out_images = (3, 17, 3), (3, 16, 20, 3)
  else:
    poses, images = np.zeros((2, 60, 17, 3), np.float32), np.zeros((2, 60, 16, 20, 3), np.float32)
    out_poses, out_images = (2, 30, 17, 3), (2, 30, 16, 20, 3)
  for pair, shape in ((relation.pose_pair(poses), out_poses),
                      (relation.image_pair(images), out_images)):
    assert tuple(pair[0].shape) == shape and tuple(pair[1].shape) == shape


@pytest.mark.parametrize("key", ALL_KEYS)
def test_theta_matters_exactly_for_relations_that_use_it(key):
  relation = relations.get_relation(key)
  poses = conftest.camera_pose(conftest.world_pose(3)) if relation.space == relations.POSE \
      else _camera_window(3)
  a = relation.pose_pair(poses, 20.0)[1].numpy()
  b = relation.pose_pair(poses, -40.0)[1].numpy()
  assert (not np.allclose(a, b)) == relation.uses_theta


@pytest.mark.parametrize("key", ALL_KEYS)
def test_transform_then_render_equals_render_then_transform(key):
  """Rendering joints as blobs through a look-at camera (principal point at the image centre):
  the relation's image side applied to the rendering matches rendering its pose side."""
  relation = relations.get_relation(key)
  intrinsics = camera.Intrinsics.centred(100.0, WIDTH, HEIGHT)
  render = lambda poses: conftest.render_blobs(camera.project(poses, intrinsics), HEIGHT, WIDTH)
  theta = -30.0
  if relation.space == relations.POSE:
    poses = conftest.camera_pose(conftest.world_pose(4))
  else:
    poses = _camera_window(4)
  pose_anchor, pose_counterpart = relation.pose_pair(poses, theta)
  image_anchor, image_counterpart = relation.image_pair(render(poses), theta, "constant")
  np.testing.assert_allclose(image_anchor.numpy(), render(pose_anchor.numpy()), atol=1e-6)
  expected = render(pose_counterpart.numpy())
  err = np.abs(image_counterpart.numpy() - expected)
  assert err.max() < 0.1 * expected.max() and err.mean() < 3e-3
  # The check has teeth: the un-transformed rendering does not pass it.
  assert np.abs(render(pose_anchor.numpy()) - expected).max() > 0.3


def test_flip_relation_swaps_the_pictured_left_and_right_wrists():
  intrinsics = camera.Intrinsics.centred(100.0, WIDTH, HEIGHT)
  pose = conftest.camera_pose(conftest.world_pose(0))
  _, flipped = relations.get_relation("z1").pose_pair(pose)
  uv, uv_flipped = camera.project(pose, intrinsics), camera.project(flipped.numpy(), intrinsics)
  l_wrist, r_wrist = skeleton.JOINT_INDEX["l_wrist"], skeleton.JOINT_INDEX["r_wrist"]
  np.testing.assert_allclose(uv_flipped[l_wrist], [WIDTH - 1 - uv[r_wrist, 0], uv[r_wrist, 1]],
                             atol=1e-6)


def test_relations_run_inside_tf_function():
  v2 = relations.get_relation("v2")
  fn = tf.function(lambda w: v2.pose_pair(w, 30.0))
  window = _camera_window(5).astype(np.float32)
  anchor, counterpart = fn(tf.constant(window))
  eager = v2.pose_pair(window, 30.0)
  np.testing.assert_allclose(counterpart.numpy(), eager[1].numpy(), atol=1e-4)
  assert anchor.shape == (30, 17, 3)
