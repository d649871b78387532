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

FLAGS = flags.FLAGS
flags.DEFINE_string("runs", None, "Output dir of tools/ablation.py.")
flags.DEFINE_string("data_dir", None, "Benchmark dir (default: the one G^s trained on).")
flags.DEFINE_string("output_dir", None, "Where the pictures and summary go (default: the "
                    "parent of --runs).")
flags.DEFINE_string("adapted_row", "full", "Ablation row reported as 'adapted'.")
flags.DEFINE_integer("frames", 4, "Target test frames in the skeleton panel.")
flags.DEFINE_string("results_md", None, "The ablation's markdown table, to point to.")

ORACLE_ROWS = ("oracle_finetune", "oracle")
RESOLUTION_MM = 0.05  # differences below this are "no change" (the answer prints 0.1 mm)
MEAN_POSE_BATCHES = 8  # of 256 source frames: plenty for a mean pose


def fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def paired_difference(errors_a, errors_b, groups):
  """Mean over `groups` (test sequences) of the per-group mean of errors_a - errors_b, and the
  half-width of its 95% interval (1.96 standard errors over groups; None with one group).
  Frames of one sequence are strongly correlated, so sequences, not frames, are the units."""
  diff = np.asarray(errors_a, np.float64) - np.asarray(errors_b, np.float64)
  groups = np.asarray(groups)
  per_group = np.array([diff[groups == g].mean() for g in np.unique(groups)])
  mean = float(per_group.mean())
  if len(per_group) < 2:
    return mean, None, len(per_group)
  return mean, float(1.96 * per_group.std(ddof=1) / np.sqrt(len(per_group))), len(per_group)


def _mm(value):
  return f"{value:.1f} mm"


def short_answer(table, adapted_row, floor_mm, paired, locations):
  """The plain-language lines printed at the end of the demo.

  table: the ablation's `rows` (results.json); floor_mm: error of the constant mean pose;
  paired: (mean, half_width or None, num_sequences) of source-only minus adapted per-frame
  error; locations: [(what, path)] to point to."""
  source = table["source_only"]["target_mpjpe"]["mean"]
  adapted_entry = table[adapted_row]
  adapted = adapted_entry["target_mpjpe"]["mean"]
  oracle_row = next((r for r in ORACLE_ROWS if "target_mpjpe" in table.get(r, {})), None)
  width = 44
  lines = ["What came out (MPJPE on the target test split: mean 3D joint error, lower is better)",
           f"  {'source-only G^s (no adaptation)':{width}s} {_mm(source)}",
           f"  {'adapted: ' + adapted_entry['label']:{width}s} {_mm(adapted)}"]
  if oracle_row:
    lines.append(f"  {table[oracle_row]['label']:{width}s} "
                 f"{_mm(table[oracle_row]['target_mpjpe']['mean'])}")
  lines.append(f"  {'always the mean source pose (no model)':{width}s} {_mm(floor_mm)}")
  gain = source - adapted
  mean, half, sequences = paired
  if half is None:
    verdict, sure = ("helped" if gain > 0 else "did not help"), None
  elif abs(mean) < RESOLUTION_MM and half < RESOLUTION_MM:
    verdict, sure = "changed nothing measurable", "the adapted model predicts as source-only"
  elif mean - half > 0:
    verdict, sure = "helped", "the interval excludes no change"
  elif mean + half < 0:
    verdict, sure = "made it worse", "the interval excludes no change"
  else:
    verdict, sure = "made no clear difference", "the interval includes no change"
  answer = (f"Answer: adaptation {verdict}: {abs(gain):.1f} mm "
            f"{'lower' if gain >= 0 else 'higher'} target error than source-only")
  if oracle_row and source - table[oracle_row]["target_mpjpe"]["mean"] > RESOLUTION_MM:
    closure = gain / (source - table[oracle_row]["target_mpjpe"]["mean"])
    answer += f", {100 * closure:.0f}% of the way from source-only to the oracle"
  lines += ["", answer + "."]
  if half is None:
    lines.append("How sure: one target test sequence, so no interval.")
  else:
    lines.append(f"How sure: source-only minus adapted error, per target test sequence: "
                 f"{mean:+.1f} ± {half:.1f} mm (mean ± 95% interval over {sequences} "
                 f"sequences); {sure}.")
  seeds = adapted_entry.get("num_seeds", 1)
  if seeds > 1 and adapted_entry.get("gain_in_stds") is not None:
    lines.append(f"Over {seeds} training seeds: {adapted:.1f} ± "
                 f"{adapted_entry['target_mpjpe']['std']:.1f} mm, a gain of "
                 f"{adapted_entry['gain_in_stds']:+.1f} seed standard deviations.")
  else:
    lines.append("That interval is test-set noise only: this run trains one seed, so how much "
                 "another training seed would move the result is not measured here "
                 "(docs/results_short_gs.md: 3 seeds and a placebo control).")
  if adapted >= floor_mm or source >= floor_mm:
    lines.append("Warning: a model is no better than always predicting the mean pose; its "
                 "numbers say little about adaptation.")
  lines += ["", "Where to look:"]
  lines += [f"  {what:26s} {path}" for what, path in locations]
  return lines


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


def mean_pose_error(data_dir, gt):
  """MPJPE of predicting, for every frame of `gt`, the mean root-relative pose of the labeled
  source frames (a model that ignores its input)."""
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  poses = []
  for batch in pipelines.labeled_frames(records.shard_paths(data_dir, "source"), 256,
                                        kind=records.split_kind("source")).take(
                                            MEAN_POSE_BATCHES):
    y = batch["pose3d"].numpy()
    poses.append(y - y[:, :1])
  mean_pose = np.concatenate(poses).mean(axis=0)
  return float(np.linalg.norm(gt - mean_pose, axis=-1).mean())


def panel_index(sequences, count):
  """`count` frames spread evenly over the split, from as many sequences as possible."""
  return np.unique(np.linspace(0, len(sequences) - 1, count).round().astype(int))


def write_report(runs, data_dir, output_dir, adapted_row, frames, results_md=None):
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
  floor = mean_pose_error(data_dir, gt)
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
               ("source-only model", os.path.join(source_dir, "export")),
               ("adapted model", os.path.join(adapted_dir, "export")),
               ("per-stage logs", os.path.join(runs, "logs"))]
  lines = short_answer(table, adapted_row, floor, paired, locations)
  summary = {"source_only_mpjpe": table["source_only"]["target_mpjpe"]["mean"],
             "adapted_mpjpe": table[adapted_row]["target_mpjpe"]["mean"],
             "adapted_row": adapted_row, "mean_pose_mpjpe": floor,
             "paired_gain_mm": paired[0], "paired_gain_95_halfwidth_mm": paired[1],
             "num_test_sequences": paired[2], "num_test_frames": int(len(gt)),
             "oracle_mpjpe": next((table[r]["target_mpjpe"]["mean"] for r in ORACLE_ROWS
                                   if "target_mpjpe" in table.get(r, {})), None),
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
                       FLAGS.results_md)
  print("\n".join(lines))


if __name__ == "__main__":
  app.run(main)
