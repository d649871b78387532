"""Lambert shading of capsules, spheres and the torso cylinder under a camera-frame light: the
shading frame of each primitive and the brightness across it."""

import numpy as np

from sa3dhp_tf.data.render import vectors


# Lateral coordinates (-1..1 across a band) at which a band's brightness is averaged.
BAND_SAMPLES = np.linspace(-1.0, 1.0, 7)


def shading_frames(centres, axes, light):
  """Per primitive: the lateral normal e_s (across the axis, in the image plane's sense), the
  dot products of the light with e_s and with the normal facing the camera across the axis
  (e_v), and the brightest lateral coordinate t*. Returns (e_s `[N, 3]`, light . e_s `[N]`,
  light . e_v `[N]`, t* `[N]`)."""
  view = vectors.normalize(-centres)
  axis_len = vectors.norm(axes)
  axis_dir = axes / np.maximum(axis_len, 1e-9)[:, None]
  view_normal = view - np.sum(view * axis_dir, -1, keepdims=True) * axis_dir
  view_normal_len = vectors.norm(view_normal)
  use_axis = (axis_len > 1e-6) & (view_normal_len > 1e-3)
  view_normal = np.where(use_axis[:, None],
                         view_normal / np.maximum(view_normal_len, 1e-9)[:, None], view)
  lateral_of_axis = vectors.cross(axis_dir, view_normal)
  # Spheres (no axis): the lateral direction points towards the light across the view.
  lateral = light - (view @ light)[:, None] * view
  lateral_len = vectors.norm(lateral)
  fallback = vectors.normalize(vectors.cross(view, np.array([0.0, 1.0, 0.0])),
                               np.array([1.0, 0.0, 0.0]))
  lateral_of_sphere = np.where((lateral_len > 1e-6)[:, None],
                               lateral / np.maximum(lateral_len, 1e-9)[:, None], fallback)
  lateral_normal = np.where(use_axis[:, None], lateral_of_axis, lateral_of_sphere)
  light_lateral, light_view = lateral_normal @ light, view_normal @ light
  peak = np.where(light_view > 0,
                  light_lateral / np.maximum(np.hypot(light_lateral, light_view), 1e-9),
                  np.sign(light_lateral))
  return lateral_normal, light_lateral, light_view, peak


def lambert(across, light_lateral, light_view):
  """Lambert brightness at lateral coordinate `across` (-1..1) of a cylinder whose normal there
  is across * e_s + sqrt(1 - across^2) * e_v."""
  return np.maximum(0.0, across * light_lateral +
                    np.sqrt(np.clip(1.0 - across * across, 0.0, 1.0)) * light_view)
