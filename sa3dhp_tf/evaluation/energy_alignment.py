"""Which adaptation energies point at the truth? The gradient-alignment screen.

For one state of G (G^s, or an adaptation snapshot) and batches of labeled target clips, the
screen takes, per batch, the gradient of each energy with respect to the variables adaptation
trains (G's `trainable_stages`) and the gradient of the labeled target error on the same
clips, and reports their cosine. An energy whose descent direction lowers the target error
scores above 0; one that pushes G away from the truth scores below 0; one that does not touch
G's trainable variables has no gradient and no score (reported as such, never as 0).

The target error here is the mean per-joint position error (mm, root-relative, no alignment:
`metrics.mpjpe`) of D_p(G(x)) over every frame of the 60-frame windows of the batch. Target
labels are used for diagnosis only: nothing here trains, selects or tunes a model.

Energies are those of `modeling/energies.py` plus placebo relations, named 'placebo:<key>':
the relation energy of `<key>` computed with the placebo relation networks
(`evaluation/ablation.py`, each trained on another relation's pose side), the control for
"a relation network of the same shape that encodes the wrong relation".

  result = energy_alignment.screen(models, batches, energies)
  summary = energy_alignment.summarize(result)      # {energy: {mean, sem, n, no_gradient}}
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from sa3dhp_tf import skeleton
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.modeling.adaptation import image_latents
from sa3dhp_tf.modeling.frame_batches import flat_latents

PLACEBO_PREFIX = "placebo:"
# Below this gradient norm an energy is taken not to touch G's trainable variables (float32
# gradients of an energy that does not depend on them are exactly 0; this leaves room for
# round-off in energies that depend on them only through a stop_gradient).
NO_GRADIENT_NORM = 1e-12


def base_energy(name):
  """'placebo:z3' -> 'z3'; other names unchanged."""
  return name[len(PLACEBO_PREFIX):] if name.startswith(PLACEBO_PREFIX) else name


def is_placebo(name):
  return name.startswith(PLACEBO_PREFIX)


def target_error(model, batch):
  """Mean per-joint position error (mm) of D_p(G(x)) on every frame of the batch's windows,
  against their labels (`window_pose3d`), root-relative, as `metrics.mpjpe`."""
  z, _ = image_latents(model.image_to_latent, batch[contract.WINDOW])
  predicted = model.pose_decoder(flat_latents(z), training=False)
  truth = tf.reshape(tf.cast(batch[contract.WINDOW_POSE], tf.float32),
                     [-1, skeleton.NUM_JOINTS, 3])
  return root_relative_mpjpe(predicted, truth)


def root_relative_mpjpe(predicted, truth):
  """MPJPE (mm) of `[N, J, 3]` poses after moving both roots (joint 0) to the origin, with a
  gradient that is finite everywhere: a norm's gradient at 0 is NaN, and the root's error is
  exactly 0 after centring (as is any joint predicted exactly), so a joint with no error
  contributes 0 and a 0 gradient (the double `where` keeps the untaken branch finite too)."""
  truth = truth - truth[:, :1]
  predicted = predicted - predicted[:, :1]
  squared = tf.reduce_sum(tf.square(predicted - truth), axis=-1)
  positive = squared > 0
  per_joint = tf.where(positive, tf.sqrt(tf.where(positive, squared, 1.0)), 0.0)
  return tf.reduce_mean(per_joint)


def _flat(gradients, variables):
  parts = [tf.reshape(tf.zeros_like(v) if g is None else tf.convert_to_tensor(g), [-1])
           for g, v in zip(gradients, variables)]
  return tf.concat(parts, axis=0)


def cosine(a, b):
  """Cosine of two flat vectors, or NaN when either has no length (`NO_GRADIENT_NORM`)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  na, nb = np.linalg.norm(a), np.linalg.norm(b)
  if na < NO_GRADIENT_NORM or nb < NO_GRADIENT_NORM:
    return float("nan")
  return float(np.dot(a, b) / (na * nb))


def _gradients(models, batch, energies):
  """(flat gradient of the target error, {energy: flat gradient}, {energy: loss}, error) with
  respect to G's trainable variables, on one batch."""
  paper = models["paper"]
  variables = paper._g_trainable_variables()
  names = {"paper": [base_energy(e) for e in energies if not is_placebo(e)],
           "placebo": [base_energy(e) for e in energies if is_placebo(e)]}
  with tf.GradientTape(persistent=True) as tape:
    error = target_error(paper, batch)
    losses = {}
    for which, keys in names.items():
      if keys:
        computed, _ = models[which].compute_energies(batch, names=keys)
        prefix = PLACEBO_PREFIX if which == "placebo" else ""
        losses.update({prefix + k: v for k, v in computed.items()})
  reference = _flat(tape.gradient(error, variables), variables)
  gradients = {name: _flat(tape.gradient(losses[name], variables), variables)
               for name in energies}
  del tape
  return reference, gradients, {name: losses[name] for name in energies}, error


