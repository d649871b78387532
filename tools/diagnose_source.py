r"""Why is G^s not learning? Trains the source image-to-latent network under several losses for
the same short budget, in one run, and reports their training curves and held-out errors.

  python tools/diagnose_source.py --pose_aae_dir=RUNS/pose_aae --output=OUT.json \
      [--data_dir=DATA] [--train_split=source] [--steps=600] [--batch_size=32] \
      [--variants=paper,latent,joint_head] [--eval_batches=4] [--seed=0]

Variants (all `SourcePoseRegressor` on the same `ImageToLatent`, data order and seed):
  paper       |D_p(G(x)) - y| only (Algorithm 1, step 3);
  latent      + 10 |G(x) - E_p(y)| (the label's own code as a latent target);
  joint_head  the paper's loss + 1 |G(x) - E_p(y)| + an auxiliary linear head regressing the
              joints from G's first FC features (experiments/cpu_budget.gin's G^s training).
The `joint_head` variant's `joint_head_mpjpe_mm` curve is what a CNN regressing joints directly
reaches; a variant whose `mpjpe_mm` stays at the mean-pose error while that one falls is stuck in
latent space, not short of image features. Held-out errors are through D_p, on the first
`--eval_batches` batches of 256 frames of source_test and target_test, next to the error of
predicting the mean pose of those frames.
Bad input (missing stage or data dir, unknown variant) prints one `error: ...` line, exit 2.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np

from sa3dhp_tf.config import exit_with_error as _fail

FLAGS = flags.FLAGS
flags.DEFINE_string("pose_aae_dir", None, "Model dir of a finished pose_aae stage.")
flags.DEFINE_string("data_dir", None, "Benchmark dir (default: the pose stage's data_dir).")
flags.DEFINE_string("train_split", "source", "Labeled frame split to train on.")
flags.DEFINE_string("output", None, "JSON file to write.")
flags.DEFINE_integer("steps", 600, "Training steps per variant.")
flags.DEFINE_integer("log_every", 100, "Steps per point of the training curves.")
flags.DEFINE_integer("batch_size", 32, "Frames per step.")
flags.DEFINE_list("variants", ["paper", "latent", "joint_head"], "Variants to train, in order.")
flags.DEFINE_integer("eval_batches", 4, "Held-out batches of 256 frames per split.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate (cosine decay to 5% at --steps).")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the data order.")

# variant -> SourcePoseRegressor loss settings
VARIANTS = {
    "paper": {"latent_loss_weight": 0.0, "joint_head_weight": 0.0},
    "latent": {"latent_loss_weight": 10.0, "joint_head_weight": 0.0},
    "joint_head": {"latent_loss_weight": 1.0, "joint_head_weight": 1.0},
}


def mean_pose_error(data_dir, split, eval_batches):
  """MPJPE (mm) of predicting the mean root-relative pose of the evaluated frames."""
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  poses = []
  for batch in pipelines.labeled_frames(records.shard_paths(data_dir, split), 256).take(
      eval_batches):
    y = batch["pose3d"].numpy()
    poses.append(y - y[:, :1])
  poses = np.concatenate(poses)
  return float(np.linalg.norm(poses - poses.mean(axis=0), axis=-1).mean())


def train_variant(name, pose_ae, data_dir, image_size):
  import keras
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  from sa3dhp_tf.evaluation import pose_evaluation
  from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
  from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor

  from sa3dhp_tf import reproducibility
  reproducibility.seed_everything(FLAGS.seed)  # seeds tf.data ops too
  network = ImageToLatent(input_size=image_size, latent_dim=pose_ae.latent_dim,
                          latent_range=pose_ae.latent_range)
  settings = VARIANTS[name]
  encoder = pose_ae.encoder if settings["latent_loss_weight"] else None
  model = SourcePoseRegressor(network, pose_ae.decoder, pose_encoder=encoder, **settings)
  model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
      FLAGS.learning_rate, FLAGS.steps, alpha=0.05)))
  dataset = pipelines.source_frames(records.shard_paths(data_dir, FLAGS.train_split),
                                    FLAGS.batch_size, seed=FLAGS.seed)
  start = time.time()
  history = model.fit(dataset, epochs=FLAGS.steps // FLAGS.log_every,
                      steps_per_epoch=FLAGS.log_every, verbose=2)
  curve = [{"step": (i + 1) * FLAGS.log_every,
            **{k: float(v[i]) for k, v in history.history.items()}}
           for i in range(len(history.history["loss"]))]
  held_out = {split: pose_evaluation.summary(pose_evaluation.evaluate_split(
      network, pose_ae.decoder, data_dir, split, max_batches=FLAGS.eval_batches))
              for split in ("source_test", "target_test")}
  return {"settings": settings, "curve": curve, "held_out": held_out,
          "seconds": time.time() - start}


def main(argv):
  del argv
  if not FLAGS.pose_aae_dir or not FLAGS.output:
    _fail("--pose_aae_dir and --output are required")
  unknown = [v for v in FLAGS.variants if v not in VARIANTS]
  if unknown:
    _fail(f"--variants: unknown {unknown}; known: {sorted(VARIANTS)}")
  if FLAGS.steps < FLAGS.log_every or FLAGS.steps % FLAGS.log_every:
    _fail(f"--steps ({FLAGS.steps}) must be a positive multiple of --log_every "
          f"({FLAGS.log_every})")
  from sa3dhp_tf.tasks import stage_io
  from sa3dhp_tf.tasks.motion_aae import load_pose_autoencoder
  try:
    pose_ae, info = load_pose_autoencoder(FLAGS.pose_aae_dir)
  except stage_io.StageError as e:
    _fail(f"--pose_aae_dir: {e}")
  data_dir = FLAGS.data_dir or info["settings"]["data_dir"]
  manifest_path = os.path.join(data_dir, "manifest.json")
  if not os.path.isfile(manifest_path):
    _fail(f"--data_dir: no benchmark manifest at {manifest_path}")
  with open(manifest_path) as f:
    image_size = int(json.load(f)["image_size"])
  report = {"command": " ".join(sys.argv), "data_dir": data_dir, "steps": FLAGS.steps,
            "mean_pose_mpjpe": {s: mean_pose_error(data_dir, s, FLAGS.eval_batches)
                                for s in ("source_test", "target_test")},
            "variants": {}}
  for name in FLAGS.variants:
    report["variants"][name] = train_variant(name, pose_ae, data_dir, image_size)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as f:
      json.dump(report, f, indent=2)
  for name, result in report["variants"].items():
    last = result["curve"][-1]
    print(f"{name:11s} train through D_p {last['mpjpe_mm']:6.1f} mm"
          + (f", joint head {last['joint_head_mpjpe_mm']:6.1f} mm"
             if "joint_head_mpjpe_mm" in last else "")
          + "".join(f"; {s} {r['mpjpe']:6.1f} mm" for s, r in result["held_out"].items()))
  print("mean pose:", ", ".join(f"{s} {v:.1f} mm" for s, v in report["mean_pose_mpjpe"].items()))


if __name__ == "__main__":
  app.run(main)
