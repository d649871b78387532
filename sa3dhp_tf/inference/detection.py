"""Person boxes of a frame: OpenCV's HOG people detector (Dalal & Triggs), or boxes from a file.

Boxes are `Detection`s in pixel coordinates of the full frame, (x0, y0, x1, y1), x1 > x0, y1 > y0.
"""

import dataclasses
import json
import math
import os
from typing import List, Optional, Sequence

import cv2
import numpy as np

from sa3dhp_tf import errors


@dataclasses.dataclass(frozen=True)
class Detection:
  box: tuple          # (x0, y0, x1, y1) in frame pixels
  score: float        # the detector's confidence (HOG: the SVM margin; box files: 1.0 or given)

  @property
  def height(self) -> float:
    return self.box[3] - self.box[1]

  @property
  def width(self) -> float:
    return self.box[2] - self.box[0]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
  """Intersection over union of two (x0, y0, x1, y1) boxes."""
  ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = ix * iy
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union > 0 else 0.0


def non_max_suppression(boxes, scores, iou_threshold):
  """Indices of the boxes kept by greedy NMS, best score first. (OpenCV's `dnn.NMSBoxes`
  rejects the negative SVM margins HOG gives at a negative threshold.)"""
  order = list(np.argsort(-np.asarray(scores), kind="stable"))
  keep = []
  while order:
    best = order.pop(0)
    keep.append(int(best))
    order = [i for i in order if iou(boxes[best], boxes[i]) <= iou_threshold]
  return keep


class HogPersonDetector:
  """OpenCV's default HOG + linear SVM people detector (64x128 window).

  The frame is downscaled to at most `max_width` pixels wide first (HOG's cost grows with the
  area; people of a typical video stay well above the 128 px window), windows scoring above
  `hit_threshold` (the SVM margin; OpenCV's default is 0) are grouped, and overlapping boxes
  are merged by non-maximum suppression. The default -0.3 finds the person in many more frames
  of the sample video than OpenCV's 0 at few extra boxes (`docs/inference.md`); the tracker
  ignores boxes that are not its person.
  OpenCV 5 ships HOG only in its contrib build (`opencv-contrib-python-headless`, a dependency).
  """

  def __init__(self, max_width: int = 640, hit_threshold: float = -0.3, scale: float = 1.05,
               win_stride: int = 8, nms_iou: float = 0.45):
    if not hasattr(cv2, "HOGDescriptor"):
      raise errors.UserError(
          f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 moved it to the "
          "contrib build): pip install opencv-contrib-python-headless, or pass --boxes")
    if max_width < 64:
      raise errors.UserError(f"detector width must be at least 64 px, got {max_width}")
    self._hog = cv2.HOGDescriptor()
    self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    self._max_width = int(max_width)
    self._hit_threshold = float(hit_threshold)
    self._scale = float(scale)
    self._stride = (int(win_stride), int(win_stride))
    self._nms_iou = float(nms_iou)

  def __call__(self, frame_rgb: np.ndarray) -> List[Detection]:
    height, width = frame_rgb.shape[:2]
    factor = min(1.0, self._max_width / float(width))
    small = frame_rgb if factor == 1.0 else cv2.resize(
        frame_rgb, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    rects, weights = self._hog.detectMultiScale(gray, hitThreshold=self._hit_threshold,
                                                winStride=self._stride, padding=(8, 8),
                                                scale=self._scale)
    if len(rects) == 0:
      return []
    rects = np.asarray(rects, np.float64).reshape(-1, 4)
    scores = np.asarray(weights, np.float64).reshape(-1)
    corners = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    detections = []
    for i in non_max_suppression(corners, scores, self._nms_iou):
      x, y, w, h = rects[i] / factor
      detections.append(Detection((float(x), float(y), float(x + w), float(y + h)),
                                  float(scores[i])))
    return sorted(detections, key=lambda d: -d.score)


class BoxFileError(errors.UserError):
  """A --boxes file that is missing or malformed."""


def _parse_box(entry, where: str) -> Optional[Detection]:
  score = 1.0
  if isinstance(entry, dict):
    score = entry.get("score", 1.0)
    entry = entry.get("box")
  if entry is None:
    return None
  if (not isinstance(entry, (list, tuple)) or len(entry) != 4
      or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in entry)):
    raise BoxFileError(f"{where}: a box is [x0, y0, x1, y1] (4 finite numbers) or null, "
                       f"got {entry!r}")
  x0, y0, x1, y1 = (float(v) for v in entry)
  if x1 <= x0 or y1 <= y0:
    raise BoxFileError(f"{where}: box {list(entry)} has x1 <= x0 or y1 <= y0")
  if not isinstance(score, (int, float)) or not math.isfinite(score):
    raise BoxFileError(f"{where}: score must be a finite number, got {score!r}")
  return Detection((x0, y0, x1, y1), float(score))


def read_box_file(path: str) -> List[Optional[Detection]]:
  """One box (or None) per frame from a JSON file, in one of two layouts:

    [[x0, y0, x1, y1], null, ...]                 entry i is frame i; null: no person
    {"frames": [{"index": i, "box": [...] | null, "score": s}, ...]}
                                                  the layout `poses.json` of `infer` writes,
                                                  so a corrected output can be fed back
  Frames after the last entry have no box.
  """
  if not os.path.isfile(path):
    raise BoxFileError(f"--boxes file not found: {path}")
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise BoxFileError(f"--boxes {path}: not a JSON file ({e})") from e
  if isinstance(data, list):
    return [_parse_box(entry, f"{path}: entry {i}") for i, entry in enumerate(data)]
  if isinstance(data, dict) and isinstance(data.get("frames"), list):
    boxes = {}
    for n, entry in enumerate(data["frames"]):
      if not isinstance(entry, dict) or not isinstance(entry.get("index"), int) or \
          entry["index"] < 0:
        raise BoxFileError(f"{path}: frames[{n}] needs a non-negative integer 'index'")
      if entry["index"] in boxes:
        raise BoxFileError(f"{path}: frame {entry['index']} appears twice")
      boxes[entry["index"]] = _parse_box(entry, f"{path}: frames[{n}]")
    length = max(boxes, default=-1) + 1
    return [boxes.get(i) for i in range(length)]
  raise BoxFileError(f"--boxes {path}: expected a JSON list of boxes or an object with a "
                     "'frames' list")
