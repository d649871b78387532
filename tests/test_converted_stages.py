"""Every stage and the evaluator run unchanged on converted data: the S->H layout (CMU mocap,
SURREAL source, Human3.6M target) built by the converters from tiny original-format fixtures."""

import json
import os

import gin
import numpy as np
import pytest

from cli_harness import run_command
from sa3dhp_tf import config
from sa3dhp_tf.data import converters
import sa3dhp_tf.tasks as tasks

import dataset_fixtures as fx
import test_motion_asf_amc as asf_fx


def _stage(stage, model_dir, bindings):
  config.parse_gin(["tiny/stages.gin"], bindings + ["evaluation_protocol.name = 'h36m'"],
                   finalize=False)
  try:
    tasks.check_stage(stage)
    return tasks.get_stage(stage)(model_dir)
  finally:
    gin.clear_config()


@pytest.mark.slow   # every stage once: about 4 minutes on the shared 2-core machine
def test_all_stages_and_the_evaluator_on_converted_data(tmp_path):
  out = str(tmp_path / "s_to_h")
  settings = converters.Settings(image_size=64)
  cmu = tmp_path / "cmu" / "subjects" / "07"
  cmu.mkdir(parents=True)
  (cmu / "07.asf").write_text(asf_fx.asf_text())
  for trial in (1, 2):
    moving = [{"root": (0.05 * k, 17, 0, 0, float(trial * k), 0), "rtibia": [float(k % 70)],
               "lhumerus": [0.0, 0.0, float(k % 90)]} for k in range(300)]
    (cmu / f"07_0{trial}.amc").write_text(asf_fx.amc_text(moving))
  fx.write_surreal(tmp_path / "surreal")
  fx.write_human36m(tmp_path / "h36m", num_frames=200)
  quiet = dict(settings=settings, contact_sheet=False, log=lambda line: None)
  converters.convert("cmu_mocap", str(tmp_path / "cmu"), out, **quiet)
  converters.convert("surreal", str(tmp_path / "surreal"), out, role="source", **quiet)
  manifest = converters.convert("human36m", str(tmp_path / "h36m"), out, role="target", **quiet)
  assert set(manifest["splits"]) == {"mocap", "source", "source_test", "target_train",
                                     "target_labeled", "target_test"}
  runs = {name: str(tmp_path / "runs" / name)
          for name in ("pose", "motion", "rel", "source", "adapt")}
  _stage("pose_aae", runs["pose"], [f"pose_aae.data_dir = '{out}'"])
  _stage("motion_aae", runs["motion"], [f"motion_aae.pose_aae_dir = '{runs['pose']}'"])
  _stage("relation_nets", runs["rel"], [f"relation_nets.pose_aae_dir = '{runs['pose']}'",
                                        f"relation_nets.motion_aae_dir = '{runs['motion']}'"])
  _stage("source", runs["source"], [f"source.pose_aae_dir = '{runs['pose']}'"])
  _stage("adapt", runs["adapt"], [f"adapt.source_dir = '{runs['source']}'",
                                  f"adapt.relation_nets_dir = '{runs['rel']}'",
                                  "adapt.diagnostic_clips = 1"])
  # The evaluate binary (a subprocess: it defines absl flags that other tools' tests define too).
  output = str(tmp_path / "h36m_test.json")
  proc = run_command(
      ["-m", "sa3dhp_tf.evaluate", "--gin_file=tiny/stages.gin",
       "--gin_bindings=evaluation_protocol.name = 'h36m'", f"--model_dir={runs['adapt']}",
       "--split=target_test", f"--output={output}"], cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-2000:]
  with open(output) as f:
    results = json.load(f)
  assert results["num_samples"] == 200                 # every S9 frame, at its own 50 fps
  assert results["protocol"]["name"] == "h36m"
  assert np.isfinite(results["protocol"]["mpjpe"]) and results["protocol"]["mpjpe"] > 0
  assert results["protocol"]["mpjpe"] == results["mpjpe"]
  assert '"protocol": {"name": "h36m"' in proc.stdout
