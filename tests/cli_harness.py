"""Running the project's commands as a user does (a subprocess from the source tree) and reading
their stderr: the one `error:` line, apart from TF's and absl's own log lines."""

import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

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
  (another checkout of the project for tools/bad_inputs_before_after.py).

  Commands of this checkout run in a fork of a Python that has imported TensorFlow already
  (tests/preloaded_python.py: the same process semantics without the import's ~5 s each);
  SA3DHP_TEST_SUBPROCESS=1 runs every one in a fresh interpreter instead."""
  args = list(args)
  if args and args[0].startswith("tools/"):
    args[0] = os.path.join(repo_root, args[0])
  if repo_root != REPO_ROOT or os.environ.get("SA3DHP_TEST_SUBPROCESS") == "1":
    return subprocess.run([sys.executable, *args], cwd=cwd, env=command_env(repo_root),
                          capture_output=True, text=True, timeout=timeout)
  return _preloaded().run(args, cwd, command_env(repo_root), timeout)


class PreloadedPython:
  """One tests/preloaded_python.py server; `run` sends it one command at a time."""

  def __init__(self):
    self._process = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "tests", "preloaded_python.py")],
        cwd=REPO_ROOT, env=command_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    ready = self._process.stdout.readline()
    if not ready:
      raise RuntimeError("tests/preloaded_python.py did not start (run it by hand to see why)")

  def run(self, args, cwd, env, timeout):
    with tempfile.TemporaryDirectory(prefix="cli_") as tmp:
      out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
      request = {"args": args, "cwd": os.path.abspath(cwd), "env": env, "stdout": out,
                 "stderr": err, "timeout": timeout}
      self._process.stdin.write(json.dumps(request) + "\n")
      self._process.stdin.flush()
      reply = json.loads(self._process.stdout.readline())
      stdout, stderr = (open(path, errors="replace").read() for path in (out, err))
    if reply["timed_out"]:
      raise subprocess.TimeoutExpired([sys.executable, *args], timeout, stdout, stderr)
    return subprocess.CompletedProcess([sys.executable, *args], reply["returncode"], stdout,
                                       stderr)

  def close(self):
    self._process.stdin.close()
    self._process.wait(timeout=30)


_servers = threading.local()
_all_servers = []


def _preloaded():
  """This thread's server (started on first use; callers may run commands from threads)."""
  server = getattr(_servers, "server", None)
  if server is None:
    server = _servers.server = PreloadedPython()
    _all_servers.append(server)
  return server


@atexit.register
def _close_servers():
  for server in _all_servers:
    try:
      server.close()
    except (OSError, subprocess.TimeoutExpired):
      pass


def own_stderr_lines(stderr):
  return [line for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
