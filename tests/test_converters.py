"""Real-dataset converters on tiny fixtures written in the original formats (dataset_fixtures).

Each test converts, reads the records back through the library's readers and pipelines, and
checks joint order, units and camera frame against values the test computes itself; the crops
are checked by projecting the stored pose with the stored intrinsics onto the white joint
markers drawn in the source frames.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf import skeleton
from sa3dhp_tf.data import converters, pipelines, records

import dataset_fixtures as fx

J = skeleton.JOINT_INDEX
SIZE = 128
SETTINGS = converters.Settings(image_size=SIZE, items_per_shard=1)


def convert(name, root, out, role=None, options=(), settings=SETTINGS, log=lambda line: None):
  return converters.convert(name, str(root), str(out), role=role, options=list(options),
                            settings=settings, contact_sheet=False, log=log)


def read_split(out, split):
  kind = records.split_kind(split)
  rows = []
  for record in records.record_dataset(records.shard_paths(str(out), split), kind):
    rows.append({k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in record.items()})
  return rows


def frames_of(rows, kind):
  """(jpeg, pose3d, root, intrinsics, sequence_id, frame_index) per frame of frame/clip rows."""
  out = []
  for r in rows:
    if kind == "frame":
      out.append((r["image/encoded"], r["pose3d"], r["root"], r["intrinsics"],
                  r["sequence_id"].decode(), int(r["frame_index"])))
    else:
      for t in range(int(r["num_frames"])):
        out.append((r["frames/encoded"][t], r["pose3d"][t], r["root"][t], r["intrinsics"][t],
                    r["sequence_id"].decode().split("@")[0], int(r["frame_index"]) + t))
  return out


def check_on_markers(jpeg, pose3d, root, intrinsics, joints=range(17), min_level=110):
  """The stored pose, projected with the stored intrinsics, lands on the drawn markers."""
  image = tf.io.decode_jpeg(jpeg).numpy().astype(np.float64).mean(-1)
  assert image.shape == (SIZE, SIZE)
  points = np.asarray(pose3d, np.float64) + root
  fxx, fyy, cx, cy = intrinsics
  u = fxx * points[:, 0] / points[:, 2] + cx
  v = fyy * points[:, 1] / points[:, 2] + cy
  levels = []
  for j in joints:
    x, y = int(round(u[j])), int(round(v[j]))
    if 1 <= x < SIZE - 1 and 1 <= y < SIZE - 1:
      levels.append(image[y - 1:y + 2, x - 1:x + 2].mean())
  assert len(levels) >= len(list(joints)) - 2, "the person is not in the crop"
  assert np.median(levels) > min_level, (np.median(levels), levels)
  assert image.mean() < 60            # mostly background: the markers are small


def resampled(num_frames, fps):
  return [min(round(k * fps / 30.0), num_frames - 1)
          for k in range(int(np.floor((num_frames - 1) * 30.0 / fps + 1e-6)) + 1)]


# --- Human3.6M --------------------------------------------------------------------------------

def test_human36m_target_role(tmp_path):
  truth = fx.write_human36m(tmp_path / "h36m")
  out = tmp_path / "out"
  manifest = convert("human36m", tmp_path / "h36m", out, role="target")
  assert manifest["image_size"] == SIZE
  assert set(manifest["splits"]) == {"target_train", "target_labeled", "target_test"}
  # target_train: unlabeled 60-frame windows of S1 at 30 fps (110 frames at 50 fps -> 66).
  train = read_split(out, "target_train")
  assert [int(r["num_frames"]) for r in train] == [60]
  assert all(int(r["has_pose"]) == 0 and r["pose3d"].size == 0 for r in train)
  # target_labeled: every 4th 30 fps frame of S1, the VideoPose3D joints, mm, camera frame.
  labeled = frames_of(read_split(out, "target_labeled"), "frame")
  ids = resampled(110, 50.0)
  assert [f[5] for f in labeled] == list(range(0, len(ids), 4))
  expected = truth["S1"][:, fx.H36M_KEEP]
  for jpeg, pose, root, k, seq, t in labeled:
    source = expected[ids[t]]
    np.testing.assert_allclose(pose, source - source[0], atol=0.05)
    np.testing.assert_allclose(root, source[0], atol=0.05)
    check_on_markers(jpeg, pose, root, k)
    assert seq == "human36m/S1/Walking 1.54138969"
  # target_test: S9 at its own 50 fps, every frame once (60 + a 50-frame tail).
  test = read_split(out, "target_test")
  assert [int(r["num_frames"]) for r in test] == [60, 50]
  assert all(r["subject"] == b"S9" and r["action"] == b"Walking" for r in test)
  frames = frames_of(test, "clip")
  assert [f[5] for f in frames] == list(range(110))
  s9 = truth["S9"][:, fx.H36M_KEEP]
  for jpeg, pose, root, k, seq, t in frames[::17]:
    np.testing.assert_allclose(pose, s9[t] - s9[t, 0], atol=0.05)
    check_on_markers(jpeg, pose, root, k)


def test_human36m_missing_video_fails_that_file_only(tmp_path):
  fx.write_human36m(tmp_path / "h36m")
  os.remove(tmp_path / "h36m" / "S9" / "Videos" / "Walking 1.54138969.mp4")
  manifest = convert("human36m", tmp_path / "h36m", tmp_path / "out", role="source")
  conversion = manifest["conversions"]["human36m.source"]
  assert len(conversion["failures"]) == 1 and not conversion["complete"]
  failure = conversion["failures"][0]
  assert failure["item"] == "S9/Walking 1.54138969"
  assert "Walking 1.54138969.mp4: video not found" in failure["error"]
  assert manifest["splits"]["source"]["records"] == len(resampled(110, 50.0))
  assert manifest["splits"]["source_test"]["records"] == 0


# --- MPI-INF-3DHP -----------------------------------------------------------------------------

def test_mpi_inf_3dhp_train_and_test(tmp_path):
  truth = fx.write_mpi_inf_3dhp(tmp_path / "3dhp")
  out = tmp_path / "out"
  convert("mpi_inf_3dhp", tmp_path / "3dhp", out, role="target", options=["cameras=(0,)"])
  # Training camera 0: 28 -> 17 joints, pelvis = hip midpoint, 25 -> 30 fps.
  labeled = frames_of(read_split(out, "target_labeled"), "frame")
  ids = resampled(80, 25.0)
  assert [f[5] for f in labeled] == list(range(0, len(ids), 4))
  for jpeg, pose, root, k, seq, t in labeled:
    source = truth["train17"][ids[t]].copy()
    source[0] = 0.5 * (source[J["r_hip"]] + source[J["l_hip"]])
    np.testing.assert_allclose(pose, source - source[0], atol=0.05)
    check_on_markers(jpeg, pose, root, k)
  # The crop scales both axes alike: fx / fy is the calibration file's 300 / 310.
  k = labeled[0][3]
  assert k[0] / k[1] == pytest.approx(fx.MPI_TRAIN_CAMERA[0] / fx.MPI_TRAIN_CAMERA[1])
  # Test set (v7.3 .mat): univ_annot3, dataset pelvis, every valid frame once, at 25 fps.
  test = read_split(out, "target_test")
  frames = frames_of(test, "clip")
  valid = np.flatnonzero(truth["valid"])
  assert [f[5] for f in frames] == valid.tolist()
  names = fx.MPI17_NAMES
  for jpeg, pose, root, k, seq, t in frames[::9]:
    univ = truth["test_univ"][t]
    expected = np.stack([univ[names.index(n)] for n in skeleton.JOINT_NAMES])
    np.testing.assert_allclose(pose, expected - expected[0], atol=0.05)
    np.testing.assert_allclose(root, truth["test_annot3"][t, 14], atol=0.05)
  # The fitted intrinsics of the test camera put the metric annot3 pose on the markers.
  jpeg, pose, root, k, seq, t = frames[5]
  annot3 = truth["test_annot3"][t]
  metric = np.stack([annot3[names.index(n)] for n in skeleton.JOINT_NAMES])
  check_on_markers(jpeg, metric - metric[0], metric[0], k)
  assert {r["action"] for r in test} == {b"exercising", b"sports"}


def test_mat_v73_and_v5_read_the_same(tmp_path):
  import scipy.io
  from sa3dhp_tf.data.converters import matfiles
  array = np.arange(3 * 17 * 1 * 5, dtype=np.float64).reshape(3, 17, 1, 5)
  fx.write_mat73(str(tmp_path / "a.mat"), {"x": array})
  scipy.io.savemat(str(tmp_path / "b.mat"), {"x": array})
  np.testing.assert_array_equal(matfiles.MatFile(str(tmp_path / "a.mat")).array("x"), array)
  np.testing.assert_array_equal(matfiles.MatFile(str(tmp_path / "b.mat")).array("x"), array)


# --- SMPL datasets ----------------------------------------------------------------------------

def smpl_expected(smpl):
  """SMPL-24 -> H36M-17 as documented in smpl_joints, computed here by name."""
  by_name = {"r_hip": 2, "r_knee": 5, "r_ankle": 8, "l_hip": 1, "l_knee": 4, "l_ankle": 7,
             "spine": 6, "thorax": 12, "neck_nose": 15, "l_shoulder": 16, "l_elbow": 18,
             "l_wrist": 20, "r_shoulder": 17, "r_elbow": 19, "r_wrist": 21}
  out = np.zeros(smpl.shape[:-2] + (17, 3))
  for name, index in by_name.items():
    out[..., J[name], :] = smpl[..., index, :]
  out[..., J["head"], :] = smpl[..., 15, :] + (smpl[..., 15, :] - smpl[..., 12, :])
  out[..., 0, :] = 0.5 * (smpl[..., 1, :] + smpl[..., 2, :])
  return out


def test_surreal_source_role(tmp_path):
  truth = fx.write_surreal(tmp_path / "surreal")
  out = tmp_path / "out"
  convert("surreal", tmp_path / "surreal", out, role="source")
  source = frames_of(read_split(out, "source"), "frame")
  assert [f[5] for f in source] == list(range(70))
  expected = smpl_expected(truth["01_01_c0001"])
  for jpeg, pose, root, k, seq, t in source[::7]:
    np.testing.assert_allclose(pose, expected[t] - expected[t, 0], atol=0.05)
    np.testing.assert_allclose(root, expected[t, 0], atol=0.05)
    check_on_markers(jpeg, pose, root, k, joints=[j for j in range(17) if j not in (0, 10)])
  test = read_split(out, "source_test")
  assert [int(r["num_frames"]) for r in test] == [60]          # no tails outside target_test
  assert test[0]["sequence_id"] == b"surreal/test/run0/02_03/02_03_c0002@0"


def test_3dpw_test_role_per_person_tracks(tmp_path):
  truth = fx.write_3dpw(tmp_path / "3dpw")
  out = tmp_path / "out"
  manifest = convert("3dpw", tmp_path / "3dpw", out)
  assert manifest["conversions"]["3dpw.test"]["role"] == "test"
  frames = frames_of(read_split(out, "target_test"), "clip")
  by_person = {}
  for f in frames:
    by_person.setdefault(f[4], []).append(f)
  assert sorted(by_person) == ["3dpw/test/downtown_walking_00/person0",
                               "3dpw/test/downtown_walking_00/person1"]
  assert [f[5] for f in by_person["3dpw/test/downtown_walking_00/person0"]] == list(range(75))
  assert [f[5] for f in by_person["3dpw/test/downtown_walking_00/person1"]] == \
      list(range(20)) + list(range(30, 75))         # campose_valid == 0 frames are dropped
  for person, key in enumerate(sorted(by_person)):
    expected = smpl_expected(truth["people_cam"][person])
    for jpeg, pose, root, k, seq, t in by_person[key][::11]:
      np.testing.assert_allclose(pose, expected[t] - expected[t, 0], atol=0.1)
      np.testing.assert_allclose(root, expected[t, 0], atol=0.1)
      check_on_markers(jpeg, pose, root, k, joints=[j for j in range(17) if j not in (0, 10)])


# --- CMU MoCap --------------------------------------------------------------------------------

def test_cmu_mocap_asf_amc_and_bvh(tmp_path):
  import test_motion_asf_amc as asf_fx
  import test_motion_bvh as bvh_fx
  from sa3dhp_tf.data.motion import asf_amc, bvh
  root = tmp_path / "cmu"
  (root / "subjects" / "07").mkdir(parents=True)
  (root / "bvh" / "08").mkdir(parents=True)
  moving = [{"root": (0.05 * k, 17, 0, 0, float(k), 0), "rtibia": [float(k % 60)]}
            for k in range(260)]
  (root / "subjects" / "07" / "07.asf").write_text(asf_fx.asf_text())
  (root / "subjects" / "07" / "07_01.amc").write_text(asf_fx.amc_text(moving))
  (root / "subjects" / "07" / "07_02.amc").write_text(asf_fx.amc_text(moving[:40]))  # too short
  frames = [{"Hips": {"pos": (0.1 * k, 17.0, 0.0), "rot": {"Y": float(k)}}} for k in range(70)]
  bvh_fx.write_bvh(root / "bvh" / "08" / "08_01.bvh", bvh_fx.CMU_JOINTS, frames, 1.0 / 30)
  out = tmp_path / "out"
  manifest = convert("cmu_mocap", root, out)
  assert manifest["splits"]["mocap"]["records"] == 2
  rows = {r["sequence_id"].decode(): r for r in read_split(out, "mocap")}
  assert sorted(rows) == ["cmu_mocap/bvh/08/08_01.bvh", "cmu_mocap/subjects/07/07_01.amc"]
  amc = rows["cmu_mocap/subjects/07/07_01.amc"]["pose3d_world"]
  direct = asf_amc.read_asf_amc(root / "subjects" / "07" / "07.asf",
                                root / "subjects" / "07" / "07_01.amc").poses
  assert amc.shape == (65, 17, 3)             # 260 frames at 120 fps -> 65 at 30 fps
  np.testing.assert_allclose(amc, direct, atol=1e-3)
  np.testing.assert_allclose(
      amc[:, 0], 0.5 * (amc[:, J["l_hip"]] + amc[:, J["r_hip"]]), atol=1e-3)
  bvh_poses = rows["cmu_mocap/bvh/08/08_01.bvh"]["pose3d_world"]
  np.testing.assert_allclose(bvh_poses, bvh.read_bvh(root / "bvh" / "08" / "08_01.bvh").poses,
                             atol=1e-3)
  # Mocap windows come out of the stages' own pipeline.
  batch = next(iter(pipelines.mocap_windows(records.shard_paths(str(out), "mocap"), 2)))
  assert np.all(np.isfinite(np.asarray(batch)))


# --- web videos -------------------------------------------------------------------------------

def write_box_video(path, num_frames=80, gap=None):
  boxes, frames = [], []
  for t in range(num_frames):
    frame = np.zeros((180, 240, 3), np.uint8)
    x0, y0 = 60 + t, 30
    if gap and gap[0] <= t < gap[1]:
      boxes.append(None)
    else:
      boxes.append([x0, y0, x0 + 50, y0 + 120])
    cv2_rect(frame, x0, y0)
    frames.append(frame)
  fx.write_video(str(path), frames, 30)
  with open(os.path.splitext(str(path))[0] + ".boxes.json", "w") as f:
    json.dump({"boxes": boxes}, f)
  return boxes


def cv2_rect(frame, x0, y0):
  import cv2
  cv2.rectangle(frame, (x0 + 20, y0 + 55), (x0 + 30, y0 + 65), (255, 255, 255), -1)


def test_web_videos_windows_from_given_boxes_and_truncated_video(tmp_path):
  root = tmp_path / "web"
  root.mkdir()
  write_box_video(root / "a.mp4", 100)
  write_box_video(root / "b.mp4", 130, gap=(62, 66))
  (root / "broken.mp4").write_bytes((root / "a.mp4").read_bytes()[:3000])
  (root / "broken.boxes.json").write_text((root / "a.boxes.json").read_text())
  out = tmp_path / "out"
  manifest = convert("web_videos", root, out)
  failures = manifest["conversions"]["web_videos.target_unlabeled"]["failures"]
  assert [f["file"] for f in failures] == [str(root / "broken.mp4")]
  rows = read_split(out, "target_train")
  ids = sorted(r["sequence_id"].decode() for r in rows)
  # a: 100 frames -> windows at 0, 30; b: the gap at 62-65 splits it: [0, 62) and [66, 130).
  assert ids == ["web/a/track0@0", "web/a/track0@30", "web/b/track0@0", "web/b/track0@66"]
  for r in rows:
    assert int(r["num_frames"]) == 60 and int(r["has_pose"]) == 0
    image = tf.io.decode_jpeg(r["frames/encoded"][0]).numpy().mean(-1)
    # The white square sits at the centre of each person box: at the crop's centre.
    centre = image[SIZE // 2 - 4:SIZE // 2 + 4, SIZE // 2 - 4:SIZE // 2 + 4].mean()
    assert centre > 150 and image.mean() < 60
  batch = next(iter(pipelines.target_windows(records.shard_paths(str(out), "target_train"), 2)))
  assert batch is not None


def test_web_videos_without_boxes_need_the_hog_detector(tmp_path):
  from sa3dhp_tf import errors
  from sa3dhp_tf.data.converters import person_tracking
  if person_tracking.hog_available():
    pytest.skip("this OpenCV has the HOG detector")
  (tmp_path / "web").mkdir()
  write_box_video(tmp_path / "web" / "a.mp4", 10)
  os.remove(tmp_path / "web" / "a.boxes.json")
  with pytest.raises(errors.UserError, match="a.mp4: no boxes file; OpenCV .* no HOG"):
    convert("web_videos", tmp_path / "web", tmp_path / "out")


def test_tracker_follows_one_person_bridges_gaps_and_smooths():
  from sa3dhp_tf.data.converters import person_tracking
  rng = np.random.default_rng(0)
  detections = []
  for t in range(40):
    person = np.array([10 + 2 * t, 20, 60 + 2 * t, 140]) + rng.normal(0, 3, 4)
    other = np.array([200, 20, 230, 80])            # smaller, elsewhere: not followed
    detections.append(np.zeros((0, 4)) if 10 <= t < 13 else np.stack([other, person]))
  settings = person_tracking.TrackerSettings(max_gap=5, smooth=5)
  boxes, ids = person_tracking.track(detections, settings)
  assert set(ids.tolist()) == {0}
  assert np.all(np.isfinite(boxes))                 # the 3-frame gap is bridged
  np.testing.assert_allclose(boxes[20, 0], 10 + 2 * 20, atol=12)
  smoothed = person_tracking.smooth_boxes(boxes, ids, 5)
  true_x = 10 + 2 * np.arange(15, 35)
  assert np.abs(smoothed[15:35, 0] - true_x).mean() < np.abs(boxes[15:35, 0] - true_x).mean()
  long_gap = [d if not 10 <= t < 25 else np.zeros((0, 4)) for t, d in enumerate(detections)]
  _, ids = person_tracking.track(long_gap, settings)
  assert set(ids[25:].tolist()) == {1}              # a new track after a long gap


# --- resuming, settings, CLI ------------------------------------------------------------------

def test_resume_skips_finished_shards_and_redoes_killed_ones(tmp_path):
  from sa3dhp_tf import errors
  fx.write_surreal(tmp_path / "surreal")
  out = tmp_path / "out"
  convert("surreal", tmp_path / "surreal", out)
  part = out / "parts" / "surreal.source"
  shards = sorted(p.name for p in part.glob("*.tfrecord"))
  assert shards == ["source-00000-of-00001.tfrecord", "source_test-00000-of-00001.tfrecord"]
  stamps = {p.name: p.stat().st_mtime_ns for p in part.iterdir()}
  lines = []
  convert("surreal", tmp_path / "surreal", out, log=lines.append)
  assert lines[0] == "surreal.source: 0 shard(s) to write, 2 already complete"
  assert {p.name: p.stat().st_mtime_ns for p in part.iterdir() if p.name != "plan.json"} == \
      {k: v for k, v in stamps.items() if k != "plan.json"}
  # A killed run leaves a temporary shard and no marker: only that shard is redone.
  os.remove(part / "job-test-00000-of-00001.json")
  (part / "source_test-00000-of-00001.tfrecord.tmp").write_bytes(b"partial")
  lines = []
  manifest = convert("surreal", tmp_path / "surreal", out, log=lines.append)
  assert lines[0] == "surreal.source: 1 shard(s) to write, 1 already complete"
  assert (part / "source-00000-of-00001.tfrecord").stat().st_mtime_ns == \
      stamps["source-00000-of-00001.tfrecord"]
  assert manifest["splits"]["source_test"]["records"] == 1
  assert not list(out.glob("**/*.tmp"))
  with pytest.raises(errors.UserError, match="--overwrite"):
    convert("surreal", tmp_path / "surreal", out,
            settings=converters.Settings(image_size=SIZE, items_per_shard=1, frame_stride=2))


def test_two_conversions_share_a_split_and_the_image_size(tmp_path):
  fx.write_surreal(tmp_path / "surreal")
  fx.write_human36m(tmp_path / "h36m")
  out = tmp_path / "sh_to_w"
  convert("surreal", tmp_path / "surreal", out, role="source")
  manifest = convert("human36m", tmp_path / "h36m", out, role="source")
  source = manifest["splits"]["source"]
  assert source["sources"] == ["human36m.source", "surreal.source"]
  assert source["shards"] == ["source-00000-of-00002.tfrecord", "source-00001-of-00002.tfrecord"]
  assert source["records"] == 70 + len(resampled(110, 50.0))
  assert len(read_split(out, "source")) == source["records"]
  batch = next(iter(pipelines.source_frames(records.shard_paths(str(out), "source"), 4)))
  assert batch["image"].shape[1:] == (SIZE, SIZE, 3)
  with open(out / "manifest.json") as f:
    assert json.load(f)["image_size"] == SIZE
  from sa3dhp_tf import errors
  with pytest.raises(errors.UserError, match="one directory has one image size"):
    convert("human36m", tmp_path / "h36m", out, role="target",
            settings=converters.Settings(image_size=64))


def test_cli_reports_bad_input_in_one_line(tmp_path):
  from cli_harness import run_command
  tool = os.path.join(os.path.dirname(__file__), "..", "tools", "convert.py")

  def run(*args):
    return run_command([tool, *args], cwd=str(tmp_path))

  result = run("nosuch", f"--root={tmp_path}", f"--output_dir={tmp_path / 'o'}")
  assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
      "error: unknown dataset 'nosuch'")
  result = run("human36m", f"--root={tmp_path}", f"--output_dir={tmp_path / 'o'}")
  assert result.returncode == 2
  assert f"error: --root {tmp_path}: no human36m files" in result.stderr
  from sa3dhp_tf import errors
  with pytest.raises(errors.UserError, match="--option 'colour': surreal has no such option"):
    convert("surreal", tmp_path, tmp_path / "o", options=["colour=1"])


def test_window_length_matches_the_pipelines():
  from sa3dhp_tf.data.converters import engine
  from sa3dhp_tf.geometry import windows
  assert engine.WINDOW_LENGTH == windows.WINDOW_LENGTH


# --- the paper settings' gin files ------------------------------------------------------------

PAPER_SETTINGS = {
    "experiments/paper_s_to_h.gin": ("data/paper/s_to_h", "h36m", ("surreal", "human36m")),
    "experiments/paper_h_to_m.gin": ("data/paper/h_to_m", "3dhp", ("human36m", "mpi_inf_3dhp")),
    "experiments/paper_s_to_w.gin": ("data/paper/s_to_w", "3dpw", ("surreal", "web_videos",
                                                                   "3dpw")),
    "experiments/paper_sh_to_w.gin": ("data/paper/sh_to_w", "3dpw", ("surreal", "human36m",
                                                                     "web_videos", "3dpw")),
}


@pytest.mark.parametrize("path", sorted(PAPER_SETTINGS))
def test_paper_setting_configs(path):
  import gin
  from sa3dhp_tf import config
  import sa3dhp_tf.tasks       # what the train binary imports: it must know every binding
  data_dir, protocol, datasets = PAPER_SETTINGS[path]
  text = open(os.path.join(config.GIN_CONFIG_DIR, path)).read()
  for name in datasets + ("cmu_mocap",):
    assert f"tools/convert.py {name} " in text      # the file says how to build its data
  import testing
  try:
    # Placeholders first, then the file: its own bindings (the data dir) win.
    config.parse_gin([], testing.required_placeholders(), finalize=False)
    gin.parse_config_file(config.resolve_gin_file(path))
    assert gin.query_parameter("pose_aae.data_dir") == data_dir
    assert gin.query_parameter("evaluation_protocol.name") == protocol
    for stage in ("pose_aae", "motion_aae", "relation_nets", "source", "adapt"):
      sa3dhp_tf.tasks.check_stage(stage)
    from sa3dhp_tf.evaluation import protocols
    assert protocols.evaluation_protocol() == protocol
  finally:
    gin.clear_config()


def test_protocols_headline_numbers():
  from sa3dhp_tf.evaluation import protocols
  rng = np.random.default_rng(0)
  gt = rng.normal(0, 300, (20, 17, 3))
  gt -= gt[:, :1]
  pred = gt + rng.normal(0, 40, gt.shape)
  pred[:, 0] = 0.0
  j14 = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]       # SPIN's H36M_TO_J14
  err14 = np.linalg.norm(pred[:, j14] - gt[:, j14], axis=-1).mean()
  result = protocols.apply("3dpw", pred, gt, "target_test")
  assert result["mpjpe_14"] == pytest.approx(err14, rel=1e-6)
  assert result["pa_mpjpe_14"] < err14
  h36m = protocols.apply("h36m", pred, gt, "target_test")
  assert h36m["mpjpe"] == pytest.approx(np.linalg.norm(pred - gt, axis=-1).mean(), rel=1e-6)
  pck = protocols.apply("3dhp", pred, gt, "target_test")["pck"]
  assert pck == pytest.approx(100 * (np.linalg.norm(pred - gt, axis=-1) <= 150).mean(), rel=1e-6)
  from sa3dhp_tf import errors
  with pytest.raises(errors.UserError, match="unknown protocol"):
    protocols.get_protocol("lsp")
