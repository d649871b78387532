"""Acclaim ASF (skeleton) + AMC (motion) reader, as used by CMU MoCap -> H36M-17 poses.

Forward kinematics follows the Acclaim spec as the CMU viewer and common readers implement it:
- every bone has a `direction` (unit vector in the world frame at rest), a `length`, an `axis`
  (three angles and an order, e.g. `0 0 -20 XYZ`) and `dof`s (a subset of rx ry rz);
- `C` is the axis rotation, composed with the first letter of the order applied first
  ('XYZ' -> C = Rz @ Ry @ Rx); `M` is the frame's dof rotation, composed in the order the dofs are
  listed ('rx ry rz' -> M = Rz @ Ry @ Rx); the bone's local transform is `L = C @ M @ C^-1`
  (the spec's row-vector `C^-1 M C`), its global rotation `G = G_parent @ L`;
- the bone starts at its parent's end and ends at `start + length * G @ direction`;
- the root's rotation channels (`:root order`, e.g. TX TY TZ RX RY RZ) compose in their listed
  order and `C_root` comes from `:root orientation` with the `:root axis` order; the AMC root
  translation is the root's position (components absent from `order` come from
  `:root position`).
Units: `:units length L` means one file unit is 1/L inch (CMU's `length 0.45`: 1 unit = 56.44
mm), so mm = value * 25.4 / L; `angle deg|rad` sets the ASF angle unit and `:DEGREES` /
`:RADIANS` the AMC one (degrees by default). Bone and root translation dofs (tx ty tz l on
bones) are not supported and raise an error.

The file's y-up frame becomes z-up ((x, y, z) -> (x, -z, y)); CMU's 120 fps AMC frames are
resampled to 30 fps (every 4th frame). Mapping to H36M-17 (`CMU_ASF_TABLE`): each H36M joint
is the END of a CMU bone:
pelvis=midpoint of the hip joints (NOT the ASF root, which on CMU skeletons sits about 100 mm
above them; `kinematics.PELVIS_DEFINITION`), hips=end of l/rhipjoint, knees=end of l/rfemur, ankles=end of l/rtibia, spine=
halfway between the ends of lowerback and upperback, thorax=end of thorax, neck_nose=end of
lowerneck, head=end of head, shoulders=end of l/rclavicle, elbows=end of l/rhumerus,
wrists=end of l/rradius.
"""

import dataclasses
import os
import re
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from sa3dhp_tf.data.motion import kinematics

CMU_AMC_FPS = 120.0

CMU_ASF_TABLE = {
    # The hip midpoint, as in Human3.6M, the procedural motion and the BVH tables: CMU's ASF root
    # sits about 100 mm above (and off the line of) the hip joints, so taking it as the pelvis
    # would shift every root-relative pose.
    "pelvis": (("lerp", "lhipjoint", "rhipjoint", 0.5),),
    "r_hip": ("rhipjoint",),
    "r_knee": ("rfemur",),
    "r_ankle": ("rtibia",),
    "l_hip": ("lhipjoint",),
    "l_knee": ("lfemur",),
    "l_ankle": ("ltibia",),
    "spine": (("lerp", "lowerback", "upperback", 0.5),),
    "thorax": ("thorax",),
    "neck_nose": ("lowerneck",),
    "head": ("head",),
    "l_shoulder": ("lclavicle",),
    "l_elbow": ("lhumerus",),
    "l_wrist": ("lradius",),
    "r_shoulder": ("rclavicle",),
    "r_elbow": ("rhumerus",),
    "r_wrist": ("rradius",),
}
kinematics.check_table(CMU_ASF_TABLE, "CMU_ASF_TABLE")

_ROT_DOFS = ("rx", "ry", "rz")


@dataclasses.dataclass
class AsfBone:
  """One `:bonedata` entry. Lengths in file units, angles in degrees, dofs lower case."""
  name: str
  direction: np.ndarray
  length: float
  axis: np.ndarray
  axis_order: str
  dofs: Tuple[str, ...]
  limits: Tuple[Tuple[float, float], ...]
  parent: str = ""
  line: int = 0


@dataclasses.dataclass
class AsfSkeleton:
  """A parsed ASF file. `bones` is ordered parents-first (from `:hierarchy`); 'root' is not a
  bone. `length_unit` is the `:units length` value; `mm_per_unit` = 25.4 / length_unit."""
  path: str
  name: str
  length_unit: float
  angle_unit: str
  root_order: Tuple[str, ...]
  root_axis: str
  root_position: np.ndarray
  root_orientation: np.ndarray
  bones: Dict[str, AsfBone]

  @property
  def mm_per_unit(self) -> float:
    return 25.4 / self.length_unit


