"""`python -m sa3dhp_tf.infer` on bad input: one `error:` line naming the culprit, exit 2,
before any work (no model is needed to reach these checks)."""

import os
import re
import subprocess
import sys

import pytest

from cli_harness import run_command
import video_fixtures
from sa3dhp_tf import errors
from sa3dhp_tf.inference import pipeline
import cli_harness

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def infer(*args):
  return run_command(["-m", "sa3dhp_tf.infer", "--noprogress", *args], cwd=REPO, timeout=120)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
  frames = video_fixtures.person_frames(num_frames=8)
  return video_fixtures.write_video(tmp_path_factory.mktemp("cli") / "person.mp4", frames)


def _error_line(result):
  assert result.returncode == 2, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1, result.stderr
  assert "Traceback" not in result.stderr
  return lines[0]


def test_bad_inputs_are_user_errors_naming_the_culprit(video_path, tmp_path):
  out = str(tmp_path / "out")
  not_video = tmp_path / "notes.mp4"
  not_video.write_text("hello\n")
  a_file = tmp_path / "taken"
  a_file.write_text("")
  bad_boxes = tmp_path / "boxes.json"
  bad_boxes.write_text("[[1, 2, 3]]")
  options = pipeline.InferenceOptions
  cases = [
      (("m", str(tmp_path / "missing.mp4"), out, None, options()), "video not found"),
      (("m", str(not_video), out, None, options()), str(not_video)),
      (("m", video_path, str(a_file), None, options()), "--output"),
      (("m", video_path, out, None, options(smoothing_sigma=0.0)), "--smoothing_sigma"),
      (("m", video_path, out, None, options(crop_scale=-1.0)), "--crop_scale"),
      (("m", video_path, out, None, options(panel_frame=99)), "--panel_frame 99"),
      (("m", video_path, out, str(bad_boxes), options()), str(bad_boxes)),
      ((str(tmp_path / "nomodel"), video_path, out, None, options()), "--model not found"),
      ((str(a_file), video_path, out, None, options()), "--model"),
      ((str(tmp_path), video_path, out, None, options()), "saved_model.pb"),
  ]
  for (model, video, output, boxes, opts), expected in cases:
    with pytest.raises(errors.UserError, match=re.escape(expected)):
      pipeline.run_inference(model, video, output, boxes=boxes, options=opts)


def test_the_binary_prints_one_error_line_and_exits_2(video_path, tmp_path):
  out = str(tmp_path / "out")
  for args, expected in [
      ((f"--video={video_path}", f"--output={out}"), "--model is required"),
      (("--model=m", f"--video={tmp_path / 'missing.mp4'}", f"--output={out}"),
       "video not found"),
      ((f"--model={tmp_path / 'nomodel'}", f"--video={video_path}", f"--output={out}"),
       "--model not found")]:
    assert expected in _error_line(infer(*args)), args


def test_unknown_flag_is_rejected(video_path, tmp_path):
  result = infer("--model=m", f"--video={video_path}", f"--output={tmp_path}", "--colour=red")
  assert result.returncode != 0 and "colour" in result.stderr


def test_panel_script_with_a_missing_model_is_one_error_line(tmp_path):
  result = subprocess.run(["bash", os.path.join(REPO, "tools", "sample_video_panel.sh"),
                           str(tmp_path / "work"), str(tmp_path / "no_such_model")],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHON=cli_harness.python_executable()))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      f"error: the model {tmp_path / 'no_such_model'} does not exist"]
  assert not (tmp_path / "work").exists()  # before any work
