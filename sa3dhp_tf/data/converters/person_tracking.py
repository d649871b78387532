"""Person boxes for unlabeled video: OpenCV's HOG people detector, a one-person IoU tracker and
box smoothing. Written for the web-video converter and meant to be shared with any video
inference tool (it only needs frames in, boxes out).

Tracking keeps the person detected first (the largest box in the first frame with one), follows
the detection that overlaps the previous box most (IoU >= `min_iou`), bridges gaps of up to
`max_gap` frames by holding the last box, and ends the track after a longer gap; a later
detection starts a new track. Boxes are then smoothed per track with a centred moving average
of `smooth` frames (centre and size), which removes the detector's frame-to-frame jitter.
"""

import dataclasses
from typing import List, Optional

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
  detect_width: int = 640      # frames are resized to this width for detection
  detect_every: int = 1        # run the detector every n-th frame, hold the box in between
  min_iou: float = 0.2
  max_gap: int = 10
  smooth: int = 9
  hit_threshold: float = 0.0


def hog_available() -> bool:
  """OpenCV 4.x has the HOG people detector; OpenCV 5 moved it out of the main build (the
  `opencv-contrib-python-headless` build still has it as `cv2.HOGDescriptor`)."""
  return hasattr(cv2, "HOGDescriptor")


HOG_MISSING = (f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 keeps it in the "
               "contrib build): install opencv-contrib-python-headless instead of "
               "opencv-python-headless, or give each video's boxes as <video>.boxes.json")


class HogPersonDetector:
  def __init__(self, settings: TrackerSettings = TrackerSettings()):
    if not hog_available():
      raise RuntimeError(HOG_MISSING)
    self.settings = settings
    self.hog = cv2.HOGDescriptor()
    self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

  def __call__(self, image_rgb) -> np.ndarray:
    """Boxes `[K, 4]` x0, y0, x1, y1 in the image's pixels, most confident first."""
    height, width = image_rgb.shape[:2]
    scale = min(1.0, self.settings.detect_width / width)
    small = cv2.resize(image_rgb, (int(round(width * scale)), int(round(height * scale))))
    rects, weights = self.hog.detectMultiScale(small, hitThreshold=self.settings.hit_threshold,
                                               winStride=(8, 8), padding=(8, 8), scale=1.05)
    if len(rects) == 0:
      return np.zeros((0, 4))
    rects = np.asarray(rects, np.float64) / scale
    order = np.argsort(-np.asarray(weights).ravel())
    boxes = np.stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2],
                      rects[:, 1] + rects[:, 3]], 1)
    return boxes[order]


def iou(a, b) -> float:
  x0, y0 = max(a[0], b[0]), max(a[1], b[1])
  x1, y1 = min(a[2], b[2]), min(a[3], b[3])
  inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union > 0 else 0.0


def track(detections: List[np.ndarray], settings: TrackerSettings = TrackerSettings()):
  """Per-frame detections -> (boxes `[T, 4]` with NaN where no track, track id `[T]`, -1)."""
  num = len(detections)
  boxes = np.full((num, 4), np.nan)
  ids = np.full(num, -1)
  current: Optional[np.ndarray] = None
  gap, track_id = 0, -1
  for t, dets in enumerate(detections):
    dets = np.asarray(dets, np.float64).reshape(-1, 4)
    if current is not None and len(dets):
      overlaps = [iou(current, d) for d in dets]
      best = int(np.argmax(overlaps))
      if overlaps[best] >= settings.min_iou:
        current, gap = dets[best], 0
        boxes[t], ids[t] = current, track_id
        continue
    if current is not None:
      gap += 1
      if gap <= settings.max_gap:
        boxes[t], ids[t] = current, track_id
        continue
      current = None
    if current is None and len(dets):
      areas = (dets[:, 2] - dets[:, 0]) * (dets[:, 3] - dets[:, 1])
      current, gap, track_id = dets[int(np.argmax(areas))], 0, track_id + 1
      boxes[t], ids[t] = current, track_id
  # Trailing held boxes after the last real detection of a track are dropped.
  return _trim_held(boxes, ids, detections, settings), ids


def _trim_held(boxes, ids, detections, settings):
  boxes = boxes.copy()
  for track_id in set(ids[ids >= 0].tolist()):
    frames = np.flatnonzero(ids == track_id)
    last = frames[0]
    for t in frames:
      if len(np.asarray(detections[t]).reshape(-1, 4)):
        last = t
    boxes[frames[frames > last]] = np.nan
  return boxes


def smooth_boxes(boxes, ids, window: int) -> np.ndarray:
  """Centred moving average of box centre and size within each track."""
  boxes = np.asarray(boxes, np.float64)
  out = boxes.copy()
  if window <= 1:
    return out
  centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                     boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
  half = window // 2
  for track_id in set(ids[ids >= 0].tolist()):
    frames = np.flatnonzero((ids == track_id) & np.all(np.isfinite(boxes), 1))
    for t in frames:
      near = frames[np.abs(frames - t) <= half]
      c = centre[near].mean(0)
      out[t] = [c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2, c[1] + c[3] / 2]
  return out


def person_boxes(frames, settings: TrackerSettings = TrackerSettings(), detector=None):
  """Smoothed person boxes `[T, 4]` (NaN: no person) and track ids `[T]` for an iterable of RGB
  frames."""
  detector = detector or HogPersonDetector(settings)
  detections, held = [], np.zeros((0, 4))
  for t, frame in enumerate(frames):
    if t % settings.detect_every == 0:
      held = detector(frame)
    detections.append(held)
  boxes, ids = track(detections, settings)
  return smooth_boxes(boxes, ids, settings.smooth), ids
