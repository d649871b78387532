"""MPI-INF-3DHP (Mehta et al., 3DV 2017): training sequences and the test set.

Training (`S*/Seq*`): `annot.mat` holds cell arrays over the 14 cameras, `annot3{c}` `[N, 84]`
(28 joints x 3, mm, camera c's frame) and `univ_annot3{c}` (the same poses rescaled to a universal
skeleton); `camera.calibration` holds each camera's 4x4 `intrinsic` matrix; frames are
`imageSequence/video_<c>.avi`. Test (`TS1`..`TS6`): `annot_data.mat` (MATLAB v7.3, read with
h5py; v5 files work too) holds `annot2` (2 x 17 x 1 x N), `annot3` and `univ_annot3`
(3 x 17 x 1 x N, mm), `valid_frame` and `activity_annotation`; frames are
`imageSequence/img_000001.jpg`... The test set ships no calibration: the intrinsics are fitted
per sequence to `annot2` against `annot3` by least squares (residual checked).

Evaluation as the community does (MMPose, PoseAug): test labels are `univ_annot3`, pelvis =
the dataset's own pelvis joint (test joint 14), only `valid_frame` frames. The 17 test joints map
to H36M-17 as thorax = neck, neck_nose = head, head = head_top; the 28 training joints through the
same names.
"""

import dataclasses
import glob
import os
import re
from typing import Tuple

import numpy as np

from sa3dhp_tf.data.converters import matfiles
from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import video_io
from sa3dhp_tf.data.motion import kinematics

# Test-set joint order: head_top, neck, r_shoulder, r_elbow, r_wrist, l_shoulder, l_elbow,
# l_wrist, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, pelvis, spine, head.
TEST17_TO_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
# 28 training joints: 0 spine3, 1 spine4, 2 spine2, 3 spine, 4 pelvis, 5 neck, 6 head,
# 7 head_top, 8-12 left clavicle/shoulder/elbow/wrist/hand, 13-17 the right ones,
# 18-22 left hip/knee/ankle/foot/toe, 23-27 the right ones.
TRAIN28_TO_H36M = (4, 23, 24, 25, 18, 19, 20, 3, 5, 6, 7, 9, 10, 11, 14, 15, 16)
TRAIN_FPS = 25.0
TEST_FPS = {"TS1": 25.0, "TS2": 25.0, "TS3": 25.0, "TS4": 25.0, "TS5": 50.0, "TS6": 50.0}
ACTIVITIES = {1: "standing_walking", 2: "exercising", 3: "sitting", 4: "reaching_crouching",
              5: "on_the_floor", 6: "sports", 7: "miscellaneous"}
# The cameras at chest height, the set most works train on.
DEFAULT_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)

LAYOUT = """\
<root>/S1/Seq1/annot.mat  camera.calibration  imageSequence/video_0.avi ... video_13.avi
... S1..S8 x Seq1, Seq2 (train)
<root>/TS1/annot_data.mat  imageSequence/img_000001.jpg ...   ... TS1..TS6 (test)"""


@dataclasses.dataclass(frozen=True)
class Options:
  cameras: Tuple[int, ...] = DEFAULT_CAMERAS
  train_field: str = "annot3"        # or 'univ_annot3'
  test_field: str = "univ_annot3"    # the protocol's; 'annot3' for metric camera-frame poses
  test_pelvis: str = "dataset"       # or 'hip_midpoint' (kinematics.PELVIS_DEFINITION)


def read_calibration(path):
  """{camera index: (fx, fy, cx, cy)} from a 3DHP `camera.calibration` file."""
  if not os.path.isfile(path):
    raise registry.file_error(path, "camera calibration not found")
  cameras, current = {}, None
  with open(path) as f:
    for number, line in enumerate(f, start=1):
      tokens = line.split()
      if not tokens:
        continue
      if tokens[0] == "name":
        current = int(tokens[1])
      elif tokens[0] == "intrinsic":
        values = [float(t) for t in tokens[1:]]
        if current is None or len(values) != 16:
          raise registry.file_error(path, f"line {number}: bad intrinsic entry")
        cameras[current] = (values[0], values[5], values[2], values[6])
  return cameras


def fit_intrinsics(points2d, points3d, path):
  """Least-squares fx, fy, cx, cy with u = fx X/Z + cx, v = fy Y/Z + cy over all points."""
  p2 = np.asarray(points2d, np.float64).reshape(-1, 2)
  p3 = np.asarray(points3d, np.float64).reshape(-1, 3)
  keep = np.all(np.isfinite(p2), 1) & np.all(np.isfinite(p3), 1) & (p3[:, 2] > 1.0)
  if keep.sum() < 4:
    raise registry.file_error(path, "too few valid points to fit the camera intrinsics")
  p2, p3 = p2[keep], p3[keep]
  result = []
  for axis in (0, 1):
    a = np.stack([p3[:, axis] / p3[:, 2], np.ones(len(p3))], 1)
    (f, c), *_ = np.linalg.lstsq(a, p2[:, axis], rcond=None)
    residual = np.abs(a @ [f, c] - p2[:, axis])
    if np.median(residual) > 2.0:
      raise registry.file_error(path, f"annot2 does not match a pinhole projection of annot3 "
                                f"(median residual {np.median(residual):.1f} px)")
    result.append((f, c))
  return np.array([result[0][0], result[1][0], result[0][1], result[1][1]])


