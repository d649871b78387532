"""Backgrounds: a size-independent recipe sampled from a style (flat, gradient or noise, with
optional clutter shapes) and its image at a given size."""

import math
from typing import Any, Dict

import cv2
import numpy as np

from sa3dhp_tf.data.render import colors
from sa3dhp_tf.data.render import outlines


def sample_background(style, rng) -> Dict[str, Any]:
  """A background recipe drawn from `style`: kind, colours, gradient angle, the coarse grid of a
  noise background and the clutter shapes (positions and sizes relative to the image)."""
  weights = np.asarray(style.background_weights, np.float64)
  kind = style.background_kinds[int(rng.choice(len(weights), p=weights / weights.sum()))]
  base_hsv = colors.sample_hsv(rng, style.background_palette)
  contrast = rng.uniform(*style.background_contrast)
  second_hsv = base_hsv + np.array([rng.uniform(-30, 30), 0.0,
                                    contrast * (1.0 if base_hsv[2] < 0.5 else -1.0)])
  recipe = {"kind": kind, "base": colors.hsv_to_rgb(base_hsv),
            "second": colors.hsv_to_rgb(second_hsv), "angle": rng.uniform(0.0, 2 * np.pi),
            "grid": None, "shapes": []}
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
          "shape": shape,
          "color": colors.hsv_to_rgb(colors.sample_hsv(rng, style.clutter_palette)),
          "centre": rng.uniform(-0.1, 1.1, 2), "size": rng.uniform(*style.clutter_size),
          "aspect": rng.uniform(0.15, 1.0), "angle": rng.uniform(0.0, 180.0),
          "points": rng.uniform(-1.0, 1.0, (3, 2)), "shade": rng.uniform(0.6, 0.9)})
  return recipe


def render_background(recipe, height, width) -> np.ndarray:
  """The image `[height, width, 3]` float32 in [0, 1] of a `sample_background` recipe."""
  base = np.asarray(recipe["base"], np.float32)
  if recipe["kind"] == "flat":
    image = np.broadcast_to(base, (height, width, 3)).copy()
  elif recipe["kind"] == "gradient":
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = np.array([math.cos(recipe["angle"]), math.sin(recipe["angle"])], np.float32)
    proj = (xs - (width - 1) / 2) * direction[0] + (ys - (height - 1) / 2) * direction[1]
    weight = (proj / max(1.0, 0.5 * math.hypot(width, height)) + 1.0) * 0.5
    image = base + weight[..., None] * (np.asarray(recipe["second"], np.float32) - base)
  else:  # noise
    image = cv2.resize(recipe["grid"], (width, height), interpolation=cv2.INTER_CUBIC)
  image = np.clip(image, 0.0, 1.0).astype(np.float32)
  if recipe["shapes"]:
    size_px = min(height, width)
    canvas = np.ascontiguousarray(image * 255.0).astype(np.uint8)
    for clutter in recipe["shapes"]:
      color = tuple(float(c) * 255.0 for c in clutter["color"])
      cx, cy = clutter["centre"][0] * (width - 1), clutter["centre"][1] * (height - 1)
      size = max(1.0, clutter["size"] * size_px)
      if clutter["shape"] == "rect":
        box = cv2.boxPoints(((cx, cy), (size, size * clutter["aspect"]), clutter["angle"]))
        cv2.fillConvexPoly(canvas, outlines.to_fixed_point(box), color, cv2.LINE_AA,
                           outlines.SHIFT)
      elif clutter["shape"] == "ellipse":
        cv2.ellipse(canvas, ((cx, cy), (size, size * clutter["aspect"]), clutter["angle"]), color,
                    -1, cv2.LINE_AA)
      elif clutter["shape"] == "triangle":
        corners = np.array([cx, cy]) + 0.6 * size * clutter["points"]
        cv2.fillConvexPoly(canvas, outlines.to_fixed_point(corners), color, cv2.LINE_AA,
                           outlines.SHIFT)
      else:  # line, stroke: a segment; a stroke is limb-like (thick, shaded like a capsule)
        angle = math.radians(clutter["angle"])
        half = 0.5 * size * np.array([math.cos(angle), math.sin(angle)])
        start, end = np.array([cx, cy]) - half, np.array([cx, cy]) + half
        if clutter["shape"] == "line":
          thickness = max(1, int(round(0.04 * size_px * clutter["aspect"])))
          cv2.line(canvas, outlines.to_fixed_point(start), outlines.to_fixed_point(end), color,
                   thickness, cv2.LINE_AA, outlines.SHIFT)
        else:
          radius = max(0.5, 0.05 * size_px * (0.5 + clutter["aspect"]))
          outline = outlines.capsule_outlines(start[None], end[None], np.array([radius]),
                                              np.array([radius]))[0]
          cv2.fillConvexPoly(canvas, outlines.to_fixed_point(outline),
                             tuple(c * clutter["shade"] for c in color), cv2.LINE_AA,
                             outlines.SHIFT)
          inner = outlines.capsule_outlines(start[None], end[None], np.array([0.55 * radius]),
                                            np.array([0.55 * radius]))[0]
          cv2.fillConvexPoly(canvas, outlines.to_fixed_point(inner), color, cv2.LINE_AA,
                             outlines.SHIFT)
    image = canvas.astype(np.float32) / 255.0
  return image
