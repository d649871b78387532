"""Reading TFRecord shards with errors that name the file and record.

tf.data reports a corrupt shard or an undecodable JPEG without saying which file it came from.
`record_dataset` tags every record with its file and index and checks poses in-graph (the
assertion message names both); `explain_data_errors` turns any remaining low-level read error
into a `DataError` naming the first bad record, found by a Python scan of the shards.
"""

import contextlib
import glob
import os

import tensorflow as tf

from sa3dhp_tf.data import schema
from sa3dhp_tf.data.schema import DataError

SHARD_SUFFIX = ".tfrecord"
# Record kind of every benchmark split (converted real datasets use the same split names).
SPLIT_KINDS = {"mocap": "mocap", "source": "frame", "source_test": "clip",
               "target_train": "clip", "target_labeled": "frame", "target_test": "clip"}


def split_kind(split: str) -> str:
  try:
    return SPLIT_KINDS[split]
  except KeyError:
    raise ValueError(f"unknown split {split!r}; known: {sorted(SPLIT_KINDS)}") from None


def shard_paths(data_dir: str, split: str):
  """Sorted shard paths of `split` under `data_dir` (files `<split>-NNNNN-of-NNNNN.tfrecord`).
  Raises FileNotFoundError naming what is missing, including gaps in the shard numbering."""
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(f"data directory not found: {data_dir}")
  paths = sorted(glob.glob(os.path.join(data_dir, f"{split}-*-of-*{SHARD_SUFFIX}")))
  if not paths:
    raise FileNotFoundError(f"no shards for split {split!r} in {data_dir} "
                            f"(expected {split}-00000-of-NNNNN{SHARD_SUFFIX})")
  total = int(os.path.basename(paths[0])[:-len(SHARD_SUFFIX)].rsplit("-of-", 1)[1])
  expected = [os.path.join(data_dir, f"{split}-{i:05d}-of-{total:05d}{SHARD_SUFFIX}")
              for i in range(total)]
  missing = sorted(set(expected) - set(paths))
  if missing:
    raise FileNotFoundError(f"split {split!r} is missing {len(missing)} of {total} shards, "
                            f"first: {missing[0]}")
  return expected


def check_files(paths):
  paths = list(paths)
  if not paths:
    raise FileNotFoundError("no TFRecord files given")
  for path in paths:
    if not os.path.isfile(path):
      raise FileNotFoundError(f"TFRecord file not found: {path}")
  return paths


def _validate(record, kind, filename, index):
  fields = ("pose3d_world",) if kind == "mocap" else ("pose3d", "root", "intrinsics")
  checks = []
  for field in fields:
    finite = tf.reduce_all(tf.math.is_finite(record[field]))
    checks.append(tf.debugging.Assert(
        finite, [f"non-finite values in field '{field}' of", filename, "record", index],
        summarize=1))
  with tf.control_dependencies(checks):
    return {k: tf.identity(v) for k, v in record.items()}


def record_dataset(paths, kind: str, shuffle_files: bool = False, seed=None,
                   deterministic: bool = True, cycle_length: int = 4,
                   skip_bad_records: bool = False):
  """Parsed records of `kind` from `paths`, each dict extended with `_file` and `_index`.

  With `skip_bad_records`, records that fail to read, parse or validate are dropped and TF logs a
  warning for each; without it (the default) the first bad record stops the job."""
  paths = check_files(paths)
  files = tf.data.Dataset.from_tensor_slices(paths)
  if shuffle_files:
    files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

  def read_file(filename):
    def tag(index, serialized):
      record = schema.parse(serialized, kind)
      record = _validate(record, kind, filename, index)
      record["_file"] = filename
      record["_index"] = index
      return record
    return tf.data.TFRecordDataset(filename).enumerate().map(tag)

  dataset = files.interleave(read_file, cycle_length=min(cycle_length, len(paths)),
                             num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  if skip_bad_records:
    dataset = dataset.ignore_errors(log_warning=True)
  return dataset


def locate_bad_record(paths, kind: str):
  """Scans shards in Python and returns a message naming the first bad record, or None."""
  for path in check_files(paths):
    index = -1
    try:
      for index, serialized in enumerate(tf.data.TFRecordDataset(path)):
        where = f"{path} record {index}"
        try:
          parsed = schema.parse(serialized, kind)
        except tf.errors.OpError as e:
          return f"{where}: cannot parse as a {kind!r} record ({str(e).splitlines()[0]})"
        record = {k: v.numpy() for k, v in parsed.items()}
        try:
          schema.check_record(record, kind, where)
        except DataError as e:
          return str(e)
    except tf.errors.OpError as e:
      return f"{path}: corrupt TFRecord after record {index} ({str(e).splitlines()[0]})"
  return None


@contextlib.contextmanager
def explain_data_errors(paths, kind: str):
  """Re-raises low-level TF read/decode errors from the block as a DataError naming the record."""
  try:
    yield
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
    located = locate_bad_record(paths, kind)
    detail = located or f"error while reading {len(list(paths))} {kind} shard(s): {str(e).splitlines()[0]}"
    raise DataError(detail) from e
