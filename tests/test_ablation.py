"""The ablation table (`evaluation/ablation.py`): typed rows, per-run summaries of typed adaptation
results, aggregation over seeds, gap closure, the markdown table; tools/ablation.py's bad flags."""

import json
import os

import numpy as np
import pytest

from cli_harness import run_command
import shared_stages
from sa3dhp_tf.evaluation import ablation as ablation_lib
from sa3dhp_tf.evaluation.adaptation_results import AdaptationResults

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def ablation():
  return ablation_lib


def _run(mpjpe, selected=None):
  out = {"target_mpjpe": mpjpe, "target_pa_mpjpe": mpjpe / 2, "source_mpjpe": 100.0,
         "target_latent_std": 0.2}
  if selected is not None:
    out.update(subset_mpjpe_selected=selected, subset_mpjpe_best_by_labels=selected - 5,
               spread_before=0.2, spread_selected=0.1)
  return out


def test_aggregate_mean_std_and_gap_closure(ablation):
  per_run = {"source_only": {0: _run(300.0), 1: _run(310.0), 2: _run(320.0)},
             "oracle": {0: _run(100.0), 1: _run(100.0), 2: _run(100.0)},
             "full": {0: _run(200.0, 205.0), 1: _run(210.0, 215.0), 2: _run(220.0, 225.0)}}
  table = ablation.aggregate(per_run)
  assert table["full"]["target_mpjpe"]["mean"] == pytest.approx(210.0)
  assert table["full"]["target_mpjpe"]["std"] == pytest.approx(np.std([200, 210, 220], ddof=1))
  # (310 - 210) / (310 - 100)
  assert table["full"]["gap_closure"] == pytest.approx(100.0 / 210.0)
  assert table["full"]["gain_mm"] == pytest.approx(100.0)
  # seed noise: hypot of the two sample stds (10 each)
  assert table["full"]["gain_in_stds"] == pytest.approx(100.0 / np.hypot(10.0, 10.0))
  assert "gain_mm" not in table["source_only"]
  assert table["source_only"]["gap_closure"] == pytest.approx(0.0)
  assert table["oracle"]["gap_closure"] == pytest.approx(1.0)
  assert table["full"]["subset_mpjpe_best_by_labels"]["mean"] == pytest.approx(210.0)


def test_gap_closure_uses_the_tighter_oracle(ablation):
  per_run = {"source_only": {0: _run(300.0)}, "oracle": {0: _run(280.0)},
             "oracle_finetune": {0: _run(200.0)}, "full": {0: _run(250.0, 250.0)}}
  table = ablation.aggregate(per_run)
  assert ablation.oracle_floor(table) == "oracle_finetune"
  assert table["full"]["gap_closure"] == pytest.approx(0.5)  # (300 - 250) / (300 - 200)
  assert table["oracle"]["gap_closure"] == pytest.approx(0.2)


def test_markdown_lists_every_row_and_the_command(ablation, tmp_path):
  per_run = {"source_only": {0: _run(300.0)}, "full": {0: _run(250.0, 250.0)},
             "oracle": {0: _run(100.0)}}
  table = ablation.aggregate(per_run)
  residuals = {"relation_residuals_source": {"z3": 0.01}, "relation_residuals_target": {"z3": 0.03}}
  path = tmp_path / "results.md"
  ablation.write_markdown(str(path), table, per_run, str(tmp_path), "tools/ablation.py --x",
                          residuals)
  text = path.read_text()
  assert "tools/ablation.py --x" in text
  for row in ("Source only", "full method", "oracle"):
    assert row in text
  assert "| z3 | 0.0100 | 0.0300 |" in text
  assert "25%" in text  # (300 - 250) / (300 - 100)
  assert "| +50.0 |" in text  # one seed: a gain in mm, no noise estimate


