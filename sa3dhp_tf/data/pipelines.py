"""tf.data pipelines for every training stage and for evaluation.

Each function takes shard paths (see `records.shard_paths`) and returns a batched, prefetched
`tf.data.Dataset`. With `deterministic=True` and a `seed`, the order and every random draw
(virtual views, augmentation) are reproducible; random parameters come from
`tf.data.Dataset.random(seed)` feeding stateless ops, so parallel maps stay deterministic.
"""

import math

import gin
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf import skeleton
from sa3dhp_tf.data import augment as augment_lib
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.data import records
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.geometry import windows

AUTOTUNE = tf.data.AUTOTUNE
gin.external_configurable(camera.ViewRanges, module="camera")


def _options(deterministic):
  options = tf.data.Options()
  options.deterministic = deterministic
  return options


def _one_stream(build):
  """The dataset `build()` returns, rebuilt for every iterator: each iterator yields the same
  stream, a function of the seeds alone.

  `shuffle(seed=..., reshuffle_each_iteration=True)` draws its order from a seed generator the
  dataset object owns, so a second iterator of the same dataset sees another order, and how far
  it moved depends on how much the first one read (prefetch: timing). Keras `fit` under a
  distribution strategy opens one iterator to build the model symbolically before the one it
  trains on, so without this a 'mirrored' or 'multi_worker' run trained on other batches than the
  same command without a strategy (issue 13). Built inside a dataset function, the generators are
  created per iterator; repeats inside one stream still reshuffle every pass.
  `build` runs once, at trace time: it must not read tensors eagerly (`.numpy()`). It is plain
  Python that builds datasets, so AutoGraph is kept out of it: converting it walked into the file
  checks (`os.path.isfile`), and where Python's frozen standard modules have no source AutoGraph
  warned on stderr for every run (the functions `build` maps are converted as usual)."""
  return tf.data.Dataset.range(1).flat_map(
      tf.autograph.experimental.do_not_convert(lambda _: build()))


def _with_seeds(dataset, seed):
  """Zips every element with a stateless seed `[2]` int64 drawn from `seed`."""
  seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
  return tf.data.Dataset.zip((dataset, seeds))


def _finish(dataset, batch_size, deterministic, cache, drop_remainder=True):
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE,
                          deterministic=deterministic)
  if cache:
    dataset = dataset.cache()
  return dataset.prefetch(AUTOTUNE).with_options(_options(deterministic))


def decode_frames(jpegs, image_size=None):
  """JPEG bytes `[T]` -> float32 `[T, H, W, 3]` in [0, 1], resized to `image_size` if given."""
  frames = tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3), jpegs,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
  frames = tf.image.convert_image_dtype(frames, tf.float32)
  if image_size is not None:
    frames = tf.image.resize(frames, image_size, antialias=True)
    frames = tf.ensure_shape(frames, [None, image_size[0], image_size[1], 3])
  return frames


def decode_frame(jpeg, image_size=None):
  frame = tf.image.convert_image_dtype(tf.io.decode_jpeg(jpeg, channels=3), tf.float32)
  if image_size is not None:
    frame = tf.ensure_shape(tf.image.resize(frame, image_size, antialias=True),
                            [image_size[0], image_size[1], 3])
  return frame


# --- virtual views of mocap -----------------------------------------------------------------------

def view_rotation(azimuth, elevation, roll):
  """TF twin of `camera.look_at_rotation` (degrees): world (z up) -> camera rotation."""
  az, el, rl = [tf.cast(a, tf.float32) * (math.pi / 180.0) for a in (azimuth, elevation, roll)]
  forward = tf.stack([tf.cos(el) * tf.cos(az), tf.cos(el) * tf.sin(az), -tf.sin(el)])
  right = tf.linalg.normalize(tf.linalg.cross(forward, tf.constant([0.0, 0.0, 1.0])))[0]
  down = tf.linalg.cross(forward, right)
  base = tf.stack([right, down, forward])
  c, s = tf.cos(rl), tf.sin(rl)
  roll_matrix = tf.stack([tf.stack([c, -s, 0.0]), tf.stack([s, c, 0.0]), tf.constant([0.0, 0.0, 1.0])])
  return roll_matrix @ base


