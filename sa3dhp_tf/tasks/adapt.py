"""Stage 7 (Algorithm 1, B): self-adaptation of G on unlabeled target videos by relation
distillation, with a label-free rule to pick the checkpoint.

G starts from G^s; only its configured backbone stage trains (res3 by default) against the
energies listed in `energies` (`RelationDistillationModel`). After every loop the stage records,
on held-out data, label-free criteria (source validation error, latent spread on target frames,
the pose discriminator's score of predicted target poses, relation residuals on held target
clips) and, for reporting only, the target test error; it saves G's weights, and at the end
picks one snapshot by `selection_rule` without looking at target labels. The target test error
of the best snapshot by target labels is reported next to it, never used.
"""

import dataclasses
import functools
import os
from typing import Any, Dict, Optional

from absl import logging
import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import lineage
from sa3dhp_tf import relations
from sa3dhp_tf import reproducibility
from sa3dhp_tf import settings
from sa3dhp_tf import stage_store
from sa3dhp_tf.config import bound_value
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import checkpoint_selection
from sa3dhp_tf.evaluation import nonlocality
from sa3dhp_tf.evaluation import pose_evaluation
from sa3dhp_tf.evaluation.adaptation_results import AdaptationResults
from sa3dhp_tf.evaluation.checkpoint_selection import SELECTION_RULES
from sa3dhp_tf.modeling import adaptation
from sa3dhp_tf.geometry import image_transforms
from sa3dhp_tf.modeling import collapse_monitor
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling import energies as energy_lib
from sa3dhp_tf.modeling.collapse_monitor import latent_spread
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "adapt"
SNAPSHOT_DIR = "snapshots"
RULES = {
    **settings.TRAINING_RULES, "batch_size": settings.BATCH_SIZE,
    "source_batch_size": settings.BATCH_SIZE,
    "learning_rates": settings.mapping_of(settings.LEARNING_RATE),
    "schedule": settings.Rule(f"one of {adaptation.SCHEDULES} or a list of energy names",
                              lambda v: v in adaptation.SCHEDULES
                              or (isinstance(v, (list, tuple)) and len(v) > 0)),
    "loss_kind": settings.one_of(*adaptation.LOSS_KINDS),
    "temperature": settings.number(0, minimum_open=True),
    "fill_mode": settings.one_of(*image_transforms.FILL_MODES),
    "target_labeled_fraction": settings.POSITIVE_FRACTION,
    "selection_rule": settings.one_of(*SELECTION_RULES),
    "collapse_fraction": settings.FRACTION,
    "on_collapse": settings.one_of(*collapse_monitor.ON_COLLAPSE),
    "eval_batches": settings.COUNT, "diagnostic_clips": settings.COUNT,
    "theta": settings.optional(settings.number()),
    "auto_relations": settings.sequence_of(settings.integer(0), 2),
}


def _check():
  from sa3dhp_tf import config
  energies = bound_value("adapt.energies", adaptation.DEFAULT_ENERGIES)
  for energy in energies:
    if energy == "auto":
      continue
    try:
      energy_lib.get_energy(energy)
    except KeyError as e:
      raise config.ConfigError(f"adapt.energies: {e.args[0]}") from None
  rule = bound_value("adapt.selection_rule", "final_unless_collapsed")
  if rule not in SELECTION_RULES:
    raise config.ConfigError(f"adapt.selection_rule must be one of {SELECTION_RULES}, got "
                             f"{rule!r}")


@dataclasses.dataclass
class AdaptInputs:
  """What the stage adapts and reads: G (a fresh copy of G^s), the pose AAE (D_p and its pose
  discriminator), the motion AAE (E_m) and the relation networks, frozen, with the stage infos
  they came from."""
  network: Any
  pose_ae: Any
  motion_ae: Optional[Any]
  relation_nets: Dict[str, Any]
  source_info: Dict[str, Any]
  relation_info: Optional[Dict[str, Any]]


