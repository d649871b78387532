"""The short answer at the end of `make demo`: did adaptation help on the target test split, by
how much, and how sure that is, in plain words (written by tools/demo_report.py)."""

import numpy as np

from sa3dhp_tf.evaluation import ablation
RESOLUTION_MM = 0.05  # differences below this are "no change" (the answer prints 0.1 mm)


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
  oracle_row = ablation.oracle_floor(table)  # the tightest oracle that ran
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
