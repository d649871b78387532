"""A short video made by the tests: a body rendered by the project's renderer (which OpenCV's
HOG people detector finds), with frames of empty background in the middle (nobody to find)."""

import cv2
import numpy as np

import conftest
from sa3dhp_tf.data import render as renderer
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.data.render import styles

HEIGHT, WIDTH = 288, 320
PERSON_HEIGHT = 190   # px; HOG needs margin around its 64x128 window's person
FPS = 10.0
EMPTY_FRAMES = (6, 7)   # frames without a person


def person_frames(num_frames=10, seed=1):
  """uint8 RGB frames `[T, H, W, 3]`; frames in EMPTY_FRAMES show only the background."""
  style = styles.get_style("source")
  poses = conftest.camera_pose(conftest.world_motion(num_frames, seed=seed), azimuth=-90.0,
                               elevation=5.0, roll=0.0)
  rng = np.random.default_rng(seed)
  focal = style.sample_intrinsics(rng, 4000.0, (PERSON_HEIGHT, PERSON_HEIGHT)).fx
  intrinsics = camera.Intrinsics.centred(focal, WIDTH, HEIGHT)
  appearance = renderer.sample_appearance(style, rng)
  # A plain grey wall: HOG finds nobody in it, so every detection is the body.
  background = np.full((HEIGHT, WIDTH, 3), 150.0) + rng.normal(0, 3, (HEIGHT, WIDTH, 1))
  frames = []
  for i, pose in enumerate(poses):
    colour, alpha = renderer.render_body(pose, intrinsics, appearance, (HEIGHT, WIDTH))
    person = 255.0 * colour + background * (1.0 - alpha[..., None])
    image = background if i in EMPTY_FRAMES else person
    frames.append(np.clip(image, 0, 255).astype(np.uint8))
  return np.stack(frames)


def write_video(path, frames, fps=FPS):
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                           (frames.shape[2], frames.shape[1]))
  assert writer.isOpened()
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()
  return str(path)
