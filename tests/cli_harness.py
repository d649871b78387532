"""Running the project's commands as a user does (a subprocess from the source tree) and reading
their stderr: the one `error:` line, apart from TF's and absl's own log lines."""

import atexit
import os
import re
import shlex
import shutil
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
  (another checkout of the project for tools/bad_inputs_before_after.py)."""
  args = list(args)
  if args and args[0].startswith("tools/"):
    args[0] = os.path.join(repo_root, args[0])
  python = sys.executable if repo_root != REPO_ROOT else python_executable()
  return subprocess.run([python, *args], cwd=cwd, env=command_env(repo_root),
                        capture_output=True, text=True, timeout=timeout)


def python_executable():
  """A `python` for the tests' commands and for the tools that start Pythons themselves (the
  demo's PYTHON, gpu_check's PY): each command runs in a fork of one Python of this process
  that has imported TensorFlow already (tests/preloaded_python.py: a process of its own, with
  its own fds, flags, gin, cwd, environment and exit status, without the import's ~5 s), and
  so do the Pythons it starts through `sys.executable`. SA3DHP_TEST_SUBPROCESS=1 gives the
  real interpreter instead (fresh interpreters everywhere)."""
  if os.environ.get("SA3DHP_TEST_SUBPROCESS") == "1":
    return sys.executable
  global _server
  with _server_lock:
    if _server is None or _server.process.poll() is not None:
      _server = _PreloadedServer()
    return _server.executable


class _PreloadedServer:
  """tests/preloaded_python.py serving on a socket in a temporary dir, and the shell line that
  runs tests/preloaded_client.py against it."""

  def __init__(self):
    # /tmp, not TMPDIR: a socket path has at most 107 bytes, and tests point TMPDIR at their own
    # dirs
    self.tmp = tempfile.mkdtemp(prefix="sa3dhp_py_", dir="/tmp" if os.path.isdir("/tmp") else None)
    socket_path = os.path.join(self.tmp, "socket")
    self.executable = os.path.join(self.tmp, "python")
    client = os.path.join(REPO_ROOT, "tests", "preloaded_client.py")
    with open(self.executable, "w") as f:
      f.write("#!/bin/sh\n" + " ".join(shlex.quote(a) for a in (
          "exec", sys.executable, "-I", "-S", client, socket_path, sys.executable)) + ' "$@"\n')
    os.chmod(self.executable, 0o755)
    self.process = subprocess.Popen(
        [sys.executable, os.path.join(REPO_ROOT, "tests", "preloaded_python.py"), socket_path,
         self.executable],
        cwd=REPO_ROOT, env=command_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    if not self.process.stdout.readline():
      raise RuntimeError("tests/preloaded_python.py did not start (run it by hand to see why)")

  def close(self):
    self.process.stdin.close()  # the server ends when its stdin closes
    try:
      self.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self.process.kill()
    shutil.rmtree(self.tmp, ignore_errors=True)


_server = None
_server_lock = threading.Lock()


@atexit.register
def _close_server():
  if _server is not None:
    _server.close()


def own_stderr_lines(stderr):
  return [line for line in stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
