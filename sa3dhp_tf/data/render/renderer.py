"""OpenCV renderer of posed 3D human bodies: the images of the synthetic domain-shift benchmark.

A body is a set of 3D primitives built from an H36M-17 camera-frame pose (mm, OpenCV frame):
  - limbs (upper/lower arms and legs, neck, feet) are tapered capsules; hands, the head's face and
    hair halves and the nose are spheres; the outline of each is the exact convex hull of its two
    projected end circles (projected radius f * r / z);
  - the torso is two convex hulls of spheres, the pelvis (pelvis, hips, waist; trousers colour)
    under the chest (waist, spine, thorax, shoulders; top colour), shaded per pixel like a
    cylinder about the pelvis->thorax axis;
  - facing direction is carried by SHAPE, not only colour: a protruding nose, a face half in skin
    colour and a hair half, feet pointing forward, an optional chest mark. A horizontal image flip
    is then the image of the mirrored pose (`pose_transforms.flip_pose`) for any left/right
    symmetric appearance.
Primitives are drawn far to near (painter's algorithm on mean depth), so nearer limbs occlude
farther ones; capsules and spheres are shaded in `shading_layers` nested bands offset towards the
light (Lambert on a cylinder, camera-frame light). Drawing happens at `supersample` x the size on
an RGBA canvas and is reduced with INTER_AREA (anti-aliasing); the alpha channel composites the
body over the background, then colour gain, blur, sensor noise and a JPEG round trip degrade it.

Appearance (colours, thickness, light, background, degradation strengths) is sampled once per
sequence by `sample_appearance`; `render_frame` draws one frame of it and only the sensor noise
changes between frames. Everything random comes from the numpy Generator passed in.

Image sizes are (height, width); images are uint8 RGB `[H, W, 3]`.
"""

import colorsys
import dataclasses
import math
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.render import styles as style_lib
from sa3dhp_tf.geometry import camera

MIN_DEPTH_MM = 50.0   # every joint must lie at least this far in front of the camera
_SHIFT = 4            # fixed-point bits of cv2 polygon coordinates
_SCALE = float(1 << _SHIFT)
_ARC = 10             # points per half outline of a capsule / sphere
_TORSO_ARC = 24       # points per torso sphere outline

PARTS = ("torso", "pelvis", "neck", "hair", "face", "nose", "chest_mark",
         "upper_arm_l", "upper_arm_r", "lower_arm_l", "lower_arm_r", "hand_l", "hand_r",
         "upper_leg_l", "upper_leg_r", "lower_leg_l", "lower_leg_r", "foot_l", "foot_r")
_PART = {name: i for i, name in enumerate(PARTS)}

_J = skeleton.JOINT_INDEX
# Limb capsules between joints: (part, radius kind, proximal joint, distal joint).
_LIMBS = (
    ("upper_leg_r", "upper_leg", "r_hip", "r_knee"),
    ("lower_leg_r", "lower_leg", "r_knee", "r_ankle"),
    ("upper_leg_l", "upper_leg", "l_hip", "l_knee"),
    ("lower_leg_l", "lower_leg", "l_knee", "l_ankle"),
    ("upper_arm_l", "upper_arm", "l_shoulder", "l_elbow"),
    ("lower_arm_l", "lower_arm", "l_elbow", "l_wrist"),
    ("upper_arm_r", "upper_arm", "r_shoulder", "r_elbow"),
    ("lower_arm_r", "lower_arm", "r_elbow", "r_wrist"),
)
_LIMB_A = np.array([_J[a] for _, _, a, _ in _LIMBS])
_LIMB_B = np.array([_J[b] for _, _, _, b in _LIMBS])
# Every primitive except the torso, in a fixed order (limbs first).
_PRIMS = tuple(p for p, _, _, _ in _LIMBS) + (
    "neck", "hand_l", "hand_r", "foot_l", "foot_r", "hair", "face", "nose", "chest_mark")
_PRIM_PART = np.array([_PART[p] for p in _PRIMS])
_NUM_PRIMS = len(_PRIMS)
_TORSO = _NUM_PRIMS   # index of the torso in the depth sort
# Torso spheres at joints: (joint, radius kind); the waist sphere is added between pelvis and spine.
_PELVIS_SPHERES = (("pelvis", "pelvis"), ("r_hip", "hip"), ("l_hip", "hip"))
_CHEST_SPHERES = (("spine", "spine"), ("thorax", "thorax"), ("l_shoulder", "shoulder"),
                  ("r_shoulder", "shoulder"))
_PELVIS_J = np.array([_J[j] for j, _ in _PELVIS_SPHERES])
_CHEST_J = np.array([_J[j] for j, _ in _CHEST_SPHERES])
_WAIST = 0.5   # waist (shirt hem) position between pelvis and spine joints

_TORSO_DIRS = np.stack([np.cos(np.linspace(0, 2 * np.pi, _TORSO_ARC, endpoint=False)),
                        np.sin(np.linspace(0, 2 * np.pi, _TORSO_ARC, endpoint=False))], -1)
_ARC_U = np.linspace(0.0, 1.0, _ARC)
_BAND_SAMPLES = np.linspace(-1.0, 1.0, 7)


