r"""Merges tools/ablation.py tables of one setting into one table: the seeds or rows of one
ablation run on several machines or in several sessions.

  python tools/merge_ablation.py --table=A/results.json --table=B/results.json \
      --output=OUT [--results_md=OUT/table.md]

The tables must have been made with the same data, gin files, bindings and --finetune_steps
(older tables without recorded settings: read off their command line). A row and seed present
in several tables must carry the same numbers (the same run reproduced; the merged table lists
it under "reproduced"); different numbers are an error, never a silent pick. Writes
OUT/results.json (with each run's table of origin) and the markdown table (default
OUT/table.md). The curves plot needs the runs' directories: tools/ablation.py --report_only
draws it where they are.
"""

import json
import os

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("table", [], "A tools/ablation.py results.json (repeat; at least 2).")
flags.DEFINE_string("output", None, "Output directory for the merged results.json.")
flags.DEFINE_string("results_md", None, "Where to write the markdown table (default "
                    "OUT/table.md).")


def main(argv):
  errors.check_positional(argv)
  from sa3dhp_tf import json_files
  from sa3dhp_tf.evaluation import ablation
  errors.require_flags(FLAGS, "output")
  if len(FLAGS.table) < 2:
    raise errors.UserError("--table: give at least two tools/ablation.py results.json files")
  tables = {}
  for path in FLAGS.table:
    try:
      with open(path) as f:
        payload = json.load(f)
    except (OSError, ValueError) as e:
      raise errors.UserError(f"--table {path}: not a readable JSON file ({e})") from None
    if not isinstance(payload, dict) or not {"command", "per_run"} <= set(payload):
      raise errors.UserError(f"--table {path}: not a tools/ablation.py results.json (no "
                             "command or per_run)")
    tables[path] = payload
  merged = ablation.merge_tables(tables)  # no I/O: a bad table is found before OUT is made
  out = os.path.abspath(FLAGS.output)
  errors.ensure_writable_dir(out, "--output")
  results_md = FLAGS.results_md or os.path.join(out, "table.md")
  errors.ensure_writable_file(results_md, "--results_md")
  json_files.write_json(os.path.join(out, "results.json"), merged)
  ablation.write_markdown(results_md, merged["rows"], merged["per_run"], out, merged["command"],
                          None, merged["settings"]["shared_source"], curves=False)
  for item in merged["reproduced"]:
    print(f"reproduced: {item['row']} seed {item['seed']}: {item['target_mpjpe']:.4f} mm in "
          f"{' and '.join(item['tables'])}")
  for row, entry in merged["rows"].items():
    print(f"{entry['label']:50s} {entry['num_seeds']} seeds "
          f"{ablation.format_stat(entry.get('target_mpjpe'))}")


if __name__ == "__main__":
  errors.run(main)
