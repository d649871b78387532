"""The ablation's table: its rows (paper Table 5, controls, baselines, oracles), the per-run
summary of each stage's results, the aggregation over seeds (mean, sample std, gain over
source-only in mm and in seed stds, gap closure against the tighter oracle), the markdown
writer and the curves plot. tools/ablation.py runs the stages (`tasks/ablation_runs.py`) and
calls these; nothing here reads flags.
"""

import dataclasses
import json
import os
import sys
from typing import Optional, Tuple

import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf import json_files
from sa3dhp_tf.evaluation.adaptation_results import AdaptationResults
from sa3dhp_tf.evaluation.checkpoint_selection import SELECTION_RULES  # noqa: F401

PAPER_RELATIONS = ("z3", "v2", "v3")
PAPER_NETS = "paper"
PLACEBO_NETS = "placebo"
# The placebo relation networks: each trained on the pose side of another relation.
PLACEBO_OVERRIDES = {"z3": "z1", "v2": "v1", "v3": "v1"}


@dataclasses.dataclass(frozen=True)
class AblationRow:
  """One row: `energies` is None for a row that does not adapt (source-only, oracles);
  `relation_nets` is 'paper', 'placebo' or None (no relation networks loaded); `bindings`: gin
  bindings of the row's adaptation stage on top of the ablation's own. An oracle's `bindings`
  are those of its `source` stage, formatted with `source_dir` (the seed's G^s), `data_dir`
  (the benchmark) and `finetune_steps`."""
  name: str
  label: str
  energies: Optional[Tuple[str, ...]] = None
  relation_nets: Optional[str] = None
  oracle: bool = False
  bindings: Tuple[str, ...] = ()

  @property
  def adapts(self) -> bool:
    return self.energies is not None

  def oracle_bindings(self, source_dir, data_dir, finetune_steps):
    """An oracle row's `source` stage bindings for one seed's G^s `source_dir`."""
    return [b.format(source_dir=source_dir, data_dir=data_dir, finetune_steps=finetune_steps)
            for b in self.bindings]


_FULL = ("lcr", "hcr", "z3", "v2", "v3")
_TARGET_LABELS = ("source.train_split = 'target_labeled'",)
_FROM_SOURCE = ("source.steps = {finetune_steps}", "source.init_dir = '{source_dir}'")
# Most informative first, so that an interrupted run still has the key rows.
ROWS = (
    AblationRow("source_only", "Source only (G^s)"),
    AblationRow("oracle", "oracle: target-supervised G", oracle=True, bindings=_TARGET_LABELS),
    AblationRow("oracle_finetune", "oracle: G^s fine-tuned on target labels", oracle=True,
                bindings=_TARGET_LABELS + _FROM_SOURCE),
    # Fine-tuning on the target's few labeled subjects alone forgets the source's many
    # (docs/benchmark.md, "The joint oracle"): this one keeps the source labels in every batch.
    AblationRow("oracle_joint", "oracle: G^s fine-tuned on source + target labels", oracle=True,
                bindings=_TARGET_LABELS + _FROM_SOURCE
                + ("source.extra_sources = (('{data_dir}', 'source', 1.0),)",)),
    AblationRow("full", "+L^v_3 (full method)", _FULL, PAPER_NETS),
    AblationRow("hcr", "+L_HCR (contrastive only)", ("lcr", "hcr"), PAPER_NETS),
    AblationRow("lcr", "+L_LCR", ("lcr",)),
    AblationRow("z3", "+L^z_3", ("lcr", "hcr", "z3"), PAPER_NETS),
    AblationRow("v2", "+L^v_2", ("lcr", "hcr", "z3", "v2"), PAPER_NETS),
    AblationRow("full_guard", "full method, source guard", _FULL + ("source",), PAPER_NETS),
    AblationRow("source_loss_only", "control: source loss only", ("source",)),
    AblationRow("placebo", "control: placebo relation nets (full)", _FULL, PLACEBO_NETS),
    AblationRow("relations_only", "relations only (z3, v2, v3; no contrastive)",
                ("z3", "v2", "v3"), PAPER_NETS),
    # The gradient-alignment screen's pick among the default relation networks (docs/results.md,
    # the 8-clip screen): v3 and the source loss point towards lower target error; z3 and v2 no
    # more than their placebos; LCR, HCR and the spread guard away from it.
    AblationRow("screen_pick", "screen's pick: L^v_3 + source guard", ("v3", "source"),
                PAPER_NETS),
    # Not in the paper (issue 11 item 4): the fresh projection heads of LCR/HCR trained alone
    # first, so that the contrastive gradients reaching G pass through trained heads.
    AblationRow("full_head_warmup", "full method, projection heads warmed up (200 steps)",
                _FULL, PAPER_NETS,
                bindings=("RelationDistillationModel.head_warmup_steps = 200",)),
    AblationRow("dann", "baseline: domain-adversarial (DANN)", ("domain_adversarial",)),
    AblationRow("z3_guard", "+L^z_3, source guard", ("lcr", "hcr", "z3", "source"), PAPER_NETS),
)
ROWS_BY_NAME = {row.name: row for row in ROWS}
ORACLES = tuple(row.name for row in ROWS if row.oracle)
SOURCE_ONLY = "source_only"


