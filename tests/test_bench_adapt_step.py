"""The adaptation-step benchmark: its library (`benchmarks/adapt_step.py`) against values
computed by hand (frames each step feeds G, medians and ratios of given samples), G's traced
input shapes, and tools/bench_adapt_step.py end to end on tiny models (one energy, one round)."""

import json
import math
import os

import pytest
import tensorflow as tf

from sa3dhp_tf.benchmarks import adapt_step

import testing

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, "tools", "bench_adapt_step.py")
VARIANTS = ("round_robin/xla_off", "round_robin/xla_on", "joint/xla_off", "joint/xla_on")
B, SIZE = 2, 16


def run_tool(args, cwd, timeout=180):
  return testing.run_tool(TOOL, args, cwd, timeout)


def _positive(value):
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def tiny_model():
  config = adapt_step.MODEL_CONFIGS["tiny"]
  components = adapt_step.build_components(config, SIZE, ("z3", "v3"), seed=0)
  from sa3dhp_tf.modeling import adaptation
  model = adaptation.RelationDistillationModel(
      **components, energies=("lcr", "z3", "v3", "source"),
      projection_units=config["adaptation"]["projection_units"])
  return model


SHAPES = {"window": [B, 60, SIZE, SIZE, 3], "augmented": [B, 30, SIZE, SIZE, 3],
          "counterpart/z3": [B, 30, SIZE, SIZE, 3], "counterpart/v3": [B, 30, SIZE, SIZE, 3],
          "source_image": [5, SIZE, SIZE, 3], "source_pose3d": [5, 17, 3]}


@pytest.mark.parametrize("names, frames", [
    (("z3",), B * 30 + B * 30),              # middle-clip anchors + counterparts
    (("v3",), B * 30 + B * 30),              # fast-clip anchors raw[::2] + counterparts
    (("lcr", "z3"), B * 30 + B * 30 * 2),    # one anchor selection, two clips
    (("z3", "v3"), B * 60 + B * 30 * 2),     # two selections: the whole window
    (("source",), 5),                        # labeled frames only
    (("lcr", "v3", "source"), B * 60 + B * 30 * 2 + 5),
])
def test_frames_fed_to_g_by_hand(tiny_model, names, frames):
  counted, keys = adapt_step.g_frames_per_step(tiny_model, names, SHAPES)
  assert counted == frames
  assert keys == tiny_model.required_batch_keys(names)


def test_frames_fed_to_g_when_traced(tiny_model):
  """G's traced input shapes, for a step of lcr + v3: the whole window (two anchor
  selections), augmented and counterpart clips."""
  batch = {k: tf.zeros(v) for k, v in SHAPES.items() if k != "counterpart/z3"}
  with adapt_step.GFrameCounter(tiny_model.image_to_latent) as counter:
    tf.function(lambda b: tiny_model.compute_energies(b, ("lcr", "v3"))[0]).get_concrete_function(
        batch)
  assert counter.total() == B * 60 + B * 30 * 2


