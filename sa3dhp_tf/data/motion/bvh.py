"""BVH reader: HIERARCHY + MOTION -> forward kinematics -> H36M-17 poses (mm, z up, 30 fps).

Semantics (those of the common BVH readers, e.g. LAFAN1's own loader):
- A joint's local rotation is the product of its rotation channels in the order they are listed
  (`Zrotation Xrotation Yrotation` -> Rz @ Rx @ Ry), angles in degrees; any order is accepted.
- A joint's position is `parent position + parent global rotation @ local translation`; the local
  translation is the joint's OFFSET, except that position channels (on the root, or on every
  joint as in LAFAN1) REPLACE the matching OFFSET component.
- `End Site` blocks become points named '<joint>/End Site' (used for the head top).
- The file's up axis is y (`up_axis='y'`, the BVH norm); it becomes z in the z-up world by
  (x, y, z) -> (x, -z, y), so a skeleton facing +z in the file faces -y.
- Resampling to `target_fps` interpolates joint positions linearly (`kinematics.resample`);
  Frame Time rates within 1e-4 of an integer are snapped (0.0083333 s -> 120 fps).

The pelvis is the midpoint of the two hip joints in every table (`kinematics.PELVIS_DEFINITION`),
never the root joint 'Hips', which sits above the hips on CMU skeletons.

Two hierarchy conventions are recognised (see `CONVENTIONS` for the full tables):
- 'cmu': the cgspeed / Motionbuilder-friendly BVH conversions of CMU MoCap (Hips, LHipJoint,
  LeftUpLeg, LeftLeg, LeftFoot, LowerBack, Spine, Spine1, Neck, Neck1, Head, LeftShoulder,
  LeftArm, LeftForeArm, LeftHand, ...); their lengths are in CMU ASF units (1/0.45 inch).
- 'lafan1': Ubisoft LAFAN1 (Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToe, Spine, Spine1, Spine2,
  Neck, Head, LeftShoulder, LeftArm, ...), in cm. Mixamo rigs ('mixamorig:' prefixes are
  stripped) use the same names and map through this table.
"""

import dataclasses
import os
import re
from typing import List, Optional, Tuple, Union

import numpy as np

from sa3dhp_tf.data.motion import kinematics

END_SITE = "/End Site"

_POSITION_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROTATION_CHANNELS = {"xrotation": "x", "yrotation": "y", "zrotation": "z"}
_NAME_PREFIXES = ("mixamorig:", "mixamorig1:", "mixamorig_")


@dataclasses.dataclass(frozen=True)
class Convention:
  """A BVH naming convention: `markers` (any one present selects it, checked in the order of
  `CONVENTIONS`) and the table mapping H36M joints to its points (`kinematics.JointTable`)."""
  name: str
  markers: Tuple[str, ...]
  table: kinematics.JointTable


def _limbs(hip: str, knee: str, ankle: str, shoulder: str, elbow: str, wrist: str):
  table = {}
  for side, prefix in (("r", "Right"), ("l", "Left")):
    table[f"{side}_hip"] = (hip.format(prefix),)
    table[f"{side}_knee"] = (knee.format(prefix),)
    table[f"{side}_ankle"] = (ankle.format(prefix),)
    table[f"{side}_shoulder"] = (shoulder.format(prefix),)
    table[f"{side}_elbow"] = (elbow.format(prefix),)
    table[f"{side}_wrist"] = (wrist.format(prefix),)
  return table


# CMU (cgspeed): Spine starts halfway up the back (end of ASF 'lowerback'); Neck sits at the top
# of Spine1 with a zero offset, where the clavicles start (the thorax); Neck1 is mid-neck; the
# Head's End Site is the top of the head. ('extend', 'Head', 1.0) places a head top one Head
# offset beyond the Head joint, along the Head's own frame, for files without that End Site.
CMU_TABLE = {
    "pelvis": (("lerp", "LeftUpLeg", "RightUpLeg", 0.5),),   # the Hips joint is the ASF root
    **_limbs("{}UpLeg", "{}Leg", "{}Foot", "{}Arm", "{}ForeArm", "{}Hand"),
    "spine": ("Spine",),
    "thorax": ("Neck", "Spine1"),
    "neck_nose": ("Neck1",),
    "head": ("Head" + END_SITE, ("extend", "Head", 1.0)),
}

