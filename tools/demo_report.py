r"""The end of `make demo`: a short answer in plain words and the pictures.

  python tools/demo_report.py --runs=demo_out/runs --data_dir=demo_out/benchmark \
      [--output_dir=demo_out] [--adapted_row=full] [--frames=4]

Reads the ablation run in --runs (its results.json, the source-only G^s and the adapted G of
seed 0), predicts the whole target test split with both, and writes to --output_dir:
  skeletons.png          target test frames: input, source-only and adapted 3D predictions over
                         the ground truth;
  adaptation_curve.png   target error along adaptation (a copy of the ablation's plot);
  summary.txt / .json    the short answer printed at the end.
The answer states source-only, adapted and oracle target MPJPE, the error of always predicting
the source frames' mean pose, whether adaptation helped and how sure that is: a 95% interval of
the paired per-sequence difference on the target test split (test-set noise), and the seed
spread when the run has more than one seed (training noise).
Bad input prints one `error: ...` line and exits with status 2.
"""

import json
import os
import shutil
import sys

from absl import app
from absl import flags
import numpy as np

from sa3dhp_tf.evaluation import calibration
from sa3dhp_tf.evaluation.ablation import floor_mean
from sa3dhp_tf.evaluation.adaptation_answer import paired_difference
from sa3dhp_tf.evaluation.adaptation_answer import short_answer

FLAGS = flags.FLAGS
flags.DEFINE_string("runs", None, "Output dir of tools/ablation.py.")
flags.DEFINE_string("data_dir", None, "Benchmark dir (default: the one G^s trained on).")
flags.DEFINE_string("output_dir", None, "Where the pictures and summary go (default: the "
                    "parent of --runs).")
flags.DEFINE_string("adapted_row", "full", "Ablation row reported as 'adapted'.")
flags.DEFINE_integer("frames", 4, "Target test frames in the skeleton panel.")
flags.DEFINE_string("results_md", None, "The ablation's markdown table, to point to.")
flags.DEFINE_string("exported_dir", None, "Where tools/demo.sh exported the adapted model "
                    "(saved_model/, sa3dhp_int8.tflite), to point to.")

def fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _load(model_dir):
  from sa3dhp_tf.tasks import stage_io
  info = stage_io.read_stage_info(model_dir)
  models, _ = stage_io.load_stage(model_dir, info["stage"], ["image_to_latent"])
  return models["image_to_latent"], info


def predict(networks, decoder, data_dir, split):
  """Per-frame predictions of every network on `split` ({name: [N, 17, 3]}), the root-relative
  ground truth [N, 17, 3], the sequence ids [N] and the frames (uint8 [N, H, W, 3])."""
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  paths = records.shard_paths(data_dir, split)
  kind = records.split_kind(split)
  preds = {name: [] for name in networks}
  gts, sequences, images = [], [], []
  with records.explain_data_errors(paths, kind):
    for batch in pipelines.labeled_frames(paths, 256, kind=kind):
      for name, network in networks.items():
        preds[name].append(np.asarray(decoder(network(batch["image"], training=False),
                                              training=False)))
      y = batch["pose3d"].numpy()
      gts.append(y - y[:, :1])
      sequences.append(batch["sequence_id"].numpy())
      images.append(np.round(255 * batch["image"].numpy()).astype(np.uint8))  # 4x less memory
  return ({name: np.concatenate(p) for name, p in preds.items()}, np.concatenate(gts),
          np.concatenate(sequences), np.concatenate(images))


def panel_index(sequences, count):
  """`count` frames spread evenly over the split, from as many sequences as possible."""
  return np.unique(np.linspace(0, len(sequences) - 1, count).round().astype(int))


