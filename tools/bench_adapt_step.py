r"""Times the adaptation train step (`RelationDistillationModel`) with and without XLA, and
compares the frames it consumes with what the target input pipeline delivers, in one run.

  python tools/bench_adapt_step.py [--batch_size=4] [--image_size=64] [--rounds=5] \
      [--warmup=1] [--output=bench_adapt_step.json]

Variants, all on one fixed in-memory batch of B clips (read once from the pipeline):
  round_robin/xla_off, round_robin/xla_on   one energy per step, in `--energies` order (the
                                            paper's schedule): one compiled step per energy;
  joint/xla_off, joint/xla_on               one step applying every energy's optimiser;
  pipeline                                  `pipelines.target_windows` on generated JPEG clips
                                            (the records and timer of `benchmarks/input_pipeline.py`).
Each step function is first called once (trace + compile + one run, reported as
`first_call_seconds` / `trace_compile_seconds`), then run `--warmup` untimed cycles. The timed
part is `--rounds` rounds; each round runs every variant once (a full cycle of steps, or one
pipeline pass), in forward order on even rounds and reverse order on odd ones, so the variants
see the same machine load. Medians over rounds are reported, and XLA on / off ratios per
schedule (> 1: XLA is slower).

Frames: a step feeds G the frames of the batch keys its energies read
(`model.required_batch_keys(names)`): each 30-frame clip it reads, plus from the 60-frame
window only the 30 anchor frames when the energies share one anchor selection (else the whole
window). The count is also taken from G's traced input shapes and both are reported. Each step
pulls one whole batch from the pipeline (B * (60 + 30 + 30 * relations) frames) whatever it
feeds G, so whether the step waits on input is decided by pipeline batches/s over steps/s.

The library is `sa3dhp_tf/benchmarks/adapt_step.py`; this binary parses flags and prints.
The model is the default CPU configuration (small_resnet G at --image_size, fc (1024, 512),
latent 32 in [-1, 1]; D_p of a fresh pose AAE; E_m of a fresh motion AAE, lstm 128, motion 128;
relation networks (512, 512), z codes bounded by 1); `--tiny` shrinks every width (for tests).
Weights are untrained: the timing does not depend on them. The process is pinned to --cores
CPUs and TF thread pools are sized to match; the JSON goes to stdout and --output.
"""

import json
import sys
import tempfile
import time

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 4, "Clips (60-frame windows) per batch.", lower_bound=1)
flags.DEFINE_integer("image_size", 64, "Frame side (generated clips and G's input).",
                     lower_bound=8)
flags.DEFINE_integer("num_clips", 16, "Generated 60-frame clips.", lower_bound=1)
flags.DEFINE_integer("num_shards", 2, "Shards of the generated clips.", lower_bound=1)
flags.DEFINE_integer("cores", 2, "CPU cores to run on (affinity and thread pools).",
                     lower_bound=1)
flags.DEFINE_string("output", None, "Also write the JSON result to this file.")
flags.DEFINE_integer("seed", 0, "Seed of the models, the generated data and the pipeline.")
flags.DEFINE_integer("rounds", 5, "Timed rounds (every variant once per round).", lower_bound=1)
flags.DEFINE_integer("warmup", 1, "Untimed cycles per variant after the tracing call.",
                     lower_bound=0)
flags.DEFINE_integer("cycles_per_round", 1, "Schedule cycles per variant per round (round "
                     "robin: one step per energy; joint: one step).", lower_bound=1)
flags.DEFINE_list("energies", ["lcr", "hcr", "z3", "v2", "v3"],
                  "Energies (round-robin order) that read target windows only: 'lcr', 'hcr' and "
                  "relation keys.")
flags.DEFINE_boolean("tiny", False, "Tiny model widths (tests / smoke runs).")
flags.DEFINE_integer("pipeline_batches", 8, "Timed pipeline batches per round.", lower_bound=1)
flags.DEFINE_integer("pipeline_warmup_batches", 2, "Untimed pipeline batches before each "
                     "round's pass (at least).", lower_bound=0)
flags.DEFINE_float("pipeline_warmup_seconds", 1.0, "Untimed pipeline time before each round's "
                   "pass (at least): a fresh iterator per pass lets tf.data autotuning settle "
                   "and stops its threads between passes.", lower_bound=0.0)


def _run(tmp_dir):
  from sa3dhp_tf.benchmarks import adapt_step
  from sa3dhp_tf.benchmarks import input_pipeline
  energies = adapt_step.check_energies(FLAGS.energies)  # before generating data
  paths = input_pipeline.make_clip_records(tmp_dir, FLAGS.num_clips, FLAGS.image_size,
                                           FLAGS.num_shards, seed=FLAGS.seed)
  data = {"source": "generated", "records": FLAGS.num_clips, "shards": len(paths),
          "image_size": [FLAGS.image_size] * 2,
          "content": ("smooth random colour fields + noise, JPEG quality "
                      f"{input_pipeline.JPEG_QUALITY} (sa3dhp_tf/benchmarks/input_pipeline.py)")}
  log = lambda message: print(f"[bench_adapt_step] {message}", file=sys.stderr, flush=True)
  result = adapt_step.run_benchmark(
      paths, energies, "tiny" if FLAGS.tiny else "default", FLAGS.batch_size, FLAGS.image_size,
      FLAGS.rounds, FLAGS.warmup, FLAGS.cycles_per_round, FLAGS.cores, FLAGS.seed,
      FLAGS.pipeline_batches, FLAGS.pipeline_warmup_batches, FLAGS.pipeline_warmup_seconds, log)
  return {"tool": "bench_adapt_step", "data": data, **result}


def main(argv):
  errors.check_positional(argv)
  if FLAGS.output:
    errors.ensure_writable_file(FLAGS.output, "--output")
  started = time.perf_counter()
  from sa3dhp_tf.benchmarks import input_pipeline
  cpus = input_pipeline.pin_cores(FLAGS.cores)
  load_before = input_pipeline.load_average()
  input_pipeline.size_thread_pools(FLAGS.cores)
  with tempfile.TemporaryDirectory(prefix="bench_adapt_step_") as tmp_dir:
    result = _run(tmp_dir)
  result["cpus"] = cpus
  # Other processes on these cores slow every variant alike (they are interleaved), but a
  # 1-minute load average well above --cores makes the absolute numbers pessimistic.
  result["load_average_1min"] = {"before": load_before, "after": input_pipeline.load_average()}
  result["timings"]["total_seconds"] = time.perf_counter() - started
  if FLAGS.output:
    from sa3dhp_tf.json_files import write_json
    write_json(FLAGS.output, result)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  errors.run(main)
