"""The graph a pose stage is served with, after TF Model Garden's `ExportModule`
(`official/core/export_base.py`): one `tf.function` per input kind, preprocessing inside, and
`get_inference_signatures` mapping signature keys to concrete functions.

Every signature returns `pose3d` (root-relative camera-frame joints in mm, D_p(G(x))) and
`latent` (the pose code z = G(x)); the clip signature adds `motion`, the motion embedding
v = E_m(z_1..z_30). Clients send raw pixels: uint8 RGB of any size, scaled to [0, 1] and resized
(antialiased, as the benchmark's frames were made) to the model's input size here.
"""

import collections

import tensorflow as tf

from sa3dhp_tf import errors
from sa3dhp_tf import lineage
from sa3dhp_tf import stage_store
from sa3dhp_tf.geometry import windows

Signature = collections.namedtuple("Signature", ["key", "method", "inputs", "doc"])
# key -> Signature; filled by `signature` below. TF Serving's default key is "serving_default".
SIGNATURES = collections.OrderedDict()
# The signature TFLite files are converted from: one crop already at the model's input size.
DEVICE_SIGNATURE = "serving_device"


def signature(key, doc, needs_motion=False, **inputs):
  """Registers a `PoseExportModule` method as the signature `key`; `inputs` maps argument name
  -> a function of the module returning its `tf.TensorSpec`."""

  def register(method):
    SIGNATURES[key] = Signature(key, method.__name__, inputs, doc)
    method.needs_motion = needs_motion
    return method

  return register


