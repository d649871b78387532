"""Pictures of the result: the video frame with the person box and the skeleton drawn onto it,
beside a 3D view of the predicted pose. Drawn with OpenCV (fast enough for every frame of an MP4).

The model predicts a root-relative pose in its camera frame (x right, y down, z forward; mm), not
image points. The skeleton on the frame is that pose seen straight from the camera, placed and
scaled to the person box (weak perspective: its height spans `body_fill` of the box); it is a
view for checking the result, not a 2D keypoint estimate.
"""

import cv2
import numpy as np

from sa3dhp_tf import skeleton

LEFT_COLOUR = (70, 130, 255)
RIGHT_COLOUR = (255, 90, 60)
CENTRE_COLOUR = (235, 235, 235)
BOX_COLOUR = (60, 220, 60)
MISSING_COLOUR = (255, 60, 60)
VIEW_BACKGROUND = (28, 28, 34)
GRID_COLOUR = (70, 70, 80)
# HOG's 64x128 window holds a ~96 px tall person: the body spans about 3/4 of its box.
BODY_FILL = 0.75
VIEW_SPAN_MM = 2200.0   # the empty view's scale


def _bone_colour(child):
  if child in skeleton.LEFT_JOINTS:
    return LEFT_COLOUR
  if child in skeleton.RIGHT_JOINTS:
    return RIGHT_COLOUR
  return CENTRE_COLOUR


def project_to_box(pose, box, body_fill=BODY_FILL):
  """Image points `[17, 2]`: the pose's x, y scaled so its height spans `body_fill` of the box
  height, centred on the box."""
  pose = np.asarray(pose, np.float64)
  x0, y0, x1, y1 = box
  extent = np.ptp(pose[:, 1])
  scale = body_fill * (y1 - y0) / max(extent, 1.0)
  centre = (pose[:, :2].max(axis=0) + pose[:, :2].min(axis=0)) / 2.0
  return (pose[:, :2] - centre) * scale + np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])


def draw_skeleton(image, points, thickness=2):
  points = np.round(np.asarray(points)).astype(np.int32)
  for parent, child in skeleton.BONES:
    cv2.line(image, tuple(points[parent]), tuple(points[child]), _bone_colour(child),
             thickness, cv2.LINE_AA)
  for point in points:
    cv2.circle(image, tuple(point), thickness + 1, CENTRE_COLOUR, -1, cv2.LINE_AA)
  return image


def _label(image, text, origin, colour=(255, 255, 255), scale=None):
  scale = scale or max(0.45, image.shape[0] / 900.0)
  thickness = max(1, int(round(scale * 2)))
  cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2,
              cv2.LINE_AA)
  cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness,
              cv2.LINE_AA)


def annotate_frame(frame, index, status, box=None, pose=None):
  """A copy of the RGB frame with the box, the skeleton and the frame's status written on it."""
  image = np.ascontiguousarray(frame).copy()
  thickness = max(2, image.shape[0] // 300)
  if box is not None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    cv2.rectangle(image, (x0, y0), (x1, y1), BOX_COLOUR, thickness)
    if pose is not None:
      draw_skeleton(image, project_to_box(pose, box), thickness)
  text = f"frame {index}" + ("" if pose is not None else f": no pose ({status})")
  _label(image, text, (10, 10 + int(30 * max(0.45, image.shape[0] / 900.0))),
         colour=(255, 255, 255) if pose is not None else MISSING_COLOUR)
  return image


def _view_rotation(azimuth_deg, elevation_deg):
  """Rotation taking camera-frame points to the view's frame: turn about the vertical (y) axis
  by the azimuth, then tilt about x by the elevation."""
  a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
  turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
  tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
  return tilt @ turn


def _nice_step(span):
  """A round grid spacing (1, 2 or 5 x 10^k mm) giving about four cells over `span`."""
  raw = span / 4.0
  power = 10.0 ** np.floor(np.log10(raw))
  return float(min((m * power for m in (1.0, 2.0, 5.0, 10.0)), key=lambda v: abs(v - raw)))


def skeleton_view(pose, size, azimuth=-40.0, elevation=-15.0, title="3D pose"):
  """An RGB `[size, size, 3]` orthographic view of a root-relative pose (None: an empty view
  saying so), with a floor grid under the feet. The view is fitted to the pose (a poorly
  trained model's pose may be far smaller or larger than a person); the title gives the grid
  spacing in mm, so sizes stay readable."""
  image = np.full((size, size, 3), VIEW_BACKGROUND, np.uint8)
  rotation = _view_rotation(azimuth, elevation)
  if pose is None:
    span = VIEW_SPAN_MM
  else:
    pose = np.asarray(pose, np.float64)
    span = max(1.3 * float(np.ptp(pose @ rotation.T, axis=0)[:2].max()), 100.0)
  step = _nice_step(span)
  scale = size / span
  centre = np.array([size / 2.0, size / 2.0])
  offset = np.zeros(3) if pose is None else \
      (pose @ rotation.T)[:, :2].min(axis=0) + np.ptp(pose @ rotation.T, axis=0)[:2] / 2.0

  def to_pixels(points):
    return ((np.asarray(points) @ rotation.T)[:, :2] - offset[:2]) * scale + centre

  floor = 0.4 * span if pose is None else float(np.max(pose[:, 1]))
  half = 2 * step
  for v in np.arange(-half, half + 1e-6, step):
    for line in (np.array([[v, floor, -half], [v, floor, half]]),
                 np.array([[-half, floor, v], [half, floor, v]])):
      p = np.round(to_pixels(line)).astype(np.int32)
      cv2.line(image, tuple(p[0]), tuple(p[1]), GRID_COLOUR, 1, cv2.LINE_AA)
  if pose is None:
    _label(image, "no pose", (size // 3, size // 2), MISSING_COLOUR)
  else:
    draw_skeleton(image, to_pixels(pose), max(2, size // 160))
  _label(image, f"{title} (grid {step:g} mm)", (10, 24), scale=max(0.45, size / 900.0))
  return image


def side_by_side(frame_image, view_image, height):
  """The annotated frame resized to `height` with the 3D view (resized to height x height)."""
  h, w = frame_image.shape[:2]
  width = max(2, int(round(w * height / h)) // 2 * 2)  # even sizes: some MP4 players need them
  left = cv2.resize(frame_image, (width, height), interpolation=cv2.INTER_AREA)
  right = cv2.resize(view_image, (height, height), interpolation=cv2.INTER_AREA)
  return np.concatenate([left, right], axis=1)
