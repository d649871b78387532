"""In-the-wild videos (the paper's web dataset, W): any folder of videos -> unlabeled 60-frame
windows of person-centred crops (`target_train`), as the paper does with a person detector.

Boxes come from `<video>.boxes.json` beside a video when present (`{"boxes": [[x0, y0, x1, y1]
or null, ...]}`, one entry per frame) and otherwise from `person_tracking` (OpenCV's HOG people
detector, IoU tracking, smoothing; on OpenCV 5 the detector needs the contrib build). Each track is a sequence; windows never cross a frame
without a box. The focal length is unknown: `focal_factor` x the longer image side (1.2 is about
a 45-degree field of view) with the principal point at the image centre; no stage uses it for
unlabeled clips.
"""

import dataclasses
import glob
import json
import os

import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf.data.converters import person_tracking
from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.converters import video_io

EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
LAYOUT = """\
<root>/**/*.mp4 (.avi .mov .mkv .webm .m4v), optionally <video>.boxes.json beside each"""


@dataclasses.dataclass(frozen=True)
class Options:
  focal_factor: float = 1.2
  detect_width: int = 640
  detect_every: int = 1
  min_iou: float = 0.2
  max_gap: int = 10
  smooth: int = 9


def _boxes_path(video):
  return os.path.splitext(video)[0] + ".boxes.json"


def list_items(root, options):
  items = []
  for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
    if os.path.splitext(path)[1].lower() in EXTENSIONS:
      items.append(registry.Item("train", os.path.relpath(path, root), (path,)))
  needs_detector = [i.paths[0] for i in items if not os.path.isfile(_boxes_path(i.paths[0]))]
  if needs_detector and not person_tracking.hog_available():
    raise errors.UserError(f"{needs_detector[0]}: no boxes file; {person_tracking.HOG_MISSING}")
  return items


def _given_boxes(path, num_frames):
  boxes_path = _boxes_path(path)
  if not os.path.isfile(boxes_path):
    return None
  try:
    with open(boxes_path) as f:
      entries = json.load(f)["boxes"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise registry.file_error(boxes_path, f"expected {{\"boxes\": [[x0, y0, x1, y1] or null, "
                              f"...]}} ({type(e).__name__}: {e})") from None
  if len(entries) != num_frames:
    raise registry.file_error(boxes_path, f"{len(entries)} boxes for {num_frames} video frames")
  boxes = np.full((num_frames, 4), np.nan)
  for t, box in enumerate(entries):
    if box is not None:
      if len(box) != 4:
        raise registry.file_error(boxes_path, f"boxes[{t}] has {len(box)} numbers, expected 4")
      boxes[t] = box
  ids = np.where(np.all(np.isfinite(boxes), 1), 0, -1)
  return boxes, ids


def read_item(item, options):
  (path,) = item.paths
  claimed, fps, width, height = video_io.video_info(path)
  num_frames = video_io.count_video_frames(path)
  if num_frames == 0:
    raise registry.file_error(path, "no decodable frames")
  if claimed and num_frames < claimed - 1:
    raise registry.file_error(path, f"only {num_frames} of the {claimed} frames the container "
                              "announces decode (truncated file?)")
  if not fps > 0:
    raise registry.file_error(path, "the video has no frame rate")
  given = _given_boxes(path, num_frames)
  if given is None:
    settings = person_tracking.TrackerSettings(
        detect_width=options.detect_width, detect_every=options.detect_every,
        min_iou=options.min_iou, max_gap=options.max_gap, smooth=options.smooth)
    boxes, ids = person_tracking.person_boxes(
        video_io.read_video_frames(path, range(num_frames)), settings)
  else:
    boxes, ids = given
  focal = options.focal_factor * max(width, height)
  intrinsics = np.array([focal, focal, (width - 1) / 2.0, (height - 1) / 2.0])
  stem = os.path.splitext(item.key)[0]
  for track_id in sorted(set(ids[ids >= 0].tolist())):
    yield registry.Sequence(
        sequence_id=f"web/{stem}/track{track_id}", subject=stem, action="web", fps=fps,
        num_frames=num_frames, read_frames=lambda ids_: video_io.read_video_frames(path, ids_),
        intrinsics=intrinsics, boxes=boxes, valid=(ids == track_id))


registry.register(registry.Converter(
    name="web_videos", description="any folder of videos -> unlabeled person-centred windows",
    layout=LAYOUT, roles=("target_unlabeled",), default_role="target_unlabeled",
    options=Options, list_items=list_items, read_item=read_item))
