"""The input-pipeline benchmark: its library (`benchmarks/input_pipeline.py`) against values
computed here (records read back, a pipeline of known speed, hand-computed ratios), and
tools/bench_input.py end to end on tiny generated clips."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.benchmarks import input_pipeline as bench
from sa3dhp_tf.data import records

import testing
import cli_harness

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, "tools", "bench_input.py")


def run_tool(args, cwd, timeout=120):
  return testing.run_tool(TOOL, args, cwd, timeout)


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_generated_clip_records_read_back(tmp_path):
  paths = bench.make_clip_records(str(tmp_path), num_clips=3, image_size=16, num_shards=2)
  assert [os.path.basename(p) for p in paths] == [
      "target_train-00000-of-00002.tfrecord", "target_train-00001-of-00002.tfrecord"]
  clips = [r for r in records.record_dataset(paths, "clip", shuffle_files=False)]
  assert len(clips) == 3
  firsts = []
  for clip in clips:
    assert int(clip["num_frames"]) == 60
    frames = [tf.io.decode_jpeg(j).numpy() for j in clip["frames/encoded"].numpy()]
    assert len(frames) == 60 and frames[0].shape == (16, 16, 3)
    firsts.append(frames[0].astype(np.float32))
  # Random content: clips differ, and so do the first and last frames of a clip (it drifts).
  assert np.abs(firsts[0] - firsts[1]).mean() > 5.0
  assert bench.first_record_size(paths) == [16, 16]


def _slow_batches(batch_size, seconds):
  """A dataset of window batches that takes `seconds` per batch (a sleep in the map)."""

  def slow(x):
    time.sleep(seconds)
    return x

  def make(i):
    window = tf.numpy_function(slow, [tf.zeros([batch_size, 60, 4, 4, 3])], tf.float32)
    return {"window": tf.ensure_shape(window, [batch_size, 60, 4, 4, 3])}

  return tf.data.Dataset.range(10**6).map(make)


def test_pipeline_timer_measures_a_known_rate():
  batch_size, seconds = 2, 0.05
  timing = bench.time_pipeline(_slow_batches(batch_size, seconds), batch_size, 180,
                               warmup_batches=1, passes=2, batches_per_pass=4)
  # 2 windows every 0.05 s at most: 40 windows/s; overheads only slow it down.
  assert 25.0 < timing["windows_per_sec"] <= 40.5
  assert 25.0 * 60 < timing["window_frames_per_sec"] <= 40.5 * 60
  assert 25.0 * 180 < timing["output_frames_per_sec"] <= 40.5 * 180
  assert 12.5 < timing["batches_per_sec"] <= 20.25
  assert len(timing["pass_window_frames_per_sec"]) == 2
  assert timing["window_shape"] == [2, 60, 4, 4, 3] and timing["outputs"] == ["window"]
  assert timing["warmup_batches"] == 1


def test_frame_counts_and_consumer_ratio_by_hand():
  assert bench.frames_per_window(3) == 180  # 60 window + 30 augmented + 3 x 30 counterparts
  assert bench.frames_per_window(0, with_augmented=False) == 60
  ratio = bench.consumer_ratio(2880.0, batch_size=2, num_relations=3, step_seconds=0.25)
  assert ratio["frames_per_step"] == 360
  assert ratio["consumer_frames_per_sec"] == pytest.approx(1440.0)
  assert ratio["pipeline_vs_consumer_ratio"] == pytest.approx(2.0)
  assert ratio["pipeline_keeps_up"] is True
  assert bench.consumer_ratio(1000.0, 2, 3, 0.25)["pipeline_keeps_up"] is False
  with pytest.raises(bench.BenchError, match="--relation_keys: unknown relation 'z9'"):
    bench.check_relation_keys(["z3", "z9"])


def test_pin_cores_restricts_the_process():
  if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
    pytest.skip("needs CPU affinity and at least 2 CPUs")
  code = ("import os; from sa3dhp_tf.benchmarks.input_pipeline import pin_cores; "
          "print(pin_cores(1), sorted(os.sched_getaffinity(0)))")
  done = subprocess.run([cli_harness.python_executable(), "-c", code], capture_output=True,
                        text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
  assert done.returncode == 0, done.stderr[-2000:]
  returned, actual = done.stdout.strip().split("] [")
  assert returned + "]" == "[" + actual and len(actual.strip("[]").split(",")) == 1


def test_bench_on_generated_clips(tmp_path):
  output = tmp_path / "out" / "bench.json"
  batch, step_seconds = 2, 0.25
  result = run_tool(["--image_size=16", "--num_clips=3", "--num_shards=2", f"--batch_size={batch}",
                     "--warmup_batches=1", "--warmup_seconds=0", "--passes=1",
                     "--batches_per_pass=2", f"--step_seconds={step_seconds}",
                     f"--output={output}"], cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout)
  assert json.loads(output.read_text()) == printed
  assert printed["data"]["source"] == "generated"
  assert printed["data"]["records"] == 3 and printed["data"]["shards"] == 2
  assert printed["data"]["image_size"] == [16, 16]
  assert printed["settings"]["relation_keys"] == ["z3", "v2", "v3"]
  expected_outputs = {
      "full": (["augmented", "counterpart/v2", "counterpart/v3", "counterpart/z3", "window"], 180),
      "decode_only": (["window"], 60),
  }
  for variant, (outputs, per_window) in expected_outputs.items():
    timing = printed["pipelines"][variant]
    assert timing["outputs"] == outputs
    assert timing["window_shape"] == [batch, 60, 16, 16, 3]
    assert timing["frames_per_window"] == per_window
    for key in ("windows_per_sec", "window_frames_per_sec", "output_frames_per_sec",
                "build_seconds"):
      assert _positive(timing[key]), (variant, key, timing[key])
  assert printed["consumer"]["frames_per_step"] == batch * 180
  assert printed["cpus"] is None or 1 <= len(printed["cpus"]) <= 2


def test_missing_data_dir_is_a_one_line_error(tmp_path):
  missing = tmp_path / "no_benchmark_here"
  result = run_tool([f"--data_dir={missing}", "--output=out.json"], cwd=str(tmp_path))
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines() == [f"error: --data_dir not found: {missing}"]
  assert result.stdout == ""
  assert not (tmp_path / "out.json").exists()
