"""Stage 3 (Algorithm 1, A.3): the source image-to-latent network G^s, through frozen D_p."""

import os

import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import pose_evaluation
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.motion_aae import load_pose_autoencoder
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


@register_stage(STAGE)
@gin.configurable("source", denylist=["model_dir"])
def train_source_model(model_dir, pose_aae_dir=gin.REQUIRED, data_dir=None, steps=3000,
                       steps_per_loop=250, batch_size=64, learning_rate=1e-3, seed=0,
                       jit_compile=False, train_split="source", extra_sources=(),
                       eval_splits=("source_test", "target_test"), model_kwargs=None):
  """Trains G^s with `|| D_p(G^s(x)) - y ||` on `train_split` of `data_dir`.

  `train_split='target_labeled'` trains the same network on labeled target frames instead: the
  target-supervised oracle, the floor of the benchmark. `extra_sources`: more
  (data_dir, split, weight) labeled sources mixed in (multi-source training, e.g. the paper's
  SURREAL + Human3.6M setting).
  `model_kwargs`: further `ImageToLatent` arguments (backbone, fc_units, backbone_weights, ...)."""
  keras.utils.set_random_seed(seed)
  pose_ae, pose_info = load_pose_autoencoder(pose_aae_dir)
  data_dir = data_dir or pose_info["settings"]["data_dir"]
  sources = [(data_dir, train_split, 1.0), *extra_sources]
  image_size = _image_size(data_dir)
  if len(sources) == 1:
    paths = records.shard_paths(data_dir, train_split)
    dataset = pipelines.source_frames(paths, batch_size, seed=seed)
  else:
    paths = [p for d, s, _ in sources for p in records.shard_paths(d, s)]
    dataset = mixed_source_dataset(sources, batch_size, seed=seed, image_size=(image_size,) * 2)
  strategy = training_loop.make_strategy()
  with strategy.scope():
    network = ImageToLatent(input_size=image_size, latent_dim=pose_ae.latent_dim,
                            latent_range=pose_ae.latent_range, **dict(model_kwargs or {}))
    model = SourcePoseRegressor(network, pose_ae.decoder)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
  with records.explain_data_errors(paths, "frame"):
    training_loop.run_training(model, dataset, model_dir, steps, steps_per_loop)
  results = {split: pose_evaluation.evaluate_split(network, pose_ae.decoder, data_dir, split)
             for split in eval_splits}
  stage_io.save_stage(model_dir, STAGE, {"image_to_latent": network},
                      settings={"latent_dim": network.latent_dim,
                                "latent_range": network.latent_range, "image_size": image_size,
                                "data_dir": data_dir, "train_split": train_split},
                      inputs={"pose_aae": pose_aae_dir},
                      results={s: pose_evaluation.summary(r) for s, r in results.items()})
  training_loop.write_json(os.path.join(model_dir, "results.json"), results)
  return results


def _image_size(data_dir):
  import json
  with open(os.path.join(data_dir, "manifest.json")) as f:
    return int(json.load(f)["image_size"])
