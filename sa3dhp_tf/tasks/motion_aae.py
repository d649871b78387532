"""Stage 2 (Algorithm 1, A.2): the motion auto-encoder E_m / D_m over frozen E_p codes."""

import os

import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import json_files
from sa3dhp_tf import metrics
from sa3dhp_tf import reproducibility
from sa3dhp_tf import settings
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling.latent_pairs import encode_pose_windows
from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
from sa3dhp_tf.tasks import heldout
from sa3dhp_tf.stage_store import load_pose_autoencoder
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "motion_aae"
RULES = {**settings.TRAINING_RULES, "batch_size": settings.BATCH_SIZE,
         "learning_rate": settings.LEARNING_RATE,
         "discriminator_learning_rate": settings.LEARNING_RATE,
         "strides": settings.sequence_of(settings.integer(1))}


@register_stage(STAGE, rules=RULES)
@gin.configurable("motion_aae", denylist=["model_dir"])
def train_motion_autoencoder(model_dir, pose_aae_dir=gin.REQUIRED, data_dir=None, steps=3000,
                             steps_per_loop=500, batch_size=64, strides=(1, 2),
                             learning_rate=1e-3, discriminator_learning_rate=1e-4, seed=0,
                             jit_compile=False):
  """Trains E_m/D_m on E_p codes of 30-frame mocap windows under random views. `strides` (1, 2)
  mixes normal and twice-as-fast motion so E_m also knows the slow-backward anchors raw[::2].
  The model's own settings (lstm_units, motion_dim, ...) are the gin settings
  `MotionAutoencoder.*`; the latent size and range always come from the pose AAE."""
  settings.check(STAGE, RULES, locals())
  reproducibility.seed_everything(seed)
  pose_ae, pose_info = load_pose_autoencoder(pose_aae_dir)
  data_dir = data_dir or pose_info["settings"]["data_dir"]
  paths = records.shard_paths(data_dir, "mocap")
  strategy = training_loop.make_strategy()
  with strategy.scope():
    model = constructor_settings.build(
        MotionAutoencoder, sequence_length=windows.CLIP_LENGTH, latent_dim=pose_ae.latent_dim,
        latent_range=pose_ae.latent_range, seed=seed)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.optimizers.Adam(discriminator_learning_rate), jit_compile=jit_compile)
  dataset = pipelines.mocap_windows(paths, batch_size, window_length=windows.CLIP_LENGTH,
                                    strides=strides, seed=seed)
  dataset = dataset.map(lambda w: encode_pose_windows(pose_ae.encoder, w),
                        num_parallel_calls=tf.data.AUTOTUNE)
  with records.explain_data_errors(paths, "mocap"):
    training_loop.run_training(
        model, dataset, model_dir, steps, steps_per_loop)
  results = evaluate_motion_autoencoder(model, pose_ae, data_dir)
  stage_io.save_stage(model_dir, STAGE, {"motion_autoencoder": model},
                      settings={"latent_dim": model.latent_dim, "motion_dim": model.motion_dim,
                                "latent_range": model.latent_range, "data_dir": data_dir},
                      inputs={"pose_aae": pose_aae_dir}, results=results)
  results["dropped_records"] = records.dropped_records(data_dir)
  json_files.write_json(os.path.join(model_dir, "results.json"), results)
  return results


def evaluate_motion_autoencoder(model, pose_ae, data_dir, split="target_test"):
  """Reconstruction of held-out 30-frame windows: through D_p(D_m(E_m(E_p(Y)))) in mm, and of
  the latent sequence itself; the pose AE alone (D_p(E_p(Y))) is the floor."""
  poses = heldout.heldout_windows(data_dir, split, windows.CLIP_LENGTH)
  codes = encode_pose_windows(pose_ae.encoder, tf.constant(poses))
  recon_codes = model.predict(codes, batch_size=256, verbose=0)
  flat = lambda x: np.reshape(x, (-1,) + x.shape[-2:])
  decoded = pose_ae.decoder.predict(np.reshape(recon_codes, (-1, model.latent_dim)),
                                    batch_size=2048, verbose=0)
  pose_only = pose_ae.decoder.predict(np.reshape(codes, (-1, model.latent_dim)), batch_size=2048,
                                      verbose=0)
  return {f"{split}_motion_reconstruction_mpjpe": metrics.mpjpe(decoded, flat(poses)),
          f"{split}_pose_ae_only_mpjpe": metrics.mpjpe(pose_only, flat(poses)),
          f"{split}_latent_reconstruction_mae": float(np.mean(np.abs(recon_codes - codes))),
          "num_windows": int(len(poses))}
