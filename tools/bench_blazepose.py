r"""Per-frame latency of the project's TFLite exports against MediaPipe's BlazePose GHUM full
landmark model, measured in one run, on the same CPU, with the same interpreter (ai_edge_litert),
the same thread counts and the same number of timed frames.

  python tools/bench_blazepose.py --tflite=EXPORT/model_int8.tflite [--tflite=...] \
      [--threads=1,2] [--frames=200] [--output=bench_blazepose.json]
  python tools/bench_blazepose.py --model_dir=RUNS/adapt    # exports the TFLite variants first
  python tools/bench_blazepose.py ... --saved_model=EXPORT/1   # adds the SavedModel (TF runtime)

BlazePose: `mediapipe/modules/pose_landmark/pose_landmark_full.tflite` from the mediapipe 0.10.21
wheel (Apache-2.0), fetched with `pip download --no-deps` into the cache (`fetch_wheel_file.py`;
mediapipe itself is never installed: it pins numpy<2 and protobuf<5). Its input is one float32
256x256 RGB image in [0, 1]; it outputs 39 landmarks, their 3D world coordinates, a pose score,
a segmentation mask and heatmaps (all timed: they are one invoke).

Method: every model gets one interpreter per thread count; after --warmup untimed invokes, the
models take turns in --rounds rounds of frames/rounds invokes each (interleaving spreads any load
from other processes over all models alike); each invoke (set input, invoke, read outputs) is
timed on its own and the median over all --frames is reported with the mean and 90th percentile.
Inputs are fixed random images (seeded): the latency of these models does not depend on content.
The SavedModel (`serving_default`, uint8 crops at the export's input size, batch 1) runs in the
same rounds under the TensorFlow runtime, whose thread pools are fixed when TF starts: its row in
each thread block is at TF's own setting (reported as `threads`, the intra-op pool size; 0 means
TF's default, one thread per core), not at the block's thread count.
The JSON result goes to stdout and, with --output, to that file.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fetch_wheel_file  # noqa: E402

BLAZEPOSE = ("mediapipe", "0.10.21", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite")
BLAZEPOSE_NAME = "blazepose_full"


def cpu_name():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


class TimedModel:
  """One TFLite model at one thread count, fed a fixed input of its own input spec."""

  def __init__(self, name, path, threads, seed, image_size=None):
    from ai_edge_litert import interpreter as litert
    self.name, self.path, self.threads = name, path, threads
    self.interpreter = litert.Interpreter(model_path=path, num_threads=threads)
    detail = self.interpreter.get_input_details()
    if len(detail) != 1:
      raise ValueError(f"{path}: {len(detail)} inputs, expected one image")
    detail = detail[0]
    shape = [int(v) for v in detail["shape_signature"]]
    if any(v <= 0 for v in shape[1:3]):
      if not image_size:
        raise ValueError(f"{path}: input size is not fixed ({shape}); pass --image_size")
      shape[1] = shape[2] = image_size
    shape[0] = 1
    self.interpreter.resize_tensor_input(detail["index"], shape)
    self.interpreter.allocate_tensors()
    self.input_index = detail["index"]
    self.input_shape = shape
    self.input_dtype = np.dtype(detail["dtype"])
    rng = np.random.default_rng(seed)
    if self.input_dtype == np.uint8:
      self.input = rng.integers(0, 256, shape, dtype=np.uint8)
    elif self.input_dtype == np.int8:
      self.input = rng.integers(-128, 128, shape, dtype=np.int8)
    else:
      self.input = rng.uniform(0.0, 1.0, shape).astype(self.input_dtype)
    self.outputs = [d["index"] for d in self.interpreter.get_output_details()]
    self.times = []

  def invoke(self):
    self.interpreter.set_tensor(self.input_index, self.input)
    self.interpreter.invoke()
    for index in self.outputs:
      self.interpreter.get_tensor(index)

  def time(self, count):
    for _ in range(count):
      start = time.perf_counter()
      self.invoke()
      self.times.append(time.perf_counter() - start)

  def summary(self):
    ms = np.array(self.times) * 1e3
    return {"model": self.name, "path": os.path.abspath(self.path), "threads": self.threads,
            "input_shape": self.input_shape, "input_dtype": self.input_dtype.name,
            "file_bytes": os.path.getsize(self.path), "frames": len(ms),
            "median_ms": float(np.median(ms)), "mean_ms": float(ms.mean()),
            "p90_ms": float(np.percentile(ms, 90))}


class TimedSavedModel:
  """The exported SavedModel's `serving_default` on one fixed uint8 crop, under TF's runtime."""

  name = "saved_model"

  def __init__(self, path, seed):
    import tensorflow as tf
    self.path = path
    self.function = tf.saved_model.load(path).signatures["serving_default"]
    import re
    contract = json.load(open(os.path.join(path, "metadata.json")))["input_contract"]["pixels"]
    # crops at the size the graph resizes to, so that it times the network, not a resize
    side = int(re.search(r"to (\d+)x\d+ inside the graph", contract).group(1))
    self.input_shape = [1, side, side, 3]
    rng = np.random.default_rng(seed)
    self.input = tf.constant(rng.integers(0, 256, self.input_shape, dtype=np.uint8))
    self.threads = tf.config.threading.get_intra_op_parallelism_threads()
    self.times = []

  def invoke(self):
    for value in self.function(self.input).values():
      value.numpy()

  time = TimedModel.time

  def summary(self):
    ms = np.array(self.times) * 1e3
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(self.path) for f in fs)
    return {"model": self.name, "path": os.path.abspath(self.path), "threads": self.threads,
            "input_shape": self.input_shape, "input_dtype": "uint8", "file_bytes": size,
            "frames": len(ms), "median_ms": float(np.median(ms)), "mean_ms": float(ms.mean()),
            "p90_ms": float(np.percentile(ms, 90)), "runtime": "tensorflow"}


def run_benchmark(models, threads=(1, 2), frames=200, warmup=10, rounds=5, image_size=None,
                  cache_dir=None, saved_model=None):
  """`models`: {name: tflite path} of the project's exports; `saved_model`: an exported
  SavedModel version dir, timed in the same rounds. Returns the result dict."""
  blazepose = fetch_wheel_file.fetch(*BLAZEPOSE, cache_dir=cache_dir)
  all_models = dict(models)
  all_models[BLAZEPOSE_NAME] = blazepose
  per_round = max(1, frames // rounds)
  results = []
  for t in threads:
    timed = [TimedModel(name, path, t, seed=i, image_size=image_size)
             for i, (name, path) in enumerate(sorted(all_models.items()))]
    if saved_model:
      timed.append(TimedSavedModel(saved_model, seed=len(timed)))
    for model in timed:
      for _ in range(warmup):
        model.invoke()
    for _ in range(rounds):
      for model in timed:
        model.time(per_round)
    results.extend(model.summary() for model in timed)
  reference = {r["threads"]: r["median_ms"] for r in results if r["model"] == BLAZEPOSE_NAME}
  for i, r in enumerate(results):
    # a row's ratio is to BlazePose in its own thread block (the SavedModel's `threads` is TF's)
    r["block_threads"] = threads[i // (len(results) // len(threads))]
    r["ratio_to_blazepose"] = r["median_ms"] / reference[r["block_threads"]]
  import ai_edge_litert
  return {
      "machine": {"cpu": cpu_name(), "logical_cpus": os.cpu_count(),
                  "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else None, "python": platform.python_version(),
                  "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown")},
      "blazepose": {"package": f"{BLAZEPOSE[0]}=={BLAZEPOSE[1]}", "member": BLAZEPOSE[2],
                    "sha256": fetch_wheel_file.KNOWN[BLAZEPOSE]},
      "settings": {"threads": list(threads), "frames": per_round * rounds, "warmup": warmup,
                   "rounds": rounds},
      "results": results,
  }


QUANTIZATIONS = ("none", "float16", "dynamic_int8", "int8")


def export_variants(model_dir, output_dir, quantizations=QUANTIZATIONS):
  """{'tflite_<quantize>': path}: the TFLite variants of a finished stage, written by the
  project's exporter (`python -m sa3dhp_tf.export --format=tflite --quantize=Q`)."""
  import subprocess
  models = {}
  for quantize in quantizations:
    out = os.path.join(output_dir, f"pose_{quantize}.tflite")
    result = subprocess.run([sys.executable, "-m", "sa3dhp_tf.export", f"--model_dir={model_dir}",
                             "--format=tflite", f"--quantize={quantize}", f"--output={out}"],
                            capture_output=True, text=True)
    if result.returncode != 0 or not os.path.isfile(out):
      raise ValueError(f"export of {model_dir} (--quantize={quantize}) failed: "
                       f"{(result.stderr.strip().splitlines() or ['?'])[-1]}")
    models[f"tflite_{quantize}"] = out
  return models


