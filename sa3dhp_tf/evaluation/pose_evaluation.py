"""Evaluating an image-to-latent network on a labeled split: D_p(G(x)) against the labels."""

import dataclasses
import weakref

import numpy as np
import tensorflow as tf

from sa3dhp_tf import metrics
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import protocols

SUMMARY_KEYS = ("mpjpe", "pa_mpjpe", "pck", "auc", "n_mpjpe", "procrustes_rotation_deg",
                "latent_std", "num_samples")


# {G: {D_p: forward}}; weak on both so that the cache never keeps a model alive.
_FORWARDS = weakref.WeakKeyDictionary()


def compiled_forward(image_to_latent, pose_decoder):
  """images -> (G(x), D_p(G(x))) as one tf.function per (G, D_p) pair, reused by every later
  evaluation of the pair (the adapt stage evaluates after every loop): eager, op by op, the
  tiny stages spent most of their evaluation time in dispatch. The function reads the models
  through weak references, so it holds their variables but not the models."""
  by_decoder = _FORWARDS.setdefault(image_to_latent, weakref.WeakKeyDictionary())
  forward = by_decoder.get(pose_decoder)
  if forward is None:
    network_ref, decoder_ref = weakref.ref(image_to_latent), weakref.ref(pose_decoder)

    def run(images):
      z = network_ref()(images, training=False)
      return z, decoder_ref()(z, training=False)

    # reduce_retracing: the last, smaller batch of a split generalises the batch dimension
    # instead of adding one trace per size.
    forward = tf.function(run, autograph=False, reduce_retracing=True)
    by_decoder[pose_decoder] = forward
  return forward


@dataclasses.dataclass(frozen=True)
class LabeledSplit:
  """A labeled split's frames as a built tf.data pipeline. Built once, it serves every
  evaluation that repeats on the same frames (the adapt stage's after every loop): the
  pipeline's functions are traced when it is built, not at each read."""
  split: str
  paths: list
  kind: str
  dataset: tf.data.Dataset


def labeled_split(data_dir, split, batch_size=256, max_batches=None):
  """The `LabeledSplit` of `split` in `data_dir` (its first `max_batches` batches if given)."""
  paths = records.shard_paths(data_dir, split)
  kind = records.split_kind(split)
  dataset = pipelines.labeled_frames(paths, batch_size, kind=kind)
  if max_batches:
    dataset = dataset.take(max_batches)
  return LabeledSplit(split, paths, kind, dataset)


def predict_frames(image_to_latent, pose_decoder, labeled):
  """Returns dict with `pred`, `gt` ([N, 17, 3] mm), `latents` [N, D], `actions` [N] on the
  frames of a `LabeledSplit`."""
  forward = compiled_forward(image_to_latent, pose_decoder)
  preds, gts, latents, actions = [], [], [], []
  with records.explain_data_errors(labeled.paths, labeled.kind):
    for batch in labeled.dataset:
      z, pose = forward(batch["image"])
      preds.append(np.asarray(pose))
      latents.append(np.asarray(z))
      gts.append(batch["pose3d"].numpy())
      actions.extend(a.decode() for a in batch["action"].numpy())
  gt = np.concatenate(gts)
  gt = gt - gt[:, :1]
  return {"pred": np.concatenate(preds), "gt": gt, "latents": np.concatenate(latents),
          "actions": np.array(actions)}


def predict_split(image_to_latent, pose_decoder, data_dir, split, batch_size=256,
                  max_batches=None):
  """`predict_frames` on `split` of `data_dir`."""
  return predict_frames(image_to_latent, pose_decoder,
                        labeled_split(data_dir, split, batch_size, max_batches))


def evaluate_frames(image_to_latent, pose_decoder, labeled):
  """`metrics.evaluate_all` on a `LabeledSplit`, plus `latent_std`: the spread (std over
  samples, mean over dimensions) of predicted latents, the collapse diagnostic, and the headline
  numbers of the gin-selected benchmark protocol (`protocols.evaluation_protocol`) under
  'protocol'."""
  out = predict_frames(image_to_latent, pose_decoder, labeled)
  results = metrics.evaluate_all(out["pred"], out["gt"], actions=out["actions"])
  results["latent_std"] = float(out["latents"].std(axis=0).mean())
  results["split"] = labeled.split
  protocol = protocols.evaluation_protocol()
  if protocol is not None:
    results["protocol"] = protocols.apply(protocol, out["pred"], out["gt"], labeled.split)
  return results


def evaluate_split(image_to_latent, pose_decoder, data_dir, split, batch_size=256,
                   max_batches=None):
  """`evaluate_frames` on `split` of `data_dir`."""
  return evaluate_frames(image_to_latent, pose_decoder,
                         labeled_split(data_dir, split, batch_size, max_batches))


def summary(results):
  return {k: results[k] for k in SUMMARY_KEYS if k in results}