@dataclasses.dataclass(frozen=True, eq=False)
class Appearance:
  """One person in one place: everything `render_frame` needs except the pose and the per-frame
  sensor noise. Sampled by `sample_appearance`; the background is a size-independent recipe,
  drawn (and cached) per image size."""
  style_name: str
  colors: np.ndarray            # [len(PARTS), 3] RGB in [0, 1]
  stripes: np.ndarray           # [len(PARTS), 4] (period_mm, duty, contrast, phase); period 0: none
  radii: Dict[str, Any]         # style radii times the sampled thickness scale (mm)
  head_radius: float            # mm
  nose_radius: float            # fraction of the head radius
  nose_protrusion: float        # fraction of the head radius
  hand_length: float            # mm
  foot_length: float            # mm
  chest_mark_radius: float      # mm; 0: no chest mark
  light: np.ndarray             # [3] unit vector towards the light, camera frame
  ambient: float
  diffuse: float
  shading_layers: int
  shading_falloff: float
  background: Dict[str, Any]    # recipe, see `_sample_background`
  color_gain: np.ndarray        # [3]
  blur_sigma: float             # px at 64 px height
  noise_std: float              # grey levels
  jpeg_quality: int             # 0: no JPEG round trip
  supersample: int
  _cache: Dict[Any, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

  def background_image(self, image_size) -> np.ndarray:
    """The background `[H, W, 3]` float32 in [0, 1] (cached per size; do not modify)."""
    height, width = _image_size(image_size)
    key = ("background", height, width)
    if key not in self._cache:
      image = _render_background(self.background, height, width)
      image.setflags(write=False)
      self._cache[key] = image
    return self._cache[key]


# ---------------------------------------------------------------------------------------------
# Input checks


def _image_size(image_size) -> Tuple[int, int]:
  if np.isscalar(image_size):
    image_size = (image_size, image_size)
  try:
    height, width = image_size
  except (TypeError, ValueError):
    raise ValueError(f"image_size must be (height, width), got {image_size!r}") from None
  if int(height) != height or int(width) != width or height < 4 or width < 4:
    raise ValueError(f"image_size must be two integers >= 4 (height, width), got {image_size!r}")
  return int(height), int(width)


def validate_pose(pose_camera, name: str = "pose_camera") -> np.ndarray:
  """Checks a camera-frame pose `[17, 3]` (mm) for rendering; returns it as float64. Raises a
  ValueError naming the problem (shape, non-finite joint, joint behind or too near the camera)."""
  pose = np.asarray(pose_camera)
  if pose.shape != (skeleton.NUM_JOINTS, 3):
    raise ValueError(f"{name} must have shape [{skeleton.NUM_JOINTS}, 3] (H36M-17 joints, mm, "
                     f"camera frame), got {pose.shape}")
  try:
    pose = pose.astype(np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{name} must be numeric, got dtype {pose.dtype}") from None
  finite = np.isfinite(pose).all(axis=-1)
  if not finite.all():
    j = int(np.argmin(finite))
    raise ValueError(f"{name} has a non-finite (NaN/inf) coordinate at joint {j} "
                     f"({skeleton.JOINT_NAMES[j]}): {pose[j].tolist()}")
  near = pose[:, 2] < MIN_DEPTH_MM
  if near.any():
    j = int(np.argmax(near))
    raise ValueError(f"{name}: joint {j} ({skeleton.JOINT_NAMES[j]}) is at depth {pose[j, 2]:.1f} "
                     f"mm, behind or too near the camera; every joint must lie at least "
                     f"{MIN_DEPTH_MM:.0f} mm in front of it (z forward)")
  return pose


def _check_intrinsics(intrinsics):
  try:
    values = np.array([intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy], np.float64)
  except AttributeError:
    raise ValueError(f"intrinsics must be a camera.Intrinsics, got {type(intrinsics).__name__}"
                     ) from None
  if not np.isfinite(values).all() or values[0] <= 0 or values[1] <= 0:
    raise ValueError(f"intrinsics must be finite with positive focal lengths, got {intrinsics}")
  return values


# ---------------------------------------------------------------------------------------------
# Appearance


def _hsv_sample(rng, color_range):
  (h0, h1), (s0, s1), (v0, v1) = color_range
  return np.array([rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1)])


def _hsv_to_rgb(hsv):
  h, s, v = hsv
  return np.array(colorsys.hsv_to_rgb((h / 360.0) % 1.0, min(max(s, 0.0), 1.0),
                                      min(max(v, 0.0), 1.0)))


def sample_appearance(style: style_lib.RenderStyle, rng: np.random.Generator) -> Appearance:
  """Samples one person in one place from `style`: clothes, skin and hair colours, stripes,
  thickness, head size, light, background, colour cast, blur, noise level and JPEG quality."""
  if not isinstance(style, style_lib.RenderStyle):
    raise ValueError(f"style must be a RenderStyle, got {type(style).__name__}")
  group_hsv = {g: _hsv_sample(rng, style.palette[g]) for g in style_lib.COLOR_GROUPS}
  long_sleeves = rng.uniform() < style.long_sleeve_prob
  long_trousers = rng.uniform() < style.long_trouser_prob
  group_of = {
      "torso": "top", "pelvis": "bottom", "neck": "skin", "hair": "hair", "face": "skin", "nose": "skin",
      "chest_mark": "mark", "upper_arm": "top", "lower_arm": "top" if long_sleeves else "skin",
      "hand": "skin", "upper_leg": "bottom", "lower_leg": "bottom" if long_trousers else "skin",
      "foot": "shoes"}
  # One value jitter per part kind, shared by its left and right instance (symmetric clothes);
  # left/right differences come only from the explicit side offsets.
  kinds = list(group_of)
  jitter = dict(zip(kinds, rng.uniform(*style.part_value_jitter, size=len(kinds))))
  side_value = rng.uniform(*style.side_value_offset)
  side_hue = rng.uniform(*style.side_hue_offset)
  colors = np.zeros((len(PARTS), 3))
  for i, part in enumerate(PARTS):
    kind, side = (part[:-2], part[-1]) if part[-2:] in ("_l", "_r") else (part, "")
    hsv = group_hsv[group_of[kind]].copy()
    hsv[2] *= jitter[kind]
    if kind == "nose":
      hsv[2] *= 0.7
    if side:
      sign = 1.0 if side == "l" else -1.0
      hsv[0] += sign * side_hue
      hsv[2] *= 1.0 + sign * side_value
    colors[i] = _hsv_to_rgb(hsv)
  stripes = np.zeros((len(PARTS), 4))
  for group in style_lib.TEXTURED_GROUPS:
    if rng.uniform() < style.stripe_prob[group]:
      params = (rng.uniform(*style.stripe_period_mm), rng.uniform(*style.stripe_duty),
                rng.uniform(*style.stripe_contrast), rng.uniform())
      for i, part in enumerate(PARTS):
        kind = part[:-2] if part[-2:] in ("_l", "_r") else part
        if group_of[kind] == group and kind != "chest_mark":
          stripes[i] = params
  scale = rng.uniform(*style.thickness_scale)
  radii = {k: (tuple(scale * r for r in v) if isinstance(v, tuple) else scale * v)
           for k, v in style.radii_mm.items()}
  head_radius = rng.uniform(*style.head_radius_mm)
  hand_length = rng.uniform(*style.hand_length_mm)
  foot_length = rng.uniform(*style.foot_length_mm)
  chest_mark = rng.uniform() < style.chest_mark_prob
  chest_mark_radius = rng.uniform(*style.chest_mark_radius_mm) if chest_mark else 0.0
  angle = math.radians(rng.uniform(*style.light_angle))
  roll = math.radians(rng.uniform(*style.light_roll))
  light = np.array([math.sin(angle) * math.sin(roll), -math.sin(angle) * math.cos(roll),
                    -math.cos(angle)])
  ambient = rng.uniform(*style.ambient)
  diffuse = rng.uniform(*style.diffuse)
  background = _sample_background(style, rng)
  color_gain = rng.uniform(*style.color_gain, size=3)
  blur_sigma = rng.uniform(*style.blur_sigma)
  noise_std = rng.uniform(*style.noise_std)
  use_jpeg = rng.uniform() < style.jpeg_prob
  quality = int(round(rng.uniform(*style.jpeg_quality)))
  return Appearance(
      style_name=style.name, colors=colors.astype(np.float32), stripes=stripes, radii=radii,
      head_radius=head_radius, nose_radius=style.nose_radius,
      nose_protrusion=style.nose_protrusion, hand_length=hand_length, foot_length=foot_length,
      chest_mark_radius=chest_mark_radius, light=light, ambient=ambient, diffuse=diffuse,
      shading_layers=style.shading_layers, shading_falloff=style.shading_falloff,
      background=background, color_gain=color_gain.astype(np.float32), blur_sigma=blur_sigma,
      noise_std=noise_std, jpeg_quality=quality if use_jpeg else 0,
      supersample=style.supersample)


# ---------------------------------------------------------------------------------------------
# Background


def _sample_background(style, rng) -> Dict[str, Any]:
  weights = np.asarray(style.background_weights, np.float64)
  kind = style.background_kinds[int(rng.choice(len(weights), p=weights / weights.sum()))]
  base_hsv = _hsv_sample(rng, style.background_palette)
  contrast = rng.uniform(*style.background_contrast)
  second_hsv = base_hsv + np.array([rng.uniform(-30, 30), 0.0,
                                    contrast * (1.0 if base_hsv[2] < 0.5 else -1.0)])
  recipe = {"kind": kind, "base": _hsv_to_rgb(base_hsv), "second": _hsv_to_rgb(second_hsv),
            "angle": rng.uniform(0.0, 2 * np.pi), "grid": None, "shapes": []}
  if kind == "noise":
    cells = int(round(rng.uniform(*style.noise_background_cells)))
    grid = recipe["base"] + contrast * (rng.uniform(-1, 1, (cells, cells, 1))
                                        + 0.5 * rng.uniform(-1, 1, (cells, cells, 3)))
    recipe["grid"] = np.clip(grid, 0.0, 1.0).astype(np.float32)
  if rng.uniform() < style.clutter_prob:
    count = int(round(rng.uniform(*style.clutter_count)))
    for _ in range(count):
      shape = style.clutter_shapes[int(rng.integers(len(style.clutter_shapes)))]
      recipe["shapes"].append({
          "shape": shape, "color": _hsv_to_rgb(_hsv_sample(rng, style.clutter_palette)),
          "centre": rng.uniform(-0.1, 1.1, 2), "size": rng.uniform(*style.clutter_size),
          "aspect": rng.uniform(0.15, 1.0), "angle": rng.uniform(0.0, 180.0),
          "points": rng.uniform(-1.0, 1.0, (3, 2)), "shade": rng.uniform(0.6, 0.9)})
  return recipe


def _render_background(recipe, height, width) -> np.ndarray:
  base = np.asarray(recipe["base"], np.float32)
  if recipe["kind"] == "flat":
    image = np.broadcast_to(base, (height, width, 3)).copy()
  elif recipe["kind"] == "gradient":
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = np.array([math.cos(recipe["angle"]), math.sin(recipe["angle"])], np.float32)
    proj = (xs - (width - 1) / 2) * direction[0] + (ys - (height - 1) / 2) * direction[1]
    w = (proj / max(1.0, 0.5 * math.hypot(width, height)) + 1.0) * 0.5
    image = base + w[..., None] * (np.asarray(recipe["second"], np.float32) - base)
  else:  # noise
    image = cv2.resize(recipe["grid"], (width, height), interpolation=cv2.INTER_CUBIC)
  image = np.clip(image, 0.0, 1.0).astype(np.float32)
  if recipe["shapes"]:
    size_px = min(height, width)
    canvas = np.ascontiguousarray(image * 255.0).astype(np.uint8)
    for s in recipe["shapes"]:
      color = tuple(float(c) * 255.0 for c in s["color"])
      cx, cy = s["centre"][0] * (width - 1), s["centre"][1] * (height - 1)
      size = max(1.0, s["size"] * size_px)
      if s["shape"] == "rect":
        box = cv2.boxPoints(((cx, cy), (size, size * s["aspect"]), s["angle"]))
        cv2.fillConvexPoly(canvas, _fixed(box), color, cv2.LINE_AA, _SHIFT)
      elif s["shape"] == "ellipse":
        cv2.ellipse(canvas, ((cx, cy), (size, size * s["aspect"]), s["angle"]), color, -1,
                    cv2.LINE_AA)
      elif s["shape"] == "triangle":
        cv2.fillConvexPoly(canvas, _fixed(np.array([cx, cy]) + 0.6 * size * s["points"]), color,
                           cv2.LINE_AA, _SHIFT)
      else:  # line, stroke: a segment; a stroke is limb-like (thick, shaded like a capsule)
        t = math.radians(s["angle"])
        half = 0.5 * size * np.array([math.cos(t), math.sin(t)])
        p0, p1 = np.array([cx, cy]) - half, np.array([cx, cy]) + half
        if s["shape"] == "line":
          thickness = max(1, int(round(0.04 * size_px * s["aspect"])))
          cv2.line(canvas, _fixed(p0), _fixed(p1), color, thickness, cv2.LINE_AA, _SHIFT)
        else:
          radius = max(0.5, 0.05 * size_px * (0.5 + s["aspect"]))
          outline = _capsule_outlines(p0[None], p1[None], np.array([radius]),
                                      np.array([radius]))[0]
          cv2.fillConvexPoly(canvas, _fixed(outline), tuple(c * s["shade"] for c in color),
                             cv2.LINE_AA, _SHIFT)
          inner = _capsule_outlines(p0[None], p1[None], np.array([0.55 * radius]),
                                    np.array([0.55 * radius]))[0]
          cv2.fillConvexPoly(canvas, _fixed(inner), color, cv2.LINE_AA, _SHIFT)
    image = canvas.astype(np.float32) / 255.0
  return image


# ---------------------------------------------------------------------------------------------
# Geometry


def _fixed(points) -> np.ndarray:
  return np.round(np.asarray(points, np.float64) * _SCALE).astype(np.int32)


def _norm(v):
  return np.sqrt(np.sum(v * v, axis=-1))


def _cross(a, b):
  a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
  b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
  return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], -1)


