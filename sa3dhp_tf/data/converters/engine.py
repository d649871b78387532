"""The conversion engine shared by every dataset: plan, shard, crop, write, resume, assemble.

Layout of an output directory (one per paper setting; several conversions write into it):
  parts/<dataset>.<role>/plan.json            what was asked (items per shard, options, settings)
  parts/<dataset>.<role>/<split>-k-of-N.tfrecord   one conversion's shards
  parts/<dataset>.<role>/job-<partition>-k-of-N.json  written last: the shard is complete
  <split>-i-of-M.tfrecord                     hard links (copies where links fail) numbering the
                                              parts' shards of each split, as the stages expect
  manifest.json                               counts, image size, sources, failures per conversion

Frames: every split is resampled to 30 fps (nearest source frame) except `target_test`, which
keeps the dataset's frames (`Settings.native_fps_test`).

Resuming: a job (one shard of one partition) whose marker exists and lists no failed files is
not redone; every file is written under a temporary name and renamed, so a killed run leaves
either a complete shard or nothing. Items are buffered per sequence, so a file that fails midway
leaves no partial records; it is listed (file name and first error line) in the marker and the
manifest, the rest of the run goes on, and a rerun retries only the shards with failures.
"""

import dataclasses
import glob
import json
import multiprocessing
import os
import shutil
import time
from typing import Dict, List, Optional

import cv2
import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf import skeleton
from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import video_io

FPS = 30.0
# = geometry.WINDOW_LENGTH, which imports TensorFlow; kept here so that the CLI reports
# bad flags without that import (test_converters checks the two agree).
WINDOW_LENGTH = 60
SHARD_SUFFIX = ".tfrecord"
# Errors that fail one item (its file is bad), not the run; anything else is a bug and stops it.
ITEM_ERRORS = (errors.UserError, OSError, EOFError, ValueError, cv2.error)


@dataclasses.dataclass(frozen=True)
class Settings:
  """What every converter shares. Frame indices and clips are at 30 fps after resampling
  (nearest source frame); crops are square, `box_margin` x the person's extent."""
  image_size: int = 224
  jpeg_quality: int = 95
  frame_stride: int = 1          # 'source' frame records: every n-th 30 fps frame
  labeled_stride: int = 4        # 'target_labeled': every n-th frame of the target videos
  window_hop: int = 30           # 'target_train' windows
  test_window_hop: int = 60      # 'source_test' / 'target_test' windows
  box_margin: float = 1.3        # around joints (they do not reach the skin)
  detection_margin: float = 1.1  # around given or detected person boxes
  items_per_shard: int = 4
  min_mocap_frames: int = WINDOW_LENGTH
  max_items: int = 0             # 0: all; else the first n items per partition (quick looks)
  # target_test keeps the dataset's own frames (no 30 fps resampling), so the evaluation covers
  # every valid frame exactly once, as the datasets' protocols do (a 25 fps sequence resampled to
  # 30 fps would count every fifth frame twice).
  native_fps_test: bool = True

  def check(self):
    for name in ("image_size", "jpeg_quality", "frame_stride", "labeled_stride", "window_hop",
                 "test_window_hop", "items_per_shard", "min_mocap_frames"):
      if int(getattr(self, name)) < 1:
        raise errors.UserError(f"--{name} must be >= 1, got {getattr(self, name)}")
    if not self.box_margin >= 1.0 or not self.detection_margin >= 1.0:
      raise errors.UserError("--box_margin and --detection_margin must be >= 1")


def resample_ids(num_frames: int, fps: float) -> np.ndarray:
  """Source frame of every 30 fps frame (nearest), covering the sequence."""
  if num_frames <= 0:
    return np.zeros(0, np.int64)
  if abs(fps - FPS) < 1e-3:
    return np.arange(num_frames)
  count = int(np.floor((num_frames - 1) * FPS / fps + 1e-6)) + 1
  return np.minimum(np.round(np.arange(count) * fps / FPS).astype(np.int64), num_frames - 1)


def valid_runs(valid: np.ndarray):
  """(start, end) of every run of consecutive True values."""
  runs, start = [], None
  for t, ok in enumerate(list(valid) + [False]):
    if ok and start is None:
      start = t
    elif not ok and start is not None:
      runs.append((start, t))
      start = None
  return runs


def clip_starts(valid, hop, length=WINDOW_LENGTH, tails=False):
  """(start, length) of clips of consecutive valid frames; with `tails` the rest of each run
  becomes one shorter clip, so every valid frame is in exactly one clip (evaluation)."""
  clips = []
  for a, b in valid_runs(valid):
    s = a
    while s + length <= b:
      clips.append((s, length))
      s += hop
    if tails and hop >= length and s < b:
      clips.append((s, b - s))
  return clips


