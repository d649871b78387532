"""A Python that has imported TensorFlow and Keras once and runs each command in a fork of itself:
the server behind `cli_harness.python_executable()` (a `python` that the tests, and the tools
the tests start, run like any interpreter).

A command of the project spends about 5 s of CPU importing TensorFlow before it reads its first
flag; the tests run hundreds, and the demo and the ablation tool start one Python per stage.
Forked from this process, a command still runs in a process of its own, from its own `__main__`
(flags, gin and every project module are imported fresh, as nothing of the project but
`sa3dhp_tf.quiet_tensorflow` is imported here), with its own argv, cwd, environment, stdin,
stdout, stderr (the client's own file descriptors, passed over the socket), exit status and
process group; what it skips is TensorFlow's import. What that import prints is therefore not
seen by these commands: tests/test_quiet_tensorflow.py checks it with real subprocesses.

    python tests/preloaded_python.py SOCKET EXECUTABLE

serves on the Unix socket SOCKET until its stdin closes (the test process that started it
ended); EXECUTABLE (the client, tests/preloaded_client.py behind a shell line) becomes each
command's `sys.executable`, so the Pythons a command starts are forks of this one too.

Per connection (tests/preloaded_client.py writes it): one byte with the client's fds 0, 1, 2
attached, then an 8-byte length and a JSON object {"args", "cwd", "env"}. A manager process
forks the command, waits for it, and answers one JSON line {"returncode"} (negative: killed by
that signal, as `subprocess` reports it). If the client goes away first (killed, or a
`subprocess` timeout), the manager kills the command's process group.
"""

import atexit
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import tempfile
import traceback

import sa3dhp_tf.quiet_tensorflow as quiet_tensorflow

quiet_tensorflow.install()
import keras  # noqa: E402,F401  (the cost every command would pay again)
import tensorflow  # noqa: E402,F401


def _read_exactly(conn, size):
  data = b""
  while len(data) < size:
    chunk = conn.recv(size - len(data))
    if not chunk:
      raise EOFError("the client closed the connection")
    data += chunk
  return data


def _receive(conn):
  """(request, fds) of one connection."""
  _, fds, _, _ = socket.recv_fds(conn, 1, 3)
  if len(fds) != 3:
    raise EOFError(f"expected the client's 3 standard fds, got {len(fds)}")
  size, = struct.unpack("!Q", _read_exactly(conn, 8))
  return json.loads(_read_exactly(conn, size)), fds


def _run_command(request, fds, executable):
  """Runs the command in this (forked) process and exits with its status; never returns."""
  os.setsid()  # its own process group: the manager kills the command and what it started
  for target, fd in enumerate(fds):
    os.dup2(fd, target)
    os.close(fd)
  sys.stdin = open(0, closefd=False)
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  tempfile.tempdir = None  # the command's TMPDIR, not the one this server may have cached
  for name in ("SIGINT", "SIGTERM", "SIGCHLD", "SIGPIPE"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
  sys.executable = executable
  args = request["args"]
  code = 0
  try:
    if args[0] == "-m":
      sys.argv = [args[1]] + args[2:]
      sys.path[0] = request["cwd"]  # as `python -m`: the working dir first
      runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
      sys.argv = ["-c"] + args[2:]
      sys.path[0] = ""  # as `python -c`
      exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
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


def _manage(conn, listener, executable):
  """One connection, in a process of its own: fork the command, wait, answer; never returns."""
  signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server ignores it; this one waits
  listener.close()
  try:
    request, fds = _receive(conn)
  except (EOFError, OSError, ValueError):
    os._exit(1)
  pid = os.fork()
  if pid == 0:
    conn.close()
    _run_command(request, fds, executable)
  for fd in fds:
    os.close(fd)
  while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
      break
    readable, _, _ = select.select([conn], [], [], 0.05)
    if readable and not conn.recv(1):  # the client is gone: so is its command
      try:
        os.killpg(pid, signal.SIGKILL)
      except ProcessLookupError:
        pass
      os.waitpid(pid, 0)
      os._exit(0)
  try:
    conn.sendall((json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n").encode())
  except OSError:
    pass
  os._exit(0)


def main(path, executable):
  signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # managers are reaped by the kernel
  listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  listener.bind(path)
  listener.listen(64)
  print(json.dumps({"ready": True}), flush=True)
  while True:
    readable, _, _ = select.select([listener, sys.stdin], [], [])
    if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
      break  # the test process is gone
    if listener in readable:
      conn, _ = listener.accept()
      sys.stdout.flush()
      sys.stderr.flush()
      if os.fork() == 0:
        _manage(conn, listener, executable)
      conn.close()
  listener.close()
  os.unlink(path)


if __name__ == "__main__":
  main(*sys.argv[1:3])