def load_inputs(source_dir, relation_nets_dir, relation_keys):
  """G^s (a fresh copy to adapt), D_p with its AAE, E_m, and the relation networks."""
  source_models, source_info = stage_io.load_stage(source_dir, "source", ["image_to_latent"])
  pose_ae, pose_info = stage_store.load_pose_autoencoder(source_info["inputs"]["pose_aae"])
  network = source_models["image_to_latent"]
  motion_ae, relation_nets, relation_info = None, {}, None
  if relation_keys or relation_nets_dir:
    relation_info = stage_io.read_stage_info(relation_nets_dir, "relation_nets")
    # by content, not by path: a linked or moved copy of the same AAE is the same E_p/D_p
    lineage.check_shared("pose_aae", relation_nets_dir, relation_info, source_dir, source_info)
    missing = sorted(set(relation_keys) - set(relation_info["settings"]["relation_keys"]))
    if missing:
      raise stage_io.StageError(f"{relation_nets_dir} has no relation network for {missing}; "
                                f"it has {relation_info['settings']['relation_keys']}")
    if relation_keys:  # (an empty list would mean "every model" to load_stage)
      nets, _ = stage_io.load_stage(relation_nets_dir, "relation_nets",
                                    [f"relation_{k}" for k in relation_keys])
      relation_nets = {k: stage_io.freeze(nets[f"relation_{k}"]) for k in relation_keys}
    motion_ae, _ = stage_store.load_motion_autoencoder(relation_info["inputs"]["motion_aae"],
                                                       pose_ae.latent_dim)
  return AdaptInputs(network, pose_ae, motion_ae, relation_nets, source_info, relation_info)


def build_dataset(model, data_dir, batch_size, relation_keys, theta, fill_mode, seed,
                  source_batch_size, target_labeled_fraction):
  """Target windows plus, when an energy needs them, labeled source / target frames, with
  exactly the keys the model's energies read."""
  needed = set(model.required_batch_keys())
  paths = records.shard_paths(data_dir, "target_train")
  dataset = pipelines.target_windows(
      paths, batch_size, relation_keys=relation_keys, theta=theta, fill_mode=fill_mode,
      with_augmented=contract.AUGMENTED in needed, seed=seed)
  parts = [dataset]
  if contract.SOURCE_IMAGE in needed:
    source = pipelines.source_frames(records.shard_paths(data_dir, "source"), source_batch_size,
                                     seed=seed + 1)
    parts.append(source.map(lambda b: contract.rename_frames(b, contract.SOURCE_FRAME_KEYS)))
  if contract.TARGET_IMAGE in needed:
    labeled = pipelines.source_frames(records.shard_paths(data_dir, "target_labeled"),
                                      source_batch_size, seed=seed + 2,
                                      keep_sequence_fraction=target_labeled_fraction)
    parts.append(labeled.map(lambda b: contract.rename_frames(b, contract.TARGET_FRAME_KEYS)))
  if len(parts) > 1:
    dataset = tf.data.Dataset.zip(tuple(parts)).map(
        lambda *batches: {k: v for b in batches for k, v in b.items()})
  return dataset.map(lambda b: {k: v for k, v in b.items() if k in needed}).prefetch(
      tf.data.AUTOTUNE)


def _held_batch(data_dir, split, relation_keys, theta, fill_mode, clips):
  """A fixed batch of windows (with relation counterparts) of a clip split, for diagnostics."""
  kind_paths = records.shard_paths(data_dir, split)
  dataset = pipelines.target_windows(kind_paths, clips, relation_keys=relation_keys, theta=theta,
                                     fill_mode=fill_mode, with_augmented=False, seed=123,
                                     repeat=False, shuffle_buffer=1)
  return next(iter(dataset))