# LAFAN1 / Mixamo: Spine1 is the lower third of the back, Neck the base of the neck (the top of
# Spine2, where the shoulders start), Head the base of the skull; the head top is the Head's End
# Site, Mixamo's HeadTop_End, or one Head offset beyond the Head joint.
LAFAN1_TABLE = {
    "pelvis": (("lerp", "LeftUpLeg", "RightUpLeg", 0.5),),
    **_limbs("{}UpLeg", "{}Leg", "{}Foot", "{}Arm", "{}ForeArm", "{}Hand"),
    "spine": ("Spine1",),
    "thorax": ("Neck",),
    "neck_nose": ("Head",),
    "head": ("HeadTop_End", "Head" + END_SITE, ("extend", "Head", 1.0)),
}

CONVENTIONS = (
    Convention("cmu", ("LHipJoint", "RHipJoint", "LowerBack", "Neck1"), CMU_TABLE),
    Convention("lafan1", ("Spine2", "LeftToe", "LeftToeBase", "HeadTop_End"), LAFAN1_TABLE),
)
for _c in CONVENTIONS:
  kinematics.check_table(_c.table, _c.name)


@dataclasses.dataclass
class BvhJoint:
  """One HIERARCHY node. `channels` name the file's channels of this joint (original spelling);
  `channel_start` is the index of the first one in a MOTION frame. End sites have no channels."""
  name: str
  parent: int
  offset: np.ndarray
  channels: Tuple[str, ...]
  channel_start: int
  is_end_site: bool
  line: int


@dataclasses.dataclass
class BvhData:
  """A parsed BVH file: joints parents-first, Frame Time in seconds, MOTION `[T, C]` float64."""
  path: str
  joints: List[BvhJoint]
  frame_time: float
  motion: np.ndarray

  @property
  def num_channels(self) -> int:
    return sum(len(j.channels) for j in self.joints)

  @property
  def names(self) -> List[str]:
    return [j.name for j in self.joints]

  @property
  def fps(self) -> float:
    return kinematics.snap_fps(1.0 / self.frame_time)


def _canonical_name(name: str) -> str:
  for prefix in _NAME_PREFIXES:
    if name.lower().startswith(prefix):
      return name[len(prefix):]
  return name


def _parse_float(token: str, path, line: int, what: str) -> float:
  try:
    value = float(token)
  except ValueError:
    raise kinematics.format_error(path, f"bad number {token!r} in {what}", line) from None
  if not np.isfinite(value):
    raise kinematics.format_error(path, f"non-finite number {token!r} in {what}", line)
  return value


class _Tokens:
  """Whitespace/brace tokens of the HIERARCHY section with their 1-based line numbers."""

  def __init__(self, lines: List[str], path):
    self.path = path
    self.items = []
    for number, text in enumerate(lines, start=1):
      for token in re.findall(r"[{}]|[^\s{}]+", text):
        self.items.append((token, number))
    self.pos = 0
    self.last_line = len(lines)

  def next(self, what: str) -> Tuple[str, int]:
    if self.pos >= len(self.items):
      raise kinematics.format_error(self.path, f"unexpected end of HIERARCHY, expected {what}",
                                    self.last_line)
    item = self.items[self.pos]
    self.pos += 1
    return item

  def expect(self, expected: str) -> int:
    token, line = self.next(repr(expected))
    if token != expected:
      raise kinematics.format_error(self.path, f"expected {expected!r}, got {token!r}", line)
    return line

  def done(self) -> bool:
    return self.pos >= len(self.items)


