"""A tiny trained source stage exported by `python -m sa3dhp_tf.export` (SavedModel and float32
TFLite), for the tests of what runs exported models (infer, the BlazePose benchmark)."""

import glob
import os
import subprocess
import sys

import testing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def subprocess_env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  return env


_run_stage = testing.run_tiny_stage

def _export(model_dir, fmt, output):
  result = subprocess.run([sys.executable, "-m", "sa3dhp_tf.export", f"--model_dir={model_dir}",
                           f"--format={fmt}", f"--output={output}"], capture_output=True,
                          text=True, env=subprocess_env(), timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]


def exported_stage(root):
  """Trains the tiny pose AAE and source stages under `root` and exports the source stage:
  {'saved_model': version dir, 'base': its base dir, 'tflite': a .tflite file}."""
  bench = str(root / "bench")
  testing.build_tiny_benchmark(bench)
  _run_stage("pose_aae", str(root / "pose"), [f"pose_aae.data_dir = '{bench}'"])
  _run_stage("source", str(root / "source"), [f"source.pose_aae_dir = '{root / 'pose'}'"])
  _export(str(root / "source"), "saved_model", str(root / "saved_model"))
  tflite = str(root / "pose.tflite")
  _export(str(root / "source"), "tflite", tflite)
  versions = sorted(glob.glob(str(root / "saved_model" / "*" / "saved_model.pb")))
  assert versions and os.path.isfile(tflite), versions
  return {"saved_model": os.path.dirname(versions[-1]), "base": str(root / "saved_model"),
          "tflite": tflite}