def _majority(labels):
  values, counts = np.unique(np.asarray(labels), return_counts=True)
  return str(values[np.argmax(counts)])


def sequence_records(seq: registry.Sequence, splits, settings: Settings):
  """Serialized records `{split: [bytes]}` and counts of one sequence."""
  from sa3dhp_tf.data import schema
  native = settings.native_fps_test and tuple(splits) == ("target_test",)
  ids = np.arange(seq.num_frames) if native else resample_ids(seq.num_frames, seq.fps)
  n = len(ids)
  valid = np.ones(seq.num_frames, bool) if seq.valid is None else np.asarray(seq.valid, bool)
  valid = valid[ids]
  labeled = seq.poses is not None
  if labeled:
    poses = np.asarray(seq.poses, np.float64)[ids]
    roots = (poses[:, skeleton.ROOT] if seq.roots is None else np.asarray(seq.roots)[ids])
    relative = poses - poses[:, skeleton.ROOT:skeleton.ROOT + 1]
    finite = np.all(np.isfinite(relative), axis=(1, 2)) & np.all(np.isfinite(roots), axis=1)
    valid &= finite
  intrinsics = np.broadcast_to(np.asarray(seq.intrinsics, np.float64), (seq.num_frames, 4))[ids]
  if seq.boxes is not None:
    boxes = np.asarray(seq.boxes, np.float64)[ids]
    valid &= np.all(np.isfinite(boxes), axis=1)
    squares = np.array([video_io.box_to_square(b, settings.detection_margin) if ok
                        else np.full(3, np.nan) for b, ok in zip(boxes, valid)])
  else:
    if seq.points2d is not None:
      points = np.asarray(seq.points2d, np.float64)[ids]
    elif labeled:
      points = video_io.project(relative + roots[:, None], intrinsics)
    else:
      raise ValueError(f"{seq.sequence_id}: a sequence needs poses, boxes or points2d")
    squares = np.full((n, 3), np.nan)
    for t in range(n):
      if valid[t]:
        try:
          squares[t] = video_io.square_box(points[t], settings.box_margin)
        except ValueError:
          valid[t] = False
  actions = None if seq.actions is None else [seq.actions[i] for i in ids]

  plans: Dict[str, list] = {}
  for split in splits:
    if split == "source":
      plans[split] = [("frame", t) for t in range(0, n, settings.frame_stride) if valid[t]]
    elif split == "target_labeled":
      plans[split] = [("frame", t) for t in range(0, n, settings.labeled_stride) if valid[t]]
    elif split == "target_train":
      plans[split] = [("clip", s, length) for s, length in
                      clip_starts(valid, settings.window_hop)]
    elif split in ("source_test", "target_test"):
      plans[split] = [("clip", s, length) for s, length in
                      clip_starts(valid, settings.test_window_hop, tails=split == "target_test")]
    else:
      raise ValueError(f"split {split!r} is not an image split")
    if split != "target_train" and not labeled:
      raise registry.ConversionError(f"{seq.sequence_id}: split {split!r} needs poses, and this "
                                     "sequence has none")
  needed = sorted({t for plan in plans.values() for entry in plan
                   for t in ([entry[1]] if entry[0] == "frame"
                             else range(entry[1], entry[1] + entry[2]))})
  crops = {}
  source_ids = [int(ids[t]) for t in needed]
  by_source = {}
  for t, s in zip(needed, source_ids):
    by_source.setdefault(s, []).append(t)
  frames = seq.read_frames(sorted(by_source))
  for s, image in zip(sorted(by_source), frames):
    for t in by_source[s]:
      patch, k = video_io.crop(image, squares[t], settings.image_size, intrinsics[t])
      ok, buf = cv2.imencode(".jpg", cv2.cvtColor(patch, cv2.COLOR_RGB2BGR),
                             [cv2.IMWRITE_JPEG_QUALITY, int(settings.jpeg_quality)])
      if not ok:
        raise RuntimeError("JPEG encoding failed")
      crops[t] = (buf.tobytes(), k)
  missing = [t for t in needed if t not in crops]
  if missing:
    raise registry.ConversionError(f"{seq.sequence_id}: frames {source_ids[0]}.. could not be "
                                   f"read ({len(missing)} missing)")
  size = settings.image_size
  out, counts = {}, {}
  for split, plan in plans.items():
    records, frames_used = [], set()
    for entry in plan:
      if entry[0] == "frame":
        t = entry[1]
        records.append(schema.encode_frame(
            crops[t][0], size, size, relative[t], roots[t], crops[t][1], seq.sequence_id, t,
            seq.subject, actions[t] if actions else seq.action, _domain(split)))
        frames_used.add(t)
      else:
        _, s, length = entry
        span = list(range(s, s + length))
        with_pose = split != "target_train"
        records.append(schema.encode_clip(
            [crops[t][0] for t in span], size, size, np.stack([crops[t][1] for t in span]),
            f"{seq.sequence_id}@{s}", s, seq.subject,
            _majority([actions[t] for t in span]) if actions else seq.action, _domain(split),
            pose3d=relative[span] if with_pose else None,
            root=roots[span] if with_pose else None))
        frames_used.update(span)
    out[split] = records
    counts[split] = {"records": len(records), "frames": len(frames_used),
                     "sequences": int(bool(records))}
  return out, counts