def _joints(array, joints, dims, path, field):
  """MATLAB `dims x joints x 1 x N` (or `dims x joints x N`) -> `[N, joints, dims]`."""
  array = np.asarray(array, np.float64)
  if array.shape[:2] != (dims, joints):
    raise registry.file_error(path, f"field {field!r} has shape {array.shape}, expected "
                              f"{dims} x {joints} x 1 x N")
  return array.reshape(dims, joints, -1).transpose(2, 1, 0)


def list_items(root, options: Options):
  items = []
  for annot in sorted(glob.glob(os.path.join(root, "S*", "Seq*", "annot.mat"))):
    seq_dir = os.path.dirname(annot)
    subject = os.path.basename(os.path.dirname(seq_dir))
    seq = os.path.basename(seq_dir)
    for camera in options.cameras:
      video = os.path.join(seq_dir, "imageSequence", f"video_{camera}.avi")
      items.append(registry.Item("train", f"{subject}/{seq}/cam{camera}",
                                 (annot, video, os.path.join(seq_dir, "camera.calibration")),
                                 (("subject", subject), ("camera", camera))))
  for annot in sorted(glob.glob(os.path.join(root, "TS*", "annot_data.mat"))):
    name = os.path.basename(os.path.dirname(annot))
    items.append(registry.Item("test", name, (annot,), (("subject", name),)))
  return items


def _read_train(item, options):
  annot, video, calibration = item.paths
  camera = item.get("camera")
  mat = matfiles.MatFile(annot)
  cells = mat.cells(options.train_field)
  if camera >= len(cells):
    raise registry.file_error(annot, f"{options.train_field} has {len(cells)} cameras, "
                              f"camera {camera} asked for")
  flat = np.asarray(cells[camera], np.float64)
  if flat.ndim != 2 or flat.shape[1] != 84:
    raise registry.file_error(annot, f"{options.train_field}{{{camera}}} has shape "
                              f"{flat.shape}, expected [N, 84]")
  joints = flat.reshape(-1, 28, 3)
  intrinsics = read_calibration(calibration)
  if camera not in intrinsics:
    raise registry.file_error(calibration, f"no camera {camera}")
  yield registry.Sequence(
      sequence_id=f"mpi_inf_3dhp/{item.key}", subject=item.get("subject"), action="train",
      fps=TRAIN_FPS, num_frames=len(joints),
      read_frames=lambda ids: video_io.read_video_frames(video, ids),
      intrinsics=np.asarray(intrinsics[camera]),
      poses=kinematics.pelvis_at_hip_midpoint(joints[:, list(TRAIN28_TO_H36M)]),
      points2d=None)


def _read_test(item, options):
  (annot,) = item.paths
  mat = matfiles.MatFile(annot)
  try:
    annot2 = _joints(mat.array("annot2"), 17, 2, annot, "annot2")
    annot3 = _joints(mat.array("annot3"), 17, 3, annot, "annot3")
    labels = _joints(mat.array(options.test_field), 17, 3, annot, options.test_field)
    valid = mat.array("valid_frame").ravel().astype(bool)
    activity = (mat.array("activity_annotation").ravel().astype(int)
                if mat.has("activity_annotation") else None)
  finally:
    mat.close()
  count = len(annot3)
  if not (len(annot2) == len(labels) == len(valid) == count):
    raise registry.file_error(annot, f"annot2/annot3/{options.test_field}/valid_frame have "
                              f"{len(annot2)}/{count}/{len(labels)}/{len(valid)} frames")
  intrinsics = fit_intrinsics(annot2[valid], annot3[valid], annot)
  labels = labels[:, list(TEST17_TO_H36M)]
  if options.test_pelvis == "hip_midpoint":
    labels = kinematics.pelvis_at_hip_midpoint(labels)
  elif options.test_pelvis != "dataset":
    raise registry.ConversionError(f"test_pelvis must be 'dataset' or 'hip_midpoint', got "
                                   f"{options.test_pelvis!r}")
  name = item.key
  pattern = os.path.join(os.path.dirname(annot), "imageSequence", "img_{:06d}.jpg")
  yield registry.Sequence(
      sequence_id=f"mpi_inf_3dhp/{name}", subject=name, action="test",
      fps=TEST_FPS.get(name, 25.0), num_frames=count,
      read_frames=lambda ids: video_io.read_image_frames(pattern, [i + 1 for i in ids]),
      intrinsics=intrinsics, poses=labels, roots=annot3[:, 14], points2d=annot2, valid=valid,
      actions=None if activity is None else [ACTIVITIES.get(a, f"activity{a}")
                                             for a in activity])


def read_item(item, options):
  return _read_train(item, options) if item.partition == "train" else _read_test(item, options)


registry.register(registry.Converter(
    name="mpi_inf_3dhp", description="MPI-INF-3DHP training sequences and test set",
    layout=LAYOUT, roles=("target", "source", "test"), default_role="target",
    options=Options, list_items=list_items, read_item=read_item))
