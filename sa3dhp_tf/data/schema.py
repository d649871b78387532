"""TFRecord schema shared by the synthetic benchmark and the real-dataset converters.

Version 1. Three record kinds, each a `tf.train.Example`; `kind` says which.

`frame` (labeled single frames, e.g. source training images):
  kind            bytes   b"frame"
  image/encoded   bytes   JPEG
  image/height    int64
  image/width     int64
  pose3d          float   [17*3] root-relative camera-frame pose, mm, H36M-17 order
  root            float   [3]    pelvis position in the camera frame, mm
  intrinsics      float   [4]    fx, fy, cx, cy in pixels of the stored image
  sequence_id     bytes   unique across the whole dataset (all splits)
  frame_index     int64   index of the frame in its sequence (at 30 fps)
  subject         bytes
  action          bytes
  domain          bytes   e.g. b"source", b"target"

`clip` (consecutive frames of one video, e.g. 60-frame target windows, labeled test clips):
  kind            bytes   b"clip"
  frames/encoded  bytes   [T] JPEG, one per frame
  image/height, image/width, sequence_id, subject, action, domain as above
  frame_index     int64   index of the first frame
  num_frames      int64   T
  intrinsics      float   [T*4]
  has_pose        int64   1 when pose3d/root are present (labeled), 0 for unlabeled video
  pose3d          float   [T*17*3] (only when has_pose == 1)
  root            float   [T*3]    (only when has_pose == 1)

`mocap` (unpaired 3D pose sequences, world frame z up, mm, 30 fps):
  kind            bytes   b"mocap"
  pose3d_world    float   [T*17*3]
  num_frames      int64   T
  fps             float
  sequence_id, subject, action, domain (b"mocap")

Unlabeled target clips never carry poses: the adaptation stage cannot read labels it must not use.
"""

import numpy as np
import tensorflow as tf

from sa3dhp_tf import errors
from sa3dhp_tf import skeleton

SCHEMA_VERSION = 1
KINDS = ("frame", "clip", "mocap")
_J3 = skeleton.NUM_JOINTS * 3


class DataError(errors.UserError):
  """Bad data; the message names the file (and record index where known)."""


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).ravel()))


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _text(value):
  return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _check_finite(name, array, shape):
  array = np.asarray(array, np.float32)
  if array.shape != shape:
    raise DataError(f"{name}: expected shape {shape}, got {array.shape}")
  bad = ~np.isfinite(array)
  if bad.any():
    raise DataError(f"{name}: {int(bad.sum())} non-finite values (first at {np.argwhere(bad)[0].tolist()})")
  return array


def _common(sequence_id, subject, action, domain):
  return {
      "sequence_id": _bytes([_text(sequence_id)]),
      "subject": _bytes([_text(subject)]),
      "action": _bytes([_text(action)]),
      "domain": _bytes([_text(domain)]),
  }


