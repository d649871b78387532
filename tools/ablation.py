r"""Runs the paper's Table 5 ablation, its controls and baselines on a benchmark, over seeds.

  python tools/ablation.py --data_dir=DIR --output=OUT [--seeds=3] \
      [--gin_file=experiments/cpu_budget.gin] [--gin_bindings=...] [--rows=lcr,full,...] \
      [--results_md=docs/results.md]

Every run is one `python -m sa3dhp_tf.train` subprocess with its own model dir under OUT, so the
tool resumes where it stopped when rerun (finished runs are skipped, interrupted ones resume
from their checkpoints). Pre-learning (pose AAE, motion AAE, relation networks, and the placebo
relation networks) is shared by all rows; G^s and the oracles (from scratch on labeled target
frames; G^s fine-tuned on them, --finetune_steps) are trained per seed unless
--shared_source. Writes OUT/results.json, OUT/adaptation_curves.png and the markdown table.
Progress: one line per stage, numbered "[k/n]", with a step bar and the time left in the stage
(`sa3dhp_tf.progress`); each stage's command line and output go to OUT/logs/<run>.log.
"""

import json
import os
import shlex
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

from sa3dhp_tf import progress

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Benchmark directory.")
flags.DEFINE_string("output", None, "Output directory for all runs and results.")
flags.DEFINE_integer("seeds", 3, "Seeds per row.")
flags.DEFINE_multi_string("gin_file", ["experiments/cpu_budget.gin"],
                          "Gin files passed to every stage.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings passed to every stage.")
flags.DEFINE_list("rows", None, "Rows to run, in this order (default: all, most informative "
                  "first, so that an interrupted run still has the key rows).")
flags.DEFINE_integer("finetune_steps", 2000, "Training steps of the oracle_finetune row (G^s "
                     "trained further on labeled target frames).")
flags.DEFINE_bool("shared_source", False, "Train G^s and the oracle once (seed 0) only.")
flags.DEFINE_string("results_md", None, "Where to write the markdown table.")
flags.DEFINE_bool("print_rows", True, "Print every row's target MPJPE at the end.")
flags.DEFINE_bool("report_only", False, "Rewrite the table and plot from OUT's finished runs "
                  "without running anything.")

PAPER_RELATIONS = ("z3", "v2", "v3")
PLACEBO_OVERRIDES = "{'z3': 'z1', 'v2': 'v1', 'v3': 'v1'}"
ORACLES = ("oracle", "oracle_finetune")
# name -> (label, energies or None for a non-adaptation row, relation nets: 'paper'|'placebo')
ROWS = {
    "source_only": ("Source only (G^s)", None, None),
    "oracle": ("oracle: target-supervised G", None, None),
    "oracle_finetune": ("oracle: G^s fine-tuned on target labels", None, None),
    "full": ("+L^v_3 (full method)", ("lcr", "hcr", "z3", "v2", "v3"), "paper"),
    "hcr": ("+L_HCR (contrastive only)", ("lcr", "hcr"), "paper"),
    "lcr": ("+L_LCR", ("lcr",), None),
    "z3": ("+L^z_3", ("lcr", "hcr", "z3"), "paper"),
    "v2": ("+L^v_2", ("lcr", "hcr", "z3", "v2"), "paper"),
    "full_guard": ("full method, source guard", ("lcr", "hcr", "z3", "v2", "v3", "source"),
                   "paper"),
    "source_loss_only": ("control: source loss only", ("source",), None),
    "placebo": ("control: placebo relation nets (full)", ("lcr", "hcr", "z3", "v2", "v3"),
                "placebo"),
    "dann": ("baseline: domain-adversarial (DANN)", ("domain_adversarial",), None),
    "z3_guard": ("+L^z_3, source guard", ("lcr", "hcr", "z3", "source"), "paper"),
}


STAGE_TITLES = {"pose_aae": "pose AAE E_p/D_p on mocap", "motion_aae": "motion AAE E_m on mocap",
                "relation_nets": "relation networks T^z/T^v",
                "relation_nets_placebo": "placebo relation networks",
                "source": "G^s on labeled source frames", "oracle": ROWS["oracle"][0],
                "oracle_finetune": ROWS["oracle_finetune"][0]}
