r"""The table and plot of tools/source_convergence.sh: G^s error per source step budget.

  python tools/source_convergence_report.py --runs=OUT --budgets=1500,4000,8000 [--seeds=0]
      [--bindings_file=OUT/bindings.txt] [--extra_targets=camera,...]

Reads OUT/source_<steps>_s<seed>/results.json (each a finished `source` stage) and writes
OUT/source_convergence.{md,json,png}: source_test and target_test MPJPE / PA-MPJPE per budget
(mean ± sample std over the seeds), and the change of each split's MPJPE against the smallest
budget, paired by seed (each seed's G^s at a budget minus the same seed's at the smallest), which
takes the seeds' common offset out of the comparison. Each name in --extra_targets adds the
`target_test` of another benchmark (e.g. a graded shift), read from
OUT/target_test_<name>/source_<steps>_s<seed>.json (`python -m sa3dhp_tf.evaluate` output; the
script writes them for EXTRA_TARGETS). The gin bindings the runs were trained with
(one per line in --bindings_file) are named in the table's heading. Bad input prints one
`error: ...` line, exit status 2.
"""

import json
import os
import statistics

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("runs", None, "Output folder of tools/source_convergence.sh.")
flags.DEFINE_list("budgets", None, "Source step budgets, in order.")
flags.DEFINE_list("seeds", ["0"], "Seeds trained per budget.")
flags.DEFINE_string("bindings_file", None,
                    "Gin bindings of every run, one per line (OUT/bindings.txt of the script).")
flags.DEFINE_list("extra_targets", [], "Names of other benchmarks' target_test evaluations "
                  "(OUT/target_test_<name>/).")

SPLITS = ("source_test", "target_test")
METRICS = ("mpjpe", "pa_mpjpe")


def extra_split(name):
  return f"target_test ({name})"


def _spread(values):
  return statistics.stdev(values) if len(values) > 1 else 0.0


def _read(path, what):
  if not os.path.isfile(path):
    raise errors.UserError(f"--runs: no {what} ({path})")
  try:
    with open(path) as f:
      return json.load(f)
  except ValueError as e:
    raise errors.UserError(f"--runs: {path} is not JSON ({e})") from None


def collect(runs, budgets, seeds, extra_targets=()):
  """{budget: {split: {metric: [value per seed]}}}; splits: SPLITS, then one per extra target."""
  table = {}
  for steps in budgets:
    cells = {s: {m: [] for m in METRICS}
             for s in (*SPLITS, *map(extra_split, extra_targets))}
    for seed in seeds:
      run = f"source_{steps}_s{seed}"
      results = _read(os.path.join(runs, run, "results.json"),
                      f"finished source stage for budget {steps}, seed {seed}")
      for split in SPLITS:
        for metric in METRICS:
          cells[split][metric].append(float(results[split][metric]))
      for name in extra_targets:
        extra = _read(os.path.join(runs, f"target_test_{name}", run + ".json"),
                      f"evaluation on target {name!r} for budget {steps}, seed {seed}")
        for metric in METRICS:
          cells[extra_split(name)][metric].append(float(extra[metric]))
    table[int(steps)] = cells
  return table


def paired_change(table):
  """{budget: {split: [MPJPE at budget − MPJPE at the smallest budget, per seed]}}."""
  first = table[min(table)]
  return {steps: {split: [value - base for value, base in
                          zip(cells[split]["mpjpe"], first[split]["mpjpe"])]
                  for split in cells}
          for steps, cells in table.items()}


def _cell(values):
  return f"{statistics.mean(values):.1f} ± {_spread(values):.1f}"


def markdown(table, seeds, bindings=()):
  setting = "; bindings: " + ", ".join(f"`{b}`" for b in bindings) if bindings else ""
  lines = ["G^s per source step budget (experiments/cpu_budget.gin, cosine decay over each "
           f"budget{setting}), mean ± std over seeds {', '.join(seeds)}; mm. The change "
           f"columns: MPJPE minus the same seed's at {min(table)} steps (negative = better).",
           ""]
  splits = list(next(iter(table.values())))
  names = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE"}
  header = [f"{s} {names[m]}" for s in splits for m in METRICS] + [f"{s} change" for s in splits]
  lines += ["| source steps | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
  change = paired_change(table)
  for steps, cells in table.items():
    row = [_cell(cells[s][m]) for s in splits for m in METRICS]
    row += ["" if steps == min(table) else _cell(change[steps][s]) for s in splits]
    lines.append(f"| {steps} | " + " | ".join(row) + " |")
  return "\n".join(lines) + "\n"


def read_bindings(path):
  if not path:
    return []
  if not os.path.isfile(path):
    raise errors.UserError(f"--bindings_file {path}: no such file")
  with open(path) as f:
    return [line.strip() for line in f if line.strip()]


def plot(path, table):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  steps = list(table)
  for split in table[steps[0]]:
    means = [statistics.mean(table[s][split]["mpjpe"]) for s in steps]
    stds = [_spread(table[s][split]["mpjpe"]) for s in steps]
    ax.errorbar(steps, means, yerr=stds, marker="o", capsize=3, label=f"{split} MPJPE")
  ax.set_xlabel("source training steps (budget)")
  ax.set_ylabel("MPJPE (mm)")
  ax.set_title("G^s error per source budget")
  ax.legend()
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=110)
  plt.close(fig)
  os.replace(tmp, path)


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "runs", "budgets")
  try:
    budgets = sorted({int(b) for b in FLAGS.budgets})
  except ValueError:
    raise errors.UserError(f"--budgets must be integers, got {FLAGS.budgets}") from None
  bindings = read_bindings(FLAGS.bindings_file)
  table = collect(FLAGS.runs, budgets, FLAGS.seeds, FLAGS.extra_targets)
  text = markdown(table, FLAGS.seeds, bindings)
  from sa3dhp_tf import json_files
  json_files.write_json(os.path.join(FLAGS.runs, "source_convergence.json"), {
      "seeds": list(FLAGS.seeds), "bindings": bindings,
      "extra_targets": list(FLAGS.extra_targets),
      "by_budget": {str(k): v for k, v in table.items()},
      "paired_change_mpjpe": {str(k): v for k, v in paired_change(table).items()}})
  tmp = os.path.join(FLAGS.runs, "source_convergence.md.tmp")
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, os.path.join(FLAGS.runs, "source_convergence.md"))
  plot(os.path.join(FLAGS.runs, "source_convergence.png"), table)
  print(text, end="")


if __name__ == "__main__":
  errors.run(main)