def _normalize(v, fallback=None):
  n = _norm(v)[..., None]
  out = v / np.maximum(n, 1e-9)
  if fallback is not None:
    out = np.where(n > 1e-9, out, fallback)
  return out


def _capsule_outlines(c0, c1, r0, r1):
  """Convex hull of two circles (centres `[N, 2]`, radii `[N]`) as polygons `[N, 2 * _ARC, 2]`,
  counter-clockwise; a sphere is a capsule with c0 == c1."""
  d = c1 - c0
  length = _norm(d)
  safe = length > 1e-6
  dh = np.where(safe[:, None], d / np.maximum(length, 1e-6)[:, None], np.array([1.0, 0.0]))
  nh = np.stack([-dh[:, 1], dh[:, 0]], -1)
  s = np.where(safe, (r0 - r1) / np.maximum(length, 1e-6), 0.0)
  g = np.arccos(np.clip(s, -1.0, 1.0))[:, None]
  th1 = -g + 2.0 * g * _ARC_U                       # arc around c1: [-g, g]
  th0 = g + (2.0 * np.pi - 2.0 * g) * _ARC_U        # arc around c0: [g, 2 pi - g]

  def arc(c, r, th):
    return c[:, None, :] + r[:, None, None] * (np.cos(th)[..., None] * dh[:, None, :]
                                               + np.sin(th)[..., None] * nh[:, None, :])
  return np.concatenate([arc(c1, r1, th1), arc(c0, r0, th0)], axis=1)


