"""The square, person-centred crop the model was trained on.

The benchmark's frames are crops centred on the person, who spans a `fill` fraction (0.6-0.88
by style) of the crop height (`data/render/styles.py`). A person box is therefore widened to a
square of side `crop_scale` x its longer side around its centre; parts outside the frame are
filled by repeating the border.
"""

import cv2
import numpy as np


def square_around(box, crop_scale: float):
  """(centre_x, centre_y, side) of the crop square around box (x0, y0, x1, y1)."""
  x0, y0, x1, y1 = box
  side = crop_scale * max(x1 - x0, y1 - y0)
  return (x0 + x1) / 2.0, (y0 + y1) / 2.0, side


def crop(frame: np.ndarray, box, crop_scale: float, size: int) -> np.ndarray:
  """The `[size, size, 3]` crop of `frame` around `box` (same dtype as the frame)."""
  cx, cy, side = square_around(box, crop_scale)
  side = max(1, int(round(side)))
  x0 = int(round(cx - side / 2.0))
  y0 = int(round(cy - side / 2.0))
  height, width = frame.shape[:2]
  # The part inside the frame, then the border repeated outside it. A crop far outside the
  # frame (a box file's error) still yields a square, of repeated edge pixels.
  top, left = max(0, -y0), max(0, -x0)
  bottom, right = max(0, y0 + side - height), max(0, x0 + side - width)
  inside = frame[max(0, y0):min(height, y0 + side), max(0, x0):min(width, x0 + side)]
  if inside.size == 0:
    edge_y = min(max(y0, 0), height - 1)
    edge_x = min(max(x0, 0), width - 1)
    inside = frame[edge_y:edge_y + 1, edge_x:edge_x + 1]
    top, bottom, left, right = 0, side - 1, 0, side - 1
  square = cv2.copyMakeBorder(inside, top, bottom, left, right, cv2.BORDER_REPLICATE)
  interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
  return cv2.resize(square, (size, size), interpolation=interpolation)
