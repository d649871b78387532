"""Progress of long jobs made of training subprocesses: which stage of how many, a bar with
steps, the time left in the stage, and the time since the job started.

Two halves that talk through one small JSON file:

- in the training process, a Keras callback (`callback_from_env`, added by
  `training_loop.run_training` when the environment variable `SA3DHP_PROGRESS_FILE` names a
  file) writes `{"phase", "step", "total", "time"}` at most every `min_interval` seconds, under a temporary name and renamed, so a reader
  never sees half a file;
- in the driver, `JobProgress.run_stage` starts the subprocess with that variable set, its
  output going to a per-stage log, and draws the file's progress: on a terminal a bar redrawn
  in place, elsewhere (CI logs, `nohup`) one plain line per tenth of the stage or per minute.

The estimate of the time left is the stage's own step rate since its first observed step, so
start-up (imports, data loading) does not count as training and a resumed stage is not
credited with steps it did before.
"""

import json
import os
import signal
import subprocess
import sys
import time

PROGRESS_ENV = "SA3DHP_PROGRESS_FILE"
BAR_WIDTH = 24


def format_duration(seconds):
  """'42 s', '3 min 05 s', '1 h 02 min'."""
  seconds = max(0, int(round(seconds)))
  if seconds < 60:
    return f"{seconds} s"
  minutes, seconds = divmod(seconds, 60)
  if minutes < 60:
    return f"{minutes} min {seconds:02d} s"
  hours, minutes = divmod(minutes, 60)
  return f"{hours} h {minutes:02d} min"


def write_progress(path, phase, step, total):
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    json.dump({"phase": phase, "step": int(step), "total": int(total), "time": time.time()}, f)
  os.replace(tmp, path)


def read_progress(path):
  """The last record written to `path`, or None (missing, or not yet written)."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _step_file_callback_class():
  import keras  # here, not at the top: the driver half must not start TensorFlow

  class StepFileCallback(keras.callbacks.Callback):
    """Writes the global training step of a `run_training` call to a progress file."""

    def __init__(self, path, phase, start_step, total_steps, steps_per_loop, min_interval=0.5):
      super().__init__()
      self._path, self._phase = path, phase
      self._total, self._steps_per_loop = total_steps, steps_per_loop
      self._min_interval = min_interval
      self._epoch, self._last = start_step // steps_per_loop, 0.0
      write_progress(path, phase, start_step, total_steps)

    def on_epoch_begin(self, epoch, logs=None):
      self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
      now = time.time()
      step = self._epoch * self._steps_per_loop + batch + 1
      if now - self._last >= self._min_interval or step == self._total:
        self._last = now
        write_progress(self._path, self._phase, step, self._total)

  return StepFileCallback


def callback_from_env(model_dir, start_step, total_steps, steps_per_loop):
  """A Keras callback writing the step to the driver's progress file when the driver asked for
  one (`SA3DHP_PROGRESS_FILE`), else None. The phase is `model_dir`'s name."""
  path = os.environ.get(PROGRESS_ENV)
  if not path:
    return None
  return _step_file_callback_class()(path, os.path.basename(os.path.normpath(model_dir)),
                                     start_step, total_steps, steps_per_loop)


def bar(fraction, width=BAR_WIDTH):
  filled = int(round(max(0.0, min(1.0, fraction)) * width))
  return "[" + "#" * filled + "-" * (width - filled) + "]"


def tail(path, lines=15):
  with open(path, errors="replace") as f:
    return f.readlines()[-lines:]


class _Rate:
  """Steps per second of one phase, from its first observed step."""

  def __init__(self):
    self.phase, self.first = None, None

  def eta(self, record):
    if record["phase"] != self.phase or self.first is None or record["step"] < self.first[0]:
      self.phase, self.first = record["phase"], (record["step"], record["time"])
      return None
    steps, seconds = record["step"] - self.first[0], record["time"] - self.first[1]
    if steps <= 0 or seconds <= 0:
      return None
    return (record["total"] - record["step"]) * seconds / steps


