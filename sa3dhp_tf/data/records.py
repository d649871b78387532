"""Reading TFRecord shards with errors that name the file and record.

tf.data reports a corrupt shard or an undecodable JPEG without saying which file it came from.
`record_dataset` tags every record with its file and index and checks poses in-graph (the
assertion message names both); `explain_data_errors` turns any remaining low-level read error
into a `DataError` naming the first bad record, found by a Python scan of the shards.

`check_split` compares the records a split really holds with the count its `manifest.json`
promises, before a stage or the evaluator reads it: a short split (a truncated or empty shard)
is a `DataError`, or, under `bad_records.skip = True`, a Python-logging warning (it survives
`TF_CPP_MIN_LOG_LEVEL=2`) and a count the stage writes into its `results.json`.
"""

import contextlib
import glob
import json
import os

from absl import logging
import tensorflow as tf

from sa3dhp_tf.data import read_policy
from sa3dhp_tf.data import schema
from sa3dhp_tf.data.schema import DataError

SHARD_SUFFIX = ".tfrecord"
# Record kind of every benchmark split (converted real datasets use the same split names).
SPLIT_KINDS = {"mocap": "mocap", "source": "frame", "source_test": "clip",
               "target_train": "clip", "target_labeled": "frame", "target_test": "clip"}


MANIFEST = "manifest.json"


skip_bad_records_setting = read_policy.skip_bad_records


def read_manifest(data_dir):
  """The benchmark's `manifest.json`, or None when the folder has none (converted data)."""
  path = os.path.join(data_dir, MANIFEST)
  if not os.path.isfile(path):
    return None
  try:
    with open(path) as f:
      manifest = json.load(f)
  except (OSError, ValueError) as e:
    raise DataError(f"{path} is unreadable or not JSON ({str(e).splitlines()[0]})") from e
  if not isinstance(manifest, dict) or not isinstance(manifest.get("splits", {}), dict):
    raise DataError(f"{path} is not a benchmark manifest (no 'splits' object)")
  return manifest


def manifest_image_size(data_dir):
  manifest = read_manifest(data_dir) or {}
  size = manifest.get("image_size")
  return None if size is None else int(size)


def _count_records(paths, kind, validate):
  """Number of records in `paths` (with `validate`: that parse and pass the schema checks)."""
  total = 0
  for path in paths:
    if os.path.getsize(path) == 0:
      continue
    index = -1
    try:
      for index, serialized in enumerate(tf.data.TFRecordDataset(path)):
        if validate:
          try:
            parsed = schema.parse(serialized, kind)
            schema.check_record({k: v.numpy() for k, v in parsed.items()}, kind, path)
          except (tf.errors.OpError, DataError):
            continue
        total += 1
    except tf.errors.OpError as e:
      if not validate:
        raise DataError(_corrupt_message(path, index, e)) from e
  return total


_CHECKED = {}


def check_split(data_dir, split, skip=None):
  """Checks the records of `split` against the manifest; returns how many were dropped (0, or
  with `skip` / `bad_records.skip` the records missing or unreadable). Cached per file state."""
  skip = skip_bad_records_setting() if skip is None else skip
  paths = _shard_paths(data_dir, split)
  key = (os.path.abspath(data_dir), split, skip,
         tuple((p, os.path.getsize(p), os.path.getmtime(p)) for p in paths))
  if key in _CHECKED:
    return _CHECKED[key]
  kind = split_kind(split)
  # A converter may leave a shard empty when a split has fewer items than shards; an empty
  # shard is an error only when the manifest says records are missing.
  empty = [p for p in paths if os.path.getsize(p) == 0]
  entry = ((read_manifest(data_dir) or {}).get("splits") or {}).get(split)
  expected = None if entry is None else int(entry.get("records", 0))
  if expected is None and not skip:
    _CHECKED[key] = 0
    return 0
  found = _count_records(paths, kind, validate=skip)
  if expected is None:  # no manifest: only records that fail to parse can be counted
    try:
      expected = _count_records(paths, kind, validate=False)
    except DataError:
      expected = found
  dropped = max(expected - found, 0)
  where = f"split {split!r} of {data_dir}"
  if found > expected:
    raise DataError(f"{where} holds {found} records but {MANIFEST} lists {expected}; rebuild or "
                    "fix the manifest")
  if dropped and not skip and empty:
    raise DataError(f"shard {empty[0]} of split {split!r} is empty (0 bytes): the split holds "
                    f"{found} of the {expected} records {MANIFEST} lists; rebuild the split")
  if dropped and not skip:
    raise DataError(f"{where} holds {found} of the {expected} records {MANIFEST} lists "
                    f"({dropped} missing: a truncated or replaced shard); rebuild the split, or "
                    "bind bad_records.skip = True to use what is readable")
  if dropped:
    logging.warning("%s: %d of %d records are missing or unreadable and are skipped "
                    "(bad_records.skip = True)", where, dropped, expected)
  _CHECKED[key] = dropped
  return dropped


def dropped_records(data_dir):
  """{split: records dropped} of the splits of `data_dir` read in this process, for a stage's
  results.json (splits without drops are left out)."""
  data_dir = os.path.abspath(data_dir)
  counts = {}
  for key, dropped in _CHECKED.items():
    if key[0] == data_dir and dropped:
      counts[key[1]] = dropped
  return counts


def split_kind(split: str) -> str:
  try:
    return SPLIT_KINDS[split]
  except KeyError:
    raise DataError(f"unknown split {split!r}; known: {sorted(SPLIT_KINDS)}") from None


def shard_paths(data_dir: str, split: str):
  """Sorted shard paths of `split` under `data_dir` (files `<split>-NNNNN-of-NNNNN.tfrecord`).
  Raises FileNotFoundError naming what is missing, including gaps in the shard numbering, and
  a DataError when the split holds fewer records than its manifest lists (`check_split`)."""
  paths = _shard_paths(data_dir, split)
  check_split(data_dir, split)
  return paths


def _shard_paths(data_dir: str, split: str):
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
                   skip_bad_records: bool = None):
  """Parsed records of `kind` from `paths`, each dict extended with `_file` and `_index`.

  With `skip_bad_records` (default: the gin setting `bad_records.skip`), records that fail to
  read, parse or validate are dropped (`check_split` counts them and warns); without it the
  first bad record stops the job."""
  if skip_bad_records is None:
    skip_bad_records = skip_bad_records_setting()
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
    dataset = dataset.ignore_errors(log_warning=False)  # check_split warns through Python
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
      return _corrupt_message(path, index, e)
  return None


def _corrupt_message(path, last_good, error):
  where = ("its first record" if last_good < 0 else
           f"record {last_good + 1} (after {last_good + 1} good records)")
  return f"{path}: corrupt TFRecord at {where} ({str(error).splitlines()[0]})"


@contextlib.contextmanager
def explain_data_errors(paths, kind: str):
  """Re-raises low-level TF read/decode errors from the block as a DataError naming the record."""
  try:
    yield
  except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
    located = locate_bad_record(paths, kind)
    detail = located or f"error while reading {len(list(paths))} {kind} shard(s): {str(e).splitlines()[0]}"
    raise DataError(detail) from e