def get_row(name):
  try:
    return ROWS_BY_NAME[name]
  except KeyError:
    raise KeyError(f"unknown ablation row {name!r}; rows: {list(ROWS_BY_NAME)}") from None


def summarise(row, results):
  """Per-run numbers of one row: target/source MPJPE of the reported model. `results`: the
  source stage's results dict (rows that do not adapt) or an `AdaptationResults`."""
  if not get_row(row).adapts:
    return {"target_mpjpe": results["target_test"]["mpjpe"],
            "target_pa_mpjpe": results["target_test"]["pa_mpjpe"],
            "source_mpjpe": results["source_test"]["mpjpe"],
            "target_latent_std": results["target_test"]["latent_std"]}
  if not isinstance(results, AdaptationResults):
    results = AdaptationResults.from_json(results)
  selected = results.selected
  return {"target_mpjpe": selected["target_test"]["mpjpe"],
          "target_pa_mpjpe": selected["target_test"]["pa_mpjpe"],
          "source_mpjpe": selected["source_test"]["mpjpe"],
          "target_latent_std": selected["target_test"]["latent_std"],
          "selected_step": results.selected_step,
          "subset_mpjpe_selected": results.target_test_mpjpe_at_selected_step_subset,
          "subset_mpjpe_best_by_labels": results.target_test_mpjpe_at_best_step_subset,
          "best_step_by_labels": results.best_step_by_target_labels,
          "spread_before": results.latent_spread_target_before,
          "spread_selected": results.latent_spread_target_selected,
          "collapsed_at_step": results.collapsed_at_step,
          "criterion_correlations": results.criterion_correlations,
          # Post hoc, from the recorded curve: what the 'source_val' rule would have reported.
          "subset_mpjpe_source_val_rule": min(
              results.curve, key=lambda r: r["source_val_mpjpe"])["target_test_mpjpe"]}


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return None, None
  return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(per_run):
  table = {}
  for row, runs in per_run.items():
    entry = {"label": get_row(row).label, "energies": get_row(row).energies,
             "num_seeds": len(runs)}
    for key in ("target_mpjpe", "target_pa_mpjpe", "source_mpjpe", "subset_mpjpe_selected",
                "subset_mpjpe_best_by_labels", "subset_mpjpe_source_val_rule",
                "target_latent_std", "spread_before", "spread_selected"):
      mean, std = _mean_std([r.get(key) for r in runs.values()])
      if mean is not None:
        entry[key] = {"mean": mean, "std": std}
    table[row] = entry
  src = table.get(SOURCE_ONLY, {}).get("target_mpjpe")
  if src:
    for row, entry in table.items():
      if row != SOURCE_ONLY and "target_mpjpe" in entry:
        entry["gain_mm"], entry["gain_in_stds"] = gain_over_source(src, entry["target_mpjpe"])
        paired = paired_gain(per_run[SOURCE_ONLY], per_run[row])
        if paired:
          entry["paired_gain_mm"] = paired
  floor = oracle_floor(table)
  ora = table[floor]["target_mpjpe"] if floor else None
  if src and ora:
    for entry in table.values():
      if "target_mpjpe" in entry:
        entry["gap_closure"] = (src["mean"] - entry["target_mpjpe"]["mean"]) / (
            src["mean"] - ora["mean"])
  return table


def paired_gain(source_runs, row_runs):
  """(source-only - row) target MPJPE per seed, over the seeds both ran: {"mean", "std", "n"},
  or None when they share no seed. Each seed's rows start from that seed's G^s, so the paired
  difference takes G^s's own seed noise out of the comparison (not out of the claim: the
  unpaired gain in seed stds is the issue's bar)."""
  seeds = sorted(set(source_runs) & set(row_runs))
  diffs = [source_runs[s]["target_mpjpe"] - row_runs[s]["target_mpjpe"] for s in seeds
           if source_runs[s].get("target_mpjpe") is not None
           and row_runs[s].get("target_mpjpe") is not None]
  if not diffs:
    return None
  mean, std = _mean_std(diffs)
  return {"mean": mean, "std": std, "n": len(diffs)}


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


