"""Pictures of predicted and ground-truth 3D skeletons (matplotlib, no display needed)."""

import numpy as np

from sa3dhp_tf import skeleton

GT_COLOR = "0.55"
PREDICTION_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def _to_display(pose):
  """Camera frame (x right, y down, z forward) to plot axes (x right, depth, up)."""
  pose = np.asarray(pose, np.float64)
  return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)


def _draw_skeleton(ax, pose, color, width, label=None):
  pose = _to_display(pose)
  for i, (parent, child) in enumerate(skeleton.BONES):
    ax.plot(*pose[[parent, child]].T, color=color, linewidth=width,
            label=label if i == 0 else None)


def draw_skeleton_panel(path, gt, predictions, images=None, titles=None, dpi=80):
  """Writes a grid to `path`: one row per frame, an optional column with the input image, then
  one 3D plot per prediction set with that prediction (coloured) over the ground truth (grey).

  gt: [N, 17, 3] root-relative mm; predictions: {label: [N, 17, 3]}; images: [N, H, W, C]
  (uint8, or floats in [0, 1]) or None; titles: N row captions or None.
  Each plot's title gives that frame's MPJPE."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  gt = np.asarray(gt)
  labels = list(predictions)
  columns = len(labels) + (images is not None)
  fig = plt.figure(figsize=(3.0 * columns, 2.9 * len(gt)))
  lim = float(np.abs(_to_display(np.concatenate([gt, *predictions.values()]))).max()) * 1.05
  for row in range(len(gt)):
    column = 0
    if images is not None:
      ax = fig.add_subplot(len(gt), columns, row * columns + 1)
      image = np.asarray(images[row])
      ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
      ax.set_axis_off()
      ax.set_title(titles[row] if titles else "input", fontsize=8)
      column = 1
    for k, label in enumerate(labels):
      ax = fig.add_subplot(len(gt), columns, row * columns + column + k + 1, projection="3d")
      pred = np.asarray(predictions[label][row])
      error = float(np.linalg.norm(pred - gt[row], axis=-1).mean())
      _draw_skeleton(ax, gt[row], GT_COLOR, 2.5, "ground truth")
      _draw_skeleton(ax, pred, PREDICTION_COLORS[k % len(PREDICTION_COLORS)], 1.8, label)
      ax.set_xlim(-lim, lim)
      ax.set_ylim(-lim, lim)
      ax.set_zlim(-lim, lim)
      ax.set_xticklabels([])
      ax.set_yticklabels([])
      ax.set_zticklabels([])
      ax.view_init(elev=12, azim=-70)
      ax.set_title(f"{label}: {error:.0f} mm", fontsize=8)
      if row == 0:
        ax.legend(fontsize=6, loc="upper left")
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  plt.close(fig)
  return path
