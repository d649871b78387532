"""The batch contract: the keys and shapes of the batches the input pipelines produce
(`data/pipelines.py`) and the adaptation step reads (`modeling/adaptation.py`, the energies of
`modeling/energies.py`, `tasks/adapt.py`, `tools/bench_adapt_step.py`). Images are float32 in
[0, 1], poses float32 in mm, root-relative in the camera frame; see docs/ARCHITECTURE.md.

Labeled frames (`pipelines.source_frames`):
  FRAME_IMAGE 'image'          [B, H, W, 3]
  FRAME_POSE 'pose3d'          [B, 17, 3]
Unlabeled target windows (`pipelines.target_windows`):
  WINDOW 'window'              [B, 60, H, W, 3]   the raw 60-frame window (30 fps)
  AUGMENTED 'augmented'        [B, 30, H, W, 3]   A(middle clip raw[15:45]), one draw per clip
  'counterpart/<relation key>' [B, 30, H, W, 3]   T^X_r / T^x_r of the window (`counterpart_key`)
  WINDOW_POSE 'window_pose3d'  [B, 60, 17, 3]     labels of a labeled clip split (`with_poses`;
                                                   diagnostics only, never read by training)
The adaptation batch adds labeled frames under their own names (`SOURCE_FRAME_KEYS`,
`TARGET_FRAME_KEYS`):
  SOURCE_IMAGE 'source_image', SOURCE_POSE 'source_pose3d'   labeled source frames
  TARGET_IMAGE 'target_image', TARGET_POSE 'target_pose3d'   the labeled target fraction
"""

FRAME_IMAGE = "image"
FRAME_POSE = "pose3d"

WINDOW = "window"
AUGMENTED = "augmented"
WINDOW_POSE = "window_pose3d"
COUNTERPART_PREFIX = "counterpart/"

SOURCE_IMAGE = "source_image"
SOURCE_POSE = "source_pose3d"
TARGET_IMAGE = "target_image"
TARGET_POSE = "target_pose3d"

# Labeled-frame batch key -> adaptation batch key.
SOURCE_FRAME_KEYS = {FRAME_IMAGE: SOURCE_IMAGE, FRAME_POSE: SOURCE_POSE}
TARGET_FRAME_KEYS = {FRAME_IMAGE: TARGET_IMAGE, FRAME_POSE: TARGET_POSE}

POSE_KEYS = (FRAME_POSE, SOURCE_POSE, TARGET_POSE, WINDOW_POSE)


def counterpart_key(relation_key):
  """The batch key of a relation's counterpart clips."""
  return COUNTERPART_PREFIX + relation_key


def target_window_keys(relation_keys, with_augmented=True):
  """The keys `pipelines.target_windows(relation_keys=..., with_augmented=...)` produces."""
  return ([WINDOW] + ([AUGMENTED] if with_augmented else [])
          + [counterpart_key(k) for k in relation_keys])


def is_image_key(key):
  """Whether a batch key holds images (the rest hold poses)."""
  return key not in POSE_KEYS


def rename_frames(batch, mapping):
  """A labeled-frame batch under adaptation-batch names (`SOURCE_FRAME_KEYS` ...); keys not in
  `mapping` are dropped."""
  return {mapping[k]: v for k, v in batch.items() if k in mapping}
