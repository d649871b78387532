"""Unsupervised target adaptation of the image-to-latent network G (paper Algorithm 1, step 7).

`RelationDistillationModel` holds G (an `ImageToLatent` initialised from G^s by the caller), the
frozen pose decoder D_p, the frozen motion encoder E_m, the frozen relation networks T^z / T^v
and two trainable projection heads, and minimises relational energies, each with its own
optimiser:

- 'lcr': InfoNCE over frames (L_LCR). Anchor: a frame of the middle clip, positive: the same
  frame under the pose-invariant augmentation A, negatives: the positives of the frames of the
  other clips. As the authors' code, the projection head sits on G's first fully connected
  layer's features, not on z (`lcr_input`).
- 'hcr': InfoNCE over clips through E_m (L_HCR): anchor E_m(G(X)), positive E_m(G(A(X))).
- one energy per relation key (e.g. 'z3', 'v2', 'v3'; any key of `relations`): frame relations
  (space 'pose') compare T^z(G(x)) with G(T^x(x)); motion relations compare T^v(E_m(G(X))) with
  E_m(G(T^X(X))) (paper eqs. 2-3).
- guards and variants, off unless listed in `energies`, each its own energy:
  'source' (the supervised source loss ||D_p(G(x_s)) - y_s|| kept during adaptation),
  'target_supervised' (the same on a labelled target fraction: the semi-supervised variant),
  'domain_adversarial' (a DANN baseline: a domain discriminator on G's features behind a
  gradient-reversal layer, source frames vs target frames),
  'latent_spread' (a hinge keeping the per-dimension spread of G's latents over the batch above
  `spread_floor` times its value at the first step; a guard against collapse).
Each energy is one entry of the energies registry (`modeling/energies.py`): its batch keys, the
images it runs G on, its anchor frames, what it needs, the layers it adds and its loss. This
model reads the entries and knows no energy by name.

Schedules (`compile(schedule=...)`): 'round_robin' (the paper's: one energy per iteration, in
the order of `energies`), 'joint' (every energy's optimiser applied in every step) or an explicit
cycle of energy names. Round robin is done in Python, with one compiled step function per energy
(no `tf.cond` between optimisers: DESIGN.md measured it far slower under XLA here; it breaks
`MirroredStrategy`); the position in the cycle is the non-trainable variable
`schedule_position`, saved with the weights, so a resumed run continues the cycle.

Only the backbone stages in `trainable_stages` (default ('res3',), as the authors) of G train,
plus the projection heads (and the domain discriminator); every FC layer of G's embedding branch,
D_p, E_m and the relation networks stay frozen. G runs with `training=backbone_training`
(default False: BatchNorm keeps G^s's statistics, which also keeps the frozen stages
bit-identical and makes data-parallel runs equal to single-device ones).

Batch: a dict following `data/batch_contract.py` ('window', 'augmented', 'counterpart/<key>',
'source_image'/'source_pose3d', 'target_image'/'target_pose3d'); each energy's entry lists the
keys it reads, and `RelationDistillationModel.required_batch_keys()` those of the configured
energies.

Diagnostics: the `latent_std` / `latent_std_ratio` / `collapse` metrics, `LatentSpreadMonitor`
(a callback, in `collapse_monitor`, re-exported here) and `relation_residuals`.
"""

import keras
import tensorflow as tf

from sa3dhp_tf import distribution
from sa3dhp_tf import relations
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.data.batch_contract import counterpart_key  # noqa: F401  (re-exported)
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.losses import infonce
from sa3dhp_tf.losses.relation_energy import LOSS_KINDS, relation_residual
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling import energies as energy_lib
from sa3dhp_tf.modeling import layers as sl
from sa3dhp_tf.modeling.collapse_monitor import (  # noqa: F401  (re-exported)
    LatentCollapseWarning, LatentSpreadMonitor, latent_spread)
from sa3dhp_tf.modeling.energies import (  # noqa: F401  (re-exported)
    CONTRASTIVE_LEARNING_RATE, DEFAULT_ENERGIES, DEFAULT_LEARNING_RATE, DEFAULT_RELATION_KEYS,
    default_learning_rate)
from sa3dhp_tf.modeling.frame_batches import as_images, dims, flat_latents, flatten_leading

SCHEDULES = ("round_robin", "joint")
FEATURE_INPUTS = ("features", "latent")

_CLIP_TIME_AXIS = energy_lib.CLIP_TIME_AXIS
_LATENT_TIME_AXIS = energy_lib.LATENT_TIME_AXIS


# --- shared forward helpers (also used by `relation_residuals`) -----------------------------------

