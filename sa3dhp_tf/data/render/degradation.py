"""The camera and sensor model applied to a rendered image: colour gain, blur, sensor noise,
8-bit quantisation and a JPEG round trip."""

import cv2
import numpy as np

from sa3dhp_tf.data.render import appearance as appearance_lib


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
  """Encodes an RGB uint8 image as JPEG at `quality` and decodes it (real codec artefacts)."""
  ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]),
                         [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
  if not ok:
    raise RuntimeError(f"JPEG encoding failed at quality {quality}")
  return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()


def degrade(image: np.ndarray, appearance: appearance_lib.Appearance,
            rng: np.random.Generator, apply_jpeg: bool = True) -> np.ndarray:
  """Camera and sensor model on a float image `[H, W, 3]` in [0, 1]: colour gain, Gaussian blur
  (sigma scaled with the height), per-frame Gaussian noise (drawn from rng), 8-bit quantisation
  and, if `apply_jpeg` and the appearance has one, a JPEG round trip. Returns uint8."""
  image = image * appearance.color_gain
  sigma = appearance.blur_sigma * image.shape[0] / 64.0
  if sigma > 0.05:
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma,
                             borderType=cv2.BORDER_REFLECT)
  if appearance.noise_std > 0:
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    image = image + noise * (appearance.noise_std / 255.0)
  out = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
  if apply_jpeg and appearance.jpeg_quality > 0:
    out = jpeg_roundtrip(out, appearance.jpeg_quality)
  return out
