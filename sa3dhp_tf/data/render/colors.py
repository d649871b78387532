"""HSV colour ranges of the styles: sampling a colour and converting it to RGB."""

import colorsys

import numpy as np


def sample_hsv(rng, color_range):
  (h0, h1), (s0, s1), (v0, v1) = color_range
  return np.array([rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1)])


def hsv_to_rgb(hsv):
  h, s, v = hsv
  return np.array(colorsys.hsv_to_rgb((h / 360.0) % 1.0, min(max(s, 0.0), 1.0),
                                      min(max(v, 0.0), 1.0)))
