"""Running the project's commands as a user does (a subprocess from the source tree) and reading
their stderr: the one `error:` line, apart from TF's and absl's own log lines."""

import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TF's C++ runtime may print these before absl logging is initialised; absl INFO/WARNING log
# lines have the same shape. Anything else on stderr counts as output of the command.
_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                       r"|[IW]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] )")


def command_env(repo_root=REPO_ROOT):
  env = dict(os.environ)
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  # The package may or may not be installed into the interpreter; the source tree comes first.
  env["PYTHONPATH"] = os.pathsep.join([repo_root] + [p for p in [env.get("PYTHONPATH")] if p])
  return env


def run_command(args, cwd, timeout=300, repo_root=REPO_ROOT):
  """`args` after the interpreter: ['-m', 'sa3dhp_tf.train', ...] or ['tools/x.py', ...]
  (tool paths are taken relative to the repository). `repo_root` is the source tree that runs
  (another checkout of the project for tools/bad_inputs_before_after.py)."""
  args = list(args)
  if args and args[0].startswith("tools/"):
    args[0] = os.path.join(repo_root, args[0])
  return subprocess.run([sys.executable, *args], cwd=cwd, env=command_env(repo_root),
                        capture_output=True, text=True, timeout=timeout)


def own_stderr_lines(stderr):
  return [line for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