def random_view_rotation(seed, ranges: camera.ViewRanges):
  seeds = tf.random.experimental.stateless_split(seed, 3)
  angles = [tf.random.stateless_uniform([], seeds[i], lo, hi) for i, (lo, hi) in
            enumerate((ranges.azimuth, ranges.elevation, ranges.roll))]
  return view_rotation(*angles)


def world_to_root_relative_camera(poses_world, rotation):
  """World poses `[..., 17, 3]` -> root-relative camera-frame poses under `rotation`."""
  relative = poses_world - poses_world[..., skeleton.ROOT:skeleton.ROOT + 1, :]
  return tf.linalg.matvec(rotation, relative)


# --- mocap ----------------------------------------------------------------------------------------

@gin.configurable(denylist=["paths", "batch_size"])
def mocap_poses(paths, batch_size, views=camera.ViewRanges(), seed=None, deterministic=True,
                shuffle_buffer=20000, repeat=True, cache=False, skip_bad_records=False):
  """Single root-relative camera-frame poses `[B, 17, 3]` (mm) under random virtual views.
  Random roll makes flipped and rolled poses part of the distribution the pose AE sees, which the
  relation networks need (DESIGN.md section 6)."""
  def stream():
    dataset = records.record_dataset(paths, "mocap", shuffle_files=True, seed=seed,
                                     deterministic=deterministic,
                                     skip_bad_records=skip_bad_records)
    dataset = dataset.flat_map(lambda r: tf.data.Dataset.from_tensor_slices(r["pose3d_world"]))
    if cache:
      dataset = dataset.cache()
    if repeat:
      dataset = dataset.repeat()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    return _with_seeds(dataset, seed).map(
        lambda pose, s: world_to_root_relative_camera(pose, random_view_rotation(s, views)),
        num_parallel_calls=AUTOTUNE, deterministic=deterministic)

  return _finish(_one_stream(stream), batch_size, deterministic, cache=False)


@gin.configurable(denylist=["paths", "batch_size"])
def mocap_windows(paths, batch_size, window_length=windows.WINDOW_LENGTH, strides=(1,), hop=5,
                  views=camera.ViewRanges(), seed=None, deterministic=True, shuffle_buffer=5000,
                  repeat=True, skip_bad_records=False):
  """Pose windows `[B, window_length, 17, 3]`, one random view per window. `strides` lists the
  temporal subsampling factors drawn from (2 gives twice-as-fast motion, as in `raw[::2]`)."""
  def stream():
    dataset = records.record_dataset(paths, "mocap", shuffle_files=True, seed=seed,
                                     deterministic=deterministic, skip_bad_records=skip_bad_records)

    def to_windows(record):
      poses = tf.reshape(record["pose3d_world"], [-1, skeleton.NUM_JOINTS * 3])
      per_stride = []
      for stride in strides:
        framed = tf.signal.frame(poses, window_length * stride, hop, axis=0)
        per_stride.append(tf.data.Dataset.from_tensor_slices(framed[:, ::stride]))
      out = per_stride[0]
      for extra in per_stride[1:]:
        out = out.concatenate(extra)
      return out

    dataset = dataset.flat_map(to_windows)
    if repeat:
      dataset = dataset.repeat()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed)

    def view(window, s):
      window = tf.reshape(window, [window_length, skeleton.NUM_JOINTS, 3])
      return world_to_root_relative_camera(window, random_view_rotation(s, views))

    dataset = _with_seeds(dataset, seed).map(view, num_parallel_calls=AUTOTUNE,
                                             deterministic=deterministic)
    return dataset

  return _finish(_one_stream(stream), batch_size, deterministic, cache=False)


# --- labeled frames -------------------------------------------------------------------------------

