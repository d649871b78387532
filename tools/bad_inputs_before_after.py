r"""Runs every bad input of tests/test_bad_inputs.py against another checkout of the project.

  git worktree add --detach /tmp/old 349d59f     # the code before issue 12
  python tools/bad_inputs_before_after.py --repo=/tmp/old [--work_dir=/tmp/bad_inputs_old]

The table, the starting inputs (tiny benchmark, tiny stages) and the contract check are this
checkout's (`CASES`, `BENCHMARKS`, `STAGES`, `contract_breaches` of the test file); every command,
the ones that build the starting inputs included, runs from `--repo` with this interpreter. Prints
one markdown row per case: exit status, stderr lines besides TF/absl log lines, whether the error
line names the culprit, and what breaks the contract ("command did not exist" when the binary or
tool is not in `--repo`).
"""

import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("repo", None, "The checkout whose commands run (e.g. a git worktree).")
flags.DEFINE_string("work_dir", None, "Where the inputs and the cases' folders go (default: a "
                    "new temporary folder).")
flags.DEFINE_list("cases", [], "Only these case names (default: all).")
flags.DEFINE_integer("parallel", 2, "Commands run at a time.")
flags.DEFINE_bool("reuse_inputs", False, "Take the benchmarks and stages already in --work_dir "
                  "(made by an earlier run against the same --repo) instead of building them.")
flags.DEFINE_integer("timeout_s", 120, "A case command still running after this long is stopped "
                     "(with its children) and reported as such: a bad input that, in old code, "
                     "starts a long training instead of failing.")

TIMED_OUT = "timed out"

TESTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")


def _runner(repo, timeout_s):
  """`cli_harness.run_command` for `repo`, except that a command running past `timeout_s` is
  stopped with every process it started (a tool's stage subprocesses) and gets returncode
  TIMED_OUT."""
  import cli_harness

  def run(args, cwd):
    args = list(args)
    if args and args[0].startswith("tools/"):
      args[0] = os.path.join(repo, args[0])
    process = subprocess.Popen([sys.executable, *args], cwd=cwd,
                               env=cli_harness.command_env(repo), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
      stdout, stderr = process.communicate(timeout=timeout_s)
      returncode = process.returncode
    except subprocess.TimeoutExpired:
      os.killpg(process.pid, signal.SIGKILL)
      stdout, stderr = process.communicate()
      returncode = TIMED_OUT
    return subprocess.CompletedProcess(args, returncode, stdout, stderr)
  return run


def _command_exists(args, repo):
  if args[0] == "-m":
    module = os.path.join(repo, *args[1].split("."))
    return os.path.exists(module + ".py") or os.path.exists(os.path.join(module, "__main__.py"))
  return os.path.exists(os.path.join(repo, args[0]))


def _build_inputs(table, run, work_dir):
  """The table's benchmarks and stages, made by `run` (the other checkout's commands)."""
  paths = {}
  for name, bindings in table.BENCHMARKS:
    paths[name] = os.path.join(work_dir, name)
    if FLAGS.reuse_inputs and os.path.exists(os.path.join(paths[name], "manifest.json")):
      continue
    result = run(["tools/make_benchmark.py", "--gin_file=benchmark/tiny.gin",
                  *[f"--gin_bindings={b}" for b in bindings], f"--output_dir={paths[name]}"],
                 work_dir)
    if result.returncode:
      raise errors.UserError(f"building benchmark {name} failed: {result.stderr[-2000:]}")
  for name, stage, bindings in table.STAGES:
    paths[name] = os.path.join(work_dir, name)
    if FLAGS.reuse_inputs and os.path.exists(os.path.join(paths[name], "stage_info.json")):
      continue
    result = run(["-m", "sa3dhp_tf.train", "--gin_file=tiny/stages.gin", f"--stage={stage}",
                  *[f"--gin_bindings={b.format(**paths)}" for b in bindings],
                  f"--model_dir={paths[name]}"], work_dir)
    if result.returncode:
      raise errors.UserError(f"training stage {name} failed: {result.stderr[-2000:]}")
  return paths


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "repo")
  repo = os.path.abspath(FLAGS.repo)
  if not os.path.isdir(os.path.join(repo, "sa3dhp_tf")):
    raise errors.UserError(f"--repo: {repo} holds no sa3dhp_tf package")
  sys.path.insert(0, TESTS_DIR)
  import cli_harness
  import test_bad_inputs as table

  work_dir = errors.ensure_writable_dir(FLAGS.work_dir or tempfile.mkdtemp(prefix="bad_inputs_"),
                                        "--work_dir")
  run = _runner(repo, timeout_s=None)  # the starting inputs may take a while
  # The proof that `repo`'s code runs, not this checkout's (an installed copy could shadow it).
  probe = run(["-c", "import sa3dhp_tf; print(sa3dhp_tf.__file__)"], work_dir)
  print(f"sa3dhp_tf imported from {probe.stdout.strip()}", file=sys.stderr)
  if not probe.stdout.strip().startswith(repo):
    raise errors.UserError(f"--repo: its package is shadowed by {probe.stdout.strip()}")
  unknown = set(FLAGS.cases) - {c.name for c in table.CASES}
  if unknown:
    raise errors.UserError(f"--cases: unknown case names {sorted(unknown)}")
  cases = [c for c in table.CASES if not FLAGS.cases or c.name in FLAGS.cases]
  paths = _build_inputs(table, run, work_dir)
  cases_dir = os.path.join(work_dir, "cases")
  if os.path.exists(cases_dir):
    raise errors.UserError(f"--work_dir: {cases_dir} exists (from an earlier run); remove it")

  run_case_command = _runner(repo, FLAGS.timeout_s)

  def outcome(case):
    if not _command_exists(case.args, repo):
      return "command did not exist"
    try:
      return table.run_case(case, paths, cases_dir, run_case_command)
    except OSError as e:  # the damage a case prepares needs a file this code does not write
      return f"input not prepared ({type(e).__name__}: {e})"

  with concurrent.futures.ThreadPoolExecutor(FLAGS.parallel) as pool:
    outcomes = list(pool.map(outcome, cases))
  print("| case | exit | stderr lines | culprit named | against the contract | last stderr line |")
  print("|---|---|---|---|---|---|")
  kept = 0
  for case, found in zip(cases, outcomes):
    if isinstance(found, str):
      print(f"| {case.name} | - | - | - | {found} | |")
      continue
    result, values, cwd = found
    lines = cli_harness.own_stderr_lines(result.stderr)
    named = any(case.culprit.format(**values) in l for l in lines if l.startswith("error: "))
    breaches = table.contract_breaches(case, result, values, cwd)
    kept += not breaches
    last = (lines[-1][:160] if lines else "").replace("|", "\\|")
    print(f"| {case.name} | {result.returncode} | {len(lines)} | {'yes' if named else 'no'} | "
          f"{'; '.join(breaches) or 'kept'} | {last} |")
  print(f"\n{kept} of {len(cases)} cases keep the contract with {repo}", file=sys.stderr)


if __name__ == "__main__":
  errors.run(main)
