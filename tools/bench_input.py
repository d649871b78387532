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

import json
import os
import tempfile

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


def _run(tmp_dir):
  from sa3dhp_tf.benchmarks import input_pipeline as bench
  from sa3dhp_tf.data import records
  bench.check_relation_keys(FLAGS.relation_keys)  # before generating data
  if FLAGS.data_dir:
    paths = records.shard_paths(FLAGS.data_dir, FLAGS.split)
    data = {"source": os.path.abspath(FLAGS.data_dir), "split": FLAGS.split}
  else:
    paths = bench.make_clip_records(tmp_dir, FLAGS.num_clips, FLAGS.image_size,
                                    FLAGS.num_shards, FLAGS.split, FLAGS.seed)
    data = {"source": "generated", "split": FLAGS.split, "records": FLAGS.num_clips,
            "content": f"smooth random colour fields + noise, JPEG quality {bench.JPEG_QUALITY}"}
  data["shards"] = len(paths)
  data["image_size"] = bench.first_record_size(paths)
  result = bench.run_benchmark(paths, FLAGS.batch_size, FLAGS.relation_keys, FLAGS.cores,
                               FLAGS.resize, FLAGS.warmup_batches, FLAGS.passes,
                               FLAGS.batches_per_pass, FLAGS.step_seconds, FLAGS.seed,
                               FLAGS.deterministic, FLAGS.warmup_seconds)
  return {"tool": "bench_input", "data": data, **result}


def main(argv):
  errors.check_positional(argv)
  if FLAGS.data_dir and not os.path.isdir(FLAGS.data_dir):
    raise errors.UserError(f"--data_dir not found: {FLAGS.data_dir}")
  if FLAGS.step_seconds is not None and FLAGS.step_seconds <= 0:
    raise errors.UserError(f"--step_seconds must be > 0, got {FLAGS.step_seconds}")
  if FLAGS.output:
    errors.ensure_writable_file(FLAGS.output, "--output")
  from sa3dhp_tf.benchmarks import input_pipeline as bench
  cpus = bench.pin_cores(FLAGS.cores)
  load_before = bench.load_average()
  bench.size_thread_pools(FLAGS.cores)
  with tempfile.TemporaryDirectory(prefix="bench_input_") as tmp_dir:
    try:
      result = _run(tmp_dir)
    except FileNotFoundError as e:
      raise errors.UserError(str(e)) from None
  result["cpus"] = cpus
  # Other processes on these cores slow the pipeline: a 1-minute load average well above
  # --cores means the numbers are pessimistic.
  result["load_average_1min"] = {"before": load_before, "after": bench.load_average()}
  text = json.dumps(result, indent=2)
  if FLAGS.output:
    from sa3dhp_tf.json_files import write_json
    write_json(FLAGS.output, result)
  print(text)


if __name__ == "__main__":
  errors.run(main)
