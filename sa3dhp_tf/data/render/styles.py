"""Render styles: every knob of the synthetic renderer's appearance, camera and degradations.

A `RenderStyle` is a frozen dataclass with NO defaults: a style is fully defined by its gin file,
`gin_configs/styles/<name>.gin`, which binds every field under the gin scope `<name>`:

  source/RenderStyle.name = 'source'
  source/RenderStyle.blur_sigma = (0.0, 0.4)
  source/RenderStyle.camera = @source/CameraRanges()
  ...

`get_style('source')` builds the style from the parsed gin configuration (parsing the packaged
style file first if the scope is not bound yet); `dataclasses.replace` or the `**overrides` of
`get_style` derive variants in code. A missing binding is an error naming the field.

Conventions for the fields:
- a "range" is a pair (lo, hi) sampled uniformly once per sequence (per `Appearance`);
- a colour range is ((h_lo, h_hi), (s_lo, s_hi), (v_lo, v_hi)): hue in degrees (wraps modulo
  360, so (330, 390) is a red family), saturation and value in [0, 1];
- lengths are millimetres; blur sigma is in pixels of a 64 px high crop (scaled with the height);
  noise std is in 8-bit grey levels.
"""

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Tuple

import gin
import numpy as np

from sa3dhp_tf.geometry import camera

# Colour groups of the palette: clothes (top, bottom), skin, hair, shoes and the chest mark.
COLOR_GROUPS = ("top", "bottom", "skin", "hair", "shoes", "mark")
# Groups that may carry a stripe texture.
TEXTURED_GROUPS = ("top", "bottom")
# Radii of the body primitives. Pairs (start, end) taper a limb from its proximal to its distal
# joint; the torso spheres (pelvis, hip, spine, thorax, shoulder), hand and foot are single radii.
RADIUS_KINDS = ("pelvis", "hip", "spine", "thorax", "shoulder", "neck", "upper_arm",
                "lower_arm", "hand", "upper_leg", "lower_leg", "foot")
TAPERED_KINDS = ("neck", "upper_arm", "lower_arm", "upper_leg", "lower_leg")
# Background bases; clutter shapes are an overlay on any base (`clutter_prob`).
BACKGROUND_KINDS = ("flat", "gradient", "noise")
# Shapes of the clutter overlay; 'stroke' is a limb-like capsule (a distractor for the body).
CLUTTER_SHAPES = ("rect", "ellipse", "line", "triangle", "stroke")

STYLE_DIR = "styles"


def _pair(value, field, lo=-np.inf, hi=np.inf):
  try:
    a, b = (float(v) for v in value)
  except (TypeError, ValueError):
    raise ValueError(f"RenderStyle.{field} must be a pair (lo, hi), got {value!r}") from None
  if not (np.isfinite(a) and np.isfinite(b)) or a > b or a < lo or b > hi:
    raise ValueError(f"RenderStyle.{field} must be a finite pair lo <= hi within [{lo}, {hi}], "
                     f"got {value!r}")
  return (a, b)


def _prob(value, field):
  value = float(value)
  if not 0.0 <= value <= 1.0:
    raise ValueError(f"RenderStyle.{field} must be a probability in [0, 1], got {value!r}")
  return value


def _color_range(value, field):
  try:
    hue, sat, val = value
  except (TypeError, ValueError):
    raise ValueError(f"RenderStyle.{field} must be ((h_lo, h_hi), (s_lo, s_hi), (v_lo, v_hi)), "
                     f"got {value!r}") from None
  return (_pair(hue, f"{field} hue"), _pair(sat, f"{field} saturation", 0.0, 1.0),
          _pair(val, f"{field} value", 0.0, 1.0))


