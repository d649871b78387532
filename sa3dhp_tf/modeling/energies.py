"""The energies registry: one entry per adaptation energy, holding everything the adaptation
step, the stage, the benchmark tool and the ablation need to know about it.

An `Energy` declares
- `batch_keys`: the batch keys it reads (`data/batch_contract.py`);
- `image_keys`: the batch keys whose images G runs on for it (besides the target window);
- `anchor_frames`: which frames of the raw 60-frame window it takes as anchors (a selector of
  `geometry/windows.py`, as `Relation.anchor_frames`), or None if it does not read the window;
- `motion_inputs`: the latent sequences E_m encodes for it (`ANCHOR` = its anchor frames, or an
  image batch key);
- `needs`: the frozen parts and labels it needs (`MOTION_ENCODER`, `POSE_DECODER`,
  `RELATION_NETWORK`, `SOURCE_IMAGES`, `SOURCE_LABELS`, `TARGET_LABELS`);
- `layers`: the trainable layers it adds to the model (projection heads, a discriminator), each
  stored under its own model attribute;
- `loss(inputs)`: its scalar loss from an `EnergyInputs` (optionally `(loss, stats)`, the
  stats named in `metrics`);
- `learning_rate`: its default Adam learning rate.

Every relation of `relations.py` is an energy too: `get_energy('z3')` builds the relation
energy (L^z_r for frame relations, L^v_r for motion relations, paper eqs. 2-3) from the relation
entry. Adding an energy is one `register_energy` call (tests/test_adaptation.py registers one
from the test file alone).
"""

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import keras
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.losses import infonce
from sa3dhp_tf.losses.relation_energy import relation_energy
from sa3dhp_tf.modeling import layers as sl
from sa3dhp_tf.modeling.frame_batches import dims, flat_latents

# What an energy needs besides G and the target window.
MOTION_ENCODER = "motion_encoder"
POSE_DECODER = "pose_decoder"
RELATION_NETWORK = "relation_network"
SOURCE_IMAGES = "source_images"
SOURCE_LABELS = "source_labels"
TARGET_LABELS = "target_labels"
NEEDS = (MOTION_ENCODER, POSE_DECODER, RELATION_NETWORK, SOURCE_IMAGES, SOURCE_LABELS,
         TARGET_LABELS)

# `motion_inputs` entry for the energy's anchor frames.
ANCHOR = "anchor"

# The authors' learning rates: 2e-5 for the contrastive energies, 1e-5 for the others.
CONTRASTIVE_LEARNING_RATE = 2e-5
DEFAULT_LEARNING_RATE = 1e-5

# Window time axis of clips [B, T, H, W, C].
CLIP_TIME_AXIS = -4
# Time axis of per-frame latents / features [B, T, D].
LATENT_TIME_AXIS = -2


@dataclasses.dataclass(frozen=True)
class EnergyLayer:
  """A trainable layer an energy adds to the model. `make(model)` creates it, in the model's
  constructor once its settings and its sub-models' sizes (`latent_dim`, `feature_dim`,
  `motion_dim`) are known; the model builds it for inputs `[N, input_dim(model)]`. It is stored
  as `model.<attribute>`, which names its weights."""
  attribute: str
  make: Callable[[Any], keras.layers.Layer]
  input_dim: Callable[[Any], int]


@dataclasses.dataclass
class EnergyInputs:
  """What one energy's `loss` sees in one step.

  model: the `RelationDistillationModel` (its settings and frozen sub-models).
  batch: the batch dict.
  anchor: `(z [B, T, d], features [B, T, F])` of G on the energy's anchor frames, or None.
  latents: image batch key -> `(z, features)` of G on it (the energy's `image_keys`).
  motion: entry of `motion_inputs` -> E_m's output `[B, motion_dim]`.
  spread: `(std [d], reference [d])`: the per-dimension spread of G's latents over the target
    anchor frames, and its first-step value; None without target frames.
  layers: attribute -> the layers this energy added.
  """
  model: Any
  batch: Dict[str, Any]
  anchor: Optional[Tuple[tf.Tensor, tf.Tensor]]
  latents: Dict[str, Tuple[tf.Tensor, tf.Tensor]]
  motion: Dict[str, tf.Tensor]
  spread: Optional[Tuple[tf.Tensor, tf.Tensor]]
  layers: Dict[str, keras.layers.Layer]


