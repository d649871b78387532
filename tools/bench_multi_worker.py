r"""Step time of one worker against two MultiWorkerMirroredStrategy workers on this machine.

  python tools/bench_multi_worker.py [--steps=40] [--steps_per_loop=10] [--rounds=2] \
      [--batch_size=64] [--output=bench_multi_worker.json]

Both variants train the pose AAE of `tiny/stages.gin` (adversarial terms off, as in
tests/test_distribution.py) on a generated tiny benchmark at the same global batch:
  one_worker   `make_strategy.name = 'default'`, one process;
  two_workers  `make_strategy.name = 'multi_worker'`, two processes on 127.0.0.1 (each half of
               the batch, gradients all-reduced over gRPC; each process limited to one TF thread).
Rounds alternate the variants; step time = median over the loops after the first (the first
holds tracing and the cluster's start-up) of each run, then the median over rounds. Two workers
on one 2-core machine share the same cores: this measures the cost of the collectives, not
scaling. The JSON goes to stdout and to --output.
"""

import json
import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 40, "Steps per run.")
flags.DEFINE_integer("steps_per_loop", 10, "Steps between checkpoints (history timestamps).")
flags.DEFINE_integer("rounds", 2, "Alternating rounds of both variants.")
flags.DEFINE_integer("batch_size", 64, "Global batch.")
flags.DEFINE_string("output", None, "JSON result file.")

# The tiny widths of tiny/stages.gin, adversarial terms off.
MODEL = ("PoseAutoencoder.latent_adversarial_weight = 0.0",
         "PoseAutoencoder.pose_adversarial_weight = 0.0")


def _args(data, model_dir, strategy):
  bindings = [f"pose_aae.data_dir = '{data}'", f"make_strategy.name = '{strategy}'",
              f"pose_aae.steps = {FLAGS.steps}", f"pose_aae.steps_per_loop = {FLAGS.steps_per_loop}",
              f"pose_aae.batch_size = {FLAGS.batch_size}", "pose_aae.num_prior_samples = 16",
              "pose_aae.eval_splits = ('source_test',)", *MODEL]
  return ["--gin_file=tiny/stages.gin", "--stage=pose_aae", f"--model_dir={model_dir}",
          *[f"--gin_bindings={b}" for b in bindings]]


def _run(data, work, variant, round_index):
  from sa3dhp_tf import local_cluster
  from sa3dhp_tf.tasks import training_loop
  model_dir = os.path.join(work, f"{variant}-{round_index}")
  workers, strategy = (1, "default") if variant == "one_worker" else (2, "multi_worker")
  start = time.perf_counter()
  with local_cluster.cluster(_args(data, model_dir, strategy), workers, work) as c:
    codes = c.start().wait(timeout=1200)
    if codes != [0] * workers:
      raise RuntimeError(f"{variant} failed: {codes}\n{c.log(0)[-3000:]}")
  wall = time.perf_counter() - start
  times = [h["time"] for h in training_loop.read_history(model_dir)]
  per_step = [(b - a) / FLAGS.steps_per_loop for a, b in zip(times, times[1:])]
  return {"step_seconds": statistics.median(per_step), "wall_seconds": wall}


def main(argv):
  del argv
  import gin
  from sa3dhp_tf import config
  from sa3dhp_tf.data import benchmark
  if FLAGS.steps % FLAGS.steps_per_loop or FLAGS.steps // FLAGS.steps_per_loop < 2:
    print("error: --steps must be a multiple of --steps_per_loop, at least two loops",
          file=sys.stderr)
    sys.exit(2)
  with tempfile.TemporaryDirectory(prefix="bench_multi_worker_") as work:
    data = os.path.join(work, "benchmark")
    config.parse_gin(["benchmark/tiny.gin"], [], finalize=False)
    benchmark.build_benchmark(data, contact_sheet=False)
    gin.clear_config()
    runs = {"one_worker": [], "two_workers": []}
    for r in range(FLAGS.rounds):
      for variant in runs:
        runs[variant].append(_run(data, work, variant, r))
        print(json.dumps({variant: runs[variant][-1]}), file=sys.stderr, flush=True)
  result = {
      "settings": {"steps": FLAGS.steps, "steps_per_loop": FLAGS.steps_per_loop,
                   "rounds": FLAGS.rounds, "global_batch": FLAGS.batch_size,
                   "cpus": os.cpu_count(), "load_average": os.getloadavg()},
      "runs": runs,
      "step_seconds": {v: statistics.median(r["step_seconds"] for r in rs)
                       for v, rs in runs.items()},
  }
  result["two_over_one"] = result["step_seconds"]["two_workers"] / result["step_seconds"][
      "one_worker"]
  text = json.dumps(result, indent=2)
  if FLAGS.output:
    with open(FLAGS.output, "w") as f:
      f.write(text)
  print(text)


if __name__ == "__main__":
  app.run(main)