def _body_geometry(pose, app: Appearance):
  """3D primitives of the body: (p0 [N, 3], p1 [N, 3], r0 [N], r1 [N]) for `_PRIMS` and the torso
  regions [(sphere centres [M, 3], radii [M], part index)] drawn in that order."""
  radii = app.radii
  pelvis, thorax = pose[_J["pelvis"]], pose[_J["thorax"]]
  across = (pose[_J["l_hip"]] - pose[_J["r_hip"]]) + (pose[_J["l_shoulder"]]
                                                      - pose[_J["r_shoulder"]])
  up = _normalize(thorax - pelvis, np.array([0.0, -1.0, 0.0]))
  facing = _normalize(_cross(across, up), np.array([0.0, 0.0, -1.0]))
  # Head: centre below the head-top joint; face direction from the nose's offset from the
  # thorax->head axis, leaning on the torso's facing direction when the nose is on that axis.
  head_radius = app.head_radius
  head_up = _normalize(pose[_J["head"]] - thorax, up)
  nose_offset = pose[_J["neck_nose"]] - thorax
  nose_offset = nose_offset - (nose_offset @ head_up) * head_up
  head_facing = _normalize(nose_offset + 60.0 * facing, facing)
  centre = pose[_J["head"]] - 0.75 * head_radius * head_up
  hair = centre - 0.2 * head_radius * head_facing + 0.1 * head_radius * head_up
  face = centre + 0.15 * head_radius * head_facing - 0.08 * head_radius * head_up
  nose_r = app.nose_radius * head_radius
  nose = centre + (1.0 + app.nose_protrusion) * head_radius * head_facing \
      - nose_r * head_facing - 0.12 * head_radius * head_up

  p0 = np.empty((_NUM_PRIMS, 3))
  p1 = np.empty((_NUM_PRIMS, 3))
  r0 = np.empty(_NUM_PRIMS)
  r1 = np.empty(_NUM_PRIMS)
  n = len(_LIMBS)
  p0[:n], p1[:n] = pose[_LIMB_A], pose[_LIMB_B]
  for i, (_, kind, _, _) in enumerate(_LIMBS):
    r0[i], r1[i] = radii[kind]
  i = n
  p0[i], p1[i] = thorax, centre - 0.5 * head_radius * head_up     # neck
  r0[i], r1[i] = radii["neck"]
  for side in ("l", "r"):                                          # hands
    i += 1
    wrist, elbow = pose[_J[f"{side}_wrist"]], pose[_J[f"{side}_elbow"]]
    p0[i] = p1[i] = wrist + 0.4 * app.hand_length * _normalize(wrist - elbow, up)
    r0[i] = r1[i] = radii["hand"]
  for side in ("l", "r"):                                          # feet, pointing forward
    i += 1
    ankle, knee = pose[_J[f"{side}_ankle"]], pose[_J[f"{side}_knee"]]
    shin = _normalize(ankle - knee, -up)
    forward = _normalize(facing - (facing @ shin) * shin, facing)
    p0[i] = ankle - 0.15 * app.foot_length * forward
    p1[i] = ankle + 0.85 * app.foot_length * forward + 0.5 * radii["foot"] * shin
    r0[i] = radii["foot"]
    r1[i] = 0.85 * radii["foot"]
  for point, radius in ((hair, 0.9 * head_radius), (face, 0.85 * head_radius), (nose, nose_r)):
    i += 1
    p0[i] = p1[i] = point
    r0[i] = r1[i] = radius
  i += 1                                                           # chest mark
  chest = pose[_J["spine"]] + 0.6 * (thorax - pose[_J["spine"]])
  p0[i] = p1[i] = chest + 0.8 * radii["spine"] * facing
  r0[i] = r1[i] = app.chest_mark_radius
  waist = pelvis + _WAIST * (pose[_J["spine"]] - pelvis)
  pelvis_region = (np.concatenate([pose[_PELVIS_J], waist[None]]),
                   np.array([radii[k] for _, k in _PELVIS_SPHERES] + [radii["pelvis"]]),
                   _PART["pelvis"])
  chest_region = (np.concatenate([pose[_CHEST_J], waist[None]]),
                  np.array([radii[k] for _, k in _CHEST_SPHERES] + [0.92 * radii["spine"]]),
                  _PART["torso"])
  return p0, p1, r0, r1, (pelvis_region, chest_region)


