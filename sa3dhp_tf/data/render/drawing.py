"""Drawing the body: primitives far to near (painter's algorithm on mean depth) in shaded bands,
stripes, and the per-pixel shaded torso, on a supersampled RGBA canvas reduced with INTER_AREA."""

import math

import cv2
import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.render import appearance as appearance_lib
from sa3dhp_tf.data.render import checks
from sa3dhp_tf.data.render import outlines
from sa3dhp_tf.data.render import primitives
from sa3dhp_tf.data.render import shading
from sa3dhp_tf.data.render import vectors
from sa3dhp_tf.geometry import camera

_JOINT = skeleton.JOINT_INDEX


_TORSO_ARC_POINTS = 24   # points per torso sphere outline
_TORSO_DIRECTIONS = np.stack(
    [np.cos(np.linspace(0, 2 * np.pi, _TORSO_ARC_POINTS, endpoint=False)),
     np.sin(np.linspace(0, 2 * np.pi, _TORSO_ARC_POINTS, endpoint=False))], -1)


def render_body(pose_camera, intrinsics: camera.Intrinsics,
                appearance: appearance_lib.Appearance, image_size=(64, 64)):
  """Draws the body alone. Returns (colour `[H, W, 3]` float32 premultiplied by alpha, alpha
  `[H, W]` float32), both in [0, 1]: the foreground layer before background and degradations."""
  pose = checks.validate_pose(pose_camera)
  fx, fy, cx, cy = checks.check_intrinsics(intrinsics)
  height, width = checks.parse_image_size(image_size)
  supersample = appearance.supersample
  focal = supersample * math.sqrt(fx * fy)

  def project(points):
    """Canvas pixel coordinates `[..., 2]` and depths `[...]` of camera-frame points."""
    depth = np.maximum(points[..., 2], 0.5 * checks.MIN_DEPTH_MM)
    x = supersample * (fx * points[..., 0] / depth + cx) + (supersample - 1) / 2.0
    y = supersample * (fy * points[..., 1] / depth + cy) + (supersample - 1) / 2.0
    return np.stack([x, y], -1), depth

  start, end, start_radius, end_radius, torso = primitives.body_geometry(pose, appearance)
  start_px, start_depth = project(start)
  end_px, end_depth = project(end)
  start_radius_px = focal * start_radius / start_depth
  end_radius_px = focal * end_radius / end_depth
  # Shading frames of every primitive and (last row) of the torso cylinder.
  pelvis, thorax = pose[_JOINT["pelvis"]], pose[_JOINT["thorax"]]
  lateral_normal, light_lateral, light_view, peak = shading.shading_frames(
      np.concatenate([0.5 * (start + end), 0.5 * (pelvis + thorax)[None]]),
      np.concatenate([end - start, (thorax - pelvis)[None]]), appearance.light)
  torso_frame = lateral_normal[-1], light_lateral[-1], light_view[-1], peak[-1]
  lateral_normal, light_lateral = lateral_normal[:-1], light_lateral[:-1]
  light_view, peak = light_view[:-1], peak[:-1]
  # Lateral image direction of each primitive: perpendicular to its projected axis (or the
  # highlight direction for spheres), oriented along the lateral normal e_s.
  axis_px = end_px - start_px
  axis_px_len = vectors.norm(axis_px)
  perpendicular = (np.stack([-axis_px[:, 1], axis_px[:, 0]], -1) /
                   np.maximum(axis_px_len, 1e-9)[:, None])
  lateral_normal_px = vectors.normalize(lateral_normal[:, :2], np.array([1.0, 0.0]))
  lateral = np.where((axis_px_len > 1e-3)[:, None], perpendicular, lateral_normal_px)
  lateral *= np.where(np.sum(lateral * lateral_normal_px, -1) < 0, -1.0, 1.0)[:, None]

  # Shading bands: nested outlines of relative radius `band_radius`, shifted towards the
  # highlight by `band_offset` (fractions of the primitive's radius).
  layers = appearance.shading_layers
  band_radius = 1.0 - np.arange(layers) / layers                           # [K]
  band_offset = peak[:, None] * (1.0 - band_radius)[None]                  # [N, K]
  across = band_offset[..., None] + band_radius[None, :, None] * shading.BAND_SAMPLES  # [N, K, 7]
  brightness = shading.lambert(across, light_lateral[:, None, None],
                               light_view[:, None, None]).mean(-1)
  peak_brightness = shading.lambert(peak, light_lateral, light_view)[:, None]
  brightness = ((1.0 - appearance.shading_falloff) * peak_brightness +
                appearance.shading_falloff * brightness)
  intensity = appearance.ambient + appearance.diffuse * brightness         # [N, K]
  base = appearance.colors[primitives.PRIMITIVE_PART].astype(np.float64)   # [N, 3]
  layer_colors = np.clip(base[:, None, :] * intensity[..., None] * 255.0, 0, 255)

  # Outlines of every layer of every primitive.
  num_primitives = primitives.NUM_PRIMITIVES
  shifted_start = (start_px[:, None, :] +
                   (band_offset * start_radius_px[:, None])[..., None] * lateral[:, None, :])
  shifted_end = (end_px[:, None, :] +
                 (band_offset * end_radius_px[:, None])[..., None] * lateral[:, None, :])
  polygons = outlines.capsule_outlines(shifted_start.reshape(-1, 2), shifted_end.reshape(-1, 2),
                                       (band_radius[None] * start_radius_px[:, None]).reshape(-1),
                                       (band_radius[None] * end_radius_px[:, None]).reshape(-1))
  polygons = outlines.to_fixed_point(polygons).reshape(num_primitives, layers, -1, 2)

  canvas = np.zeros((height * supersample, width * supersample, 4), np.uint8)
  depth = np.empty(num_primitives + 1)
  depth[:num_primitives] = 0.5 * (start[:, 2] + end[:, 2])
  depth[primitives.TORSO_INDEX] = np.concatenate([c for c, _, _ in torso])[:, 2].mean()
  stripes = appearance.stripes[primitives.PRIMITIVE_PART]
  quads = _stripe_quads(start, end, start_radius, end_radius, stripes, project, focal, lateral,
                        band_offset, band_radius)
  opaque = np.full((num_primitives, layers, 1), 255.0)
  colors = np.concatenate([layer_colors, opaque], -1).tolist()
  stripe_colors = np.concatenate(
      [layer_colors * (1.0 - stripes[:, 2, None, None]), opaque], -1).tolist()
  visible = (start_radius > 0) | (end_radius > 0)
  for index in np.argsort(-depth, kind="stable").tolist():
    if index == primitives.TORSO_INDEX:
      _draw_torso(canvas, project, torso, torso_frame, pose, appearance, focal)
      continue
    if not visible[index]:
      continue
    primitive_quads = quads.get(index)
    for k in range(layers):
      cv2.fillConvexPoly(canvas, polygons[index, k], colors[index][k], cv2.LINE_8,
                         outlines.SHIFT)
      if primitive_quads is not None and len(primitive_quads[k]):
        cv2.fillPoly(canvas, list(primitive_quads[k]), stripe_colors[index][k], cv2.LINE_8,
                     outlines.SHIFT)
  small = (cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA) if supersample > 1
           else canvas)
  small = small.astype(np.float32) * (1.0 / 255.0)
  return small[..., :3], small[..., 3]


