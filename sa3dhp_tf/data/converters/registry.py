"""The converters registry: one entry per dataset, like `sa3dhp_tf/relations.py`.

A converter knows one dataset's layout and nothing about TFRecords: `list_items(root, options)`
returns the dataset's work items (one annotation file, one video, one camera of a sequence), each
tagged with the dataset's own partition ('train' or 'test'); `read_item(item, options)` yields
the item's `Sequence`s (camera-frame poses, intrinsics, frames on demand) or `MocapSequence`s.
The shared engine (`engine.py`) shards the items, crops, resamples to 30 fps, writes the
project's schema and the manifest. Adding a dataset is one module with one `register` call.
"""

import dataclasses
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from sa3dhp_tf import errors

# Which benchmark split each dataset partition becomes, per role (README "Real datasets").
ROLES = {
    "source": {"train": ("source",), "test": ("source_test",)},
    "target": {"train": ("target_train", "target_labeled"), "test": ("target_test",)},
    "target_unlabeled": {"train": ("target_train",)},
    "test": {"test": ("target_test",)},
    "mocap": {"train": ("mocap",)},
}


class ConversionError(errors.UserError):
  """A dataset file is missing or malformed; the message starts with the file's path."""


def file_error(path, message) -> ConversionError:
  return ConversionError(f"{path}: {message}")


@dataclasses.dataclass(frozen=True)
class Item:
  """One unit of work. `key` is unique in the dataset and stable across runs (a relative path,
  with a camera or person suffix when one file holds several); `paths` are the files it reads."""
  partition: str
  key: str
  paths: Tuple[str, ...]
  info: Tuple[Tuple[str, object], ...] = ()

  def get(self, name, default=None):
    return dict(self.info).get(name, default)


@dataclasses.dataclass
class Sequence:
  """One person seen by one camera, at the source frame rate `fps`.

  poses: `[T, 17, 3]` camera frame (x right, y down, z forward), mm, H36M-17 order, pelvis
    already defined (`kinematics.PELVIS_DEFINITION`, or the dataset's own where its evaluation
    protocol says so); None for unlabeled video.
  intrinsics: `[T, 4]` fx, fy, cx, cy in pixels of the full frame.
  boxes: `[T, 4]` person box x0, y0, x1, y1 in the full frame (None: from `points2d`).
  points2d: `[T, K, 2]` image points that bound the person (e.g. every projected source joint).
  valid: `[T]` bool; invalid frames are never written and break clips.
  read_frames(ids): RGB full frames `[H, W, 3]` uint8 for sorted source frame ids; raises a
    `ConversionError` naming the file if the video or an image is missing or truncated.
  """
  sequence_id: str
  subject: str
  action: str
  fps: float
  num_frames: int
  read_frames: Callable[[List[int]], Iterator[np.ndarray]]
  intrinsics: np.ndarray
  poses: Optional[np.ndarray] = None
  roots: Optional[np.ndarray] = None
  boxes: Optional[np.ndarray] = None
  points2d: Optional[np.ndarray] = None
  valid: Optional[np.ndarray] = None
  actions: Optional[List[str]] = None   # per-frame labels (3DHP test); a clip takes its majority


@dataclasses.dataclass
class MocapSequence:
  """World-frame pose sequence, z up, mm, H36M-17, at `fps`."""
  sequence_id: str
  subject: str
  action: str
  fps: float
  poses_world: np.ndarray


@dataclasses.dataclass(frozen=True)
class Converter:
  """One dataset. `options` is a frozen dataclass type with the dataset's settings (overridable
  with `--option name=value`); `layout` is the README text of the expected folder layout."""
  name: str
  description: str
  layout: str
  roles: Tuple[str, ...]
  default_role: str
  options: type
  list_items: Callable[[str, object], List[Item]]
  read_item: Callable[[Item, object], Iterator[object]]


_REGISTRY: Dict[str, Converter] = {}


def register(converter: Converter) -> Converter:
  if converter.name in _REGISTRY:
    raise ValueError(f"converter {converter.name!r} is already registered")
  unknown = [r for r in converter.roles if r not in ROLES]
  if unknown or converter.default_role not in converter.roles:
    raise ValueError(f"converter {converter.name!r}: bad roles {converter.roles}")
  _REGISTRY[converter.name] = converter
  return converter


def get_converter(name: str) -> Converter:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise errors.UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}"
                           ) from None


def converter_names():
  return sorted(_REGISTRY)


def parse_options(converter: Converter, pairs) -> object:
  """Builds the converter's options from 'name=value' strings (values parsed as Python literals
  where possible: numbers, tuples, booleans; else kept as strings)."""
  import ast
  fields = {f.name: f for f in dataclasses.fields(converter.options)}
  values = {}
  for pair in pairs or ():
    if "=" not in pair:
      raise errors.UserError(f"--option {pair!r}: expected name=value")
    name, text = (s.strip() for s in pair.split("=", 1))
    if name not in fields:
      raise errors.UserError(f"--option {name!r}: {converter.name} has no such option; known: "
                             f"{', '.join(sorted(fields))}")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    if isinstance(value, list):
      value = tuple(value)
    values[name] = value
  return converter.options(**values)
