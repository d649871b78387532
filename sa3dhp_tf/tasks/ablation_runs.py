"""Runs the ablation's stages (tools/ablation.py is the binary; the table is
`evaluation/ablation.py`). Every run is one `python -m sa3dhp_tf.train` subprocess with its own
model dir under OUT, so a rerun skips finished runs and resumes interrupted ones from their
checkpoints. Pre-learning (pose AAE, motion AAE, relation networks, and the placebo relation
networks) is shared by all rows; G^s and the oracles are trained per seed unless
`shared_source`. Nothing here reads flags.
"""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from typing import Sequence

from sa3dhp_tf.evaluation import ablation
from sa3dhp_tf.evaluation.adaptation_results import AdaptationResults
from sa3dhp_tf.modeling import energies as energy_lib


class StageFailed(RuntimeError):
  """A stage subprocess exited with an error; its log file is named."""


STAGE_TITLES = {"pose_aae": "pose AAE E_p/D_p on mocap", "motion_aae": "motion AAE E_m on mocap",
                "relation_nets": "relation networks T^z/T^v",
                "relation_nets_placebo": "placebo relation networks",
                "source": "G^s on labeled source frames",
                **{row.name: row.label for row in ablation.ROWS if row.oracle}}


def count_stages(rows, seeds, shared_source):
  """How many training stages a run of `rows` over `seeds` consists of (finished or not)."""
  entries = [ablation.get_row(r) for r in rows]
  prelearned = 3 + any(e.relation_nets == ablation.PLACEBO_NETS for e in entries)
  sources = (1 if shared_source else len(seeds)) * (1 + sum(r in rows for r in ablation.ORACLES))
  adaptation = len(seeds) * sum(e.adapts for e in entries)
  return prelearned + sources + adaptation


@dataclasses.dataclass(frozen=True)
class StageRunner:
  """Runs stages as `python -m sa3dhp_tf.train` with these gin files and bindings (added after
  each run's own), logging to `log_dir`. With a `progress` (`sa3dhp_tf.progress.JobProgress`)
  each stage is one numbered line with a step bar; without one, `log` gets a line per stage."""
  gin_files: Sequence[str]
  gin_bindings: Sequence[str]
  log_dir: str
  log: object = print
  progress: object = None

  def run(self, stage, model_dir, bindings=(), title=None):
    """Runs one stage unless it already finished; returns its results dict."""
    name = os.path.basename(model_dir.rstrip("/"))
    title = title or STAGE_TITLES.get(name, stage)
    results_path = os.path.join(model_dir, "results.json")
    if (os.path.exists(os.path.join(model_dir, "stage_info.json"))
        and os.path.exists(results_path)):
      if self.progress is not None:
        self.progress.skip(title)
      with open(results_path) as f:
        return json.load(f)
    cmd = [sys.executable, "-m", "sa3dhp_tf.train", f"--stage={stage}",
           *[f"--gin_file={f}" for f in self.gin_files],
           *[f"--gin_bindings={b}" for b in list(bindings) + list(self.gin_bindings)],
           f"--model_dir={model_dir}"]
    os.makedirs(self.log_dir, exist_ok=True)
    parent = os.path.basename(os.path.dirname(model_dir.rstrip("/")))
    if parent.startswith("seed"):  # seed0/source and seed1/source get their own logs
      name = f"{parent}_{name}"
    log_path = os.path.join(self.log_dir, name + ".log")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if self.progress is not None:
      self.progress.announce_logs(self.log_dir)
      returncode = self.progress.run_stage(title, cmd, log_path,
                                           log_path[:-len(".log")] + ".progress", env=env)
    else:
      start = time.time()
      self.log(f"[ablation] {' '.join(shlex.quote(c) for c in cmd)}")
      with open(log_path, "a") as log:
        returncode = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    env=env).returncode
      if returncode == 0:
        self.log(f"[ablation]   done in {time.time() - start:.0f} s")
    if returncode != 0:
      raise StageFailed(f"stage {stage} failed (exit {returncode}); see {log_path}")
    with open(results_path) as f:
      return json.load(f)


def prelearn(runner, out, data_dir, rows):
  """Pose AAE, motion AAE, the relation networks (and the placebo ones if a row needs them).
  Returns role -> model dir."""
  dirs = {k: os.path.join(out, "prelearn", k) for k in
          ("pose_aae", "motion_aae", "relation_nets", "relation_nets_placebo")}
  runner.run("pose_aae", dirs["pose_aae"], [f"pose_aae.data_dir='{data_dir}'"])
  runner.run("motion_aae", dirs["motion_aae"], [f"motion_aae.pose_aae_dir='{dirs['pose_aae']}'"])
  common = [f"relation_nets.pose_aae_dir='{dirs['pose_aae']}'",
            f"relation_nets.motion_aae_dir='{dirs['motion_aae']}'",
            f"relation_nets.relation_keys={ablation.PAPER_RELATIONS}"]
  runner.run("relation_nets", dirs["relation_nets"], common)
  if any(ablation.get_row(r).relation_nets == ablation.PLACEBO_NETS for r in rows):
    runner.run("relation_nets", dirs["relation_nets_placebo"],
               common + [f"relation_nets.pose_side_overrides={ablation.PLACEBO_OVERRIDES}"])
  else:
    del dirs["relation_nets_placebo"]
  return dirs


def train_sources(runner, out, data_dir, dirs, seeds, rows, finetune_steps, shared_source=False):
  """G^s and the oracle rows in `rows`, per seed (once, seed 0, with `shared_source`), on the
  benchmark `data_dir`. Returns seed -> role -> model dir."""
  sources = {}
  for seed in seeds:
    base = 0 if shared_source else seed
    sources[seed] = {role: os.path.join(out, f"seed{base}", role)
                     for role in ("source",) + ablation.ORACLES}
    common = [f"source.pose_aae_dir='{dirs['pose_aae']}'", f"source.seed={base}"]
    runner.run("source", sources[seed]["source"], common)
    for name in ablation.ORACLES:
      if name in rows:
        runner.run("source", sources[seed][name], common + ablation.get_row(name).oracle_bindings(
            sources[seed]["source"], data_dir, finetune_steps))
  return sources


def run_row(runner, row, seed, out, dirs, sources):
  """One row at one seed: the source stage's results dict for rows that do not adapt, an
  `AdaptationResults` for the others."""
  entry = ablation.get_row(row)
  if not entry.adapts:  # trained by train_sources: read, not rerun (nor counted again)
    role = "source" if row == ablation.SOURCE_ONLY else row
    with open(os.path.join(sources[seed][role], "results.json")) as f:
      return json.load(f)
  bindings = [f"adapt.source_dir='{sources[seed]['source']}'",
              f"adapt.energies={entry.energies}", f"adapt.seed={seed}", *entry.bindings]
  # E_m and the relation networks both come from the relation_nets stage.
  needs = energy_lib.requirements(entry.energies)
  if entry.relation_nets or needs & {energy_lib.MOTION_ENCODER, energy_lib.RELATION_NETWORK}:
    key = ("relation_nets_placebo" if entry.relation_nets == ablation.PLACEBO_NETS
           else "relation_nets")
    bindings.append(f"adapt.relation_nets_dir='{dirs[key]}'")
  return AdaptationResults.from_json(
      runner.run("adapt", os.path.join(out, f"seed{seed}", row), bindings,
                 title=f"adapt: {entry.label}, seed {seed}"))