def _error(path, message, line=None):
  return kinematics.format_error(path, message, line)


def _float(token: str, path, line: int, what: str) -> float:
  try:
    value = float(token)
  except ValueError:
    raise _error(path, f"bad number {token!r} in {what}", line) from None
  if np.isnan(value):
    raise _error(path, f"NaN in {what}", line)
  return value


def _finite(token: str, path, line: int, what: str) -> float:
  value = _float(token, path, line, what)
  if not np.isfinite(value):
    raise _error(path, f"non-finite number {token!r} in {what}", line)
  return value


def _check_order(order: str, path, line) -> str:
  order = order.upper()
  if len(order) != 3 or sorted(order) != ["X", "Y", "Z"]:
    raise _error(path, f"bad rotation order {order!r} (expected a permutation of XYZ)", line)
  return order


def _sections(lines: List[str], path):
  """[(keyword, line number, [(tokens, line number), ...])] for each ':keyword' section; '#'
  starts a comment."""
  sections = []
  for number, text in enumerate(lines, start=1):
    stripped = text.split("#", 1)[0].strip()
    if not stripped:
      continue
    tokens = stripped.split()
    if stripped.startswith(":"):
      sections.append((tokens[0][1:].lower(), number, [(tokens[1:], number)] if tokens[1:] else []))
    elif not sections:
      raise _error(path, "content before the first ':keyword' section", number)
    else:
      sections[-1][2].append((tokens, number))
  return sections


def read_asf(path) -> AsfSkeleton:
  """Parses an ASF skeleton. Raises `MotionFormatError` naming the file and line."""
  path = os.fspath(path)
  with open(path, "r", encoding="utf-8", errors="replace") as f:
    lines = f.read().splitlines()
  name, length_unit, angle_unit = "", 1.0, "deg"
  root_order, root_axis = ("TX", "TY", "TZ", "RX", "RY", "RZ"), "XYZ"
  root_position, root_orientation = np.zeros(3), np.zeros(3)
  bones: Dict[str, AsfBone] = {}
  hierarchy: List[Tuple[str, List[str], int]] = []
  seen_root = seen_bones = seen_hierarchy = False
  for keyword, kline, body in _sections(lines, path):
    if keyword == "name":
      name = " ".join(t for tokens, _ in body for t in tokens)
    elif keyword == "units":
      for tokens, line in body:
        if len(tokens) < 2:
          raise _error(path, f"bad :units entry {' '.join(tokens)!r}", line)
        key = tokens[0].lower()
        if key == "length":
          length_unit = _finite(tokens[1], path, line, ":units length")
          if length_unit <= 0:
            raise _error(path, f":units length must be positive, got {length_unit}", line)
        elif key == "angle":
          angle_unit = tokens[1].lower()
          if angle_unit not in ("deg", "rad"):
            raise _error(path, f":units angle must be deg or rad, got {tokens[1]!r}", line)
    elif keyword == "root":
      seen_root = True
      for tokens, line in body:
        key = tokens[0].lower()
        if key == "order":
          root_order = tuple(t.upper() for t in tokens[1:])
          unknown = [t for t in root_order if t not in ("TX", "TY", "TZ", "RX", "RY", "RZ")]
          if unknown or len(set(root_order)) != len(root_order):
            raise _error(path, f"bad :root order {' '.join(tokens[1:])!r}", line)
        elif key == "axis":
          root_axis = _check_order(tokens[1] if len(tokens) > 1 else "", path, line)
        elif key in ("position", "orientation"):
          if len(tokens) != 4:
            raise _error(path, f":root {key} needs 3 numbers", line)
          values = np.array([_finite(t, path, line, f":root {key}") for t in tokens[1:]])
          if key == "position":
            root_position = values
          else:
            root_orientation = values
    elif keyword == "bonedata":
      seen_bones = True
      bones = _parse_bonedata(body, path, kline)
    elif keyword == "hierarchy":
      seen_hierarchy = True
      inside = False
      for tokens, line in body:
        key = tokens[0].lower()
        if key == "begin":
          inside = True
        elif key == "end":
          inside = False
        elif inside:
          hierarchy.append((tokens[0], tokens[1:], line))
        else:
          raise _error(path, f"hierarchy entry outside begin/end: {' '.join(tokens)!r}", line)
  for what, seen in ((":root", seen_root), (":bonedata", seen_bones),
                     (":hierarchy", seen_hierarchy)):
    if not seen:
      raise _error(path, f"no {what} section")
  if angle_unit == "rad":
    root_orientation = np.rad2deg(root_orientation)
    for bone in bones.values():
      bone.axis = np.rad2deg(bone.axis)
      bone.limits = tuple((float(np.rad2deg(a)), float(np.rad2deg(b))) for a, b in bone.limits)
  # Parents from the hierarchy, then order bones parents-first.
  children: Dict[str, List[str]] = {}
  for parent, kids, line in hierarchy:
    if parent != "root" and parent not in bones:
      raise _error(path, f"hierarchy names unknown bone {parent!r}", line)
    for kid in kids:
      if kid not in bones:
        raise _error(path, f"hierarchy names unknown bone {kid!r}", line)
      if bones[kid].parent:
        raise _error(path, f"bone {kid!r} has two parents ({bones[kid].parent!r}, {parent!r})",
                     line)
      bones[kid].parent = parent
      children.setdefault(parent, []).append(kid)
  ordered: Dict[str, AsfBone] = {}
  queue = list(children.get("root", []))
  while queue:
    bone = queue.pop(0)
    if bone in ordered:
      raise _error(path, f"cycle in the hierarchy at bone {bone!r}")
    ordered[bone] = bones[bone]
    queue.extend(children.get(bone, []))
  orphans = [b for b in bones if b not in ordered]
  if orphans:
    raise _error(path, f"bones not connected to the root by :hierarchy: {orphans}",
                 bones[orphans[0]].line)
  return AsfSkeleton(path, name, length_unit, angle_unit, root_order, root_axis, root_position,
                     root_orientation, ordered)