@dataclasses.dataclass(frozen=True)
class Energy:
  """One adaptation energy (see the module docstring)."""
  name: str
  loss: Callable[[EnergyInputs], Any]
  batch_keys: Tuple[str, ...]
  image_keys: Tuple[str, ...] = ()
  anchor_frames: Optional[Callable[..., tf.Tensor]] = windows.middle_clip
  motion_inputs: Tuple[str, ...] = ()
  needs: frozenset = frozenset()
  layers: Tuple[EnergyLayer, ...] = ()
  metrics: Tuple[str, ...] = ()
  learning_rate: float = DEFAULT_LEARNING_RATE
  relation: Optional[relations.Relation] = None
  description: str = ""

  def __post_init__(self):
    unknown = sorted(set(self.needs) - set(NEEDS))
    if unknown:
      raise ValueError(f"energy {self.name!r}: unknown needs {unknown}; known: {NEEDS}")
    missing = sorted(set(self.image_keys) - set(self.batch_keys))
    if missing:
      raise ValueError(f"energy {self.name!r}: image_keys {missing} are not in batch_keys")
    if (self.anchor_frames is not None) != (contract.WINDOW in self.batch_keys):
      raise ValueError(f"energy {self.name!r}: it reads {contract.WINDOW!r} exactly when it has "
                       "anchor_frames")
    for source in self.motion_inputs:
      if source != ANCHOR and source not in self.image_keys:
        raise ValueError(f"energy {self.name!r}: motion input {source!r} is neither ANCHOR nor "
                         "one of its image_keys")
    if self.motion_inputs and MOTION_ENCODER not in self.needs:
      raise ValueError(f"energy {self.name!r} has motion_inputs but does not need "
                       f"{MOTION_ENCODER!r}")

  def requires(self, need):
    return need in self.needs


_REGISTRY: Dict[str, Energy] = {}
_RELATION_ENERGIES: Dict[str, Energy] = {}


def register_energy(energy: Energy) -> Energy:
  """Adds an energy; its name must be new and not a relation key (those are relation
  energies)."""
  if energy.name in _REGISTRY:
    raise ValueError(f"energy {energy.name!r} is already registered")
  if energy.name in relations.relation_keys():
    raise ValueError(f"energy {energy.name!r} is a relation key: relation energies come from "
                     "the relations registry")
  _REGISTRY[energy.name] = energy
  return energy


def unregister_energy(name: str) -> None:
  """Removes a registered (non-relation) energy: for tests and plugins that register their own."""
  _REGISTRY.pop(name, None)


def get_energy(name: str) -> Energy:
  """The energy `name`: a registered one, or the relation energy of a relation key."""
  if name in _REGISTRY:
    return _REGISTRY[name]
  if name not in _RELATION_ENERGIES:
    try:
      relation = relations.get_relation(name)
    except KeyError:
      raise KeyError(f"unknown energy {name!r}; energies: {sorted(_REGISTRY)} and the relation "
                     f"keys {relations.relation_keys()}") from None
    _RELATION_ENERGIES[name] = _relation_energy(relation)
  return _RELATION_ENERGIES[name]


def energy_names():
  """Registered energies in registration order, then the relation keys."""
  return list(_REGISTRY) + relations.relation_keys()


def in_registration_order(names):
  """`names` ordered as `energy_names()` (the order the model creates their layers in, so that
  their random initialisation does not depend on the order energies are listed)."""
  order = {n: i for i, n in enumerate(energy_names())}
  return sorted(names, key=lambda n: order.get(n, len(order)))


def relation_keys(names):
  """The relation energies among `names`, in order."""
  return tuple(n for n in names if get_energy(n).relation is not None)


def requirements(names):
  """The union of the `needs` of energies `names`."""
  needs = set()
  for name in names:
    needs |= get_energy(name).needs
  return needs


def batch_keys(names):
  """The batch keys energies `names` read, in first-use order."""
  keys = []
  for name in names:
    keys += [k for k in get_energy(name).batch_keys if k not in keys]
  return keys


def reads_target_windows_only(name):
  """Whether energy `name` reads nothing but what `pipelines.target_windows` produces."""
  return all(k == contract.WINDOW or k == contract.AUGMENTED
             or k.startswith(contract.COUNTERPART_PREFIX) for k in get_energy(name).batch_keys)


def default_learning_rate(name):
  return get_energy(name).learning_rate


