"""Pose-invariant image augmentation A(x) (paper Sec. 3.3.1) with stateless random ops.

The positive of a frame (L_LCR) or clip (L_HCR) is A of it: colour jitter, blur, sensor noise and
a small crop jitter, none of which changes the root-relative 3D pose. One set of random
parameters is drawn per call, so a clip `[T, H, W, 3]` is augmented identically on every frame
(a clip must stay one video of one motion).
"""

import dataclasses

import gin
import tensorflow as tf


@gin.configurable
@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  brightness: float = 0.15        # max |delta| added, images in [0, 1]
  contrast: tuple = (0.75, 1.3)
  saturation: tuple = (0.7, 1.3)
  hue: float = 0.04               # max |delta| in [0, 1] hue units
  blur_sigma: tuple = (0.0, 1.0)  # pixels
  noise_std: tuple = (0.0, 0.03)
  max_shift: float = 0.04         # fraction of the image size
  scale: tuple = (0.94, 1.06)


def _uniform(seed, low, high):
  return tf.random.stateless_uniform([], seed, low, high)


def _blur(images, sigma):
  # Separable Gaussian, radius 3; sigma ~0 degenerates to the identity kernel.
  sigma = tf.maximum(sigma, 1e-3)
  x = tf.range(-3.0, 4.0)
  kernel = tf.exp(-0.5 * tf.square(x / sigma))
  kernel = kernel / tf.reduce_sum(kernel)
  channels = tf.shape(images)[-1]
  kh = tf.tile(tf.reshape(kernel, [7, 1, 1, 1]), [1, 1, channels, 1])
  kw = tf.tile(tf.reshape(kernel, [1, 7, 1, 1]), [1, 1, channels, 1])
  padded = tf.pad(images, [[0, 0], [3, 3], [3, 3], [0, 0]], mode="REFLECT")
  out = tf.nn.depthwise_conv2d(padded, kh, [1, 1, 1, 1], "VALID")
  return tf.nn.depthwise_conv2d(out, kw, [1, 1, 1, 1], "VALID")


def _crop_jitter(images, seed, config):
  height = tf.cast(tf.shape(images)[-3], tf.float32)
  width = tf.cast(tf.shape(images)[-2], tf.float32)
  seeds = tf.random.experimental.stateless_split(seed, 3)
  scale = _uniform(seeds[0], *config.scale)
  dx = _uniform(seeds[1], -config.max_shift, config.max_shift) * width
  dy = _uniform(seeds[2], -config.max_shift, config.max_shift) * height
  cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
  # Output pixel p samples input at (p - c) / scale + c + d: zoom about the centre, then shift.
  inv = 1.0 / scale
  transform = tf.stack([inv, 0.0, cx - inv * cx + dx, 0.0, inv, cy - inv * cy + dy, 0.0, 0.0])
  transforms = tf.tile(transform[tf.newaxis], [tf.shape(images)[0], 1])
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
      fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def pose_invariant_augment(images, seed, config: AugmentConfig = AugmentConfig()):
  """A(x) for one frame `[H, W, 3]` or one clip `[T, H, W, 3]`, float32 in [0, 1].

  `seed` is a stateless seed `[2]` int; equal seeds give equal outputs."""
  images = tf.convert_to_tensor(images, tf.float32)
  single = images.shape.rank == 3
  clip = images[tf.newaxis] if single else images
  seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 8)
  clip = tf.image.adjust_brightness(clip, _uniform(seeds[0], -config.brightness, config.brightness))
  clip = tf.image.adjust_contrast(clip, _uniform(seeds[1], *config.contrast))
  clip = tf.image.adjust_saturation(clip, _uniform(seeds[2], *config.saturation))
  clip = tf.image.adjust_hue(clip, _uniform(seeds[3], -config.hue, config.hue))
  clip = _blur(clip, _uniform(seeds[4], *config.blur_sigma))
  clip = _crop_jitter(clip, seeds[5], config)
  noise_std = _uniform(seeds[6], *config.noise_std)
  clip = clip + noise_std * tf.random.stateless_normal(tf.shape(clip), seeds[7])
  clip = tf.clip_by_value(clip, 0.0, 1.0)
  clip = tf.ensure_shape(clip, images.shape if not single else [1] + images.shape.as_list())
  return clip[0] if single else clip
