r"""Per-frame latency of one stage's model as Keras, SavedModel and TFLite (every quantisation),
measured in one run on the same frames (docs/performance.md "Export latency").

  python tools/bench_export.py --model_dir=RUNS/adapt [--frames=32] [--threads=1,2] --output=OUT.json

Also reports each TFLite file's size and its MPJPE / max error against the float SavedModel on
the benchmark's target_test frames.
"""

import json
import os
import tempfile
import time

from absl import flags
import numpy as np

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Finished source or adapt stage.")
flags.DEFINE_integer("frames", 32, "target_test frames timed (one per call).")
flags.DEFINE_list("threads", ["1", "2"], "TFLite interpreter thread counts.")
flags.DEFINE_string("output", None, "Results JSON.")


def _per_frame_ms(call, frames, repeats=3):
  call(frames[0])  # warm-up (tracing, delegate set-up)
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    for frame in frames:
      call(frame)
    best = min(best, (time.perf_counter() - start) / len(frames))
  return 1e3 * best


def benchmark(model_dir, num_frames, threads):
  import tensorflow as tf
  from sa3dhp_tf.export import exporter, pose_module
  module = pose_module.PoseExportModule.from_stage(model_dir)
  data_dir, jpegs = exporter._check_frames(module, None, num_frames)
  frames = exporter.decode_uint8(jpegs, module.input_size)
  calibration = lambda: exporter.decode_uint8(  # noqa: E731
      exporter.benchmark_jpegs(data_dir, exporter.CALIBRATION_SPLIT, 64), module.input_size)
  results = {"model_dir": model_dir, "frames": num_frames, "rows": {}}
  with tempfile.TemporaryDirectory() as tmp:
    saved = os.path.join(tmp, "saved_model")
    exporter.build_saved_model(module, saved)
    device = exporter.freeze_device_signature(saved, os.path.join(tmp, "device"))
    loaded = tf.saved_model.load(saved)
    serve = loaded.signatures[pose_module.DEVICE_SIGNATURE]
    float_pose = np.concatenate([serve(images=f[None])["pose3d"].numpy() for f in frames])
    keras_call = lambda f: module.predict(  # noqa: E731
        tf.image.convert_image_dtype(f[None], tf.float32))
    results["rows"]["keras"] = {"ms_per_frame": _per_frame_ms(keras_call, frames)}
    results["rows"]["saved_model"] = {
        "ms_per_frame": _per_frame_ms(lambda f: serve(images=f[None]), frames)}
    for quantize in exporter.QUANTIZATIONS:
      flatbuffer = exporter.convert_saved_model(device, quantize, calibration)
      row = {"bytes": len(flatbuffer)}
      for n in threads:
        runner = exporter.tflite_runner(flatbuffer, num_threads=n)
        row[f"ms_per_frame_{n}_threads"] = _per_frame_ms(lambda f: runner(images=f[None]), frames)
      pose = exporter.run_tflite(exporter.tflite_runner(flatbuffer), frames)["pose3d"]
      row["mpjpe_vs_saved_model_mm"] = float(np.linalg.norm(pose - float_pose, axis=-1).mean())
      row["max_abs_error_mm"] = float(np.abs(pose - float_pose).max())
      results["rows"][f"tflite_{quantize}"] = row
  return results


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "model_dir", "output")
  errors.ensure_writable_file(FLAGS.output, "--output")
  results = benchmark(FLAGS.model_dir, FLAGS.frames, [int(t) for t in FLAGS.threads])
  with open(FLAGS.output, "w") as f:
    json.dump(results, f, indent=2)
  print(json.dumps(results["rows"], indent=1))


if __name__ == "__main__":
  errors.run(main)
