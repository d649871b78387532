"""Evaluating an image-to-latent network on a labeled split: D_p(G(x)) against the labels."""

import numpy as np

from sa3dhp_tf import metrics
from sa3dhp_tf.data import pipelines
from sa3dhp_tf.data import records
from sa3dhp_tf.evaluation import protocols

SUMMARY_KEYS = ("mpjpe", "pa_mpjpe", "pck", "auc", "n_mpjpe", "procrustes_rotation_deg",
                "latent_std", "num_samples")


def predict_split(image_to_latent, pose_decoder, data_dir, split, batch_size=256,
                  max_batches=None):
  """Returns dict with `pred`, `gt` ([N, 17, 3] mm), `latents` [N, D], `actions` [N]."""
  paths = records.shard_paths(data_dir, split)
  kind = records.split_kind(split)
  dataset = pipelines.labeled_frames(paths, batch_size, kind=kind)
  if max_batches:
    dataset = dataset.take(max_batches)
  preds, gts, latents, actions = [], [], [], []
  with records.explain_data_errors(paths, kind):
    for batch in dataset:
      z = image_to_latent(batch["image"], training=False)
      preds.append(np.asarray(pose_decoder(z, training=False)))
      latents.append(np.asarray(z))
      gts.append(batch["pose3d"].numpy())
      actions.extend(a.decode() for a in batch["action"].numpy())
  gt = np.concatenate(gts)
  gt = gt - gt[:, :1]
  return {"pred": np.concatenate(preds), "gt": gt, "latents": np.concatenate(latents),
          "actions": np.array(actions)}


def evaluate_split(image_to_latent, pose_decoder, data_dir, split, batch_size=256,
                   max_batches=None):
  """`metrics.evaluate_all` on a split, plus `latent_std`: the spread (std over samples, mean
  over dimensions) of predicted latents, the collapse diagnostic, and the headline numbers of
  the gin-selected benchmark protocol (`protocols.evaluation_protocol`) under 'protocol'."""
  out = predict_split(image_to_latent, pose_decoder, data_dir, split, batch_size, max_batches)
  results = metrics.evaluate_all(out["pred"], out["gt"], actions=out["actions"])
  results["latent_std"] = float(out["latents"].std(axis=0).mean())
  results["split"] = split
  protocol = protocols.evaluation_protocol()
  if protocol is not None:
    results["protocol"] = protocols.apply(protocol, out["pred"], out["gt"], split)
  return results


def summary(results):
  return {k: results[k] for k in SUMMARY_KEYS if k in results}
