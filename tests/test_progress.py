"""sa3dhp_tf.progress: the step file a training process writes, the lines a driver prints (plain
lines when not on a terminal, a redrawn bar on one), failures, and the command-line wrapper."""

import io
import os
import subprocess
import sys

import pytest

from sa3dhp_tf import progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A stand-in training process: writes the step file as run_training's callback does, 10 steps.
FAKE_TRAINER = """
import os, sys, time
sys.path.insert(0, {repo!r})
from sa3dhp_tf import progress
path = os.environ[progress.PROGRESS_ENV]
print("training output that belongs in the log")
for step in range(11):
  progress.write_progress(path, "pose_aae", step, 10)
  time.sleep(0.06)
sys.exit({code})
"""


def _fake(code=0):
  return [sys.executable, "-c", FAKE_TRAINER.format(repo=REPO, code=code)]


def test_format_duration():
  assert progress.format_duration(42.4) == "42 s"
  assert progress.format_duration(185) == "3 min 05 s"
  assert progress.format_duration(3720) == "1 h 02 min"
  assert progress.format_duration(-3) == "0 s"


def test_bar():
  assert progress.bar(0.5, width=10) == "[#####-----]"
  assert progress.bar(1.7, width=4) == "[####]"
  assert progress.bar(0.0, width=4) == "[----]"


def test_plain_lines_when_not_a_terminal(tmp_path):
  stream = io.StringIO()
  job = progress.JobProgress(3, stream=stream, interactive=False, tag="[t] ", poll_s=0.02)
  job.skip("pose AAE")
  log = tmp_path / "logs" / "motion.log"
  code = job.run_stage("motion AAE", _fake(), str(log), str(tmp_path / "motion.progress"))
  assert code == 0
  out = stream.getvalue()
  assert "\r" not in out  # no carriage-return spam in CI logs
  lines = out.splitlines()
  assert lines[0] == "[t] [1/3] pose AAE: already done, skipped"
  assert lines[1] == f"[t] [2/3] motion AAE: started | log {log}"
  bars = [l for l in lines if "steps" in l]
  # one line per tenth of the stage at most, each with the bar and the count
  assert 2 <= len(bars) <= 11, lines
  assert all(l.startswith("[t] [2/3] motion AAE: pose_aae [") for l in bars)
  assert any("10/10 steps" in l or "left" in l for l in bars)
  assert lines[-1].startswith("[t] [2/3] motion AAE: done in ")
  assert "| elapsed " in lines[-1]
  # the command line and the stage's own output went to the log, not to the stream
  text = log.read_text()
  assert text.startswith("$ ") and "training output that belongs in the log" in text
  assert "training output" not in out
  assert not (tmp_path / "motion.progress").exists()


def test_terminal_redraws_in_place(tmp_path):
  stream = io.StringIO()
  job = progress.JobProgress(1, stream=stream, interactive=True, poll_s=0.02)
  assert job.run_stage("s", _fake(), str(tmp_path / "s.log"), str(tmp_path / "s.progress")) == 0
  out = stream.getvalue()
  assert out.count("\r\033[K") >= 3
  assert "/10 steps" in out
  assert out.rsplit("\r\033[K", 1)[-1].startswith("[1/1] s: done in ")


def test_failure_shows_the_log_tail(tmp_path):
  stream = io.StringIO()
  job = progress.JobProgress(1, stream=stream, interactive=False, poll_s=0.02)
  code = job.run_stage("s", _fake(code=3), str(tmp_path / "s.log"), str(tmp_path / "s.p"))
  assert code == 3
  out = stream.getvalue()
  assert "FAILED (exit 3)" in out
  assert "    training output that belongs in the log" in out


def test_eta_from_the_observed_rate():
  rate = progress._Rate()
  assert rate.eta({"phase": "a", "step": 10, "total": 110, "time": 100.0}) is None
  assert rate.eta({"phase": "a", "step": 20, "total": 110, "time": 102.0}) == pytest.approx(18.0)
  # a new phase (another relation network) starts its own estimate
  assert rate.eta({"phase": "b", "step": 0, "total": 50, "time": 103.0}) is None


def test_step_file_written_by_run_training(tmp_path, monkeypatch):
  import keras
  import numpy as np
  import tensorflow as tf
  from sa3dhp_tf.tasks import training_loop
  path = tmp_path / "p.json"
  monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  model.compile("sgd", "mse")
  data = tf.data.Dataset.from_tensors((np.ones((4, 2), np.float32),
                                       np.ones((4, 1), np.float32))).repeat()
  training_loop.run_training(model, data, str(tmp_path / "run"), 6, 3, verbose=0)
  record = progress.read_progress(str(path))
  assert (record["phase"], record["step"], record["total"]) == ("run", 6, 6)
  # resumed: the file starts at the restored step, not at 0
  training_loop.run_training(model, data, str(tmp_path / "run"), 9, 3, verbose=0)
  assert progress.read_progress(str(path))["step"] == 9


def test_cli_wraps_a_command_and_rejects_bad_steps(tmp_path):
  env = dict(os.environ, PYTHONPATH=REPO)
  log = tmp_path / "x.log"
  done = subprocess.run([sys.executable, "-m", "sa3dhp_tf.progress", "--step=2/5", "--title=x",
                         f"--log={log}", "--", sys.executable, "-c", "print('hello')"],
                        env=env, capture_output=True, text=True, timeout=60)
  assert done.returncode == 0, done.stderr
  assert done.stdout.splitlines()[0] == f"[2/5] x: started | log {log}"
  assert "[2/5] x: done in" in done.stdout
  assert "hello" in log.read_text() and "hello" not in done.stdout
  bad = subprocess.run([sys.executable, "-m", "sa3dhp_tf.progress", "--step=6/5", "--title=x",
                        f"--log={log}", "--", "true"], env=env, capture_output=True, text=True,
                       timeout=60)
  assert bad.returncode == 2 and bad.stderr.startswith("error: --step")
  failed = subprocess.run([sys.executable, "-m", "sa3dhp_tf.progress", "--step=1/1",
                           "--title=x", f"--log={log}", "--", sys.executable, "-c",
                           "import sys; print('boom'); sys.exit(4)"],
                          env=env, capture_output=True, text=True, timeout=60)
  assert failed.returncode == 4 and "FAILED (exit 4)" in failed.stdout and "boom" in failed.stdout


def test_sigterm_to_the_job_stops_its_running_stage(tmp_path):
  """`kill JOB` (SIGTERM): the job exits 143 and its stage process is gone, not left training
  as an orphan into the model dir a restarted job would use."""
  import signal
  import time
  env = dict(os.environ, PYTHONPATH=REPO)
  pid_file = tmp_path / "stage.pid"
  stage = (f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
           "time.sleep(120)")
  job = subprocess.Popen([sys.executable, "-m", "sa3dhp_tf.progress", "--step=1/1",
                          "--title=x", f"--log={tmp_path / 'x.log'}", "--", sys.executable,
                          "-c", stage], env=env, stdout=subprocess.DEVNULL)
  try:
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
      time.sleep(0.05)
    stage_pid = int(pid_file.read_text())
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == 143
    with pytest.raises(ProcessLookupError):  # reaped by the job before it exited
      os.kill(stage_pid, 0)
  finally:
    job.kill()