def _parse_bonedata(body, path, section_line) -> Dict[str, AsfBone]:
  bones: Dict[str, AsfBone] = {}
  fields = None
  pending_limits = []
  for tokens, line in body:
    key = tokens[0].lower()
    if key == "begin":
      if fields is not None:
        raise _error(path, "'begin' inside a bone (missing 'end')", line)
      fields, pending_limits = {"line": line}, []
      continue
    if fields is None:
      raise _error(path, f"bonedata entry outside begin/end: {' '.join(tokens)!r}", line)
    if key == "end":
      bone = _make_bone(fields, pending_limits, path)
      if bone.name in bones:
        raise _error(path, f"duplicate bone {bone.name!r}", fields["line"])
      bones[bone.name] = bone
      fields = None
      continue
    if key == "name":
      fields["name"] = tokens[1] if len(tokens) > 1 else ""
    elif key == "direction":
      if len(tokens) != 4:
        raise _error(path, "direction needs 3 numbers", line)
      fields["direction"] = (np.array([_finite(t, path, line, "direction") for t in tokens[1:]]),
                             line)
    elif key == "length":
      if len(tokens) != 2:
        raise _error(path, "length needs 1 number", line)
      fields["length"] = _finite(tokens[1], path, line, "length")
    elif key == "axis":
      if len(tokens) != 5:
        raise _error(path, "axis needs 3 angles and a rotation order", line)
      fields["axis"] = np.array([_finite(t, path, line, "axis") for t in tokens[1:4]])
      fields["axis_order"] = _check_order(tokens[4], path, line)
    elif key == "dof":
      dofs = tuple(t.lower() for t in tokens[1:])
      bad = [d for d in dofs if d not in _ROT_DOFS]
      if bad:
        raise _error(path, f"unsupported dof {bad[0]!r} (only rx ry rz are supported on bones)",
                     line)
      if len(set(dofs)) != len(dofs):
        raise _error(path, f"repeated dof in {' '.join(tokens[1:])!r}", line)
      fields["dofs"] = dofs
    elif key == "limits":
      pending_limits.extend((t, line) for t in tokens[1:])
    elif tokens[0].startswith("(") and "dofs" in fields:
      pending_limits.extend((t, line) for t in tokens)
    elif key in ("id", "bodymass", "cofmass"):
      pass
    else:
      raise _error(path, f"unknown bonedata field {tokens[0]!r}", line)
  if fields is not None:
    raise _error(path, "bonedata ends inside a bone (missing 'end')", fields["line"])
  if not bones:
    raise _error(path, "empty :bonedata", section_line)
  return bones


