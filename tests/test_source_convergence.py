"""tools/source_convergence.sh and its report (issue 11 item 2): the table per source budget with
the change paired by seed, the bindings the runs were trained with, and bad input."""

import json
import os
import subprocess

from cli_harness import REPO_ROOT, run_command

# (budget, seed) -> (source_test mpjpe, target_test mpjpe); PA-MPJPE is half of each
_RUNS = {(1500, 0): (130.0, 170.0), (1500, 1): (120.0, 190.0),
         (4000, 0): (110.0, 176.0), (4000, 1): (104.0, 184.0)}


def _write_runs(root):
  for (steps, seed), (source, target) in _RUNS.items():
    run = root / f"source_{steps}_s{seed}"
    run.mkdir(parents=True)
    run.joinpath("results.json").write_text(json.dumps({
        "source_test": {"mpjpe": source, "pa_mpjpe": source / 2},
        "target_test": {"mpjpe": target, "pa_mpjpe": target / 2}}))


def test_report_table_paired_change_and_bindings(tmp_path):
  _write_runs(tmp_path)
  (tmp_path / "bindings.txt").write_text("ImageToLatent.backbone = 'mobilenet_v2'\n")
  done = run_command(["tools/source_convergence_report.py", f"--runs={tmp_path}",
                      "--budgets=4000,1500", "--seeds=0,1",
                      f"--bindings_file={tmp_path / 'bindings.txt'}"],
                     cwd=str(tmp_path), timeout=120)
  assert done.returncode == 0, done.stderr
  text = (tmp_path / "source_convergence.md").read_text()
  assert "`ImageToLatent.backbone = 'mobilenet_v2'`" in text
  # source mean 125 ± 7.1 at 1500; target 180 ± 14.1; at 4000: 107 ± 4.2, 180 ± 5.7;
  # paired change at 4000: source (-20, -16) -> -18.0 ± 2.8, target (+6, -6) -> 0.0 ± 8.5
  assert "| 1500 | 125.0 ± 7.1 | 62.5 ± 3.5 | 180.0 ± 14.1 | 90.0 ± 7.1 |  |  |" in text
  assert "| 4000 | 107.0 ± 4.2 | 53.5 ± 2.1 | 180.0 ± 5.7 | 90.0 ± 2.8 | -18.0 ± 2.8 | 0.0 ± 8.5 |" \
      in text
  results = json.loads((tmp_path / "source_convergence.json").read_text())
  assert results["bindings"] == ["ImageToLatent.backbone = 'mobilenet_v2'"]
  assert results["by_budget"]["4000"]["target_test"]["mpjpe"] == [176.0, 184.0]
  assert results["paired_change_mpjpe"]["4000"]["source_test"] == [-20.0, -16.0]
  assert (tmp_path / "source_convergence.png").stat().st_size > 0


def test_report_extra_target_columns(tmp_path):
  _write_runs(tmp_path)
  extra = tmp_path / "target_test_camera"
  extra.mkdir()
  for (steps, seed), (_, target) in _RUNS.items():
    extra.joinpath(f"source_{steps}_s{seed}.json").write_text(json.dumps(
        {"mpjpe": target - 10, "pa_mpjpe": 40.0, "per_joint": {}}))
  done = run_command(["tools/source_convergence_report.py", f"--runs={tmp_path}",
                      "--budgets=1500,4000", "--seeds=0,1", "--extra_targets=camera"],
                     cwd=str(tmp_path), timeout=120)
  assert done.returncode == 0, done.stderr
  text = (tmp_path / "source_convergence.md").read_text()
  assert "target_test (camera) MPJPE | target_test (camera) PA-MPJPE" in text
  # camera: 1500 (160, 180) -> 170.0 ± 14.1; 4000 (166, 174) -> 170.0 ± 5.7, change (+6, -6)
  assert "| 1500 | 125.0 ± 7.1 | 62.5 ± 3.5 | 180.0 ± 14.1 | 90.0 ± 7.1 | 170.0 ± 14.1 | " \
      "40.0 ± 0.0 |  |  |  |" in text
  assert text.rstrip().endswith("| -18.0 ± 2.8 | 0.0 ± 8.5 | 0.0 ± 8.5 |")
  (extra / "source_4000_s1.json").unlink()
  done = run_command(["tools/source_convergence_report.py", f"--runs={tmp_path}",
                      "--budgets=1500,4000", "--seeds=0,1", "--extra_targets=camera"],
                     cwd=str(tmp_path), timeout=120)
  assert done.returncode == 2
  lines = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "target 'camera' for budget 4000, seed 1" in lines[0], done.stderr


def test_report_missing_run_is_one_error_line(tmp_path):
  _write_runs(tmp_path)
  done = run_command(["tools/source_convergence_report.py", f"--runs={tmp_path}",
                      "--budgets=1500,8000", "--seeds=0"], cwd=str(tmp_path), timeout=120)
  assert done.returncode == 2
  lines = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "budget 8000, seed 0" in lines[0], done.stderr
  assert not (tmp_path / "source_convergence.md").exists()


def test_script_refuses_other_bindings_for_finished_runs(tmp_path):
  out = tmp_path / "conv"
  out.mkdir()
  (out / "bindings.txt").write_text("ImageToLatent.backbone = 'mobilenet_v2'")
  for extra in ([], ["ImageToLatent.backbone = 'small_resnet'"]):
    done = subprocess.run(["bash", os.path.join(REPO_ROOT, "tools", "source_convergence.sh"),
                           str(out), "1500", "0", *extra],
                          env=dict(os.environ, PYTHON="/nonexistent/python"), cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: BINDING:"), done.stderr
    assert "bindings.txt" in lines[0]
  assert sorted(os.listdir(out)) == ["bindings.txt"]
