"""Motion adversarial auto-encoder: `E_m` (latent pose sequence Z -> v) and `D_m` (v -> Z) of the
paper (Sec. 3.1.2b, implementation details in Sec. 4).

E_m: `num_layers` bidirectional LSTMs (128 units each way in the paper) over Z `[B, 30, 32]`; the
last one returns its final forward and backward states, concatenated, and a linear Dense maps
them to v `[B, 128]`.
D_m: v repeated over the `sequence_length` frames ("repeat-vector"), `num_layers` bidirectional
LSTMs returning sequences, a Dense per frame, bounded by `r * tanh(. / r)` to the pose-code box.

The motion code v is pushed towards a prior by an adversarial discriminator (as the pose AAE):
- `motion_prior='normal'` (default): v is unbounded (v in R^128 as the paper), prior N(0, I).
- `motion_prior='uniform'`: v = m * tanh(h / m) with m = `motion_range`, prior U(-m, m).
"""

import keras
import tensorflow as tf

from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling import layers as sl

MOTION_PRIORS = ("normal", "uniform")


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class MotionAutoencoder(sl.TwoOptimizerModelMixin, keras.Model):
  """Motion AAE: `encoder` = E_m, `decoder` = D_m, `discriminator` on v (training only).

  Input: latent pose sequences `[B, sequence_length, latent_dim]` (in the stage: frozen E_p codes
  of 30-frame mocap clips at 30 fps).

  Args:
    sequence_length: T (30).
    latent_dim: size of each frame's pose code z (32).
    latent_range: r of the pose-code box; D_m's output is bounded by it.
    motion_dim: size of v (128).
    lstm_units: units per direction of every bidirectional LSTM (128).
    num_layers: stacked bidirectional LSTMs in E_m and in D_m.
    motion_prior / motion_range: see the module docstring.
    discriminator_units / activation: the v discriminator MLP.
    reconstruction_loss: 'l1' | 'l2' | 'mpjpe' on (Z error) / latent_range.
    adversarial_weight: weight of the generator term in the auto-encoder loss.
    discriminator_r1_weight: gamma of an R1 gradient penalty on the discriminator's prior
      samples (0 = off); see `PoseAutoencoder` for why it matters with a bounded ('uniform') v.
    use_cudnn: passed to the LSTMs. On a GPU with 'auto', Keras uses cuDNN kernels and then
      turns `jit_compile=True` off for the model (with a warning); pass False to run under XLA.
    check_numerics: raise (graph mode) when a loss is NaN/Inf.
  """

  def __init__(self, sequence_length=30, latent_dim=32, latent_range=1.0, motion_dim=128,
               lstm_units=128, num_layers=1, motion_prior="normal", motion_range=1.0,
               discriminator_units=(256, 256), activation="leaky_relu",
               reconstruction_loss="l1", adversarial_weight=0.01, discriminator_r1_weight=0.0,
               use_cudnn="auto",
               check_numerics=True, seed=None, **kwargs):
    super().__init__(**kwargs)
    if motion_prior not in MOTION_PRIORS:
      raise ValueError(f"motion_prior must be one of {MOTION_PRIORS}, got {motion_prior!r}")
    if int(num_layers) < 1:
      raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    self.sequence_length = int(sequence_length)
    self.latent_dim = int(latent_dim)
    self.latent_range = float(latent_range)
    self.motion_dim = int(motion_dim)
    self.lstm_units = int(lstm_units)
    self.num_layers = int(num_layers)
    self.motion_prior = motion_prior
    self.motion_range = float(motion_range)
    self.discriminator_units = tuple(int(u) for u in discriminator_units)
    self.activation = activation
    self.reconstruction_loss = sl.check_reconstruction_loss(reconstruction_loss)
    self.adversarial_weight = float(adversarial_weight)
    self.discriminator_r1_weight = float(discriminator_r1_weight)
    self.use_cudnn = use_cudnn
    self.check_numerics = bool(check_numerics)
    self.seed = seed

    self.encoder = self._build_encoder()
    self.decoder = self._build_decoder()
    codes = keras.Input((self.motion_dim,), name="v")
    self.discriminator = keras.Model(
        codes, sl.dense_stack(codes, self.discriminator_units, activation, "motion_disc", 1),
        name="motion_discriminator")
    self.prior_seed_generator = keras.random.SeedGenerator(seed, name="prior_seed")

    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
    self.latent_error_tracker = keras.metrics.Mean(name="latent_mae")
    self.disc_tracker = keras.metrics.Mean(name="motion_disc_loss")
    self.adv_tracker = keras.metrics.Mean(name="motion_adv_loss")
    self.code_std_tracker = keras.metrics.Mean(name="motion_code_std")
    self.built = True

  def _lstm(self, return_sequences, name):
    # The backward LSTM is passed explicitly: Bidirectional's own copy of the forward layer
    # breaks under `keras.models.load_model` (object-sharing scope -> both go_backwards=True).
    forward, backward = (
        keras.layers.LSTM(self.lstm_units, return_sequences=return_sequences,
                          go_backwards=go_backwards, use_cudnn=self.use_cudnn,
                          name=f"{name}_{direction}")
        for direction, go_backwards in (("forward", False), ("backward", True)))
    return keras.layers.Bidirectional(forward, backward_layer=backward, merge_mode="concat",
                                      name=name)

  def _build_encoder(self):
    sequences = keras.Input((self.sequence_length, self.latent_dim), name="latent_sequence")
    x = sequences
    for i in range(self.num_layers):
      x = self._lstm(return_sequences=i < self.num_layers - 1, name=f"encoder_bilstm{i}")(x)
    v = keras.layers.Dense(self.motion_dim, name="encoder_out")(x)
    if self.motion_prior == "uniform":
      v = sl.BoundedLatent(self.motion_range, name="bounded_v")(v)
    return keras.Model(sequences, sl.float32_output(v, "v_float32"), name="motion_encoder")

  def _build_decoder(self):
    codes = keras.Input((self.motion_dim,), name="v")
    x = keras.layers.RepeatVector(self.sequence_length, name="repeat")(codes)
    for i in range(self.num_layers):
      x = self._lstm(return_sequences=True, name=f"decoder_bilstm{i}")(x)
    h = keras.layers.Dense(self.latent_dim, name="decoder_out")(x)
    z = sl.BoundedLatent(self.latent_range, name="bounded_z")(h)
    return keras.Model(codes, sl.float32_output(z, "z_float32"), name="motion_decoder")

  # --- inference helpers -------------------------------------------------------------------
  def call(self, latent_sequences, training=False):
    """Reconstruction `D_m(E_m(Z))`, `[B, T, latent_dim]`."""
    return self.decoder(self.encoder(latent_sequences, training=training), training=training)

  def encode(self, latent_sequences):
    """E_m: `[B, T, latent_dim]` -> v `[B, motion_dim]`."""
    return self.encoder(latent_sequences, training=False)

  def decode(self, codes):
    """D_m: v `[B, motion_dim]` -> `[B, T, latent_dim]` in (-r, r)."""
    return self.decoder(codes, training=False)

  def sample_prior(self, n, seed=None):
    """`n` motion codes from the prior (N(0, I) or U(-m, m))."""
    return self._prior((int(n), self.motion_dim), seed)

  def _prior(self, shape, seed):
    if self.motion_prior == "normal":
      return keras.random.normal(shape, seed=seed)
    m = self.motion_range
    return keras.random.uniform(shape, minval=-m, maxval=m, seed=seed)

  # --- training ------------------------------------------------------------------------------
  def compile(self, autoencoder_optimizer="adam", discriminator_optimizer="adam", **kwargs):
    """`autoencoder_optimizer` updates E_m and D_m, `discriminator_optimizer` the v
    discriminator; `**kwargs` go to `keras.Model.compile` (jit_compile, ...)."""
    self._compile_two(autoencoder_optimizer, discriminator_optimizer, **kwargs)

  def _primary_variables(self):
    return self.encoder.trainable_variables + self.decoder.trainable_variables

  def _discriminator_variables(self):
    return self.discriminator.trainable_variables

  @property
  def metrics(self):
    return [self.loss_tracker, self.reconstruction_tracker, self.latent_error_tracker,
            self.disc_tracker, self.adv_tracker, self.code_std_tracker]

  def _check(self, value, what):
    return sl.check_finite(value, f"{self.name}: {what}") if self.check_numerics else value

  def _input(self, data):
    sequences = tf.convert_to_tensor(
        sl.unpack_model_input(data, "latent_sequence", self.name), tf.float32)
    if sequences.shape.rank != 3 or sequences.shape[-1] != self.latent_dim:
      raise ValueError(f"{self.name} expects latent sequences [B, {self.sequence_length}, "
                       f"{self.latent_dim}], got {sequences.shape}")
    return sequences

  def _reconstruction_terms(self, sequences, reconstruction):
    diff = reconstruction - sequences
    rec_loss = tf.reduce_mean(sl.reconstruction_error(diff / self.latent_range,
                                                      self.reconstruction_loss))
    return rec_loss, tf.reduce_mean(tf.abs(diff))

  def train_step(self, data):
    """One simultaneous update of the auto-encoder and the discriminator from one forward pass
    (two tapes, as TF's DCGAN tutorial): the discriminator sees stop_gradient(E_m(Z)) as fake and
    prior samples as real; E_m/D_m minimise reconstruction + adversarial_weight * fool-D."""
    sequences = self._input(data)
    batch = tf.shape(sequences)[0]
    prior_v = self._prior((batch, self.motion_dim), self.prior_seed_generator)
    with tf.GradientTape() as ae_tape, tf.GradientTape() as disc_tape:
      v = self.encoder(sequences, training=True)
      reconstruction = self.decoder(v, training=True)
      rec_loss, latent_mae = self._reconstruction_terms(sequences, reconstruction)
      real_logits, r1 = sl.real_logits_and_r1(self.discriminator, prior_v,
                                              enabled=bool(self.discriminator_r1_weight))
      disc_loss = sl.discriminator_loss(
          real_logits, self.discriminator(tf.stop_gradient(v), training=True))
      if self.discriminator_r1_weight:
        disc_loss += 0.5 * self.discriminator_r1_weight * r1
      disc_loss = self._check(disc_loss, "discriminator loss")
      adv_loss = sl.generator_loss(self.discriminator(v, training=True))
      loss = self._check(rec_loss + self.adversarial_weight * adv_loss, "auto-encoder loss")
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
    self.latent_error_tracker.update_state(latent_mae)
    self.disc_tracker.update_state(disc_loss)
    self.adv_tracker.update_state(adv_loss)
    self.code_std_tracker.update_state(sl.batch_std(v))
    return {m.name: m.result() for m in self.metrics}

  def test_step(self, data):
    sequences = self._input(data)
    v = self.encoder(sequences, training=False)
    rec_loss, latent_mae = self._reconstruction_terms(sequences,
                                                      self.decoder(v, training=False))
    rec_loss = self._check(rec_loss, "reconstruction loss")
    self.loss_tracker.update_state(rec_loss)
    self.reconstruction_tracker.update_state(rec_loss)
    self.latent_error_tracker.update_state(latent_mae)
    self.code_std_tracker.update_state(sl.batch_std(v))
    trackers = (self.loss_tracker, self.reconstruction_tracker, self.latent_error_tracker,
                self.code_std_tracker)
    return {m.name: m.result() for m in trackers}

  def get_config(self):
    config = super().get_config()
    config.update(
        sequence_length=self.sequence_length, latent_dim=self.latent_dim,
        latent_range=self.latent_range, motion_dim=self.motion_dim,
        lstm_units=self.lstm_units, num_layers=self.num_layers,
        motion_prior=self.motion_prior, motion_range=self.motion_range,
        discriminator_units=list(self.discriminator_units), activation=self.activation,
        reconstruction_loss=self.reconstruction_loss,
        adversarial_weight=self.adversarial_weight,
        discriminator_r1_weight=self.discriminator_r1_weight, use_cudnn=self.use_cudnn,
        check_numerics=self.check_numerics, seed=self.seed)
    return config

  @classmethod
  def from_config(cls, config):
    return cls(**config)


# The window length is the clips', the latent size and range are the pose AAE's and the seed is
# the stage's; the rest are gin settings (`MotionAutoencoder.*`).
constructor_settings.register(
    MotionAutoencoder, given_by_stage=("sequence_length", "latent_dim", "latent_range", "seed"))
