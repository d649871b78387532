"""Schema, shard reading with named errors, augmentation and the tf.data pipelines."""


import cv2
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf import skeleton
from sa3dhp_tf.data import augment
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.data import schema
from sa3dhp_tf.geometry import image_transforms

SIZE = 16


def _jpeg(rng):
  image = (rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
  return cv2.imencode(".jpg", image)[1].tobytes()


def _pose(rng):
  return rng.normal(0, 200, (skeleton.NUM_JOINTS, 3)).astype(np.float32)


def _write(path, serialized):
  with tf.io.TFRecordWriter(path) as writer:
    for s in serialized:
      writer.write(s)
  return path


def _frames(tmp_path, n=6, name="source-00000-of-00001.tfrecord", bad_pose_at=None):
  rng = np.random.default_rng(0)
  out = []
  for i in range(n):
    pose = _pose(rng)
    out.append(schema.encode_frame(_jpeg(rng), SIZE, SIZE, pose, [0, 0, 4000], [50, 50, 7.5, 7.5],
                                   f"seq{i}", i, "s1", "walk", "source"))
  if bad_pose_at is not None:
    # Bypass the writer's own check to simulate a corrupt file written by another tool.
    ex = tf.train.Example.FromString(out[bad_pose_at])
    ex.features.feature["pose3d"].float_list.value[5] = float("nan")
    out[bad_pose_at] = ex.SerializeToString()
  return _write(str(tmp_path / name), out)


def _clips(tmp_path, n=3, length=60, labeled=False, name="target-00000-of-00001.tfrecord"):
  rng = np.random.default_rng(1)
  out = []
  for i in range(n):
    jpegs = [_jpeg(rng) for _ in range(length)]
    kw = {}
    if labeled:
      kw = dict(pose3d=np.stack([_pose(rng) for _ in range(length)]),
                root=np.tile([0.0, 0.0, 4000.0], (length, 1)))
    out.append(schema.encode_clip(jpegs, SIZE, SIZE, np.tile([50, 50, 7.5, 7.5], (length, 1)),
                                  f"clip{i}", 0, "s2", "run", "target", **kw))
  return _write(str(tmp_path / name), out)


def _mocap(tmp_path, n=2, length=90):
  rng = np.random.default_rng(2)
  out = [schema.encode_mocap(rng.normal(0, 300, (length, 17, 3)), f"m{i}", "s3", "jump")
         for i in range(n)]
  return _write(str(tmp_path / "mocap-00000-of-00001.tfrecord"), out)


def test_frame_round_trip(tmp_path):
  path = _frames(tmp_path)
  got = list(records.record_dataset([path], "frame"))
  assert len(got) == 6
  assert got[2]["sequence_id"].numpy() == b"seq2" and got[2]["_index"].numpy() == 2
  assert got[0]["pose3d"].shape == (17, 3)


def test_encoder_refuses_nan_and_wrong_shape():
  with pytest.raises(schema.DataError, match="pose3d.*non-finite"):
    schema.encode_frame(b"", 1, 1, np.full((17, 3), np.nan), [0, 0, 1], [1, 1, 0, 0], "a", 0,
                        "s", "a", "d")
  with pytest.raises(schema.DataError, match=r"pose3d_world: expected"):
    schema.encode_mocap(np.zeros((17, 3)), "a", "s", "a")


def test_nan_pose_in_shard_names_file_and_record(tmp_path):
  path = _frames(tmp_path, bad_pose_at=3)
  dataset = pipelines.source_frames([path], 2, augment=False, repeat=False)
  with pytest.raises(schema.DataError, match=r"source-00000.*record 3.*pose3d"):
    with records.explain_data_errors([path], "frame"):
      list(dataset)


def test_nan_pose_skipped_on_request(tmp_path):
  path = _frames(tmp_path, bad_pose_at=3)
  got = list(records.record_dataset([path], "frame", skip_bad_records=True))
  assert [int(r["_index"]) for r in got] == [0, 1, 2, 4, 5]


def test_undecodable_jpeg_names_record(tmp_path):
  rng = np.random.default_rng(0)
  good = schema.encode_frame(_jpeg(rng), SIZE, SIZE, _pose(rng), [0, 0, 4000], [1, 1, 7.5, 7.5],
                             "a", 0, "s", "a", "source")
  bad = schema.encode_frame(_jpeg(rng)[:40], SIZE, SIZE, _pose(rng), [0, 0, 4000],
                            [1, 1, 7.5, 7.5], "b", 1, "s", "a", "source")
  path = _write(str(tmp_path / "x-00000-of-00001.tfrecord"), [good, bad])
  with pytest.raises(schema.DataError, match=r"x-00000-of-00001.tfrecord record 1.*JPEG"):
    with records.explain_data_errors([path], "frame"):
      list(pipelines.source_frames([path], 1, augment=False, repeat=False))


def test_corrupt_and_missing_shards(tmp_path):
  path = _frames(tmp_path)
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[: len(data) // 2])
  with pytest.raises(schema.DataError, match="source-00000-of-00001.tfrecord"):
    with records.explain_data_errors([path], "frame"):
      list(records.record_dataset([path], "frame"))
  with pytest.raises(FileNotFoundError, match="nope.tfrecord"):
    records.record_dataset([str(tmp_path / "nope.tfrecord")], "frame")
  (tmp_path / "d").mkdir()
  open(tmp_path / "d" / "mocap-00001-of-00002.tfrecord", "wb").close()
  with pytest.raises(FileNotFoundError, match="mocap-00000-of-00002"):
    records.shard_paths(str(tmp_path / "d"), "mocap")
  with pytest.raises(FileNotFoundError, match="'source'"):
    records.shard_paths(str(tmp_path / "d"), "source")


def test_source_frames_shapes_and_determinism(tmp_path):
  path = _frames(tmp_path)
  a = next(iter(pipelines.source_frames([path], 4, seed=3)))
  b = next(iter(pipelines.source_frames([path], 4, seed=3)))
  assert a["image"].shape == (4, SIZE, SIZE, 3) and a["image"].dtype == tf.float32
  assert a["pose3d"].shape == (4, 17, 3)
  np.testing.assert_array_equal(a["image"].numpy(), b["image"].numpy())
  assert 0.0 <= float(tf.reduce_min(a["image"])) and float(tf.reduce_max(a["image"])) <= 1.0


def test_mocap_pipelines(tmp_path):
  path = _mocap(tmp_path)
  poses = next(iter(pipelines.mocap_poses([path], 8, seed=0)))
  assert poses.shape == (8, 17, 3)
  np.testing.assert_allclose(poses[:, 0].numpy(), 0.0, atol=1e-4)
  wins = next(iter(pipelines.mocap_windows([path], 3, window_length=60, strides=(1,), seed=0)))
  assert wins.shape == (3, 60, 17, 3)
  # A random view is a rotation: bone lengths of the window equal the raw ones somewhere.
  lengths = skeleton.bone_lengths(wins.numpy())
  assert np.all(np.isfinite(lengths))
  fast = next(iter(pipelines.mocap_windows([path], 2, window_length=30, strides=(2,), seed=0)))
  assert fast.shape == (2, 30, 17, 3)


def test_view_rotation_matches_numpy_camera():
  from sa3dhp_tf.geometry import camera
  for angles in [(0, 0, 0), (40, 15, -20), (-170, 30, 25)]:
    np.testing.assert_allclose(pipelines.view_rotation(*angles).numpy(),
                               camera.look_at_rotation(*angles), atol=1e-5)


def test_target_windows_contract(tmp_path):
  path = _clips(tmp_path)
  batch = next(iter(pipelines.target_windows([path], 2, relation_keys=("z3", "v2", "v3"), seed=0)))
  assert batch["window"].shape == (2, 60, SIZE, SIZE, 3)
  assert batch["augmented"].shape == (2, 30, SIZE, SIZE, 3)
  for key in ("z3", "v2", "v3"):
    assert batch[f"counterpart/{key}"].shape == (2, 30, SIZE, SIZE, 3)
  window = batch["window"]
  np.testing.assert_allclose(batch["counterpart/v3"].numpy(),
                             tf.reverse(window[:, 15:45], [1]).numpy())
  np.testing.assert_allclose(
      batch["counterpart/z3"].numpy(),
      image_transforms.flip_rotate_image(window[:, 15:45], relations.DEFAULT_THETA).numpy(),
      atol=1e-6)
  np.testing.assert_allclose(
      batch["counterpart/v2"].numpy(),
      tf.reverse(image_transforms.flip_rotate_image(window[:, 15:45], 30.0), [1]).numpy(),
      atol=1e-6)


def test_target_windows_rejects_short_clips(tmp_path):
  path = _clips(tmp_path, length=30)
  with pytest.raises(tf.errors.InvalidArgumentError, match="60 frames"):
    next(iter(pipelines.target_windows([path], 1)))


def test_labeled_frames_flatten_clips(tmp_path):
  path = _clips(tmp_path, n=2, length=5, labeled=True)
  batches = list(pipelines.labeled_frames([path], 4))
  assert sum(b["image"].shape[0] for b in batches) == 10
  assert batches[0]["pose3d"].shape == (4, 17, 3)
  assert batches[0]["frame_index"].numpy().tolist() == [0, 1, 2, 3]


def test_augment_is_clip_consistent_and_seeded():
  clip = tf.tile(tf.random.stateless_uniform([1, 12, 12, 3], [1, 2]), [4, 1, 1, 1])
  out = augment.pose_invariant_augment(clip, tf.constant([5, 6], tf.int64),
                                       augment.AugmentConfig(noise_std=(0.0, 0.0)))
  # Identical frames in, identical frames out: one draw of parameters per clip.
  np.testing.assert_allclose(out[0].numpy(), out[3].numpy(), atol=1e-6)
  again = augment.pose_invariant_augment(clip, tf.constant([5, 6], tf.int64),
                                         augment.AugmentConfig(noise_std=(0.0, 0.0)))
  np.testing.assert_array_equal(out.numpy(), again.numpy())
  other = augment.pose_invariant_augment(clip, tf.constant([7, 8], tf.int64))
  assert not np.allclose(out.numpy(), other.numpy())
  assert out.shape == clip.shape


def test_keep_sequence_fraction_is_a_stable_subset(tmp_path):
  path = _frames(tmp_path, n=40)
  def ids(fraction):
    batches = pipelines.source_frames([path], 1, augment=False, repeat=False,
                                      keep_sequence_fraction=fraction)
    return sum(1 for _ in batches)
  assert ids(0.5) == 20 and ids(0.01) == 1 and ids(1.0) == 40
  with pytest.raises(ValueError, match="keep_sequence_fraction"):
    pipelines.source_frames([path], 1, keep_sequence_fraction=0.0)