@gin.configurable(denylist=["paths", "batch_size"])
def source_frames(paths, batch_size, image_size=None, augment=True,
                  augment_config=augment_lib.AugmentConfig(), seed=None, deterministic=True,
                  shuffle_buffer=4096, repeat=True, cache=False, skip_bad_records=False,
                  keep_sequence_fraction=1.0):
  """Labeled frames `{'image': [B,H,W,3], 'pose3d': [B,17,3]}` from `frame` records. The
  augmentation is photometric + small crop jitter only, so the pose label stays valid.
  `keep_sequence_fraction` < 1 keeps that fraction of the sequences (chosen by a hash of the
  sequence id, at least one, always the same ones): a labeled subset such as the
  semi-supervised setting's."""
  if not 0.0 < keep_sequence_fraction <= 1.0:
    raise ValueError(f"keep_sequence_fraction must be in (0, 1], got {keep_sequence_fraction}")
  # Read eagerly here: `stream` runs inside a dataset function (graph mode).
  kept = (_sequence_subset(paths, keep_sequence_fraction) if keep_sequence_fraction < 1.0
          else None)

  def stream():
    dataset = records.record_dataset(paths, "frame", shuffle_files=repeat, seed=seed,
                                     deterministic=deterministic,
                                     skip_bad_records=skip_bad_records)
    if kept is not None:
      dataset = dataset.filter(
          lambda r: tf.reduce_any(tf.equal(r["sequence_id"], tf.constant(kept))))
    dataset = dataset.map(lambda r: {"jpeg": r["image/encoded"], "pose3d": r["pose3d"]},
                          num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if cache:
      dataset = dataset.cache()
    if repeat:
      dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed)

    def prepare(example, s):
      image = decode_frame(example["jpeg"], image_size)
      if augment:
        image = augment_lib.pose_invariant_augment(image, s, augment_config)
      return {contract.FRAME_IMAGE: image, contract.FRAME_POSE: example["pose3d"]}

    dataset = _with_seeds(dataset, seed).map(prepare, num_parallel_calls=AUTOTUNE,
                                             deterministic=deterministic)
    return dataset

  return _finish(_one_stream(stream), batch_size, deterministic, cache=False)


def _sequence_subset(paths, fraction):
  """The first ceil(fraction * n) of the n sequence ids in `paths`, ordered by a hash so the
  subset is spread over subjects and actions yet fixed."""
  ids = set()
  for serialized in tf.data.TFRecordDataset(records.check_files(paths)):
    parsed = tf.io.parse_single_example(
        serialized, {"sequence_id": tf.io.FixedLenFeature([], tf.string)})
    ids.add(parsed["sequence_id"].numpy())
  if not ids:
    raise ValueError(f"no records in {paths}")
  ordered = sorted(ids, key=lambda i: (tf.strings.to_hash_bucket_fast(i, 2**31).numpy(), i))
  return ordered[:max(1, math.ceil(fraction * len(ordered)))]


@gin.configurable(denylist=["paths", "batch_size"])
def labeled_frames(paths, batch_size, kind="clip", image_size=None, deterministic=True,
                   skip_bad_records=False):
  """Evaluation frames in file order, one pass, no augmentation: `{'image', 'pose3d', 'action',
  'sequence_id', 'frame_index'}`. `kind='clip'` reads labeled clips (every frame),
  `kind='frame'` single-frame records. The last batch may be smaller."""
  dataset = records.record_dataset(paths, kind, deterministic=True,
                                   skip_bad_records=skip_bad_records)
  if kind == "clip":
    def frames_of(record):
      tf.debugging.assert_equal(record["has_pose"], tf.constant(1, tf.int64),
                                message="evaluation needs labeled clips (has_pose == 1)")
      t = record["num_frames"]
      return tf.data.Dataset.from_tensor_slices({
          "jpeg": record["frames/encoded"], contract.FRAME_POSE: record["pose3d"],
          "action": tf.fill([t], record["action"]),
          "sequence_id": tf.fill([t], record["sequence_id"]),
          "frame_index": record["frame_index"] + tf.range(t)})
    dataset = dataset.flat_map(frames_of)
  else:
    dataset = dataset.map(lambda r: {"jpeg": r["image/encoded"], contract.FRAME_POSE: r["pose3d"],
                                     "action": r["action"], "sequence_id": r["sequence_id"],
                                     "frame_index": r["frame_index"]})

  def prepare(example):
    example = dict(example)
    example[contract.FRAME_IMAGE] = decode_frame(example.pop("jpeg"), image_size)
    return example

  dataset = dataset.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)
  return _finish(dataset, batch_size, deterministic, cache=False, drop_remainder=False)


