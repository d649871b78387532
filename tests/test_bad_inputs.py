"""Every bad input of issue 12, run as a real command on the tiny benchmark (README, "Errors").

Each row of `CASES` is one command a user could type. It must exit with status 2, print exactly
one `error:` line that names the culprit, no traceback, and leave nothing where it should not
(the paths listed in `absent`). The commands run two at a time in one module fixture (they share
the benchmark and the trained stages); each row is then checked by its own test.

`docs/errors.md` is generated from this table: `python tests/test_bad_inputs.py` rewrites it and
`test_docs_match_the_table` fails when it is stale.
"""

import concurrent.futures
import dataclasses
import json
import os
import shutil
import struct
import sys
from typing import Callable, Optional, Sequence

import pytest

from cli_harness import own_stderr_lines
from cli_harness import REPO_ROOT
from cli_harness import run_command
import shared_stages
import testing

DOC_PATH = os.path.join(REPO_ROOT, "docs", "errors.md")
TRAIN = ("-m", "sa3dhp_tf.train", "--gin_file=tiny/stages.gin")
EVALUATE = ("-m", "sa3dhp_tf.evaluate")


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  what: str                      # the bad input, for the docs
  args: Sequence[str]            # after the interpreter; {placeholders} from `paths`
  culprit: str                   # must appear in the error line ({placeholders} allowed)
  prepare: Optional[Callable] = None   # prepare(paths, case_dir) -> extra placeholders
  absent: Sequence[str] = ("{out}",)   # must not exist afterwards


# --- preparing damaged copies -------------------------------------------------------------------

def _record_offsets(path):
  """Byte offsets where each TFRecord starts, and the file size (length, crc, data, crc)."""
  offsets, position, size = [], 0, os.path.getsize(path)
  with open(path, "rb") as f:
    while position < size:
      offsets.append(position)
      f.seek(position)
      (length,) = struct.unpack("<Q", f.read(8))
      position += 8 + 4 + length + 4
  return offsets, size


def _copy(source, copy):
  """A writable copy (the shared stages are read-only, and copytree keeps their modes)."""
  shutil.copytree(source, copy)
  shared_stages.make_writable(copy)


def _copy_bench(paths, case_dir):
  copy = os.path.join(case_dir, "bench")
  _copy(paths["bench"], copy)
  return copy


def _cut_last_record(split):
  def prepare(paths, case_dir):
    bench = _copy_bench(paths, case_dir)
    shard = os.path.join(bench, f"{split}-00000-of-00001.tfrecord")
    offsets, _ = _record_offsets(shard)
    assert len(offsets) >= 2
    os.truncate(shard, offsets[-1])  # exactly at a record boundary: a valid, shorter file
    return {"data": bench}
  return prepare


def _truncate_shard(split, size):
  def prepare(paths, case_dir):
    bench = _copy_bench(paths, case_dir)
    os.truncate(os.path.join(bench, f"{split}-00000-of-00001.tfrecord"), size)
    return {"data": bench}
  return prepare


def _copy_stage(name, damage):
  def prepare(paths, case_dir):
    copy = os.path.join(case_dir, name)
    _copy(paths[name], copy)
    damage(copy)
    return {"stage": copy}
  return prepare


def _write(relative, text):
  def damage(stage):
    with open(os.path.join(stage, relative), "w") as f:
      f.write(text)
  return damage