def _parse_hierarchy(tokens: _Tokens, path) -> List[BvhJoint]:
  joints: List[BvhJoint] = []
  seen = {}
  channel_count = [0]

  def parse_node(name: str, parent: int, line: int, end_site: bool):
    tokens.expect("{")
    index = len(joints)
    joint = BvhJoint(name, parent, None, (), channel_count[0], end_site, line)
    joints.append(joint)
    while True:
      token, tline = tokens.next("'}' closing " + name)
      key = token.upper()
      if token == "}":
        break
      if key == "OFFSET":
        values = [_parse_float(tokens.next("OFFSET value")[0], path, tline, f"OFFSET of {name}")
                  for _ in range(3)]
        joint.offset = np.array(values)
      elif key == "CHANNELS" and not end_site:
        count_token, cline = tokens.next("channel count")
        if not count_token.isdigit():
          raise kinematics.format_error(path, f"bad channel count {count_token!r} for {name}",
                                        cline)
        channels = []
        for _ in range(int(count_token)):
          channel, chline = tokens.next("channel name")
          known = channel.lower() in _POSITION_CHANNELS or channel.lower() in _ROTATION_CHANNELS
          if not known:
            raise kinematics.format_error(path, f"unknown channel {channel!r} of {name}", chline)
          channels.append(channel)
        if len({c.lower() for c in channels}) != len(channels):
          raise kinematics.format_error(path, f"repeated channel in {channels} of {name}", cline)
        joint.channels = tuple(channels)
        joint.channel_start = channel_count[0]
        channel_count[0] += len(channels)
      elif key in ("JOINT", "ROOT") and not end_site:
        if key == "ROOT":
          raise kinematics.format_error(path, "a second ROOT inside a joint is not supported",
                                        tline)
        child, cline = tokens.next("joint name")
        parse_node(_register(child, cline), index, cline, False)
      elif key == "END" and not end_site:
        site, sline = tokens.next("'Site'")
        if site.upper() != "SITE":
          raise kinematics.format_error(path, f"expected 'End Site', got 'End {site}'", sline)
        parse_node(_register(name + END_SITE, tline), index, tline, True)
      else:
        raise kinematics.format_error(path, f"unexpected {token!r} in {name}", tline)
    if joint.offset is None:
      raise kinematics.format_error(path, f"{name} has no OFFSET", line)

  def _register(raw_name: str, line: int) -> str:
    name = _canonical_name(raw_name)
    if name in seen:
      raise kinematics.format_error(
          path, f"duplicate joint name {raw_name!r} (first at line {seen[name]})", line)
    seen[name] = line
    return name

  token, line = tokens.next("HIERARCHY")
  if token.upper() != "HIERARCHY":
    raise kinematics.format_error(path, f"expected HIERARCHY, got {token!r}", line)
  token, line = tokens.next("ROOT")
  if token.upper() != "ROOT":
    raise kinematics.format_error(path, f"expected ROOT, got {token!r}", line)
  name, nline = tokens.next("root name")
  parse_node(_register(name, nline), -1, nline, False)
  if not tokens.done():
    token, line = tokens.next("")
    raise kinematics.format_error(
        path, f"unexpected {token!r} after the root joint (only one ROOT is supported)", line)
  return joints