# --- unlabeled target windows ---------------------------------------------------------------------

def relation_counterparts(window, relation_keys, theta, fill_mode):
  """Counterpart clips `[30, H, W, 3]` of every relation for one raw window `[60, H, W, 3]`
  (the contract in `batch_contract`)."""
  out = {}
  for key in relation_keys:
    relation = relations.get_relation(key)
    if relation.space == relations.POSE:
      anchor = windows.middle_clip(window, time_axis=-4)
      out[contract.counterpart_key(key)] = relation.image_pair(anchor, theta, fill_mode)[1]
    else:
      out[contract.counterpart_key(key)] = relation.image_pair(window, theta, fill_mode)[1]
  return out


@gin.configurable(denylist=["paths", "batch_size"])
def target_windows(paths, batch_size, relation_keys=("z3", "v2", "v3"), theta=relations.DEFAULT_THETA,
                   fill_mode="reflect", image_size=None, augment_config=augment_lib.AugmentConfig(),
                   with_augmented=True, seed=None, deterministic=True, shuffle_buffer=256,
                   repeat=True, cache=False, skip_bad_records=False, with_poses=False):
  """Unlabeled target batches: `window` [B,60,H,W,3], `augmented` [B,30,H,W,3] (A of the middle
  clip, one draw per clip) and `counterpart/<key>` [B,30,H,W,3] per relation. `with_poses` adds
  the clips' labels `window_pose3d` [B,60,17,3] (labeled clip splits only: source_test,
  target_test; for diagnostics such as `evaluation/energy_alignment.py`)."""
  relation_keys = tuple(relation_keys)
  for key in relation_keys:
    relations.get_relation(key)  # fail early on an unknown key
  def stream():
    dataset = records.record_dataset(paths, "clip", shuffle_files=repeat, seed=seed,
                                     deterministic=deterministic, skip_bad_records=skip_bad_records)

    def check_length(record):
      tf.debugging.assert_equal(
          record["num_frames"], tf.constant(windows.WINDOW_LENGTH, tf.int64),
          message=f"target clips must have {windows.WINDOW_LENGTH} frames")
      if not with_poses:
        return record["frames/encoded"]
      tf.debugging.assert_equal(record["has_pose"], tf.constant(1, tf.int64),
                                message="with_poses: the clip split has no labels")
      return record["frames/encoded"], tf.reshape(
          record["pose3d"], [windows.WINDOW_LENGTH, skeleton.NUM_JOINTS, 3])

    dataset = dataset.map(check_length, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if cache:
      dataset = dataset.cache()
    if repeat:
      dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed)

    def prepare(clip, s):
      jpegs, poses = clip if with_poses else (clip, None)
      window = decode_frames(jpegs, image_size)
      window = tf.ensure_shape(window, [windows.WINDOW_LENGTH, None, None, 3])
      out = {contract.WINDOW: window}
      if with_poses:
        out[contract.WINDOW_POSE] = poses
      if with_augmented:
        out[contract.AUGMENTED] = augment_lib.pose_invariant_augment(
            windows.middle_clip(window, time_axis=-4), s, augment_config)
      out.update(relation_counterparts(window, relation_keys, theta, fill_mode))
      return out

    dataset = _with_seeds(dataset, seed).map(prepare, num_parallel_calls=AUTOTUNE,
                                             deterministic=deterministic)
    return dataset

  return _finish(_one_stream(stream), batch_size, deterministic, cache=False)
