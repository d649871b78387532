"""The error contract every command of the project keeps (README "Errors").

A *user error* is something the person running a command can fix: a missing or malformed file, a
flag or gin binding out of range, an incompatible earlier stage. It is raised as a `UserError`
(or a subclass: `config.ConfigError`, `stage_io.StageError`, `schema.DataError`, ...) anywhere in
the library, and the one error boundary, `run`, turns it into a single `error: ...` line on stderr
and exit status 2. Anything else is a bug in the project and keeps its traceback.

Binaries call `errors.run(main)` instead of `absl.app.run(main)`. This module imports nothing
heavy, so the lowest layers of the package can raise its errors.
"""

import os
import sys
import tempfile

EXIT_USER_ERROR = 2


class UserError(ValueError):
  """A problem the user must fix; the message names the file, field, flag or stage."""


class ConfigError(UserError):
  """A configuration problem a user must fix (bad file, binding, setting or stage name)."""


def first_line(error) -> str:
  text = str(error).strip() or type(error).__name__
  return text.splitlines()[0]


def report(error) -> None:
  """Prints one `error:` line. Gin and TF append context on later lines; the first one names
  the problem."""
  print(f"error: {first_line(error)}", file=sys.stderr)


def exit_with_error(message):
  report(message)
  sys.exit(EXIT_USER_ERROR)


def guard(main):
  """Wraps an absl `main(argv)` so a `UserError` becomes the one-line report and exit status 2."""

  def guarded(argv):
    try:
      return main(argv)
    except UserError as e:
      exit_with_error(e)

  guarded.__name__ = getattr(main, "__name__", "main")
  guarded.__doc__ = main.__doc__
  return guarded


def quiet_startup():
  """Silences TensorFlow's C++ start-up lines (CPU feature guard, oneDNN notice, the absl
  "log messages before InitializeLog" banner) unless the user chose a level. Binaries call it
  before anything imports TensorFlow; Python logging (absl) is not affected."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run(main):
  """`absl.app.run` behind the error boundary."""
  quiet_startup()
  import warnings
  # Keras 3.15 warns on every load of a functional sub-model that its internal
  # `_operations_by_depth` containers hold no weights; the stage golden tests and the export
  # parity checks show the loaded models compute what was saved.
  warnings.filterwarnings("ignore", message="Skipping nested container")
  from absl import app  # only binaries pay for absl's import
  app.run(guard(main))


def check_positional(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected positional arguments: {' '.join(argv[1:])}")


def require_flags(flag_values, *names):
  for name in names:
    if not getattr(flag_values, name):
      raise UserError(f"--{name} is required")


def check_writable(path: str, what: str) -> str:
  """Proves that `path` (a file or folder to be made later) can be created, without creating
  it: its deepest existing ancestor must be a folder that takes a file. For checks before any
  work, where a bad later input must leave nothing behind."""
  parent = os.path.abspath(path)
  if os.path.exists(parent) and not os.path.isdir(parent):
    raise UserError(f"{what}: cannot write to {path}: it exists and is not a directory")
  if os.path.isdir(parent):
    probe_dir = parent
  else:
    probe_dir = os.path.dirname(parent)
    while not os.path.exists(probe_dir):
      probe_dir = os.path.dirname(probe_dir)
  if not os.path.isdir(probe_dir):
    raise UserError(f"{what}: cannot write to {path}: {probe_dir} is not a directory")
  try:
    with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".write_check_"):
      pass
  except OSError as e:
    raise UserError(f"{what}: cannot write to {path}: {e.strerror or e}") from e
  return path


def ensure_writable_dir(path: str, what: str) -> str:
  """Creates `path` if needed and proves it writable before any work starts (a run that fails
  only when it writes its result wastes the whole run). `what` names the flag or setting."""
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".write_check_"):
      pass
  except OSError as e:
    raise UserError(f"{what}: cannot write to {path}: {e.strerror or e}") from e
  return path


def ensure_writable_file(path: str, what: str) -> str:
  """Checks that output file `path` can be written, creating nothing (its folder is made when the
  file is written)."""
  if os.path.isdir(path):
    raise UserError(f"{what}: {path} is a directory, expected a file path")
  check_writable(os.path.dirname(os.path.abspath(path)), what)
  if os.path.isdir(path):
    raise UserError(f"{what}: {path} is a directory, expected a file path")
  return path
