"""3DPW (von Marcard et al., ECCV 2018): `sequenceFiles/{train,validation,test}/*.pkl`.

Each pickle (Python 2, load with encoding='latin1') holds per person `jointPositions` `[N, 72]`
(24 SMPL joints, metres, world frame), `poses2d` `[N, 3, 18]`, `campose_valid` `[N]`, and per
frame `cam_poses` `[N, 4, 4]` (world -> camera), `cam_intrinsics` `[3, 3]`, `sequence`,
`img_frame_ids`; frames are `imageFiles/<sequence>/image_00000.jpg`, 30 fps. Every person is
its own track (sequence); frames whose `campose_valid` is 0 are not written. Joints map to
H36M-17 through `smpl_joints` (an approximation; the 14-joint evaluation protocol is
`evaluation.protocols` '3dpw').
"""

import dataclasses
import glob
import os
import pickle

import numpy as np

from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import smpl_joints
from sa3dhp_tf.data.converters import video_io

FPS = 30.0
LAYOUT = """\
<root>/sequenceFiles/train/*.pkl  validation/*.pkl  test/*.pkl
<root>/imageFiles/<sequence>/image_00000.jpg ..."""


@dataclasses.dataclass(frozen=True)
class Options:
  train_folders: tuple = ("train",)        # add 'validation' to train on it too
  test_folders: tuple = ("test",)


def load_pickle(path):
  try:
    with open(path, "rb") as f:
      data = pickle.load(f, encoding="latin1")
  except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
    raise registry.file_error(path, f"unreadable pickle ({type(e).__name__}: {e})") from None
  for key in ("jointPositions", "cam_poses", "cam_intrinsics", "campose_valid", "sequence"):
    if key not in data:
      raise registry.file_error(path, f"no field {key!r}")
  return data


def list_items(root, options: Options):
  items = []
  for partition, folders in (("train", options.train_folders), ("test", options.test_folders)):
    for folder in folders:
      for path in sorted(glob.glob(os.path.join(root, "sequenceFiles", folder, "*.pkl"))):
        name = os.path.basename(path)[:-4]
        items.append(registry.Item(partition, f"{folder}/{name}", (path,), (("root", root),)))
  return items


def read_item(item, options):
  (path,) = item.paths
  data = load_pickle(path)
  sequence = data["sequence"]
  cam_poses = np.asarray(data["cam_poses"], np.float64)
  k = np.asarray(data["cam_intrinsics"], np.float64)
  intrinsics = np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]])
  num_frames = len(cam_poses)
  frame_ids = np.asarray(data.get("img_frame_ids", np.arange(num_frames))).astype(int)
  pattern = os.path.join(item.get("root"), "imageFiles", sequence, "image_{:05d}.jpg")
  for person, flat in enumerate(data["jointPositions"]):
    flat = np.asarray(flat, np.float64)
    if flat.shape != (num_frames, 72):
      raise registry.file_error(path, f"jointPositions[{person}] has shape {flat.shape}, "
                                f"expected [{num_frames}, 72]")
    world = flat.reshape(num_frames, 24, 3) * 1000.0
    rotation, translation = cam_poses[:, :3, :3], cam_poses[:, :3, 3] * 1000.0
    camera = np.einsum("tab,tjb->tja", rotation, world) + translation[:, None]
    valid = np.asarray(data["campose_valid"][person]).astype(bool)
    yield registry.Sequence(
        sequence_id=f"3dpw/{item.key}/person{person}", subject=f"{sequence}_p{person}",
        action=sequence.split("_")[0], fps=FPS, num_frames=num_frames,
        read_frames=lambda ids: video_io.read_image_frames(
            pattern, [int(frame_ids[i]) for i in ids]),
        intrinsics=intrinsics, poses=smpl_joints.smpl24_to_h36m17(camera),
        points2d=video_io.project(camera, np.broadcast_to(intrinsics, (num_frames, 4))),
        valid=valid)


registry.register(registry.Converter(
    name="3dpw", description="3DPW sequence pickles and image folders",
    layout=LAYOUT, roles=("test", "target", "source"), default_role="test",
    options=Options, list_items=list_items, read_item=read_item))
