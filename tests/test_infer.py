"""`python -m sa3dhp_tf.infer` end to end with real exports of a tiny trained source stage
(written by `python -m sa3dhp_tf.export`): a SavedModel and a TFLite file on a video the test
makes, boxes from a file, and (slow) the real sample video."""

import io
import json
import os
import sys

import cv2
import numpy as np
import pytest

from cli_harness import run_command
from export_fixtures import REPO
import shared_stages
import video_fixtures
from sa3dhp_tf.inference import cropping
from sa3dhp_tf.inference import pipeline
from sa3dhp_tf.inference import video as video_lib

sys.path.insert(0, os.path.join(REPO, "tools"))
import fetch_wheel_file  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """A tiny source stage exported as a SavedModel and as float32 TFLite."""
  return shared_stages.exported_source(tmp_path_factory)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory):
  return video_fixtures.write_video(tmp_path_factory.mktemp("infer_video") / "person.mp4",
                                    video_fixtures.person_frames())


def _outputs(out):
  with open(os.path.join(out, pipeline.JSON_FILE)) as f:
    doc = json.load(f)
  return doc, dict(np.load(os.path.join(out, pipeline.NPZ_FILE)))


def _signature_poses(saved_model, crops):
  """The SavedModel's own answer, through tf.saved_model.load (not the code under test)."""
  import tensorflow as tf
  fn = tf.saved_model.load(saved_model).signatures["serving_default"]
  (name,) = fn.structured_input_signature[1]
  return fn(**{name: tf.constant(crops)})["pose3d"].numpy()


