"""Shift calibration (sa3dhp_tf/evaluation/calibration.py, tools/calibrate_shift.py)."""

import json
import math

import numpy as np
import pytest

from cli_harness import own_stderr_lines
from cli_harness import run_command
import shared_stages
import testing
from sa3dhp_tf.evaluation import calibration

USABLE = {"source_only_target": 200.0, "source_only_source": 100.0, "oracle_target": 110.0,
          "constant_pose_target": 250.0}


def test_each_criterion_fails_on_its_own_number():
  assert calibration.check(USABLE) == {"beats_constant_pose": True, "oracle_margin": True,
                                       "source_like_oracle": True, "all": True}
  cases = {"beats_constant_pose": {"source_only_target": 251.0, "oracle_target": 110.0},
           "oracle_margin": {"oracle_target": 185.0, "source_only_source": 170.0},
           "source_like_oracle": {"source_only_source": 140.0}}
  for failing, change in cases.items():
    verdict = calibration.check(dict(USABLE, **change))
    assert not verdict[failing] and not verdict["all"], failing
    assert all(v for k, v in verdict.items() if k not in (failing, "all")), (failing, verdict)
  # the edges are inclusive: a margin of exactly 20 mm, a ratio of exactly 0.8
  assert calibration.check(dict(USABLE, oracle_target=180.0, source_only_source=144.0))["all"]
  with pytest.raises(ValueError, match="oracle_target"):
    calibration.check(dict(USABLE, oracle_target=math.nan))
  with pytest.raises(KeyError, match="constant_pose_target"):
    calibration.check({k: v for k, v in USABLE.items() if k != "constant_pose_target"})


def test_constant_pose_floor(tmp_path_factory):
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  bench = shared_stages.tiny_benchmark(tmp_path_factory)
  source = np.concatenate([b["pose3d"].numpy() for b in pipelines.labeled_frames(
      records.shard_paths(bench, "source"), 64, kind=records.split_kind("source"))])
  assert len(source) < calibration.MEAN_POSE_FRAMES  # the tiny split: all of it is averaged
  mean_pose = (source - source[:, :1]).mean(axis=0)
  gt = calibration.root_relative_poses(bench, "target_test")
  assert gt.shape[1:] == (17, 3) and np.all(gt[:, 0] == 0)
  expected = np.mean([np.mean([np.linalg.norm(f[j] - mean_pose[j]) for j in range(17)])
                      for f in gt])
  assert calibration.constant_pose_mpjpe(bench, gt) == pytest.approx(expected, rel=1e-5)
  assert calibration.own_mean_pose_mpjpe(np.stack([gt[0], gt[0]])) == 0.0


def test_tool_writes_the_verdict_and_refuses_another_source(tmp_path_factory, tmp_path):
  chain = shared_stages.tiny_chain(tmp_path_factory)
  out = tmp_path / "calibration.json"
  args = ["tools/calibrate_shift.py", f"--data_dir={chain['bench']}",
          f"--source_dir={chain['source']}", f"--oracle_dir={chain['source']}"]
  done = run_command(args + [f"--output={out}"], cwd=str(tmp_path))
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads(out.read_text())
  measured = result["mpjpe_mm"]
  assert measured["oracle_target"] == measured["source_only_target"]
  # the same model as its own oracle has no margin
  assert result["passed"]["oracle_margin"] is False and result["passed"]["all"] is False
  assert result["target_style"] == "target"
  # two oracles: the tighter one (lower target MPJPE) is the calibration's, each is recorded
  from sa3dhp_tf.evaluation import stage_evaluation
  adapted = stage_evaluation.evaluate_model(chain["adapt"], "target_test", chain["bench"])
  two = tmp_path / "two.json"
  done = run_command(args + [f"--oracle_dir={chain['adapt']}", f"--output={two}"],
                     cwd=str(tmp_path))
  assert done.returncode == 0, done.stderr[-3000:]
  result = json.loads(two.read_text())
  assert result["oracles"][chain["adapt"]]["mpjpe_mm"] == pytest.approx(adapted["mpjpe"])
  assert result["oracles"][chain["source"]]["mpjpe_mm"] == measured["source_only_target"]
  tighter = min(adapted["mpjpe"], measured["source_only_target"])
  assert result["mpjpe_mm"]["oracle_target"] == pytest.approx(tighter)
  assert result["oracle_dir"] == min((adapted["mpjpe"], chain["adapt"]),
                                     (measured["source_only_target"], chain["source"]))[1]
  assert adapted["mpjpe"] != measured["source_only_target"]  # else this checks nothing
  other = testing.build_tiny_benchmark(str(tmp_path / "seed1"), ["build_benchmark.seed = 1"])
  refused = run_command(args[:1] + [f"--data_dir={other}"] + args[2:] +
                        [f"--output={tmp_path / 'x.json'}"], cwd=str(tmp_path))
  lines = own_stderr_lines(refused.stderr)
  assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-3000:]
  assert lines[0].startswith("error: --source_dir") and "source splits" in lines[0]
  assert not (tmp_path / "x.json").exists()


def test_calibrate_shifts_script_trains_both_oracles_and_uses_the_tighter(tmp_path_factory,
                                                                         tmp_path):
  """tools/calibrate_shifts.sh JOINT_ORACLE=1 on the tiny chain (its benchmark linked as the
  'default' shift): the fine-tuning and the joint oracle, each with its ablation row's bindings,
  and one calibration.json naming both."""
  import os
  import subprocess
  from cli_harness import python_executable
  from sa3dhp_tf.tasks import stage_io
  chain = shared_stages.tiny_chain(tmp_path_factory)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = tmp_path / "cal"
  (out / "default").mkdir(parents=True)
  os.symlink(chain["bench"], out / "default" / "benchmark")
  # tiny/models.gin's widths: with source.init_dir the oracle must name G^s's architecture
  tiny = ["ImageToLatent.fc_units = (32, 16)", "ImageToLatent.backbone_widths = (8, 8, 16)",
          "ImageToLatent.backbone_blocks = (1, 1, 1)", "source.batch_size = 8",
          "source.steps_per_loop = 2"]
  env = dict(os.environ, SOURCE=chain["source"], POSE_AAE=chain["pose"], FINETUNE_STEPS="2",
             JOINT_ORACLE="1", PYTHON=python_executable(), TF_CPP_MIN_LOG_LEVEL="2")
  done = subprocess.run(["bash", os.path.join(repo, "tools", "calibrate_shifts.sh"), str(out),
                         "default", *tiny], env=env, capture_output=True, text=True,
                        timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  finetune = stage_io.read_stage_info(str(out / "default" / "oracle"), "source")
  joint = stage_io.read_stage_info(str(out / "default" / "oracle_joint"), "source")
  assert finetune["settings"]["extra_sources"] == []
  assert joint["settings"]["extra_sources"] == [[str(out / "default" / "benchmark"), "source",
                                                 1.0]]
  for info in (finetune, joint):
    assert info["settings"]["train_split"] == "target_labeled"
    assert info["inputs"]["init"] == chain["source"]
  result = json.loads((out / "default" / "calibration.json").read_text())
  errors_mm = {os.path.basename(d): r["mpjpe_mm"] for d, r in result["oracles"].items()}
  assert set(errors_mm) == {"oracle", "oracle_joint"}
  assert result["mpjpe_mm"]["oracle_target"] == min(errors_mm.values())
  assert "| default (target) |" in (out / "calibration.md").read_text()
