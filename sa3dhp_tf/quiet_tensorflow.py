"""TensorFlow's import without its C++ start-up lines.

TF 2.21 prints the absl "log messages before InitializeLog" banner and the oneDNN notice to
stderr, twice, while `import tensorflow` runs, whatever TF_CPP_MIN_LOG_LEVEL says (the level is
read only after absl's logging starts; upstream tensorflow/tensorflow#100442). Every command of
the project printed them before its own output, and before its one `error:` line. `install()`
adds an import hook that sends the process's stderr (fd 2) to /dev/null while the `tensorflow`
module itself executes, and nowhere else: Python errors raised by the import still reach the
user (the traceback is printed after stderr is restored), and everything TF logs once imported
follows TF_CPP_MIN_LOG_LEVEL as usual. Setting TF_CPP_MIN_LOG_LEVEL=0 keeps the lines.
"""

import contextlib
import importlib.abc
import os
import sys


@contextlib.contextmanager
def stderr_to_devnull():
  """fd 2 -> /dev/null for the block (C++ writes too, not only `sys.stderr`)."""
  try:
    sys.stderr.flush()
  except (AttributeError, ValueError):
    pass
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    with stderr_to_devnull():
      self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
  """Wraps the loader of the top-level `tensorflow` package, once."""

  def find_spec(self, name, path=None, target=None):
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)  # find the real spec, and never wrap again
    from importlib.machinery import PathFinder
    spec = PathFinder.find_spec(name, path)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietLoader(spec.loader)
    return spec


def wanted():
  """Unless the user asked for TF's every line (TF_CPP_MIN_LOG_LEVEL=0)."""
  return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() != "0"


def install():
  """Adds the hook if TensorFlow is not imported yet and the lines are not wanted."""
  if "tensorflow" in sys.modules or not wanted():
    return
  if not any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