def _shading_frames(centres, axes, light):
  """Per primitive: the surface normal facing the camera across the axis (e_v), the lateral
  normal (e_s), their dot products with the light, and the brightest lateral coordinate t*."""
  view = _normalize(-centres)
  axis_len = _norm(axes)
  a = axes / np.maximum(axis_len, 1e-9)[:, None]
  ev = view - np.sum(view * a, -1, keepdims=True) * a
  ev_len = _norm(ev)
  use_axis = (axis_len > 1e-6) & (ev_len > 1e-3)
  ev = np.where(use_axis[:, None], ev / np.maximum(ev_len, 1e-9)[:, None], view)
  es_axis = _cross(a, ev)
  lateral = light - (view @ light)[:, None] * view
  lateral_len = _norm(lateral)
  fallback = _normalize(_cross(view, np.array([0.0, 1.0, 0.0])), np.array([1.0, 0.0, 0.0]))
  es_sphere = np.where((lateral_len > 1e-6)[:, None],
                       lateral / np.maximum(lateral_len, 1e-9)[:, None], fallback)
  es = np.where(use_axis[:, None], es_axis, es_sphere)
  ls, lv = es @ light, ev @ light
  peak = np.where(lv > 0, ls / np.maximum(np.hypot(ls, lv), 1e-9), np.sign(ls))
  return es, ls, lv, peak


