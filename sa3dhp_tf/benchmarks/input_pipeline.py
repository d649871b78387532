"""The target input pipeline benchmark's library (tools/bench_input.py and
tools/bench_adapt_step.py are its binaries): generated JPEG clip records, the `full` and
`decode_only` versions of `pipelines.target_windows`, the pass timer, the consumer ratio and
core pinning. Reads no flags; see tools/bench_input.py for what is measured and how.
"""

import gc
import os
import statistics
import time

import cv2
import numpy as np
import tensorflow as tf

from sa3dhp_tf import errors
from sa3dhp_tf import relations
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.data import schema
from sa3dhp_tf.geometry import windows

WINDOW_LENGTH = windows.WINDOW_LENGTH
CLIP_LENGTH = windows.CLIP_LENGTH
JPEG_QUALITY = 90
WINDOW_FRAMES_NOTE = ("raw 60-frame window frames delivered per second "
                      "(batch_size * 60 per batch)")
OUTPUT_FRAMES_NOTE = ("frames decoded or transformed per second: 60 decoded window frames plus "
                      "30 augmented and 30 per relation counterpart, per window")


class BenchError(errors.UserError):
  """A bad setting or input of a benchmark; the binaries print it as one `error:` line."""


def frames_per_window(num_relations: int, with_augmented: bool = True) -> int:
  """Frames a target window yields (and a training step consumes): 60 + 30 + 30 per relation."""
  return WINDOW_LENGTH + (CLIP_LENGTH if with_augmented else 0) + CLIP_LENGTH * num_relations


def pin_cores(cores: int):
  """Restricts the process to `cores` of its allowed CPUs; returns the CPUs it runs on. Call it
  before TensorFlow starts its thread pools (then `size_thread_pools`)."""
  if not hasattr(os, "sched_getaffinity"):
    return None
  allowed = sorted(os.sched_getaffinity(0))
  if cores < len(allowed):
    os.sched_setaffinity(0, allowed[:cores])
  return sorted(os.sched_getaffinity(0))


def size_thread_pools(cores: int):
  """TF's intra- and inter-op thread pools sized to `cores`."""
  tf.config.threading.set_intra_op_parallelism_threads(cores)
  tf.config.threading.set_inter_op_parallelism_threads(cores)


