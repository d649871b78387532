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

import json
import os

from absl import logging
import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf import reproducibility
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import pose_evaluation
from sa3dhp_tf.modeling import adaptation
from sa3dhp_tf.modeling.collapse_monitor import latent_spread
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.dry_run import bound_value
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "adapt"
SELECTION_RULES = ("final", "final_unless_collapsed", "source_val", "pose_prior", "spread")
SNAPSHOT_DIR = "snapshots"


def _check():
  from sa3dhp_tf import config
  energies = bound_value("adapt.energies", adaptation.DEFAULT_ENERGIES)
  for energy in energies:
    if energy in adaptation.BUILTIN_ENERGIES or energy == "auto":
      continue
    try:
      relations.get_relation(energy)
    except KeyError as e:
      raise config.ConfigError(f"adapt.energies: {e.args[0]}") from None
  rule = bound_value("adapt.selection_rule", "final_unless_collapsed")
  if rule not in SELECTION_RULES:
    raise config.ConfigError(f"adapt.selection_rule must be one of {SELECTION_RULES}, got "
                             f"{rule!r}")


def load_inputs(source_dir, relation_nets_dir, relation_keys):
  """G^s (a fresh copy to adapt), D_p with its AAE, E_m, and the relation networks."""
  source_models, source_info = stage_io.load_stage(source_dir, "source", ["image_to_latent"])
  pose_models, pose_info = stage_io.load_stage(source_info["inputs"]["pose_aae"], "pose_aae",
                                               ["pose_autoencoder"])
  pose_ae = stage_io.freeze(pose_models["pose_autoencoder"])
  network = source_models["image_to_latent"]
  motion_ae, relation_nets, relation_info = None, {}, None
  if relation_keys or relation_nets_dir:
    relation_info = stage_io.read_stage_info(relation_nets_dir, "relation_nets")
    if relation_info["inputs"]["pose_aae"] != source_info["inputs"]["pose_aae"]:
      raise stage_io.StageError(
          f"{relation_nets_dir} was trained on the pose AAE {relation_info['inputs']['pose_aae']}"
          f" but {source_dir} on {source_info['inputs']['pose_aae']}; they must share E_p/D_p")
    missing = sorted(set(relation_keys) - set(relation_info["settings"]["relation_keys"]))
    if missing:
      raise stage_io.StageError(f"{relation_nets_dir} has no relation network for {missing}; "
                                f"it has {relation_info['settings']['relation_keys']}")
    if relation_keys:  # (an empty list would mean "every model" to load_stage)
      nets, _ = stage_io.load_stage(relation_nets_dir, "relation_nets",
                                    [f"relation_{k}" for k in relation_keys])
      relation_nets = {k: stage_io.freeze(nets[f"relation_{k}"]) for k in relation_keys}
    motion_models, _ = stage_io.load_stage(relation_info["inputs"]["motion_aae"], "motion_aae",
                                           ["motion_autoencoder"],
                                           expect={"latent_dim": pose_ae.latent_dim})
    motion_ae = stage_io.freeze(motion_models["motion_autoencoder"])
  return network, pose_ae, motion_ae, relation_nets, source_info, relation_info


def _rename(batch, mapping):
  return {mapping[k]: v for k, v in batch.items() if k in mapping}