@gin.configurable
@dataclasses.dataclass(frozen=True)
class CameraRanges:
  """Virtual camera of a style's crops (uniform ranges, degrees and millimetres).

  The camera looks at the pelvis from `distance`; `fill` is the fraction of the crop height that a
  `reference_height_mm` tall standing person covers, so the focal length of a crop H px high is
  f = fill * H * distance / reference_height_mm (a person-centred crop: the scale is normalised,
  the distance sets the strength of perspective)."""
  azimuth: Tuple[float, float]
  elevation: Tuple[float, float]
  roll: Tuple[float, float]
  distance: Tuple[float, float]
  fill: Tuple[float, float]
  reference_height_mm: float

  def __post_init__(self):
    for field in ("azimuth", "elevation", "roll"):
      object.__setattr__(self, field, _pair(getattr(self, field), f"camera.{field}"))
    object.__setattr__(self, "distance", _pair(self.distance, "camera.distance", 100.0))
    object.__setattr__(self, "fill", _pair(self.fill, "camera.fill", 0.01, 10.0))
    if not float(self.reference_height_mm) > 0:
      raise ValueError(f"CameraRanges.reference_height_mm must be > 0, got "
                       f"{self.reference_height_mm!r}")

  @property
  def view_ranges(self) -> camera.ViewRanges:
    return camera.ViewRanges(azimuth=self.azimuth, elevation=self.elevation, roll=self.roll,
                             distance=self.distance)

  def focal_px(self, fill: float, distance: float, image_height: int) -> float:
    return float(fill) * float(image_height) * float(distance) / float(self.reference_height_mm)

  def sample_intrinsics(self, rng: np.random.Generator, distance: float,
                        image_size) -> camera.Intrinsics:
    """Intrinsics of a crop `image_size` = (H, W) (or an int) centred on the pelvis, seen from
    `distance` mm (draws one `fill` from rng)."""
    height, width = _size(image_size)
    focal = self.focal_px(rng.uniform(*self.fill), distance, height)
    return camera.Intrinsics.centred(focal, width, height)


def _size(image_size):
  if np.isscalar(image_size):
    image_size = (image_size, image_size)
  height, width = (int(v) for v in image_size)
  return height, width


