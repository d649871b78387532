"""Frames from videos and image folders, with errors that name the file (a truncated video
fails its item loudly instead of yielding fewer frames), and the person crop."""

import os
from typing import Iterator, List

import cv2
import numpy as np

from sa3dhp_tf.data.converters.registry import file_error


def video_info(path):
  """(frame count, fps, width, height) of a video; raises naming the file if it cannot open."""
  if not os.path.isfile(path):
    raise file_error(path, "video not found")
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise file_error(path, "cannot open the video (corrupt or unsupported codec)")
  info = (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS)),
          int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
  capture.release()
  return info


def read_video_frames(path, ids: List[int]) -> Iterator[np.ndarray]:
  """RGB frames `ids` (sorted, 0-based) of a video, decoded sequentially."""
  wanted = sorted(set(int(i) for i in ids))
  if not wanted:
    return
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise file_error(path, "cannot open the video (missing, corrupt or unsupported codec)")
  try:
    index, k = 0, 0
    while k < len(wanted):
      ok, frame = capture.read()
      if not ok:
        raise file_error(path, f"video ended after {index} frames, frame {wanted[k]} needed "
                         "(truncated file?)")
      if index == wanted[k]:
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        k += 1
      index += 1
  finally:
    capture.release()


def count_video_frames(path) -> int:
  """Frames that really decode (CAP_PROP_FRAME_COUNT is only the container's claim)."""
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise file_error(path, "cannot open the video (missing, corrupt or unsupported codec)")
  count = 0
  while capture.grab():
    count += 1
  capture.release()
  return count


def read_image_frames(pattern: str, ids: List[int]) -> Iterator[np.ndarray]:
  """RGB images `pattern.format(i)` for each id."""
  for i in sorted(set(int(i) for i in ids)):
    path = pattern.format(i)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
      raise file_error(path, "image missing or unreadable")
    yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def square_box(points, margin: float) -> np.ndarray:
  """Square box `[x0, y0, side]` around 2D points `[K, 2]` (NaNs ignored), side = margin x the
  longer extent."""
  points = np.asarray(points, np.float64)
  points = points[np.all(np.isfinite(points), axis=-1)]
  if len(points) == 0:
    raise ValueError("no finite points for the person box")
  low, high = points.min(0), points.max(0)
  centre = 0.5 * (low + high)
  side = max(float((high - low).max()) * margin, 8.0)
  return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


def box_to_square(box, margin: float) -> np.ndarray:
  x0, y0, x1, y1 = np.asarray(box, np.float64)
  return square_box(np.array([[x0, y0], [x1, y1]]), margin)


def crop(image, square, size: int, intrinsics):
  """Crops the square `[x0, y0, side]` (zero padding outside the image), resizes it to
  `size x size` and returns (crop, intrinsics of the crop).

  The box is snapped to whole pixels; with pixel centres at integer coordinates (the projection
  convention u = fx X / Z + cx), cv2.resize maps a source column u to (u - x0 + 0.5) s - 0.5 with
  s = size / side, which gives the crop's principal point."""
  x0, y0 = int(np.floor(square[0])), int(np.floor(square[1]))
  side = max(int(np.ceil(square[2])), 1)
  height, width = image.shape[:2]
  patch = np.zeros((side, side, 3), np.uint8)
  sx0, sy0 = max(x0, 0), max(y0, 0)
  sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
  if sx1 > sx0 and sy1 > sy0:
    patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
  scale = size / side
  interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
  out = cv2.resize(patch, (size, size), interpolation=interpolation)
  fx, fy, cx, cy = np.asarray(intrinsics, np.float64)
  new = np.array([fx * scale, fy * scale, (cx - x0 + 0.5) * scale - 0.5,
                  (cy - y0 + 0.5) * scale - 0.5])
  return out, new


def project(points_camera, intrinsics) -> np.ndarray:
  """Pinhole projection of `[..., K, 3]` camera-frame points with `[..., 4]` intrinsics."""
  points_camera = np.asarray(points_camera, np.float64)
  k = np.asarray(intrinsics, np.float64)[..., None, :]
  z = np.maximum(points_camera[..., 2], 1e-6)
  return np.stack([k[..., 0] * points_camera[..., 0] / z + k[..., 2],
                   k[..., 1] * points_camera[..., 1] / z + k[..., 3]], axis=-1)
