"""The client half of tests/preloaded_python.py: a `python` whose commands run as forks of a
Python that has imported TensorFlow already. Standard library only, run with -I -S (tens of
milliseconds), by the shell line `cli_harness.python_executable()` writes:

    preloaded_client.py SOCKET REAL_PYTHON ARGS...

ARGS as after `python`: `-m module ...`, `-c code ...` or `script.py ...`; anything else (an
interpreter option, `-m pip`) is run by REAL_PYTHON itself. The exit status is the command's;
a command killed by a signal kills this process with the same signal, so `subprocess` reports
the same negative returncode.
"""

import json
import os
import signal
import socket
import struct
import sys


def _forkable(args):
  if not args:
    return False
  if args[0] == "-m":
    return len(args) > 1 and args[1] != "pip"
  if args[0] == "-c":
    return len(args) > 1
  return not args[0].startswith("-")


def main():
  path, real_python, args = sys.argv[1], sys.argv[2], sys.argv[3:]
  if not _forkable(args):
    os.execv(real_python, [real_python, *args])
  conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  conn.connect(path)
  socket.send_fds(conn, [b"F"], [0, 1, 2])
  body = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
  conn.sendall(struct.pack("!Q", len(body)) + body)
  reply = b""
  while not reply.endswith(b"\n"):
    chunk = conn.recv(4096)
    if not chunk:
      sys.exit("preloaded_client: the server closed the connection without an exit status")
    reply += chunk
  code = json.loads(reply)["returncode"]
  if code < 0:
    if -code not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught anyway
      signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
  sys.exit(code)


if __name__ == "__main__":
  main()