_progress = None  # the JobProgress of this run, made by main() once the plan is known


def count_stages(rows, seeds, shared_source):
  """How many training stages a run of `rows` over `seeds` consists of (finished or not)."""
  prelearn = 3 + ("placebo" in rows)
  sources = (1 if shared_source else len(seeds)) * (1 + sum(r in rows for r in ORACLES))
  adaptation = len(seeds) * sum(r not in ("source_only",) + ORACLES for r in rows)
  return prelearn + sources + adaptation


def _stage(stage, model_dir, bindings, log_dir, title=None):
  """Runs one stage as a subprocess unless it already finished; returns its results dict."""
  global _progress
  if _progress is None:  # called outside main(): number the stages as they come
    _progress = progress.JobProgress(total="?", tag="[ablation] ")
  title = title or STAGE_TITLES.get(os.path.basename(model_dir.rstrip("/")), stage)
  results_path = os.path.join(model_dir, "results.json")
  if os.path.exists(os.path.join(model_dir, "stage_info.json")) and os.path.exists(results_path):
    _progress.skip(title)
    return json.load(open(results_path))
  cmd = [sys.executable, "-m", "sa3dhp_tf.train", f"--stage={stage}",
         *[f"--gin_file={f}" for f in FLAGS.gin_file],
         *[f"--gin_bindings={b}" for b in list(bindings) + FLAGS.gin_bindings],
         f"--model_dir={model_dir}"]
  os.makedirs(log_dir, exist_ok=True)
  _progress.announce_logs(log_dir)
  name = os.path.basename(model_dir.rstrip("/"))
  if os.path.basename(os.path.dirname(model_dir.rstrip("/"))).startswith("seed"):
    name = os.path.basename(os.path.dirname(model_dir.rstrip("/"))) + "_" + name
  log_path = os.path.join(log_dir, name + ".log")
  returncode = _progress.run_stage(title, cmd, log_path, log_path[:-len(".log")] + ".progress",
                                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  if returncode != 0:
    raise RuntimeError(f"stage {stage} failed (exit {returncode}); see {log_path}")
  return json.load(open(results_path))


def prelearn(out, data_dir, rows):
  dirs = {k: os.path.join(out, "prelearn", k) for k in
          ("pose_aae", "motion_aae", "relation_nets", "relation_nets_placebo")}
  logs = os.path.join(out, "logs")
  _stage("pose_aae", dirs["pose_aae"], [f"pose_aae.data_dir='{data_dir}'"], logs)
  _stage("motion_aae", dirs["motion_aae"], [f"motion_aae.pose_aae_dir='{dirs['pose_aae']}'"],
         logs)
  common = [f"relation_nets.pose_aae_dir='{dirs['pose_aae']}'",
            f"relation_nets.motion_aae_dir='{dirs['motion_aae']}'",
            f"relation_nets.relation_keys={PAPER_RELATIONS}"]
  _stage("relation_nets", dirs["relation_nets"], common, logs)
  if "placebo" in rows:
    _stage("relation_nets", dirs["relation_nets_placebo"],
           common + [f"relation_nets.pose_side_overrides={PLACEBO_OVERRIDES}"], logs)
  else:
    del dirs["relation_nets_placebo"]
  return dirs


def run_row(row, seed, out, dirs, sources):
  label, energies, nets = ROWS[row]
  logs = os.path.join(out, "logs")
  if row == "source_only" or row in ORACLES:  # trained by train_sources
    role = "source" if row == "source_only" else row
    return json.load(open(os.path.join(sources[seed][role], "results.json")))
  bindings = [f"adapt.source_dir='{sources[seed]['source']}'", f"adapt.energies={energies}",
              f"adapt.seed={seed}"]
  if nets or any(e in ("hcr",) for e in energies):
    key = "relation_nets_placebo" if nets == "placebo" else "relation_nets"
    bindings.append(f"adapt.relation_nets_dir='{dirs[key]}'")
  return _stage("adapt", os.path.join(out, f"seed{seed}", row), bindings, logs,
                title=f"adapt: {label}, seed {seed}")


def train_sources(out, dirs, seeds, rows):
  sources = {}
  logs = os.path.join(out, "logs")
  for seed in seeds:
    base = 0 if FLAGS.shared_source else seed
    sources[seed] = {role: os.path.join(out, f"seed{base}", role)
                     for role in ("source",) + ORACLES}
    _stage("source", sources[seed]["source"],
           [f"source.pose_aae_dir='{dirs['pose_aae']}'", f"source.seed={base}"], logs)
    if "oracle" in rows:
      _stage("source", sources[seed]["oracle"],
             [f"source.pose_aae_dir='{dirs['pose_aae']}'", f"source.seed={base}",
              "source.train_split='target_labeled'"], logs)
    if "oracle_finetune" in rows:
      _stage("source", sources[seed]["oracle_finetune"],
             [f"source.pose_aae_dir='{dirs['pose_aae']}'", f"source.seed={base}",
              "source.train_split='target_labeled'", f"source.steps={FLAGS.finetune_steps}",
              f"source.init_dir='{sources[seed]['source']}'", "source.model_kwargs=None"], logs)
  return sources


def summarise(row, results):
  """Per-run numbers of one row: target/source MPJPE of the reported model."""
  if row in ("source_only",) + ORACLES:
    return {"target_mpjpe": results["target_test"]["mpjpe"],
            "target_pa_mpjpe": results["target_test"]["pa_mpjpe"],
            "source_mpjpe": results["source_test"]["mpjpe"],
            "target_latent_std": results["target_test"]["latent_std"]}
  selected = results["selected"]
  return {"target_mpjpe": selected["target_test"]["mpjpe"],
          "target_pa_mpjpe": selected["target_test"]["pa_mpjpe"],
          "source_mpjpe": selected["source_test"]["mpjpe"],
          "target_latent_std": selected["target_test"]["latent_std"],
          "selected_step": results["selected_step"],
          "subset_mpjpe_selected": results["target_test_mpjpe_at_selected_step_subset"],
          "subset_mpjpe_best_by_labels": results["target_test_mpjpe_at_best_step_subset"],
          "best_step_by_labels": results["best_step_by_target_labels"],
          "spread_before": results["latent_spread_target_before"],
          "spread_selected": results["latent_spread_target_selected"],
          "collapsed_at_step": results["collapsed_at_step"],
          "criterion_correlations": results["criterion_correlations"],
          # Post hoc, from the recorded curve: what the 'source_val' rule would have reported.
          "subset_mpjpe_source_val_rule": min(
              results["curve"], key=lambda r: r["source_val_mpjpe"])["target_test_mpjpe"]}


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(per_run):
  table = {}
  for row, runs in per_run.items():
    entry = {"label": ROWS[row][0], "energies": ROWS[row][1], "num_seeds": len(runs)}
    for key in ("target_mpjpe", "target_pa_mpjpe", "source_mpjpe", "subset_mpjpe_selected",
                "subset_mpjpe_best_by_labels", "subset_mpjpe_source_val_rule",
                "target_latent_std", "spread_before", "spread_selected"):
      mean, std = _mean_std([r.get(key) for r in runs.values()])
      if mean is not None:
        entry[key] = {"mean": mean, "std": std}
    table[row] = entry
  src = table.get("source_only", {}).get("target_mpjpe")
  if src:
    for row, entry in table.items():
      if row != "source_only" and "target_mpjpe" in entry:
        entry["gain_mm"], entry["gain_in_stds"] = gain_over_source(src, entry["target_mpjpe"])
  floor = oracle_floor(table)
  ora = table[floor]["target_mpjpe"] if floor else None
  if src and ora:
    for entry in table.values():
      if "target_mpjpe" in entry:
        entry["gap_closure"] = (src["mean"] - entry["target_mpjpe"]["mean"]) / (
            src["mean"] - ora["mean"])
  return table


def gain_over_source(source, row):
  """(source-only - row) target MPJPE in mm, and that gain in units of the seed noise
  sqrt(std_source^2 + std_row^2) (None with a single seed or no spread). The acceptance bar of
  the adaptation issue is a gain above 3 such units."""
  gain = source["mean"] - row["mean"]
  noise = float(np.hypot(source["std"], row["std"]))
  return gain, (gain / noise if noise > 0 else None)


def oracle_floor(table):
  """The oracle row with the lowest target MPJPE (the tightest floor), or None."""
  present = [r for r in ORACLES if "target_mpjpe" in table.get(r, {})]
  return min(present, key=lambda r: table[r]["target_mpjpe"]["mean"]) if present else None


def _fmt(stat, digits=1):
  return "n/a" if not stat else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _fmt_gain(entry):
  if "gain_mm" not in entry:
    return ""
  sigmas = entry["gain_in_stds"]
  return f"{entry['gain_mm']:+.1f}" + ("" if sigmas is None else f" ({sigmas:+.1f})")


def write_markdown(path, table, per_run, out, command, residuals, shared_source=False):
  floor = oracle_floor(table)
  lines = ["# Results on the synthetic domain-shift benchmark", "",
           "Produced by:", "", "```", command, "```", "",
           *(["With --shared_source, G^s and the oracle are trained once (seed 0): their ± 0.0 is "
              "not seed noise, and the spread of the adaptation rows is the adaptation's alone "
              "(data order, projection heads).", ""] if shared_source else []),
           "Target MPJPE / PA-MPJPE on `target_test` (mm, mean ± sample std over seeds) of the "
           "checkpoint picked by the label-free rule; `best-by-labels` is the target MPJPE (on "
           "the per-loop evaluation subset) of the checkpoint target labels would have picked, "
           "reported for comparison only. Gap closure = (source-only − row) / (source-only − "
           f"oracle), with the oracle row that reaches the lower target error "
           f"({table[floor]['label'] if floor else 'none run'}).", "",
           "| row | seeds | target MPJPE | target PA-MPJPE | source MPJPE | subset: selected / "
           "source_val rule / best-by-labels | latent std (target) | gap closure | gain vs "
           "source-only (mm, in seed stds) |",
           "|---|---|---|---|---|---|---|---|---|"]
  for row, entry in table.items():
    subset = ("" if "subset_mpjpe_selected" not in entry else
              f"{_fmt(entry['subset_mpjpe_selected'])} / "
              f"{_fmt(entry.get('subset_mpjpe_source_val_rule'))} / "
              f"{_fmt(entry['subset_mpjpe_best_by_labels'])}")
    closure = entry.get("gap_closure")
    lines.append(f"| {entry['label']} | {entry['num_seeds']} | {_fmt(entry.get('target_mpjpe'))}"
                 f" | {_fmt(entry.get('target_pa_mpjpe'))} | {_fmt(entry.get('source_mpjpe'))} | "
                 f"{subset} | {_fmt(entry.get('target_latent_std'), 3)} | "
                 f"{'' if closure is None else f'{100 * closure:.0f}%'} | "
                 f"{_fmt_gain(entry)} |")
  if residuals:
    lines += ["", "Relation residuals |T(G^s(x)) − G^s(T(x))| before adaptation (latent units, "
              "seed 0): how much each relation can teach on this shift.", "",
              "| relation | source | target |", "|---|---|---|"]
    for key in residuals["relation_residuals_target"]:
      lines.append(f"| {key} | {residuals['relation_residuals_source'][key]:.4f} | "
                   f"{residuals['relation_residuals_target'][key]:.4f} |")
  correlations = {}
  for runs in per_run.values():
    for run in runs.values():
      for name, value in (run.get("criterion_correlations") or {}).items():
        if value is not None:
          correlations.setdefault(name, []).append(value)
  if correlations:
    lines += ["", "Label-free checkpoint criteria: Spearman correlation, across the snapshots of "
              "each adaptation run, between the criterion and the target test error (positive = "
              "minimising the criterion tracks the target error); mean ± std over all runs.", "",
              "| criterion | correlation | runs |", "|---|---|---|"]
    for name, values in sorted(correlations.items()):
      lines.append(f"| {name} | {np.mean(values):+.2f} ± {np.std(values):.2f} | {len(values)} |")
  lines += ["", f"Raw per-run numbers: `{os.path.join(out, 'results.json')}`; adaptation "
            f"curves: `{os.path.join(out, 'adaptation_curves.png')}`.", ""]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write("\n".join(lines))


def _floor_mean(table):
  floor = oracle_floor(table)
  return table[floor]["target_mpjpe"]["mean"] if floor else None


def plot_curves(out, curves, oracle_mean=None, source_mean=None):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for row, runs in curves.items():
    steps = sorted({r["step"] for run in runs for r in run})
    means = [np.mean([r["target_test_mpjpe"] for run in runs for r in run if r["step"] == s])
             for s in steps]
    ax.plot(steps, means, marker="o", ms=3, label=ROWS[row][0])
  for value, name, style in ((source_mean, "source only", "--"), (oracle_mean, "oracle", ":")):
    if value:
      ax.axhline(value, color="k", linestyle=style, linewidth=1, label=name)
  ax.set_xlabel("adaptation step")
  ax.set_ylabel("target MPJPE (mm, evaluation subset)")
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  path = os.path.join(out, "adaptation_curves.png")
  fig.savefig(path, dpi=120)
  return path


def report(out):
  """Rewrites the markdown table and the curves plot from the runs recorded in OUT."""
  payload = json.load(open(os.path.join(out, "results.json")))
  per_run = {row: {int(k): v for k, v in runs.items()} for row, runs in payload["per_run"].items()}
  curves, residuals = {}, None
  for row, runs in per_run.items():
    for seed in runs:
      if row in ("source_only",) + ORACLES:
        continue
      results = json.load(open(os.path.join(out, f"seed{seed}", row, "results.json")))
      runs[seed] = summarise(row, results)  # recomputed from the run itself
      curves.setdefault(row, []).append(results["curve"])
      if row == "full" and seed == 0:
        residuals = results["before_adaptation"]
  payload["per_run"] = per_run
  table = aggregate(per_run)
  payload["rows"] = table
  with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(payload, f, indent=2, default=float)
  if FLAGS.results_md:
    write_markdown(FLAGS.results_md, table, per_run, out, payload["command"], residuals,
                   "--shared_source" in payload["command"])
  plot_curves(out, curves, _floor_mean(table),
              table.get("source_only", {}).get("target_mpjpe", {}).get("mean"))


def main(argv):
  del argv
  if not FLAGS.data_dir or not FLAGS.output:
    print("error: --data_dir and --output are required", file=sys.stderr)
    sys.exit(2)
  rows = FLAGS.rows or list(ROWS)
  unknown = sorted(set(rows) - set(ROWS))
  if unknown:
    print(f"error: unknown rows {unknown}; known: {list(ROWS)}", file=sys.stderr)
    sys.exit(2)
  if not FLAGS.report_only and not os.path.isfile(os.path.join(FLAGS.data_dir, "manifest.json")):
    print(f"error: no benchmark manifest in --data_dir {FLAGS.data_dir}", file=sys.stderr)
    sys.exit(2)
  command = " ".join(shlex.quote(a) for a in sys.argv)
  out = os.path.abspath(FLAGS.output)
  if FLAGS.report_only:
    report(out)
    return
  seeds = list(range(FLAGS.seeds))
  global _progress
  _progress = progress.JobProgress(count_stages(rows, seeds, FLAGS.shared_source),
                                   tag="[ablation] ")
  dirs = prelearn(out, os.path.abspath(FLAGS.data_dir), rows)
  sources = train_sources(out, dirs, seeds, rows)
  per_run, curves, residuals = {}, {}, None
  for row in rows:
    for seed in seeds:
      results = run_row(row, seed, out, dirs, sources)
      per_run.setdefault(row, {})[seed] = summarise(row, results)
      if "curve" in results:
        curves.setdefault(row, []).append(results["curve"])
      if row == "full" and seed == 0:
        residuals = results["before_adaptation"]
      table = aggregate(per_run)
      payload = {"command": command, "rows": table, "per_run": per_run,
                 "prelearn": {k: json.load(open(os.path.join(v, "results.json")))
                              for k, v in dirs.items()}}
      with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(payload, f, indent=2, default=float)
      if FLAGS.results_md:
        write_markdown(FLAGS.results_md, table, per_run, out, command, residuals,
                       FLAGS.shared_source)
  table = aggregate(per_run)
  plot_curves(out, curves, _floor_mean(table),
              table.get("source_only", {}).get("target_mpjpe", {}).get("mean"))
  for row, entry in table.items() if FLAGS.print_rows else ():
    print(f"{entry['label']:45s} {_fmt(entry.get('target_mpjpe'))}")


if __name__ == "__main__":
  app.run(main)