def _parse_motion(lines: List[str], first_line: int, path, num_channels: int):
  """Parses the MOTION section; `lines` start right after the MOTION keyword line, which is
  line `first_line - 1` of the file."""
  cursor = 0

  def next_content(what):
    nonlocal cursor
    while cursor < len(lines) and not lines[cursor].strip():
      cursor += 1
    if cursor >= len(lines):
      raise kinematics.format_error(path, f"truncated MOTION block: missing {what}",
                                    first_line + len(lines) - 1)
    cursor += 1
    return lines[cursor - 1].strip(), first_line + cursor - 1

  text, line = next_content("'Frames:'")
  match = re.fullmatch(r"Frames\s*:\s*(\S+)", text, flags=re.IGNORECASE)
  if not match:
    raise kinematics.format_error(path, f"expected 'Frames: <count>', got {text!r}", line)
  if not match.group(1).isdigit():
    raise kinematics.format_error(path, f"bad frame count {match.group(1)!r}", line)
  num_frames = int(match.group(1))
  if num_frames == 0:
    raise kinematics.format_error(path, "the MOTION block has no frames", line)
  text, line = next_content("'Frame Time:'")
  match = re.fullmatch(r"Frame\s+Time\s*:\s*(\S+)", text, flags=re.IGNORECASE)
  if not match:
    raise kinematics.format_error(path, f"expected 'Frame Time: <seconds>', got {text!r}", line)
  frame_time = _parse_float(match.group(1), path, line, "Frame Time")
  if frame_time <= 0:
    raise kinematics.format_error(path, f"Frame Time must be positive, got {frame_time}", line)

  frame_lines, numbers = [], []
  for offset in range(cursor, len(lines)):
    tokens = lines[offset].split()
    if not tokens:
      continue
    number = first_line + offset
    if len(frame_lines) == num_frames:
      raise kinematics.format_error(
          path, f"MOTION has more frame lines than the {num_frames} declared by 'Frames:'",
          number)
    if len(tokens) != num_channels:
      raise kinematics.format_error(
          path, f"frame {len(frame_lines)} has {len(tokens)} values, expected {num_channels} "
          f"(one per channel)", number)
    frame_lines.append(tokens)
    numbers.append(number)
  if len(frame_lines) < num_frames:
    raise kinematics.format_error(
        path, f"truncated MOTION block: 'Frames:' declares {num_frames} frames, found "
        f"{len(frame_lines)}", first_line + len(lines) - 1)
  try:
    motion = np.array(frame_lines, dtype=np.float64)
  except ValueError:
    motion = None
  if motion is None or not np.all(np.isfinite(motion)):
    for tokens, number in zip(frame_lines, numbers):
      for token in tokens:
        _parse_float(token, path, number, "MOTION frame")
  return frame_time, motion


def parse_bvh(path) -> BvhData:
  """Parses a BVH file (no kinematics). Raises `MotionFormatError` naming the file and line."""
  path = os.fspath(path)
  with open(path, "r", encoding="utf-8", errors="replace") as f:
    lines = f.read().splitlines()
  motion_index = next((i for i, text in enumerate(lines)
                       if text.strip().upper() == "MOTION"), None)
  if motion_index is None:
    raise kinematics.format_error(path, "no MOTION section", len(lines) or None)
  joints = _parse_hierarchy(_Tokens(lines[:motion_index], path), path)
  num_channels = sum(len(j.channels) for j in joints)
  if num_channels == 0:
    raise kinematics.format_error(path, "the HIERARCHY declares no channels", motion_index)
  frame_time, motion = _parse_motion(lines[motion_index + 1:], motion_index + 2, path,
                                     num_channels)
  return BvhData(path, joints, frame_time, motion)


def local_translations(data: BvhData) -> np.ndarray:
  """`[T, J, 3]` translation of each joint from its parent: the OFFSET, with the components that
  have position channels replaced by the channel values."""
  translations = np.empty((data.motion.shape[0], len(data.joints), 3))
  for j, joint in enumerate(data.joints):
    translations[:, j] = joint.offset
    for k, channel in enumerate(joint.channels):
      axis = _POSITION_CHANNELS.get(channel.lower())
      if axis is not None:
        translations[:, j, axis] = data.motion[:, joint.channel_start + k]
  return translations