def image_latents(image_to_latent, images, training=False):
  """Runs G on images `[..., H, W, 3]` (any leading axes, e.g. clips `[B, T, H, W, 3]`) frame by
  frame. Returns `(z [..., latent_dim], features [..., F])`, features being those of G's first
  fully connected layer."""
  images = as_images(images)
  if images.shape.rank is not None and images.shape.rank < 4:
    raise ValueError(f"images must be [..., H, W, 3] with a batch axis, got shape {images.shape}")
  lead = dims(images)[:-3]
  z, features = image_to_latent.call_with_features(flatten_leading(images, 3),
                                                   training=training)
  return (tf.reshape(z, lead + [z.shape[-1]]),
          tf.reshape(features, lead + [features.shape[-1]]))


def relation_prediction(relation, relation_network, motion_encoder, anchor_latents):
  """T(anchor) in the relation's space: frame relations map every frame latent `[B, T, d]` ->
  `[B*T, d]`; motion relations map E_m(clip latents) `[B, motion_dim]`."""
  if relation.space == relations.POSE:
    return relation_network(flat_latents(anchor_latents), training=False)
  if motion_encoder is None:
    raise ValueError(f"motion relation {relation.key!r} needs a motion encoder E_m")
  return relation_network(motion_encoder(anchor_latents, training=False), training=False)


def relation_target(relation, motion_encoder, counterpart_latents):
  """G(T^x(x)) (frame relations, `[B*T, d]`) or E_m(G(T^X(X))) (motion relations)."""
  if relation.space == relations.POSE:
    return flat_latents(counterpart_latents)
  if motion_encoder is None:
    raise ValueError(f"motion relation {relation.key!r} needs a motion encoder E_m")
  return motion_encoder(counterpart_latents, training=False)


def relation_residuals(image_to_latent, relation_nets, motion_encoder, batch, keys=None):
  """`relation_residual_tensors` as Python floats (eager)."""
  return {key: float(value) for key, value in relation_residual_tensors(
      image_to_latent, relation_nets, motion_encoder, batch, keys).items()}


def relation_residual_tensors(image_to_latent, relation_nets, motion_encoder, batch, keys=None):
  """Mean |T(G(x)) - G(T^x(x))| per relation on one batch of windows: how far G is from
  satisfying each relation, i.e. how much each relation can still teach on that domain (report
  it on source and on target windows before adapting).

  Args:
    image_to_latent: G.
    relation_nets: dict relation key -> frozen relation network T^z / T^v.
    motion_encoder: E_m (needed for motion relations; may be None for frame relations only).
    batch: dict with 'window' `[B, 60, H, W, 3]` and 'counterpart/<key>' `[B, 30, H, W, 3]`
      (the adaptation batch contract).
    keys: relation keys to report; default every key of `relation_nets` whose counterpart is in
      `batch`.
  Returns:
    dict key -> scalar tensor (mean absolute difference, latent units). Traceable: the adapt
    stage compiles it once for the batch it measures after every loop.
  """
  if contract.WINDOW not in batch:
    raise KeyError(f"relation_residuals needs batch key {contract.WINDOW!r}; got keys "
                   f"{sorted(batch)}")
  if keys is None:
    keys = [k for k in relation_nets if counterpart_key(k) in batch]
  window = as_images(batch[contract.WINDOW])
  results = {}
  cache = {}
  for key in keys:
    relation = relations.get_relation(key)
    if key not in relation_nets:
      raise KeyError(f"relation_residuals: no relation network for {key!r}")
    if counterpart_key(key) not in batch:
      raise KeyError(f"relation_residuals: batch has no {counterpart_key(key)!r}; keys "
                     f"{sorted(batch)}")
    selector = relation.anchor_frames
    if selector not in cache:
      cache[selector] = image_latents(image_to_latent, selector(window, _CLIP_TIME_AXIS))[0]
    target_z = image_latents(image_to_latent, batch[counterpart_key(key)])[0]
    predicted = relation_prediction(relation, relation_nets[key], motion_encoder, cache[selector])
    target = relation_target(relation, motion_encoder, target_z)
    results[key] = relation_residual(predicted, target)
  return results


def _output_size(model, input_shape):
  """Last output dimension of a (built, functional) model, or of one call on zeros."""
  shape = None
  if getattr(model, "built", False):
    try:
      shape = model.output_shape
    except (AttributeError, ValueError, RuntimeError):
      shape = None
  if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
    return shape[-1]
  return int(model(tf.zeros(input_shape), training=False).shape[-1])