def markdown_table(result):
  lines = ["| model | threads | input | file size | median ms/frame | p90 ms | x BlazePose |",
           "|---|---|---|---|---|---|---|"]
  for r in result["results"]:
    shape = "x".join(str(v) for v in r["input_shape"][1:3])
    threads = r["threads"]
    if r.get("runtime") == "tensorflow":  # TF's own pools, fixed at start-up (docstring)
      threads = f"TF pools ({threads or 'one per core'})"
    lines.append(f"| {r['model']} | {threads} | {shape} {r['input_dtype']} | "
                 f"{r['file_bytes'] / 1e6:.2f} MB | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | "
                 f"{r['ratio_to_blazepose']:.2f} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tflite", action="append", default=[],
                      help="a TFLite file of the project (repeatable); named by its file name")
  parser.add_argument("--model_dir", default=None,
                      help="a finished source/adapt stage: export its TFLite variants first")
  parser.add_argument("--quantize", default=",".join(QUANTIZATIONS),
                      help="with --model_dir: the variants to export")
  parser.add_argument("--threads", default="1,2")
  parser.add_argument("--frames", type=int, default=200)
  parser.add_argument("--warmup", type=int, default=10)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--image_size", type=int, default=None,
                      help="input side for a model whose input size is not fixed")
  parser.add_argument("--cache_dir", default=None)
  parser.add_argument("--saved_model", default=None,
                      help="an exported SavedModel version dir, timed in the same rounds")
  parser.add_argument("--output", default=None)
  args = parser.parse_args()
  try:
    threads = tuple(int(t) for t in args.threads.split(","))
    if not threads or min(threads) < 1:
      raise ValueError
  except ValueError:
    parser.exit(2, f"error: --threads must be a comma-separated list of integers >= 1, got "
                   f"{args.threads!r}\n")
  for flag in ("frames", "rounds"):
    if getattr(args, flag) < 1:
      parser.exit(2, f"error: --{flag} must be >= 1\n")
  models = {}
  for path in args.tflite:
    if not os.path.isfile(path):
      parser.exit(2, f"error: --tflite not found: {path}\n")
    models[os.path.splitext(os.path.basename(path))[0]] = path
  with tempfile.TemporaryDirectory() as tmp:
    if args.model_dir:
      try:
        models.update(export_variants(args.model_dir, tmp, args.quantize.split(",")))
      except ValueError as e:
        parser.exit(2, f"error: {e}\n")
    if not models:
      parser.exit(2, "error: pass --tflite=FILE (repeatable) or --model_dir=D\n")
    if args.saved_model and not os.path.isfile(os.path.join(args.saved_model,
                                                            "saved_model.pb")):
      parser.exit(2, f"error: --saved_model: no saved_model.pb in {args.saved_model}\n")
    try:
      result = run_benchmark(models, threads, args.frames, args.warmup, args.rounds,
                             args.image_size, args.cache_dir, args.saved_model)
    except (fetch_wheel_file.FetchError, ValueError) as e:
      parser.exit(2, f"error: {e}\n")
  text = json.dumps(result, indent=2)
  print(text)
  print(markdown_table(result), file=sys.stderr)
  if args.output:
    partial = args.output + ".partial"
    with open(partial, "w") as f:
      f.write(text + "\n")
    os.replace(partial, args.output)


if __name__ == "__main__":
  main()
