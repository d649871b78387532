r"""Non-localness of every relation (paper section 3.3.3, Figure 4) and the automatic choice.

  python tools/latent_distance.py --pose_aae_dir=runs/pose_aae --motion_aae_dir=runs/motion_aae \
      --output=runs/latent_distance [--data_dir=...] [--theta=30] [--k_pose=1 --k_motion=2] \
      [--num_poses=2048 --num_windows=256 --seed=0]

Samples --num_poses poses and --num_windows raw 60-frame windows of the MOCAP split (unlabeled;
default data dir: the one the pose stage was trained on) under random virtual views, and measures
for each registered relation the latent distance d = mean ||E(u) - E(T(u))||_2: d^z through E_p
for pose relations, d^v through E_m o E_p (per frame) for motion relations. The --k_pose most
non-local pose relations and --k_motion most non-local motion relations are selected.

Writes to --output:
  latent_distance.json  distances (mean, std, samples) per relation, the selected keys, theta,
                        sample counts, data dir, PCA explained variance;
  latent_distance.png   bar plots of d^z (pose relations) and d^v (motion relations), selected
                        relations in blue (as Fig. 4A/B);
  motion_pca.png        2D PCA of motion embeddings v: anchors and their counterparts under each
                        motion relation, lines for --num_pca_anchors anchors (as Fig. 4C).
Bad input (missing/incompatible stage dirs, data dir, flags) prints one `error: ...` line and
exits with status 2; nothing is written.
"""

import json
import math
import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("pose_aae_dir", None, "Model dir of a finished pose_aae stage.")
flags.DEFINE_string("motion_aae_dir", None, "Model dir of a finished motion_aae stage.")
flags.DEFINE_string("data_dir", None, "Benchmark dir whose mocap split is sampled "
                    "(default: the pose stage's data_dir).")
flags.DEFINE_string("output", None, "Output directory.")
flags.DEFINE_float("theta", 30.0, "In-plane rotation angle of the theta relations (degrees).")
flags.DEFINE_integer("k_pose", 1, "How many pose relations to select.")
flags.DEFINE_integer("k_motion", 2, "How many motion relations to select.")
flags.DEFINE_integer("num_poses", 2048, "Mocap poses sampled for the pose relations.")
flags.DEFINE_integer("num_windows", 256, "Mocap 60-frame windows sampled for motion relations.")
flags.DEFINE_integer("seed", 0, "Seed of the mocap sampling (order and virtual views); also "
                     "set as the global seed (reproducibility.seed_everything).")
flags.DEFINE_integer("shuffle_buffer", None, "Shuffle buffer of the mocap sampling "
                     "(default: the pipelines' own).")
flags.DEFINE_integer("num_pca_anchors", 4, "Anchors drawn with lines to their counterparts.")

