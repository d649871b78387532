"""The parts of `sa3dhp_tf.infer` that need no model: video reading and its errors, HOG
detection on a rendered body, tracking, box files, crops, smoothing, rendering, progress."""

import io
import json

import cv2
import numpy as np
import pytest

import video_fixtures
from sa3dhp_tf import errors
from sa3dhp_tf import skeleton
from sa3dhp_tf.inference import cropping
from sa3dhp_tf.inference import detection
from sa3dhp_tf.inference import progress
from sa3dhp_tf.inference import rendering
from sa3dhp_tf.inference import smoothing
from sa3dhp_tf.inference import tracking
from sa3dhp_tf.inference import video


@pytest.fixture(scope="module")
def frames():
  return video_fixtures.person_frames()


@pytest.fixture(scope="module")
def video_path(frames, tmp_path_factory):
  return video_fixtures.write_video(tmp_path_factory.mktemp("video") / "person.mp4", frames)


def test_video_is_read_back_frame_by_frame(video_path, frames):
  info = video.open_video(video_path)
  assert (info.width, info.height) == (video_fixtures.WIDTH, video_fixtures.HEIGHT)
  assert info.declared_frames == len(frames)
  assert info.fps == pytest.approx(video_fixtures.FPS)
  decoded = [f for _, f in video.read_frames(video_path)]
  assert len(decoded) == len(frames)
  # MP4 is lossy; the frames must still be the ones written, in RGB order.
  assert np.abs(np.stack(decoded).astype(float) - frames).mean() < 8.0
  assert [i for i, _ in video.read_frames(video_path, max_frames=3)] == [0, 1, 2]