@gin.configurable
@dataclasses.dataclass(frozen=True)
class RenderStyle:
  """Every parameter of one rendering style (see the module docstring for units)."""
  name: str
  # --- clothes, skin and hair ---
  palette: Dict[str, Any]              # colour group -> colour range, for all COLOR_GROUPS
  part_value_jitter: Tuple[float, float]   # per-part multiplicative factor on the colour value
  side_value_offset: Tuple[float, float]   # d: left parts' value *(1+d), right parts' *(1-d)
  side_hue_offset: Tuple[float, float]     # d degrees: left hue +d, right hue -d
  long_sleeve_prob: float              # forearms in the top's colour (else skin)
  long_trouser_prob: float             # shins in the bottom's colour (else skin)
  stripe_prob: Dict[str, float]        # textured group -> probability of stripes
  stripe_period_mm: Tuple[float, float]
  stripe_duty: Tuple[float, float]     # fraction of a period that is stripe
  stripe_contrast: Tuple[float, float]  # stripe colour = base * (1 - contrast)
  # --- body shape ---
  radii_mm: Dict[str, Any]             # RADIUS_KINDS -> radius, or (start, end) for TAPERED_KINDS
  thickness_scale: Tuple[float, float]  # multiplies every radius (per sequence)
  head_radius_mm: Tuple[float, float]
  nose_radius: float                   # nose sphere radius, fraction of the head radius
  nose_protrusion: float               # nose tip beyond the face, fraction of the head radius
  hand_length_mm: Tuple[float, float]
  foot_length_mm: Tuple[float, float]
  chest_mark_prob: float               # a mark on the chest front (a facing cue)
  chest_mark_radius_mm: Tuple[float, float]
  # --- lighting (camera frame) ---
  light_angle: Tuple[float, float]     # degrees between the light and the optical axis (0 = headlight)
  light_roll: Tuple[float, float]      # degrees about the axis (0 = light from image up)
  ambient: Tuple[float, float]
  diffuse: Tuple[float, float]
  shading_layers: int                  # 1 = flat; more = cylinder-like shading bands
  shading_falloff: float               # how much darker the silhouette band is than the highlight
  # --- background ---
  background_kinds: Tuple[str, ...]
  background_weights: Tuple[float, ...]
  background_palette: Any              # colour range of the background base
  background_contrast: Tuple[float, float]  # value spread of gradient / noise bases
  noise_background_cells: Tuple[float, float]  # grid size of the smooth 'noise' base
  clutter_prob: float
  clutter_count: Tuple[float, float]
  clutter_shapes: Tuple[str, ...]
  clutter_palette: Any
  clutter_size: Tuple[float, float]    # shape size, fraction of the crop size
  # --- sensor and image degradations ---
  color_gain: Tuple[float, float]      # per-channel gain (white balance / colour cast)
  blur_sigma: Tuple[float, float]      # px at 64 px crop height; scaled with the height
  noise_std: Tuple[float, float]       # 8-bit grey levels, per-frame noise realisation
  jpeg_prob: float
  jpeg_quality: Tuple[float, float]
  # --- camera and rasterisation ---
  camera: CameraRanges
  supersample: int                     # anti-aliasing: render at k x the size, INTER_AREA down

  def __post_init__(self):
    setf = lambda field, value: object.__setattr__(self, field, value)
    if not isinstance(self.name, str) or not self.name:
      raise ValueError(f"RenderStyle.name must be a non-empty string, got {self.name!r}")
    missing = [g for g in COLOR_GROUPS if g not in self.palette]
    if missing:
      raise ValueError(f"RenderStyle.palette of style {self.name!r} lacks group(s) {missing}")
    setf("palette", {g: _color_range(self.palette[g], f"palette[{g!r}]") for g in COLOR_GROUPS})
    setf("part_value_jitter", _pair(self.part_value_jitter, "part_value_jitter", 0.0))
    setf("side_value_offset", _pair(self.side_value_offset, "side_value_offset", -1.0, 1.0))
    setf("side_hue_offset", _pair(self.side_hue_offset, "side_hue_offset"))
    setf("long_sleeve_prob", _prob(self.long_sleeve_prob, "long_sleeve_prob"))
    setf("long_trouser_prob", _prob(self.long_trouser_prob, "long_trouser_prob"))
    unknown = sorted(set(self.stripe_prob) - set(TEXTURED_GROUPS))
    if unknown:
      raise ValueError(f"RenderStyle.stripe_prob has unknown group(s) {unknown}; "
                       f"textured groups: {TEXTURED_GROUPS}")
    setf("stripe_prob", {g: _prob(self.stripe_prob.get(g, 0.0), f"stripe_prob[{g!r}]")
                         for g in TEXTURED_GROUPS})
    setf("stripe_period_mm", _pair(self.stripe_period_mm, "stripe_period_mm", 1.0))
    setf("stripe_duty", _pair(self.stripe_duty, "stripe_duty", 0.0, 1.0))
    setf("stripe_contrast", _pair(self.stripe_contrast, "stripe_contrast", 0.0, 1.0))
    missing = [k for k in RADIUS_KINDS if k not in self.radii_mm]
    if missing:
      raise ValueError(f"RenderStyle.radii_mm of style {self.name!r} lacks {missing}")
    radii = {}
    for kind in RADIUS_KINDS:
      value = self.radii_mm[kind]
      if kind in TAPERED_KINDS:
        value = (value, value) if np.isscalar(value) else tuple(value)
        if len(value) != 2 or min(float(v) for v in value) < 1.0:
          raise ValueError(f"RenderStyle.radii_mm[{kind!r}] must be a radius or a pair "
                           f"(start, end) of radii >= 1 mm, got {self.radii_mm[kind]!r}")
        radii[kind] = (float(value[0]), float(value[1]))
      else:
        radii[kind] = _pair((value, value), f"radii_mm[{kind!r}]", 1.0)[0]
    setf("radii_mm", radii)
    setf("thickness_scale", _pair(self.thickness_scale, "thickness_scale", 0.05))
    setf("head_radius_mm", _pair(self.head_radius_mm, "head_radius_mm", 1.0))
    for field in ("nose_radius", "nose_protrusion"):
      value = float(getattr(self, field))
      if not 0.0 <= value <= 1.0:
        raise ValueError(f"RenderStyle.{field} must lie in [0, 1], got {value!r}")
      setf(field, value)
    setf("hand_length_mm", _pair(self.hand_length_mm, "hand_length_mm", 0.0))
    setf("foot_length_mm", _pair(self.foot_length_mm, "foot_length_mm", 0.0))
    setf("chest_mark_prob", _prob(self.chest_mark_prob, "chest_mark_prob"))
    setf("chest_mark_radius_mm", _pair(self.chest_mark_radius_mm, "chest_mark_radius_mm", 0.0))
    setf("light_angle", _pair(self.light_angle, "light_angle", 0.0, 180.0))
    setf("light_roll", _pair(self.light_roll, "light_roll"))
    setf("ambient", _pair(self.ambient, "ambient", 0.0))
    setf("diffuse", _pair(self.diffuse, "diffuse", 0.0))
    if int(self.shading_layers) != self.shading_layers or not 1 <= self.shading_layers <= 6:
      raise ValueError(f"RenderStyle.shading_layers must be an int in [1, 6], got "
                       f"{self.shading_layers!r}")
    setf("shading_layers", int(self.shading_layers))
    setf("shading_falloff", _prob(self.shading_falloff, "shading_falloff"))
    kinds = tuple(self.background_kinds)
    weights = tuple(float(w) for w in self.background_weights)
    bad = [k for k in kinds if k not in BACKGROUND_KINDS]
    if not kinds or bad:
      raise ValueError(f"RenderStyle.background_kinds must be a non-empty tuple of "
                       f"{BACKGROUND_KINDS}, got {self.background_kinds!r}")
    if len(weights) != len(kinds) or min(weights) < 0 or sum(weights) <= 0:
      raise ValueError(f"RenderStyle.background_weights must be {len(kinds)} non-negative "
                       f"weights with a positive sum, got {self.background_weights!r}")
    setf("background_kinds", kinds)
    setf("background_weights", weights)
    setf("background_palette", _color_range(self.background_palette, "background_palette"))
    setf("background_contrast", _pair(self.background_contrast, "background_contrast", 0.0, 1.0))
    setf("noise_background_cells", _pair(self.noise_background_cells,
                                         "noise_background_cells", 2.0, 64.0))
    setf("clutter_prob", _prob(self.clutter_prob, "clutter_prob"))
    setf("clutter_count", _pair(self.clutter_count, "clutter_count", 0.0, 500.0))
    shapes = tuple(self.clutter_shapes)
    bad = [s for s in shapes if s not in CLUTTER_SHAPES]
    if not shapes or bad:
      raise ValueError(f"RenderStyle.clutter_shapes must be a non-empty tuple of "
                       f"{CLUTTER_SHAPES}, got {self.clutter_shapes!r}")
    setf("clutter_shapes", shapes)
    setf("clutter_palette", _color_range(self.clutter_palette, "clutter_palette"))
    setf("clutter_size", _pair(self.clutter_size, "clutter_size", 0.0, 4.0))
    setf("color_gain", _pair(self.color_gain, "color_gain", 0.0))
    setf("blur_sigma", _pair(self.blur_sigma, "blur_sigma", 0.0))
    setf("noise_std", _pair(self.noise_std, "noise_std", 0.0))
    setf("jpeg_prob", _prob(self.jpeg_prob, "jpeg_prob"))
    setf("jpeg_quality", _pair(self.jpeg_quality, "jpeg_quality", 1.0, 100.0))
    if not isinstance(self.camera, CameraRanges):
      raise ValueError(f"RenderStyle.camera must be a CameraRanges (bind it to "
                       f"@{self.name}/CameraRanges()), got {self.camera!r}")
    if int(self.supersample) != self.supersample or not 1 <= self.supersample <= 8:
      raise ValueError(f"RenderStyle.supersample must be an int in [1, 8], got "
                       f"{self.supersample!r}")
    setf("supersample", int(self.supersample))

  # Conveniences for callers that sample views (the benchmark builder).
  @property
  def view_ranges(self) -> camera.ViewRanges:
    return self.camera.view_ranges

  def sample_intrinsics(self, rng: np.random.Generator, distance: float,
                        image_size) -> camera.Intrinsics:
    return self.camera.sample_intrinsics(rng, distance, image_size)


