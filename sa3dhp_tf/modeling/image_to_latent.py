"""Image-to-latent network `G^s` / `G` (paper Sec. 3.1.3 and 4) and its source-training wrapper.

`ImageToLatent`: images `[B, H, W, 3]` float32 in [0, 1] -> backbone preprocessing -> backbone up
to Res-4 -> global average pooling -> FC "embedding" layers -> `Dense(latent_dim)` ->
`r * tanh(h / r)`, i.e. a pose code z in the same box as `E_p`'s.

`SourcePoseRegressor`: trains `G^s` on labeled source images with `|| D_p(G^s(x)) - y ||`, D_p
frozen (Algorithm 1, step 3).
"""

import keras
import tensorflow as tf

from sa3dhp_tf import skeleton
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling import backbones
from sa3dhp_tf.modeling import layers as sl

EMBEDDING = "embedding"
TRAINABLE_GROUPS = backbones.BACKBONE_STAGES + (EMBEDDING,)


def _parameter_variables(layer):
  """Variables `layer` creates as trainable (kernels, biases, BatchNorm gamma/beta), whether or
  not the layer is frozen now; BatchNorm moving statistics are not included."""
  # Keras toggles `variable.trainable` with `layer.trainable`, so the public lists depend on the
  # current freezing; `_trainable_variables` keeps the variables created trainable.
  return list(layer._trainable_variables)  # pylint: disable=protected-access