def _halve(relative):
  def damage(stage):
    path = os.path.join(stage, relative)
    os.truncate(path, os.path.getsize(path) // 2)
  return damage


def _latest_checkpoint(stage):
  folder = os.path.join(stage, "checkpoints")
  names = sorted(os.listdir(folder), key=lambda n: int(n.split("-")[1].split(".")[0]))
  return os.path.join("checkpoints", names[-1])


def _halve_latest_checkpoint(stage):
  _halve(_latest_checkpoint(stage))(stage)


def _changed_pose_stage(paths, case_dir):
  """A source stage whose pose AAE was rerun (its stage_info changed) after the source was built
  on it: copies of both, the source's records pointed at the pose copy, then the pose copy
  changed."""
  pose, source = os.path.join(case_dir, "pose"), os.path.join(case_dir, "source")
  _copy(paths["pose"], pose)
  _copy(paths["source"], source)
  info_path = os.path.join(source, "stage_info.json")
  with open(info_path) as f:
    info = json.load(f)
  info["inputs"]["pose_aae"] = pose
  if "lineage" in info:  # (absent before lineage was recorded)
    info["lineage"]["pose_aae"]["model_dir"] = pose
  with open(info_path, "w") as f:
    json.dump(info, f)
  pose_info_path = os.path.join(pose, "stage_info.json")
  with open(pose_info_path) as f:
    pose_info = json.load(f)
  pose_info["results"]["rerun"] = True
  with open(pose_info_path, "w") as f:
    json.dump(pose_info, f)
  return {"stage": source, "pose_copy": pose}


def _file(paths, case_dir):
  blocker = os.path.join(case_dir, "a_file")
  with open(blocker, "w") as f:
    f.write("not a folder\n")
  return {"blocker": blocker}


def _empty_dir(paths, case_dir):
  folder = os.path.join(case_dir, "empty")
  os.makedirs(folder)
  return {"empty": folder}


POSE = ("--stage=pose_aae", "--gin_bindings=pose_aae.data_dir = '{bench}'")
SOURCE = ("--stage=source", "--gin_bindings=source.pose_aae_dir = '{pose}'")
ADAPT = ("--stage=adapt", "--gin_bindings=adapt.source_dir = '{source}'")
EVAL_OUT = ("--output={out}",)

CASES = [
    # Silent loss or silent nonsense (they used to exit 0).
    Case("split_cut_at_record_boundary",
         "a shard cut exactly at a record boundary (evaluate)",
         (*EVALUATE, "--model_dir={source}", "--data_dir={data}", *EVAL_OUT),
         "1 missing", _cut_last_record("target_test")),
    Case("mocap_split_cut_at_record_boundary",
         "a shard cut exactly at a record boundary (training)",
         (*TRAIN, "--stage=pose_aae", "--gin_bindings=pose_aae.data_dir = '{data}'",
          "--model_dir={out}"), "'mocap'", _cut_last_record("mocap")),
    Case("steps_zero", "`pose_aae.steps = 0`",
         (*TRAIN, *POSE, "--gin_bindings=pose_aae.steps = 0", "--model_dir={out}"),
         "pose_aae.steps must be an integer >= 1"),
    Case("steps_negative", "`pose_aae.steps = -4`",
         (*TRAIN, *POSE, "--gin_bindings=pose_aae.steps = -4", "--model_dir={out}"),
         "pose_aae.steps must be"),
    Case("learning_rate_negative", "a negative learning rate",
         (*TRAIN, *POSE, "--gin_bindings=pose_aae.learning_rate = -1e-3", "--model_dir={out}"),
         "pose_aae.learning_rate must be"),
    Case("motion_aae_of_another_pose_aae",
         "`relation_nets` given a motion AAE trained on a different pose AAE",
         (*TRAIN, "--stage=relation_nets", "--gin_bindings=relation_nets.pose_aae_dir = '{pose}'",
          "--gin_bindings=relation_nets.motion_aae_dir = '{motion_other}'", "--model_dir={out}"),
         "{motion_other} was built on another pose_aae stage"),
    Case("num_shards_zero", "`make_benchmark` with `num_shards = 0` for a split",
         ("tools/make_benchmark.py", "--gin_file=benchmark/tiny.gin",
          "--gin_bindings=source_test/SplitSpec.num_shards = 0", "--output_dir={out}"),
         "source_test/SplitSpec.num_shards"),
    Case("clips_shorter_than_a_window", "`make_benchmark` with clips shorter than 60 frames",
         ("tools/make_benchmark.py", "--gin_file=benchmark/tiny.gin",
          "--gin_bindings=target_test/SplitSpec.sequence_frames = 40", "--output_dir={out}"),
         "target_test/SplitSpec.sequence_frames must be an integer >= 60"),
    Case("ablation_zero_seeds", "`tools/ablation.py --seeds=0`",
         ("tools/ablation.py", "--data_dir={bench}", "--output={out}", "--seeds=0"),
         "--seeds must be an integer >= 1"),
    # Tracebacks where a named error is promised.
    Case("empty_shard", "an empty (0-byte) shard",
         (*EVALUATE, "--model_dir={source}", "--data_dir={data}", "--split=source_test",
          *EVAL_OUT), "source_test-00000-of-00001.tfrecord", _truncate_shard("source_test", 0)),
    Case("missing_required_binding", "a missing required gin binding (`pose_aae.data_dir`)",
         (*TRAIN, "--stage=pose_aae", "--model_dir={out}"), "pose_aae.data_dir is required"),
    Case("unknown_strategy", "an unknown distribution strategy",
         (*TRAIN, *POSE, "--gin_bindings=make_strategy.name = 'tpu_pod'", "--model_dir={out}"),
         "make_strategy.name"),
    Case("unknown_schedule", "an unknown adaptation schedule",
         (*TRAIN, *ADAPT, "--gin_bindings=adapt.schedule = 'zigzag'", "--model_dir={out}"),
         "adapt.schedule"),
    Case("unknown_loss_kind", "an unknown relation loss kind",
         (*TRAIN, *ADAPT, "--gin_bindings=adapt.loss_kind = 'l7'", "--model_dir={out}"),
         "adapt.loss_kind"),
    Case("corrupt_stage_info", "a corrupt `stage_info.json`",
         (*EVALUATE, "--model_dir={stage}", *EVAL_OUT), "stage_info.json",
         _copy_stage("source", _write("stage_info.json", '{"stage": "sour'))),
    Case("truncated_keras_file", "a truncated `.keras` model file",
         (*EVALUATE, "--model_dir={stage}", *EVAL_OUT), "image_to_latent.keras",
         _copy_stage("source", _halve(os.path.join("models", "image_to_latent.keras")))),
    Case("truncated_checkpoint", "a truncated checkpoint file, then rerunning the stage",
         (*TRAIN, *POSE, "--model_dir={stage}"), "cannot restore checkpoint",
         _copy_stage("pose", _halve_latest_checkpoint), absent=()),
    Case("rerun_with_other_latent_size", "rerunning into a model dir with a different latent size",
         (*TRAIN, *POSE, "--gin_bindings=PoseAutoencoder.latent_dim = 4",
          "--model_dir={stage}"), "cannot restore checkpoint",
         _copy_stage("pose", lambda stage: None), absent=()),
    Case("misspelt_model_setting", "a misspelt model setting (`PoseAutoencoder.latnt_dim`)",
         (*TRAIN, *POSE, "--gin_bindings=PoseAutoencoder.latnt_dim = 4", "--model_dir={out}"),
         "doesn't have a parameter named 'latnt_dim'"),
    Case("derived_model_setting", "a model setting the stage derives (`ImageToLatent.latent_dim`)",
         (*TRAIN, *SOURCE, "--gin_bindings=ImageToLatent.latent_dim = 4", "--model_dir={out}"),
         "'ImageToLatent' doesn't have a parameter named 'latent_dim'"),
    Case("old_model_kwargs_route", "the removed `pose_aae.model_kwargs` dict",
         (*TRAIN, *POSE, "--gin_bindings=pose_aae.model_kwargs = {{'latent_dim': 4}}",
          "--model_dir={out}"), "PoseAutoencoder.latent_dim = 32"),
    Case("other_image_size", "a model evaluated on data of another image size",
         (*EVALUATE, "--model_dir={source}", "--data_dir={bench40}", *EVAL_OUT),
         "holds 40 px ones"),
    Case("evaluate_mocap", "`evaluate --split=mocap`",
         (*EVALUATE, "--model_dir={source}", "--split=mocap", *EVAL_OUT),
         "--split=mocap has no images"),
    Case("evaluate_unlabeled", "`evaluate --split=target_train` (unlabeled)",
         (*EVALUATE, "--model_dir={source}", "--split=target_train", *EVAL_OUT),
         "--split=target_train has no labels"),
    Case("batch_size_zero", "`batch_size = 0`",
         (*TRAIN, *SOURCE, "--gin_bindings=source.batch_size = 0", "--model_dir={out}"),
         "source.batch_size must be an integer >= 1"),
    Case("steps_per_loop_zero", "`steps_per_loop = 0`",
         (*TRAIN, *SOURCE, "--gin_bindings=source.steps_per_loop = 0", "--model_dir={out}"),
         "source.steps_per_loop must be an integer >= 1"),
    Case("steps_per_loop_not_dividing", "`steps_per_loop` not dividing `steps`",
         (*TRAIN, *SOURCE, "--gin_bindings=source.steps = 5", "--model_dir={out}"),
         "source.steps (5) must be a multiple of source.steps_per_loop (2)"),
    Case("unwritable_model_dir", "an unwritable `--model_dir`",
         (*TRAIN, *POSE, "--model_dir={blocker}/run"), "--model_dir", _file,
         absent=("{blocker}/run",)),
    Case("unwritable_output_dir", "an unwritable `--output_dir` (make_benchmark)",
         ("tools/make_benchmark.py", "--gin_file=benchmark/tiny.gin",
          "--output_dir={blocker}/bench"), "--output_dir", _file, absent=("{blocker}/bench",)),
    Case("unwritable_output", "an unwritable `--output` (evaluate; found before evaluating)",
         (*EVALUATE, "--model_dir={source}", "--output={blocker}/results.json"), "--output",
         _file, absent=("{blocker}/results.json",)),
    Case("report_only_on_empty_dir", "`tools/ablation.py --report_only` on an empty dir",
         ("tools/ablation.py", "--report_only", "--output={empty}"), "--report_only",
         _empty_dir, absent=("{empty}/results.json",)),
    Case("truncated_first_record", "a shard truncated inside its first record",
         (*EVALUATE, "--model_dir={source}", "--data_dir={data}", *EVAL_OUT),
         "holds 0 of the 2 records", _truncate_shard("target_test", 10)),
    Case("pose_aae_changed_after_use",
         "an earlier stage rerun after a later one was built on it (lineage)",
         (*EVALUATE, "--model_dir={stage}", *EVAL_OUT), "changed after", _changed_pose_stage),
]


# What each command did on the code before issue 12 (349d59f), measured with
# `python tools/bad_inputs_before_after.py --repo=<a worktree of 349d59f>` (stages built by that
# code; the commands stopped after 120 s). "Extra lines" are stderr lines besides TF/absl logs.
BEFORE_ISSUE_12 = {
    "split_cut_at_record_boundary": "exit 0: scored the short split, no word",
    "mocap_split_cut_at_record_boundary": "exit 0: trained on the short split",
    "steps_zero": "exit 0: saved an untrained stage",
    "steps_negative": "exit 0: saved an untrained stage",
    "learning_rate_negative": "exit 0: trained uphill",
    "motion_aae_of_another_pose_aae": "exit 0: accepted",
    "num_shards_zero": "exit 0: the split missing from the output, no word",
    "clips_shorter_than_a_window": "traceback (exit 1) after writing the output",
    "ablation_zero_seeds": "trained the pre-learning stages (still running after 120 s)",
    "empty_shard": "traceback (exit 1)",
    "missing_required_binding": "traceback (exit 1); model dir written",
    "unknown_strategy": "traceback (exit 1); model dir written",
    "unknown_schedule": "exit 2, but the error is about relation_nets_dir, not adapt.schedule; "
                        "model dir written",
    "unknown_loss_kind": "exit 2, but the error is about relation_nets_dir, not "
                         "adapt.loss_kind; model dir written",
    "corrupt_stage_info": "traceback (exit 1)",
    "truncated_keras_file": "not run: that code saved models under export/, not models/",
    "truncated_checkpoint": "traceback (exit 1)",
    "rerun_with_other_latent_size": "with that code's route (`pose_aae.model_kwargs`, run by "
                                    "hand): traceback (exit 1, 53 lines)",
    "misspelt_model_setting": "setting did not exist; a typo in that code's "
                              "`pose_aae.model_kwargs`: traceback (exit 1) when the model was "
                              "built, config.gin already written",
    "derived_model_setting": "setting did not exist (no ImageToLatent configurable)",
    "old_model_kwargs_route": "not a bad input then: the route itself (exit 0)",
    "other_image_size": "traceback (exit 1)",
    "evaluate_mocap": "traceback (exit 1)",
    "evaluate_unlabeled": "exit 2, naming a TF dataset op (IteratorGetNext), not the split",
    "batch_size_zero": "traceback (exit 1); model dir written",
    "steps_per_loop_zero": "traceback (exit 1); model dir written",
    "steps_per_loop_not_dividing": "traceback (exit 1); model dir written",
    "unwritable_model_dir": "traceback (exit 1)",
    "unwritable_output_dir": "traceback (exit 1)",
    "unwritable_output": "traceback (exit 1)",
    "report_only_on_empty_dir": "exit 2, but `--data_dir and --output are required`, not "
                                "--report_only",
    "truncated_first_record": "traceback (exit 1)",
    "pose_aae_changed_after_use": "exit 0: accepted",
}


def test_every_case_records_what_the_old_code_did():
  assert set(BEFORE_ISSUE_12) == {c.name for c in CASES}


# --- fixtures: the benchmark, the stages, and all commands run once -----------------------------

# The inputs every case starts from, as data, so that tools/bad_inputs_before_after.py builds the
# same ones with another checkout's commands. (name, benchmark.gin bindings)
BENCHMARKS = [
    ("bench", []),
    # Only the split evaluate reads, at another image size.
    ("bench40", ["build_benchmark.image_size = 40",
                 "build_benchmark.splits = {'target_test': @target_test/SplitSpec()}"]),
]
# (name, stage, tiny/stages.gin bindings); {placeholders} name earlier entries.
STAGES = [
    ("pose", "pose_aae", ["pose_aae.data_dir = '{bench}'"]),
    ("pose_other", "pose_aae", ["pose_aae.data_dir = '{bench}'", "pose_aae.seed = 1",
                                "pose_aae.steps = 2"]),
    ("motion_other", "motion_aae", ["motion_aae.pose_aae_dir = '{pose_other}'",
                                    "motion_aae.steps = 2"]),
    ("source", "source", ["source.pose_aae_dir = '{pose}'"]),
]


# Entries of the tables above that the session's shared tiny chain holds already, built with the
# same bindings (shared_stages.tiny_chain).
SHARED = ("bench", "pose", "source")


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
  root = tmp_path_factory.mktemp("bad_inputs")
  chain = shared_stages.tiny_chain(tmp_path_factory)
  p = {name: chain[name] for name in SHARED}
  for name, bindings in BENCHMARKS:
    if name not in p:
      p[name] = testing.build_tiny_benchmark(str(root / name), bindings)
  for name, stage, bindings in STAGES:
    if name not in p:
      p[name] = str(root / name)
      testing.run_tiny_stage(stage, p[name], [_fill(b, p) for b in bindings])
  return p


def _fill(text, values):
  return text.format(**values)


def run_case(case, paths, root, run=run_command):
  """Runs `case` in its own folder under `root` with `run` (a `cli_harness.run_command`);
  returns (result, placeholder values, the command's working dir)."""
  case_dir = os.path.join(root, case.name)
  os.makedirs(case_dir)
  cwd = os.path.join(case_dir, "cwd")
  os.makedirs(cwd)
  values = dict(paths, out=os.path.join(case_dir, "out"))
  if case.prepare:
    values.update(case.prepare(paths, case_dir))
  result = run([_fill(a, values) for a in case.args], cwd)
  return result, values, cwd


def contract_breaches(case, result, values, cwd):
  """What the command did against the contract (README, "Errors"): an empty list when it exited
  with 2, printed exactly one `error:` line naming the culprit, no traceback, and wrote nothing
  where it should not."""
  lines = own_stderr_lines(result.stderr)
  breaches = []
  if result.returncode != 2:
    breaches.append(f"exit status {result.returncode}")
  if "Traceback" in result.stderr:
    breaches.append("traceback")
  if len(lines) != 1 or not lines[0].startswith("error: "):
    breaches.append(f"{len(lines)} stderr lines, {sum(l.startswith('error: ') for l in lines)} "
                    "of them `error:` lines")
  if not any(_fill(case.culprit, values) in line for line in lines if line.startswith("error: ")):
    breaches.append("culprit not named")
  for path in case.absent:
    if os.path.exists(_fill(path, values)):
      breaches.append(f"wrote {_fill(path, values)}")
  if os.listdir(cwd):
    breaches.append(f"wrote {os.listdir(cwd)} into the working dir")
  return breaches


@pytest.fixture(scope="module")
def outcomes(paths, tmp_path_factory):
  root = str(tmp_path_factory.mktemp("cases"))
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    futures = {case.name: pool.submit(run_case, case, paths, root) for case in CASES}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_named_error(case, outcomes):
  result, values, cwd = outcomes[case.name]
  assert contract_breaches(case, result, values, cwd) == [], result.stderr[-3000:]


def test_skip_bad_records_warns_and_counts(paths, tmp_path):
  """With `bad_records.skip = True` a short split trains, warns through Python logging (shown
  under TF_CPP_MIN_LOG_LEVEL=2) and the stage's results.json holds the dropped count."""
  data = _cut_last_record("mocap")(paths, str(tmp_path))["data"]
  model_dir = str(tmp_path / "run")
  result = run_command([*TRAIN, "--stage=pose_aae", f"--gin_bindings=pose_aae.data_dir = '{data}'",
                        "--gin_bindings=bad_records.skip = True", "--gin_bindings=pose_aae.steps = 2",
                        f"--model_dir={model_dir}"], str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  warnings = [l for l in result.stderr.splitlines()
              if l.startswith("W") and "'mocap'" in l]
  assert len(warnings) == 1, result.stderr[-3000:]
  assert "1 of 6 records are missing or unreadable" in warnings[0], warnings[0]
  with open(os.path.join(model_dir, "results.json")) as f:
    assert json.load(f)["dropped_records"] == {"mocap": 1}


# --- the docs section generated from the table ---------------------------------------------------

def markdown():
  lines = ["# What bad input gets", "",
           "Generated from `tests/test_bad_inputs.py` (`python tests/test_bad_inputs.py` rewrites "
           "it). Each row is a real command run by the tests on the tiny benchmark: it exits with "
           "status 2, prints one `error:` line containing the text shown, and writes nothing "
           "where its output would go.", "",
           "The last column is what the same command did before issue 12 (commit 349d59f), "
           "measured with `tools/bad_inputs_before_after.py`: none of the rows kept the "
           "contract then. 29 of the 33 failed it; `truncated_keras_file` could not be "
           "prepared (that code saved models elsewhere); `misspelt_model_setting` and "
           "`derived_model_setting` are settings that did not exist (a typo in the old "
           "`model_kwargs` route was a traceback); `old_model_kwargs_route` was then the route "
           "itself. At 85880af, the first commit of issue 12 (the error boundary and the "
           "writability checks), 2 rows kept it: `unwritable_model_dir` and "
           "`unwritable_output`.", "",
           "| bad input | the error line contains | before issue 12 |", "|---|---|---|"]
  for case in CASES:
    culprit = case.culprit.replace("{", "<").replace("}", ">").replace("|", "\\|")
    lines.append(f"| {case.what} | `{culprit}` | {BEFORE_ISSUE_12[case.name]} |")
  lines += ["", "With `--gin_bindings='bad_records.skip = True'` a short or damaged split is read "
            "anyway: the stage logs one warning per split through Python logging (visible under "
            "`TF_CPP_MIN_LOG_LEVEL=2`) and writes the dropped counts to `dropped_records` in its "
            "`results.json`.", ""]
  return "\n".join(lines)


def test_docs_match_the_table():
  with open(DOC_PATH) as f:
    assert f.read() == markdown(), "docs/errors.md is stale: run python tests/test_bad_inputs.py"


if __name__ == "__main__":
  with open(DOC_PATH, "w") as f:
    f.write(markdown())
  print(f"wrote {DOC_PATH}", file=sys.stderr)