class SnapshotEvaluator(keras.callbacks.Callback):
  """After each loop: label-free criteria, the (report-only) target test error, and a snapshot
  of G's weights. Results go to `selection.jsonl`."""

  def __init__(self, model_dir, network, pose_ae, motion_ae, relation_nets, data_dir,
               steps_per_loop, target_batch, eval_batches):
    super().__init__()
    self.model_dir = model_dir
    self.network = network
    self.pose_ae = pose_ae
    self.motion_ae = motion_ae
    self.relation_nets = relation_nets
    self.data_dir = data_dir
    self.steps_per_loop = steps_per_loop
    self.target_batch = target_batch
    self.eval_batches = eval_batches
    self._held_splits = {split: pose_evaluation.labeled_split(data_dir, split,
                                                              max_batches=eval_batches)
                         for split in ("source_test", "target_test")}
    # Traced once and run after every loop on the same batch (G's variables are read, not
    # captured); eagerly the motion encoder alone took about a third of a tiny stage's time.
    # Its branches are on Python values only, so AutoGraph is not needed.
    self._residuals = tf.function(functools.partial(
        adaptation.relation_residual_tensors, network, relation_nets, motion_ae), autograph=False)
    os.makedirs(os.path.join(model_dir, SNAPSHOT_DIR), exist_ok=True)

  def measure(self, step):
    frames = tf.reshape(self.target_batch[contract.WINDOW],
                        [-1] + self.target_batch[contract.WINDOW].shape.as_list()[-3:])
    z = self.network(frames, training=False)
    poses = self.pose_ae.decoder(z, training=False)
    prior_logit = self.pose_ae.pose_discriminator(poses, training=False)
    source, target = (pose_evaluation.evaluate_frames(self.network, self.pose_ae.decoder,
                                                      self._held_splits[split])
                      for split in ("source_test", "target_test"))
    residuals = self.residuals(self.target_batch)
    record = {"step": int(step),
              "source_val_mpjpe": source["mpjpe"],
              "target_spread": float(np.mean(np.std(np.asarray(z), axis=0))),
              "pose_prior_score": float(np.mean(np.asarray(prior_logit))),
              "target_residuals": residuals,
              "target_test_mpjpe": target["mpjpe"], "target_test_pa_mpjpe": target["pa_mpjpe"]}
    self.network.save_weights(self.snapshot_path(step))
    checkpoint_selection.append_record(self.model_dir, record)
    return record

  def residuals(self, batch):
    """{relation key: mean residual} of G now on `batch` (of the held batches' shape: one
    trace serves the diagnosis before training and every loop); {} without relation nets."""
    if not self.relation_nets:
      return {}
    return {k: float(v) for k, v in self._residuals(batch).items()}

  def snapshot_path(self, step):
    return os.path.join(self.model_dir, SNAPSHOT_DIR, f"g-{int(step)}.weights.h5")

  def on_train_begin(self, logs=None):
    if not checkpoint_selection.read_selection(self.model_dir):
      self.measure(0)

  def on_epoch_end(self, epoch, logs=None):
    record = self.measure((epoch + 1) * self.steps_per_loop)
    logging.info("step %d: target test MPJPE %.1f (report only), source val %.1f, spread %.3f",
                 record["step"], record["target_test_mpjpe"], record["source_val_mpjpe"],
                 record["target_spread"])


# --- the stage's steps ---------------------------------------------------------------------

def resolve_energies(energies, relation_nets_dir, data_dir, auto_relations):
  """The energies with 'auto' replaced by the most non-local relations (by latent distance on
  mocap) that are not listed already."""
  energies = list(energies)
  if "auto" in energies:
    rel_info = stage_io.read_stage_info(relation_nets_dir, "relation_nets")
    chosen = nonlocality.auto_relations(rel_info["inputs"]["pose_aae"],
                                        rel_info["inputs"]["motion_aae"], data_dir,
                                        k_pose=auto_relations[0], k_motion=auto_relations[1],
                                        theta=rel_info["settings"]["theta"])
    index = energies.index("auto")
    energies[index:index + 1] = [k for k in chosen if k not in energies]
  return energies


def resolve_theta(theta, inputs, relation_nets_dir):
  """The relations' angle: the one the relation networks were trained with (a different
  `adapt.theta` is an error), else `theta`, else the default."""
  if inputs.relation_info is not None:
    trained_theta = float(inputs.relation_info["settings"]["theta"])
    if theta is not None and float(theta) != trained_theta:
      raise stage_io.StageError(f"adapt.theta = {theta} but the relation networks in "
                                f"{relation_nets_dir} were trained with theta = {trained_theta}")
    theta = trained_theta
  return relations.DEFAULT_THETA if theta is None else float(theta)