def _lambert(t, ls, lv):
  return np.maximum(0.0, t * ls + np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0)) * lv)


# ---------------------------------------------------------------------------------------------
# Rendering


def render_body(pose_camera, intrinsics: camera.Intrinsics, appearance: Appearance,
                image_size=(64, 64)):
  """Draws the body alone. Returns (colour `[H, W, 3]` float32 premultiplied by alpha, alpha
  `[H, W]` float32), both in [0, 1]: the foreground layer before background and degradations."""
  pose = validate_pose(pose_camera)
  fx, fy, cx, cy = _check_intrinsics(intrinsics)
  height, width = _image_size(image_size)
  app = appearance
  ss = app.supersample
  focal = ss * math.sqrt(fx * fy)

  def project(points):
    z = np.maximum(points[..., 2], 0.5 * MIN_DEPTH_MM)
    u = ss * (fx * points[..., 0] / z + cx) + (ss - 1) / 2.0
    v = ss * (fy * points[..., 1] / z + cy) + (ss - 1) / 2.0
    return np.stack([u, v], -1), z

  p0, p1, r0, r1, torso = _body_geometry(pose, app)
  c0, z0 = project(p0)
  c1, z1 = project(p1)
  rp0, rp1 = focal * r0 / z0, focal * r1 / z1
  # Shading frames of every primitive and (last row) of the torso cylinder.
  pelvis, thorax = pose[_J["pelvis"]], pose[_J["thorax"]]
  es, ls, lv, peak = _shading_frames(
      np.concatenate([0.5 * (p0 + p1), 0.5 * (pelvis + thorax)[None]]),
      np.concatenate([p1 - p0, (thorax - pelvis)[None]]), app.light)
  torso_frame = es[-1], ls[-1], lv[-1], peak[-1]
  es, ls, lv, peak = es[:-1], ls[:-1], lv[:-1], peak[:-1]
  # Lateral image direction of each primitive: perpendicular to its projected axis (or the
  # highlight direction for spheres), oriented along e_s.
  d2 = c1 - c0
  d2_len = _norm(d2)
  perp = np.stack([-d2[:, 1], d2[:, 0]], -1) / np.maximum(d2_len, 1e-9)[:, None]
  es2 = _normalize(es[:, :2], np.array([1.0, 0.0]))
  lateral = np.where((d2_len > 1e-3)[:, None], perp, es2)
  lateral *= np.where(np.sum(lateral * es2, -1) < 0, -1.0, 1.0)[:, None]

  layers = app.shading_layers
  rho = 1.0 - np.arange(layers) / layers                                 # [K]
  offset = peak[:, None] * (1.0 - rho)[None]                             # [N, K]
  t = offset[..., None] + rho[None, :, None] * _BAND_SAMPLES             # [N, K, 7]
  q = _lambert(t, ls[:, None, None], lv[:, None, None]).mean(-1)
  q_peak = _lambert(peak, ls, lv)[:, None]
  q = (1.0 - app.shading_falloff) * q_peak + app.shading_falloff * q
  intensity = app.ambient + app.diffuse * q                              # [N, K]
  base = app.colors[_PRIM_PART].astype(np.float64)                       # [N, 3]
  layer_colors = np.clip(base[:, None, :] * intensity[..., None] * 255.0, 0, 255)

  # Outlines of every layer of every primitive.
  n = _NUM_PRIMS
  shift0 = c0[:, None, :] + (offset * rp0[:, None])[..., None] * lateral[:, None, :]
  shift1 = c1[:, None, :] + (offset * rp1[:, None])[..., None] * lateral[:, None, :]
  outlines = _capsule_outlines(shift0.reshape(-1, 2), shift1.reshape(-1, 2),
                               (rho[None] * rp0[:, None]).reshape(-1),
                               (rho[None] * rp1[:, None]).reshape(-1))
  outlines = _fixed(outlines).reshape(n, layers, -1, 2)

  canvas = np.zeros((height * ss, width * ss, 4), np.uint8)
  depth = np.empty(n + 1)
  depth[:n] = 0.5 * (p0[:, 2] + p1[:, 2])
  depth[_TORSO] = np.concatenate([c for c, _, _ in torso])[:, 2].mean()
  stripes = app.stripes[_PRIM_PART]
  quads = _stripe_quads(p0, p1, r0, r1, stripes, project, focal, lateral, offset, rho)
  opaque = np.full((n, layers, 1), 255.0)
  colors = np.concatenate([layer_colors, opaque], -1).tolist()
  stripe_colors = np.concatenate(
      [layer_colors * (1.0 - stripes[:, 2, None, None]), opaque], -1).tolist()
  visible = (r0 > 0) | (r1 > 0)
  for index in np.argsort(-depth, kind="stable").tolist():
    if index == _TORSO:
      _draw_torso(canvas, project, torso, torso_frame, pose, app, focal)
      continue
    if not visible[index]:
      continue
    prim_quads = quads.get(index)
    for k in range(layers):
      cv2.fillConvexPoly(canvas, outlines[index, k], colors[index][k], cv2.LINE_8, _SHIFT)
      if prim_quads is not None and len(prim_quads[k]):
        cv2.fillPoly(canvas, list(prim_quads[k]), stripe_colors[index][k], cv2.LINE_8, _SHIFT)
  small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA) if ss > 1 else canvas
  small = small.astype(np.float32) * (1.0 / 255.0)
  return small[..., :3], small[..., 3]