def local_rotations(data: BvhData) -> np.ndarray:
  """`[T, J, 3, 3]` rotation of each joint relative to its parent (rotation channels composed in
  the order they are listed; identity without rotation channels)."""
  rotations = np.broadcast_to(np.eye(3), (data.motion.shape[0], len(data.joints), 3, 3)).copy()
  for j, joint in enumerate(data.joints):
    axes, columns = "", []
    for k, channel in enumerate(joint.channels):
      axis = _ROTATION_CHANNELS.get(channel.lower())
      if axis is not None:
        axes += axis
        columns.append(data.motion[:, joint.channel_start + k])
    if axes:
      rotations[:, j] = kinematics.euler_to_matrix(np.deg2rad(np.stack(columns, -1)), axes)
  return rotations


def bvh_forward_kinematics(data: BvhData, translations: Optional[np.ndarray] = None
                           ) -> Tuple[np.ndarray, np.ndarray]:
  """World positions `[T, J, 3]` (file units and axes) and global rotations `[T, J, 3, 3]`."""
  if translations is None:
    translations = local_translations(data)
  parents = [j.parent for j in data.joints]
  return kinematics.forward_kinematics(parents, translations, local_rotations(data),
                                       translations[:, 0], segment_style="bvh")


def detect_convention(names, path=None) -> Convention:
  """The first convention of `CONVENTIONS` with a marker joint among `names`."""
  names = set(names)
  for convention in CONVENTIONS:
    if any(marker in names for marker in convention.markers):
      return convention
  expected = "; ".join(f"{c.name}: any of {list(c.markers)}" for c in CONVENTIONS)
  shown = sorted(n for n in names if not n.endswith(END_SITE))
  raise kinematics.format_error(
      path, f"unknown BVH hierarchy (joints {shown}); recognised conventions need {expected}")


def read_bvh(path, units: Union[str, float] = "auto", target_fps: Optional[float] = 30,
             convention: str = "auto", up_axis: str = "y") -> kinematics.MotionClip:
  """Reads a BVH file into a `MotionClip` of H36M-17 poses (mm, z-up world, `target_fps`).

  Args:
    path: the .bvh file.
    units: 'mm', 'cm', 'm', 'inch', 'cmu' (1/0.45 inch, the CMU ASF unit kept by the cgspeed
      conversions), a number of mm per file unit, or 'auto': the unit under which the skeleton's
      stature chain is closest to an adult's (`kinematics.resolve_units`).
    target_fps: output frame rate (linear interpolation of positions); None keeps the file's.
    convention: 'auto', or a name in `CONVENTIONS` ('cmu', 'lafan1').
    up_axis: the file's up axis, 'y' (BVH norm) or 'z'.
  """
  data = parse_bvh(path)
  names = data.names
  if convention == "auto":
    chosen = detect_convention(names, data.path)
  else:
    by_name = {c.name: c for c in CONVENTIONS}
    if convention not in by_name:
      raise ValueError(f"{data.path}: unknown convention {convention!r}; known: {list(by_name)}")
    chosen = by_name[convention]
  translations = local_translations(data)
  positions, rotations = bvh_forward_kinematics(data, translations)
  index = {name: j for j, name in enumerate(names)}
  # End sites with a zero offset coincide with their joint: useless as a head top.
  usable = {name: j for name, j in index.items()
            if not (data.joints[j].is_end_site and not np.any(data.joints[j].offset))}

  def resolve(spec):
    if isinstance(spec, str):
      j = usable.get(spec)
      return None if j is None else positions[:, j]
    if spec[0] == "extend":
      # A point one (scaled) local translation beyond the joint, along the joint's own frame.
      j = index.get(spec[1])
      if j is None or not np.any(translations[:, j]):
        return None
      return positions[:, j] + float(spec[2]) * np.einsum("tab,tb->ta", rotations[:, j],
                                                          translations[:, j])
    raise ValueError(f"unknown joint spec {spec!r}")

  poses, joint_map = kinematics.map_to_h36m(chosen.table, resolve, data.path, chosen.name)
  return kinematics.finish_clip(
      poses, path=data.path, source_fps=data.fps, target_fps=target_fps, units=units,
      convention=chosen.name, joint_map=joint_map, up_axis=up_axis,
      source_frames=data.motion.shape[0])