def check_requirements(energies, inputs):
  """Fails before training when an energy needs E_m and no relation_nets_dir gave one."""
  needs_motion = [e for e in energies
                  if energy_lib.get_energy(e).requires(energy_lib.MOTION_ENCODER)]
  if needs_motion and inputs.motion_ae is None:
    raise stage_io.StageError(f"energies {needs_motion} need E_m: pass relation_nets_dir (its "
                              "motion AAE)")


def build_model(inputs, energies, trainable_stages, loss_kind, temperature, learning_rates,
                schedule, jit_compile):
  """The compiled `RelationDistillationModel`, under the distribution strategy."""
  strategy = training_loop.make_strategy()
  with strategy.scope():
    model = constructor_settings.build(
        adaptation.RelationDistillationModel, image_to_latent=inputs.network,
        pose_decoder=inputs.pose_ae.decoder,
        motion_encoder=None if inputs.motion_ae is None else inputs.motion_ae.encoder,
        relation_networks=inputs.relation_nets, energies=tuple(energies),
        trainable_stages=tuple(trainable_stages), loss_kind=loss_kind, temperature=temperature)
    # learning_rates may list energies this run does not use (one table for all rows).
    model.compile(optimizers={k: v for k, v in dict(learning_rates or {}).items()
                              if k in energies},
                  schedule=schedule,
                  jit_compile=jit_compile)
  return model


def diagnose_before(evaluator, source_batch, target_batch):
  """Relation residuals of G^s on held source and target clips: how much each relation can
  teach on this shift (through the evaluator's traced residuals, before any training)."""
  return {"relation_residuals_source": evaluator.residuals(source_batch),
          "relation_residuals_target": evaluator.residuals(target_batch)}


def train(model, dataset, model_dir, data_dir, steps, steps_per_loop, callbacks):
  with records.explain_data_errors(records.shard_paths(data_dir, "target_train"), "clip"):
    training_loop.run_training(model, dataset, model_dir, steps, steps_per_loop,
                               callbacks=callbacks)


def select_and_evaluate(model_dir, inputs, evaluator, data_dir, energies, theta,
                        selection_rule, collapse_fraction, before, collapsed_at_step):
  """Picks the snapshot by the label-free rule, loads it into G, evaluates it on the whole
  test splits. Returns the `AdaptationResults`."""
  history = checkpoint_selection.read_selection(model_dir)
  chosen = checkpoint_selection.select_snapshot(history, selection_rule, collapse_fraction)
  best = checkpoint_selection.best_by_target_labels(history)
  inputs.network.load_weights(evaluator.snapshot_path(chosen["step"]))
  final = {split: pose_evaluation.evaluate_split(inputs.network, inputs.pose_ae.decoder,
                                                 data_dir, split)
           for split in ("source_test", "target_test")}
  return AdaptationResults(
      energies=list(energies), theta=theta, selection_rule=selection_rule,
      selected_step=chosen["step"], best_step_by_target_labels=best["step"],
      target_test_mpjpe_at_best_step_subset=best["target_test_mpjpe"],
      target_test_mpjpe_at_selected_step_subset=chosen["target_test_mpjpe"],
      selected={split: pose_evaluation.summary(r) for split, r in final.items()},
      criterion_correlations=checkpoint_selection.criterion_correlations(history),
      before_adaptation=before,
      latent_spread_target_before=history[0]["target_spread"],
      latent_spread_target_selected=chosen["target_spread"],
      collapsed_at_step=collapsed_at_step,
      curve=history, dropped_records=records.dropped_records(data_dir))


def save(model_dir, inputs, results, source_dir, relation_nets_dir, data_dir,
         trainable_stages):
  network = inputs.network
  stage_io.save_stage(model_dir, STAGE, {"image_to_latent": network},
                      settings={"latent_dim": network.latent_dim, "energies": results.energies,
                                "theta": results.theta, "data_dir": data_dir,
                                "trainable_stages": list(trainable_stages)},
                      inputs={"pose_aae": inputs.source_info["inputs"]["pose_aae"],
                              "source": source_dir,
                              **({"relation_nets": relation_nets_dir} if relation_nets_dir
                                 else {})},
                      results={"selected": results.selected,
                               "selected_step": results.selected_step,
                               "selection_rule": results.selection_rule})
  results.save(model_dir)