# --- contrastive energies (paper eq. 1) -----------------------------------------------------------

def _projection_head(name):
  def make(model):
    hidden, output = model.projection_units
    return infonce.ProjectionHead(hidden, output, name=name)
  return make


def _lcr_loss(inputs):
  """L_LCR: InfoNCE over frames; anchor a frame of the middle clip, positive the same frame under
  A, negatives the positives of the other clips' frames (of every clip, unless
  `exclude_same_clip_negatives`). The head sees G's first-FC features or z (`lcr_input`)."""
  model = inputs.model
  z_a, f_a = inputs.anchor
  z_p, f_p = inputs.latents[contract.AUGMENTED]
  a, p = (f_a, f_p) if model.lcr_input == "features" else (z_a, z_p)
  groups = None
  if model.exclude_same_clip_negatives:
    shape = tf.shape(a)
    groups = tf.repeat(tf.range(shape[0]), shape[1])
  head = inputs.layers["lcr_head"]
  return model.info_nce_loss(head(flat_latents(a)), head(flat_latents(p)), groups)


def _hcr_loss(inputs):
  """L_HCR: InfoNCE over clips through E_m: anchor E_m(G(X)), positive E_m(G(A(X)))."""
  head = inputs.layers["hcr_head"]
  return inputs.model.info_nce_loss(head(inputs.motion[ANCHOR]),
                                    head(inputs.motion[contract.AUGMENTED]), None)


register_energy(Energy(
    name="lcr", loss=_lcr_loss, batch_keys=(contract.WINDOW, contract.AUGMENTED),
    image_keys=(contract.AUGMENTED,),
    layers=(EnergyLayer("lcr_head", _projection_head("lcr_projection_head"),
                        lambda m: m.feature_dim if m.lcr_input == "features" else m.latent_dim),),
    learning_rate=CONTRASTIVE_LEARNING_RATE,
    description="L_LCR: InfoNCE over frames, positive = A(frame)"))
register_energy(Energy(
    name="hcr", loss=_hcr_loss, batch_keys=(contract.WINDOW, contract.AUGMENTED),
    image_keys=(contract.AUGMENTED,), motion_inputs=(ANCHOR, contract.AUGMENTED),
    needs=frozenset({MOTION_ENCODER}),
    layers=(EnergyLayer("hcr_head", _projection_head("hcr_projection_head"),
                        lambda m: m.motion_dim),),
    learning_rate=CONTRASTIVE_LEARNING_RATE,
    description="L_HCR: InfoNCE over clips through E_m, positive = A(clip)"))


# --- guards, baselines and variants ---------------------------------------------------------------

def _pose_loss(model, latents, poses):
  """||D_p(z) - y|| on labeled frames (root-relative), in units of `pose_scale_mm`."""
  poses = tf.cast(poses, tf.float32)
  poses = tf.reshape(poses, [-1] + dims(poses)[-2:])
  poses = poses - poses[:, :1]
  predicted = model.pose_decoder(flat_latents(latents), training=False)
  return relation_energy(predicted / model.pose_scale_mm, poses / model.pose_scale_mm,
                         model.pose_loss_kind)


def batch_value(batch, key, energy):
  """batch[key], or a KeyError naming the energy that needs it."""
  if key not in batch:
    raise KeyError(f"energy {energy!r} needs batch key {key!r}; the batch has {sorted(batch)}")
  return batch[key]


def _supervised_energy(name, image_key, pose_key, labels, description):
  def loss(inputs):
    return _pose_loss(inputs.model, inputs.latents[image_key][0],
                      batch_value(inputs.batch, pose_key, name))
  return register_energy(Energy(
      name=name, loss=loss, batch_keys=(image_key, pose_key), image_keys=(image_key,),
      anchor_frames=None, needs=frozenset({POSE_DECODER, labels}), description=description))


_supervised_energy("source", contract.SOURCE_IMAGE, contract.SOURCE_POSE, SOURCE_LABELS,
                   "guard: the supervised source loss ||D_p(G(x_s)) - y_s|| kept while adapting")
_supervised_energy("target_supervised", contract.TARGET_IMAGE, contract.TARGET_POSE,
                   TARGET_LABELS, "semi-supervised variant: the same on a labeled target fraction")


