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
The rows and the table are `sa3dhp_tf/evaluation/ablation.py`, the runs
`sa3dhp_tf/tasks/ablation_runs.py`; this binary parses flags and prints.
"""

import json
import os
import shlex
import sys

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Benchmark directory.")
flags.DEFINE_string("output", None, "Output directory for all runs and results.")
flags.DEFINE_integer("seeds", 3, "Seeds per row.")
flags.DEFINE_multi_string("gin_file", ["experiments/cpu_budget.gin"],
                          "Gin files passed to every stage.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings passed to every stage.")
flags.DEFINE_list("rows", None, "Rows to run, in this order (default: all, most informative "
                  "first, so that an interrupted run still has the key rows).")
flags.DEFINE_integer("finetune_steps", 2000, "Training steps of the oracle_finetune and "
                     "oracle_joint rows (G^s trained further on labeled target frames).")
flags.DEFINE_list("seed_list", None, "Run only these of the --seeds seeds (e.g. `2` to finish one "
                  "seed's runs first, or a share of the seeds per machine). The table aggregates "
                  "every run recorded in OUT/results.json by earlier runs with the same settings.")
flags.DEFINE_bool("shared_source", False, "Train G^s and the oracle once (seed 0) only.")
flags.DEFINE_string("results_md", None, "Where to write the markdown table.")
flags.DEFINE_bool("print_rows", True, "Print every row's target MPJPE at the end.")
flags.DEFINE_bool("report_only", False, "Rewrite the table and plot from OUT's finished runs "
                  "without running anything.")


def main(argv):
  errors.check_positional(argv)
  from sa3dhp_tf import json_files
  from sa3dhp_tf.evaluation import ablation  # light: validates flags before TF is imported
  from sa3dhp_tf import settings
  if FLAGS.report_only:
    errors.require_flags(FLAGS, "output")
  else:
    errors.require_flags(FLAGS, "data_dir", "output")
  rows = FLAGS.rows or list(ablation.ROWS_BY_NAME)
  unknown = sorted(set(rows) - set(ablation.ROWS_BY_NAME))
  if unknown:
    raise errors.UserError(f"--rows: unknown rows {unknown}; known: "
                           f"{list(ablation.ROWS_BY_NAME)}")
  settings.check_value("--seeds", FLAGS.seeds, settings.integer(1))
  settings.check_value("--finetune_steps", FLAGS.finetune_steps, settings.STEPS)
  seeds = ablation.parse_seed_list(FLAGS.seed_list, FLAGS.seeds)
  command = " ".join(shlex.quote(a) for a in sys.argv)
  out = os.path.abspath(FLAGS.output)
  if FLAGS.results_md:
    errors.ensure_writable_file(FLAGS.results_md, "--results_md")
  if FLAGS.report_only:
    if not os.path.isfile(os.path.join(out, "results.json")):
      raise errors.UserError(f"--report_only: no finished runs in --output {out} (no "
                             "results.json); run the ablation first")
    _print_rows(ablation, ablation.report(out, FLAGS.results_md))
    return
  if not os.path.isfile(os.path.join(FLAGS.data_dir, "manifest.json")):
    raise errors.UserError(f"--data_dir: no benchmark manifest in {FLAGS.data_dir}")
  errors.ensure_writable_dir(out, "--output")
  from sa3dhp_tf import progress
  from sa3dhp_tf.tasks import ablation_runs
  progress.stop_on_sigterm()  # `kill` of the ablation stops its running stage too
  run_settings = ablation.run_settings(os.path.abspath(FLAGS.data_dir), FLAGS.gin_file,
                                       FLAGS.gin_bindings, FLAGS.finetune_steps,
                                       FLAGS.shared_source)
  earlier = ablation.earlier_runs(out, run_settings)
  runner = ablation_runs.StageRunner(
      FLAGS.gin_file, FLAGS.gin_bindings, os.path.join(out, "logs"),
      progress=progress.JobProgress(
          ablation_runs.count_stages(rows, seeds, FLAGS.shared_source), tag="[ablation] "))
  dirs = ablation_runs.prelearn(runner, out, os.path.abspath(FLAGS.data_dir), rows)
  sources = ablation_runs.train_sources(runner, out, os.path.abspath(FLAGS.data_dir), dirs,
                                        seeds, rows, FLAGS.finetune_steps, FLAGS.shared_source)
  # runs of other seeds or rows recorded by earlier commands with these settings stay in the table
  per_run = earlier["per_run"]
  commands = earlier["commands"] + [command] * (command not in earlier["commands"])
  residuals = None
  for row in rows:
    for seed in seeds:
      results = ablation_runs.run_row(runner, row, seed, out, dirs, sources)
      per_run.setdefault(row, {})[seed] = ablation.summarise(row, results)
      if row == "full" and seed == 0:
        residuals = results.before_adaptation
      per_run[row] = dict(sorted(per_run[row].items()))
      table = ablation.aggregate(per_run)
      prelearned = {}
      for role, model_dir in dirs.items():
        with open(os.path.join(model_dir, "results.json")) as f:
          prelearned[role] = json.load(f)
      json_files.write_json(os.path.join(out, "results.json"),
                            {"command": "\n".join(commands), "commands": commands,
                             "settings": run_settings, "rows": table, "per_run": per_run,
                             "prelearn": prelearned})
      if FLAGS.results_md:
        ablation.write_markdown(FLAGS.results_md, table, per_run, out, "\n".join(commands),
                                residuals, FLAGS.shared_source)
  # the curves of earlier commands' runs too: report() reads every run the table records
  _print_rows(ablation, ablation.report(out, FLAGS.results_md))


def _print_rows(ablation, table):
  for entry in table.values() if FLAGS.print_rows else ():
    print(f"{entry['label']:45s} {ablation.format_stat(entry.get('target_mpjpe'))} "
          f"(seeds: {entry['num_seeds']})")


if __name__ == "__main__":
  errors.run(main)
