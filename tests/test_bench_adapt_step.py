"""tools/bench_adapt_step.py end to end: tiny models, one energy, one round (every variant is
still traced, with and without XLA, and the pipeline timed once)."""

import json
import math
import os
import statistics
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, "tools", "bench_adapt_step.py")
VARIANTS = ("round_robin/xla_off", "round_robin/xla_on", "joint/xla_off", "joint/xla_on")


def run_tool(args, cwd, timeout=180):
  env = dict(os.environ)
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  env["PYTHONPATH"] = os.pathsep.join([REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  return subprocess.run([sys.executable, TOOL, *args], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout)


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_bench_tiny(tmp_path):
  output = tmp_path / "out" / "bench.json"
  batch, size = 2, 16
  # One energy keeps the traces (the slow part) to four; the tool reports the G frame count
  # both from the batch keys and from G's traced input shapes, compared below.
  result = run_tool(["--tiny", f"--image_size={size}", f"--batch_size={batch}", "--rounds=1",
                     "--warmup=0", "--energies=z3", "--num_clips=3", "--pipeline_batches=2",
                     "--pipeline_warmup_batches=1", "--pipeline_warmup_seconds=0",
                     f"--output={output}"], cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout)
  assert json.loads(output.read_text()) == printed
  assert printed["tool"] == "bench_adapt_step"
  assert printed["settings"]["model"] == "tiny"
  assert printed["settings"]["energies"] == ["z3"]
  assert printed["settings"]["batch_shapes"] == {"window": [batch, 60, size, size, 3],
                                                 "counterpart/z3": [batch, 30, size, size, 3]}

  # Steps: medians, trace time, XLA ratios.
  for schedule in ("round_robin", "joint"):
    entry = printed["step"][schedule]
    for xla in ("xla_off", "xla_on"):
      summary = entry[xla]
      for key in ("step_median_seconds", "first_call_seconds"):
        assert _positive(summary[key]), (schedule, xla, key)
      assert summary["first_call_seconds"] > summary["step_median_seconds"]
      assert summary["trace_compile_seconds"] == pytest.approx(
          summary["first_call_seconds"] - summary["step_median_seconds"])
      assert summary["g_frames_per_step"] == batch * 60  # 30 anchor + 30 counterpart frames
      assert len(summary["round_mean_seconds"]) == 1
      assert summary["step_median_seconds"] == pytest.approx(
          statistics.median(summary["round_mean_seconds"]))
    ratio = entry["xla_on_vs_off"]
    assert _positive(ratio["step"])
    assert ratio["step"] == pytest.approx(entry["xla_on"]["step_median_seconds"]
                                          / entry["xla_off"]["step_median_seconds"])
    assert ratio["paired_round_median"] == pytest.approx(ratio["step"])  # one round
  per_energy = printed["step"]["round_robin"]["xla_on"]["per_energy"]
  assert list(per_energy) == ["z3"]
  assert per_energy["z3"]["median_seconds"] == pytest.approx(
      statistics.median(per_energy["z3"]["samples_seconds"]))
  assert printed["step"]["round_robin"]["xla_on_vs_off"]["per_energy"]["z3"] == pytest.approx(
      per_energy["z3"]["median_seconds"]
      / printed["step"]["round_robin"]["xla_off"]["per_energy"]["z3"]["median_seconds"])

  # Frames each step feeds G: from the batch keys and from the traced shapes.
  for variant in VARIANTS:
    (frames,) = printed["frames_per_step"][variant].values()
    assert frames["batch_keys"] == ["window", "counterpart/z3"]
    assert frames["frames"] == frames["traced_frames"] == batch * 60

  # Pipeline vs consumption.
  pipeline = printed["pipeline"]
  assert pipeline["outputs"] == ["augmented", "counterpart/z3", "window"]
  assert pipeline["frames_per_window"] == 60 + 30 + 30
  assert pipeline["frames_per_batch"] == batch * 120
  for key in ("windows_per_sec", "batches_per_sec", "output_frames_per_sec"):
    assert _positive(pipeline[key]), key
  assert pipeline["output_frames_per_sec"] == pytest.approx(pipeline["windows_per_sec"] * 120)
  comparison = printed["input_vs_step"]
  assert "share the same cores" in comparison["shared_cores"]
  for variant in VARIANTS:
    schedule, xla = variant.split("/")
    c = comparison[variant]
    step = printed["step"][schedule][xla]["step_median_seconds"]
    assert c["step_seconds"] == pytest.approx(step)
    assert c["consumed_g_frames_per_sec"] == pytest.approx(batch * 60 / step)
    assert c["needed_input_frames_per_sec"] == pytest.approx(batch * 120 / step)
    assert c["pipeline_vs_consumption"] == pytest.approx(
        pipeline["output_frames_per_sec"] / c["consumed_g_frames_per_sec"])
    assert c["pipeline_vs_step_batches"] == pytest.approx(pipeline["batches_per_sec"] * step)
    # The step reads 60 of the 120 frames per clip the pipeline makes.
    assert c["pipeline_vs_consumption"] == pytest.approx(2 * c["pipeline_vs_step_batches"])
    assert c["step_waits_on_input"] == (c["pipeline_vs_step_batches"] < 1)

  load = printed["load_average_1min"]
  assert load["before"] is None or load["before"] >= 0
  assert printed["cpus"] is None or 1 <= len(printed["cpus"]) <= 2
  for key in ("trace_total_seconds", "timed_rounds_seconds", "total_seconds"):
    assert _positive(printed["timings"][key]), key


def test_bench_input_only_flag_is_a_one_line_error(tmp_path):
  result = run_tool(["--passes=3", "--output=out.json"], cwd=str(tmp_path), timeout=60)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines() == [
      "error: --passes is a tools/bench_input.py flag, not used by this benchmark"]
  assert result.stdout == ""
  assert not (tmp_path / "out.json").exists()
