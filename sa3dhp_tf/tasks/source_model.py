"""Stage 3 (Algorithm 1, A.3): the source image-to-latent network G^s, through frozen D_p."""

import os

import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import json_files
from sa3dhp_tf.config import bound_value
from sa3dhp_tf import reproducibility
from sa3dhp_tf import settings
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import pose_evaluation
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor
from sa3dhp_tf.stage_store import load_pose_autoencoder
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "source"


@gin.configurable
def mixed_source_dataset(sources, batch_size, seed=0, image_size=None):
  """Several labeled sources mixed by weight (the paper's S+H setting): `sources` is a list of
  (data_dir, split, weight). Each batch draws from the sources with those probabilities."""
  datasets, weights = [], []
  for data_dir, split, weight in sources:
    paths = records.shard_paths(data_dir, split)
    datasets.append(pipelines.source_frames(paths, batch_size, image_size=image_size, seed=seed)
                    .unbatch())
    weights.append(float(weight))
  total = sum(weights)
  mixed = tf.data.Dataset.sample_from_datasets(datasets, [w / total for w in weights], seed=seed)
  return mixed.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


DECAYS = (None, "cosine")
RULES = {**settings.TRAINING_RULES, "batch_size": settings.BATCH_SIZE,
         "learning_rate": settings.LEARNING_RATE, "learning_rate_decay": settings.one_of(*DECAYS),
         "final_learning_rate_fraction": settings.FRACTION,
         "latent_loss_weight": settings.NON_NEGATIVE, "joint_head_weight": settings.NON_NEGATIVE}


def _check():
  from sa3dhp_tf import config
  decay = bound_value("source.learning_rate_decay", None)
  if decay not in DECAYS:
    raise config.ConfigError(f"source.learning_rate_decay must be one of {DECAYS}, got {decay!r}")


@register_stage(STAGE, check=_check, rules=RULES)
@gin.configurable("source", denylist=["model_dir"])
def train_source_model(model_dir, pose_aae_dir=gin.REQUIRED, data_dir=None, steps=3000,
                       steps_per_loop=250, batch_size=64, learning_rate=1e-3,
                       learning_rate_decay=None, final_learning_rate_fraction=0.05, seed=0,
                       jit_compile=False, train_split="source", extra_sources=(),
                       eval_splits=("source_test", "target_test"), init_dir=None,
                       latent_loss_weight=0.0, joint_head_weight=0.0):
  """Trains G^s with `|| D_p(G^s(x)) - y ||` on `train_split` of `data_dir`.

  `train_split='target_labeled'` trains the same network on labeled target frames instead: the
  target-supervised oracle, the floor of the benchmark. `extra_sources`: more
  (data_dir, split, weight) labeled sources mixed in (multi-source training, e.g. the paper's
  SURREAL + Human3.6M setting).
  G's own settings (backbone, fc_units, backbone_weights, ...) are the gin settings
  `ImageToLatent.*`.
  `learning_rate_decay`: None (constant) or 'cosine' (from `learning_rate` down to
  `final_learning_rate_fraction` of it at `steps`; the step count lives in the optimizer's
  checkpointed state, so a resumed run continues the schedule).
  `init_dir`: a finished `source` stage whose G starts this one (same pose AAE, image size and
  architecture; an `ImageToLatent.*` setting bound to another value than init's is an error).
  With `train_split='target_labeled'` this is the fine-tuning oracle: G^s trained further on
  labeled target frames, the floor for methods that, like the adaptation, start from G^s.
  `latent_loss_weight`: weight of the extra latent-target term `|G^s(x) - E_p(y)|` (see
  `SourcePoseRegressor`; 0 = the paper's pose loss alone). `joint_head_weight`: weight of the
  auxiliary joint-regression head on G's first FC features (training only; 0 = none)."""
  settings.check(STAGE, RULES, locals())
  reproducibility.seed_everything(seed)
  pose_ae, pose_info = load_pose_autoencoder(pose_aae_dir)
  data_dir = data_dir or pose_info["settings"]["data_dir"]
  sources = [(data_dir, train_split, 1.0), *extra_sources]
  image_size = _image_size(data_dir)
  init = _load_init(init_dir, pose_aae_dir, pose_ae, image_size)
  if len(sources) == 1:
    paths = records.shard_paths(data_dir, train_split)
    dataset = pipelines.source_frames(paths, batch_size, seed=seed)
  else:
    paths = [p for d, s, _ in sources for p in records.shard_paths(d, s)]
    dataset = mixed_source_dataset(sources, batch_size, seed=seed, image_size=(image_size,) * 2)
  strategy = training_loop.make_strategy()
  with strategy.scope():
    if init is None:
      network = constructor_settings.build(ImageToLatent, input_size=image_size,
                                           latent_dim=pose_ae.latent_dim,
                                           latent_range=pose_ae.latent_range)
    else:
      network = ImageToLatent.from_config(init.get_config())
      network.set_weights(init.get_weights())
    model = SourcePoseRegressor(
        network, pose_ae.decoder, latent_loss_weight=latent_loss_weight,
        joint_head_weight=joint_head_weight,
        pose_encoder=pose_ae.encoder if latent_loss_weight > 0 else None)
    model.compile(optimizer=keras.optimizers.Adam(
        _learning_rate(learning_rate, learning_rate_decay, steps, final_learning_rate_fraction)),
        jit_compile=jit_compile)
  with records.explain_data_errors(paths, "frame"):
    training_loop.run_training(model, dataset, model_dir, steps, steps_per_loop)
  results = {split: pose_evaluation.evaluate_split(network, pose_ae.decoder, data_dir, split)
             for split in eval_splits}
  stage_io.save_stage(model_dir, STAGE, {"image_to_latent": network},
                      settings={"latent_dim": network.latent_dim,
                                "latent_range": network.latent_range, "image_size": image_size,
                                "data_dir": data_dir, "train_split": train_split,
                                "extra_sources": [list(s) for s in extra_sources]},
                      inputs={"pose_aae": pose_aae_dir,
                              **({"init": init_dir} if init_dir else {})},
                      results={s: pose_evaluation.summary(r) for s, r in results.items()})
  results["dropped_records"] = records.dropped_records(data_dir)
  json_files.write_json(os.path.join(model_dir, "results.json"), results)
  return results