def build_dataset(model, data_dir, batch_size, relation_keys, theta, fill_mode, seed,
                  source_batch_size, target_labeled_fraction):
  """Target windows plus, when an energy needs them, labeled source / target frames, with
  exactly the keys the model's energies read."""
  needed = set(model.required_batch_keys())
  paths = records.shard_paths(data_dir, "target_train")
  dataset = pipelines.target_windows(
      paths, batch_size, relation_keys=relation_keys, theta=theta, fill_mode=fill_mode,
      with_augmented="augmented" in needed, seed=seed)
  parts = [dataset]
  if "source_image" in needed:
    source = pipelines.source_frames(records.shard_paths(data_dir, "source"), source_batch_size,
                                     seed=seed + 1)
    parts.append(source.map(lambda b: _rename(b, {"image": "source_image",
                                                  "pose3d": "source_pose3d"})))
  if "target_image" in needed:
    labeled = pipelines.source_frames(records.shard_paths(data_dir, "target_labeled"),
                                      source_batch_size, seed=seed + 2,
                                      keep_sequence_fraction=target_labeled_fraction)
    parts.append(labeled.map(lambda b: _rename(b, {"image": "target_image",
                                                   "pose3d": "target_pose3d"})))
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
    self.path = os.path.join(model_dir, "selection.jsonl")
    os.makedirs(os.path.join(model_dir, SNAPSHOT_DIR), exist_ok=True)

  def measure(self, step):
    frames = tf.reshape(self.target_batch["window"],
                        [-1] + self.target_batch["window"].shape.as_list()[-3:])
    z = self.network(frames, training=False)
    poses = self.pose_ae.decoder(z, training=False)
    prior_logit = self.pose_ae.pose_discriminator(poses, training=False)
    source = pose_evaluation.evaluate_split(self.network, self.pose_ae.decoder, self.data_dir,
                                            "source_test", max_batches=self.eval_batches)
    target = pose_evaluation.evaluate_split(self.network, self.pose_ae.decoder, self.data_dir,
                                            "target_test", max_batches=self.eval_batches)
    residuals = (adaptation.relation_residuals(self.network, self.relation_nets, self.motion_ae,
                                               self.target_batch) if self.relation_nets else {})
    record = {"step": int(step),
              "source_val_mpjpe": source["mpjpe"],
              "target_spread": float(np.mean(np.std(np.asarray(z), axis=0))),
              "pose_prior_score": float(np.mean(np.asarray(prior_logit))),
              "target_residuals": residuals,
              "target_test_mpjpe": target["mpjpe"], "target_test_pa_mpjpe": target["pa_mpjpe"]}
    self.network.save_weights(self.snapshot_path(step))
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    return record

  def snapshot_path(self, step):
    return os.path.join(self.model_dir, SNAPSHOT_DIR, f"g-{int(step)}.weights.h5")

  def on_train_begin(self, logs=None):
    if not read_selection(self.model_dir):
      self.measure(0)

  def on_epoch_end(self, epoch, logs=None):
    record = self.measure((epoch + 1) * self.steps_per_loop)
    logging.info("step %d: target test MPJPE %.1f (report only), source val %.1f, spread %.3f",
                 record["step"], record["target_test_mpjpe"], record["source_val_mpjpe"],
                 record["target_spread"])


