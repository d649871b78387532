"""Exporting a tiny trained source stage by `python -m sa3dhp_tf.export` (SavedModel and float32
TFLite), for the tests of what runs exported models (infer, the BlazePose benchmark); the
session's shared one is `shared_stages.exported_source`."""

import glob
import os

from cli_harness import run_command


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _export(model_dir, fmt, output):
  result = run_command(["-m", "sa3dhp_tf.export", f"--model_dir={model_dir}", f"--format={fmt}",
                        f"--output={output}"], cwd=REPO, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]


def export_source(source_dir, root):
  """Exports `source_dir` under `root` as a SavedModel (`root/saved_model`) and as float32
  TFLite (`root/pose.tflite`)."""
  os.makedirs(root, exist_ok=True)
  _export(source_dir, "saved_model", os.path.join(root, "saved_model"))
  _export(source_dir, "tflite", os.path.join(root, "pose.tflite"))


def export_paths(root):
  """{'saved_model': version dir, 'base': its base dir, 'tflite': a .tflite file} of an
  `export_source` under `root`."""
  root = str(root)
  versions = sorted(glob.glob(os.path.join(root, "saved_model", "*", "saved_model.pb")))
  tflite = os.path.join(root, "pose.tflite")
  assert versions and os.path.isfile(tflite), versions
  return {"saved_model": os.path.dirname(versions[-1]), "base": os.path.join(root, "saved_model"),
          "tflite": tflite}
