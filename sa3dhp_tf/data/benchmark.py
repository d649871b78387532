"""The synthetic domain-shift benchmark (DESIGN.md section 5).

Splits (disjoint subjects and sequences; all sequence ids are unique across splits):
  mocap        unpaired world-frame pose sequences (`mocap` records), no images
  source       labeled source-style frames (`frame` records), SURREAL-like
  source_test  labeled source-style 60-frame clips of held-out subjects (in-domain check, and
               the source side of the relation-residual diagnostics, which need videos)
  target_train unlabeled target-style 60-frame windows (`clip` records, no poses)
  target_labeled  the labels of target_train, as labeled `frame` records of every
               `labeled_stride`-th rendered frame of the same sequences. Never read by the
               adaptation stage: only the target-supervised oracle and the semi-supervised
               variant use it.
  target_test  labeled target-style 60-frame clips of held-out subjects (evaluation only)

Every rendered sequence is filmed by a camera that tracks the pelvis (on the optical axis, at a
constant distance), so labels are root-relative poses in the frame's own camera and the principal
point is the crop centre. Each shard is built by one worker process from seeds derived from (seed, split, sequence),
so the output is identical for any number of workers.
"""

import dataclasses
import json
import multiprocessing
import os
import time
from typing import Dict

import cv2
import gin
import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import procedural
from sa3dhp_tf.data import render as render_lib
from sa3dhp_tf.data.render import styles as style_lib
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.geometry import windows

SPLITS = ("mocap", "source", "source_test", "target_train", "target_test")
_SPLIT_INDEX = {name: i for i, name in enumerate(SPLITS)}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SplitSpec:
  """How one split is made: `num_sequences` sequences of `sequence_frames` frames from
  `num_subjects` subjects of its own; frames rendered in `style` (None for mocap)."""
  num_sequences: int
  num_subjects: int
  sequence_frames: int = 240
  style: str = None
  num_shards: int = 2
  frame_stride: int = 1          # 'frame' splits: keep every n-th frame
  window_hop: int = 30           # 'clip' splits: hop between consecutive 60-frame windows
  max_windows_per_sequence: int = 1000
  labeled_stride: int = 4        # target_train: every n-th frame also goes to target_labeled


@gin.configurable
def default_splits(scale=1.0):
  """Split sizes of the default benchmark; `scale` multiplies every sequence count."""
  def n(count):
    return max(1, int(round(count * scale)))
  return {
      "mocap": SplitSpec(n(400), 24, sequence_frames=300, num_shards=2),
      # 640 sequences of 64 subjects: with 160 of 16, G^s overfit (a CNN regressing joints
      # directly; far less with 640; figures: docs/benchmark.md, Calibration).
      "source": SplitSpec(n(640), 64, style="source", frame_stride=4, num_shards=8),
      "source_test": SplitSpec(n(24), 4, style="source", window_hop=60,
                               max_windows_per_sequence=2, num_shards=1),
      "target_train": SplitSpec(n(64), 12, style="target", window_hop=30, num_shards=4),
      "target_test": SplitSpec(n(24), 4, style="target", window_hop=60,
                               max_windows_per_sequence=2, num_shards=1),
  }


def _rng(seed, split, *ids):
  return np.random.default_rng([seed, _SPLIT_INDEX[split], *ids])


def _subjects(seed, split, count):
  return [procedural.sample_subject(_rng(seed, split, 10**6, k)) for k in range(count)]


def _sequence(seed, split, index, spec, subjects, actions):
  rng = _rng(seed, split, index)
  action = actions[index % len(actions)]
  subject_index = int(rng.integers(len(subjects)))
  poses = procedural.generate_sequence(rng, action, subjects[subject_index], spec.sequence_frames)
  return rng, action, f"{split}_subject{subject_index:02d}", poses


def _view(rng, poses_world, style):
  """Camera-frame poses of a sequence filmed by a tracking camera: one random view direction
  (azimuth, elevation, roll) and distance from the style's ranges, following the pelvis so that
  it stays on the optical axis at a constant distance (the person-centred crop of a real video).
  The person's own turning and bending stay visible. Returns (poses, camera distance)."""
  rotation, distance, _ = camera.random_view(rng, style.camera.view_ranges)
  relative = poses_world - poses_world[:, skeleton.ROOT:skeleton.ROOT + 1]
  poses_camera = relative @ rotation.T
  poses_camera[..., 2] += distance
  return poses_camera, distance