def test_bad_flags_exit_2(tmp_path):
  for args, needle in [(["--data_dir", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--rows", "full,nope"], "nope"),
                       (["--data_dir", str(tmp_path), "--output", str(tmp_path / "o")],
                        "manifest"),
                       (["--data_dir", str(tmp_path), "--output", str(tmp_path / "o"),
                         "--seeds=2", "--seed_list=0,2"], "--seed_list")]:
    done = run_command(["tools/ablation.py", *args], cwd=str(tmp_path), timeout=120)
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr


def test_rows_are_typed_and_name_registered_energies():
  from sa3dhp_tf.modeling import energies
  assert ablation_lib.ORACLES == ("oracle", "oracle_finetune", "oracle_joint")
  full = ablation_lib.get_row("full")
  assert full.energies == ("lcr", "hcr", "z3", "v2", "v3") and full.relation_nets == "paper"
  assert not ablation_lib.get_row("source_only").adapts and full.adapts
  assert ablation_lib.get_row("relations_only").energies == ("z3", "v2", "v3")
  assert ablation_lib.get_row("screen_pick").relation_nets == "paper"
  for row in ablation_lib.ROWS:
    for energy in row.energies or ():
      energies.get_energy(energy)  # every energy a row names is registered
  with pytest.raises(KeyError, match="unknown ablation row 'nope'"):
    ablation_lib.get_row("nope")


def test_row_bindings_name_real_settings():
  import gin
  import sa3dhp_tf.tasks  # noqa: F401  (registers every configurable a stage reaches)
  rows = [row for row in ablation_lib.ROWS if row.bindings]
  assert [row.name for row in rows] == ["oracle", "oracle_finetune", "oracle_joint",
                                        "full_head_warmup"]
  try:
    for row in rows:
      for binding in row.oracle_bindings("/g_s", "/bench", 7) if row.oracle else row.bindings:
        gin.parse_config(binding)
    assert gin.query_parameter("RelationDistillationModel.head_warmup_steps") == 200
    assert gin.query_parameter("source.extra_sources") == (("/bench", "source", 1.0),)
    assert gin.query_parameter("source.steps") == 7
    assert gin.query_parameter("source.init_dir") == "/g_s"
    with pytest.raises(ValueError):
      gin.parse_config("RelationDistillationModel.head_warmup_step = 200")
  finally:
    gin.clear_config()


def _adaptation_results(target, source, curve):
  return AdaptationResults(
      energies=["lcr"], theta=30.0, selection_rule="final", selected_step=curve[-1]["step"],
      best_step_by_target_labels=0, target_test_mpjpe_at_best_step_subset=190.0,
      target_test_mpjpe_at_selected_step_subset=curve[-1]["target_test_mpjpe"],
      selected={"target_test": {"mpjpe": target, "pa_mpjpe": target / 2, "latent_std": 0.3},
                "source_test": {"mpjpe": source}},
      criterion_correlations={"source_val_mpjpe": 0.5}, before_adaptation={},
      latent_spread_target_before=0.4, latent_spread_target_selected=0.2,
      collapsed_at_step=None, curve=curve)


def test_summarise_reads_the_typed_results_and_their_json(tmp_path):
  curve = [{"step": 0, "source_val_mpjpe": 120.0, "target_test_mpjpe": 190.0},
           {"step": 5, "source_val_mpjpe": 100.0, "target_test_mpjpe": 210.0},
           {"step": 10, "source_val_mpjpe": 110.0, "target_test_mpjpe": 200.0}]
  results = _adaptation_results(205.0, 101.0, curve)
  results.save(str(tmp_path))
  loaded = AdaptationResults.load(str(tmp_path))
  assert loaded == results
  summary = ablation_lib.summarise("full", loaded)
  assert summary["target_mpjpe"] == 205.0 and summary["target_pa_mpjpe"] == 102.5
  assert summary["source_mpjpe"] == 101.0 and summary["selected_step"] == 10
  assert summary["subset_mpjpe_selected"] == 200.0
  assert summary["subset_mpjpe_best_by_labels"] == 190.0
  # The 'source_val' rule would have picked step 5 (source val 100.0), at 210.0 on the target.
  assert summary["subset_mpjpe_source_val_rule"] == 210.0
  assert ablation_lib.summarise("full", loaded.to_json()) == summary
  with pytest.raises(KeyError, match="curve"):
    AdaptationResults.from_json({k: v for k, v in results.to_json().items() if k != "curve"})


def test_seed_list_parses_and_rejects(ablation):
  assert ablation.parse_seed_list(None, 3) == [0, 1, 2]
  assert ablation.parse_seed_list(["2", "0"], 3) == [2, 0]
  for bad, needle in [(["3"], "'3'"), (["x"], "'x'"), (["-1"], "'-1'"), (["1", "1"], "twice")]:
    with pytest.raises(ablation.errors.UserError, match=needle):
      ablation.parse_seed_list(bad, 3)


def test_earlier_runs_are_kept_only_under_the_same_settings(ablation, tmp_path):
  settings = ablation.run_settings("/b", ["g.gin"], ["x = 1"], 5, False)
  assert ablation.earlier_runs(str(tmp_path), settings) == {"per_run": {}, "commands": []}
  (tmp_path / "results.json").write_text(json.dumps(
      {"command": "c1", "commands": ["c1"], "settings": settings,
       "per_run": {"source_only": {"1": _run(200.0)}}}))
  kept = ablation.earlier_runs(str(tmp_path), settings)
  assert kept == {"per_run": {"source_only": {1: _run(200.0)}}, "commands": ["c1"]}
  # other settings: the finished runs in OUT would be reused under them, so it is an error
  other = ablation.run_settings("/b", ["g.gin"], ["x = 2"], 5, False)
  with pytest.raises(ablation.errors.UserError, match=r"other settings \(gin_bindings differ"):
    ablation.earlier_runs(str(tmp_path), other)
  # a table of an older version, without settings: compared by its command line
  (tmp_path / "results.json").write_text(json.dumps(
      {"command": "tools/ablation.py --data_dir=/b --gin_file=g.gin '--gin_bindings=x = 1' "
                  "--finetune_steps=5", "per_run": {"source_only": {"1": _run(200.0)}}}))
  assert ablation.earlier_runs(str(tmp_path), settings)["per_run"] == {
      "source_only": {1: _run(200.0)}}
  with pytest.raises(ablation.errors.UserError, match="finetune_steps differ"):
    ablation.earlier_runs(str(tmp_path), ablation.run_settings("/b", ["g.gin"], ["x = 1"], 6,
                                                               False))
  for bad in ('{"per_run": ', '{"per_run": {}}'):
    (tmp_path / "results.json").write_text(bad)
    with pytest.raises(ablation.errors.UserError, match="results.json"):
      ablation.earlier_runs(str(tmp_path), settings)


def test_seed_list_commands_add_up_to_one_table(tmp_path_factory, tmp_path):
  """Two tools/ablation.py commands into one OUT, seed 1 then seed 0 (--seed_list), on the tiny
  chain's pre-learned stages: one table with both seeds, each the number of its own G^s run,
  and both commands; a third command with other settings is refused before it runs anything
  (the finished runs in OUT would be reused under its settings)."""
  chain = shared_stages.tiny_chain(tmp_path_factory)
  out = tmp_path / "runs"
  (out / "prelearn").mkdir(parents=True)
  for role, name in [("pose_aae", "pose"), ("motion_aae", "motion"), ("relation_nets", "rel")]:
    os.symlink(chain[name], out / "prelearn" / role)
  base = ["tools/ablation.py", f"--data_dir={chain['bench']}", f"--output={out}", "--seeds=2",
          "--gin_file=tiny/stages.gin", "--rows=source_only", "--finetune_steps=2"]
  for seeds in ("1", "0"):
    done = run_command([*base, f"--seed_list={seeds}", f"--results_md={tmp_path / 't.md'}"],
                       cwd=str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
  payload = json.loads((out / "results.json").read_text())
  assert sorted(payload["per_run"]["source_only"]) == ["0", "1"]
  for seed in (0, 1):
    stage = json.loads((out / f"seed{seed}" / "source" / "results.json").read_text())
    assert payload["per_run"]["source_only"][str(seed)]["target_mpjpe"] == pytest.approx(
        stage["target_test"]["mpjpe"])
  assert payload["rows"]["source_only"]["num_seeds"] == 2
  assert [c.split("--seed_list=")[1].split()[0] for c in payload["commands"]] == ["1", "0"]
  assert "--seed_list=1" in (tmp_path / "t.md").read_text()
  before = (out / "results.json").read_text()
  done = run_command([*base, "--seed_list=0", "--finetune_steps=3"], cwd=str(tmp_path),
                     timeout=600)
  assert done.returncode == 2, done.stderr[-3000:]
  errors_seen = [l for l in done.stderr.splitlines() if l.startswith("error:")]
  assert len(errors_seen) == 1 and "finetune_steps differ" in errors_seen[0], done.stderr
  assert (out / "results.json").read_text() == before


def test_paired_gain_over_the_seeds_both_ran(ablation, tmp_path):
  per_run = {"source_only": {0: _run(200.0), 1: _run(210.0), 2: _run(190.0)},
             "full": {0: _run(190.0, 1.0), 1: _run(215.0, 1.0)}}
  table = ablation.aggregate(per_run)
  paired = table["full"]["paired_gain_mm"]
  # per seed: +10, -5 -> mean 2.5, sample std sqrt(2 * 7.5^2) = 10.607
  assert paired["n"] == 2
  assert paired["mean"] == pytest.approx(2.5)
  assert paired["std"] == pytest.approx(10.6066, abs=1e-3)
  path = tmp_path / "t.md"
  ablation.write_markdown(str(path), table, per_run, str(tmp_path), "cmd", None)
  assert "+2.5 ± 10.6 (n=2)" in path.read_text()
  assert "paired_gain_mm" not in table["source_only"]


def _table(command, per_run, settings=None):
  payload = {"command": command, "per_run": {r: {str(s): v for s, v in runs.items()}
                                             for r, runs in per_run.items()}}
  if settings is not None:
    payload["settings"] = settings
  return payload


def test_merge_tables_joins_seeds_and_checks_reproduced_runs(ablation):
  cmd = ("tools/ablation.py --data_dir=/b --output=/o --seeds=3 --gin_file=experiments/demo.gin "
         "'--gin_bindings=adapt.steps = 10' --rows=source_only,full")
  old = _table(cmd, {"source_only": {0: _run(200.0), 2: _run(190.0)}, "full": {0: _run(220.0, 1)}})
  new = _table(cmd.replace("--seeds=3", "--seeds=3 --seed_list=2,1"),
               {"source_only": {2: _run(190.0), 1: _run(210.0)}, "full": {1: _run(205.0, 1)}},
               ablation.run_settings("/b", ["experiments/demo.gin"], ["adapt.steps = 10"], 2000,
                                     False))
  merged = ablation.merge_tables({"old": old, "new": new})
  assert list(merged["per_run"]["source_only"]) == [0, 1, 2]
  assert merged["rows"]["source_only"]["num_seeds"] == 3
  assert merged["rows"]["full"]["paired_gain_mm"]["mean"] == pytest.approx(-7.5)  # -20, +5
  assert merged["reproduced"] == [{"row": "source_only", "seed": 2, "target_mpjpe": 190.0,
                                   "tables": ["old", "new"]}]
  assert merged["run_origin"]["full/seed1"] == "new"
  assert len(merged["commands"]) == 2
  conflict = _table(cmd, {"source_only": {2: _run(191.0)}})
  with pytest.raises(ablation.errors.UserError, match="row source_only seed 2"):
    ablation.merge_tables({"old": old, "conflict": conflict})
  other = _table(cmd.replace("adapt.steps = 10", "adapt.steps = 20"), {})
  with pytest.raises(ablation.errors.UserError, match="gin_bindings differ"):
    ablation.merge_tables({"old": old, "other": other})


def test_merge_tool_cli(tmp_path):
  cmd = "tools/ablation.py --data_dir=/b --output=/o --seeds=2 --rows=source_only"
  for name, seed, mpjpe in (("a", 0, 200.0), ("b", 1, 210.0)):
    (tmp_path / f"{name}.json").write_text(json.dumps(_table(cmd, {"source_only": {seed: _run(
        mpjpe)}})))
  done = run_command(["tools/merge_ablation.py", f"--table={tmp_path / 'a.json'}",
                      f"--table={tmp_path / 'b.json'}", f"--output={tmp_path / 'm'}"],
                     cwd=str(tmp_path), timeout=120)
  assert done.returncode == 0, done.stderr
  merged = json.loads((tmp_path / "m" / "results.json").read_text())
  assert merged["rows"]["source_only"]["target_mpjpe"]["mean"] == pytest.approx(205.0)
  assert "| Source only (G^s) | 2 | 205.0 ± 7.1 |" in (tmp_path / "m" / "table.md").read_text()
  (tmp_path / "bad.json").write_text("{")
  (tmp_path / "row.json").write_text(json.dumps(_table(cmd, {"nope": {0: _run(1.0)}})))
  for args, needle in [([f"--table={tmp_path / 'a.json'}"], "--table"),
                       ([f"--table={tmp_path / 'a.json'}", f"--table={tmp_path / 'bad.json'}"],
                        "bad.json"),
                       ([f"--table={tmp_path / 'a.json'}", f"--table={tmp_path / 'nope.json'}"],
                        "nope.json"),
                       ([f"--table={tmp_path / 'a.json'}", f"--table={tmp_path / 'row.json'}"],
                        "unknown ablation row 'nope'")]:
    done = run_command(["tools/merge_ablation.py", *args, f"--output={tmp_path / 'm2'}"],
                       cwd=str(tmp_path), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert not (tmp_path / "m2").exists()


def test_settings_from_command_reads_every_spelling(ablation):
  want = ablation.run_settings("/b", ["experiments/demo.gin", "x.gin"], ["adapt.steps = 10"],
                               500, True)
  for cmd in ("tools/ablation.py --data_dir=/b --gin_file=experiments/demo.gin --gin_file=x.gin "
              "'--gin_bindings=adapt.steps = 10' --finetune_steps=500 --shared_source",
              "tools/ablation.py --data_dir /b --gin_file experiments/demo.gin -gin_file=x.gin "
              "--gin_bindings 'adapt.steps = 10' --seeds 3 --finetune_steps 500 "
              "--shared_source=true --rows source_only"):
    assert ablation.settings_from_command(cmd) == want, cmd
  # absent flags at tools/ablation.py's defaults; --noshared_source
  assert ablation.settings_from_command("tools/ablation.py --data_dir=/b --noshared_source") == \
      ablation.run_settings("/b", ["experiments/cpu_budget.gin"], [], 2000, False)
  for cmd, needle in (("tools/ablation.py --data_dir", "--data_dir has no value"),
                      ("tools/ablation.py --finetune_steps=many", "--finetune_steps=many"),
                      ("tools/ablation.py --shared_source=maybe", "not a boolean")):
    with pytest.raises(ablation.errors.UserError, match=needle):
      ablation.settings_from_command(cmd)


def test_setting_flag_defaults_match_the_binary():
  """settings_from_command fills absent flags with tools/ablation.py's defaults, kept beside it
  in the library: read the binary's own flag definitions in a fresh interpreter."""
  import subprocess
  import sys
  code = ("import importlib.util, json, sys\n"
          "spec = importlib.util.spec_from_file_location('ablation_binary', sys.argv[1])\n"
          "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
          "from absl import flags\n"
          "print(json.dumps({n: flags.FLAGS[n].default for n in sys.argv[2:]}))\n")
  names = ["data_dir", "gin_file", "gin_bindings", "finetune_steps", "shared_source"]
  done = subprocess.run([sys.executable, "-c", code, os.path.join(REPO, "tools", "ablation.py"),
                         *names], capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, PYTHONPATH=REPO))
  assert done.returncode == 0, done.stderr
  assert json.loads(done.stdout.strip().splitlines()[-1]) == {
      n: ablation_lib._SETTING_FLAGS[n] for n in names}


def test_curve_summary_pairs_the_change_by_run(ablation):
  run_a = [{"step": 0, "target_test_mpjpe": 200.0}, {"step": 100, "target_test_mpjpe": 190.0}]
  run_b = [{"step": 0, "target_test_mpjpe": 150.0}, {"step": 100, "target_test_mpjpe": 160.0},
           {"step": 200, "target_test_mpjpe": 170.0}]
  steps, means, changes = ablation.curve_summary([run_a, run_b])
  assert steps == [0, 100, 200]
  assert means == [175.0, 175.0, 170.0]
  assert changes == [0.0, 0.0, 20.0]  # (-10 + 10) / 2; step 200: run b alone