def _stripe_quads(p0, p1, r0, r1, stripes, project, focal, lateral, offset, rho):
  """Stripes (rings around the capsules whose `stripes` period is > 0) as fixed-point quads in
  each shading layer's band: {primitive index: [K arrays [M, 4, 2]]}."""
  idx = np.nonzero((stripes[:, 0] > 0) & (r0 > 0))[0]
  if not len(idx):
    return {}
  a, b = p0[idx], p1[idx]
  length = _norm(b - a)
  period, duty, phase = stripes[idx, 0, None], stripes[idx, 1, None], stripes[idx, 3, None]
  j = np.arange(-1, int(np.max(length / period[:, 0])) + 2)[None]        # [1, J]
  start = np.clip((j - phase) * period, 0.0, length[:, None])
  end = np.clip((j - phase + duty) * period, 0.0, length[:, None])
  keep = (end - start > 1e-3) & (length[:, None] > 1e-6)                 # [S, J]
  s = np.stack([start, end], -1) / np.maximum(length, 1e-6)[:, None, None]   # [S, J, 2]
  points = a[:, None, None] + s[..., None] * (b - a)[:, None, None]      # [S, J, 2, 3]
  centres, z = project(points)                                           # [S, J, 2, 2]
  widths = focal * (r0[idx, None, None] + s * (r1 - r0)[idx, None, None]) / z   # [S, J, 2]
  lat = lateral[idx][:, None, None, :]                                   # [S, 1, 1, 2]
  band = offset[idx][..., None, None]                                    # [S, K, 1, 1]
  lo = (band - rho[None, :, None, None]) * widths[:, None]               # [S, K, J, 2]
  hi = (band + rho[None, :, None, None]) * widths[:, None]
  c = centres[:, None]                                                   # [S, 1, J, 2, 2]
  quads = np.stack([c[..., 0, :] + lo[..., 0, None] * lat, c[..., 0, :] + hi[..., 0, None] * lat,
                    c[..., 1, :] + hi[..., 1, None] * lat, c[..., 1, :] + lo[..., 1, None] * lat],
                   -2)                                                   # [S, K, J, 4, 2]
  quads = _fixed(quads)
  return {int(i): [quads[m, k][keep[m]] for k in range(len(rho))] for m, i in enumerate(idx)}


def _draw_torso(canvas, project, regions, frame, pose, app, focal):
  """The torso regions, in order: convex hulls of projected spheres, shaded per pixel as one
  cylinder about the pelvis->thorax axis, with optional stripes across that axis."""
  pelvis, thorax = pose[_J["pelvis"]], pose[_J["thorax"]]
  (o2, t2), z_axis = project(np.stack([pelvis, thorax]))
  es, ls, lv, peak = frame
  a2 = t2 - o2
  a2_len = float(_norm(a2))
  es2 = _normalize(es[:2], np.array([1.0, 0.0]))
  if a2_len > 1e-3:
    a2 = a2 / a2_len
    n2 = np.array([-a2[1], a2[0]])
    n2 = n2 if n2 @ es2 >= 0 else -n2
  else:  # axis seen end-on
    n2 = es2
    a2 = np.array([n2[1], -n2[0]])
  hulls = []
  for centres, radii, _ in regions:
    c2, z = project(centres)
    rp = focal * radii / z
    points = (c2[:, None, :] + rp[:, None, None] * _TORSO_DIRS[None]).reshape(-1, 2)
    hulls.append(cv2.convexHull(points.astype(np.float32))[:, 0, :].astype(np.float64))
  all_points = np.concatenate(hulls)
  h, w = canvas.shape[:2]
  x0, y0 = np.maximum(np.floor(all_points.min(0)).astype(int), 0)
  x1, y1 = np.minimum(np.ceil(all_points.max(0)).astype(int) + 1, [w, h])
  if x1 <= x0 or y1 <= y0:
    return
  # Region label per pixel, later regions over earlier ones.
  labels = np.zeros((y1 - y0, x1 - x0), np.uint8)
  for label, hull in enumerate(hulls, 1):
    cv2.fillConvexPoly(labels, _fixed(hull - [x0, y0]), label, cv2.LINE_8, _SHIFT)
  ys, xs = np.nonzero(labels)
  if not len(ys):
    return
  region_of = labels[ys, xs] - 1
  parts = np.array([part for _, _, part in regions])[region_of]
  dx = xs + (x0 - o2[0])
  dy = ys + (y0 - o2[1])
  q_peak = _lambert(peak, ls, lv)
  if app.shading_layers > 1:
    # Lateral coordinate across the whole torso's silhouette, -1..1.
    lateral_all = (all_points - o2) @ n2
    ext_pos = max(lateral_all.max(), 1e-3)
    ext_neg = max(-lateral_all.min(), 1e-3)
    lat = dx * n2[0] + dy * n2[1]
    t = np.clip(np.where(lat >= 0, lat / ext_pos, lat / ext_neg) * 0.9, -1.0, 1.0)
    q = _lambert(t, ls, lv)
  else:
    q = _lambert(_BAND_SAMPLES, ls, lv).mean()
  q = (1.0 - app.shading_falloff) * q_peak + app.shading_falloff * q
  intensity = app.ambient + app.diffuse * q
  color = app.colors[parts].astype(np.float64) * np.reshape(intensity, (-1, 1))
  period, duty, contrast, phase = app.stripes[parts].T
  if np.any(period > 0):
    along = dx * a2[0] + dy * a2[1]
    period_px = np.maximum(period, 1e-6) * (focal / max(z_axis.mean(), 1e-3))
    on = (period > 0) & (np.mod(along / period_px + phase, 1.0) < duty)
    color[on] *= (1.0 - contrast[on])[:, None]
  region = canvas[y0:y1, x0:x1]
  region[ys, xs, :3] = np.clip(color * 255.0 + 0.5, 0, 255).astype(np.uint8)
  region[ys, xs, 3] = 255


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
  """Encodes an RGB uint8 image as JPEG at `quality` and decodes it (real codec artefacts)."""
  ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                         [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
  if not ok:
    raise RuntimeError(f"JPEG encoding failed at quality {quality}")
  return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def degrade(image: np.ndarray, appearance: Appearance, rng: np.random.Generator,
            apply_jpeg: bool = True) -> np.ndarray:
  """Camera and sensor model on a float image `[H, W, 3]` in [0, 1]: colour gain, Gaussian blur
  (sigma scaled with the height), per-frame Gaussian noise (drawn from rng), 8-bit quantisation
  and, if `apply_jpeg` and the appearance has one, a JPEG round trip. Returns uint8."""
  app = appearance
  image = image * app.color_gain
  sigma = app.blur_sigma * image.shape[0] / 64.0
  if sigma > 0.05:
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma,
                             borderType=cv2.BORDER_REFLECT)
  if app.noise_std > 0:
    image = image + rng.standard_normal(image.shape, dtype=np.float32) * (app.noise_std / 255.0)
  out = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
  if apply_jpeg and app.jpeg_quality > 0:
    out = jpeg_roundtrip(out, app.jpeg_quality)
  return out


