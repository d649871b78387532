"""Runs `python -m sa3dhp_tf.train` as a cluster of real worker processes on 127.0.0.1 (the
two-worker tests and tools/bench_multi_worker.py use it; also a way to try TF_CONFIG locally).

Each worker gets its own TF_CONFIG (free ports picked by binding port 0), its own log file, and a
bounded run time; every process started here is stopped when the cluster is closed.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n):
  sockets = []
  try:
    for _ in range(n):
      s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      s.bind(("127.0.0.1", 0))
      sockets.append(s)
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def worker_env(cluster, index):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["TF_CONFIG"] = json.dumps({"cluster": {"worker": cluster},
                                 "task": {"type": "worker", "index": index}})
  # One intra-op thread each: two workers share the two cores of CI.
  env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
  env.setdefault("TF_NUM_INTEROP_THREADS", "1")
  return env


class Cluster:
  """`num_workers` processes of `args` (the train binary's flags); worker 0 is the chief.
  `python`: the interpreter that runs them (default this one's)."""

  def __init__(self, args, num_workers, log_dir, python=None):
    self.args = list(args)
    self.python = python or sys.executable
    self.num_workers = num_workers
    self.log_dir = log_dir
    self.cluster = [f"127.0.0.1:{p}" for p in free_ports(num_workers)]
    self.procs = []
    self._logs = []
    self._round = 0

  def start(self):
    self._round += 1
    self.procs = []
    for index in range(self.num_workers):
      log_path = os.path.join(self.log_dir, f"worker{index}-run{self._round}.log")
      log = open(log_path, "w")
      self._logs.append((log, log_path))
      self.procs.append(subprocess.Popen(
          [self.python, "-m", "sa3dhp_tf.train", *self.args], env=worker_env(self.cluster, index),
          stdout=log, stderr=subprocess.STDOUT, cwd=REPO))
    return self

  def log(self, index):
    path = os.path.join(self.log_dir, f"worker{index}-run{self._round}.log")
    with open(path) as f:
      return f.read()

  def wait(self, timeout):
    """Exit statuses of every worker; kills the rest and raises if the time runs out."""
    deadline = time.monotonic() + timeout
    codes = []
    for proc in self.procs:
      try:
        codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
      except subprocess.TimeoutExpired:
        self.stop()
        raise AssertionError(f"workers still running after {timeout} s; logs:\n"
                             + "\n".join(self.log(i)[-2000:] for i in range(self.num_workers)))
    return codes

  def kill(self, index):
    self.procs[index].send_signal(signal.SIGKILL)
    self.procs[index].wait()

  def stop(self):
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    for log, _ in self._logs:
      log.close()


@contextlib.contextmanager
def cluster(args, num_workers, log_dir, python=None):
  c = Cluster(args, num_workers, log_dir, python)
  try:
    yield c
  finally:
    c.stop()
