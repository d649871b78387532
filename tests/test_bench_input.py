"""tools/bench_input.py end to end on tiny generated clips: one short pass per variant."""

import json
import math
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, "tools", "bench_input.py")


def run_tool(args, cwd, timeout=120):
  env = dict(os.environ)
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  return subprocess.run([sys.executable, TOOL, *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout)


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


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
  assert "60-frame window" in printed["units"]["window_frames_per_sec"]
  assert printed["settings"]["relation_keys"] == ["z3", "v2", "v3"]

  expected_outputs = {
      "full": (["augmented", "counterpart/v2", "counterpart/v3", "counterpart/z3", "window"],
               60 + 30 + 30 * 3),
      "decode_only": (["window"], 60),
  }
  for variant, (outputs, per_window) in expected_outputs.items():
    timing = printed["pipelines"][variant]
    assert timing["outputs"] == outputs
    assert timing["window_shape"] == [batch, 60, 16, 16, 3]
    assert timing["frames_per_window"] == per_window
    for key in ("windows_per_sec", "batches_per_sec", "window_frames_per_sec",
                "output_frames_per_sec", "warmup_seconds", "build_seconds"):
      assert _positive(timing[key]), (variant, key, timing[key])
    assert len(timing["pass_window_frames_per_sec"]) == 1
    assert timing["window_frames_per_sec"] == pytest.approx(timing["windows_per_sec"] * 60)
    assert timing["output_frames_per_sec"] == pytest.approx(timing["windows_per_sec"] * per_window)
    assert timing["batches_per_sec"] == pytest.approx(timing["windows_per_sec"] / batch)
  full = printed["pipelines"]["full"]
  assert _positive(printed["full_vs_decode_only_window_fps"])

  consumer = printed["consumer"]
  assert consumer["frames_per_step"] == batch * (60 + 30 + 30 * 3)
  assert consumer["consumer_frames_per_sec"] == pytest.approx(batch * 180 / step_seconds)
  assert consumer["pipeline_output_frames_per_sec"] == pytest.approx(full["output_frames_per_sec"])
  assert consumer["pipeline_vs_consumer_ratio"] == pytest.approx(
      full["output_frames_per_sec"] / (batch * 180 / step_seconds))
  assert consumer["pipeline_keeps_up"] == (consumer["pipeline_vs_consumer_ratio"] >= 1)
  assert printed["cpus"] is None or 1 <= len(printed["cpus"]) <= 2


def test_missing_data_dir_is_a_one_line_error(tmp_path):
  missing = tmp_path / "no_benchmark_here"
  result = run_tool([f"--data_dir={missing}", "--output=out.json"], cwd=str(tmp_path))
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines() == [f"error: --data_dir not found: {missing}"]
  assert result.stdout == ""
  assert not (tmp_path / "out.json").exists()
