"""SURREAL (Varol et al., CVPR 2017): `cmu/{train,val,test}/run*/<seq>/<clip>.mp4` with
`<clip>_info.mat` (v5: `joints3D` 3 x 24 x T world metres, `joints2D` 2 x 24 x T pixels,
`camLoc` 3 x 1, `zrot`, ...), 320 x 240 px, 30 fps.

World -> camera as SURREAL's own code defines it (`getExtrinsicBlender`, `getIntrinsicBlender`):
R_world2bcam = [[0, 0, 1], [0, -1, 0], [-1, 0, 0]]^T, T_world2bcam = -R_world2bcam camLoc,
R_bcam2cv = diag(1, -1, -1), so X_cam = R_bcam2cv (R_world2bcam X + T_world2bcam); intrinsics
f = 60 mm on a 32 mm sensor at 320 px: fx = fy = 600, cx = 160, cy = 120. `joints2D` is the
projection of `joints3D` under it (checked per clip). SMPL-24 -> H36M-17 through `smpl_joints`.
"""

import dataclasses
import glob
import os

import numpy as np

from sa3dhp_tf.data.converters import matfiles
from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import smpl_joints
from sa3dhp_tf.data.converters import video_io

FPS = 30.0
INTRINSICS = np.array([600.0, 600.0, 160.0, 120.0])
R_WORLD2BCAM = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]]).T
R_BCAM2CV = np.diag([1.0, -1.0, -1.0])
LAYOUT = """\
<root>/cmu/train/run0/<seq>/<seq>_c0001.mp4  <seq>_c0001_info.mat ...  (run0, run1, run2)
<root>/cmu/val/...   <root>/cmu/test/..."""


@dataclasses.dataclass(frozen=True)
class Options:
  train_folders: tuple = ("train",)
  test_folders: tuple = ("test",)
  max_reprojection_px: float = 3.0


def world_to_camera(points_world, cam_loc):
  """SURREAL's extrinsics applied to `[..., 3]` points (any unit; cam_loc in the same)."""
  cam_loc = np.asarray(cam_loc, np.float64).reshape(3)
  rotation = R_BCAM2CV @ R_WORLD2BCAM
  translation = R_BCAM2CV @ (-R_WORLD2BCAM @ cam_loc)
  return np.asarray(points_world, np.float64) @ rotation.T + translation


def list_items(root, options: Options):
  items = []
  for partition, folders in (("train", options.train_folders), ("test", options.test_folders)):
    for folder in folders:
      pattern = os.path.join(root, "cmu", folder, "run*", "*", "*_info.mat")
      for info in sorted(glob.glob(pattern)):
        video = info[:-len("_info.mat")] + ".mp4"
        rel = os.path.relpath(video, os.path.join(root, "cmu"))[:-4]
        items.append(registry.Item(partition, rel, (info, video)))
  return items


def read_item(item, options):
  info, video = item.paths
  mat = matfiles.MatFile(info)
  joints3d = np.asarray(mat.array("joints3D"), np.float64)
  joints2d = np.asarray(mat.array("joints2D"), np.float64)
  cam_loc = np.asarray(mat.array("camLoc"), np.float64)
  if joints3d.ndim == 2:                       # scipy squeezes a one-frame clip
    joints3d, joints2d = joints3d[..., None], joints2d[..., None]
  if joints3d.shape[:2] != (3, 24) or joints2d.shape[:2] != (2, 24):
    raise registry.file_error(info, f"joints3D/joints2D have shapes {joints3d.shape}/"
                              f"{joints2d.shape}, expected 3 x 24 x T / 2 x 24 x T")
  world = joints3d.transpose(2, 1, 0) * 1000.0
  camera = world_to_camera(world, cam_loc * 1000.0)
  points = joints2d.transpose(2, 1, 0)
  projected = video_io.project(camera, np.broadcast_to(INTRINSICS, (len(camera), 4)))
  error = np.nanmedian(np.linalg.norm(projected - points, axis=-1))
  if not error <= options.max_reprojection_px:
    raise registry.file_error(info, f"joints2D is not the projection of joints3D under "
                              f"SURREAL's camera (median {error:.1f} px)")
  count, _, _, _ = video_io.video_info(video)
  if count and count < len(camera):
    raise registry.file_error(video, f"video has {count} frames, {info} has {len(camera)}")
  seq = os.path.basename(os.path.dirname(video))
  yield registry.Sequence(
      sequence_id=f"surreal/{item.key}", subject=f"cmu{seq.split('_')[0]}", action=seq,
      fps=FPS, num_frames=len(camera),
      read_frames=lambda ids: video_io.read_video_frames(video, ids),
      intrinsics=INTRINSICS, poses=smpl_joints.smpl24_to_h36m17(camera), points2d=points)


registry.register(registry.Converter(
    name="surreal", description="SURREAL cmu clips (mp4 + _info.mat)",
    layout=LAYOUT, roles=("source", "target", "test"), default_role="source",
    options=Options, list_items=list_items, read_item=read_item))