class JobProgress:
  """Numbers the stages of a job and reports each one's progress on `stream`.

  `total` is the number of stages planned; stages found finished are reported as skipped.
  `interactive` (default: whether `stream` is a terminal) chooses a bar redrawn in place over
  plain lines."""

  def __init__(self, total, stream=None, interactive=None, tag="", line_every_s=60.0,
               poll_s=0.5):
    self.total, self.index = total, 0
    self.stream = stream or sys.stdout
    self.interactive = (self.stream.isatty() if interactive is None else interactive)
    self.tag = tag
    self.line_every_s, self.poll_s = line_every_s, poll_s
    self.started = time.time()
    self.logs_announced = set()

  def _print(self, text, end="\n"):
    self.stream.write(text + end)
    self.stream.flush()

  def _prefix(self):
    return f"{self.tag}[{self.index}/{self.total}]"

  def announce_logs(self, log_dir):
    if log_dir not in self.logs_announced:
      self.logs_announced.add(log_dir)
      self._print(f"{self.tag}per-stage logs (full command lines, training output): {log_dir}/")

  def skip(self, title):
    self.index += 1
    self._print(f"{self._prefix()} {title}: already done, skipped")

  def status_line(self, title, record, eta, stage_start):
    now = time.time()
    if record is None or record.get("total", 0) <= 0:
      body = f"running for {format_duration(now - stage_start)}"
    else:
      step, total = record["step"], record["total"]
      phase = "" if record["phase"] == title else f"{record['phase']} "
      body = f"{phase}{bar(step / total)} {step}/{total} steps"
      if step >= total:
        body += ", finishing (evaluation, export)"
      elif eta is not None:
        body += f", about {format_duration(eta)} left"
    return (f"{self._prefix()} {title}: {body} | elapsed {format_duration(now - self.started)}")

  def _follow(self, process, title, progress_path, stage_start):
    """Draws the progress of `process` until it ends."""
    rate, last_line, last_decile = _Rate(), 0.0, -1
    while process.poll() is None:
      time.sleep(self.poll_s)
      record = read_progress(progress_path)
      eta = rate.eta(record) if record else None
      if self.interactive:
        self._print("\r\033[K" + self.status_line(title, record, eta, stage_start), end="")
        continue
      decile = (-1 if not record or record["total"] <= 0
                else int(10 * record["step"] / record["total"]))
      now = time.time()
      if decile > last_decile or now - last_line >= self.line_every_s:
        if record or now - stage_start >= self.line_every_s:
          self._print(self.status_line(title, record, eta, stage_start))
          last_line, last_decile = now, max(decile, last_decile)

  def run_stage(self, title, cmd, log_path, progress_path, env=None):
    """Runs `cmd` (output appended to `log_path`, preceded by the command line) while drawing
    its progress; returns the exit status."""
    self.index += 1
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    if os.path.exists(progress_path):
      os.remove(progress_path)
    env = dict(os.environ if env is None else env, **{PROGRESS_ENV: progress_path})
    stage_start = time.time()
    self._print(f"{self._prefix()} {title}: started | log {log_path}")
    with open(log_path, "a") as log:
      log.write("$ " + subprocess.list2cmdline(cmd) + "\n")
      log.flush()
      process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
      try:
        self._follow(process, title, progress_path, stage_start)
      except BaseException:
        # A job stopped (Ctrl-C, or SIGTERM through `stop_on_sigterm`) stops its stage too,
        # which resumes from its checkpoint; left running, it would train on unseen, and a
        # restarted job would meet its dir in use.
        process.terminate()
        process.wait()
        raise
    if self.interactive:
      self._print("\r\033[K", end="")
    if os.path.exists(progress_path):
      os.remove(progress_path)
    outcome = "done" if process.returncode == 0 else f"FAILED (exit {process.returncode})"
    if process.returncode != 0:
      self._print(f"{self._prefix()} {title}: last lines of {log_path}:\n"
                  + "".join("    " + line for line in tail(log_path)))
    self._print(f"{self._prefix()} {title}: {outcome} in "
                f"{format_duration(time.time() - stage_start)} | elapsed "
                f"{format_duration(time.time() - self.started)}")
    return process.returncode


def stop_on_sigterm():
  """Makes SIGTERM (`kill`, a batch system's stop) end this process as Ctrl-C does, through
  Python's cleanup, so that `JobProgress.run_stage` stops the running stage too (the default
  action would leave it training as an orphan). For a job binary's main; exit status 143."""
  def stop(signum, frame):
    del frame
    raise SystemExit(128 + signum)
  signal.signal(signal.SIGTERM, stop)


def main(argv=None):
  """`python -m sa3dhp_tf.progress --step=I/N --title=T --log=LOG -- CMD ...`: runs CMD as step
  I of N of a job, its output appended to LOG, with the elapsed time (and a step bar when CMD
  trains with `run_training`) on stdout; exits with CMD's status."""
  import argparse
  parser = argparse.ArgumentParser(prog="python -m sa3dhp_tf.progress")
  parser.add_argument("--step", required=True, help="I/N: this step's number and the total")
  parser.add_argument("--title", required=True)
  parser.add_argument("--log", required=True, help="file the command's output is appended to")
  parser.add_argument("--tag", default="")
  parser.add_argument("cmd", nargs=argparse.REMAINDER)
  args = parser.parse_args(argv)
  cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
  try:
    index, total = (int(v) for v in args.step.split("/"))
    if not 1 <= index <= total:
      raise ValueError
  except ValueError:
    print(f"error: --step must be I/N with 1 <= I <= N, got {args.step!r}", file=sys.stderr)
    return 2
  if not cmd:
    print("error: no command given after --", file=sys.stderr)
    return 2
  stop_on_sigterm()
  job = JobProgress(total, tag=args.tag)
  job.index = index - 1
  return job.run_stage(args.title, cmd, args.log, args.log + ".progress")


if __name__ == "__main__":
  sys.exit(main())