def test_bad_videos_fail_with_one_message_naming_the_file(video_path, tmp_path):
  text = tmp_path / "notes.mp4"
  text.write_text("not a video\n" * 100)
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  cut = tmp_path / "cut.mp4"
  data = open(video_path, "rb").read()
  cut.write_bytes(data[: len(data) // 2])  # OpenCV's MP4 index is at the end: now missing
  for path in (tmp_path / "missing.mp4", text, empty, cut):
    with pytest.raises(video.VideoError, match=str(path)) as raised:
      video.open_video(str(path))
    assert isinstance(raised.value, errors.UserError)


def test_hog_finds_the_rendered_body_and_nobody_in_empty_frames(frames):
  detector = detection.HogPersonDetector()
  found = [detector(f) for f in frames]
  for i in video_fixtures.EMPTY_FRAMES:
    assert found[i] == []
  with_person = [d for i, d in enumerate(found) if i not in video_fixtures.EMPTY_FRAMES]
  assert sum(1 for d in with_person if d) >= len(with_person) - 1
  # The body is drawn around the image centre (the camera looks at the pelvis).
  for dets in with_person:
    for d in dets:
      assert abs((d.box[0] + d.box[2]) / 2 - video_fixtures.WIDTH / 2) < 40
      assert d.height > 0.6 * video_fixtures.PERSON_HEIGHT


def test_hog_scales_boxes_back_to_the_full_frame(frames):
  big = cv2.resize(frames[0], (video_fixtures.WIDTH * 3, video_fixtures.HEIGHT * 3))
  small_box = detection.HogPersonDetector()(frames[0])[0].box
  big_box = detection.HogPersonDetector(max_width=video_fixtures.WIDTH)(big)[0].box
  np.testing.assert_allclose(np.array(big_box) / 3.0, small_box, atol=12.0)


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes():
  boxes = np.array([[0, 0, 10, 20], [1, 1, 11, 21], [50, 0, 60, 20]], float)
  assert detection.non_max_suppression(boxes, [0.2, 0.9, -0.1], 0.45) == [1, 2]


def _det(x, y=0.0, h=100.0, score=1.0):
  return detection.Detection((x, y, x + h / 2, y + h), score)


def test_tracker_follows_one_person_and_never_invents_a_box():
  tracker = tracking.SingleBoxTracker(box_smoothing=1.0, max_lost=2)
  # Starts on the strongest detection.
  step = tracker.update([_det(0, score=0.5), _det(300, score=2.0)])
  assert step.status == tracking.TRACKED and step.box[0] == 300
  # Keeps the same person even when someone else scores higher.
  step = tracker.update([_det(305, score=0.1), _det(0, score=5.0)])
  assert step.status == tracking.TRACKED and step.box[0] == 305
  assert tracker.update([]).status == tracking.NO_DETECTION
  step = tracker.update([_det(0, score=5.0)])
  assert step.status == tracking.NOT_MATCHED and step.box is None
  # After more than max_lost misses the track restarts on the strongest detection.
  tracker.update([])
  step = tracker.update([_det(0, score=5.0), _det(600, score=1.0)])
  assert step.status == tracking.TRACKED and step.box[0] == 0


def test_tracker_smooths_the_box():
  tracker = tracking.SingleBoxTracker(box_smoothing=0.5)
  tracker.update([_det(100)])
  step = tracker.update([_det(120)])
  assert step.box[0] == pytest.approx(110.0)


def test_box_file_layouts_and_errors(tmp_path):
  listed = tmp_path / "list.json"
  listed.write_text(json.dumps([[1, 2, 30, 60], None, {"box": [5, 5, 20, 40], "score": 0.5}]))
  boxes = detection.read_box_file(str(listed))
  assert [b and b.box for b in boxes] == [(1, 2, 30, 60), None, (5, 5, 20, 40)]
  assert boxes[2].score == 0.5
  # The layout poses.json has (a corrected output can be fed back).
  output = tmp_path / "poses.json"
  output.write_text(json.dumps({"frames": [{"index": 2, "box": [0, 0, 10, 10]},
                                           {"index": 0, "box": None}]}))
  assert [b and b.box for b in detection.read_box_file(str(output))] == [None, None,
                                                                         (0, 0, 10, 10)]
  for content, message in [("[[0, 0, 10]]", "entry 0"), ("[[5, 0, 1, 10]]", "x1 <= x0"),
                           ("[[0, 0, 1, NaN]]", "finite"), ("{", "not a JSON"),
                           ('{"boxes": []}', "expected a JSON list"),
                           ('{"frames": [{"index": 1, "box": null}, {"index": 1, "box": null}]}',
                            "appears twice")]:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(detection.BoxFileError, match=message):
      detection.read_box_file(str(bad))
  with pytest.raises(detection.BoxFileError, match="not found"):
    detection.read_box_file(str(tmp_path / "nope.json"))


def test_crop_is_the_square_around_the_box():
  frame = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
  # A box 40 wide, 80 tall at (100, 50): the square of side 80 around its centre (120, 90).
  out = cropping.crop(frame, (100, 50, 140, 130), crop_scale=1.0, size=80)
  np.testing.assert_array_equal(out, frame[50:130, 80:160])
  # Near the border the outside is the edge repeated; the shape is always size x size.
  edge = cropping.crop(frame, (-20, -20, 20, 20), crop_scale=1.0, size=40)
  assert edge.shape == (40, 40, 3)
  np.testing.assert_array_equal(edge[0, 0], frame[0, 0])
  far = cropping.crop(frame, (1000, 1000, 1040, 1040), crop_scale=1.0, size=16)
  assert far.shape == (16, 16, 3)


def test_smoothing_never_bridges_a_gap():
  t = 40
  valid = np.ones(t, bool)
  valid[18:22] = False
  values = np.where(np.arange(t)[:, None, None] < 20, 0.0, 100.0) * np.ones((t, 17, 3))
  values[~valid] = np.nan
  out = smoothing.smooth_poses(values, valid, "gaussian", 3.0)
  np.testing.assert_array_equal(out[:18], 0.0)
  np.testing.assert_allclose(out[22:], 100.0)
  assert np.isnan(out[18:22]).all()


def test_smoothing_reduces_noise_and_keeps_a_line():
  rng = np.random.default_rng(0)
  t = np.arange(200, dtype=float)
  line = np.broadcast_to((2.0 * t)[:, None, None], (200, 17, 3))
  noisy = line + rng.normal(0, 10.0, line.shape)
  valid = np.ones(200, bool)
  out = smoothing.smooth_poses(noisy, valid, "gaussian", 2.0)
  inner = slice(10, -10)
  assert np.abs(out - line)[inner].std() < 0.5 * np.abs(noisy - line)[inner].std()
  # Symmetric kernel: a straight line is unchanged away from the ends.
  np.testing.assert_allclose(smoothing.smooth_poses(line, valid, "gaussian", 2.0)[inner],
                             line[inner])
  np.testing.assert_array_equal(smoothing.smooth_poses(noisy, valid, "none", 0.0), noisy)
  with pytest.raises(errors.UserError, match="--smoothing"):
    smoothing.smooth_poses(noisy, valid, "kalman", 1.0)


def test_projected_skeleton_fills_the_box():
  import conftest
  pose = skeleton.root_relative(conftest.camera_pose(conftest.world_pose(0)))
  box = (100.0, 50.0, 200.0, 250.0)
  points = rendering.project_to_box(pose, box)
  assert np.ptp(points[:, 1]) == pytest.approx(rendering.BODY_FILL * 200.0)
  assert points[:, 0].min() > 100 - 50 and points[:, 0].max() < 200 + 50
  assert (points[:, 1].min() + points[:, 1].max()) / 2 == pytest.approx(150.0)
  # The head is above the feet (image y grows downwards).
  assert points[skeleton.JOINT_INDEX["head"], 1] < points[skeleton.JOINT_INDEX["r_ankle"], 1]


def test_views_draw_the_pose_and_say_when_there_is_none(frames):
  import conftest
  pose = skeleton.root_relative(conftest.camera_pose(conftest.world_pose(0)))
  view = rendering.skeleton_view(pose, 200)
  empty = rendering.skeleton_view(None, 200)
  assert view.shape == empty.shape == (200, 200, 3)
  left = np.all(view == rendering.LEFT_COLOUR, axis=-1).sum()
  right = np.all(view == rendering.RIGHT_COLOUR, axis=-1).sum()
  assert left > 20 and right > 20
  assert np.all(empty == rendering.LEFT_COLOUR, axis=-1).sum() == 0
  annotated = rendering.annotate_frame(frames[0], 0, tracking.TRACKED, (100, 40, 220, 270), pose)
  assert np.all(annotated == rendering.BOX_COLOUR, axis=-1).sum() > 100
  missing = rendering.annotate_frame(frames[6], 6, tracking.NO_DETECTION)
  assert np.all(missing == rendering.MISSING_COLOUR, axis=-1).sum() > 10
  panel = rendering.side_by_side(annotated, view, 120)
  assert panel.shape[0] == 120 and panel.shape[1] % 2 == 0


def test_progress_prints_a_line_per_tenth_off_a_terminal():
  stream = io.StringIO()
  bar = progress.Progress(50, "predict", stream=stream)
  for i in range(1, 51):
    bar.update(i)
  bar.close()
  lines = stream.getvalue().splitlines()
  assert 2 <= len(lines) <= 11 and "50/50" in lines[-1]
  quiet = io.StringIO()
  progress.Progress(5, "x", stream=quiet, enabled=False).update(5)
  assert quiet.getvalue() == ""