def read_selection(model_dir):
  path = os.path.join(model_dir, "selection.jsonl")
  if not os.path.exists(path):
    return []
  by_step = {}
  with open(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        by_step[record["step"]] = record  # a resumed run may re-measure a step: keep the last
  return [by_step[s] for s in sorted(by_step)]


def select_snapshot(history, rule, collapse_fraction=0.5):
  """Picks a snapshot record by a label-free `rule` (never reads target_test_* fields):
  - 'final': the last snapshot;
  - 'final_unless_collapsed': the last snapshot whose target latent spread is at least
    `collapse_fraction` of the initial one (the initial G^s if all collapsed);
  - 'source_val': the lowest source validation MPJPE;
  - 'pose_prior': the highest pose-discriminator score of predicted target poses;
  - 'spread': the largest target latent spread."""
  if rule not in SELECTION_RULES:
    raise ValueError(f"selection rule must be one of {SELECTION_RULES}, got {rule!r}")
  if rule == "final":
    return history[-1]
  if rule == "final_unless_collapsed":
    floor = collapse_fraction * history[0]["target_spread"]
    alive = [r for r in history if r["target_spread"] >= floor]
    return alive[-1] if alive else history[0]
  if rule == "source_val":
    return min(history, key=lambda r: r["source_val_mpjpe"])
  if rule == "pose_prior":
    return max(history, key=lambda r: r["pose_prior_score"])
  return max(history, key=lambda r: r["target_spread"])


def _spearman(a, b):
  ranks = lambda x: np.argsort(np.argsort(np.asarray(x)))
  if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
    return None
  return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def criterion_correlations(history):
  """Spearman correlation of each label-free criterion with target test MPJPE across snapshots:
  how well each criterion tracks the error it stands in for (sign: a good criterion to minimise
  correlates positively)."""
  target = [r["target_test_mpjpe"] for r in history]
  return {"source_val_mpjpe": _spearman([r["source_val_mpjpe"] for r in history], target),
          "negative_pose_prior_score": _spearman([-r["pose_prior_score"] for r in history],
                                                 target),
          "negative_target_spread": _spearman([-r["target_spread"] for r in history], target)}


@register_stage(STAGE, check=_check)
@gin.configurable("adapt", denylist=["model_dir"])
def adapt(model_dir, source_dir=gin.REQUIRED, relation_nets_dir=None, data_dir=None,
          energies=adaptation.DEFAULT_ENERGIES, auto_relations=(1, 2), theta=None,
          fill_mode="reflect", steps=1000, steps_per_loop=100, batch_size=4,
          source_batch_size=32, learning_rates=None, schedule="round_robin",
          trainable_stages=("res3",), loss_kind="l1", temperature=0.07,
          target_labeled_fraction=0.25, selection_rule="final_unless_collapsed",
          collapse_fraction=0.5, on_collapse="warn", eval_batches=2, diagnostic_clips=8,
          seed=0, jit_compile=False, model_kwargs=None):
  """Adapts G (from `source_dir`) to the target videos of `data_dir`.

  energies: names among 'lcr', 'hcr', relation keys, the guards 'source', 'latent_spread', the
    baseline 'domain_adversarial' and the semi-supervised 'target_supervised'; 'auto' in the
    list stands for the most non-local relations, `auto_relations` = (k_pose, k_motion), by
    latent distance on mocap.
  learning_rates: {energy: lr}; default the authors' 2e-5 (contrastive) and 1e-5 (others).
  selection_rule: how the reported checkpoint is picked without target labels.
  model_kwargs: further `RelationDistillationModel` arguments.
  """
  reproducibility.seed_everything(seed, jit_compile)
  energies = list(energies)
  source_info = stage_io.read_stage_info(source_dir, "source")
  data_dir = data_dir or source_info["settings"]["data_dir"]
  if "auto" in energies:
    from sa3dhp_tf.evaluation import nonlocality
    rel_info = stage_io.read_stage_info(relation_nets_dir, "relation_nets")
    chosen = nonlocality.auto_relations(rel_info["inputs"]["pose_aae"],
                                        rel_info["inputs"]["motion_aae"], data_dir,
                                        k_pose=auto_relations[0], k_motion=auto_relations[1],
                                        theta=rel_info["settings"]["theta"])
    index = energies.index("auto")
    energies[index:index + 1] = [k for k in chosen if k not in energies]
  relation_keys = [e for e in energies if e not in adaptation.BUILTIN_ENERGIES]
  network, pose_ae, motion_ae, relation_nets, source_info, relation_info = load_inputs(
      source_dir, relation_nets_dir, relation_keys)
  if relation_info is not None:
    trained_theta = float(relation_info["settings"]["theta"])
    if theta is not None and float(theta) != trained_theta:
      raise stage_io.StageError(f"adapt.theta = {theta} but the relation networks in "
                                f"{relation_nets_dir} were trained with theta = {trained_theta}")
    theta = trained_theta
  theta = relations.DEFAULT_THETA if theta is None else float(theta)
  needs_motion = any(e == "hcr" for e in energies)
  if needs_motion and motion_ae is None:
    raise stage_io.StageError("energy 'hcr' needs E_m: pass relation_nets_dir (its motion AAE)")

  strategy = training_loop.make_strategy()
  with strategy.scope():
    model = adaptation.RelationDistillationModel(
        network, pose_decoder=pose_ae.decoder,
        motion_encoder=None if motion_ae is None else motion_ae.encoder,
        relation_networks=relation_nets, energies=tuple(energies),
        trainable_stages=tuple(trainable_stages), loss_kind=loss_kind, temperature=temperature,
        **dict(model_kwargs or {}))
    # learning_rates may list energies this run does not use (one table for all rows).
    model.compile(optimizers={k: v for k, v in dict(learning_rates or {}).items()
                              if k in energies},
                  schedule=schedule,
                  jit_compile=jit_compile)
  dataset = build_dataset(model, data_dir, batch_size, relation_keys, theta, fill_mode, seed,
                          source_batch_size, target_labeled_fraction)
  target_batch = _held_batch(data_dir, "target_train", relation_keys, theta, fill_mode,
                             diagnostic_clips)
  source_batch = _held_batch(data_dir, "source_test", relation_keys, theta, fill_mode,
                             diagnostic_clips)
  before = {
      "relation_residuals_source": (adaptation.relation_residuals(
          network, relation_nets, model.motion_encoder, source_batch) if relation_nets else {}),
      "relation_residuals_target": (adaptation.relation_residuals(
          network, relation_nets, model.motion_encoder, target_batch) if relation_nets else {}),
  }
  evaluator = SnapshotEvaluator(model_dir, network, pose_ae, model.motion_encoder,
                                relation_nets, data_dir, steps_per_loop, target_batch,
                                eval_batches)
  monitor = adaptation.LatentSpreadMonitor(target_batch["window"], every_n_steps=steps_per_loop,
                                           min_fraction=collapse_fraction,
                                           on_collapse=on_collapse,
                                           reference_spread=latent_spread(
                                               network, target_batch["window"]))
  with records.explain_data_errors(records.shard_paths(data_dir, "target_train"), "clip"):
    training_loop.run_training(model, dataset, model_dir, steps, steps_per_loop,
                               callbacks=[evaluator, monitor])

  history = read_selection(model_dir)
  chosen = select_snapshot(history, selection_rule, collapse_fraction)
  best = min(history, key=lambda r: r["target_test_mpjpe"])
  network.load_weights(evaluator.snapshot_path(chosen["step"]))
  final = {split: pose_evaluation.evaluate_split(network, pose_ae.decoder, data_dir, split)
           for split in ("source_test", "target_test")}
  results = {
      "energies": energies, "theta": theta, "selection_rule": selection_rule,
      "selected_step": chosen["step"], "best_step_by_target_labels": best["step"],
      "target_test_mpjpe_at_best_step_subset": best["target_test_mpjpe"],
      "target_test_mpjpe_at_selected_step_subset": chosen["target_test_mpjpe"],
      "selected": {split: pose_evaluation.summary(r) for split, r in final.items()},
      "criterion_correlations": criterion_correlations(history),
      "before_adaptation": before,
      "latent_spread_target_before": history[0]["target_spread"],
      "latent_spread_target_selected": chosen["target_spread"],
      "collapsed_at_step": monitor.collapsed_at_step,
      "curve": history,
  }
  stage_io.save_stage(model_dir, STAGE, {"image_to_latent": network},
                      settings={"latent_dim": network.latent_dim, "energies": energies,
                                "theta": theta, "data_dir": data_dir,
                                "trainable_stages": list(trainable_stages)},
                      inputs={"pose_aae": source_info["inputs"]["pose_aae"],
                              "source": source_dir,
                              **({"relation_nets": relation_nets_dir} if relation_nets_dir
                                 else {})},
                      results={k: results[k] for k in ("selected", "selected_step",
                                                       "selection_rule")})
  training_loop.write_json(os.path.join(model_dir, "results.json"), results)
  return results
