"""TensorFlow's C++ start-up lines stay off the commands' stderr (`sa3dhp_tf/quiet_tensorflow.py`):
a user sees a command's own output and its one `error:` line, unfiltered."""

import os
import subprocess
import sys

from sa3dhp_tf import quiet_tensorflow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code_or_args, level):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  if level is not None:
    env["TF_CPP_MIN_LOG_LEVEL"] = level
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True,
                        env=env, cwd=REPO, timeout=300)


def test_importing_tensorflow_through_the_package_prints_nothing():
  done = _python(["-c", "import sa3dhp_tf, tensorflow as tf; print(tf.constant(2.0).numpy())"],
                 None)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == "2.0"
  assert done.stderr == ""


def test_a_bad_flag_gives_exactly_one_stderr_line_unfiltered():
  # the exporter imports TensorFlow before it finds the bad --model_dir
  done = _python(["-m", "sa3dhp_tf.export", "--model_dir=/no/such/stage",
                  "--output=/tmp/unused_quiet_tf"], None)
  assert done.returncode == 2
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and "/no/such/stage" in lines[0], lines


def test_level_zero_keeps_every_line(monkeypatch):
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
  assert not quiet_tensorflow.wanted()
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  assert quiet_tensorflow.wanted()