POOLINGS = ("avg", "flatten")


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class ImageToLatent(keras.Model):
  """`G^s` / `G`: images -> pose code z `[B, latent_dim]` in (-r, r).

  Args:
    backbone: a registered backbone (`backbones.backbone_names()`): 'small_resnet' (CPU,
      64-128 px), 'mobilenet_v2', or 'resnet50' (the paper's, cut at Res-4F).
    input_size: image side (int) or `(height, width)`.
    latent_dim / latent_range: z's size and box [-r, r] (must match the pose AAE).
    fc_units: widths of the FC embedding layers after global average pooling; the first one's
      output is `call_with_features`'s `features` (where the contrastive projection head sits).
    fc_activation: their activation.
    backbone_weights: None | 'imagenet' (resnet50, needs network) | path to a weights file (see
      `backbones.build_backbone`). Initialisation only: `get_config` stores None, since saved
      models carry their trained weights.
    backbone_widths / backbone_blocks: small_resnet stage widths and block counts.
    trainable_stages: None (everything trainable) or the groups left trainable, a subset of
      ('stem', 'res2', 'res3', 'res4', 'embedding'); see `set_trainable_stages`.
    batchnorm_trainable: see `set_trainable_stages`.
    pooling: how the backbone's feature map becomes the FC input: 'avg' (global average) or
      'flatten' (keeps the spatial layout).
  """

  def __init__(self, backbone="small_resnet", input_size=64, latent_dim=32, latent_range=1.0,
               fc_units=(1024, 512), fc_activation="relu", backbone_weights=None,
               backbone_widths=(32, 64, 128), backbone_blocks=(2, 2, 2),
               trainable_stages=None, batchnorm_trainable=True, pooling="avg", **kwargs):
    super().__init__(**kwargs)
    if pooling not in POOLINGS:
      raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    self.pooling = pooling
    if isinstance(input_size, int):
      image_hw = (input_size, input_size)
    else:
      image_hw = tuple(int(s) for s in input_size)
      if len(image_hw) != 2:
        raise ValueError(f"input_size must be an int or (height, width), got {input_size}")
    fc_units = tuple(int(u) for u in fc_units)
    if not fc_units:
      raise ValueError("fc_units needs at least one layer (its output is the feature vector)")
    self.backbone_name = backbone
    self.input_size = input_size if isinstance(input_size, int) else list(image_hw)
    self.image_hw = image_hw
    self.latent_dim = int(latent_dim)
    self.latent_range = float(latent_range)
    self.fc_units = fc_units
    self.fc_activation = fc_activation
    self.backbone_widths = tuple(int(w) for w in backbone_widths)
    self.backbone_blocks = tuple(int(b) for b in backbone_blocks)

    self.preprocess = sl.ImagePreprocessing(backbones.preprocessing_mode(backbone),
                                            name="preprocess")
    self.backbone = backbones.build_backbone(
        backbone, image_hw + (3,), weights=backbone_weights, widths=self.backbone_widths,
        blocks_per_stage=self.backbone_blocks)
    # 'avg' (global average pooling) discards where the limbs are; 'flatten' keeps the spatial
    # layout of the last feature map for the FC head (a small CNN at 64 px needs it).
    self.pool = (keras.layers.GlobalAveragePooling2D(name="global_pool") if pooling == "avg"
                 else keras.layers.Flatten(name="flatten_features"))
    self.fc_layers = [keras.layers.Dense(u, activation=fc_activation, name=f"embedding_fc{i}")
                      for i, u in enumerate(fc_units)]
    self.latent_head = keras.layers.Dense(self.latent_dim, name="embedding_out")
    self.bound = sl.BoundedLatent(self.latent_range, name="bounded_z")
    self._forward(keras.Input(image_hw + (3,), name="images"), training=False)
    self.built = True
    self.trainable_stages = None
    self.batchnorm_trainable = bool(batchnorm_trainable)
    if trainable_stages is not None:
      self.set_trainable_stages(trainable_stages, batchnorm_trainable)

  def _forward(self, images, training):
    x = self.backbone(self.preprocess(images), training=training)
    x = self.pool(x)
    features = None
    for layer in self.fc_layers:
      x = layer(x)
      if features is None:
        features = x
    return sl.float32_cast(self.bound(self.latent_head(x))), sl.float32_cast(features)

  def call(self, images, training=False):
    """z `[B, latent_dim]` for images `[B, H, W, 3]` float32 in [0, 1]."""
    return self._forward(images, training)[0]

  def call_with_features(self, images, training=False):
    """`(z [B, latent_dim], features [B, fc_units[0]])`; features = first FC layer's output
    (after its activation)."""
    return self._forward(images, training)

  # --- stage access / freezing -----------------------------------------------------------------
  def head_layers(self):
    """The FC embedding branch: `fc_layers` + `latent_head`."""
    return list(self.fc_layers) + [self.latent_head]

  def stage_layers(self, stage):
    """Layers of one group: a backbone stage ('stem', 'res2', 'res3', 'res4') or 'embedding'."""
    if stage == EMBEDDING:
      return self.head_layers()
    return backbones.backbone_stage_layers(self.backbone, stage)

  def stage_variables(self, stage):
    """Parameters (kernels, biases, BatchNorm gamma/beta) of one backbone stage or of
    'embedding', frozen or not; BatchNorm moving statistics are excluded (they have no
    gradient: they move when a BatchNorm layer runs with training=True and is trainable)."""
    return [v for layer in self.stage_layers(stage) for v in _parameter_variables(layer)]

  def embedding_variables(self):
    """Parameters of the FC head (`stage_variables('embedding')`)."""
    return self.stage_variables(EMBEDDING)

  def set_trainable_stages(self, stages, batchnorm_trainable=True):
    """Freezes everything except the listed groups ('stem', 'res2', 'res3', 'res4' and/or
    'embedding'); `trainable_variables` then holds exactly their parameters.

    Frozen BatchNorm layers run in inference mode even when called with training=True (Keras 3
    semantics of `trainable=False`): their moving statistics stay put. BatchNorm layers of the
    trainable stages use batch statistics under training=True and update their moving statistics
    (AdaBN-like); with `batchnorm_trainable=False` they are frozen too (inference mode, gamma and
    beta fixed) while the convolutions still train.

    After changing the flags, a model trained with `fit` needs `compile` again (or
    `make_train_function(force=True)`); custom loops should re-read `trainable_variables`.
    """
    if isinstance(stages, str):
      stages = (stages,)
    stages = tuple(stages)
    unknown = [s for s in stages if s not in TRAINABLE_GROUPS]
    if unknown:
      raise ValueError(f"unknown stages {unknown}; known: {TRAINABLE_GROUPS}")
    self.trainable = True
    for layer in self.backbone.layers:
      stage = backbones.stage_of_layer_name(layer.name, self.backbone_name)
      if stage is None:
        continue
      trainable = stage in stages
      if (trainable and not batchnorm_trainable
          and isinstance(layer, keras.layers.BatchNormalization)):
        trainable = False
      layer.trainable = trainable
    for layer in self.head_layers():
      layer.trainable = EMBEDDING in stages
    self.trainable_stages = tuple(s for s in TRAINABLE_GROUPS if s in stages)
    self.batchnorm_trainable = bool(batchnorm_trainable)

  def get_config(self):
    config = super().get_config()
    config.update(
        backbone=self.backbone_name, input_size=self.input_size, latent_dim=self.latent_dim,
        latent_range=self.latent_range, fc_units=list(self.fc_units),
        fc_activation=self.fc_activation, backbone_weights=None,
        backbone_widths=list(self.backbone_widths), backbone_blocks=list(self.backbone_blocks),
        trainable_stages=(None if self.trainable_stages is None
                          else list(self.trainable_stages)),
        batchnorm_trainable=self.batchnorm_trainable, pooling=self.pooling)
    return config

  @classmethod
  def from_config(cls, config):
    return cls(**config)


