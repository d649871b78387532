"""Appearance: one person in one place, sampled once per sequence from a render style (colours,
stripes, thickness, head, light, background, degradation strengths)."""

import dataclasses
import math
from typing import Any, Dict

import numpy as np

from sa3dhp_tf.data.render import background as background_lib
from sa3dhp_tf.data.render import checks
from sa3dhp_tf.data.render import colors as color_lib
from sa3dhp_tf.data.render import styles as style_lib


PARTS = ("torso", "pelvis", "neck", "hair", "face", "nose", "chest_mark",
         "upper_arm_l", "upper_arm_r", "lower_arm_l", "lower_arm_r", "hand_l", "hand_r",
         "upper_leg_l", "upper_leg_r", "lower_leg_l", "lower_leg_r", "foot_l", "foot_r")
PART_INDEX = {name: i for i, name in enumerate(PARTS)}


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
  background: Dict[str, Any]    # recipe, see `sample_background`
  color_gain: np.ndarray        # [3]
  blur_sigma: float             # px at 64 px height
  noise_std: float              # grey levels
  jpeg_quality: int             # 0: no JPEG round trip
  supersample: int
  _cache: Dict[Any, Any] = dataclasses.field(default_factory=dict, init=False, repr=False)

  def background_image(self, image_size) -> np.ndarray:
    """The background `[H, W, 3]` float32 in [0, 1] (cached per size; do not modify)."""
    height, width = checks.parse_image_size(image_size)
    key = ("background", height, width)
    if key not in self._cache:
      image = background_lib.render_background(self.background, height, width)
      image.setflags(write=False)
      self._cache[key] = image
    return self._cache[key]


def sample_appearance(style: style_lib.RenderStyle, rng: np.random.Generator) -> Appearance:
  """Samples one person in one place from `style`: clothes, skin and hair colours, stripes,
  thickness, head size, light, background, colour cast, blur, noise level and JPEG quality."""
  if not isinstance(style, style_lib.RenderStyle):
    raise ValueError(f"style must be a RenderStyle, got {type(style).__name__}")
  group_hsv = {g: color_lib.sample_hsv(rng, style.palette[g]) for g in style_lib.COLOR_GROUPS}
  long_sleeves = rng.uniform() < style.long_sleeve_prob
  long_trousers = rng.uniform() < style.long_trouser_prob
  group_of = {
      "torso": "top", "pelvis": "bottom", "neck": "skin", "hair": "hair", "face": "skin",
      "nose": "skin",
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
    colors[i] = color_lib.hsv_to_rgb(hsv)
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
  background = background_lib.sample_background(style, rng)
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
