"""A Python that has imported TensorFlow and Keras once and runs each command in a fork of itself
(the server half of `cli_harness.run_command`).

A command of the project spends about 5 s of CPU importing TensorFlow before it reads its first
flag; the bad-input table alone runs dozens. Forked from this process, a command still runs in
a process of its own, from its own `__main__` (flags, gin and every project module are imported
fresh, as nothing of the project but `sa3dhp_tf.quiet_tensorflow` is imported here), with its
own cwd, environment, stdout, stderr and exit status; what it skips is TensorFlow's import. What
that import prints is therefore not seen by these commands: tests/test_quiet_tensorflow.py
checks it with real subprocesses.

Protocol, one JSON object per line: stdin {"args", "cwd", "env", "stdout", "stderr", "timeout"}
(stdout/stderr: files the child writes), stdout {"returncode", "timed_out"}.
"""

import atexit
import json
import os
import runpy
import signal
import sys
import time
import traceback

import sa3dhp_tf.quiet_tensorflow as quiet_tensorflow

quiet_tensorflow.install()
import keras  # noqa: E402,F401  (the cost every command would pay again)
import tensorflow  # noqa: E402,F401


def _redirect(fd, path, flags):
  target = os.open(path, flags, 0o644)
  os.dup2(target, fd)
  os.close(target)


def _child(request):
  """Runs the command in this (forked) process and exits with its status; never returns."""
  _redirect(0, os.devnull, os.O_RDONLY)
  _redirect(1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
  _redirect(2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
  sys.stdin = open(os.devnull)
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  args = request["args"]
  code = 0
  try:
    if args[0] == "-m":
      sys.argv = [args[1]] + args[2:]
      sys.path[0] = request["cwd"]  # as `python -m`: the working dir first
      runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
      sys.argv = list(args)
      sys.path[0] = os.path.dirname(os.path.abspath(args[0]))  # as `python script.py`
      runpy.run_path(args[0], run_name="__main__")
  except SystemExit as e:
    code = e.code
  except BaseException:  # what the interpreter does with an uncaught exception
    traceback.print_exc()
    code = 1
  # The interpreter's exit, less the teardown of TensorFlow's modules (over a second per
  # command, and nothing a command writes depends on it): atexit handlers, flushed streams,
  # the status `sys.exit(code)` gives.
  if code is None:
    code = 0
  elif not isinstance(code, int):
    print(code, file=sys.stderr)
    code = 1
  atexit._run_exitfuncs()
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (OSError, ValueError):
      pass
  os._exit(code & 0xFF)


def _wait(pid, timeout):
  deadline = time.monotonic() + timeout
  while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      return os.waitstatus_to_exitcode(status), False
    if time.monotonic() > deadline:
      os.kill(pid, signal.SIGKILL)
      _, status = os.waitpid(pid, 0)
      return os.waitstatus_to_exitcode(status), True
    time.sleep(0.02)


def main():
  print(json.dumps({"ready": True}), flush=True)
  for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
      _child(request)
    returncode, timed_out = _wait(pid, request["timeout"])
    print(json.dumps({"returncode": returncode, "timed_out": timed_out}), flush=True)


if __name__ == "__main__":
  main()