@keras.saving.register_keras_serializable(package=sl.PACKAGE)
class SourcePoseRegressor(keras.Model):
  """Source training of `G^s` (Algorithm 1, step 3): loss `|| D_p(G^s(x)) - y ||`, D_p frozen.

  Batches: a dict `{'image': [B, H, W, 3] in [0, 1], 'pose3d': [B, 17, 3] mm}` with an optional
  `'sample_weight': [B]` (multi-source mixing), or `(x_dict, None, sample_weight)`. Labels are
  made root-relative here (D_p decodes root-relative poses).

  Args:
    image_to_latent: an `ImageToLatent` (trained here; its current trainable flags apply).
    pose_decoder: D_p, e.g. `PoseAutoencoder.decoder` (z -> `[B, 17, 3]` mm). Set to
      `trainable=False` here (the object is shared with its auto-encoder).
    pose_scale_mm: errors are divided by it inside the loss.
    pose_loss: 'l1' | 'l2' | 'mpjpe' on (pose error in mm) / pose_scale_mm.
    check_numerics: raise (graph mode) when the input images or the loss are NaN/Inf.
    pose_encoder: E_p (poses `[B, 17, 3]` mm -> z), frozen; needed when latent_loss_weight > 0.
    latent_loss_weight: weight of an extra `mean |G^s(x) - E_p(y)|` term, the label's own code
      as a direct target in latent space. Not in the paper's step 3 (which has the pose loss
      only): through the frozen decoder alone a small CNN sat near the mean pose for hundreds of
      steps on the CPU budget (docs/prelearning.md), the latent target gives every code
      dimension a gradient from the first step. 0 (default) is the paper's loss.
    joint_head_weight: weight of an auxiliary linear head that regresses the root-relative joints
      (in units of pose_scale_mm, `pose_loss`) straight from G's first FC features. Also not in
      the paper: measured here, codes alone (through D_p or as latent targets) stayed at the
      mean pose for 600+ steps while the same CNN regressing joints learned from the start; the
      head shapes the backbone's features and is dropped afterwards (G itself is unchanged).
      0 (default) = no head.
  Metrics: loss, mpjpe_mm (unweighted, through D_p), latent_std (spread of predicted codes),
  latent_mae when latent_loss_weight > 0, joint_head_mpjpe_mm when joint_head_weight > 0.
  Compile with the standard `compile(optimizer=...)`.
  """

  def __init__(self, image_to_latent, pose_decoder, pose_scale_mm=1000.0, pose_loss="l1",
               check_numerics=True, pose_encoder=None, latent_loss_weight=0.0,
               joint_head_weight=0.0, **kwargs):
    super().__init__(**kwargs)
    if isinstance(image_to_latent, dict):
      image_to_latent = keras.saving.deserialize_keras_object(image_to_latent)
    if isinstance(pose_decoder, dict):
      pose_decoder = keras.saving.deserialize_keras_object(pose_decoder)
    if isinstance(pose_encoder, dict):
      pose_encoder = keras.saving.deserialize_keras_object(pose_encoder)
    self.latent_loss_weight = float(latent_loss_weight)
    self.joint_head_weight = float(joint_head_weight)
    for name, value in (("latent_loss_weight", self.latent_loss_weight),
                        ("joint_head_weight", self.joint_head_weight)):
      if not value >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if self.latent_loss_weight > 0.0 and pose_encoder is None:
      raise ValueError("latent_loss_weight > 0 needs pose_encoder (E_p) for the latent targets")
    if pose_encoder is not None and pose_encoder.output_shape[-1] != image_to_latent.latent_dim:
      raise ValueError(f"pose_encoder output {pose_encoder.output_shape} does not match "
                       f"image_to_latent.latent_dim={image_to_latent.latent_dim}")
    if image_to_latent.latent_dim != pose_decoder.input_shape[-1]:
      raise ValueError(f"image_to_latent.latent_dim={image_to_latent.latent_dim} does not match "
                       f"the pose decoder's input {pose_decoder.input_shape}")
    self.image_to_latent = image_to_latent
    self.pose_decoder = pose_decoder
    self.pose_decoder.trainable = False
    self.pose_encoder = pose_encoder
    if pose_encoder is not None:
      self.pose_encoder.trainable = False
    self.pose_scale_mm = float(pose_scale_mm)
    self.pose_loss = sl.check_reconstruction_loss(pose_loss)
    self.check_numerics = bool(check_numerics)
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.mpjpe_tracker = keras.metrics.Mean(name="mpjpe_mm")
    self.latent_std_tracker = keras.metrics.Mean(name="latent_std")
    self.latent_mae_tracker = keras.metrics.Mean(name="latent_mae")
    self.joint_head_tracker = keras.metrics.Mean(name="joint_head_mpjpe_mm")
    self.joint_head = None
    if self.joint_head_weight > 0.0:
      self.joint_head = keras.layers.Dense(skeleton.NUM_JOINTS * 3, name="joint_head")
      self.joint_head.build((None, image_to_latent.fc_units[0]))
    self.built = True

  def call(self, images, training=False):
    """Predicted root-relative poses `[B, 17, 3]` mm: `D_p(G^s(images))`."""
    return self.pose_decoder(self.image_to_latent(images, training=training), training=False)

  @property
  def metrics(self):
    trackers = [self.loss_tracker, self.mpjpe_tracker, self.latent_std_tracker]
    if self.latent_loss_weight > 0.0:
      trackers.append(self.latent_mae_tracker)
    if self.joint_head is not None:
      trackers.append(self.joint_head_tracker)
    return trackers

  def _unpack(self, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if not isinstance(x, dict) or "image" not in x:
      raise ValueError(f"{self.name} expects batches as a dict with keys 'image' and 'pose3d'"
                       f" (optional 'sample_weight'); got {type(x).__name__}"
                       + (f" with keys {sorted(x)}" if isinstance(x, dict) else ""))
    poses = x.get("pose3d", y)
    if poses is None:
      raise ValueError(f"{self.name}: batch has no 'pose3d'")
    if "sample_weight" in x:
      sample_weight = x["sample_weight"]
    poses = tf.convert_to_tensor(poses, tf.float32)
    poses = poses - poses[:, skeleton.ROOT:skeleton.ROOT + 1, :]
    if sample_weight is not None:
      sample_weight = tf.reshape(tf.convert_to_tensor(sample_weight, tf.float32), [-1])
    images = tf.convert_to_tensor(x["image"], tf.float32)
    if self.check_numerics:
      # ReLU maps NaN to 0 on CPU (oneDNN), so a NaN pixel would not reach the loss; it would
      # only corrupt the BatchNorm moving statistics. Check the images themselves.
      images = sl.check_finite(images, f"{self.name}: input images")
    return images, poses, sample_weight

  def _pose_losses(self, images, poses, sample_weight, training):
    z, features = self.image_to_latent.call_with_features(images, training=training)
    predicted = self.pose_decoder(z, training=False)
    diff = predicted - poses
    per_sample = sl.reconstruction_error(diff / self.pose_scale_mm, self.pose_loss)
    latent_mae = None
    if self.latent_loss_weight > 0.0:
      # E_p subtracts the root itself; the codes are constants (E_p is frozen).
      target_z = tf.stop_gradient(self.pose_encoder(poses, training=False))
      latent_mae = tf.reduce_mean(tf.abs(z - target_z), axis=-1)
      per_sample = per_sample + self.latent_loss_weight * latent_mae
    head_mpjpe = None
    if self.joint_head is not None:
      head_diff = (tf.reshape(sl.float32_cast(self.joint_head(features)), tf.shape(poses)) * self.pose_scale_mm
                   - poses)
      per_sample = per_sample + self.joint_head_weight * sl.reconstruction_error(
          head_diff / self.pose_scale_mm, self.pose_loss)
      head_mpjpe = tf.reduce_mean(tf.norm(head_diff, axis=-1))
    if sample_weight is None:
      loss = tf.reduce_mean(per_sample)
    else:
      loss = tf.math.divide_no_nan(tf.reduce_sum(per_sample * sample_weight),
                                   tf.reduce_sum(sample_weight))
    if self.check_numerics:
      loss = sl.check_finite(loss, f"{self.name}: pose loss")
    mpjpe = tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12))
    return loss, mpjpe, z, latent_mae, head_mpjpe

  def _record(self, loss, mpjpe, z, latent_mae, head_mpjpe):
    self.loss_tracker.update_state(loss)
    self.mpjpe_tracker.update_state(mpjpe)
    self.latent_std_tracker.update_state(sl.batch_std(z))
    if latent_mae is not None:
      self.latent_mae_tracker.update_state(tf.reduce_mean(latent_mae))
    if head_mpjpe is not None:
      self.joint_head_tracker.update_state(head_mpjpe)
    return {m.name: m.result() for m in self.metrics}

  def train_step(self, data):
    images, poses, sample_weight = self._unpack(data)
    with tf.GradientTape() as tape:
      losses = self._pose_losses(images, poses, sample_weight, training=True)
      # mixed_float16 loss scaling; the replica share (gradients are summed over replicas).
      scaled = self.optimizer.scale_loss(sl.replica_share(losses[0]))
    variables = self.image_to_latent.trainable_variables
    if self.joint_head is not None:
      variables = variables + self.joint_head.trainable_variables
    self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
    return self._record(*losses)

  def test_step(self, data):
    images, poses, sample_weight = self._unpack(data)
    return self._record(*self._pose_losses(images, poses, sample_weight, training=False))

  def get_config(self):
    config = super().get_config()
    config.update(
        image_to_latent=keras.saving.serialize_keras_object(self.image_to_latent),
        pose_decoder=keras.saving.serialize_keras_object(self.pose_decoder),
        pose_scale_mm=self.pose_scale_mm, pose_loss=self.pose_loss,
        check_numerics=self.check_numerics,
        pose_encoder=(None if self.pose_encoder is None
                      else keras.saving.serialize_keras_object(self.pose_encoder)),
        latent_loss_weight=self.latent_loss_weight, joint_head_weight=self.joint_head_weight)
    return config

  @classmethod
  def from_config(cls, config):
    return cls(**config)


# The image size is the data's and the latent size and range are the pose AAE's; the rest are
# gin settings (`ImageToLatent.*`).
constructor_settings.register(
    ImageToLatent, given_by_stage=("input_size", "latent_dim", "latent_range"))
