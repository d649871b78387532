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

Modules, by role: `appearance` (and `colors`, `background`), `primitives` (3D body), `outlines`
(projected polygons), `shading`, `drawing` (the body layer), `degradation` (camera and sensor),
`checks` (inputs); this module composes them into frames and sequences.

Image sizes are (height, width); images are uint8 RGB `[H, W, 3]`.
"""

from typing import Optional, Sequence, Union

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.render import appearance as appearance_lib
from sa3dhp_tf.data.render import checks
from sa3dhp_tf.data.render import degradation
from sa3dhp_tf.data.render import drawing
from sa3dhp_tf.data.render import styles as style_lib
from sa3dhp_tf.geometry import camera


def render_frame(pose_camera, intrinsics: camera.Intrinsics, appearance: appearance_lib.Appearance,
                 rng: np.random.Generator, image_size=(64, 64),
                 style: Optional[style_lib.RenderStyle] = None,
                 apply_jpeg: bool = True) -> np.ndarray:
  """One frame of `appearance`: body over its background, degraded. uint8 `[H, W, 3]`.

  `rng` only draws this frame's sensor noise. `style`, if given, must be the style the appearance
  was sampled from (a guard against mixing styles). With `apply_jpeg=False` the JPEG round trip is
  left to the caller (`appearance.jpeg_quality`, 0 for none)."""
  if not isinstance(appearance, appearance_lib.Appearance):
    raise ValueError(f"appearance must be an Appearance (see sample_appearance), got "
                     f"{type(appearance).__name__}")
  if style is not None and style.name != appearance.style_name:
    raise ValueError(f"appearance was sampled from style {appearance.style_name!r}, not "
                     f"{style.name!r}")
  color, alpha = drawing.render_body(pose_camera, intrinsics, appearance, image_size)
  background = appearance.background_image(image_size)
  image = color + background * (1.0 - alpha[..., None])
  return degradation.degrade(image, appearance, rng, apply_jpeg)


def render_pose(pose_camera, intrinsics: camera.Intrinsics, style: style_lib.RenderStyle,
                rng: np.random.Generator, image_size=(64, 64), apply_jpeg: bool = True
                ) -> np.ndarray:
  """Renders one pose with a freshly sampled appearance of `style`. uint8 `[H, W, 3]`."""
  checks.validate_pose(pose_camera)
  appearance = appearance_lib.sample_appearance(style, rng)
  return render_frame(pose_camera, intrinsics, appearance, rng, image_size, style, apply_jpeg)


def render_sequence(poses_camera, intrinsics: Union[camera.Intrinsics,
                                                    Sequence[camera.Intrinsics]],
                    style: style_lib.RenderStyle, rng: np.random.Generator, image_size=(64, 64),
                    appearance: Optional[appearance_lib.Appearance] = None, apply_jpeg: bool = True
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
      checks.validate_pose(poses[t], f"poses_camera[{t}]")
    except ValueError as e:
      raise ValueError(f"frame {t}: {e}") from None
  if appearance is None:
    appearance = appearance_lib.sample_appearance(style, rng)
  height, width = checks.parse_image_size(image_size)
  frames = np.empty((len(poses), height, width, 3), np.uint8)
  for t in range(len(poses)):
    frames[t] = render_frame(poses[t], intrinsics[t], appearance, rng, (height, width), style,
                             apply_jpeg)
  return frames
