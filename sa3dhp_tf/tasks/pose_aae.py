"""Stage 1 (Algorithm 1, A.1): the pose adversarial auto-encoder E_p / D_p on unpaired mocap."""

import os

import gin
import keras
import numpy as np

from sa3dhp_tf import json_files
from sa3dhp_tf import metrics
from sa3dhp_tf import reproducibility
from sa3dhp_tf import settings
from sa3dhp_tf import skeleton
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import plausibility
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
from sa3dhp_tf.tasks import heldout
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "pose_aae"
RULES = {**settings.TRAINING_RULES, "batch_size": settings.BATCH_SIZE,
         "learning_rate": settings.LEARNING_RATE,
         "discriminator_learning_rate": settings.LEARNING_RATE,
         "num_prior_samples": settings.COUNT}


@register_stage(STAGE, rules=RULES)
@gin.configurable("pose_aae", denylist=["model_dir"])
def train_pose_autoencoder(model_dir, data_dir=gin.REQUIRED, steps=3000, steps_per_loop=500,
                           batch_size=256, learning_rate=1e-3, discriminator_learning_rate=1e-4,
                           seed=0, jit_compile=False, eval_splits=("source_test", "target_test"),
                           num_prior_samples=2000):
  """Trains E_p/D_p on random virtual views of the mocap split; writes the stage output with
  held-out reconstruction MPJPE and the plausibility of decoded prior samples. The model's own
  settings (latent_dim, widths, loss weights, ...) are the gin settings `PoseAutoencoder.*`."""
  settings.check(STAGE, RULES, locals())
  reproducibility.seed_everything(seed, jit_compile)
  paths = records.shard_paths(data_dir, "mocap")
  strategy = training_loop.make_strategy()
  with strategy.scope():
    model = constructor_settings.build(PoseAutoencoder, seed=seed)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.optimizers.Adam(discriminator_learning_rate), jit_compile=jit_compile)
  dataset = pipelines.mocap_poses(paths, batch_size, seed=seed)
  with records.explain_data_errors(paths, "mocap"):
    training_loop.run_training(
        model, dataset, model_dir, steps, steps_per_loop)
  results = evaluate_pose_autoencoder(model, data_dir, eval_splits, num_prior_samples, seed)
  stage_io.save_stage(model_dir, STAGE, {"pose_autoencoder": model},
                      settings={"latent_dim": model.latent_dim,
                                "latent_range": model.latent_range, "data_dir": data_dir},
                      results=results)
  results["dropped_records"] = records.dropped_records(data_dir)
  json_files.write_json(os.path.join(model_dir, "results.json"), results)
  return results


def evaluate_pose_autoencoder(model, data_dir, splits, num_prior_samples, seed):
  results = {}
  for split in splits:
    poses = heldout.heldout_poses(data_dir, split)
    reconstructed = model.predict(poses, batch_size=1024, verbose=0)
    results[f"{split}_reconstruction_mpjpe"] = metrics.mpjpe(reconstructed, poses)
    results[f"{split}_reconstruction_pa_mpjpe"] = metrics.pa_mpjpe(reconstructed, poses)
  samples = np.asarray(model.sample_poses(num_prior_samples, seed=seed))
  reference = heldout.heldout_poses(data_dir, splits[0])
  results["prior_samples"] = plausibility.plausibility_report(
      samples, reference_bone_lengths=skeleton.bone_lengths(reference).mean(axis=0))
  return results
