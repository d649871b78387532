"""Pose adversarial auto-encoder: `E_p` (pose -> z) and `D_p` (z -> pose), paper Sec. 3.1.2a.

z lives in the box [-r, r]^latent_dim (r = `latent_range`: 1 in the paper, 10 in the authors'
code) and is pushed towards the uniform prior U(-r, r) by two adversaries, as an adversarial
auto-encoder (Makhzani et al.):
- a latent discriminator separates encoder codes `E_p(y)` from prior samples;
- a pose discriminator separates real poses from `D_p(z ~ U(-r, r))`, so that random codes
  decode to plausible poses (the adaptation step only ever sees `D_p` applied to codes it did
  not encode).
Both adversaries and the auto-encoder are updated together in each `train_step`.
"""

import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import skeleton
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling import layers as sl

# Approximate Human3.6M mean bone lengths in mm (rounded), in `skeleton.BONES` order
# (child joints 1..16). A template only: pass the mean of the mocap set actually used.
H36M_MEAN_BONE_LENGTHS_MM = (
    133.0, 443.0, 454.0,          # r_hip, r_knee, r_ankle
    133.0, 443.0, 454.0,          # l_hip, l_knee, l_ankle
    234.0, 257.0, 121.0, 115.0,   # spine, thorax, neck_nose, head
    151.0, 279.0, 250.0,          # l_shoulder, l_elbow, l_wrist
    151.0, 279.0, 250.0,          # r_shoulder, r_elbow, r_wrist
)
DECODER_OUTPUTS = ("joints", "bones")
BONE_SCALES = ("fixed", "predicted")
# 'predicted' bone scale: s = exp(MAX_LOG_BONE_SCALE * tanh(h)), i.e. s in [0.78, 1.28].
MAX_LOG_BONE_SCALE = 0.25


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class BoneScale(keras.layers.Layer):
  """Global bone-length multiplier `exp(max_log_scale * tanh(h))`, `[B, 1]` -> `[B, 1]`."""

  def __init__(self, max_log_scale=MAX_LOG_BONE_SCALE, **kwargs):
    super().__init__(**kwargs)
    self.max_log_scale = float(max_log_scale)

  def call(self, logits):
    return keras.ops.exp(self.max_log_scale * keras.ops.tanh(logits))

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update(max_log_scale=self.max_log_scale)
    return config


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class PoseAutoencoder(sl.TwoOptimizerModelMixin, keras.Model):
  """Pose AAE: `encoder` = E_p, `decoder` = D_p, plus `latent_discriminator` and
  `pose_discriminator` used only in training.

  Input poses: `[B, 17, 3]` float32, mm, camera frame; the root is subtracted inside `E_p` so the
  code never depends on the global position. Poses are divided by `pose_scale_mm` inside.

  Args:
    latent_dim: size of z (32 in the paper).
    latent_range: r of the box [-r, r]; z = r * tanh(h / r); the prior is U(-r, r).
    encoder_units / decoder_units: hidden Dense widths of E_p / D_p.
    discriminator_units: hidden widths of both discriminators.
    activation: hidden activation (any Keras name, default 'leaky_relu').
    pose_scale_mm: fixed normalisation of poses (mm per unit).
    decoder_output: 'joints' (D_p predicts the 16 non-root joints freely, root fixed to 0) or
      'bones' (D_p predicts one direction per bone, normalised to unit length and multiplied by
      bone lengths; forward kinematics over `skeleton.PARENTS`; every decoded pose is a valid
      skeleton, as the authors' decoder).
    bone_lengths_mm: `[16]` bone lengths in `skeleton.BONES` order for 'bones'; None ->
      `H36M_MEAN_BONE_LENGTHS_MM`.
    bone_scale: 'fixed' (lengths exactly `bone_lengths_mm`) or 'predicted' (D_p also predicts
      one global multiplier in [0.78, 1.28] of all lengths, for people of other sizes).
    reconstruction_loss: 'l1' | 'l2' | 'mpjpe' on (pose error in mm) / pose_scale_mm.
    latent_adversarial_weight / pose_adversarial_weight: weights of the two generator terms in
      the auto-encoder loss (0 disables one; its discriminator still trains).
    discriminator_r1_weight: gamma of an R1 gradient penalty on both discriminators' real
      inputs (0 = off).
      Without R1, weights of 0.1 or more collapsed E_p (the latent discriminator wins and drives
      the codes into tanh saturation); the measured sweep behind the defaults is in
      docs/prelearning.md, Stage 1.
      Watch the `latent_saturation` metric (fraction of |z| > 0.99 r).
    check_numerics: raise (graph mode) when a loss is NaN/Inf.
  """

  def __init__(self, latent_dim=32, latent_range=1.0, encoder_units=(1024, 1024),
               decoder_units=(1024, 1024), discriminator_units=(512, 512),
               activation="leaky_relu", pose_scale_mm=1000.0, decoder_output="joints",
               bone_lengths_mm=None, bone_scale="fixed", reconstruction_loss="l1",
               latent_adversarial_weight=0.1, pose_adversarial_weight=0.1,
               discriminator_r1_weight=1.0, check_numerics=True, seed=None, **kwargs):
    super().__init__(**kwargs)
    if decoder_output not in DECODER_OUTPUTS:
      raise ValueError(f"decoder_output must be one of {DECODER_OUTPUTS}, got {decoder_output!r}")
    if bone_scale not in BONE_SCALES:
      raise ValueError(f"bone_scale must be one of {BONE_SCALES}, got {bone_scale!r}")
    self.latent_dim = int(latent_dim)
    self.latent_range = float(latent_range)
    self.encoder_units = tuple(int(u) for u in encoder_units)
    self.decoder_units = tuple(int(u) for u in decoder_units)
    self.discriminator_units = tuple(int(u) for u in discriminator_units)
    self.activation = activation
    self.pose_scale_mm = float(pose_scale_mm)
    self.decoder_output = decoder_output
    if decoder_output == "bones" and bone_lengths_mm is None:
      bone_lengths_mm = H36M_MEAN_BONE_LENGTHS_MM
    self.bone_lengths_mm = (None if bone_lengths_mm is None
                            else [float(v) for v in np.asarray(bone_lengths_mm).reshape(-1)])
    self.bone_scale = bone_scale
    self.reconstruction_loss = sl.check_reconstruction_loss(reconstruction_loss)
    self.latent_adversarial_weight = float(latent_adversarial_weight)
    self.pose_adversarial_weight = float(pose_adversarial_weight)
    self.discriminator_r1_weight = float(discriminator_r1_weight)
    self.check_numerics = bool(check_numerics)
    self.seed = seed

    pose_shape = (skeleton.NUM_JOINTS, 3)
    self.encoder = self._build_encoder(pose_shape)
    self.decoder = self._build_decoder()
    poses_in = keras.Input(pose_shape, name="poses")
    x = keras.layers.Flatten(name="flatten")(
        sl.RootRelativeNormalize(self.pose_scale_mm, name="normalize")(poses_in))
    self.pose_discriminator = keras.Model(
        poses_in, sl.dense_stack(x, self.discriminator_units, activation, "pose_disc", 1),
        name="pose_discriminator")
    codes_in = keras.Input((self.latent_dim,), name="z")
    self.latent_discriminator = keras.Model(
        codes_in, sl.dense_stack(codes_in, self.discriminator_units, activation, "latent_disc",
                                 1),
        name="latent_discriminator")
    self.prior_seed_generator = keras.random.SeedGenerator(seed, name="prior_seed")

    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
    self.mpjpe_tracker = keras.metrics.Mean(name="mpjpe_mm")
    self.latent_disc_tracker = keras.metrics.Mean(name="latent_disc_loss")
    self.pose_disc_tracker = keras.metrics.Mean(name="pose_disc_loss")
    self.latent_adv_tracker = keras.metrics.Mean(name="latent_adv_loss")
    self.pose_adv_tracker = keras.metrics.Mean(name="pose_adv_loss")
    self.latent_std_tracker = keras.metrics.Mean(name="latent_std")
    self.saturation_tracker = keras.metrics.Mean(name="latent_saturation")
    self.built = True

  def _build_encoder(self, pose_shape):
    poses = keras.Input(pose_shape, name="poses")
    x = sl.RootRelativeNormalize(self.pose_scale_mm, name="normalize")(poses)
    x = keras.layers.Flatten(name="flatten")(x)
    h = sl.dense_stack(x, self.encoder_units, self.activation, "encoder", self.latent_dim)
    z = sl.BoundedLatent(self.latent_range, name="bounded_z")(h)
    return keras.Model(poses, sl.float32_output(z, "z_float32"), name="pose_encoder")

  def _build_decoder(self):
    num_bones = len(skeleton.BONES)
    z = keras.Input((self.latent_dim,), name="z")
    h = sl.dense_stack(z, self.decoder_units, self.activation, "decoder")
    raw = keras.layers.Dense(num_bones * 3, name="decoder_out")(h)
    raw = keras.layers.Reshape((num_bones, 3), name="reshape")(raw)
    if self.decoder_output == "joints":
      poses = sl.JointsFromOffsets(self.pose_scale_mm, name="joints")(raw)
    else:
      fk = sl.BonesToJoints(self.bone_lengths_mm, name="forward_kinematics")
      if self.bone_scale == "predicted":
        scale = BoneScale(name="bone_scale")(keras.layers.Dense(1, name="bone_scale_logit")(h))
        poses = fk(raw, scale)
      else:
        poses = fk(raw)
    return keras.Model(z, sl.float32_output(poses, "poses_float32"), name="pose_decoder")

  # --- inference helpers -------------------------------------------------------------------
  def call(self, poses, training=False):
    """Reconstruction `D_p(E_p(poses))`, `[B, 17, 3]` mm, root-relative."""
    return self.decoder(self.encoder(poses, training=training), training=training)

  def encode(self, poses):
    """E_p: poses `[B, 17, 3]` mm -> z `[B, latent_dim]` in (-r, r)."""
    return self.encoder(poses, training=False)

  def decode(self, z):
    """D_p: z `[B, latent_dim]` -> root-relative poses `[B, 17, 3]` in mm."""
    return self.decoder(z, training=False)

  def sample_prior(self, n, seed=None):
    """`n` codes from the uniform prior U(-r, r)^latent_dim (deterministic for an int seed)."""
    r = self.latent_range
    return keras.random.uniform((int(n), self.latent_dim), minval=-r, maxval=r, seed=seed)

  def sample_poses(self, n, seed=None):
    """D_p of `n` prior samples: `[n, 17, 3]` mm."""
    return self.decode(self.sample_prior(n, seed))

  # --- training ------------------------------------------------------------------------------
  def compile(self, autoencoder_optimizer="adam", discriminator_optimizer="adam", **kwargs):
    """`autoencoder_optimizer` updates E_p and D_p, `discriminator_optimizer` both
    discriminators; `**kwargs` go to `keras.Model.compile` (jit_compile, steps_per_execution,
    run_eagerly)."""
    self._compile_two(autoencoder_optimizer, discriminator_optimizer, **kwargs)

  def _primary_variables(self):
    return self.encoder.trainable_variables + self.decoder.trainable_variables

  def _discriminator_variables(self):
    return (self.latent_discriminator.trainable_variables
            + self.pose_discriminator.trainable_variables)

  @property
  def metrics(self):
    return [self.loss_tracker, self.reconstruction_tracker, self.mpjpe_tracker,
            self.latent_disc_tracker, self.pose_disc_tracker, self.latent_adv_tracker,
            self.pose_adv_tracker, self.latent_std_tracker, self.saturation_tracker]

  def _check(self, value, what):
    return sl.check_finite(value, f"{self.name}: {what}") if self.check_numerics else value

  def _reconstruction_terms(self, target, reconstruction):
    """(loss, MPJPE in mm) of a reconstruction against root-relative `target`."""
    diff = reconstruction - target
    rec_loss = tf.reduce_mean(sl.reconstruction_error(diff / self.pose_scale_mm,
                                                      self.reconstruction_loss))
    mpjpe = tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12))
    return rec_loss, mpjpe

  def _saturation(self, z):
    """Fraction of code entries with |z| > 0.99 r: saturated tanh units get no gradient."""
    return tf.reduce_mean(tf.cast(tf.abs(z) > 0.99 * self.latent_range, tf.float32))

  def _real_logits_and_r1(self, discriminator, real, input_scale):
    return sl.real_logits_and_r1(discriminator, real, input_scale,
                                 enabled=bool(self.discriminator_r1_weight))

  def train_step(self, data):
    """One simultaneous update of E_p/D_p and of both discriminators from one forward pass (two
    tapes, as TF's DCGAN tutorial). Discriminators: prior codes and real poses are "real",
    stop_gradient(E_p(y)) and stop_gradient(D_p(prior z)) are "fake". Auto-encoder: reconstruction
    + weighted non-saturating terms for fooling both."""
    poses = tf.convert_to_tensor(sl.unpack_model_input(data, "pose3d", self.name), tf.float32)
    batch = tf.shape(poses)[0]
    r = self.latent_range
    prior_z = keras.random.uniform((batch, self.latent_dim), minval=-r, maxval=r,
                                   seed=self.prior_seed_generator)
    target = poses - poses[:, skeleton.ROOT:skeleton.ROOT + 1, :]
    with tf.GradientTape() as ae_tape, tf.GradientTape() as disc_tape:
      z = self.encoder(poses, training=True)
      reconstruction = self.decoder(z, training=True)
      prior_poses = self.decoder(prior_z, training=True)
      rec_loss, mpjpe = self._reconstruction_terms(target, reconstruction)
      latent_real, latent_r1 = self._real_logits_and_r1(self.latent_discriminator, prior_z, 1.0)
      pose_real, pose_r1 = self._real_logits_and_r1(self.pose_discriminator, target,
                                                    self.pose_scale_mm)
      latent_disc = sl.discriminator_loss(
          latent_real, self.latent_discriminator(tf.stop_gradient(z), training=True))
      pose_disc = sl.discriminator_loss(
          pose_real, self.pose_discriminator(tf.stop_gradient(prior_poses), training=True))
      disc_loss = latent_disc + pose_disc
      if self.discriminator_r1_weight:
        disc_loss += 0.5 * self.discriminator_r1_weight * (latent_r1 + pose_r1)
      disc_loss = self._check(disc_loss, "discriminator loss")
      latent_adv = sl.generator_loss(self.latent_discriminator(z, training=True))
      pose_adv = sl.generator_loss(self.pose_discriminator(prior_poses, training=True))
      loss = (rec_loss + self.latent_adversarial_weight * latent_adv
              + self.pose_adversarial_weight * pose_adv)
      loss = self._check(loss, "auto-encoder loss")
      # Loss scaling under mixed_float16 (identity otherwise; apply_gradients unscales) of each
      # replica's share (the optimizers sum the replicas' gradients).
      scaled_loss = self.autoencoder_optimizer.scale_loss(sl.replica_share(loss))
      scaled_disc_loss = self.discriminator_optimizer.scale_loss(sl.replica_share(disc_loss))
    ae_vars = self._primary_variables()
    disc_vars = self._discriminator_variables()
    ae_grads = ae_tape.gradient(scaled_loss, ae_vars)
    disc_grads = disc_tape.gradient(scaled_disc_loss, disc_vars)
    self.autoencoder_optimizer.apply_gradients(zip(ae_grads, ae_vars))
    self.discriminator_optimizer.apply_gradients(zip(disc_grads, disc_vars))

    self.loss_tracker.update_state(loss)
    self.reconstruction_tracker.update_state(rec_loss)
    self.mpjpe_tracker.update_state(mpjpe)
    self.latent_disc_tracker.update_state(latent_disc)
    self.pose_disc_tracker.update_state(pose_disc)
    self.latent_adv_tracker.update_state(latent_adv)
    self.pose_adv_tracker.update_state(pose_adv)
    self.latent_std_tracker.update_state(sl.batch_std(z))
    self.saturation_tracker.update_state(self._saturation(z))
    return {m.name: m.result() for m in self.metrics}

  def test_step(self, data):
    poses = tf.convert_to_tensor(sl.unpack_model_input(data, "pose3d", self.name), tf.float32)
    target = poses - poses[:, skeleton.ROOT:skeleton.ROOT + 1, :]
    z = self.encoder(poses, training=False)
    reconstruction = self.decoder(z, training=False)
    rec_loss, mpjpe = self._reconstruction_terms(target, reconstruction)
    rec_loss = self._check(rec_loss, "reconstruction loss")
    self.loss_tracker.update_state(rec_loss)
    self.reconstruction_tracker.update_state(rec_loss)
    self.mpjpe_tracker.update_state(mpjpe)
    self.latent_std_tracker.update_state(sl.batch_std(z))
    self.saturation_tracker.update_state(self._saturation(z))
    trackers = (self.loss_tracker, self.reconstruction_tracker, self.mpjpe_tracker,
                self.latent_std_tracker, self.saturation_tracker)
    return {m.name: m.result() for m in trackers}

  def get_config(self):
    config = super().get_config()
    config.update(
        latent_dim=self.latent_dim, latent_range=self.latent_range,
        encoder_units=list(self.encoder_units), decoder_units=list(self.decoder_units),
        discriminator_units=list(self.discriminator_units), activation=self.activation,
        pose_scale_mm=self.pose_scale_mm, decoder_output=self.decoder_output,
        bone_lengths_mm=self.bone_lengths_mm, bone_scale=self.bone_scale,
        reconstruction_loss=self.reconstruction_loss,
        latent_adversarial_weight=self.latent_adversarial_weight,
        pose_adversarial_weight=self.pose_adversarial_weight,
        discriminator_r1_weight=self.discriminator_r1_weight,
        check_numerics=self.check_numerics, seed=self.seed)
    return config

  @classmethod
  def from_config(cls, config):
    return cls(**config)


# The stage passes its own seed; every other argument is a gin setting (`PoseAutoencoder.*`).
constructor_settings.register(PoseAutoencoder, given_by_stage=("seed",))