def _stripe_quads(start, end, start_radius, end_radius, stripes, project, focal, lateral,
                  band_offset, band_radius):
  """Stripes (rings around the capsules whose `stripes` period is > 0) as fixed-point quads in
  each shading layer's band: {primitive index: [K arrays [M, 4, 2]]}."""
  striped = np.nonzero((stripes[:, 0] > 0) & (start_radius > 0))[0]
  if not len(striped):
    return {}
  first, last = start[striped], end[striped]
  length = vectors.norm(last - first)
  period = stripes[striped, 0, None]
  duty, phase = stripes[striped, 1, None], stripes[striped, 3, None]
  ring = np.arange(-1, int(np.max(length / period[:, 0])) + 2)[None]      # [1, J]
  ring_start = np.clip((ring - phase) * period, 0.0, length[:, None])
  ring_end = np.clip((ring - phase + duty) * period, 0.0, length[:, None])
  keep = (ring_end - ring_start > 1e-3) & (length[:, None] > 1e-6)        # [S, J]
  along = (np.stack([ring_start, ring_end], -1) /
           np.maximum(length, 1e-6)[:, None, None])                       # [S, J, 2]
  points = first[:, None, None] + along[..., None] * (last - first)[:, None, None]  # [S, J, 2, 3]
  centres, depth = project(points)                                        # [S, J, 2, 2]
  widths = focal * (start_radius[striped, None, None] +
                    along * (end_radius - start_radius)[striped, None, None]) / depth  # [S, J, 2]
  side = lateral[striped][:, None, None, :]                               # [S, 1, 1, 2]
  band = band_offset[striped][..., None, None]                            # [S, K, 1, 1]
  near = (band - band_radius[None, :, None, None]) * widths[:, None]      # [S, K, J, 2]
  far = (band + band_radius[None, :, None, None]) * widths[:, None]
  ends = centres[:, None]                                                 # [S, 1, J, 2, 2]
  quads = np.stack([ends[..., 0, :] + near[..., 0, None] * side,
                    ends[..., 0, :] + far[..., 0, None] * side,
                    ends[..., 1, :] + far[..., 1, None] * side,
                    ends[..., 1, :] + near[..., 1, None] * side], -2)     # [S, K, J, 4, 2]
  quads = outlines.to_fixed_point(quads)
  return {int(i): [quads[m, k][keep[m]] for k in range(len(band_radius))]
          for m, i in enumerate(striped)}