class RelationDistillationModel(keras.Model):
  """G adapted on target videos by relational energies (paper Sec. 3.3, Algorithm 1 step 7).

  Args:
    image_to_latent: G, an `ImageToLatent` holding G^s's weights (the caller copies them). Its
      trainable stages are set here (`set_trainable_stages`).
    pose_decoder: frozen D_p (z -> pose `[B, 17, 3]` mm); needed by 'source' and
      'target_supervised'.
    motion_encoder: frozen E_m (`[B, 30, latent_dim]` -> v `[B, motion_dim]`); needed by 'hcr'
      and the motion relations.
    relation_networks: dict relation key -> frozen relation network (T^z for frame relations,
      T^v for motion relations); one per relation energy.
    energies: energy names, in round-robin order (see the module docstring).
    trainable_stages: G's stages that train (among 'stem', 'res2', 'res3', 'res4', 'embedding').
    loss_kind: relation energy kind, 'l1' (the authors') | 'l2' | 'l2_norm'.
    energy_weights: dict energy -> multiplier of its loss (default 1). Each energy has its own
      Adam, which is nearly invariant to a constant loss scale: balance energies with their
      learning rates (or the cycle); the weights matter for the logged total 'loss'.
    temperature: InfoNCE temperature (0.07).
    projection_units: (hidden, output) units of both projection heads.
    lcr_input: 'features' (G's first-FC features, as the authors) or 'latent' (z).
    exclude_same_clip_negatives: in L_LCR, frames of the anchor's own clip are not negatives.
    cross_replica_negatives: under a multi-replica strategy, InfoNCE negatives come from the
      global batch (positives all-gathered), so the loss equals the single-device one.
    backbone_training: the `training` flag G runs with (BatchNorm batch statistics, dropout).
    batchnorm_trainable: whether the BatchNorm gamma/beta of the trainable stages train (passed
      to `ImageToLatent.set_trainable_stages`).
    pose_loss_kind / pose_scale_mm: kind of the supervised pose losses on
      (pose error in mm) / pose_scale_mm; 'l2_norm' is MPJPE.
    discriminator_units / gradient_reversal_weight / adversarial_input: the DANN baseline
      (the discriminator sees G's first-FC features or z; the reversed gradient into G is
      scaled by the weight, read when a step is traced).
    spread_floor: 'latent_spread' hinge level, as a fraction of the first step's spread.
    collapse_fraction: the `collapse` metric is 1 in steps whose latent spread is below this
      fraction of the first step's spread.
    check_numerics: raise (graph mode, not under XLA) when an energy is NaN/Inf.
    head_warmup_steps: the first this many training steps update only the layers the energies
      add (projection heads, domain discriminator), round robin over the energies that have
      layers, each with its own Adam (so G's optimisers start fresh after it); G does not
      move. Not in the paper: with fresh heads, the first contrastive gradients into G pass
      through random projections. 0 (default) disables it. The steps count in `fit`'s steps.
  """

  def __init__(self, image_to_latent, pose_decoder=None, motion_encoder=None,
               relation_networks=None, energies=DEFAULT_ENERGIES, trainable_stages=("res3",),
               loss_kind="l1", energy_weights=None, temperature=infonce.DEFAULT_TEMPERATURE,
               projection_units=(256, 128), lcr_input="features",
               exclude_same_clip_negatives=True, cross_replica_negatives=True,
               backbone_training=False, batchnorm_trainable=True, pose_loss_kind="l2_norm",
               pose_scale_mm=1000.0,
               discriminator_units=(256, 256), gradient_reversal_weight=1.0,
               adversarial_input="features", spread_floor=0.5, collapse_fraction=0.1,
               check_numerics=False, head_warmup_steps=0, name="relation_distillation",
               **kwargs):
    super().__init__(name=name, **kwargs)
    energies = tuple(energies)
    if not energies:
      raise ValueError("energies must name at least one energy")
    if len(set(energies)) != len(energies):
      raise ValueError(f"energies has duplicates: {energies}")
    relation_networks = dict(relation_networks or {})
    entries = {e: energy_lib.get_energy(e) for e in energies}  # KeyError names the known ones
    for energy, entry in entries.items():
      if entry.requires(energy_lib.RELATION_NETWORK) and energy not in relation_networks:
        raise ValueError(f"energy {energy!r} needs relation_networks[{energy!r}]; given: "
                         f"{sorted(relation_networks)}")
    if loss_kind not in LOSS_KINDS:
      raise ValueError(f"loss_kind must be one of {LOSS_KINDS}, got {loss_kind!r}")
    if pose_loss_kind not in LOSS_KINDS:
      raise ValueError(f"pose_loss_kind must be one of {LOSS_KINDS}, got "
                       f"{pose_loss_kind!r}")
    for setting, value in (("lcr_input", lcr_input), ("adversarial_input", adversarial_input)):
      if value not in FEATURE_INPUTS:
        raise ValueError(f"{setting} must be one of {FEATURE_INPUTS}, got {value!r}")
    if not temperature > 0:
      raise ValueError(f"temperature must be > 0, got {temperature}")
    energy_weights = dict(energy_weights or {})
    unknown = sorted(set(energy_weights) - set(energies))
    if unknown:
      raise ValueError(f"energy_weights names energies that are not configured: {unknown}; "
                       f"energies: {energies}")
    needs_motion = [e for e in energies if entries[e].requires(energy_lib.MOTION_ENCODER)]
    if needs_motion and motion_encoder is None:
      raise ValueError(f"energies {needs_motion} need a motion_encoder (E_m)")
    needs_decoder = [e for e in energies if entries[e].requires(energy_lib.POSE_DECODER)]
    if needs_decoder and pose_decoder is None:
      raise ValueError(f"energies {needs_decoder} need a pose_decoder (D_p)")

    self.energies = energies
    self.energy_entries = entries
    self.relation_keys = energy_lib.relation_keys(energies)
    self.trainable_stages = tuple(trainable_stages)
    self.loss_kind = loss_kind
    self.energy_weights = {e: float(energy_weights.get(e, 1.0)) for e in energies}
    self.temperature = float(temperature)
    self.projection_units = tuple(int(u) for u in projection_units)
    if len(self.projection_units) != 2:
      raise ValueError(f"projection_units must be (hidden, output), got {projection_units}")
    self.lcr_input = lcr_input
    self.exclude_same_clip_negatives = bool(exclude_same_clip_negatives)
    self.cross_replica_negatives = bool(cross_replica_negatives)
    self.backbone_training = bool(backbone_training)
    self.pose_loss_kind = pose_loss_kind
    self.pose_scale_mm = float(pose_scale_mm)
    self.discriminator_units = tuple(int(u) for u in discriminator_units)
    self.gradient_reversal_weight = float(gradient_reversal_weight)
    self.adversarial_input = adversarial_input
    self.spread_floor = float(spread_floor)
    self.collapse_fraction = float(collapse_fraction)
    self.check_numerics = bool(check_numerics)
    if int(head_warmup_steps) != head_warmup_steps or head_warmup_steps < 0:
      raise ValueError(f"head_warmup_steps must be an integer >= 0, got {head_warmup_steps!r}")
    self.head_warmup_steps = int(head_warmup_steps)
    self.warmup_cycle = tuple((e,) for e in energies if entries[e].layers)
    if self.head_warmup_steps and not self.warmup_cycle:
      raise ValueError(f"head_warmup_steps = {head_warmup_steps} but none of the energies "
                       f"{energies} adds layers to warm up")

    # Sub-models. Frozen ones are frozen here (this mutates the caller's objects).
    self.image_to_latent = image_to_latent
    self.pose_decoder = pose_decoder
    self.motion_encoder = motion_encoder
    self.relation_networks = {k: relation_networks[k] for k in self.relation_keys}
    for frozen in [pose_decoder, motion_encoder] + list(self.relation_networks.values()):
      if frozen is not None:
        frozen.trainable = False
    self.batchnorm_trainable = bool(batchnorm_trainable)
    image_to_latent.set_trainable_stages(self.trainable_stages, self.batchnorm_trainable)

    self._measure_submodels()
    # The layers the energies add, created in registration order (their random initialisation
    # does not depend on the order of `energies`), each stored under its own attribute.
    for energy in energy_lib.in_registration_order(energies):
      for layer in entries[energy].layers:
        if hasattr(self, layer.attribute):
          raise ValueError(f"energy {energy!r}: model attribute {layer.attribute!r} is taken")
        setattr(self, layer.attribute, layer.make(self))

    # State saved with the weights: the schedule position and the first step's latent spread.
    self.schedule_position = self.add_weight(
        name="schedule_position", shape=(), dtype="int64", initializer="zeros",
        trainable=False, aggregation="only_first_replica")
    self._build_submodels()
    self.reference_latent_std = self.add_weight(
        name="reference_latent_std", shape=(self.latent_dim,), initializer="zeros",
        trainable=False, aggregation="only_first_replica")

    self.energy_trackers = {e: keras.metrics.Mean(name=f"{e}_loss") for e in energies}
    self.latent_std_tracker = keras.metrics.Mean(name="latent_std")
    self.latent_std_ratio_tracker = keras.metrics.Mean(name="latent_std_ratio")
    self.collapse_tracker = keras.metrics.Mean(name="collapse")
    stats = [s for e in energies for s in entries[e].metrics]
    self.stat_trackers = {s: keras.metrics.Mean(name=s) for s in dict.fromkeys(stats)}
    self.energy_optimizers = {}
    self.head_warmup_optimizers = {}
    self._cycle = tuple((e,) for e in energies)
    self._cursor = None
    self.built = True

  # --- construction -----------------------------------------------------------------------------
  def _measure_submodels(self):
    """Builds G, E_m and D_p (a call on zeros where not built) and finds the latent, feature and
    motion sizes (`latent_dim`, `feature_dim`, `motion_dim`) the energies' layers are made for."""
    g = self.image_to_latent
    height, width = g.image_hw
    z, features = g.call_with_features(tf.zeros([1, height, width, 3]), training=False)
    self.latent_dim = int(z.shape[-1])
    self.feature_dim = int(features.shape[-1])
    self.motion_dim = None
    if self.motion_encoder is not None:
      self.motion_dim = int(_output_size(
          self.motion_encoder, [1, windows.CLIP_LENGTH, self.latent_dim]))
    if self.pose_decoder is not None:
      _output_size(self.pose_decoder, [1, self.latent_dim])

  def _build_submodels(self):
    """Builds the energies' layers and checks the relation networks, so that optimisers can be
    built at compile time and nothing creates variables inside a distributed step."""
    for entry in self.energy_entries.values():
      for layer in entry.layers:
        getattr(self, layer.attribute).build((None, layer.input_dim(self)))
    for key, net in self.relation_networks.items():
      relation = self.energy_entries[key].relation
      dim = self.latent_dim if relation.space == relations.POSE else self.motion_dim
      out = _output_size(net, [1, dim])
      if out != dim:
        raise ValueError(f"relation network {key!r} maps {dim} -> {out}; it must map its space "
                         "onto itself")
    if not self._g_trainable_variables():
      raise ValueError(f"no trainable variables in G for trainable_stages "
                       f"{self.trainable_stages}")

  def _g_trainable_variables(self):
    """G's parameters that adapt (recomputed on demand: a list attribute of variables would make
    Keras count them as this model's own variables)."""
    g = self.image_to_latent
    collected, seen = [], set()
    for stage in self.trainable_stages:
      stage_vars = g.embedding_variables() if stage == "embedding" else g.stage_variables(stage)
      for v in stage_vars:
        if v.trainable and id(v) not in seen:
          seen.add(id(v))
          collected.append(v)
    return collected

  def energy_variables(self, energy):
    """The variables energy `energy`'s optimiser updates."""
    variables = self._g_trainable_variables()
    for layer in self.energy_entries[energy].layers:
      variables += getattr(self, layer.attribute).trainable_variables
    return variables

  def energy_layer_variables(self, energy):
    """The trainable variables of the layers energy `energy` added (its heads)."""
    variables = []
    for layer in self.energy_entries[energy].layers:
      variables += getattr(self, layer.attribute).trainable_variables
    return variables

  def energy_layers(self, energy):
    """attribute -> layer: the layers energy `energy` added."""
    return {layer.attribute: getattr(self, layer.attribute)
            for layer in self.energy_entries[energy].layers}

  def required_batch_keys(self, energies=None):
    """The batch keys the given (default: configured) energies read."""
    return energy_lib.batch_keys(energies or self.energies)

  # --- inference --------------------------------------------------------------------------------
  def call(self, inputs, training=False):
    """Latents of G: images `[B, H, W, 3]` -> `[B, d]`, clips `[B, T, H, W, 3]` -> `[B, T, d]`,
    or an adaptation batch dict -> latents of its 'window'."""
    if isinstance(inputs, dict):
      inputs = inputs[contract.WINDOW]
    return image_latents(self.image_to_latent, inputs,
                         training=bool(training) and self.backbone_training)[0]

  # --- energies ---------------------------------------------------------------------------------
  def _run_g(self, requests):
    """G on several image tensors `[..., H, W, 3]` at once: one forward pass per image size
    (fewer, larger calls; identical results since G is frame-wise with BatchNorm in inference
    mode). Returns dict key -> (z `[..., d]`, features `[..., F]`)."""
    by_size = {}
    for key, images in requests.items():
      by_size.setdefault(tuple(images.shape.as_list()[-3:]), []).append(key)
    outputs = {}
    for keys in by_size.values():
      flats = [flatten_leading(requests[k], 3) for k in keys]
      z, features = self.image_to_latent.call_with_features(
          flats[0] if len(flats) == 1 else tf.concat(flats, 0), training=self.backbone_training)
      sizes = [dims(f)[0] for f in flats]
      for key, z_k, f_k in zip(keys, tf.split(z, sizes), tf.split(features, sizes)):
        lead = dims(requests[key])[:-3]
        outputs[key] = (tf.reshape(z_k, lead + [z.shape[-1]]),
                        tf.reshape(f_k, lead + [features.shape[-1]]))
    return outputs

  def _run_motion_encoder(self, requests):
    """E_m on several latent sequences `[B_i, T, d]` in one call. dict key -> v `[B_i, m]`."""
    keys = list(requests)
    if not keys:
      return {}
    sequences = [requests[k] for k in keys]
    v = self.motion_encoder(sequences[0] if len(keys) == 1 else tf.concat(sequences, 0),
                            training=False)
    return dict(zip(keys, tf.split(v, [dims(s)[0] for s in sequences])))

  def info_nce_loss(self, anchors, positives, groups):
    """InfoNCE with this model's temperature, positives under stop-gradient, and (under a
    multi-replica strategy with `cross_replica_negatives`) negatives from the global batch."""
    positives = tf.stop_gradient(positives)
    context = tf.distribute.get_replica_context()
    if (not self.cross_replica_negatives or context is None
        or context.num_replicas_in_sync == 1):
      return infonce.info_nce(anchors, positives, self.temperature, groups=groups)
    replica = context.replica_id_in_sync_group
    counts = context.all_gather(tf.shape(anchors)[:1], axis=0)
    offset = tf.reduce_sum(counts[:replica])
    gathered_groups = None
    if groups is not None:
      group_counts = context.all_gather(tf.reshape(tf.reduce_max(groups) + 1, [1]), axis=0)
      groups = groups + tf.reduce_sum(group_counts[:replica])
      gathered_groups = context.all_gather(groups, axis=0)
    gathered = context.all_gather(positives, axis=0)
    return infonce.info_nce(anchors, positives, self.temperature, groups=groups,
                            gathered_positives=gathered, gathered_groups=gathered_groups,
                            anchor_offset=offset)

  def _spread_statistics(self, z_flat):
    """Per-dimension std of latents over the batch, and the reference (first-step) spread,
    captured in the first step that sees target frames. In float32 under a mixed-precision
    policy (the reference is a float32 variable; the guard and metrics stay float32)."""
    std = tf.math.reduce_std(tf.cast(z_flat, tf.float32), axis=0)
    reference = tf.where(tf.reduce_max(self.reference_latent_std) > 0.0,
                         tf.convert_to_tensor(self.reference_latent_std),
                         tf.stop_gradient(std))
    self.reference_latent_std.assign(reference)
    return std, reference

  def compute_energies(self, batch, names=None):
    """Energies `names` (default: all configured) on one batch. Returns `(losses, stats)`:
    dict energy -> scalar loss (unweighted), dict of diagnostics ('latent_std',
    'latent_std_ratio', 'collapse', 'domain_accuracy' where computed)."""
    names = tuple(names or self.energies)
    unknown = [n for n in names if n not in self.energies]
    if unknown:
      raise ValueError(f"energies {unknown} are not configured; energies: {self.energies}")
    entries = [self.energy_entries[n] for n in names]
    # 1. G, once per image size, on everything this step needs.
    selectors = []
    for entry in entries:
      if entry.anchor_frames is not None and entry.anchor_frames not in selectors:
        selectors.append(entry.anchor_frames)
    requests = {}
    single_selector = len(selectors) == 1 and not self.backbone_training
    if selectors:
      needs_window = next(e.name for e in entries if e.anchor_frames is not None)
      window = as_images(energy_lib.batch_value(batch, contract.WINDOW, needs_window))
      # G is frame-wise: with one anchor selection, run it only on the frames used.
      requests[contract.WINDOW] = (selectors[0](window, _CLIP_TIME_AXIS) if single_selector
                                   else window)
    for entry in entries:
      for key in entry.image_keys:
        requests[key] = as_images(energy_lib.batch_value(batch, key, entry.name))
    latents = self._run_g(requests)
    anchors = {}
    if single_selector:
      anchors[selectors[0]] = latents[contract.WINDOW]
    elif selectors:
      z, features = latents[contract.WINDOW]
      for selector in selectors:
        anchors[selector] = (selector(z, _LATENT_TIME_AXIS),
                             selector(features, _LATENT_TIME_AXIS))

    # 2. E_m, once, on every clip a motion energy needs.
    def motion_request(entry, source):
      if source == energy_lib.ANCHOR:
        return ("anchor", entry.anchor_frames), anchors[entry.anchor_frames][0]
      return ("image", source), latents[source][0]

    motion_requests = {}
    for entry in entries:
      for source in entry.motion_inputs:
        key, sequence = motion_request(entry, source)
        motion_requests[key] = sequence
    motion = self._run_motion_encoder(motion_requests)

    # 3. The energies.
    losses, stats = {}, {}
    spread = None
    if selectors:
      first = windows.middle_clip if windows.middle_clip in anchors else selectors[0]
      std, reference = spread = self._spread_statistics(flat_latents(anchors[first][0]))
      stats["latent_std"] = tf.reduce_mean(std)
      ratio = stats["latent_std"] / tf.maximum(tf.reduce_mean(reference), 1e-12)
      stats["latent_std_ratio"] = ratio
      stats["collapse"] = tf.cast(ratio < self.collapse_fraction, tf.float32)
    for entry in entries:
      inputs = energy_lib.EnergyInputs(
          model=self, batch=batch,
          anchor=anchors.get(entry.anchor_frames) if entry.anchor_frames else None,
          latents={k: latents[k] for k in entry.image_keys},
          motion={s: motion[motion_request(entry, s)[0]] for s in entry.motion_inputs},
          spread=spread, layers=self.energy_layers(entry.name))
      loss = entry.loss(inputs)
      if isinstance(loss, tuple):
        loss, energy_stats = loss
        stats.update(energy_stats)
      if self.check_numerics:
        loss = sl.check_finite(loss, f"energy {entry.name!r}")
      losses[entry.name] = loss
    return losses, stats

  # --- training ---------------------------------------------------------------------------------
  def compile(self, optimizers=None, schedule="round_robin", jit_compile=False,
              run_eagerly=False, steps_per_execution=1, **kwargs):
    """Configures one optimiser per energy and the schedule.

    Args:
      optimizers: dict energy -> Keras optimiser instance, identifier (name or config dict), or
        a float learning rate for Adam. Missing energies get Adam at the authors' rates (2e-5
        contrastive, 1e-5 others). Instances must be distinct, and created under the model's
        distribution strategy scope (identifiers and rates are created there).
      schedule: 'round_robin' (one energy per step in `energies` order), 'joint' (all energies'
        optimisers every step), or a sequence of energy names: a custom cycle.
      jit_compile: compile each step with XLA (False by default: on CPU XLA measured slower).
    """
    for key in ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics"):
      if kwargs.get(key) is not None:
        raise ValueError(f"{type(self).__name__}.compile takes no {key!r}: its energies are "
                         "constructor settings, its optimisers are given per energy")
      kwargs.pop(key, None)
    optimizers = dict(optimizers or {})
    unknown = sorted(set(optimizers) - set(self.energies))
    if unknown:
      raise ValueError(f"optimizers given for unconfigured energies {unknown}; energies: "
                       f"{self.energies}")
    if isinstance(schedule, str):
      if schedule == "round_robin":
        cycle = tuple((e,) for e in self.energies)
      elif schedule == "joint":
        cycle = (tuple(self.energies),)
      else:
        raise ValueError(f"schedule must be one of {SCHEDULES} or a sequence of energy names, "
                         f"got {schedule!r}")
    else:
      cycle = tuple((str(e),) for e in schedule)
      missing = sorted(set(e for (e,) in cycle) - set(self.energies))
      if not cycle or missing:
        raise ValueError(f"schedule names unconfigured energies {missing} (or is empty); "
                         f"energies: {self.energies}")
    super().compile(optimizer=None, run_eagerly=run_eagerly, jit_compile=jit_compile,
                    steps_per_execution=steps_per_execution, **kwargs)
    resolved = {}
    with self.distribute_strategy.scope():
      for energy in self.energies:
        spec = optimizers.get(energy, default_learning_rate(energy))
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
          optimizer = keras.optimizers.Adam(learning_rate=float(spec), name=f"{energy}_adam")
        else:
          optimizer = keras.optimizers.get(spec)
        optimizer = distribution.loss_scaled(optimizer)  # mixed_float16 only
        if any(optimizer is other for other in resolved.values()):
          raise ValueError(f"energy {energy!r} shares its optimiser instance with another "
                           "energy; give each energy its own")
        if not optimizer.built:
          optimizer.build(self.energy_variables(energy))
        resolved[energy] = optimizer
    self.energy_optimizers = resolved
    warmup = {}
    if self.head_warmup_steps:
      with self.distribute_strategy.scope():
        for (energy,) in self.warmup_cycle:
          # the energy's own learning rate (its value now: a schedule is not shared)
          rate = float(keras.ops.convert_to_numpy(resolved[energy].learning_rate))
          optimizer = keras.optimizers.Adam(learning_rate=rate,
                                            name=f"{energy}_head_warmup_adam")
          optimizer = distribution.loss_scaled(optimizer)
          optimizer.build(self.energy_layer_variables(energy))
          warmup[energy] = optimizer
    self.head_warmup_optimizers = warmup
    self.schedule = schedule if isinstance(schedule, str) else tuple(e for (e,) in cycle)
    self._cycle = cycle
    self._cursor = None

  @property
  def cycle(self):
    """The schedule as a tuple of energy-name tuples; step i runs `cycle[i % len(cycle)]`."""
    return self._cycle

  def _step_plan(self, position):
    """(energies, heads_only) of training step `position` (0-based)."""
    if position < self.head_warmup_steps:
      return self.warmup_cycle[position % len(self.warmup_cycle)], True
    return self._cycle[(position - self.head_warmup_steps) % len(self._cycle)], False

  def next_energies(self):
    """The energies the next training step will minimise (during the head warm-up, only their
    layers move)."""
    return self._step_plan(int(self.schedule_position.numpy()))[0]

  def _unpack(self, data):
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    if not isinstance(x, dict):
      raise TypeError(f"{type(self).__name__} expects dict batches (keys "
                      f"{self.required_batch_keys()}), got {type(x).__name__}")
    return x

  def _update_metrics(self, losses, stats):
    total = tf.add_n([self.energy_weights[n] * losses[n] for n in losses])
    self._loss_tracker.update_state(total)
    for name, loss in losses.items():
      self.energy_trackers[name].update_state(loss)
    if "latent_std" in stats:
      self.latent_std_tracker.update_state(stats["latent_std"])
      self.latent_std_ratio_tracker.update_state(stats["latent_std_ratio"])
      self.collapse_tracker.update_state(stats["collapse"])
    for stat, tracker in self.stat_trackers.items():
      if stat in stats:
        tracker.update_state(stats[stat])
    return {m.name: m.result() for m in self.metrics}

  def _train_step_for(self, data, names, heads_only=False):
    batch = self._unpack(data)
    optimizers = self.head_warmup_optimizers if heads_only else self.energy_optimizers
    with tf.GradientTape(persistent=len(names) > 1) as tape:
      losses, stats = self.compute_energies(batch, names)
      objectives = {n: optimizers[n].scale_loss(
          sl.replica_share(self.energy_weights[n] * losses[n])) for n in names}
    updates = []
    n_g = 0 if heads_only else len(self._g_trainable_variables())
    for name in names:
      variables = (self.energy_layer_variables(name) if heads_only
                   else self.energy_variables(name))
      gradients = tape.gradient(objectives[name], variables)
      pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
      if n_g and all(g is None for g in gradients[:n_g]):
        raise ValueError(f"energy {name!r} has no gradient with respect to G's trainable "
                         f"stages {self.trainable_stages}")
      updates.append((name, pairs))
    del tape
    # Every gradient is computed before any update: 'joint' steps are simultaneous.
    for name, pairs in updates:
      optimizers[name].apply([g for g, _ in pairs], [v for _, v in pairs])
    return self._update_metrics(losses, stats)

  def train_step(self, data):
    """One step of the first entry of the cycle (the Python schedule lives in
    `make_train_function`; this is here for callers that use `train_step` directly)."""
    return self._train_step_for(data, self._cycle[0])

  def test_step(self, data):
    losses, stats = self.compute_energies(self._unpack(data), self.energies)
    return self._update_metrics(losses, stats)

  def _make_step_function(self, names, heads_only=False):
    strategy = self.distribute_strategy

    def replica_step(data):
      return self._train_step_for(data, names, heads_only)

    def one_step_on_data(data):
      outputs = strategy.run(replica_step, args=(data,))
      return tf.nest.map_structure(
          lambda v: (strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                     if isinstance(v, tf.distribute.DistributedValues) else v), outputs)

    if not self.run_eagerly:
      # No autograph: the step has no data-dependent Python control flow, and converting it
      # costs about half of the tracing time.
      one_step_on_data = tf.function(one_step_on_data, reduce_retracing=True,
                                     jit_compile=self.jit_compile, autograph=False)

    def one_step_on_iterator(iterator):
      outputs = one_step_on_data(next(iterator) if not hasattr(iterator, "get_next")
                                 else iterator.get_next())
      self.schedule_position.assign_add(1)
      return outputs

    if not self.run_eagerly:
      one_step_on_iterator = tf.function(one_step_on_iterator, reduce_retracing=True,
                                         autograph=False)
      # One trace per energy is expected, not retracing: silence TF's frequent-tracing warning
      # (it keys on the shared code object of these closures).
      for fn in (one_step_on_data, one_step_on_iterator):
        fn._omit_frequent_tracing_warning = True  # pylint: disable=protected-access
    return one_step_on_iterator

  def make_train_function(self, force=False):
    """One compiled step per entry of the cycle; Python picks the entry of each step from
    `schedule_position` (read once per `fit`, then followed in Python)."""
    self._cursor = None
    if self.train_function is not None and not force:
      return self.train_function
    step_functions = {(names, False): self._make_step_function(names)
                      for names in set(self._cycle)}
    if self.head_warmup_steps:
      step_functions.update({(names, True): self._make_step_function(names, heads_only=True)
                             for names in set(self.warmup_cycle)})

    def train_function(iterator):
      logs = None
      for _ in range(self.steps_per_execution):
        if self._cursor is None:
          self._cursor = int(self.schedule_position.numpy())
        logs = step_functions[self._step_plan(self._cursor)](iterator)
        self._cursor += 1
      return logs

    self.train_function = train_function
    return train_function

  def load_weights(self, *args, **kwargs):
    self._cursor = None
    return super().load_weights(*args, **kwargs)


# G, the frozen models and relation nets are the earlier stages'; energies, trainable stages,
# loss kind and temperature are arguments of the `adapt` stage (`adapt.*`). The rest are gin
# settings (`RelationDistillationModel.*`).
constructor_settings.register(RelationDistillationModel, given_by_stage=(
    "image_to_latent", "pose_decoder", "motion_encoder", "relation_networks", "energies",
    "trainable_stages", "loss_kind", "temperature", "name"))