def test_summaries_and_ratios_of_given_samples():
  cycle = (("lcr",), ("z3",))
  samples = [[(("lcr",), 0.2), (("z3",), 0.4)], [(("lcr",), 0.4), (("z3",), 0.6)],
             [(("lcr",), 0.3), (("z3",), 0.5)]]
  first = {("lcr",): 2.0, ("z3",): 3.0}
  g_frames = {("lcr",): {"frames": 120}, ("z3",): {"frames": 60}}
  off = adapt_step.summarise_variant("round_robin", cycle, first, samples, g_frames)
  assert off["round_mean_seconds"] == pytest.approx([0.3, 0.5, 0.4])
  assert off["step_median_seconds"] == pytest.approx(0.4)
  assert off["per_energy"]["lcr"]["median_seconds"] == pytest.approx(0.3)
  assert off["per_energy"]["z3"]["median_seconds"] == pytest.approx(0.5)
  assert off["trace_compile_seconds"] == pytest.approx((2.0 - 0.3) + (3.0 - 0.5))
  assert off["g_frames_per_step"] == pytest.approx(90.0)
  on_samples = [[(n, 2 * t) for n, t in r] for r in samples]
  on = adapt_step.summarise_variant("round_robin", cycle, first, on_samples, g_frames)
  ratio = adapt_step.xla_ratios("round_robin", off, on, off["round_mean_seconds"],
                                on["round_mean_seconds"])
  assert ratio["step"] == pytest.approx(2.0)
  assert ratio["paired_round_median"] == pytest.approx(2.0)
  assert ratio["per_energy"] == pytest.approx({"lcr": 2.0, "z3": 2.0})
  pipeline = {"batches_per_sec": 5.0, "output_frames_per_sec": 1200.0}
  compared = adapt_step.input_vs_step(off, pipeline, batch_frames_per_step=240)
  # 0.4 s per step: 2.5 steps/s; G sees 90 frames per step, the batch holds 240.
  assert compared["steps_per_sec"] == pytest.approx(2.5)
  assert compared["consumed_g_frames_per_sec"] == pytest.approx(225.0)
  assert compared["needed_input_frames_per_sec"] == pytest.approx(600.0)
  assert compared["pipeline_vs_step_batches"] == pytest.approx(2.0)
  assert compared["pipeline_vs_consumption"] == pytest.approx(1200.0 / 225.0)
  assert compared["step_waits_on_input"] is False


def test_check_energies_reads_the_registry():
  assert adapt_step.check_energies(["lcr", "z3"]) == ("lcr", "z3")
  with pytest.raises(adapt_step.BenchError, match="'source' reads"):
    adapt_step.check_energies(["source"])
  with pytest.raises(adapt_step.BenchError, match="unknown energy 'nope'"):
    adapt_step.check_energies(["nope"])
  with pytest.raises(adapt_step.BenchError, match="duplicates"):
    adapt_step.check_energies(["z3", "z3"])


def test_bench_tiny(tmp_path):
  output = tmp_path / "out" / "bench.json"
  result = run_tool(["--tiny", f"--image_size={SIZE}", f"--batch_size={B}", "--rounds=1",
                     "--warmup=0", "--energies=z3", "--num_clips=3", "--pipeline_batches=2",
                     "--pipeline_warmup_batches=1", "--pipeline_warmup_seconds=0",
                     f"--output={output}"], cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout)
  assert json.loads(output.read_text()) == printed
  assert printed["tool"] == "bench_adapt_step"
  assert printed["settings"]["model"] == "tiny" and printed["settings"]["energies"] == ["z3"]
  assert printed["settings"]["batch_shapes"] == {"window": [B, 60, SIZE, SIZE, 3],
                                                 "counterpart/z3": [B, 30, SIZE, SIZE, 3]}
  for variant in VARIANTS:
    schedule, xla = variant.split("/")
    summary = printed["step"][schedule][xla]
    assert _positive(summary["step_median_seconds"]), variant
    assert summary["first_call_seconds"] > summary["step_median_seconds"], variant
    (frames,) = printed["frames_per_step"][variant].values()
    # 30 anchor + 30 counterpart frames per clip, from G's traced input shapes.
    assert frames["traced_frames"] == B * 60, variant
    assert frames["batch_keys"] == ["window", "counterpart/z3"]
  pipeline = printed["pipeline"]
  assert pipeline["outputs"] == ["augmented", "counterpart/z3", "window"]
  assert pipeline["frames_per_batch"] == B * 120
  assert _positive(pipeline["batches_per_sec"])
  assert "share the same cores" in printed["input_vs_step"]["shared_cores"]
  assert printed["cpus"] is None or 1 <= len(printed["cpus"]) <= 2


def test_unknown_flag_fails_before_any_work(tmp_path):
  """bench_input's flags are not this tool's: absl rejects them before anything runs."""
  result = run_tool(["--passes=3", "--output=out.json"], cwd=str(tmp_path), timeout=60)
  assert result.returncode != 0
  assert "passes" in result.stderr
  assert result.stdout == ""
  assert not (tmp_path / "out.json").exists()