def format_stat(stat, digits=1):
  """`mean ± std` of a {mean, std} stat, or n/a."""
  return "n/a" if not stat else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _fmt_gain(entry):
  if "gain_mm" not in entry:
    return ""
  sigmas = entry["gain_in_stds"]
  return f"{entry['gain_mm']:+.1f}" + ("" if sigmas is None else f" ({sigmas:+.1f})")


def _fmt_paired(paired):
  if not paired:
    return ""
  return f"{paired['mean']:+.1f} ± {paired['std']:.1f} (n={paired['n']})"


def write_markdown(path, table, per_run, out, command, residuals, shared_source=False,
                   curves=True):
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
           "source-only (mm, in seed stds) | paired by seed: source-only − row (mm, n) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for row, entry in table.items():
    subset = ("" if "subset_mpjpe_selected" not in entry else
              f"{format_stat(entry['subset_mpjpe_selected'])} / "
              f"{format_stat(entry.get('subset_mpjpe_source_val_rule'))} / "
              f"{format_stat(entry['subset_mpjpe_best_by_labels'])}")
    closure = entry.get("gap_closure")
    lines.append(f"| {entry['label']} | {entry['num_seeds']} | "
                 f"{format_stat(entry.get('target_mpjpe'))} | "
                 f"{format_stat(entry.get('target_pa_mpjpe'))} | "
                 f"{format_stat(entry.get('source_mpjpe'))} | "
                 f"{subset} | {format_stat(entry.get('target_latent_std'), 3)} | "
                 f"{'' if closure is None else f'{100 * closure:.0f}%'} | "
                 f"{_fmt_gain(entry)} | {_fmt_paired(entry.get('paired_gain_mm'))} |")
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
  curves_note = (f"; adaptation curves: `{os.path.join(out, 'adaptation_curves.png')}`"
                 if curves else "")
  lines += ["", f"Raw per-run numbers: `{os.path.join(out, 'results.json')}`{curves_note}.", ""]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write("\n".join(lines))
  os.replace(tmp, path)


def floor_mean(table):
  """Target MPJPE mean of the tighter oracle, or None."""
  floor = oracle_floor(table)
  return table[floor]["target_mpjpe"]["mean"] if floor else None


def curve_summary(runs):
  """One row's adaptation curves summed up (runs: a list of curves, each a list of
  {"step", "target_test_mpjpe"}): (steps, mean MPJPE, mean change since step 0 paired by run).
  The change is taken per run before averaging, so a row whose runs are other seeds than
  another row's (other G^s, other step-0 levels) is still compared by what adaptation did.
  A step only some runs reached averages those runs."""
  steps = sorted({r["step"] for run in runs for r in run})
  by_step = [{r["step"]: r["target_test_mpjpe"] for r in run} for run in runs]
  means, changes = [], []
  for step in steps:
    at = [(run[step], run.get(min(run))) for run in by_step if step in run]
    means.append(float(np.mean([value for value, _ in at])))
    changes.append(float(np.mean([value - start for value, start in at])))
  return steps, means, changes


