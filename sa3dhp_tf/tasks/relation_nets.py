"""Stages 4-6 (Algorithm 1, A.4-6): relation networks T^z / T^v in the frozen latent spaces.

For a pose relation r, T^z_r regresses E_p(T^y_r(y)) from E_p(y); for a motion relation,
T^v_r regresses E_m(E_p(counterpart)) from E_m(E_p(anchor)) of the relation's pose-side window
pair. Training data: unpaired mocap under random virtual views.
"""

import os

import gin
import keras
import numpy as np
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf import reproducibility
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.geometry import windows
from sa3dhp_tf.modeling.relation_network import RelationNetwork
from sa3dhp_tf.tasks import heldout
from sa3dhp_tf.tasks import stage_io
from sa3dhp_tf.tasks import training_loop
from sa3dhp_tf.tasks.dry_run import check_relation_keys
from sa3dhp_tf.tasks.motion_aae import encode_pose_windows
from sa3dhp_tf.tasks.motion_aae import load_pose_autoencoder
from sa3dhp_tf.tasks.registry import register_stage

STAGE = "relation_nets"
DEFAULT_KEYS = ("z3", "v2", "v3")


def load_motion_autoencoder(motion_aae_dir, latent_dim):
  models, info = stage_io.load_stage(motion_aae_dir, "motion_aae", ["motion_autoencoder"],
                                     expect={"latent_dim": latent_dim})
  return stage_io.freeze(models["motion_autoencoder"]), info


class LatentPairs:
  """Maps pose samples of one relation to (anchor code, counterpart code) pairs."""

  def __init__(self, relation, pose_ae, motion_ae, theta, pose_side=None):
    self.relation = relation
    self.pose_side = pose_side or relation
    self.pose_ae = pose_ae
    self.motion_ae = motion_ae
    self.theta = theta

  def __call__(self, samples):
    anchor, counterpart = self.pose_side.pose_pair(samples, self.theta)
    if self.relation.space == relations.POSE:
      return (self.pose_ae.encoder(anchor, training=False),
              self.pose_ae.encoder(counterpart, training=False))
    encode = lambda w: self.motion_ae.encoder(encode_pose_windows(self.pose_ae.encoder, w),
                                              training=False)
    return encode(anchor), encode(counterpart)


def _check():
  check_relation_keys("relation_nets.relation_keys", DEFAULT_KEYS)


@register_stage(STAGE, check=_check)
@gin.configurable("relation_nets", denylist=["model_dir"])
def train_relation_networks(model_dir, pose_aae_dir=gin.REQUIRED, motion_aae_dir=gin.REQUIRED,
                            data_dir=None, relation_keys=DEFAULT_KEYS,
                            theta=relations.DEFAULT_THETA, steps=2000, steps_per_loop=500,
                            batch_size=256, motion_batch_size=64, learning_rate=1e-3,
                            hidden_units=(512, 512), loss="l1", seed=0, jit_compile=False,
                            pose_side_overrides=None):
  """Trains one relation network per key. `pose_side_overrides` {key: other_key} trains key's
  network on another relation's pose side: the placebo control (a relation net taught the wrong
  transformation)."""
  reproducibility.seed_everything(seed, jit_compile)
  pose_ae, pose_info = load_pose_autoencoder(pose_aae_dir)
  motion_ae = None
  keys = tuple(relation_keys)
  if any(relations.get_relation(k).space == relations.MOTION for k in keys):
    motion_ae, _ = load_motion_autoencoder(motion_aae_dir, pose_ae.latent_dim)
  data_dir = data_dir or pose_info["settings"]["data_dir"]
  paths = records.shard_paths(data_dir, "mocap")
  overrides = dict(pose_side_overrides or {})
  networks, results = {}, {}
  strategy = training_loop.make_strategy()
  for key in keys:
    relation = relations.get_relation(key)
    pose_side = relations.get_relation(overrides[key]) if key in overrides else relation
    if pose_side.space != relation.space:
      raise ValueError(f"pose_side_overrides[{key!r}] = {pose_side.key!r} is a {pose_side.space} "
                       f"relation, {key!r} a {relation.space} one")
    pairs = LatentPairs(relation, pose_ae, motion_ae, theta, pose_side)
    if relation.space == relations.POSE:
      dim, output_range = pose_ae.latent_dim, pose_ae.latent_range
      samples = pipelines.mocap_poses(paths, batch_size, seed=seed)
    else:
      dim, output_range = motion_ae.motion_dim, None
      samples = pipelines.mocap_windows(paths, motion_batch_size,
                                        window_length=windows.WINDOW_LENGTH, strides=(1,),
                                        seed=seed)
    dataset = samples.map(pairs, num_parallel_calls=tf.data.AUTOTUNE)
    with strategy.scope():
      network = RelationNetwork(dim=dim, hidden_units=hidden_units, output_range=output_range,
                                loss=loss, name=f"relation_{key}")
      network.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    sub_dir = os.path.join(model_dir, "relations", key)
    os.makedirs(sub_dir, exist_ok=True)
    with records.explain_data_errors(paths, "mocap"):
      training_loop.run_training(network, dataset, sub_dir, steps, steps_per_loop)
    networks[f"relation_{key}"] = network
    results[key] = evaluate_relation_network(network, pairs, data_dir)
    results[key]["trained_on_pose_side_of"] = pose_side.key
  stage_io.save_stage(model_dir, STAGE, networks,
                      settings={"relation_keys": list(keys), "theta": float(theta),
                                "latent_dim": pose_ae.latent_dim,
                                "pose_side_overrides": overrides, "data_dir": data_dir},
                      inputs={"pose_aae": pose_aae_dir, "motion_aae": motion_aae_dir},
                      results=results)
  training_loop.write_json(os.path.join(model_dir, "results.json"), results)
  return results


def evaluate_relation_network(network, pairs, data_dir, split="target_test"):
  """On held-out labeled poses: the network's error |T(E(u)) - E(T(u))| next to the identity's
  |E(u) - E(T(u))|, and the relation's latent distance d = mean ||E(u) - E(T(u))||_2 (Fig. 4)."""
  relation = pairs.relation
  if relation.space == relations.POSE:
    samples = heldout.heldout_poses(data_dir, split)
  else:
    samples = heldout.heldout_windows(data_dir, split, windows.WINDOW_LENGTH)
  anchors, counterparts = [], []
  for start in range(0, len(samples), 512):
    a, c = pairs(tf.constant(samples[start:start + 512]))
    anchors.append(np.asarray(a))
    counterparts.append(np.asarray(c))
  anchors, counterparts = np.concatenate(anchors), np.concatenate(counterparts)
  predicted = network.predict(anchors, batch_size=1024, verbose=0)
  return {"network_mae": float(np.mean(np.abs(predicted - counterparts))),
          "identity_mae": float(np.mean(np.abs(anchors - counterparts))),
          "latent_distance": float(np.mean(np.linalg.norm(anchors - counterparts, axis=-1))),
          "num_samples": int(len(anchors))}
