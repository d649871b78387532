"""tools/ablation.py: aggregation over seeds, gap closure, the markdown table, bad flags."""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ablation():
  spec = importlib.util.spec_from_file_location("ablation", os.path.join(REPO, "tools",
                                                                         "ablation.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run(mpjpe, selected=None):
  out = {"target_mpjpe": mpjpe, "target_pa_mpjpe": mpjpe / 2, "source_mpjpe": 100.0,
         "target_latent_std": 0.2}
  if selected is not None:
    out.update(subset_mpjpe_selected=selected, subset_mpjpe_best_by_labels=selected - 5,
               spread_before=0.2, spread_selected=0.1)
  return out


def test_aggregate_mean_std_and_gap_closure(ablation):
  per_run = {"source_only": {0: _run(300.0), 1: _run(310.0), 2: _run(320.0)},
             "oracle": {0: _run(100.0), 1: _run(100.0), 2: _run(100.0)},
             "full": {0: _run(200.0, 205.0), 1: _run(210.0, 215.0), 2: _run(220.0, 225.0)}}
  table = ablation.aggregate(per_run)
  assert table["full"]["target_mpjpe"]["mean"] == pytest.approx(210.0)
  assert table["full"]["target_mpjpe"]["std"] == pytest.approx(np.std([200, 210, 220], ddof=1))
  # (310 - 210) / (310 - 100)
  assert table["full"]["gap_closure"] == pytest.approx(100.0 / 210.0)
  assert table["full"]["gain_mm"] == pytest.approx(100.0)
  # seed noise: hypot of the two sample stds (10 each)
  assert table["full"]["gain_in_stds"] == pytest.approx(100.0 / np.hypot(10.0, 10.0))
  assert "gain_mm" not in table["source_only"]
  assert table["source_only"]["gap_closure"] == pytest.approx(0.0)
  assert table["oracle"]["gap_closure"] == pytest.approx(1.0)
  assert table["full"]["subset_mpjpe_best_by_labels"]["mean"] == pytest.approx(210.0)


def test_gap_closure_uses_the_tighter_oracle(ablation):
  per_run = {"source_only": {0: _run(300.0)}, "oracle": {0: _run(280.0)},
             "oracle_finetune": {0: _run(200.0)}, "full": {0: _run(250.0, 250.0)}}
  table = ablation.aggregate(per_run)
  assert ablation.oracle_floor(table) == "oracle_finetune"
  assert table["full"]["gap_closure"] == pytest.approx(0.5)  # (300 - 250) / (300 - 200)
  assert table["oracle"]["gap_closure"] == pytest.approx(0.2)


def test_markdown_lists_every_row_and_the_command(ablation, tmp_path):
  per_run = {"source_only": {0: _run(300.0)}, "full": {0: _run(250.0, 250.0)},
             "oracle": {0: _run(100.0)}}
  table = ablation.aggregate(per_run)
  residuals = {"relation_residuals_source": {"z3": 0.01}, "relation_residuals_target": {"z3": 0.03}}
  path = tmp_path / "results.md"
  ablation.write_markdown(str(path), table, per_run, str(tmp_path), "tools/ablation.py --x",
                          residuals)
  text = path.read_text()
  assert "tools/ablation.py --x" in text
  for row in ("Source only", "full method", "oracle"):
    assert row in text
  assert "| z3 | 0.0100 | 0.0300 |" in text
  assert "25%" in text  # (300 - 250) / (300 - 100)
  assert "| +50.0 |" in text  # one seed: a gain in mm, no noise estimate


def test_bad_flags_exit_2(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
  for args, needle in [(["--data_dir", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--rows", "full,nope"], "nope"),
                       (["--data_dir", str(tmp_path), "--output", str(tmp_path / "o")],
                        "manifest")]:
    done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "ablation.py"), *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
