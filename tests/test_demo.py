"""`make demo`'s pipeline (tools/demo.sh) on the tiny benchmark with the tiny stages: progress
lines in a non-terminal log, the short answer, the pictures, and a rerun that skips finished
work; plus the answer's wording and its paired interval on hand-made numbers."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cli_harness

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_TRAINING_STAGES = 6  # pose AAE, motion AAE, relation nets, G^s, fine-tuned oracle, adapt


@pytest.fixture(scope="module")
def demo_report():
  from sa3dhp_tf.evaluation import adaptation_answer
  return adaptation_answer


def _table(source, adapted, oracle, seeds=1, adapted_std=0.0, gain_in_stds=None):
  return {"source_only": {"label": "Source only (G^s)", "num_seeds": seeds,
                          "target_mpjpe": {"mean": source, "std": 0.0}},
          "full": {"label": "+L^v_3 (full method)", "num_seeds": seeds,
                   "target_mpjpe": {"mean": adapted, "std": adapted_std},
                   "gain_in_stds": gain_in_stds},
          "oracle_finetune": {"label": "oracle: G^s fine-tuned on target labels",
                              "num_seeds": seeds, "target_mpjpe": {"mean": oracle, "std": 0.0}}}


def test_paired_difference_uses_sequences_as_units(demo_report):
  # sequence 0: differences 10, 30 (mean 20); sequence 1: 0 (three frames); sequence 2: 40
  a = np.array([110.0, 130.0, 100.0, 100.0, 100.0, 140.0])
  b = np.full(6, 100.0)
  mean, half, n = demo_report.paired_difference(a, b, [0, 0, 1, 1, 1, 2])
  assert n == 3
  assert mean == pytest.approx(20.0)  # (20 + 0 + 40) / 3, not the frame mean 13.3
  assert half == pytest.approx(1.96 * 20.0 / np.sqrt(3))  # std of (20, 0, 40) is 20
  assert demo_report.paired_difference([1.0, 2.0], [0.0, 0.0], [5, 5])[1] is None


def test_answer_helped(demo_report):
  lines = demo_report.short_answer(_table(300.0, 270.0, 200.0), "full", 350.0, (29.0, 8.0, 20),
                                   [("skeletons (3D)", "/x/skeletons.png")])
  text = "\n".join(lines)
  assert "300.0 mm" in text and "270.0 mm" in text and "200.0 mm" in text and "350.0 mm" in text
  assert ("Answer: adaptation helped: 30.0 mm lower target error than source-only, 30% of the "
          "way from source-only to the oracle.") in text
  assert "+29.0 ± 8.0 mm" in text and "over 20 sequences" in text
  assert "one seed" in text  # says training noise was not measured
  assert "Warning" not in text
  assert lines[-1].split() == ["skeletons", "(3D)", "/x/skeletons.png"]


def test_answer_worse_unclear_and_floor(demo_report):
  worse = "\n".join(demo_report.short_answer(_table(300.0, 320.0, 200.0), "full", 350.0,
                                             (-19.0, 5.0, 20), []))
  assert "Answer: adaptation made it worse: 20.0 mm higher target error" in worse
  assert "-20% of the way" in worse
  unclear = "\n".join(demo_report.short_answer(_table(300.0, 298.0, 200.0), "full", 350.0,
                                               (2.0, 5.0, 20), []))
  assert "made no clear difference" in unclear and "includes no change" in unclear
  same = "\n".join(demo_report.short_answer(_table(300.0, 300.0, 300.0), "full", 250.0,
                                            (0.0, 0.0, 2), []))
  assert "changed nothing measurable" in same and "of the way" not in same
  assert "Warning: a model is no better than always predicting the mean pose" in same
  seeds = "\n".join(demo_report.short_answer(
      _table(300.0, 280.0, 200.0, seeds=3, adapted_std=4.0, gain_in_stds=3.5), "full", 350.0,
      (20.0, 5.0, 20), []))
  assert "Over 3 training seeds: 280.0 ± 4.0 mm, a gain of +3.5 seed standard deviations" in seeds


def _run_demo(out):
  env = dict(os.environ, PYTHON=cli_harness.python_executable(), DEMO_OUT=str(out),
             DEMO_BENCHMARK_GIN="benchmark/tiny.gin", DEMO_GIN="tiny/stages.gin",
             DEMO_FINETUNE_STEPS="4", TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  done = subprocess.run(["bash", os.path.join(REPO, "tools", "demo.sh")], env=env,
                        capture_output=True, text=True, timeout=1500)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  return done.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  out = tmp_path_factory.mktemp("demo")
  return out, _run_demo(out)


def test_demo_progress_lines(demo):
  out, stdout = demo
  assert "\r" not in stdout  # captured, not a terminal: plain lines
  for i in (1, 2, 3, 4):
    assert re.search(rf"^== step {i}/4: .* \(elapsed \d+ min \d\d s\)$", stdout, re.M), stdout
  for k in range(1, NUM_TRAINING_STAGES + 1):
    assert re.search(rf"^\[ablation\] \[{k}/{NUM_TRAINING_STAGES}\] .*: done in .* \| elapsed ",
                     stdout, re.M), stdout
  assert f"[{NUM_TRAINING_STAGES + 1}/" not in stdout  # the count was right
  bars = re.findall(r"^\[ablation\] \[\d/6\] .*\[[#-]{24}\] \d/4 steps", stdout, re.M)
  assert len(bars) >= NUM_TRAINING_STAGES, stdout
  assert stdout.count("per-stage logs (full command lines") == 1
  # command lines and training output are in the logs, not on the screen
  assert "--gin_bindings" not in stdout and "Path not found" not in stdout
  log = (out / "runs" / "logs" / "seed0_full.log").read_text()
  assert log.startswith("$ ") and "--stage=adapt" in log
  assert "tools/make_benchmark.py" in (out / "logs" / "benchmark.log").read_text()


def test_demo_short_answer_matches_the_runs(demo):
  out, stdout = demo
  rows = json.load(open(out / "runs" / "results.json"))["rows"]  # written by the stages' runs
  answer = stdout[stdout.index("What came out"):]
  source = rows["source_only"]["target_mpjpe"]["mean"]
  adapted = rows["full"]["target_mpjpe"]["mean"]
  assert re.search(rf"source-only G\^s \(no adaptation\) +{source:.1f} mm", answer)
  assert re.search(rf"adapted: \+L\^v_3 \(full method\) +{adapted:.1f} mm", answer)
  assert re.search(rf"oracle: .* +{rows['oracle_finetune']['target_mpjpe']['mean']:.1f} mm",
                   answer)
  assert re.search(r"always the mean source pose \(no model\) +\d+\.\d mm", answer)
  assert re.search(rf"^Answer: adaptation .*: {abs(source - adapted):.1f} mm "
                   r"(lower|higher) target error", answer, re.M)
  assert "How sure:" in answer
  assert (out / "summary.txt").read_text() in stdout
  manifest = json.load(open(out / "benchmark" / "manifest.json"))
  summary = json.load(open(out / "summary.json"))
  assert summary["num_test_frames"] == manifest["splits"]["target_test"]["frames"]
  assert summary["num_test_sequences"] == manifest["splits"]["target_test"]["sequences"]
  paths = re.findall(r"^  [A-Za-z0-9 ()-]+?  +(/\S+)$", answer, re.M)
  for path in paths:
    assert os.path.exists(path), path
  assert str(out / "exported" / "sa3dhp_int8.tflite") in paths


def test_demo_exports_the_adapted_model(demo):
  import tensorflow as tf
  from ai_edge_litert import interpreter as litert
  out, stdout = demo
  serving = out / "exported" / "saved_model" / "1"
  assert f"SavedModel {out / 'exported' / 'saved_model'}/1" in stdout
  metadata = json.load(open(serving / "metadata.json"))
  assert metadata["stage"] == "adapt" and metadata["format"] == "saved_model"
  loaded = tf.saved_model.load(str(serving))
  assert {"serving_default", "serving_bytes", "serving_clip"} <= set(loaded.signatures)
  tflite = litert.Interpreter(model_path=str(out / "exported" / "sa3dhp_int8.tflite"))
  assert tflite.get_input_details()[0]["dtype"] == np.uint8


def test_demo_pictures(demo):
  import matplotlib.image
  out, _ = demo
  skeletons = matplotlib.image.imread(out / "skeletons.png")
  curve = matplotlib.image.imread(out / "adaptation_curve.png")
  assert skeletons.shape[0] > 600 and skeletons.shape[1] > 600  # 4 rows x 3 columns
  assert curve.shape[0] > 300
  assert skeletons[..., :3].std() > 0.05 and curve[..., :3].std() > 0.05  # not blank


def test_demo_rerun_skips_finished_work(demo):
  out, first = demo
  again = _run_demo(out)
  assert "benchmark already built" in again
  assert again.count("already done, skipped") == NUM_TRAINING_STAGES
  assert "already exported" in again
  assert "started" not in again.split("== step 4/4")[0]
  assert first[first.index("What came out"):] == again[again.index("What came out"):]