def _make_bone(fields, limit_tokens, path) -> AsfBone:
  line = fields["line"]
  for key in ("name", "direction", "length"):
    if key not in fields or fields[key] in ("", None):
      raise _error(path, f"bone without {key}", line)
  name = fields["name"]
  if name.lower() == "root":
    raise _error(path, "a bone may not be called 'root'", line)
  direction, dline = fields["direction"]
  norm = np.linalg.norm(direction)
  if fields["length"] > 0 and norm < 1e-9:
    raise _error(path, f"bone {name!r} has a zero direction", dline)
  direction = direction / norm if norm > 0 else direction
  dofs = fields.get("dofs", ())
  values = []
  for token, tline in limit_tokens:
    for part in re.split(r"[()]", token):
      if part:
        values.append(_float(part, path, tline, f"limits of {name}"))
  if len(values) != 2 * len(dofs):
    raise _error(path, f"bone {name!r} has {len(values)} limit values for {len(dofs)} dofs",
                 line)
  limits = tuple((values[2 * k], values[2 * k + 1]) for k in range(len(dofs)))
  return AsfBone(name, direction, float(fields["length"]), fields.get("axis", np.zeros(3)),
                 fields.get("axis_order", "XYZ"), dofs, limits, "", line)


@dataclasses.dataclass
class AmcMotion:
  """Parsed AMC frames: `values[name]` is `[T, n]` in file order ('root' included); angles in
  degrees; `frame_numbers` as written."""
  path: str
  frame_numbers: np.ndarray
  values: Dict[str, np.ndarray]

  @property
  def num_frames(self) -> int:
    return int(self.frame_numbers.shape[0])


def parse_amc(path, asf: AsfSkeleton) -> AmcMotion:
  """Parses AMC frames against `asf` (each bone line must carry exactly that bone's dofs, every
  bone with dofs must appear in every frame). Raises `MotionFormatError` with file and line."""
  path = os.fspath(path)
  expected = {"root": len(asf.root_order)}
  expected.update({name: len(bone.dofs) for name, bone in asf.bones.items() if bone.dofs})
  radians = False
  numbers: List[int] = []
  rows: Dict[str, List[List[str]]] = {name: [] for name in expected}
  row_lines: Dict[str, List[int]] = {name: [] for name in expected}
  current: Dict[str, int] = {}
  frame_line = 0

  def close_frame(line):
    if numbers and len(current) != len(expected):
      missing = [n for n in expected if n not in current]
      raise _error(path, f"frame {numbers[-1]} (line {frame_line}) is incomplete: missing "
                   f"{missing} (truncated file?)", line)

  with open(path, "r", encoding="utf-8", errors="replace") as f:
    lines = f.read().splitlines()
  for number, text in enumerate(lines, start=1):
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
      continue
    if stripped.startswith(":"):
      key = stripped.split()[0].upper()
      if numbers:
        raise _error(path, f"header keyword {key!r} after the first frame", number)
      if key == ":RADIANS":
        radians = True
      elif key == ":DEGREES":
        radians = False
      continue
    tokens = stripped.split()
    if len(tokens) == 1 and tokens[0].lstrip("-").isdigit():
      close_frame(number)
      frame = int(tokens[0])
      if numbers and frame != numbers[-1] + 1:
        raise _error(path, f"frame number {frame} does not follow frame {numbers[-1]}", number)
      numbers.append(frame)
      current, frame_line = {}, number
      continue
    name = tokens[0]
    if not numbers:
      raise _error(path, f"data line {stripped[:40]!r} before the first frame number", number)
    if name not in expected:
      hint = " (a bone without dofs)" if name in asf.bones else ""
      raise _error(path, f"unknown bone {name!r}{hint} not in the ASF skeleton {asf.path}",
                   number)
    if name in current:
      raise _error(path, f"bone {name!r} appears twice in frame {numbers[-1]}", number)
    if len(tokens) - 1 != expected[name]:
      raise _error(path, f"bone {name!r} has {len(tokens) - 1} values, expected "
                   f"{expected[name]}", number)
    current[name] = number
    rows[name].append(tokens[1:])
    row_lines[name].append(number)
  if not numbers:
    raise _error(path, "no frames", len(lines) or None)
  close_frame(len(lines))
  values = {}
  for name, block in rows.items():
    try:
      array = np.array(block, dtype=np.float64).reshape(len(numbers), expected[name])
    except ValueError:
      array = None
    if array is None or not np.all(np.isfinite(array)):
      for tokens, line in zip(block, row_lines[name]):
        for token in tokens:
          _finite(token, path, line, f"bone {name!r}")
    if radians:
      rotation = [k for k, c in enumerate(asf.root_order) if c.startswith("R")] \
          if name == "root" else list(range(expected[name]))
      array[:, rotation] = np.rad2deg(array[:, rotation])
    values[name] = array
  return AmcMotion(path, np.array(numbers), values)