class GradientScreen:
  """`batch_alignment` with the gradient computation compiled once (graph mode measured much
  faster than eager for these many backward passes; batches of one shape reuse one trace)."""

  def __init__(self, models, energies):
    self.models = models
    self.energies = list(energies)
    if not models["paper"]._g_trainable_variables():
      raise ValueError("G has no trainable variables under the model's trainable_stages")
    self._compiled = tf.function(lambda batch: _gradients(self.models, batch, self.energies),
                                 reduce_retracing=True)

  def __call__(self, batch):
    reference, gradients, losses, error = self._compiled(batch)
    reference = reference.numpy()
    out = {name: cosine(gradients[name].numpy(), reference) for name in self.energies}
    out["_target_error_mm"] = float(error)
    for name in self.energies:
      value = float(losses[name])
      if not math.isfinite(value):
        raise FloatingPointError(f"energy {name!r} is {value} on a screen batch")
    return out


def batch_alignment(models, batch, energies):
  """{energy: cosine} on one batch, plus the batch's target error under '_target_error_mm'.

  models: {'paper': RelationDistillationModel, 'placebo': one with the placebo relation
    networks (only if a placebo energy is asked for)}, sharing one G (`image_to_latent`);
    each configured with the energies it computes here."""
  return GradientScreen(models, energies)(batch)


@dataclasses.dataclass
class ScreenResult:
  """Per-batch cosines of every energy, and the target error of each batch (mm)."""
  energies: List[str]
  cosines: Dict[str, List[float]]
  target_error_mm: List[float]


def screen(models, batches, energies: Sequence[str], progress=None) -> ScreenResult:
  """Runs `batch_alignment` over `batches` (an iterable of batch dicts)."""
  energies = list(energies)
  measure = GradientScreen(models, energies)
  cosines = {e: [] for e in energies}
  errors = []
  for i, batch in enumerate(batches):
    one = measure(batch)
    errors.append(one.pop("_target_error_mm"))
    for e in energies:
      cosines[e].append(one[e])
    if progress:
      progress(i + 1)
  if not errors:
    raise ValueError("no batches to screen")
  return ScreenResult(energies, cosines, errors)


def mean_and_sem(values):
  """(mean, standard error of the mean, n) of the finite values; NaNs for fewer than 2."""
  values = np.asarray([v for v in values if math.isfinite(v)], np.float64)
  if len(values) == 0:
    return float("nan"), float("nan"), 0
  sem = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
  return float(values.mean()), sem, int(len(values))


def summarize(result: ScreenResult):
  """{energy: {'mean', 'sem', 'n', 'no_gradient_batches'}}."""
  out = {}
  for e in result.energies:
    mean, sem, n = mean_and_sem(result.cosines[e])
    out[e] = {"mean": mean, "sem": sem, "n": n,
              "no_gradient_batches": int(sum(1 for v in result.cosines[e]
                                             if not math.isfinite(v)))}
  return out


def _ranks(values):
  order = np.argsort(values, kind="stable")
  ranks = np.empty(len(values), np.float64)
  ranks[order] = np.arange(len(values), dtype=np.float64)
  # average ranks over ties
  for v in np.unique(values):
    tied = values == v
    ranks[tied] = ranks[tied].mean()
  return ranks


def rank_correlation(x, y) -> Optional[float]:
  """Spearman's rho of two equal-length sequences (None for fewer than 3 pairs or no spread)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return None
  return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def nonlocality_correlation(summary, distances, spaces):
  """Does non-localness pick the useful relations (paper Fig. 4)? Across the relations that
  have both an alignment and a latent distance: Spearman's rho between the two, per relation
  space (pose and motion distances live in different latent spaces, so they are ranked
  separately) and over all relations by their within-space rank.

  summary: `summarize` output; distances: {relation key: latent distance}
  (`nonlocality.latent_distances`); spaces: {relation key: 'pose' | 'motion'}.
  Returns {'pose': {...}, 'motion': {...}} with 'keys', 'alignment', 'distance', 'spearman'."""
  out = {}
  for space in sorted(set(spaces.values())):
    keys = [k for k in distances if spaces.get(k) == space and k in summary
            and math.isfinite(summary[k]["mean"])]
    alignment = [summary[k]["mean"] for k in keys]
    distance = [float(distances[k]) for k in keys]
    out[space] = {"keys": keys, "alignment": alignment, "distance": distance,
                  "spearman": rank_correlation(distance, alignment)}
  return out