def test_saved_model_on_a_made_video_writes_every_output_and_marks_empty_frames(
    exported, video_path, tmp_path):
  out = str(tmp_path / "out")
  result = run_command(["-m", "sa3dhp_tf.infer", f"--model={exported['base']}",
                        f"--video={video_path}", f"--output={out}"], cwd=str(tmp_path),
                       timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  doc, arrays = _outputs(out)
  frames = doc["frames"]
  n = len(video_fixtures.person_frames())
  # The base dir resolves to its highest version.
  assert doc["num_frames"] == len(frames) == n
  assert doc["model"] == os.path.abspath(exported["saved_model"])
  assert json.loads(result.stdout)["frames_without_pose"] == doc["frames_without_pose"]
  for i in video_fixtures.EMPTY_FRAMES:
    assert frames[i]["status"] == "no_detection" and frames[i]["pose3d"] is None
    assert frames[i]["box"] is None and not arrays["has_pose"][i]
    assert np.isnan(arrays["pose3d"][i]).all() and np.isnan(arrays["latent"][i]).all()
  tracked = [f["index"] for f in frames if f["status"] == "tracked"]
  assert len(tracked) >= n - len(video_fixtures.EMPTY_FRAMES) - 1
  assert doc["frames_without_pose"] == n - len(tracked)
  assert arrays["pose3d"].shape == (n, 17, 3) and np.isfinite(arrays["pose3d"][tracked]).all()
  np.testing.assert_allclose(arrays["pose3d"][tracked][:, 0], 0.0, atol=1e-3)  # root-relative
  # The raw poses are the model's answer on the crops of the written boxes.
  frames_rgb = [f for _, f in video_lib.read_frames(video_path)]
  crops = np.stack([cropping.crop(frames_rgb[i], arrays["box"][i].astype(np.float64),
                                  doc["options"]["crop_scale"], doc["crop_size"])
                    for i in tracked])
  np.testing.assert_allclose(arrays["pose3d_raw"][tracked],
                             _signature_poses(exported["saved_model"], crops), atol=0.5)
  # The MP4 has every frame, the frame and the 3D view side by side.
  capture = cv2.VideoCapture(os.path.join(out, pipeline.VIDEO_FILE))
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == n
  ok, first = capture.read()
  capture.release()
  assert ok and first.shape[0] == 480 and first.shape[1] > 480
  panel = cv2.imread(os.path.join(out, pipeline.PANEL_FILE))
  assert panel is not None and panel.shape[0] == 720
  assert not [p for p in os.listdir(out) if p.startswith(".")]  # no partial files left


def test_tflite_gives_the_saved_models_poses(exported, video_path, tmp_path):
  runs = {}
  for kind in ("saved_model", "tflite"):
    out = str(tmp_path / kind)
    pipeline.run_inference(exported[kind], video_path, out, options=pipeline.InferenceOptions(
        progress=False, write_video=False, smoothing="none", num_threads=1))
    runs[kind] = _outputs(out)
  (doc_sm, sm), (doc_tfl, tfl) = runs["saved_model"], runs["tflite"]
  assert doc_tfl["model_kind"] == "tflite"
  assert not os.path.exists(os.path.join(tmp_path, "tflite", pipeline.VIDEO_FILE))
  np.testing.assert_array_equal(sm["has_pose"], tfl["has_pose"])
  if doc_sm["crop_size"] == doc_tfl["crop_size"]:
    np.testing.assert_allclose(tfl["pose3d"], sm["pose3d"], atol=1e-2, rtol=1e-4)
  np.testing.assert_array_equal(sm["pose3d"], sm["pose3d_raw"])  # --smoothing=none


def test_boxes_from_a_file_are_used_as_given(exported, video_path, tmp_path):
  boxes = [[100, 40, 220, 270]] * 4 + [None] + [[90.5, 30, 230, 280]] * 3
  path = tmp_path / "boxes.json"
  path.write_text(json.dumps(boxes))
  out = str(tmp_path / "out")
  pipeline.run_inference(exported["saved_model"], video_path, out, boxes=str(path),
                         options=pipeline.InferenceOptions(progress=False, write_video=False))
  doc, arrays = _outputs(out)
  assert doc["detector"] == "box_file"
  statuses = [f["status"] for f in doc["frames"]]
  # Frames 0-3 and 5-7 have boxes (also the empty frames 6-7: the user said so); frame 4 has
  # none; frames 8-9 lie after the file's last entry.
  assert statuses == ["tracked"] * 4 + ["no_detection"] + ["tracked"] * 3 + ["no_detection"] * 2
  np.testing.assert_allclose(arrays["box"][5], [90.5, 30, 230, 280])
  # poses.json can be fed back as a box file: the same frames get the same boxes.
  again = str(tmp_path / "again")
  pipeline.run_inference(exported["saved_model"], video_path, again,
                         boxes=os.path.join(out, pipeline.JSON_FILE),
                         options=pipeline.InferenceOptions(progress=False, write_video=False))
  np.testing.assert_allclose(_outputs(again)[1]["box"], arrays["box"], atol=0.06)


@pytest.mark.slow
def test_the_binary_runs_on_the_real_sample_video(exported, tmp_path):
  try:
    video = fetch_wheel_file.fetch("sports2d", "0.8.34", "Sports2D/Demo/demo.mp4")
  except fetch_wheel_file.FetchError as e:
    pytest.skip(f"the sample video is not cached and cannot be downloaded: {e}")
  out = str(tmp_path / "real")
  result = run_command(["-m", "sa3dhp_tf.infer", f"--model={exported['tflite']}",
                        f"--video={video}", f"--output={out}", "--max_frames=12",
                        "--render_height=240"], cwd=str(tmp_path), timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "predict [" in result.stderr  # the progress bar
  doc, arrays = _outputs(out)
  assert doc["num_frames"] == 12 and (doc["width"], doc["height"]) == (1768, 994)
  assert sum(doc["status_counts"].values()) == 12
  assert doc["frames_with_pose"] >= 1  # HOG finds the person on the box in the first frames
  assert json.loads(result.stdout)["num_frames"] == 12


def test_a_cut_video_is_reported_and_covers_the_decoded_frames(exported, tmp_path):
  frames = video_fixtures.person_frames()
  path = tmp_path / "person.avi"
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), video_fixtures.FPS,
                           (frames.shape[2], frames.shape[1]))
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  data = path.read_bytes()
  path.write_bytes(data[: int(len(data) * 0.6)])  # the header still declares every frame
  stream = io.StringIO()
  out = str(tmp_path / "out")
  pipeline.run_inference(exported["saved_model"], str(path), out, stream=stream,
                         options=pipeline.InferenceOptions(progress=False, write_video=False))
  doc, arrays = _outputs(out)
  assert doc["truncated"] and doc["declared_frames"] == len(frames)
  assert 0 < doc["num_frames"] < len(frames) == doc["declared_frames"]
  assert len(arrays["has_pose"]) == doc["num_frames"]
  assert f"decoded {doc['num_frames']} of the {len(frames)} frames" in stream.getvalue()