def load_average():
  """The 1-minute load average, or None where the OS has none."""
  return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _random_frames(rng, image_size: int):
  """60 frames of smooth random colour fields drifting over the clip, plus sensor-like noise."""
  base = rng.uniform(0, 255, (8, 8, 3)).astype(np.float32)
  large = cv2.resize(base, (2 * image_size, 2 * image_size), interpolation=cv2.INTER_CUBIC)
  frames = []
  for t in range(WINDOW_LENGTH):
    dx = int(round(image_size * 0.5 * t / WINDOW_LENGTH))
    crop = large[dx // 2:dx // 2 + image_size, dx:dx + image_size]
    noisy = crop + rng.normal(0.0, 8.0, crop.shape)
    frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
  return frames


def make_clip_records(out_dir: str, num_clips: int, image_size: int, num_shards: int = 1,
                      split: str = "target_train", seed: int = 0):
  """Writes `num_clips` unlabeled 60-frame JPEG clip records (schema v1) into `num_shards` shards
  named `<split>-NNNNN-of-NNNNN.tfrecord`; returns the shard paths."""
  rng = np.random.default_rng(seed)
  num_shards = max(1, min(num_shards, num_clips))
  centre = (image_size - 1) / 2.0
  intrinsics = np.tile([image_size * 1.2, image_size * 1.2, centre, centre], (WINDOW_LENGTH, 1))
  writers = [tf.io.TFRecordWriter(os.path.join(
      out_dir, f"{split}-{i:05d}-of-{num_shards:05d}{records.SHARD_SUFFIX}"))
             for i in range(num_shards)]
  try:
    for index in range(num_clips):
      jpegs = []
      for frame in _random_frames(rng, image_size):
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
          raise RuntimeError("cv2.imencode failed")
        jpegs.append(buf.tobytes())
      writers[index % num_shards].write(schema.encode_clip(
          jpegs, image_size, image_size, intrinsics, f"{split}/{index:05d}", 0,
          subject=f"S{index % 3}", action="bench", domain="target"))
  finally:
    for writer in writers:
      writer.close()
  return records.shard_paths(out_dir, split)


def first_record_size(paths):
  """`[height, width]` of the first clip record of `paths` (BenchError if unreadable)."""
  try:
    for serialized in tf.data.TFRecordDataset(paths[:1]).take(1):
      record = schema.parse(serialized, "clip")
      return [int(record["image/height"]), int(record["image/width"])]
  except tf.errors.OpError as e:
    raise BenchError(f"{paths[0]} record 0: not a readable 'clip' record "
                     f"({str(e).strip().splitlines()[0]})") from None
  raise BenchError(f"{paths[0]} holds no records")


def check_relation_keys(relation_keys):
  """The keys as a tuple; BenchError naming the unknown one."""
  for key in relation_keys:
    try:
      relations.get_relation(key)
    except KeyError as e:
      raise BenchError(f"--relation_keys: {e.args[0]}") from None
  return tuple(relation_keys)


def build_pipeline(paths, batch_size, variant, relation_keys, cores, resize=None, seed=0,
                   deterministic=True):
  """`full` or `decode_only` version of `pipelines.target_windows`, on a `cores`-thread pool."""
  if variant == "full":
    kwargs = {"relation_keys": tuple(relation_keys), "with_augmented": True}
  elif variant == "decode_only":
    kwargs = {"relation_keys": (), "with_augmented": False}
  else:
    raise BenchError(f"unknown variant {variant!r}; use 'full' or 'decode_only'")
  dataset = pipelines.target_windows(
      paths, batch_size, image_size=None if resize is None else (resize, resize), seed=seed,
      deterministic=deterministic, repeat=True, **kwargs)
  options = tf.data.Options()
  options.threading.private_threadpool_size = cores
  return dataset.with_options(options)


def time_pipeline(dataset, batch_size, frames_per_window_out, warmup_batches, passes,
                  batches_per_pass, warmup_seconds=0.0):
  """Median throughput over `passes` timed passes after an untimed warm-up of at least
  `warmup_batches` batches and `warmup_seconds` seconds."""
  start = time.perf_counter()
  iterator = iter(dataset)
  warmed = 0
  while warmed < warmup_batches or time.perf_counter() - start < warmup_seconds:
    next(iterator)
    warmed += 1
  warmup_time = time.perf_counter() - start
  per_pass = []
  for _ in range(passes):
    start = time.perf_counter()
    for _ in range(batches_per_pass):
      batch = next(iterator)
    elapsed = time.perf_counter() - start
    per_pass.append(batch_size * batches_per_pass / elapsed)  # windows per second
  shape = [int(d) for d in batch[contract.WINDOW].shape]
  if shape[:2] != [batch_size, WINDOW_LENGTH]:
    raise RuntimeError(f"pipeline yielded windows of shape {shape}")
  windows_per_sec = statistics.median(per_pass)
  return {
      "windows_per_sec": windows_per_sec,
      "batches_per_sec": windows_per_sec / batch_size,
      "window_frames_per_sec": windows_per_sec * WINDOW_LENGTH,
      "output_frames_per_sec": windows_per_sec * frames_per_window_out,
      "frames_per_window": frames_per_window_out,
      "pass_window_frames_per_sec": [w * WINDOW_LENGTH for w in per_pass],
      "warmup_seconds": warmup_time,
      "warmup_batches": warmed,
      "window_shape": shape,
      "outputs": sorted(batch),
  }


def consumer_ratio(pipeline_output_fps, batch_size, num_relations, step_seconds):
  """Full-pipeline output frames/s over the frames/s a training step of `step_seconds` per batch
  consumes (batch * (60 + 30 + 30 * num_relations) frames per step). > 1: the pipeline keeps up."""
  frames_per_step = batch_size * frames_per_window(num_relations)
  consumer_fps = frames_per_step / step_seconds
  return {
      "step_seconds": step_seconds,
      "frames_per_step": frames_per_step,
      "consumer_frames_per_sec": consumer_fps,
      "pipeline_output_frames_per_sec": pipeline_output_fps,
      "pipeline_vs_consumer_ratio": pipeline_output_fps / consumer_fps,
      "pipeline_keeps_up": pipeline_output_fps >= consumer_fps,
      "note": ("the step and the pipeline share the same cores in a real run, so a ratio near 1 "
               "means the step will wait for input"),
  }


def run_benchmark(paths, batch_size=8, relation_keys=("z3", "v2", "v3"), cores=2, resize=None,
                  warmup_batches=5, passes=5, batches_per_pass=20, step_seconds=None, seed=0,
                  deterministic=True, warmup_seconds=0.0):
  """Times the full and the decode-only target pipeline on `paths`; returns the JSON dict."""
  relation_keys = check_relation_keys(relation_keys)
  if step_seconds is not None and step_seconds <= 0:
    raise BenchError(f"--step_seconds must be > 0, got {step_seconds}")
  result = {
      "units": {"window_frames_per_sec": WINDOW_FRAMES_NOTE,
                "output_frames_per_sec": OUTPUT_FRAMES_NOTE},
      "settings": {"batch_size": batch_size, "relation_keys": list(relation_keys),
                   "cores": cores, "resize": resize, "warmup_batches": warmup_batches,
                   "warmup_seconds": warmup_seconds,
                   "passes": passes, "batches_per_pass": batches_per_pass,
                   "deterministic": deterministic, "seed": seed},
      "pipelines": {},
  }
  variants = {"full": frames_per_window(len(relation_keys)),
              "decode_only": frames_per_window(0, with_augmented=False)}
  for variant, per_window in variants.items():
    start = time.perf_counter()
    dataset = build_pipeline(paths, batch_size, variant, relation_keys, cores, resize, seed,
                             deterministic)
    build_seconds = time.perf_counter() - start
    timing = time_pipeline(dataset, batch_size, per_window, warmup_batches, passes,
                           batches_per_pass, warmup_seconds)
    del dataset
    gc.collect()  # the previous variant's iterator and its threads are gone before the next
    timing["build_seconds"] = build_seconds
    result["pipelines"][variant] = timing
  full, decode = result["pipelines"]["full"], result["pipelines"]["decode_only"]
  result["full_vs_decode_only_window_fps"] = (full["window_frames_per_sec"]
                                              / decode["window_frames_per_sec"])
  if step_seconds is not None:
    result["consumer"] = consumer_ratio(full["output_frames_per_sec"], batch_size,
                                        len(relation_keys), step_seconds)
  return result
