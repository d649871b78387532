"""The tools' bash scripts keep the error contract (README "Errors") for their own checks: a
missing argument or environment variable, or a bad one, is one `error:` line naming it, with
the usage, and exit status 2, before any work (tools/bash_errors.sh)."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = [
    (["alignment_screen.sh"], {}, "OUT"),
    (["backbone_comparison.sh"], {}, "OUT"),
    (["source_convergence.sh"], {}, "OUT"),
    (["source_convergence.sh", "{tmp}/out", "1500 4k"], {}, "BUDGETS"),
    (["source_convergence.sh", "{tmp}/out", "1500", "0 x"], {}, "SEEDS"),
    (["source_convergence.sh", "{tmp}/out"], {"EXTRA_TARGETS": "camera"}, "NAME=BENCHMARK_DIR"),
    (["source_convergence.sh", "{tmp}/out"], {"EXTRA_TARGETS": "camera=/nonexistent"},
     "no benchmark manifest in '/nonexistent'"),
    (["camera_table.sh"], {}, "OUT"),
    (["camera_table.sh", "{tmp}/out", "0"], {}, "SEEDS"),
    (["shift_table.sh"], {}, "SHIFT"),
    (["shift_table.sh", "tiny", "{tmp}/out"], {}, "no benchmark 'tiny'"),
    (["shift_table.sh", "default"], {}, "OUT"),
    (["shift_table.sh", "appearance", "{tmp}/out", "x"], {}, "SEEDS"),
    (["shift_table.sh", "camera", "{tmp}/out"], {"EXPERIMENT_GIN": "experiments/nope.gin"},
     "EXPERIMENT_GIN"),
    (["calibrate_benchmark.sh"], {}, "DATA_DIR"),
    (["calibrate_benchmark.sh", "{tmp}"], {}, "RUN_DIR"),
    (["calibrate_benchmark.sh", "{tmp}", "{tmp}/runs"], {}, "no benchmark manifest"),
    (["calibrate_shifts.sh"], {}, "OUT"),
    (["calibrate_shifts.sh", "{tmp}/out"], {"POSE_AAE": "p"}, "SOURCE"),
    (["calibrate_shifts.sh", "{tmp}/out"], {"SOURCE": "s"}, "POSE_AAE"),
]


@pytest.mark.parametrize("args,env,needle", CASES,
                         ids=[" ".join(c[0]) + "".join(c[1]) for c in CASES])
def test_bad_argument_is_one_error_line(args, env, needle, tmp_path):
  args = [a.format(tmp=tmp_path) for a in args]
  base = {k: v for k, v in os.environ.items() if k not in ("SOURCE", "POSE_AAE")}
  done = subprocess.run(["bash", os.path.join(REPO, "tools", args[0]), *args[1:]],
                        env=dict(base, **env, PYTHON="/nonexistent/python"), cwd=str(tmp_path),
                        capture_output=True, text=True, timeout=60)
  assert done.returncode == 2, (done.stdout, done.stderr)
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
  assert needle in lines[0] and "usage:" in lines[0]
  assert not os.path.exists(tmp_path / "out") and not os.path.exists(tmp_path / "runs")
