"""Evaluating a finished `source` or `adapt` stage on a labeled benchmark split: the library half
of `python -m sa3dhp_tf.evaluate` (which only parses flags), for tools that evaluate several
models or benchmarks in one process."""

import gin

from sa3dhp_tf import errors
from sa3dhp_tf import stage_store

EVALUABLE_STAGES = stage_store.POSE_STAGES
LABELED_IMAGE_SPLITS = ("target_test", "source_test", "target_labeled", "source")


@gin.configurable(denylist=["model_dir", "split", "data_dir"])
def evaluate_model(model_dir, split="target_test", data_dir=None, batch_size=256):
  """Returns the results dict of `pose_evaluation.evaluate_split` for a stage's model."""
  from sa3dhp_tf.data import records
  from sa3dhp_tf.evaluation import pose_evaluation
  if split not in LABELED_IMAGE_SPLITS:
    why = ("has no labels" if split == "target_train" else
           "has no images" if split == "mocap" else "is not a benchmark split")
    raise errors.UserError(f"--split={split} {why}; evaluate needs a labeled image split: "
                           f"{', '.join(LABELED_IMAGE_SPLITS)}")
  estimator = stage_store.load_pose_estimator(model_dir)
  info = estimator.info
  data_dir = data_dir or info["settings"]["data_dir"]
  network = estimator.image_to_latent
  image_size = records.manifest_image_size(data_dir)
  if image_size is not None and network.input_size not in (image_size, [image_size] * 2):
    raise errors.UserError(f"{model_dir} takes {network.input_size} px images but {data_dir} "
                           f"holds {image_size} px ones (manifest.json image_size)")
  results = pose_evaluation.evaluate_split(network, estimator.pose_autoencoder.decoder,
                                           data_dir, split, batch_size=batch_size)
  results["model_dir"] = model_dir
  results["stage"] = info["stage"]
  results["data_dir"] = data_dir
  return results