def _domain(split):
  return "source" if split.startswith("source") else "target"


def mocap_records(seq: registry.MocapSequence, settings: Settings):
  from sa3dhp_tf.data import schema
  from sa3dhp_tf.data.motion import kinematics
  poses = kinematics.resample(np.asarray(seq.poses_world, np.float64), seq.fps, FPS)
  if len(poses) < settings.min_mocap_frames:
    return {"mocap": []}, {"mocap": {"records": 0, "frames": 0, "sequences": 0,
                                     "too_short": 1}}
  record = schema.encode_mocap(poses, seq.sequence_id, seq.subject, seq.action, fps=FPS)
  return {"mocap": [record]}, {"mocap": {"records": 1, "frames": len(poses), "sequences": 1}}


# --- jobs -----------------------------------------------------------------------------------------

def _shard_name(split, k, total):
  return f"{split}-{k:05d}-of-{total:05d}{SHARD_SUFFIX}"


def _marker_path(part_dir, partition, k, total):
  return os.path.join(part_dir, f"job-{partition}-{k:05d}-of-{total:05d}.json")


def write_json(path, data):
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(data, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _failure(item, error):
  return {"item": item.key, "file": item.paths[0] if item.paths else item.key,
          "error": f"{type(error).__name__}: {errors.first_line(error)}"}


def run_job(job):
  """Writes one shard of one partition (in a worker process or in-process)."""
  import tensorflow as tf
  from sa3dhp_tf.data import converters
  name, role, partition, k, total, items, options, settings, part_dir = job
  cv2.setNumThreads(1)
  converter = converters.get_converter(name)
  splits = registry.ROLES[role][partition]
  paths = {split: os.path.join(part_dir, _shard_name(split, k, total)) for split in splits}
  writers = {split: tf.io.TFRecordWriter(path + ".tmp") for split, path in paths.items()}
  counts = {split: {"records": 0, "frames": 0, "sequences": 0} for split in splits}
  failures = []
  try:
    for item in items:
      try:
        buffered = []
        for seq in converter.read_item(item, options):
          if isinstance(seq, registry.MocapSequence):
            buffered.append(mocap_records(seq, settings))
          else:
            buffered.append(sequence_records(seq, splits, settings))
      except ITEM_ERRORS as e:
        failures.append(_failure(item, e))
        continue
      for records, seq_counts in buffered:
        for split, serialized in records.items():
          for record in serialized:
            writers[split].write(record)
          for key, value in seq_counts[split].items():
            counts[split][key] = counts[split].get(key, 0) + value
  finally:
    for writer in writers.values():
      writer.close()
  for split, path in paths.items():
    os.replace(path + ".tmp", path)
  marker = {"partition": partition, "shard": k, "num_shards": total,
            "items": [item.key for item in items], "failures": failures,
            "outputs": {split: {"file": os.path.basename(paths[split]), **counts[split]}
                        for split in splits}}
  write_json(_marker_path(part_dir, partition, k, total), marker)
  return marker


# --- planning, running, assembling ----------------------------------------------------------------

def _plan(converter, role, root, options, settings, items):
  by_partition = {}
  for partition in registry.ROLES[role]:
    chosen = sorted((i for i in items if i.partition == partition), key=lambda i: i.key)
    if settings.max_items:
      chosen = chosen[:settings.max_items]
    if chosen:
      total = -(-len(chosen) // settings.items_per_shard)
      by_partition[partition] = [[i.key for i in chosen[k::total]] for k in range(total)]
  return {"dataset": converter.name, "role": role, "root": os.path.abspath(root),
          "options": _jsonable(dataclasses.asdict(options)),
          "settings": dataclasses.asdict(settings), "schema_version": _schema_version(),
          "shards": by_partition}


def _jsonable(value):
  return json.loads(json.dumps(value, default=str))


def _schema_version():
  from sa3dhp_tf.data import schema
  return schema.SCHEMA_VERSION


def _read_json(path):
  with open(path) as f:
    return json.load(f)


def _check_output_dir(output_dir, part, settings):
  manifest_path = os.path.join(output_dir, "manifest.json")
  if os.path.isfile(manifest_path):
    try:
      manifest = _read_json(manifest_path)
    except (OSError, ValueError) as e:
      raise errors.UserError(f"{manifest_path}: unreadable manifest ({e})") from e
    if "conversions" not in manifest:
      raise errors.UserError(f"--output_dir {output_dir} holds a synthetic benchmark "
                             "(manifest.json without conversions); use another directory")
  for other in glob.glob(os.path.join(output_dir, "parts", "*", "plan.json")):
    plan = _read_json(other)
    name = os.path.basename(os.path.dirname(other))
    if name != part and plan["settings"]["image_size"] != settings.image_size:
      raise errors.UserError(
          f"--image_size {settings.image_size} differs from the {plan['settings']['image_size']}"
          f" of conversion {name!r} already in {output_dir}: one directory has one image size")


def convert(name, root, output_dir, role=None, options=None, settings: Settings = Settings(),
            num_workers=1, overwrite=False, contact_sheet=True, log=print):
  """Converts dataset `name` at `root` into `output_dir` (see the module docstring); returns the
  manifest. Raises `UserError` for bad arguments or layouts; per-file failures are in
  `manifest['conversions'][part]['failures']`."""
  from sa3dhp_tf.data import converters
  converter = converters.get_converter(name)
  role = role or converter.default_role
  if role not in converter.roles:
    raise errors.UserError(f"--role {role!r}: {name} supports {', '.join(converter.roles)}")
  if options is None or isinstance(options, (list, tuple)):
    options = registry.parse_options(converter, options)
  settings.check()
  if not os.path.isdir(root):
    raise errors.UserError(f"--root {root}: not a directory")
  errors.ensure_writable_dir(output_dir, "--output_dir")
  part = f"{name}.{role}"
  part_dir = os.path.join(output_dir, "parts", part)
  _check_output_dir(output_dir, part, settings)
  items = converter.list_items(root, options)
  plan = _plan(converter, role, root, options, settings, items)
  if not plan["shards"]:
    wanted = ", ".join(registry.ROLES[role])
    raise errors.UserError(f"--root {root}: no {name} files for partition(s) {wanted} of role "
                           f"{role!r}; expected layout:\n{converter.layout}")
  plan_path = os.path.join(part_dir, "plan.json")
  if os.path.isfile(plan_path):
    old = _read_json(plan_path)
    if old != plan:
      if not overwrite:
        changed = [k for k in plan if old.get(k) != plan[k]]
        raise errors.UserError(
            f"{plan_path}: an earlier conversion with different {', '.join(changed)} is in "
            "--output_dir; rerun with the same flags to resume, or pass --overwrite")
      shutil.rmtree(part_dir)
  os.makedirs(part_dir, exist_ok=True)
  write_json(plan_path, plan)
  by_key = {item.key: item for item in items}
  jobs, skipped = [], 0
  for partition, shards in plan["shards"].items():
    for k, keys in enumerate(shards):
      marker = _marker_path(part_dir, partition, k, len(shards))
      if os.path.isfile(marker) and not _read_json(marker)["failures"]:
        skipped += 1
        continue
      jobs.append((name, role, partition, k, len(shards), [by_key[key] for key in keys],
                   options, settings, part_dir))
  log(f"{part}: {len(jobs)} shard(s) to write, {skipped} already complete")
  start = time.time()
  if num_workers > 1 and len(jobs) > 1:
    with multiprocessing.get_context("spawn").Pool(min(num_workers, len(jobs))) as pool:
      for marker in pool.imap_unordered(run_job, jobs):
        _log_marker(part, marker, log)
  else:
    for job in jobs:
      _log_marker(part, run_job(job), log)
  manifest = assemble(output_dir, seconds={part: round(time.time() - start, 1)})
  if contact_sheet:
    from sa3dhp_tf.data import benchmark
    try:
      manifest["contact_sheet"] = benchmark.write_contact_sheet(output_dir)
    except FileNotFoundError:
      pass
    if manifest["splits"].get("target_train", {}).get("records"):
      manifest["window_sheet"] = window_sheet(output_dir)
  return manifest


def _log_marker(part, marker, log):
  written = ", ".join(f"{s} {o['records']}" for s, o in marker["outputs"].items())
  log(f"{part}: {marker['partition']} shard {marker['shard'] + 1}/{marker['num_shards']}: "
      f"{written} records; {len(marker['failures'])} failed file(s)")
  for failure in marker["failures"]:
    log(f"  failed: {failure['file']}: {failure['error']}")


def _link(src, dst):
  tmp = dst + ".tmp"
  if os.path.lexists(tmp):
    os.remove(tmp)
  try:
    os.link(src, tmp)
  except OSError:
    shutil.copyfile(src, tmp)
  os.replace(tmp, dst)


def assemble(output_dir, seconds: Optional[Dict[str, float]] = None):
  """Numbers every complete part shard of each split into the top-level `<split>-i-of-M` files
  and rewrites `manifest.json`. Splits of incomplete conversions hold the shards done so far."""
  manifest_path = os.path.join(output_dir, "manifest.json")
  old = _read_json(manifest_path) if os.path.isfile(manifest_path) else {}
  splits: Dict[str, dict] = {}
  conversions = {}
  image_size = None
  for plan_path in sorted(glob.glob(os.path.join(output_dir, "parts", "*", "plan.json"))):
    part_dir = os.path.dirname(plan_path)
    part = os.path.basename(part_dir)
    plan = _read_json(plan_path)
    image_size = plan["settings"]["image_size"]
    done, total, failures, counts = 0, 0, [], {}
    for partition, shards in plan["shards"].items():
      for k in range(len(shards)):
        total += 1
        marker_path = _marker_path(part_dir, partition, k, len(shards))
        if not os.path.isfile(marker_path):
          continue
        marker = _read_json(marker_path)
        done += 1
        failures.extend(marker["failures"])
        for split, output in marker["outputs"].items():
          entry = splits.setdefault(split, {"files": [], "records": 0, "frames": 0,
                                            "sequences": 0, "sources": []})
          entry["files"].append(os.path.join(part_dir, output["file"]))
          if part not in entry["sources"]:
            entry["sources"].append(part)
          for key in ("records", "frames", "sequences"):
            entry[key] += output[key]
            counts.setdefault(split, {}).setdefault(key, 0)
            counts[split][key] += output[key]
    previous = old.get("conversions", {}).get(part, {})
    conversions[part] = {
        "dataset": plan["dataset"], "role": plan["role"], "root": plan["root"],
        "options": plan["options"], "settings": plan["settings"], "jobs_done": done,
        "jobs_total": total, "complete": done == total and not failures,
        "failures": failures, "counts": counts,
        "seconds": (seconds or {}).get(part, previous.get("seconds"))}
  for split, entry in splits.items():
    files = entry.pop("files")
    for stale in glob.glob(os.path.join(output_dir, f"{split}-*-of-*{SHARD_SUFFIX}")):
      os.remove(stale)
    names = [_shard_name(split, i, len(files)) for i in range(len(files))]
    for src, dst in zip(files, names):
      _link(src, os.path.join(output_dir, dst))
    entry["shards"] = names
  manifest = {"schema_version": _schema_version(), "image_size": image_size, "fps": FPS,
              "splits": dict(sorted(splits.items())), "conversions": conversions}
  write_json(manifest_path, manifest)
  return manifest


def window_sheet(output_dir, split="target_train", frames_per_window=6, max_windows=8,
                 path=None):
  """A PNG with one row per clip of `split` (its first `max_windows`), `frames_per_window`
  frames spread over each clip, labelled with the clip's sequence id; returns its path."""
  import tensorflow as tf
  from sa3dhp_tf.data import records
  rows = []
  for record in records.record_dataset(records.shard_paths(output_dir, split), "clip"
                                       ).take(max_windows):
    jpegs = record["frames/encoded"].numpy()
    picks = np.linspace(0, len(jpegs) - 1, frames_per_window).round().astype(int)
    row = np.concatenate([tf.io.decode_jpeg(jpegs[i], channels=3).numpy() for i in picks], 1)
    label = np.full((14, row.shape[1], 3), 255, np.uint8)
    cv2.putText(label, record["sequence_id"].numpy().decode()[-60:], (2, 11),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    rows.append(np.concatenate([label, row], 0))
  if not rows:
    raise errors.UserError(f"{output_dir}: split {split!r} has no clips")
  path = path or os.path.join(output_dir, f"windows_{split}.png")
  cv2.imwrite(path, cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
  return path