def _load_init(init_dir, pose_aae_dir, pose_ae, image_size):
  if not init_dir:
    return None
  models, info = stage_io.load_stage(
      init_dir, STAGE, ["image_to_latent"],
      expect={"latent_dim": pose_ae.latent_dim, "latent_range": pose_ae.latent_range,
              "image_size": image_size})
  if os.path.realpath(info["inputs"]["pose_aae"]) != os.path.realpath(pose_aae_dir):
    raise stage_io.StageError(f"source.init_dir {init_dir} was trained through the pose AAE "
                              f"{info['inputs']['pose_aae']}, not {pose_aae_dir}")
  init = models["image_to_latent"]
  _check_settings_match(init, init_dir)
  return init


def _as_tuples(value):
  return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _check_settings_match(init, init_dir):
  """G is rebuilt from init's own config: a gin setting of another value would be ignored.
  `backbone_weights` is exempt: it only starts a backbone, and init's weights replace it."""
  saved = init.get_config()
  for name, value in constructor_settings.bound_settings(ImageToLatent).items():
    if name != "backbone_weights" and _as_tuples(value) != _as_tuples(saved.get(name)):
      raise stage_io.StageError(
          f"ImageToLatent.{name} = {value!r}, but source.init_dir {init_dir} has "
          f"{saved.get(name)!r}: with init_dir the architecture is init's (drop the binding)")


def _learning_rate(learning_rate, decay, steps, final_fraction):
  if decay not in DECAYS:
    raise ValueError(f"source.learning_rate_decay must be one of {DECAYS}, got {decay!r}")
  if decay is None:
    return learning_rate
  if not 0.0 <= final_fraction <= 1.0:
    raise ValueError("source.final_learning_rate_fraction must be in [0, 1], got "
                     f"{final_fraction}")
  return keras.optimizers.schedules.CosineDecay(learning_rate, int(steps), alpha=final_fraction)


def _image_size(data_dir):
  import json
  with open(os.path.join(data_dir, "manifest.json")) as f:
    return int(json.load(f)["image_size"])