def _ordered_rotation(angles_deg: np.ndarray, axes: str) -> np.ndarray:
  """Rotation with `axes[0]` applied first: R[axes[-1]] @ ... @ R[axes[0]]."""
  return kinematics.euler_to_matrix(np.deg2rad(angles_deg[..., ::-1]), axes[::-1].lower())


def asf_forward_kinematics(asf: AsfSkeleton, motion: AmcMotion) -> Dict[str, np.ndarray]:
  """Positions `[T, 3]` (file units, file axes) of 'root' and of every bone's END."""
  num_frames = motion.num_frames
  names = list(asf.bones)
  index = {name: k + 1 for k, name in enumerate(names)}
  parents = [-1] + [0 if asf.bones[n].parent == "root" else index[asf.bones[n].parent]
                    for n in names]
  local = np.empty((num_frames, len(names) + 1, 3, 3))
  offsets = np.zeros((len(names) + 1, 3))
  # Root.
  root_values = motion.values["root"]
  translation = np.broadcast_to(asf.root_position, (num_frames, 3)).copy()
  rot_axes, rot_columns = "", []
  for k, channel in enumerate(asf.root_order):
    if channel.startswith("T"):
      translation[:, "XYZ".index(channel[1])] = root_values[:, k]
    else:
      rot_axes += channel[1]
      rot_columns.append(root_values[:, k])
  c_root = _ordered_rotation(asf.root_orientation, asf.root_axis)
  m_root = (_ordered_rotation(np.stack(rot_columns, -1), rot_axes) if rot_axes
            else np.broadcast_to(np.eye(3), (num_frames, 3, 3)))
  local[:, 0] = c_root @ m_root @ c_root.T
  for name in names:
    bone = asf.bones[name]
    c = _ordered_rotation(bone.axis, bone.axis_order)
    if bone.dofs:
      m = _ordered_rotation(motion.values[name], "".join(d[1] for d in bone.dofs).upper())
    else:
      m = np.broadcast_to(np.eye(3), (num_frames, 3, 3))
    local[:, index[name]] = c @ m @ c.T
    offsets[index[name]] = bone.length * bone.direction
  positions, _ = kinematics.forward_kinematics(parents, offsets, local, translation,
                                               segment_style="asf")
  result = {"root": positions[:, 0]}
  result.update({name: positions[:, index[name]] for name in names})
  return result


def _describe(spec) -> str:
  if isinstance(spec, str):
    return spec if spec == "root" else f"end of {spec}"
  return f"lerp(end of {spec[1]}, end of {spec[2]}, {spec[3]:g})"


def read_amc(path, asf: Union[AsfSkeleton, str, os.PathLike],
             target_fps: Optional[float] = 30, source_fps: float = CMU_AMC_FPS,
             mm_per_unit: Optional[float] = None) -> kinematics.MotionClip:
  """Reads an AMC file against a skeleton into a `MotionClip` (mm, z-up world, `target_fps`).

  Args:
    path: the .amc file.
    asf: an `AsfSkeleton` from `read_asf`, or the path of its .asf file.
    target_fps: output frame rate; None keeps `source_fps`.
    source_fps: AMC files carry no frame rate; CMU's are 120 fps.
    mm_per_unit: overrides the ASF's unit (`25.4 / :units length`).
  """
  if not isinstance(asf, AsfSkeleton):
    asf = read_asf(asf)
  motion = parse_amc(path, asf)
  points = asf_forward_kinematics(asf, motion)

  def resolve(spec):
    return points.get(spec) if isinstance(spec, str) else None

  poses, joint_map = kinematics.map_to_h36m(CMU_ASF_TABLE, resolve, f"{asf.path} + {path}",
                                            "CMU ASF")
  joint_map = {joint: _describe(CMU_ASF_TABLE[joint][0]) for joint in joint_map}
  units = asf.mm_per_unit if mm_per_unit is None else mm_per_unit
  return kinematics.finish_clip(
      poses, path=f"{asf.path} + {os.fspath(path)}", source_fps=float(source_fps),
      target_fps=target_fps, units=float(units), convention="cmu_asf", joint_map=joint_map,
      up_axis="y", source_frames=motion.num_frames)


def read_asf_amc(asf_path, amc_path, target_fps: Optional[float] = 30,
                 source_fps: float = CMU_AMC_FPS,
                 mm_per_unit: Optional[float] = None) -> kinematics.MotionClip:
  """`read_amc(amc_path, read_asf(asf_path), ...)`."""
  return read_amc(amc_path, read_asf(asf_path), target_fps=target_fps, source_fps=source_fps,
                  mm_per_unit=mm_per_unit)