JSON_NAME = "latent_distance.json"
BAR_PLOT_NAME = "latent_distance.png"
PCA_PLOT_NAME = "motion_pca.png"
SELECTED_COLOR = "#1f77b4"
OTHER_COLOR = "#c7c7c7"
RELATION_COLORS = ("#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


class UsageError(ValueError):
  pass


def _first_line(error):
  text = str(error).strip() or type(error).__name__
  return text.splitlines()[0]


def _check_flags(relations):
  for name in ("pose_aae_dir", "motion_aae_dir", "output"):
    if not getattr(FLAGS, name):
      raise UsageError(f"--{name} is required")
  if not math.isfinite(FLAGS.theta):
    raise UsageError(f"--theta must be finite, got {FLAGS.theta}")
  for flag, space in (("k_pose", relations.POSE), ("k_motion", relations.MOTION)):
    available = relations.relation_keys(space)
    value = getattr(FLAGS, flag)
    if not 0 <= value <= len(available):
      raise UsageError(f"--{flag} must be in [0, {len(available)}] (the {space} relations "
                       f"{available}), got {value}")
  for flag in ("num_poses", "num_windows", "num_pca_anchors"):
    if getattr(FLAGS, flag) < 1:
      raise UsageError(f"--{flag} must be >= 1, got {getattr(FLAGS, flag)}")
  if FLAGS.shuffle_buffer is not None and FLAGS.shuffle_buffer < 1:
    raise UsageError(f"--shuffle_buffer must be >= 1, got {FLAGS.shuffle_buffer}")
  if os.path.exists(FLAGS.output) and not os.path.isdir(FLAGS.output):
    raise UsageError(f"--output {FLAGS.output} exists and is not a directory")


def plot_distances(path, distances, selected, theta, relations):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.patches as mpatches
  import matplotlib.pyplot as plt

  spaces = [(relations.POSE, r"pose relations: $d^z$ = mean $\|E_p(y) - E_p(T^y(y))\|$"),
            (relations.MOTION, r"motion relations: $d^v$ = mean $\|E_m(Z) - E_m(T^Y(Z))\|$")]
  spaces = [(s, t) for s, t in spaces if any(d["space"] == s for d in distances.values())]
  fig, axes = plt.subplots(1, len(spaces), figsize=(5.2 * len(spaces), 4.4), squeeze=False)
  for ax, (space, title) in zip(axes[0], spaces):
    keys = [k for k in relations.relation_keys(space) if k in distances]
    means = [distances[k]["latent_distance"] for k in keys]
    stds = [distances[k]["std"] for k in keys]
    colors = [SELECTED_COLOR if k in selected else OTHER_COLOR for k in keys]
    bars = ax.bar(range(len(keys)), means, yerr=stds, capsize=4, color=colors,
                  edgecolor="black", linewidth=0.6)
    for bar, value in zip(bars, means):  # beside the error bar, at the bar's top
      ax.annotate(f"{value:.3g}", (bar.get_x() + bar.get_width() / 2, value),
                  xytext=(4, 2), textcoords="offset points", ha="left", va="bottom",
                  fontsize=8, fontweight="bold")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{k}\n{distances[k]['name']}" for k in keys], fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("latent distance (L2)")
    ax.set_ylim(0, max(m + s for m, s in zip(means, stds)) * 1.2 or 1.0)
    samples = distances[keys[0]]["num_samples"]
    ax.text(0.99, 0.98, f"{samples} {'poses' if space == relations.POSE else 'windows'}",
            transform=ax.transAxes, ha="right", va="top", fontsize=8)
  handles = [mpatches.Patch(facecolor=SELECTED_COLOR, edgecolor="black", label="selected"),
             mpatches.Patch(facecolor=OTHER_COLOR, edgecolor="black", label="not selected")]
  fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
  fig.suptitle(f"Non-localness of relations (theta = {theta:g} deg; mocap samples, "
               f"mean +- std)", fontsize=10)
  fig.tight_layout(rect=(0, 0, 0.93, 0.95))
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_motion_pca(path, projection, distances, selected, num_anchors, relations, windows):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.lines as mlines
  import matplotlib.pyplot as plt

  keys = projection["keys"]
  ratio = projection["explained_variance_ratio"]
  fig, ax = plt.subplots(figsize=(7.5, 6.2))
  colors = {k: RELATION_COLORS[i % len(RELATION_COLORS)] for i, k in enumerate(keys)}
  anchor_marker = {k: ("o" if relations.get_relation(k).anchor_frames is windows.middle_clip
                       else "s") for k in keys}
  for k in keys:  # every sample, faint: anchors grey, counterparts in the relation's colour
    a, c = projection["anchors"][k], projection["counterparts"][k]
    ax.scatter(a[:, 0], a[:, 1], s=8, c="#7f7f7f", alpha=0.25, marker=anchor_marker[k],
               linewidths=0)
    ax.scatter(c[:, 0], c[:, 1], s=8, c=colors[k], alpha=0.25, marker="^", linewidths=0)
  count = min(num_anchors, len(projection["anchors"][keys[0]]))
  for i in range(count):  # a few anchors, joined to their counterparts
    for k in keys:
      a, c = projection["anchors"][k][i], projection["counterparts"][k][i]
      ax.annotate("", xy=c, xytext=a,
                  arrowprops=dict(arrowstyle="->", color=colors[k], lw=1.6,
                                  linestyle="-" if k in selected else "--"))
      ax.scatter([c[0]], [c[1]], s=50, c=colors[k], marker="^", edgecolors="black",
                 linewidths=0.6, zorder=3)
      ax.scatter([a[0]], [a[1]], s=60, c="black", marker=anchor_marker[k], zorder=4)
    first = projection["anchors"][keys[0]][i]
    ax.annotate(f"#{i}", first, xytext=(5, 5), textcoords="offset points", fontsize=9,
                fontweight="bold")
  handles = []
  for k in keys:
    label = (f"{k} {relations.get_relation(k).name}: $d^v$ = "
             f"{distances[k]['latent_distance']:.3g}{'  (selected)' if k in selected else ''}")
    handles.append(mlines.Line2D([], [], color=colors[k], marker="^", lw=1.6,
                                 linestyle="-" if k in selected else "--", label=label))
  for marker, label in (("o", "anchor: middle clip raw[15:45]"),
                        ("s", "anchor: fast clip raw[::2]")):
    if marker in anchor_marker.values():
      handles.append(mlines.Line2D([], [], color="black", marker=marker, lw=0, label=label))
  ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.85)
  ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.1f}% of variance)")
  ax.set_ylabel(f"PC 2 ({100 * ratio[1]:.1f}% of variance)")
  ax.set_title(f"Motion embeddings v (PCA): {count} anchors -> counterparts per relation",
               fontsize=10)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def run():
  """Measures, selects, writes the three files; returns the JSON summary."""
  from sa3dhp_tf import relations
  from sa3dhp_tf.evaluation import nonlocality
  from sa3dhp_tf.geometry import windows

  _check_flags(relations)
  from sa3dhp_tf import reproducibility
  reproducibility.seed_everything(FLAGS.seed)  # seeds tf.data ops too
  result = nonlocality.measure_nonlocality(
      FLAGS.pose_aae_dir, FLAGS.motion_aae_dir, FLAGS.data_dir, FLAGS.theta, FLAGS.num_poses,
      FLAGS.num_windows, FLAGS.seed, shuffle_buffer=FLAGS.shuffle_buffer)
  distances = result["distances"]
  selected_pose = nonlocality.select_most_nonlocal(distances, FLAGS.k_pose, space=relations.POSE)
  selected_motion = nonlocality.select_most_nonlocal(distances, FLAGS.k_motion,
                                                     space=relations.MOTION)
  selected = selected_pose + selected_motion
  projection = nonlocality.motion_embedding_pca(result["codes"])

  os.makedirs(FLAGS.output, exist_ok=True)
  files = {name: os.path.abspath(os.path.join(FLAGS.output, name))
           for name in (JSON_NAME, BAR_PLOT_NAME, PCA_PLOT_NAME)}
  plot_distances(files[BAR_PLOT_NAME], distances, selected, result["theta"], relations)
  plot_motion_pca(files[PCA_PLOT_NAME], projection, distances, selected, FLAGS.num_pca_anchors,
                  relations, windows)
  summary = {
      "theta": result["theta"],
      "pose_aae_dir": os.path.abspath(FLAGS.pose_aae_dir),
      "motion_aae_dir": os.path.abspath(FLAGS.motion_aae_dir),
      "data_dir": os.path.abspath(result["data_dir"]),
      "split": nonlocality.MOCAP_SPLIT,
      "seed": result["seed"],
      "num_pose_samples": result["num_pose_samples"],
      "num_window_samples": result["num_window_samples"],
      "k_pose": FLAGS.k_pose,
      "k_motion": FLAGS.k_motion,
      "selected": selected,
      "selected_by_space": {relations.POSE: selected_pose, relations.MOTION: selected_motion},
      "distances": distances,
      "motion_pca": {"relation_keys": projection["keys"],
                     "explained_variance_ratio": [float(r) for r in
                                                  projection["explained_variance_ratio"]]},
      "files": files,
  }
  with open(files[JSON_NAME], "w") as f:
    json.dump(summary, f, indent=2)
  return summary


def main(argv):
  if len(argv) > 1:
    print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
    sys.exit(2)
  from sa3dhp_tf.data.schema import DataError
  from sa3dhp_tf.evaluation.nonlocality import NonlocalityError
  from sa3dhp_tf.tasks.stage_io import StageError
  try:
    summary = run()
  except (UsageError, StageError, FileNotFoundError, DataError, NonlocalityError) as e:
    print(f"error: {_first_line(e)}", file=sys.stderr)
    sys.exit(2)
  print(json.dumps({"selected": summary["selected"],
                    "latent_distance": {k: round(v["latent_distance"], 6)
                                        for k, v in summary["distances"].items()},
                    "files": summary["files"]}, indent=2))


if __name__ == "__main__":
  app.run(main)
