"""Following one person across frames.

The track starts on the strongest detection, then takes in each frame the detection that
overlaps its last box most (IoU at least `min_iou`, or a box of similar height whose centre is
within `max_centre_shift` box heights, a radius that grows with every frame the person is
missing). A frame where no detection matches keeps no box: the tracker never invents one. After
`max_lost` such frames in a row the track is dropped and restarts on the next strongest
detection (the person left, or the track was wrong).

The tracked box is smoothed with an exponential moving average (`box_smoothing` = the weight of
the new detection; 1.0 = raw) so the crops do not jitter with the detector.
"""

import dataclasses
from typing import Optional, Sequence

import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf.inference import detection as detection_lib

# Status of a frame in the outputs.
TRACKED = "tracked"                 # a box, hence a pose
NO_DETECTION = "no_detection"       # the detector found nobody
NOT_MATCHED = "not_matched"         # detections, none of them the tracked person


@dataclasses.dataclass(frozen=True)
class TrackStep:
  status: str
  box: Optional[tuple]     # smoothed (x0, y0, x1, y1) when tracked
  score: float             # detector score of the matched detection (NaN otherwise)
  num_detections: int


class SingleBoxTracker:

  def __init__(self, min_iou: float = 0.2, max_centre_shift: float = 0.5, max_lost: int = 30,
               box_smoothing: float = 0.6):
    if not 0.0 < box_smoothing <= 1.0:
      raise errors.UserError(f"box smoothing must be in (0, 1], got {box_smoothing}")
    self._min_iou = float(min_iou)
    self._max_shift = float(max_centre_shift)
    self._max_lost = int(max_lost)
    self._alpha = float(box_smoothing)
    self._box = None
    self._lost = 0

  def _matches(self, det: detection_lib.Detection) -> float:
    """A matching score > 0 for detections that can be the tracked person, else 0."""
    overlap = detection_lib.iou(self._box, det.box)
    if overlap >= self._min_iou:
      return 1.0 + overlap
    height = self._box[3] - self._box[1]
    shift = np.hypot((det.box[0] + det.box[2] - self._box[0] - self._box[2]) / 2,
                     (det.box[1] + det.box[3] - self._box[1] - self._box[3]) / 2)
    size_ratio = det.height / height
    radius = self._max_shift * height * (1.0 + self._lost / 5.0)
    if shift <= radius and 0.67 <= size_ratio <= 1.5:
      return 1.0 - shift / radius * 0.999
    return 0.0

  def update(self, detections: Sequence[detection_lib.Detection]) -> TrackStep:
    if not detections:
      self._miss()
      return TrackStep(NO_DETECTION, None, float("nan"), 0)
    if self._box is None:
      chosen = max(detections, key=lambda d: (d.score, d.width * d.height))
      new_box = np.asarray(chosen.box, np.float64)
    else:
      scored = [(self._matches(d), d) for d in detections]
      best_score, chosen = max(scored, key=lambda s: s[0])
      if best_score <= 0.0:
        self._miss()
        return TrackStep(NOT_MATCHED, None, float("nan"), len(detections))
      new_box = self._alpha * np.asarray(chosen.box) + (1 - self._alpha) * self._box
    self._box = new_box
    self._lost = 0
    return TrackStep(TRACKED, tuple(float(v) for v in new_box), chosen.score, len(detections))

  def _miss(self):
    self._lost += 1
    if self._lost > self._max_lost:
      self._box = None
