r"""Measures the throughput of the target-clip input pipeline (`pipelines.target_windows`).

  python tools/bench_input.py [--data_dir=data/benchmark] [--batch_size=8] [--image_size=64] \
      [--cores=2] [--step_seconds=0.5] [--output=bench_input.json]

Two variants of the same pipeline are timed in one run:
  full         decode the 60-frame window, A(middle clip), and one 30-frame counterpart per
               relation in --relation_keys (default z3, v2, v3), as the adaptation stage reads it;
  decode_only  decode the 60-frame window only (no augmentation, no counterparts).
Each variant is warmed up (--warmup_batches and --warmup_seconds, whichever lasts longer), then
timed over --passes passes of --batches_per_pass batches; the median pass is reported.
Throughput is given as
  window_frames_per_sec  raw 60-frame window frames delivered per second (batch * 60 per batch),
  output_frames_per_sec  every frame the pipeline decodes or transforms per second
                         (batch * (60 + 30 + 30 * num_relations) per batch for `full`).
With --step_seconds=S the `consumer` entry compares the full pipeline with a training step that
takes S seconds per batch and consumes batch * (60 + 30 + 30 * num_relations) frames.

Input: --data_dir holds shards `<split>-NNNNN-of-NNNNN.tfrecord` of 60-frame `clip` records
(split --split, default target_train). Without --data_dir, a temporary set of --num_clips
random-content JPEG clips at --image_size is generated (and deleted afterwards).

The process is pinned to --cores CPUs (when it may use more) and TF / tf.data thread pools are
sized to match. The JSON result goes to stdout and, with --output, to that file.
"""

import gc
import json
import os
import statistics
import tempfile
import time

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Benchmark directory; default: generate random clips.")
flags.DEFINE_string("split", "target_train", "Split whose shards are read from --data_dir.")
flags.DEFINE_integer("image_size", 64, "Side of the generated frames (without --data_dir).",
                     lower_bound=8)
flags.DEFINE_integer("num_clips", 16, "Generated 60-frame clips (without --data_dir).",
                     lower_bound=1)
flags.DEFINE_integer("num_shards", 2, "Shards of the generated clips.", lower_bound=1)
flags.DEFINE_integer("resize", None, "If set, frames are resized to resize x resize on decode.",
                     lower_bound=1)
flags.DEFINE_integer("batch_size", 8, "Windows per batch.", lower_bound=1)
flags.DEFINE_list("relation_keys", ["z3", "v2", "v3"], "Relations of the full pipeline.")
flags.DEFINE_integer("cores", 2, "CPU cores to run on (affinity and thread pools).",
                     lower_bound=1)
flags.DEFINE_integer("warmup_batches", 5, "Untimed batches before the first pass (at least).",
                     lower_bound=0)
flags.DEFINE_float("warmup_seconds", 3.0, "Untimed warm-up time before the first pass (at least): "
                   "lets tf.data autotuning settle.", lower_bound=0.0)
flags.DEFINE_integer("passes", 5, "Timed passes; the median is reported.", lower_bound=1)
flags.DEFINE_integer("batches_per_pass", 20, "Batches per timed pass.", lower_bound=1)
flags.DEFINE_boolean("deterministic", True, "tf.data determinism (the pipeline default).")
flags.DEFINE_float("step_seconds", None, "Seconds per training step, for the consumer ratio.",
                   lower_bound=0.0)
flags.DEFINE_string("output", None, "Also write the JSON result to this file.")
flags.DEFINE_integer("seed", 0, "Seed of the generated data and the pipelines.")

WINDOW_LENGTH = 60
CLIP_LENGTH = 30
JPEG_QUALITY = 90
WINDOW_FRAMES_NOTE = ("raw 60-frame window frames delivered per second "
                      "(batch_size * 60 per batch)")
OUTPUT_FRAMES_NOTE = ("frames decoded or transformed per second: 60 decoded window frames plus "
                      "30 augmented and 30 per relation counterpart, per window")


class BenchError(ValueError):
  """A bad flag or input; printed as one line."""


def frames_per_window(num_relations: int, with_augmented: bool = True) -> int:
  """Frames a target window yields (and a training step consumes): 60 + 30 + 30 per relation."""
  return WINDOW_LENGTH + (CLIP_LENGTH if with_augmented else 0) + CLIP_LENGTH * num_relations


