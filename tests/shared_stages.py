"""The tiny stages most modules read, built once per test session and shared by the xdist
workers (as the pytest-xdist docs' FileLock recipe, with `fcntl.flock`): a session fixture alone
is built once per worker, and each module building its own chain cost several minutes of the
suite (docs/performance.md, "Test suite").

What is shared is made read-only once built, so a test that writes into it fails at once
instead of changing what the next module reads; a test that needs to change a stage copies it.
"""

import fcntl
import os
import shutil

import export_harness
import testing

# build_tiny_chain's stages: every one at tiny/stages.gin's steps, default bindings.
CHAIN_STAGES = ("pose", "motion", "source", "rel", "adapt")


def _session_root(tmp_path_factory):
  """The directory every worker of this session sees (the parent of the workers' basetemps)."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _make_read_only(path):
  for folder, dirs, files in os.walk(path):
    for name in files:
      os.chmod(os.path.join(folder, name), 0o444)
    os.chmod(folder, 0o555)


def make_writable(path):
  """Undoes `_make_read_only` (for a copy a test wants to change)."""
  for folder, dirs, files in os.walk(path):
    os.chmod(folder, 0o755)
    for name in files:
      os.chmod(os.path.join(folder, name), 0o644)


def built_once(tmp_path_factory, name, build):
  """`build(path)` run by the first worker that asks, under a lock; the others wait and get the
  same `path`. A build that failed (no marker) is redone by the next caller."""
  root = _session_root(tmp_path_factory)
  path = root / f"shared_{name}"
  done = root / f"shared_{name}.done"
  with open(root / f"shared_{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():
      if path.exists():
        make_writable(path)
        shutil.rmtree(path)
      build(path)
      _make_read_only(path)
      done.write_text("")
  return path


def tiny_benchmark(tmp_path_factory):
  """The tiny benchmark (`benchmark/tiny.gin`), shared read-only by the session."""
  return str(built_once(tmp_path_factory, "tiny_benchmark",
                        lambda p: testing.build_tiny_benchmark(str(p))))


def tiny_chain(tmp_path_factory):
  """{'bench', 'pose', 'motion', 'source', 'rel', 'adapt'} dirs of `export_harness.build_tiny_chain`
  with every stage on `tiny_benchmark`, shared read-only by the session."""
  bench = tiny_benchmark(tmp_path_factory)
  path = built_once(tmp_path_factory, "tiny_chain",
                    lambda p: export_harness.build_tiny_chain(p, CHAIN_STAGES, bench))
  return dict({name: str(path / name) for name in CHAIN_STAGES}, bench=bench)


def exported_source(tmp_path_factory):
  """The shared chain's source stage exported by `python -m sa3dhp_tf.export` (as
  `export_fixtures.export_source`): {'saved_model': version dir, 'base', 'tflite'}."""
  import export_fixtures
  chain = tiny_chain(tmp_path_factory)
  path = built_once(tmp_path_factory, "exported_source",
                    lambda p: export_fixtures.export_source(chain["source"], p))
  return export_fixtures.export_paths(path)
