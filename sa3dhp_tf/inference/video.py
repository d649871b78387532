"""Reading a video with OpenCV and writing one, with errors that name the file.

OpenCV returns an empty capture, not an exception, for a missing, unreadable or corrupt file;
`open_video` turns each of those into one `VideoError` naming the path, before any work starts.
"""

import dataclasses
import os

import cv2
import numpy as np

from sa3dhp_tf import errors


class VideoError(errors.UserError):
  """A video that cannot be read (missing, not a video, corrupt) or written."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  path: str
  fps: float
  width: int
  height: int
  declared_frames: int   # what the container says; a damaged file may decode fewer


def open_video(path: str) -> VideoInfo:
  """Checks that `path` is a video whose first frame decodes and returns its properties."""
  if not path:
    raise VideoError("--video is required")
  if not os.path.isfile(path):
    raise VideoError(f"video not found: {path}")
  if not os.access(path, os.R_OK):
    raise VideoError(f"video not readable: {path}")
  capture = cv2.VideoCapture(path)
  try:
    if not capture.isOpened():
      raise VideoError(f"{path}: not a video OpenCV can open (unknown format or corrupt file)")
    ok, frame = capture.read()
    if not ok or frame is None:
      raise VideoError(f"{path}: no frame could be decoded (corrupt or empty video)")
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
  finally:
    capture.release()
  if not np.isfinite(fps) or fps <= 0:
    fps = 30.0  # some containers carry no rate; the poses are indexed by frame anyway
  return VideoInfo(path=path, fps=fps, width=int(frame.shape[1]), height=int(frame.shape[0]),
                   declared_frames=max(declared, 0))


def read_frames(path: str, max_frames: int = 0):
  """Yields (index, frame) with frames as uint8 RGB `[H, W, 3]`, until the decoder stops."""
  capture = cv2.VideoCapture(path)
  if not capture.isOpened():
    raise VideoError(f"{path}: not a video OpenCV can open")
  try:
    index = 0
    while not max_frames or index < max_frames:
      ok, frame = capture.read()
      if not ok or frame is None:
        return
      yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
      index += 1
  finally:
    capture.release()


class Mp4Writer:
  """Writes RGB frames to `path` as MP4 ('mp4v'), under a temporary name renamed on `close`,
  so a reader never sees half a file; `abort` removes the partial file."""

  def __init__(self, path: str, fps: float):
    self.path = path
    self._fps = fps
    # OpenCV picks the container from the extension: keep '.mp4' at the end of the temp name.
    self._partial = os.path.join(os.path.dirname(os.path.abspath(path)),
                                 f".{os.path.basename(path)}.partial.mp4")
    self._writer = None

  def write(self, frame_rgb: np.ndarray) -> None:
    if self._writer is None:
      height, width = frame_rgb.shape[:2]
      self._writer = cv2.VideoWriter(self._partial, cv2.VideoWriter_fourcc(*"mp4v"),
                                     self._fps, (width, height))
      if not self._writer.isOpened():
        raise VideoError(f"{self.path}: OpenCV cannot write an MP4 here")
    self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))

  def close(self) -> None:
    if self._writer is None:
      raise VideoError(f"{self.path}: no frame to write")
    self._writer.release()
    os.replace(self._partial, self.path)

  def abort(self) -> None:
    if self._writer is not None:
      self._writer.release()
    if os.path.exists(self._partial):
      os.remove(self._partial)