def encode_frame(jpeg: bytes, height: int, width: int, pose3d, root, intrinsics, sequence_id,
                 frame_index: int, subject, action, domain) -> bytes:
  pose3d = _check_finite("pose3d", pose3d, (skeleton.NUM_JOINTS, 3))
  feature = {
      "kind": _bytes([b"frame"]),
      "image/encoded": _bytes([jpeg]),
      "image/height": _ints([height]), "image/width": _ints([width]),
      "pose3d": _floats(pose3d),
      "root": _floats(_check_finite("root", root, (3,))),
      "intrinsics": _floats(_check_finite("intrinsics", intrinsics, (4,))),
      "frame_index": _ints([frame_index]),
      **_common(sequence_id, subject, action, domain),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def encode_clip(jpegs, height: int, width: int, intrinsics, sequence_id, frame_index: int,
                subject, action, domain, pose3d=None, root=None) -> bytes:
  num_frames = len(jpegs)
  if num_frames == 0:
    raise DataError("clip has no frames")
  feature = {
      "kind": _bytes([b"clip"]),
      "frames/encoded": _bytes(jpegs),
      "image/height": _ints([height]), "image/width": _ints([width]),
      "frame_index": _ints([frame_index]),
      "num_frames": _ints([num_frames]),
      "intrinsics": _floats(_check_finite("intrinsics", intrinsics, (num_frames, 4))),
      "has_pose": _ints([0 if pose3d is None else 1]),
      **_common(sequence_id, subject, action, domain),
  }
  if pose3d is not None:
    feature["pose3d"] = _floats(_check_finite("pose3d", pose3d, (num_frames, skeleton.NUM_JOINTS, 3)))
    feature["root"] = _floats(_check_finite("root", root, (num_frames, 3)))
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def encode_mocap(poses_world, sequence_id, subject, action, fps: float = 30.0) -> bytes:
  poses_world = np.asarray(poses_world, np.float32)
  if poses_world.ndim != 3:
    raise DataError(f"pose3d_world: expected [T, 17, 3], got {poses_world.shape}")
  poses_world = _check_finite("pose3d_world", poses_world, (len(poses_world), skeleton.NUM_JOINTS, 3))
  feature = {
      "kind": _bytes([b"mocap"]),
      "pose3d_world": _floats(poses_world),
      "num_frames": _ints([len(poses_world)]),
      "fps": _floats([fps]),
      **_common(sequence_id, subject, action, "mocap"),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


_COMMON_SPEC = {
    "kind": tf.io.FixedLenFeature([], tf.string),
    "sequence_id": tf.io.FixedLenFeature([], tf.string),
    "subject": tf.io.FixedLenFeature([], tf.string),
    "action": tf.io.FixedLenFeature([], tf.string),
    "domain": tf.io.FixedLenFeature([], tf.string),
}
FRAME_SPEC = {
    **_COMMON_SPEC,
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "pose3d": tf.io.FixedLenFeature([_J3], tf.float32),
    "root": tf.io.FixedLenFeature([3], tf.float32),
    "intrinsics": tf.io.FixedLenFeature([4], tf.float32),
    "frame_index": tf.io.FixedLenFeature([], tf.int64),
}
CLIP_SPEC = {
    **_COMMON_SPEC,
    "frames/encoded": tf.io.VarLenFeature(tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "frame_index": tf.io.FixedLenFeature([], tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "intrinsics": tf.io.VarLenFeature(tf.float32),
    "has_pose": tf.io.FixedLenFeature([], tf.int64),
    "pose3d": tf.io.VarLenFeature(tf.float32),
    "root": tf.io.VarLenFeature(tf.float32),
}
MOCAP_SPEC = {
    **_COMMON_SPEC,
    "pose3d_world": tf.io.VarLenFeature(tf.float32),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "fps": tf.io.FixedLenFeature([], tf.float32),
}
SPECS = {"frame": FRAME_SPEC, "clip": CLIP_SPEC, "mocap": MOCAP_SPEC}


def parse(serialized, kind: str):
  """Parses one serialized record of `kind` into a dict of dense tensors (reshaped)."""
  if kind not in SPECS:
    raise ValueError(f"unknown record kind {kind!r}; one of {KINDS}")
  parsed = tf.io.parse_single_example(serialized, SPECS[kind])
  for key, value in list(parsed.items()):
    if isinstance(value, tf.SparseTensor):
      parsed[key] = tf.sparse.to_dense(value)
  if kind == "frame":
    parsed["pose3d"] = tf.reshape(parsed["pose3d"], [skeleton.NUM_JOINTS, 3])
  elif kind == "clip":
    t = parsed["num_frames"]
    parsed["intrinsics"] = tf.reshape(parsed["intrinsics"], [t, 4])
    parsed["pose3d"] = tf.reshape(parsed["pose3d"], [-1, skeleton.NUM_JOINTS, 3])
    parsed["root"] = tf.reshape(parsed["root"], [-1, 3])
  else:
    parsed["pose3d_world"] = tf.reshape(parsed["pose3d_world"], [parsed["num_frames"], skeleton.NUM_JOINTS, 3])
  return parsed


def check_record(record: dict, kind: str, where: str):
  """Python-side full validation of one parsed record (used to locate bad records)."""
  if record["kind"] != kind.encode():
    raise DataError(f"{where}: record kind {record['kind']!r}, expected {kind!r}")
  poses = {"frame": ["pose3d", "root", "intrinsics"], "clip": ["pose3d", "root", "intrinsics"],
           "mocap": ["pose3d_world"]}[kind]
  for name in poses:
    value = np.asarray(record[name])
    if not np.all(np.isfinite(value)):
      raise DataError(f"{where}: field {name!r} has {int((~np.isfinite(value)).sum())} non-finite values")
  jpegs = {"frame": lambda r: [r["image/encoded"]], "clip": lambda r: list(r["frames/encoded"]),
           "mocap": lambda r: []}[kind](record)
  for i, jpeg in enumerate(jpegs):
    try:
      tf.io.decode_jpeg(jpeg, channels=3).numpy()
    except tf.errors.InvalidArgumentError as e:
      raise DataError(f"{where}: frame {i}: undecodable JPEG ({str(e).splitlines()[0]})") from None