def gradient_reversal(x, weight):
  """Identity forward; multiplies the gradient by -weight (DANN)."""

  @tf.custom_gradient
  def _reverse(inputs):
    def grad(dy):
      return -weight * dy
    return tf.identity(inputs), grad

  return _reverse(x)


def _domain_discriminator(model):
  return keras.Sequential(
      [keras.layers.Dense(u, activation="leaky_relu", name=f"domain_disc_fc{i}")
       for i, u in enumerate(model.discriminator_units)]
      + [keras.layers.Dense(1, name="domain_disc_out")]
      # Under a mixed-precision policy the logits go to the loss in float32.
      + ([] if keras.mixed_precision.global_policy().compute_dtype == "float32" else
         [keras.layers.Activation("linear", dtype="float32", name="domain_disc_float32")]),
      name="domain_discriminator")


def _domain_adversarial_loss(inputs):
  """DANN: a domain discriminator on G's features (or z) behind a gradient-reversal layer,
  source frames (real) vs target anchor frames."""
  model = inputs.model
  (z_t, f_t), (z_s, f_s) = inputs.anchor, inputs.latents[contract.SOURCE_IMAGE]
  if model.adversarial_input == "features":
    target, source = flat_latents(f_t), flat_latents(f_s)
  else:
    target, source = flat_latents(z_t), flat_latents(z_s)
  weight = model.gradient_reversal_weight
  discriminator = inputs.layers["domain_discriminator"]
  source_logits = discriminator(gradient_reversal(source, weight))
  target_logits = discriminator(gradient_reversal(target, weight))
  loss = sl.discriminator_loss(source_logits, target_logits)
  accuracy = 0.5 * (tf.reduce_mean(tf.cast(source_logits > 0, tf.float32))
                    + tf.reduce_mean(tf.cast(target_logits <= 0, tf.float32)))
  return loss, {"domain_accuracy": accuracy}


register_energy(Energy(
    name="domain_adversarial", loss=_domain_adversarial_loss,
    batch_keys=(contract.WINDOW, contract.SOURCE_IMAGE), image_keys=(contract.SOURCE_IMAGE,),
    needs=frozenset({SOURCE_IMAGES}),
    layers=(EnergyLayer("domain_discriminator", _domain_discriminator,
                        lambda m: (m.feature_dim if m.adversarial_input == "features"
                                   else m.latent_dim)),),
    metrics=("domain_accuracy",),
    description="baseline: domain-adversarial training (DANN) of G's features"))


def _latent_spread_loss(inputs):
  """Hinge keeping the per-dimension spread of G's target latents above `spread_floor` times
  its first-step value (a guard against collapse)."""
  std, reference = inputs.spread
  return tf.reduce_mean(tf.nn.relu(inputs.model.spread_floor * reference - std))


register_energy(Energy(
    name="latent_spread", loss=_latent_spread_loss, batch_keys=(contract.WINDOW,),
    description="guard: hinge on the spread of G's target latents"))


# --- relation energies (paper eqs. 2-3) ------------------------------------------------------

def _relation_energy(relation):
  """L^z_r (frame relations: |T^z(G(x)) - G(T^x(x))| per frame) or L^v_r (motion relations:
  |T^v(E_m(G(X))) - E_m(G(T^X(X)))| per clip) of one relation."""
  key = relation.key
  counterpart = contract.counterpart_key(key)
  frame_relation = relation.space == relations.POSE

  def loss(inputs):
    network = inputs.model.relation_networks[key]
    if frame_relation:
      predicted = network(flat_latents(inputs.anchor[0]), training=False)
      target = flat_latents(inputs.latents[counterpart][0])
    else:
      predicted = network(inputs.motion[ANCHOR], training=False)
      target = inputs.motion[counterpart]
    return relation_energy(predicted, target, inputs.model.loss_kind)

  needs = {RELATION_NETWORK} | (set() if frame_relation else {MOTION_ENCODER})
  return Energy(
      name=key, loss=loss, batch_keys=(contract.WINDOW, counterpart), image_keys=(counterpart,),
      anchor_frames=relation.anchor_frames,
      motion_inputs=() if frame_relation else (ANCHOR, counterpart),
      needs=frozenset(needs), relation=relation,
      description=f"relation energy of {relation.name} ({relation.description})")


DEFAULT_RELATION_KEYS = ("z3", "v2", "v3")
DEFAULT_ENERGIES = ("lcr", "hcr") + DEFAULT_RELATION_KEYS
