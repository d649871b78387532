"""Which exact earlier stages a stage was built on, and a check of the whole chain.

The identity of a finished stage is a content hash (SHA-256) of its `stage_info.json` and of
every file in the folder that holds its model weights. A stage records, for each stage it was
built on, that stage's identity and, recursively, the identities that stage recorded, as
`stage_info.json["lineage"] = {input name: {"model_dir", "identity", "lineage"}}`.

`check_chain(model_dir)` recomputes the identity of every stage down the chain and compares it
with what was recorded when the later stage was built: a stage retrained, or replaced by another,
after a later stage was built on it is reported by name instead of silently mixing models.
`check_shared` checks that two stages were built on the same copy of a common input (e.g. the
relation networks and the source model on one pose AAE).
"""

import hashlib
import json
import os

from sa3dhp_tf import errors

INFO_FILE = "stage_info.json"
LINEAGE_KEY = "lineage"
# Folders a stage may keep its weights in (the first that exists is hashed).
WEIGHT_DIRS = ("models", "export")


class LineageError(errors.UserError):
  """An earlier stage changed (or was replaced) after a later stage was built on it."""


def _weights_dir(model_dir):
  for name in WEIGHT_DIRS:
    path = os.path.join(model_dir, name)
    if os.path.isdir(path):
      return path
  return None


def identity(model_dir) -> str:
  """SHA-256 over stage_info.json and every weight file (names and bytes), hex."""
  digest = hashlib.sha256()
  info_path = os.path.join(model_dir, INFO_FILE)
  files = [(INFO_FILE, info_path)]
  weights = _weights_dir(model_dir)
  if weights:
    for root, _, names in sorted(os.walk(weights)):
      for name in sorted(names):
        path = os.path.join(root, name)
        files.append((os.path.relpath(path, model_dir), path))
  for rel, path in files:
    digest.update(rel.encode() + b"\0")
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    digest.update(b"\0")
  return digest.hexdigest()


def _read_info(model_dir):
  with open(os.path.join(model_dir, INFO_FILE)) as f:
    return json.load(f)


def record(inputs) -> dict:
  """The lineage to store for a stage built on `inputs` ({name: model_dir})."""
  out = {}
  for name, model_dir in sorted((inputs or {}).items()):
    info = _read_info(model_dir)
    out[name] = {"model_dir": os.path.abspath(model_dir), "identity": identity(model_dir),
                 "lineage": info.get(LINEAGE_KEY, {})}
  return out


def check_chain(model_dir, info=None):
  """Verifies every recorded ancestor of the stage in `model_dir` still has the identity it
  had when the stage (or an intermediate one) was built. Returns the number of stages checked."""
  info = info if info is not None else _read_info(model_dir)
  return _check(info.get(LINEAGE_KEY, {}), model_dir)


def _check(lineage, built_dir):
  checked = 0
  for name, entry in lineage.items():
    ancestor = entry["model_dir"]
    if not os.path.isfile(os.path.join(ancestor, INFO_FILE)):
      raise LineageError(f"{built_dir} was built on the {name} stage {ancestor}, which is gone")
    if identity(ancestor) != entry["identity"]:
      raise LineageError(f"the {name} stage {ancestor} changed after {built_dir} was built on it "
                         "(retrained or replaced); rerun the later stage")
    checked += 1 + _check(entry.get("lineage", {}), ancestor)
  return checked


def identities(info, name):
  """Every recorded identity of an input called `name` anywhere in the lineage of `info`."""
  found = set()

  def walk(lineage):
    for key, entry in lineage.items():
      if key == name:
        found.add(entry["identity"])
      walk(entry.get("lineage", {}))
  walk(info.get(LINEAGE_KEY, {}))
  return found


def check_shared(name, first_dir, first_info, second_dir, second_info):
  """Both stages must have been built on the same `name` stage (same identity)."""
  a, b = identities(first_info, name), identities(second_info, name)
  if a and b:
    if a != b:
      raise LineageError(f"{first_dir} and {second_dir} were built on different {name} stages "
                         f"(content hashes differ); they must share one")
    return
  # a stage saved before lineage was recorded: compare the directories both list, as files
  # (a link or a moved copy of the same stage is the same stage)
  first, second = (info.get("inputs", {}).get(name) for info in (first_info, second_info))
  if first and second and os.path.realpath(first) != os.path.realpath(second):
    raise LineageError(f"{first_dir} was built on the {name} stage {first} but {second_dir} on "
                       f"{second}; they must share one")


def check_built_on(model_dir, info, name, expected_dir):
  """The stage in `model_dir` must have been built on the `name` stage in `expected_dir`."""
  found = identities(info, name)
  if found and identity(expected_dir) not in found:
    raise LineageError(f"{model_dir} was built on another {name} stage than {expected_dir} "
                       f"(content hashes differ); they must share one")
  if not found:  # a stage saved before lineage was recorded: compare the paths it lists
    recorded = info.get("inputs", {}).get(name)
    if recorded and os.path.realpath(recorded) != os.path.realpath(expected_dir):
      raise LineageError(f"{model_dir} was built on the {name} stage {recorded}, not "
                         f"{expected_dir}")
