"""Graded domain shifts: target styles that each change ONE factor of the source style.

The default target style ('target', `gin_configs/styles/target.gin`) differs from 'source' in
appearance, camera and image degradations at once, so a model's failure on it cannot be pinned
on any one of them. Each graded shift takes the fields of one factor from 'target' and keeps every
other field of 'source' (issue 11 item 6; calibration and the date they were frozen:
docs/benchmark.md, "Graded shifts"):

  target_appearance   clothes, palette, body shape, lighting, background and clutter
  target_camera       camera elevation, distance, roll and how much of the crop the person fills
  target_degradation  colour cast, blur, sensor noise, JPEG

The three factors partition the fields on which 'source' and 'target' differ, so all three
together are 'target' again (tested). A shift is one `GradedShift` entry; `styles.get_style`
builds it by name, so benchmark gin files select one with `build_benchmark.target_style`.
"""

import dataclasses
from typing import Dict, Tuple

# Which RenderStyle fields make up each factor. Body shape and lighting count as appearance:
# they are neither camera nor sensor, and every differing field must belong to one factor.
FACTORS: Dict[str, Tuple[str, ...]] = {
    "appearance": (
        # clothes, skin, hair
        "palette", "part_value_jitter", "side_value_offset", "side_hue_offset",
        "long_sleeve_prob", "long_trouser_prob", "stripe_prob", "stripe_period_mm",
        "stripe_duty", "stripe_contrast",
        # body shape
        "radii_mm", "thickness_scale", "head_radius_mm", "nose_radius", "nose_protrusion",
        "hand_length_mm", "foot_length_mm", "chest_mark_prob", "chest_mark_radius_mm",
        # lighting
        "light_angle", "light_roll", "ambient", "diffuse", "shading_layers", "shading_falloff",
        # background and clutter
        "background_kinds", "background_weights", "background_palette", "background_contrast",
        "noise_background_cells", "clutter_prob", "clutter_count", "clutter_shapes",
        "clutter_palette", "clutter_size"),
    "camera": ("camera",),
    "degradation": ("color_gain", "blur_sigma", "noise_std", "jpeg_prob", "jpeg_quality"),
}


@dataclasses.dataclass(frozen=True)
class GradedShift:
  """Style `name`: the fields of `factors` from style `donor`, every other field from `base`."""
  name: str
  factors: Tuple[str, ...]
  base: str = "source"
  donor: str = "target"


SHIFTS: Dict[str, GradedShift] = {s.name: s for s in (
    GradedShift("target_appearance", ("appearance",)),
    GradedShift("target_camera", ("camera",)),
    GradedShift("target_degradation", ("degradation",)),
)}


def shift_fields(shift: GradedShift) -> Tuple[str, ...]:
  """The RenderStyle fields `shift` takes from its donor style."""
  return tuple(field for factor in shift.factors for field in FACTORS[factor])


def build_style(shift: GradedShift, get_style):
  """The RenderStyle of `shift`; `get_style` looks up its base and donor by name (the caller's
  `styles.get_style`, passed in because that module dispatches here)."""
  unknown = [f for f in shift.factors if f not in FACTORS]
  if unknown:
    raise ValueError(f"graded shift {shift.name!r}: unknown factor(s) {unknown}; "
                     f"factors: {sorted(FACTORS)}")
  base, donor = get_style(shift.base), get_style(shift.donor)
  taken = {field: getattr(donor, field) for field in shift_fields(shift)}
  return dataclasses.replace(base, name=shift.name, **taken)
