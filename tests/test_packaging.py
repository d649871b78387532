"""A clean, non-editable install ships every gin config and finds it from any directory.

Builds a wheel offline (`pip wheel --no-deps --no-build-isolation --no-index`, i.e. with the
setuptools and wheel of this interpreter), installs it with `pip install --no-deps --target`, and
imports the installed copy in a subprocess whose only extra path entry is the install target.

The wheel is built from a copy of the files the build reads (pyproject.toml, setup.cfg, README,
the package), because setuptools builds in `./build`, which goes stale: a gin file deleted from
the sources but left in `build/lib` would still be packed, and a test building in the shared
checkout would leave `build/` and `*.egg-info` behind.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "sa3dhp_tf"
SOURCE_GIN_DIR = os.path.join(REPO_ROOT, PACKAGE, "gin_configs")
# Files setuptools reads besides the package (setup.cfg's long_description and license globs).
_BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md")
_LICENSE_GLOBS = ("LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*")


def _source_gin_files():
  found = []
  for root, _, files in os.walk(SOURCE_GIN_DIR, followlinks=True):
    for name in files:
      if name.endswith(".gin"):
        found.append(os.path.relpath(os.path.join(root, name), SOURCE_GIN_DIR))
  return sorted(found)


def _pip(args, cwd, timeout=120):
  env = dict(os.environ)
  env.pop("PYTHONPATH", None)
  env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
  env["PIP_NO_INPUT"] = "1"
  result = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
  assert result.returncode == 0, (
      f"pip {' '.join(args)} failed (offline build needs setuptools>=61 and wheel in "
      f"{sys.executable}):\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
  return result


def _copy_build_inputs(dst):
  os.makedirs(dst)
  for name in _BUILD_FILES:
    if os.path.isfile(os.path.join(REPO_ROOT, name)):
      shutil.copy2(os.path.join(REPO_ROOT, name), dst)
  for pattern in _LICENSE_GLOBS:
    for path in glob.glob(os.path.join(REPO_ROOT, pattern)):
      shutil.copy2(path, dst)
  shutil.copytree(os.path.join(REPO_ROOT, PACKAGE), os.path.join(dst, PACKAGE),
                  ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  base = tmp_path_factory.mktemp("packaging")
  src, wheels, target = str(base / "src"), str(base / "wheels"), str(base / "site")
  _copy_build_inputs(src)
  _pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", wheels, src],
       cwd=str(base))
  built = glob.glob(os.path.join(wheels, f"{PACKAGE}-*.whl"))
  assert len(built) == 1, os.listdir(wheels)
  _pip(["install", "--no-deps", "--no-index", "-q", "--target", target, built[0]], cwd=str(base))
  return {"base": base, "wheel": built[0], "target": target}


def test_source_tree_has_gin_configs():
  # Guards the comparison below against an empty or moved config folder.
  assert "tiny_dry_run.gin" in _source_gin_files()


def test_wheel_contains_every_gin_config(installed):
  with zipfile.ZipFile(installed["wheel"]) as wheel:
    prefix = f"{PACKAGE}/gin_configs/"
    packed = sorted(n[len(prefix):] for n in wheel.namelist()
                    if n.startswith(prefix) and n.endswith(".gin"))
  assert packed == _source_gin_files()


def test_installed_package_finds_its_gin_configs(installed):
  workdir = installed["base"] / "elsewhere"
  workdir.mkdir()
  script = textwrap.dedent("""
      import json, os, sys
      import sa3dhp_tf
      from sa3dhp_tf import config
      found = []
      for root, _, files in os.walk(config.GIN_CONFIG_DIR):
        found += [os.path.relpath(os.path.join(root, f), config.GIN_CONFIG_DIR)
                  for f in files if f.endswith(".gin")]
      resolved = {rel: config.resolve_gin_file(rel) for rel in found}
      print(json.dumps({"file": sa3dhp_tf.__file__, "gin_dir": config.GIN_CONFIG_DIR,
                        "found": sorted(found), "resolved": resolved,
                        "version": sa3dhp_tf.__version__}))
  """)
  env = dict(os.environ)
  env["PYTHONPATH"] = installed["target"]
  result = subprocess.run([sys.executable, "-c", script], cwd=str(workdir), env=env,
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-3000:]
  info = json.loads(result.stdout.strip().splitlines()[-1])
  target = os.path.realpath(installed["target"])
  assert os.path.realpath(info["file"]).startswith(target + os.sep), info["file"]
  assert not os.path.realpath(info["file"]).startswith(REPO_ROOT + os.sep)
  assert os.path.realpath(info["gin_dir"]) == os.path.join(target, PACKAGE, "gin_configs")
  assert info["found"] == _source_gin_files()
  for rel, path in info["resolved"].items():
    assert os.path.realpath(path) == os.path.join(target, PACKAGE, "gin_configs", rel)
  assert os.path.basename(installed["wheel"]).startswith(f"{PACKAGE}-{info['version']}-")


def test_install_has_console_script(installed):
  script = os.path.join(installed["target"], "bin", "sa3dhp-train")
  assert os.path.isfile(script)
  with open(script) as f:
    assert "sa3dhp_tf.train" in f.read()