def plot_curves(out, curves, oracle_mean=None, source_mean=None):
  """Each row's target MPJPE per adaptation step (curves: row -> list of run curves): left the
  mean over its runs, right the mean change since step 0, paired by run (`curve_summary`);
  writes OUT/adaptation_curves.png (whole, through a temporary name) and returns its path."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, (level, change) = plt.subplots(1, 2, figsize=(12, 4.5))
  for row, runs in curves.items():
    steps, means, changes = curve_summary(runs)
    label = f"{get_row(row).label} (n={len(runs)})"
    level.plot(steps, means, marker="o", ms=3, label=label)
    change.plot(steps, changes, marker="o", ms=3, label=label)
  for value, name, style in ((source_mean, "source only", "--"), (oracle_mean, "oracle", ":")):
    if value:
      level.axhline(value, color="k", linestyle=style, linewidth=1, label=name)
  change.axhline(0.0, color="k", linewidth=1)
  level.set_ylabel("target MPJPE (mm, evaluation subset), mean over runs")
  change.set_ylabel("change since step 0 (mm), paired by run")
  for ax in (level, change):
    ax.set_xlabel("adaptation step")
    ax.grid(alpha=0.3)
  level.legend(fontsize=7)
  fig.tight_layout()
  path = os.path.join(out, "adaptation_curves.png")
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=120)
  plt.close(fig)
  os.replace(tmp, path)
  return path


def source_only_mean(table):
  return table.get(SOURCE_ONLY, {}).get("target_mpjpe", {}).get("mean")


def parse_seed_list(seed_list, num_seeds):
  """The seeds one command runs: all `num_seeds` (0..num_seeds-1), or those of `seed_list`
  (strings, each one of them), in the given order, without repeats."""
  if not seed_list:
    return list(range(num_seeds))
  seeds = []
  for text in seed_list:
    if not text.strip().isdigit() or int(text) >= num_seeds:
      raise errors.UserError(f"--seed_list: {text!r} is not one of the --seeds={num_seeds} "
                             f"seeds (0..{num_seeds - 1})")
    if int(text) in seeds:
      raise errors.UserError(f"--seed_list: seed {int(text)} is listed twice")
    seeds.append(int(text))
  return seeds


def run_settings(data_dir, gin_files, gin_bindings, finetune_steps, shared_source):
  """What makes two ablation commands' runs comparable rows of one table (everything but the
  rows and seeds they run)."""
  return {"data_dir": data_dir, "gin_files": list(gin_files),
          "gin_bindings": list(gin_bindings), "finetune_steps": int(finetune_steps),
          "shared_source": bool(shared_source)}


def table_settings(payload):
  """The `run_settings` a results.json payload was made with: recorded, or (a table of an older
  version) read off its command line."""
  return payload.get("settings") or settings_from_command(payload["command"])


def differing_settings(settings, other):
  """The names of the settings on which two `run_settings` differ, sorted."""
  return sorted(k for k in settings if other.get(k) != settings[k])


def earlier_runs(out, settings):
  """The runs OUT/results.json records from earlier commands with the same `settings`, so that
  a command running other rows or seeds into OUT adds to the table instead of replacing it.
  Returns {"per_run": row -> seed -> summary, "commands": [...]}; empty when there is no
  earlier table. An earlier table made with other settings is a UserError: its finished runs
  stay in OUT and a stage that finished is skipped, so this command would label them with
  settings they were not trained under (a table of an older version, without `settings`, is
  compared by the settings read off its command line)."""
  path = os.path.join(out, "results.json")
  if not os.path.isfile(path):
    return {"per_run": {}, "commands": []}
  try:
    with open(path) as f:
      payload = json.load(f)
    earlier = table_settings(payload)
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise errors.UserError(f"{path}: the table of earlier runs is not a valid ablation table "
                           f"({e!r}); move it away to start a new table (the runs under OUT "
                           "stay)") from None
  differ = differing_settings(settings, earlier)
  if differ:
    raise errors.UserError(f"--output {out}: holds runs made with other settings "
                           f"({', '.join(differ)} differ; {path}); a finished run there would be "
                           "reused under this command's settings: use another --output")
  per_run = {row: {int(seed): v for seed, v in runs.items()}
             for row, runs in payload["per_run"].items()}
  return {"per_run": per_run, "commands": list(payload.get("commands", [payload["command"]]))}


# tools/ablation.py's setting flags at their defaults (the binary defines its flags itself, as
# binaries do here; a change of a default there must be made here too, tested in test_ablation).
_SETTING_FLAGS = {"data_dir": None, "gin_file": ["experiments/cpu_budget.gin"],
                  "gin_bindings": [], "finetune_steps": 2000, "shared_source": False}
_BOOL_WORDS = {"true": True, "t": True, "1": True, "false": False, "f": False, "0": False}


def settings_from_command(command):
  """`run_settings` of a table that predates them, read off its tools/ablation.py command line
  (flags absent from it at today's defaults). Reads the spellings absl accepts: `--flag=value`,
  `--flag value`, one or two dashes, `--shared_source` / `--noshared_source`; a repeated
  --gin_file / --gin_bindings adds up, any other repeated flag takes the last value."""
  import shlex
  values = {}
  args = shlex.split(command)
  i = 0
  while i < len(args):
    arg = args[i]
    i += 1
    if not arg.startswith("-"):
      continue
    name, has_value, value = arg.lstrip("-").partition("=")
    if name in ("shared_source", "noshared_source") and not has_value:
      values["shared_source"] = name == "shared_source"
      continue
    if name not in _SETTING_FLAGS:
      continue
    if not has_value:
      if i == len(args):
        raise errors.UserError(f"command {command!r}: flag --{name} has no value")
      value = args[i]
      i += 1
    if name in ("gin_file", "gin_bindings"):
      values.setdefault(name, []).append(value)
    elif name == "shared_source":
      if value.lower() not in _BOOL_WORDS:
        raise errors.UserError(f"command {command!r}: --shared_source={value} is not a boolean")
      values[name] = _BOOL_WORDS[value.lower()]
    else:
      values[name] = value
  got = {**_SETTING_FLAGS, **values}
  if not str(got["finetune_steps"]).isdigit():
    raise errors.UserError(f"command {command!r}: --finetune_steps={got['finetune_steps']} is "
                           "not a step count")
  return run_settings(os.path.abspath(got["data_dir"]) if got["data_dir"] else None,
                      got["gin_file"], got["gin_bindings"], got["finetune_steps"],
                      got["shared_source"])


def merge_tables(tables):
  """One table from several tools/ablation.py results.json payloads (`tables`: name -> payload;
  e.g. the seeds of one table run on several machines or sessions). They must share their
  settings; a run (row, seed) in more than one must have the same numbers (then it is one run
  reproduced, listed under "reproduced"). Returns the merged payload."""
  names = list(tables)
  settings = {n: table_settings(tables[n]) for n in names}
  for name in names[1:]:
    differ = differing_settings(settings[name], settings[names[0]])
    if differ:
      raise errors.UserError(f"--table {name}: made with other settings than {names[0]} "
                             f"({', '.join(differ)} differ); its runs are not rows of one table")
  per_run, origin, reproduced = {}, {}, []
  for name in names:
    for row, runs in tables[name]["per_run"].items():
      if row not in ROWS_BY_NAME:
        raise errors.UserError(f"--table {name}: unknown ablation row {row!r}; rows: "
                               f"{list(ROWS_BY_NAME)}")
      for seed, run in runs.items():
        seed = int(seed)
        if seed in per_run.get(row, {}):
          before = per_run[row][seed]["target_mpjpe"]
          if run["target_mpjpe"] != before:
            raise errors.UserError(
                f"--table {name}: row {row} seed {seed} has target MPJPE "
                f"{run['target_mpjpe']!r}, {origin[row, seed]} has {before!r}: two different "
                "runs of one row and seed (not reproduced), so neither is kept silently")
          reproduced.append({"row": row, "seed": seed, "target_mpjpe": before,
                             "tables": [origin[row, seed], name]})
          continue
        per_run.setdefault(row, {})[seed] = run
        origin[row, seed] = name
  order = {row.name: i for i, row in enumerate(ROWS)}
  per_run = {row: dict(sorted(per_run[row].items()))
             for row in sorted(per_run, key=order.__getitem__)}
  commands = []
  for name in names:
    for command in tables[name].get("commands", [tables[name]["command"]]):
      if command not in commands:
        commands.append(command)
  return {"command": "\n".join(commands), "commands": commands, "settings": settings[names[0]],
          "merged_from": names, "run_origin": {f"{r}/seed{s}": n for (r, s), n in origin.items()},
          "reproduced": reproduced, "rows": aggregate(per_run), "per_run": per_run,
          "prelearn": tables[names[0]].get("prelearn")}


def report(out, results_md=None):
  """Rewrites OUT/results.json's table, the markdown table (to `results_md`, if given) and the
  curves plot from the runs recorded in OUT. Returns the table."""
  payload = json.load(open(os.path.join(out, "results.json")))
  per_run = {row: {int(k): v for k, v in runs.items()} for row, runs in payload["per_run"].items()}
  curves, residuals = {}, None
  for row, runs in per_run.items():
    for seed in runs:
      if not get_row(row).adapts:
        continue
      results = AdaptationResults.load(os.path.join(out, f"seed{seed}", row))
      runs[seed] = summarise(row, results)  # recomputed from the run itself
      curves.setdefault(row, []).append(results.curve)
      if row == "full" and seed == 0:
        residuals = results.before_adaptation
  payload["per_run"] = per_run
  table = aggregate(per_run)
  payload["rows"] = table
  json_files.write_json(os.path.join(out, "results.json"), payload)
  if results_md:
    write_markdown(results_md, table, per_run, out, payload["command"], residuals,
                   table_settings(payload)["shared_source"])
  plot_curves(out, curves, floor_mean(table), source_only_mean(table))
  return table