def render_frame(pose_camera, intrinsics: camera.Intrinsics, appearance: Appearance,
                 rng: np.random.Generator, image_size=(64, 64),
                 style: Optional[style_lib.RenderStyle] = None,
                 apply_jpeg: bool = True) -> np.ndarray:
  """One frame of `appearance`: body over its background, degraded. uint8 `[H, W, 3]`.

  `rng` only draws this frame's sensor noise. `style`, if given, must be the style the appearance
  was sampled from (a guard against mixing styles). With `apply_jpeg=False` the JPEG round trip is
  left to the caller (`appearance.jpeg_quality`, 0 for none)."""
  if not isinstance(appearance, Appearance):
    raise ValueError(f"appearance must be an Appearance (see sample_appearance), got "
                     f"{type(appearance).__name__}")
  if style is not None and style.name != appearance.style_name:
    raise ValueError(f"appearance was sampled from style {appearance.style_name!r}, not "
                     f"{style.name!r}")
  color, alpha = render_body(pose_camera, intrinsics, appearance, image_size)
  background = appearance.background_image(image_size)
  image = color + background * (1.0 - alpha[..., None])
  return degrade(image, appearance, rng, apply_jpeg)


def render_pose(pose_camera, intrinsics: camera.Intrinsics, style: style_lib.RenderStyle,
                rng: np.random.Generator, image_size=(64, 64), apply_jpeg: bool = True
                ) -> np.ndarray:
  """Renders one pose with a freshly sampled appearance of `style`. uint8 `[H, W, 3]`."""
  validate_pose(pose_camera)
  appearance = sample_appearance(style, rng)
  return render_frame(pose_camera, intrinsics, appearance, rng, image_size, style, apply_jpeg)


def render_sequence(poses_camera, intrinsics: Union[camera.Intrinsics,
                                                    Sequence[camera.Intrinsics]],
                    style: style_lib.RenderStyle, rng: np.random.Generator, image_size=(64, 64),
                    appearance: Optional[Appearance] = None, apply_jpeg: bool = True
                    ) -> np.ndarray:
  """Renders a sequence `[T, 17, 3]` as one person in one place: the appearance (given, or
  sampled once from `style`) is shared by every frame; only sensor noise varies. `intrinsics` is
  one `Intrinsics` or one per frame. Returns uint8 `[T, H, W, 3]`."""
  poses = np.asarray(poses_camera)
  if poses.ndim != 3 or poses.shape[1:] != (skeleton.NUM_JOINTS, 3):
    raise ValueError(f"poses_camera must have shape [T, {skeleton.NUM_JOINTS}, 3], got "
                     f"{poses.shape}")
  if isinstance(intrinsics, camera.Intrinsics):
    intrinsics = [intrinsics] * len(poses)
  if len(intrinsics) != len(poses):
    raise ValueError(f"got {len(intrinsics)} intrinsics for {len(poses)} frames")
  for t in range(len(poses)):
    try:
      validate_pose(poses[t], f"poses_camera[{t}]")
    except ValueError as e:
      raise ValueError(f"frame {t}: {e}") from None
  if appearance is None:
    appearance = sample_appearance(style, rng)
  height, width = _image_size(image_size)
  frames = np.empty((len(poses), height, width, 3), np.uint8)
  for t in range(len(poses)):
    frames[t] = render_frame(poses[t], intrinsics[t], appearance, rng, (height, width), style,
                             apply_jpeg)
  return frames