def _draw_torso(canvas, project, regions, frame, pose, appearance, focal):
  """The torso regions, in order: convex hulls of projected spheres, shaded per pixel as one
  cylinder about the pelvis->thorax axis, with optional stripes across that axis."""
  pelvis, thorax = pose[_JOINT["pelvis"]], pose[_JOINT["thorax"]]
  (pelvis_px, thorax_px), axis_depth = project(np.stack([pelvis, thorax]))
  lateral_normal, light_lateral, light_view, peak = frame
  axis_px = thorax_px - pelvis_px
  axis_px_len = float(vectors.norm(axis_px))
  lateral_normal_px = vectors.normalize(lateral_normal[:2], np.array([1.0, 0.0]))
  if axis_px_len > 1e-3:
    axis_px = axis_px / axis_px_len
    across_px = np.array([-axis_px[1], axis_px[0]])
    across_px = across_px if across_px @ lateral_normal_px >= 0 else -across_px
  else:  # axis seen end-on
    across_px = lateral_normal_px
    axis_px = np.array([across_px[1], -across_px[0]])
  hulls = []
  for centres, radii, _ in regions:
    centres_px, depth = project(centres)
    radii_px = focal * radii / depth
    points = (centres_px[:, None, :] +
              radii_px[:, None, None] * _TORSO_DIRECTIONS[None]).reshape(-1, 2)
    hulls.append(cv2.convexHull(points.astype(np.float32))[:, 0, :].astype(np.float64))
  all_points = np.concatenate(hulls)
  canvas_height, canvas_width = canvas.shape[:2]
  x0, y0 = np.maximum(np.floor(all_points.min(0)).astype(int), 0)
  x1, y1 = np.minimum(np.ceil(all_points.max(0)).astype(int) + 1, [canvas_width, canvas_height])
  if x1 <= x0 or y1 <= y0:
    return
  # Region label per pixel, later regions over earlier ones.
  labels = np.zeros((y1 - y0, x1 - x0), np.uint8)
  for label, hull in enumerate(hulls, 1):
    cv2.fillConvexPoly(labels, outlines.to_fixed_point(hull - [x0, y0]), label, cv2.LINE_8,
                       outlines.SHIFT)
  ys, xs = np.nonzero(labels)
  if not len(ys):
    return
  region_of = labels[ys, xs] - 1
  parts = np.array([part for _, _, part in regions])[region_of]
  dx = xs + (x0 - pelvis_px[0])
  dy = ys + (y0 - pelvis_px[1])
  peak_brightness = shading.lambert(peak, light_lateral, light_view)
  if appearance.shading_layers > 1:
    # Lateral coordinate across the whole torso's silhouette, -1..1.
    lateral_all = (all_points - pelvis_px) @ across_px
    extent_positive = max(lateral_all.max(), 1e-3)
    extent_negative = max(-lateral_all.min(), 1e-3)
    lateral = dx * across_px[0] + dy * across_px[1]
    across = np.clip(np.where(lateral >= 0, lateral / extent_positive,
                              lateral / extent_negative) * 0.9, -1.0, 1.0)
    brightness = shading.lambert(across, light_lateral, light_view)
  else:
    brightness = shading.lambert(shading.BAND_SAMPLES, light_lateral, light_view).mean()
  brightness = ((1.0 - appearance.shading_falloff) * peak_brightness +
                appearance.shading_falloff * brightness)
  intensity = appearance.ambient + appearance.diffuse * brightness
  color = appearance.colors[parts].astype(np.float64) * np.reshape(intensity, (-1, 1))
  period, duty, contrast, phase = appearance.stripes[parts].T
  if np.any(period > 0):
    along = dx * axis_px[0] + dy * axis_px[1]
    period_px = np.maximum(period, 1e-6) * (focal / max(axis_depth.mean(), 1e-3))
    on = (period > 0) & (np.mod(along / period_px + phase, 1.0) < duty)
    color[on] *= (1.0 - contrast[on])[:, None]
  region = canvas[y0:y1, x0:x1]
  region[ys, xs, :3] = np.clip(color * 255.0 + 0.5, 0, 255).astype(np.uint8)
  region[ys, xs, 3] = 255
