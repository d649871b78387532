r"""The prepared GPU check (run it through `tools/gpu_check.sh`): step times at the paper's scale
with XLA and mixed precision on and off, input frames/s against what the step consumes, peak GPU
memory; one JSON.

  bash tools/gpu_check.sh [--report=gpu_check.json] [--steps=200] [--work_dir=DIR]
  bash tools/gpu_check.sh --smoke     # the same code path, tiny, seconds; runs on a CPU too

Full run (needs a GPU; without one it stops with `error: no GPU found`): a benchmark generated at
224 px, the prerequisite stages (pose AAE, motion AAE, relation nets) for --steps steps, then the
`source` (G^s, ResNet-50) and `adapt` (G, 5 energies, 8 clips x 30 frames) stages of
`experiments/paper_resnet50.gin` for --steps steps in each of four variants: XLA off/on x
mixed precision off/on ('mixed_float16' on a GPU), all under `make_strategy.name = 'mirrored'`
(`--variants` picks some of them: xla_off_float32, xla_off_mixed, xla_on_float32, xla_on_mixed).
Step time = median wall time per step over the loops after the first (the first loop holds the
tracing and XLA compilation; `wall_seconds` includes it and the stage's evaluation). Peak memory comes from
`tf.config.experimental.get_memory_info`, reset before each variant.

--smoke: the tiny benchmark and `tiny/stages.gin`, 4 steps per variant; mixed precision is
'mixed_bfloat16' when there is no GPU (float16 kernels are GPU-only). On a CPU it only checks
that the path works; its times mean nothing.

--work_dir keeps the runs. A benchmark (`benchmark/manifest.json`) and finished prerequisite
stages (`pose_aae`, `motion_aae`, `relation_nets` with their `stage_info.json`) already there
are reused and reported as `"reused": true`: a second check in the same dir times the variants
again without rebuilding what they read. The variants' own dirs are always trained afresh.
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_bool("smoke", False, "Tiny configuration, a few steps; runs without a GPU.")
flags.DEFINE_string("report", "gpu_check.json", "Where the JSON result is written.")
flags.DEFINE_integer("steps", None, "Steps per stage and variant (default 200; --smoke: 4).")
flags.DEFINE_string("work_dir", None, "Benchmark and run directories (default: a temp dir); "
                    "a finished benchmark and prerequisite stages there are reused.")
# name -> (XLA on, mixed precision on), in run order
VARIANTS = {"xla_off_float32": (False, False), "xla_off_mixed": (False, True),
            "xla_on_float32": (True, False), "xla_on_mixed": (True, True)}
flags.DEFINE_list("variants", None, "Variants to run, among " + ", ".join(VARIANTS) +
                  " (default all four; 'mixed' is the mixed-precision one). The test suite runs "
                  "the two that turn each switch once, xla_off_float32 and xla_on_mixed.")



def _gpus():
  import tensorflow as tf
  return [d.name for d in tf.config.list_physical_devices("GPU")]


def _run_stage(stage, model_dir, files, bindings):
  import gin
  from sa3dhp_tf import config
  from sa3dhp_tf import distribution
  import sa3dhp_tf.tasks as tasks
  gin.clear_config()
  config.parse_gin(files, bindings, finalize=False)
  tasks.check_stage(stage)
  distribution.make_strategy()
  start = time.perf_counter()
  tasks.get_stage(stage)(model_dir)
  return time.perf_counter() - start


def _step_seconds(model_dir, steps_per_loop):
  """Median seconds per step over the loops after the first (None with a single loop)."""
  from sa3dhp_tf.tasks import training_loop
  times = [h["time"] for h in training_loop.read_history(model_dir)]
  per_step = [(b - a) / steps_per_loop for a, b in zip(times, times[1:])]
  return statistics.median(per_step) if per_step else None


def _peak_memory(gpus):
  import tensorflow as tf
  if not gpus:
    return None
  return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def _reset_memory(gpus):
  import tensorflow as tf
  if gpus:
    tf.config.experimental.reset_memory_stats("GPU:0")


def check_variants(names):
  """The variant names in run order; an unknown or repeated name is a user error."""
  from sa3dhp_tf import errors
  names = list(VARIANTS if names is None else names)
  unknown = [n for n in names if n not in VARIANTS]
  if unknown or not names or len(set(names)) != len(names):
    raise errors.UserError(f"--variants: expected distinct names among {', '.join(VARIANTS)}; "
                           f"got {','.join(names) or '(empty)'}")
  return [n for n in VARIANTS if n in names]


def run_check(smoke, steps, work_dir, gpus, variants=tuple(VARIANTS)):
  from sa3dhp_tf import config
  from sa3dhp_tf.data import benchmark
  from sa3dhp_tf.data import records
  import gin

  steps = steps or (4 if smoke else 200)
  steps_per_loop = max(1, steps // 4) if smoke else 50
  steps_per_loop = steps_per_loop if steps % steps_per_loop == 0 else 1
  files = ["tiny/stages.gin"] if smoke else ["experiments/paper_resnet50.gin"]
  mixed = "mixed_float16" if gpus else "mixed_bfloat16"
  data = os.path.join(work_dir, "benchmark")
  result = {"smoke": smoke, "gpus": gpus, "steps": steps, "steps_per_loop": steps_per_loop,
            "variants": list(variants), "config": files, "strategy": "mirrored",
            "mixed_precision_policy": mixed, "stages": {}}
  start = time.perf_counter()
  if os.path.exists(os.path.join(data, "manifest.json")):
    result["benchmark_reused"] = True
  else:
    config.parse_gin(["benchmark/tiny.gin" if smoke else "benchmark/default.gin"],
                     [] if smoke else ["build_benchmark.image_size = 224"], finalize=False)
    benchmark.build_benchmark(data, contact_sheet=False)
    gin.clear_config()
    result["benchmark_build_seconds"] = time.perf_counter() - start

  dirs = {s: os.path.join(work_dir, s) for s in ("pose_aae", "motion_aae", "relation_nets")}
  # Op determinism off in every variant: Keras turns XLA off under it (reproducibility refuses
  # jit_compile with it on), and XLA on/off must be timed under the same setting.
  common = ["make_strategy.name = 'mirrored'", "reproducibility.deterministic_ops = False"]

  def loop_bindings(stage):
    return [f"{stage}.steps = {steps}", f"{stage}.steps_per_loop = {steps_per_loop}"]

  prerequisites = {
      "pose_aae": [f"pose_aae.data_dir = '{data}'"],
      "motion_aae": [f"motion_aae.pose_aae_dir = '{dirs['pose_aae']}'"],
      "relation_nets": [f"relation_nets.pose_aae_dir = '{dirs['pose_aae']}'",
                        f"relation_nets.motion_aae_dir = '{dirs['motion_aae']}'"],
  }
  for stage, extra in prerequisites.items():
    if os.path.exists(os.path.join(dirs[stage], "stage_info.json")):
      result["stages"][stage] = {"reused": True}
      continue
    seconds = _run_stage(stage, dirs[stage], files, common + loop_bindings(stage) + extra)
    result["stages"][stage] = {"wall_seconds": seconds}

  source_dirs = {}
  for stage in ("source", "adapt"):
    entries = {}
    for variant in variants:
      xla, mixed_on = VARIANTS[variant]
      precision = mixed if mixed_on else None
      name = f"xla_{'on' if xla else 'off'}_{precision or 'float32'}"
      model_dir = os.path.join(work_dir, f"{stage}_{name}")
      extra = [f"{stage}.jit_compile = {xla}", f"make_strategy.mixed_precision = "
               f"{precision and repr(precision)}"]
      if stage == "source":
        extra.append(f"source.pose_aae_dir = '{dirs['pose_aae']}'")
      else:
        # G^s of the float32 run without XLA when it ran, else of the first variant run
        first_source = next(iter(source_dirs.values()))
        extra += [f"adapt.source_dir = '{source_dirs.get('xla_off_float32', first_source)}'",
                  f"adapt.relation_nets_dir = '{dirs['relation_nets']}'",
                  "adapt.energies = ('lcr', 'hcr', 'z3', 'v2', 'v3')"]
      shutil.rmtree(model_dir, ignore_errors=True)  # timed afresh, never resumed
      _reset_memory(gpus)
      entry = {}
      try:
        entry["wall_seconds"] = _run_stage(stage, model_dir, files,
                                           common + loop_bindings(stage) + extra)
        entry["step_seconds"] = _step_seconds(model_dir, steps_per_loop)
        entry["peak_gpu_memory_bytes"] = _peak_memory(gpus)
      except Exception as e:  # a variant that fails (e.g. XLA) is a result, not the end
        entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
      entries[name] = entry
      if stage == "source":
        source_dirs[name] = model_dir
      print(json.dumps({stage: {name: entry}}), flush=True)
    result["stages"][stage] = entries

  from sa3dhp_tf import distribution
  distribution.apply_precision(None)
  batch = 2 if smoke else 8
  base = next(iter(result["stages"]["adapt"].values())).get("step_seconds")
  from sa3dhp_tf.benchmarks import input_pipeline  # the library behind tools/bench_input.py
  result["input_pipeline"] = input_pipeline.run_benchmark(
      records.shard_paths(data, "target_train"), batch_size=batch,
      cores=os.cpu_count() or 1, warmup_batches=2, passes=3,
      batches_per_pass=5 if smoke else 20, step_seconds=base)
  return result


def main(argv):
  from sa3dhp_tf import errors
  errors.check_positional(argv)
  if FLAGS.steps is not None and FLAGS.steps < 1:
    raise errors.UserError(f"--steps must be >= 1, got {FLAGS.steps}")
  variants = check_variants(FLAGS.variants)
  gpus = _gpus()
  if not gpus and not FLAGS.smoke:
    raise errors.UserError("no GPU found (tf.config.list_physical_devices('GPU') is empty): "
                           "install tensorflow[and-cuda] and check nvidia-smi, or run with "
                           "--smoke to exercise the check on the CPU")
  if not gpus:
    print("gpu_check: no GPU; --smoke runs on the CPU with mixed_bfloat16 (times mean nothing)",
          file=sys.stderr)
  errors.ensure_writable_dir(os.path.dirname(os.path.abspath(FLAGS.report)), "--report")
  with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
    work_dir = FLAGS.work_dir or tmp
    start = time.perf_counter()
    result = run_check(FLAGS.smoke, FLAGS.steps, work_dir, gpus, variants)
    result["total_seconds"] = time.perf_counter() - start
  text = json.dumps(result, indent=2, default=float)
  tmp_path = FLAGS.report + ".tmp"
  with open(tmp_path, "w") as f:
    f.write(text)
  os.replace(tmp_path, FLAGS.report)
  print(text)


if __name__ == "__main__":
  from sa3dhp_tf import errors as _errors
  _errors.run(main)
