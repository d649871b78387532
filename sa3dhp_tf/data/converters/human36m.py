"""Human3.6M (Ionescu et al., TPAMI 2014) in its original release layout.

Poses: `D3_Positions_mono` CDF files (variable 'Pose', `[1, N, 96]`: 32 joints x 3, mm, in the
frame of the camera named in the file name; x right, y down, z forward), 50 fps. The 32 -> 17
mapping keeps joints [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27], as
VideoPose3D's `remove_joints` does; their order is already H36M-17's. Joint 0 is the hip
midpoint in every subject's skeleton (its hips are symmetric about it), so the pelvis is the
dataset's own. Intrinsics are the four cameras' published values (as VideoPose3D ships them);
`cameras.json` at the root overrides them. Lens distortion is ignored: the crops are padded
boxes and the labels are 3D, so it only moves the projected box by a few pixels at the border.
"""

import dataclasses
import glob
import json
import os
import re
from typing import Tuple

import numpy as np

from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import video_io

H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
FPS = 50.0
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
# fx, fy, cx, cy of the four cameras (the release's calibration; VideoPose3D's h36m_dataset.py).
CAMERAS = {
    "54138969": (1145.0494384765625, 1143.7811279296875, 512.54150390625, 515.4514770507812),
    "55011271": (1149.6756591796875, 1147.5916748046875, 508.8486328125, 508.0649108886719),
    "58860488": (1149.1407470703125, 1148.7989501953125, 519.8158569335938, 501.40264892578125),
    "60457274": (1145.5113525390625, 1144.77392578125, 514.9682006835938, 501.88201904296875),
}

LAYOUT = """\
<root>/S1/MyPoseFeatures/D3_Positions_mono/Directions 1.54138969.cdf   (one per action x camera)
<root>/S1/Videos/Directions 1.54138969.mp4
... S5 S6 S7 S8 (train), S9 S11 (test)
<root>/cameras.json   optional: {"54138969": [fx, fy, cx, cy], ...}"""


@dataclasses.dataclass(frozen=True)
class Options:
  train_subjects: Tuple[str, ...] = TRAIN_SUBJECTS
  test_subjects: Tuple[str, ...] = TEST_SUBJECTS
  cameras: Tuple[str, ...] = tuple(CAMERAS)


def read_cdf_poses(path) -> np.ndarray:
  """`[N, 32, 3]` float64 from a D3_Positions(_mono) CDF."""
  import cdflib
  try:
    cdf = cdflib.CDF(path)
    pose = np.asarray(cdf.varget("Pose"), np.float64)
  except Exception as e:  # cdflib raises bare exceptions for corrupt files
    raise registry.file_error(path, f"unreadable CDF pose file ({type(e).__name__}: {e})") \
        from None
  if pose.size % 96:
    raise registry.file_error(path, f"'Pose' has shape {pose.shape}; expected [1, N, 96]")
  return pose.reshape(-1, 32, 3)


def _intrinsics(root, camera):
  path = os.path.join(root, "cameras.json")
  if os.path.isfile(path):
    with open(path) as f:
      table = json.load(f)
    if camera in table:
      return np.asarray(table[camera], np.float64)
  if camera not in CAMERAS:
    raise registry.ConversionError(f"camera {camera!r} unknown; add it to {path}")
  return np.asarray(CAMERAS[camera], np.float64)


def list_items(root, options: Options):
  items = []
  for partition, subjects in (("train", options.train_subjects), ("test", options.test_subjects)):
    for subject in subjects:
      pattern = os.path.join(root, subject, "MyPoseFeatures", "D3_Positions_mono", "*.cdf")
      for path in sorted(glob.glob(pattern)):
        stem = os.path.basename(path)[:-4]
        name, _, camera = stem.rpartition(".")
        if camera not in options.cameras:
          continue
        video = os.path.join(root, subject, "Videos", stem + ".mp4")
        items.append(registry.Item(partition, f"{subject}/{stem}", (path, video),
                                   (("subject", subject), ("name", name), ("camera", camera),
                                    ("root", root))))
  return items


def read_item(item: registry.Item, options: Options):
  pose_path, video = item.paths
  joints = read_cdf_poses(pose_path)
  count, _, _, _ = video_io.video_info(video)
  if count and count < len(joints):
    raise registry.file_error(video, f"video has {count} frames, {pose_path} has {len(joints)}"
                              " (truncated video?)")
  name = item.get("name")
  yield registry.Sequence(
      sequence_id=f"human36m/{item.key}", subject=item.get("subject"),
      action=re.sub(r"\s*\d+$", "", name), fps=FPS, num_frames=len(joints),
      read_frames=lambda ids: video_io.read_video_frames(video, ids),
      intrinsics=_intrinsics(item.get("root"), item.get("camera")),
      poses=joints[:, list(H36M32_TO_17)], points2d=None)


registry.register(registry.Converter(
    name="human36m", description="Human3.6M, original release (CDF poses, mp4 videos)",
    layout=LAYOUT, roles=("source", "target", "test"), default_role="target",
    options=Options, list_items=list_items, read_item=read_item))
