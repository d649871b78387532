"""The training binary as a user runs it: `python -m sa3dhp_tf.train` in a subprocess.

Runs from an empty temporary directory, so gin files named relative to the package
(`tiny_dry_run.gin`) must be found through `config.GIN_CONFIG_DIR`, not the working directory.
Configuration errors must exit with status 2, print one `error: ...` line naming the culprit and
create nothing at --model_dir (README, "Training stages").
"""

import json
import os

import pytest

from cli_harness import own_stderr_lines
from cli_harness import run_command


def run_train(args, cwd, timeout=120):
  return run_command(["-m", "sa3dhp_tf.train", *args], cwd, timeout=timeout)


@pytest.fixture
def workdir(tmp_path):
  cwd = tmp_path / "cwd"
  cwd.mkdir()
  return cwd


def assert_config_error(result, culprit, cwd, model_dir="run"):
  lines = own_stderr_lines(result.stderr)
  assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
  assert culprit in lines[0], lines[0]
  assert "Traceback" not in result.stderr
  assert not os.path.exists(os.path.join(cwd, model_dir))
  assert os.listdir(cwd) == [], os.listdir(cwd)
  return lines[0]


def test_dry_run_writes_configs_and_summary(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--model_dir=run"], workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  run = workdir / "run"
  assert sorted(os.listdir(run)) == ["config.gin", "dry_run.json", "operative_config.gin"]
  assert "train.stage = 'dry_run'" in (run / "config.gin").read_text()
  operative = (run / "operative_config.gin").read_text()
  assert "dry_run.relation_keys = ('z3', 'v2', 'v3')" in operative
  summary = json.loads((run / "dry_run.json").read_text())
  assert [r["key"] for r in summary["relations"]] == ["z3", "v2", "v3"]
  assert summary["theta"] == 30.0


def test_repeated_files_and_bindings_later_wins(workdir):
  # A second file (found relative to the working directory) overrides the first; of two
  # bindings of the same parameter the later one wins, and bindings override files.
  (workdir / "extra.gin").write_text("dry_run.relation_keys = ('z1', 'v1')\n"
                                     "dry_run.theta = 12.0\n")
  result = run_train(["--gin_file=tiny_dry_run.gin", "--gin_file=extra.gin",
                      "--gin_bindings=dry_run.theta = 15.0",
                      "--gin_bindings=dry_run.theta = 20.0", "--model_dir=run"], workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  summary = json.loads((workdir / "run" / "dry_run.json").read_text())
  assert [r["key"] for r in summary["relations"]] == ["z1", "v1"]
  assert summary["theta"] == 20.0
  assert "dry_run.theta = 20.0" in (workdir / "run" / "config.gin").read_text()


def test_unknown_stage(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--stage=nope", "--model_dir=run"], workdir)
  line = assert_config_error(result, "'nope'", workdir)
  assert "dry_run" in line  # lists the known stages


def test_missing_gin_file(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--gin_file=no_such_config.gin",
                      "--model_dir=run"], workdir)
  assert_config_error(result, "no_such_config.gin", workdir)


def test_unknown_configurable_binding(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--gin_bindings=no_such_thing.steps = 3",
                      "--model_dir=run"], workdir)
  line = assert_config_error(result, "no_such_thing.steps = 3", workdir)
  assert line.count("no_such_thing") >= 2, line  # the binding and gin's reason


def test_binding_syntax_error(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--gin_bindings=dry_run.theta = (",
                      "--model_dir=run"], workdir)
  assert_config_error(result, "dry_run.theta = (", workdir)


def test_gin_file_syntax_error(workdir, tmp_path):
  bad = tmp_path / "bad.gin"
  bad.write_text("dry_run.theta = = 3\n")
  result = run_train([f"--gin_file={bad}", "--model_dir=run"], workdir)
  assert_config_error(result, str(bad), workdir)


def test_unknown_relation_key_binding(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin", "--gin_bindings=dry_run.relation_keys=('z9',)",
                      "--model_dir=run"], workdir)
  assert_config_error(result, "z9", workdir)


def test_missing_model_dir(workdir):
  result = run_train(["--gin_file=tiny_dry_run.gin"], workdir)
  assert_config_error(result, "--model_dir", workdir)


def test_unknown_learning_rate_decay(workdir):
  result = run_train(["--gin_file=tiny/stages.gin", "--stage=source",
                      "--gin_bindings=source.learning_rate_decay='linear'",
                      "--gin_bindings=source.pose_aae_dir='/nonexistent'", "--model_dir=run"],
                     workdir)
  assert_config_error(result, "source.learning_rate_decay", workdir)


def test_a_model_dir_in_use_is_refused_and_left_alone(workdir):
  """A second run into a model dir another run holds: one error line, exit 2, the other run's
  files untouched; once the holder ends (its lock goes with it) the same command runs."""
  import fcntl
  run = workdir / "run"
  run.mkdir()
  (run / "checkpoints").mkdir()
  holder = os.open(run, os.O_RDONLY | os.O_DIRECTORY)  # as a running stage holds it
  try:
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    result = run_train(["--gin_file=tiny_dry_run.gin", "--model_dir=run"], workdir)
  finally:
    os.close(holder)
  lines = own_stderr_lines(result.stderr)
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
  assert lines[0].startswith("error: --model_dir run is in use by another run"), lines[0]
  assert sorted(os.listdir(run)) == ["checkpoints"]
  again = run_train(["--gin_file=tiny_dry_run.gin", "--model_dir=run"], workdir)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "dry_run.json" in os.listdir(run)