def style_file(name: str) -> str:
  """Path of the packaged gin file of style `name` (`gin_configs/styles/<name>.gin`)."""
  from sa3dhp_tf import config  # local: config is light, but keep the import graph simple
  return os.path.join(config.GIN_CONFIG_DIR, STYLE_DIR, f"{name}.gin")


def _is_bound(name: str) -> bool:
  try:
    gin.query_parameter(f"{name}/RenderStyle.name")
    return True
  except ValueError:
    return False


def get_style(name: str, **overrides) -> RenderStyle:
  """The style bound in gin scope `name`, with `overrides` (field=value) applied.

  If the scope is not bound yet, the packaged `styles/<name>.gin` is parsed first (adding its
  bindings to the global gin config); a graded shift (`graded_shifts.SHIFTS`, e.g.
  'target_camera') is composed from its base and donor styles; a name with none of these
  raises."""
  if not isinstance(name, str) or not name:
    raise ValueError(f"style name must be a non-empty string, got {name!r}")
  # Local import: graded_shifts composes styles through this function.
  from sa3dhp_tf.data.render import graded_shifts
  if name in graded_shifts.SHIFTS and not _is_bound(name):
    return _with_overrides(graded_shifts.build_style(graded_shifts.SHIFTS[name], get_style),
                           overrides)
  if not _is_bound(name):
    path = style_file(name)
    if not os.path.isfile(path):
      raise ValueError(f"unknown render style {name!r}: no gin bindings in scope '{name}/' and no "
                       f"packaged file {path}")
    with gin.unlock_config():
      gin.parse_config_file(path)
    if not _is_bound(name):
      raise ValueError(f"style file {path} does not bind {name}/RenderStyle.name")
  try:
    with gin.config_scope(name):
      style = RenderStyle()
  except TypeError as e:  # a field without a binding: name it
    raise ValueError(f"render style {name!r} is incomplete: {e} (bind them as "
                     f"{name}/RenderStyle.<field> in {STYLE_DIR}/{name}.gin)") from None
  if style.name != name:
    raise ValueError(f"scope '{name}/' binds RenderStyle.name = {style.name!r}; they must match")
  return _with_overrides(style, overrides)


def _with_overrides(style, overrides):
  if not overrides:
    return style
  unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(RenderStyle)})
  if unknown:
    raise ValueError(f"unknown RenderStyle field(s) in overrides: {unknown}")
  return dataclasses.replace(style, **overrides)


# The name the task brief uses; same function.
make_style = get_style


def describe_style(style: RenderStyle) -> Dict[str, Any]:
  """A JSON-serialisable dict of every field of `style` (for manifests and logs)."""
  def plain(value):
    if dataclasses.is_dataclass(value):
      return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
      return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
      return [plain(v) for v in value]
    if isinstance(value, np.generic):
      return value.item()
    return value
  described = plain(style)
  json.dumps(described)  # fail here, not in a manifest writer, if something is not serialisable
  return described