class PoseExportModule(tf.Module):
  """G, D_p and (for clips) E_m of a finished stage, served from raw pixels."""

  def __init__(self, image_to_latent, pose_decoder, motion_encoder=None):
    super().__init__(name="pose_export_module")
    self.image_to_latent = image_to_latent
    self.pose_decoder = pose_decoder
    self.motion_encoder = motion_encoder
    self.input_size = int(image_to_latent.input_size)
    self.latent_dim = int(image_to_latent.latent_dim)
    self.clip_length = windows.CLIP_LENGTH
    if motion_encoder is not None:
      have = tuple(motion_encoder.input_shape[1:])
      if have != (self.clip_length, self.latent_dim):
        raise stage_store.StageError(
            f"the motion encoder takes sequences {have}, but clips of {self.clip_length} frames "
            f"of {self.latent_dim}-dim codes are needed")

  @classmethod
  def from_stage(cls, model_dir, motion_aae_dir=None):
    """The module of a finished `source` / `adapt` stage. E_m comes from `motion_aae_dir` or
    the stage's lineage (adapt -> relation_nets -> motion_aae); without one, no clip signature."""
    estimator = stage_store.load_pose_estimator(model_dir)
    motion_dir = motion_aae_dir or stage_store.motion_aae_dir_of(estimator.info)
    motion_encoder = None
    if motion_dir:
      motion_ae, motion_info = stage_store.load_motion_autoencoder(
          motion_dir, estimator.pose_autoencoder.latent_dim)
      # E_m must read the latents of this model's D_p: the same pose AAE by content
      lineage.check_shared("pose_aae", motion_dir, motion_info, model_dir, estimator.info)
      motion_encoder = motion_ae.encoder
    module = cls(estimator.image_to_latent, estimator.pose_autoencoder.decoder, motion_encoder)
    module.stage_dirs = {"model": model_dir, "pose_aae": estimator.info["inputs"]["pose_aae"],
                         **({"motion_aae": motion_dir} if motion_dir else {})}
    module.stage_info = estimator.info
    return module

  # --- preprocessing and the model -----------------------------------------------------------
  def _check_images(self, images, what, rank):
    """`images`, computed after the checks: the shape ops that follow (reshape, ensure_shape)
    would otherwise fail first with an error that names no expectation (seen on serving_clip)."""
    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_rank(images, rank, message=f"{what}: expected rank {rank}"),
        tf.debugging.assert_equal(shape[-1], 3,
                                  message=f"{what}: expected 3 (RGB) channels in the last axis"),
        tf.debugging.assert_positive(shape[-3:-1],
                                     message=f"{what}: expected images at least 1x1 pixels")]
    with tf.control_dependencies([c for c in checks if c is not None]):
      return tf.identity(images)

  def preprocess(self, images):
    """uint8 `[B, H, W, 3]` -> float32 `[B, S, S, 3]` in [0, 1] (S = the model's input size),
    as `data.pipelines.decode_frame` makes the benchmark's frames."""
    images = tf.image.convert_image_dtype(images, tf.float32)
    size = [self.input_size, self.input_size]
    same = tf.reduce_all(tf.equal(tf.shape(images)[1:3], size))
    images = tf.cond(same, lambda: tf.identity(images),
                     lambda: tf.image.resize(images, size, antialias=True))
    return tf.ensure_shape(images, [None, self.input_size, self.input_size, 3])

  def predict(self, images):
    """float32 `[B, S, S, 3]` -> {pose3d [B, 17, 3] mm, latent [B, D]}."""
    latent = self.image_to_latent(images, training=False)
    return {"pose3d": self.pose_decoder(latent, training=False), "latent": latent}

  # --- one tf.function per input kind --------------------------------------------------------
  @signature("serving_default", "uint8 person crops [N, H, W, 3], any H, W",
             images=lambda m: tf.TensorSpec([None, None, None, None], tf.uint8, "images"))
  def serve_images(self, images):
    images = self._check_images(images, "serving_default images (uint8 [N, H, W, 3])", 4)
    return self.predict(self.preprocess(images))

  @signature("serving_bytes", "JPEG or PNG encoded crops [N] (strings)",
             images=lambda m: tf.TensorSpec([None], tf.string, "images"))
  def serve_bytes(self, images):
    what = "serving_bytes images (JPEG or PNG encoded strings [N])"
    tf.debugging.assert_rank(images, 1, message=f"{what}: expected rank 1")
    size = [self.input_size, self.input_size]

    def decode(encoded):
      magic = tf.strings.substr(encoded, 0, 4)
      is_png = tf.equal(magic, b"\x89PNG")
      is_jpeg = tf.equal(tf.strings.substr(encoded, 0, 3), b"\xff\xd8\xff")
      check = tf.debugging.Assert(tf.logical_or(is_png, is_jpeg),
                                  [f"{what}: an element is not a JPEG or PNG image"])
      with tf.control_dependencies([check]):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
      image = tf.image.convert_image_dtype(image, tf.float32)
      same = tf.reduce_all(tf.equal(tf.shape(image)[:2], size))
      image = tf.cond(same, lambda: tf.identity(image),
                      lambda: tf.image.resize(image, size, antialias=True))
      return tf.ensure_shape(image, size + [3])

    frames = tf.map_fn(decode, images,
                       fn_output_signature=tf.TensorSpec(size + [3], tf.float32))
    return self.predict(frames)

  @signature("serving_clip", "uint8 clips [N, 30, H, W, 3] -> per-frame poses + motion",
             needs_motion=True,
             clips=lambda m: tf.TensorSpec([None, m.clip_length, None, None, None], tf.uint8,
                                           "clips"))
  def serve_clips(self, clips):
    what = f"serving_clip clips (uint8 [N, {self.clip_length}, H, W, 3])"
    clips = self._check_images(clips, what, 5)
    shape = tf.shape(clips)
    frames = tf.reshape(clips, tf.concat([[-1], shape[2:]], axis=0))
    out = self.predict(self.preprocess(frames))
    batch_time = shape[:2]
    latent = tf.reshape(out["latent"], tf.concat([batch_time, [self.latent_dim]], 0))
    return {"pose3d": tf.reshape(out["pose3d"], tf.concat([batch_time, [17, 3]], 0)),
            "latent": latent, "motion": self.motion_encoder(latent, training=False)}

  @signature(DEVICE_SIGNATURE, "one uint8 crop [1, S, S, 3] at the model's input size (TFLite)",
             images=lambda m: tf.TensorSpec([1, m.input_size, m.input_size, 3], tf.uint8,
                                            "images"))
  def serve_device(self, images):
    # No resize: TFLite's builtins lack the antialiased resize; devices crop at the input size.
    return self.predict(tf.image.convert_image_dtype(images, tf.float32))

  # --- the signatures ------------------------------------------------------------------------
  def available_signatures(self):
    return [k for k, s in SIGNATURES.items()
            if self.motion_encoder is not None or not getattr(self, s.method).needs_motion]

  def get_inference_signatures(self, keys=None):
    """{signature key: concrete function} for `keys` (default: every one this module can
    serve; the clip signature needs E_m)."""
    keys = self.available_signatures() if keys is None else list(keys)
    out = {}
    for key in keys:
      if key not in SIGNATURES:
        raise errors.UserError(f"unknown signature {key!r}; known: {list(SIGNATURES)}")
      spec = SIGNATURES[key]
      if key not in self.available_signatures():
        raise errors.UserError(f"signature {key!r} needs a motion AAE (E_m)")
      function = tf.function(getattr(self, spec.method))
      out[key] = function.get_concrete_function(
          **{name: make(self) for name, make in spec.inputs.items()})
    return out