def write_report(runs, data_dir, output_dir, adapted_row, frames, results_md=None,
                 exported_dir=None):
  """Computes the answer, writes the pictures and summary files; returns the printed lines."""
  from sa3dhp_tf.evaluation import pose_figures
  from sa3dhp_tf.tasks import stage_io
  results_path = os.path.join(runs, "results.json")
  if not os.path.isfile(results_path):
    fail(f"--runs {runs}: no results.json (run tools/ablation.py first)")
  table = json.load(open(results_path))["rows"]
  for row in ("source_only", adapted_row):
    if "target_mpjpe" not in table.get(row, {}):
      fail(f"--runs {runs}: results.json has no finished row {row!r}; it has {sorted(table)}")
  source_dir = os.path.join(runs, "seed0", "source")
  adapted_dir = os.path.join(runs, "seed0", adapted_row)
  try:
    source_net, source_info = _load(source_dir)
    adapted_net, _ = _load(adapted_dir)
    pose_models, _ = stage_io.load_stage(source_info["inputs"]["pose_aae"], "pose_aae",
                                         ["pose_autoencoder"])
  except (FileNotFoundError, stage_io.StageError) as e:
    fail(f"--runs {runs}: {e}")
  data_dir = data_dir or source_info["settings"]["data_dir"]
  labels = {"source": "source-only", "adapted": "adapted"}
  preds, gt, sequences, images = predict({"source": source_net, "adapted": adapted_net},
                                         pose_models["pose_autoencoder"].decoder, data_dir,
                                         "target_test")
  errors = {k: np.linalg.norm(p - gt, axis=-1).mean(axis=-1) for k, p in preds.items()}
  paired = paired_difference(errors["source"], errors["adapted"], sequences)
  floor = calibration.constant_pose_mpjpe(data_dir, gt)
  os.makedirs(output_dir, exist_ok=True)
  picked = panel_index(sequences, frames)
  skeletons = pose_figures.draw_skeleton_panel(
      os.path.join(output_dir, "skeletons.png"), gt[picked],
      {labels[k]: preds[k][picked] for k in ("source", "adapted")}, images=images[picked],
      titles=[f"target test frame {i}" for i in picked])
  curve = os.path.join(output_dir, "adaptation_curve.png")
  shutil.copyfile(os.path.join(runs, "adaptation_curves.png"), curve)
  locations = [("full table", results_md or os.path.join(runs, "results.json")),
               ("skeletons (3D)", skeletons), ("adaptation curve", curve),
               ("source-only model", os.path.join(source_dir, "models")),
               ("adapted model", os.path.join(adapted_dir, "models")),
               ("per-stage logs", os.path.join(runs, "logs"))]
  if exported_dir:
    exported = [("SavedModel (TF Serving)", os.path.join(exported_dir, "saved_model", "1")),
                ("int8 TFLite", os.path.join(exported_dir, "sa3dhp_int8.tflite"))]
    locations[5:5] = [(name, path) for name, path in exported if os.path.exists(path)]
  lines = short_answer(table, adapted_row, floor, paired, locations)
  summary = {"source_only_mpjpe": table["source_only"]["target_mpjpe"]["mean"],
             "adapted_mpjpe": table[adapted_row]["target_mpjpe"]["mean"],
             "adapted_row": adapted_row, "mean_pose_mpjpe": floor,
             "paired_gain_mm": paired[0], "paired_gain_95_halfwidth_mm": paired[1],
             "num_test_sequences": paired[2], "num_test_frames": int(len(gt)),
             "oracle_mpjpe": floor_mean(table),
             "pictures": {"skeletons": skeletons, "adaptation_curve": curve}}
  for name, text in (("summary.txt", "\n".join(lines) + "\n"),
                     ("summary.json", json.dumps(summary, indent=2) + "\n")):
    tmp = os.path.join(output_dir, name + ".tmp")
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, os.path.join(output_dir, name))
  return lines


def main(argv):
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}")
  if not FLAGS.runs:
    fail("--runs is required")
  if FLAGS.frames < 1:
    fail(f"--frames must be at least 1, got {FLAGS.frames}")
  output_dir = FLAGS.output_dir or os.path.dirname(os.path.abspath(FLAGS.runs))
  lines = write_report(FLAGS.runs, FLAGS.data_dir, output_dir, FLAGS.adapted_row, FLAGS.frames,
                       FLAGS.results_md, FLAGS.exported_dir)
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