def _encode_jpeg(image_rgb, quality):
  ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                         [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
  if not ok:
    raise RuntimeError("JPEG encoding failed")
  return buf.tobytes()


def _render(rng, poses_virtual, distance, style, image_size, frame_ids, jpeg_quality):
  """Renders `frame_ids` of one sequence with one appearance; returns (JPEG bytes, intrinsics).
  The style's own JPEG degradation is the stored encoding, so frames are compressed once."""
  intrinsics = style.sample_intrinsics(rng, distance, image_size)
  appearance = render_lib.sample_appearance(style, rng)
  quality = appearance.jpeg_quality or jpeg_quality
  jpegs = [_encode_jpeg(render_lib.render_frame(poses_virtual[t], intrinsics, appearance, rng,
                                                (image_size, image_size), style, apply_jpeg=False),
                        quality) for t in frame_ids]
  return jpegs, intrinsics


def _shard_path(out_dir, split, shard, num_shards):
  return os.path.join(out_dir, f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord")


def _build_shard(job):
  """Builds one shard (and, for target_train, its target_labeled twin); runs in a worker
  process. Returns a list of (split, path, counts)."""
  import tensorflow as tf  # imported in the worker so the parent can fork/spawn cheaply
  from sa3dhp_tf.data import schema

  split, shard, spec, seed, image_size, styles, actions, out_dir, jpeg_quality = job
  cv2.setNumThreads(1)  # OpenCV's own threads only add overhead on small crops
  path = _shard_path(out_dir, split, shard, spec.num_shards)
  labeled_path = _shard_path(out_dir, "target_labeled", shard, spec.num_shards)
  subjects = _subjects(seed, split, spec.num_subjects)
  style = styles.get(spec.style)
  counts = {"records": 0, "frames": 0, "sequences": 0}
  labeled_counts = {"records": 0, "frames": 0, "sequences": 0}
  labeled_writer = (tf.io.TFRecordWriter(labeled_path + ".tmp") if split == "target_train"
                    else None)
  with tf.io.TFRecordWriter(path + ".tmp") as writer:
    for index in range(shard, spec.num_sequences, spec.num_shards):
      rng, action, subject, poses_world = _sequence(seed, split, index, spec, subjects, actions)
      sequence_id = f"{split}/{index:05d}"
      counts["sequences"] += 1
      if split == "mocap":
        writer.write(schema.encode_mocap(poses_world, sequence_id, subject, action))
        counts["records"] += 1
        counts["frames"] += len(poses_world)
        continue
      virtual, distance = _view(rng, poses_world, style)
      relative = virtual - virtual[:, skeleton.ROOT:skeleton.ROOT + 1]
      roots = virtual[:, skeleton.ROOT]
      domain = "source" if split.startswith("source") else "target"
      if split == "source":
        frame_ids = list(range(0, len(virtual), spec.frame_stride))
        jpegs, intrinsics = _render(rng, virtual, distance, style, image_size, frame_ids,
                                    jpeg_quality)
        for t, jpeg in zip(frame_ids, jpegs):
          writer.write(schema.encode_frame(
              jpeg, image_size, image_size, relative[t], roots[t],
              intrinsics.as_array(), sequence_id, t, subject, action, domain))
          counts["records"] += 1
          counts["frames"] += 1
        continue
      starts = list(range(0, len(virtual) - windows.WINDOW_LENGTH + 1, spec.window_hop))
      starts = starts[:spec.max_windows_per_sequence]
      needed = sorted({t for s in starts for t in range(s, s + windows.WINDOW_LENGTH)})
      jpegs, intrinsics = _render(rng, virtual, distance, style, image_size, needed, jpeg_quality)
      jpegs = dict(zip(needed, jpegs))
      labeled = split in ("source_test", "target_test")
      for start in starts:
        ids = range(start, start + windows.WINDOW_LENGTH)
        writer.write(schema.encode_clip(
            [jpegs[t] for t in ids], image_size, image_size,
            np.tile(intrinsics.as_array(), (windows.WINDOW_LENGTH, 1)),
            f"{sequence_id}@{start}", start, subject, action, domain,
            pose3d=relative[list(ids)] if labeled else None,
            root=roots[list(ids)] if labeled else None))
        counts["records"] += 1
      counts["frames"] += len(needed)
      if labeled_writer is not None:
        labeled_counts["sequences"] += 1
        for t in needed[::spec.labeled_stride]:
          labeled_writer.write(schema.encode_frame(
              jpegs[t], image_size, image_size, relative[t], roots[t], intrinsics.as_array(),
              sequence_id, t, subject, action, domain))
          labeled_counts["records"] += 1
          labeled_counts["frames"] += 1
  os.replace(path + ".tmp", path)
  results = [(split, path, counts)]
  if labeled_writer is not None:
    labeled_writer.close()
    os.replace(labeled_path + ".tmp", labeled_path)
    results.append(("target_labeled", labeled_path, labeled_counts))
  return results


@gin.configurable(denylist=["output_dir"])
def build_benchmark(output_dir, seed=0, image_size=64, splits=None, source_style="source",
                    target_style="target", actions=None, num_workers=2, jpeg_quality=95,
                    contact_sheet=True):
  """Builds every split into `output_dir`, writes `manifest.json` (and `contact_sheet.png`).
  Returns the manifest dict."""
  start_time = time.time()
  splits: Dict[str, SplitSpec] = dict(splits or default_splits())
  unknown = sorted(set(splits) - set(SPLITS))
  if unknown:
    raise ValueError(f"unknown benchmark split(s) {unknown}; known: {SPLITS}")
  actions = tuple(actions or procedural.ACTIONS)
  for action in actions:
    if action not in procedural.ACTIONS:
      raise ValueError(f"unknown action {action!r}; known: {procedural.ACTIONS}")
  styles = {"source": style_lib.get_style(source_style), "target": style_lib.get_style(target_style)}
  os.makedirs(output_dir, exist_ok=True)
  jobs = [(split, shard, spec, seed, image_size, styles, actions, output_dir, jpeg_quality)
          for split, spec in splits.items() for shard in range(spec.num_shards)]
  if num_workers > 1:
    with multiprocessing.get_context("spawn").Pool(num_workers) as pool:
      results = pool.map(_build_shard, jobs, chunksize=1)
  else:
    results = [_build_shard(job) for job in jobs]
  manifest = {
      "schema_version": _schema_version(),
      "seed": seed,
      "image_size": image_size,
      "actions": list(actions),
      "styles": {"source": source_style, "target": target_style,
                 "parameters": {k: style_lib.describe_style(v) for k, v in styles.items()}},
      "splits": {},
  }
  for split, path, counts in [r for shard_results in results for r in shard_results]:
    entry = manifest["splits"].setdefault(split, {"shards": [], "records": 0, "frames": 0,
                                                  "sequences": 0,
                                                  "spec": _spec_of(split, splits)})
    entry["shards"].append(os.path.basename(path))
    for key in ("records", "frames", "sequences"):
      entry[key] += counts[key]
  manifest["build_seconds"] = round(time.time() - start_time, 1)
  with open(os.path.join(output_dir, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
  if contact_sheet:
    manifest["contact_sheet"] = write_contact_sheet(output_dir)
  return manifest


def _spec_of(split, splits):
  # target_labeled has no spec of its own: it is made alongside target_train.
  return dataclasses.asdict(splits["target_train" if split == "target_labeled" else split])


def _schema_version():
  from sa3dhp_tf.data import schema
  return schema.SCHEMA_VERSION


def write_contact_sheet(data_dir, per_row=10, path=None):
  """A PNG with one row of sample frames per image split (source, source_test, target_train,
  target_test), labeled; returns its path."""
  import tensorflow as tf
  from sa3dhp_tf.data import records

  rows = []
  for split in ("source", "source_test", "target_train", "target_labeled", "target_test"):
    try:
      paths = records.shard_paths(data_dir, split)
    except FileNotFoundError:
      continue
    kind = records.split_kind(split)
    images = []
    sample = records.record_dataset(paths, kind, shuffle_files=True, seed=0).shuffle(512, seed=0)
    for record in sample.take(per_row):
      jpegs = [record["image/encoded"]] if kind == "frame" else record["frames/encoded"][:1]
      images.extend(tf.io.decode_jpeg(j, channels=3).numpy() for j in jpegs)
    images = images[::max(1, len(images) // per_row)][:per_row]
    row = np.concatenate(images + [np.zeros_like(images[0])] * (per_row - len(images)), axis=1)
    label = np.full((14, row.shape[1], 3), 255, np.uint8)
    cv2.putText(label, split, (2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    rows.append(np.concatenate([label, row], axis=0))
  if not rows:
    raise FileNotFoundError(f"no image splits in {data_dir}")
  sheet = np.concatenate(rows, axis=0)
  path = path or os.path.join(data_dir, "contact_sheet.png")
  cv2.imwrite(path, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
  return path