@register_stage(STAGE, check=_check, rules=RULES)
@gin.configurable("adapt", denylist=["model_dir"])
def adapt(model_dir, source_dir=gin.REQUIRED, relation_nets_dir=None, data_dir=None,
          energies=adaptation.DEFAULT_ENERGIES, auto_relations=(1, 2), theta=None,
          fill_mode="reflect", steps=1000, steps_per_loop=100, batch_size=4,
          source_batch_size=32, learning_rates=None, schedule="round_robin",
          trainable_stages=("res3",), loss_kind="l1", temperature=0.07,
          target_labeled_fraction=0.25, selection_rule="final_unless_collapsed",
          collapse_fraction=0.5, on_collapse="warn", eval_batches=2, diagnostic_clips=8,
          seed=0, jit_compile=False):
  """Adapts G (from `source_dir`) to the target videos of `data_dir`.

  energies: names among 'lcr', 'hcr', relation keys, the guards 'source', 'latent_spread', the
    baseline 'domain_adversarial' and the semi-supervised 'target_supervised'; 'auto' in the
    list stands for the most non-local relations, `auto_relations` = (k_pose, k_motion), by
    latent distance on mocap.
  learning_rates: {energy: lr}; default the authors' 2e-5 (contrastive) and 1e-5 (others).
  selection_rule: how the reported checkpoint is picked without target labels.
  The model's other settings are the gin settings `RelationDistillationModel.*`.
  Returns the `AdaptationResults` (also written to `<model_dir>/results.json`).
  """
  settings.check(STAGE, RULES, locals())
  reproducibility.seed_everything(seed, jit_compile)
  source_info = stage_io.read_stage_info(source_dir, "source")
  data_dir = data_dir or source_info["settings"]["data_dir"]
  energies = resolve_energies(energies, relation_nets_dir, data_dir, auto_relations)
  relation_keys = list(energy_lib.relation_keys(energies))
  # Loaded in the strategy's scope: under 'mirrored'/'multi_worker' G's variables must be the
  # strategy's (outside it, the optimisers' slots fail: "colocate_vars_with must only be passed
  # a variable created in this tf.distribute.Strategy.scope()").
  with training_loop.make_strategy().scope():
    inputs = load_inputs(source_dir, relation_nets_dir, relation_keys)
  theta = resolve_theta(theta, inputs, relation_nets_dir)
  check_requirements(energies, inputs)
  model = build_model(inputs, energies, trainable_stages, loss_kind, temperature, learning_rates,
                      schedule, jit_compile)
  dataset = build_dataset(model, data_dir, batch_size, relation_keys, theta, fill_mode, seed,
                          source_batch_size, target_labeled_fraction)
  target_batch = _held_batch(data_dir, "target_train", relation_keys, theta, fill_mode,
                             diagnostic_clips)
  source_batch = _held_batch(data_dir, "source_test", relation_keys, theta, fill_mode,
                             diagnostic_clips)
  evaluator = SnapshotEvaluator(model_dir, inputs.network, inputs.pose_ae, model.motion_encoder,
                                inputs.relation_nets, data_dir, steps_per_loop, target_batch,
                                eval_batches)
  before = diagnose_before(evaluator, source_batch, target_batch)
  monitor = adaptation.LatentSpreadMonitor(
      target_batch[contract.WINDOW], every_n_steps=steps_per_loop,
      min_fraction=collapse_fraction, on_collapse=on_collapse,
      reference_spread=latent_spread(inputs.network, target_batch[contract.WINDOW]))
  train(model, dataset, model_dir, data_dir, steps, steps_per_loop, [evaluator, monitor])
  results = select_and_evaluate(model_dir, inputs, evaluator, data_dir, energies, theta,
                                selection_rule, collapse_fraction, before,
                                monitor.collapsed_at_step)
  save(model_dir, inputs, results, source_dir, relation_nets_dir, data_dir, trainable_stages)
  return results