def pin_cores(cores: int):
  """Restricts the process to `cores` of its allowed CPUs; returns the CPUs it runs on."""
  if not hasattr(os, "sched_getaffinity"):
    return None
  allowed = sorted(os.sched_getaffinity(0))
  if cores < len(allowed):
    os.sched_setaffinity(0, allowed[:cores])
  return sorted(os.sched_getaffinity(0))


def _random_frames(rng, image_size: int):
  """60 frames of smooth random colour fields drifting over the clip, plus sensor-like noise."""
  import cv2
  import numpy as np
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
  import cv2
  import numpy as np
  import tensorflow as tf
  from sa3dhp_tf.data import records
  from sa3dhp_tf.data import schema

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


def _first_record_size(paths):
  import tensorflow as tf
  from sa3dhp_tf.data import schema
  try:
    for serialized in tf.data.TFRecordDataset(paths[:1]).take(1):
      record = schema.parse(serialized, "clip")
      return [int(record["image/height"]), int(record["image/width"])]
  except tf.errors.OpError as e:
    raise BenchError(f"{paths[0]} record 0: not a readable 'clip' record "
                     f"({str(e).strip().splitlines()[0]})") from None
  raise BenchError(f"{paths[0]} holds no records")


def check_relation_keys(relation_keys):
  from sa3dhp_tf import relations
  for key in relation_keys:
    try:
      relations.get_relation(key)
    except KeyError as e:
      raise BenchError(f"--relation_keys: {e.args[0]}") from None
  return tuple(relation_keys)


def build_pipeline(paths, batch_size, variant, relation_keys, cores, resize=None, seed=0,
                   deterministic=True):
  """`full` or `decode_only` version of `pipelines.target_windows`, on a `cores`-thread pool."""
  import tensorflow as tf
  from sa3dhp_tf.data import pipelines
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
  shape = [int(d) for d in batch["window"].shape]
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


def _run(tmp_dir):
  from sa3dhp_tf.data import records
  check_relation_keys(FLAGS.relation_keys)  # before generating data
  if FLAGS.data_dir:
    paths = records.shard_paths(FLAGS.data_dir, FLAGS.split)
    data = {"source": os.path.abspath(FLAGS.data_dir), "split": FLAGS.split}
  else:
    paths = make_clip_records(tmp_dir, FLAGS.num_clips, FLAGS.image_size, FLAGS.num_shards,
                              FLAGS.split, FLAGS.seed)
    data = {"source": "generated", "split": FLAGS.split, "records": FLAGS.num_clips,
            "content": f"smooth random colour fields + noise, JPEG quality {JPEG_QUALITY}"}
  data["shards"] = len(paths)
  data["image_size"] = _first_record_size(paths)
  result = run_benchmark(paths, FLAGS.batch_size, FLAGS.relation_keys, FLAGS.cores, FLAGS.resize,
                         FLAGS.warmup_batches, FLAGS.passes, FLAGS.batches_per_pass,
                         FLAGS.step_seconds, FLAGS.seed, FLAGS.deterministic,
                         FLAGS.warmup_seconds)
  return {"tool": "bench_input", "data": data, **result}


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected positional arguments: {' '.join(argv[1:])}")
  if FLAGS.data_dir and not os.path.isdir(FLAGS.data_dir):
    _fail(f"--data_dir not found: {FLAGS.data_dir}")
  if FLAGS.step_seconds is not None and FLAGS.step_seconds <= 0:
    _fail(f"--step_seconds must be > 0, got {FLAGS.step_seconds}")
  if FLAGS.output:
    errors.ensure_writable_file(FLAGS.output, "--output")
  cpus = pin_cores(FLAGS.cores)
  load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.cores)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.cores)
  try:
    with tempfile.TemporaryDirectory(prefix="bench_input_") as tmp_dir:
      result = _run(tmp_dir)
  except (BenchError, FileNotFoundError) as e:
    _fail(str(e))
  result["cpus"] = cpus
  # Other processes on these cores slow the pipeline: a 1-minute load average well above
  # --cores means the numbers are pessimistic.
  result["load_average_1min"] = {"before": load_before,
                                 "after": os.getloadavg()[0] if load_before is not None else None}
  text = json.dumps(result, indent=2)
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      f.write(text + "\n")
  print(text)


def _fail(message):
  raise errors.UserError(message)


if __name__ == "__main__":
  errors.run(main)
