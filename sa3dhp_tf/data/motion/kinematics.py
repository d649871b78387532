"""Helpers shared by the motion sources: rotations, forward kinematics, axis and unit conversion,
resampling to 30 fps, and the mapping of a mocap skeleton's named points onto H36M-17.

Every motion source returns poses `[T, 17, 3]` float32, millimetres, in a z-up world frame, in the
joint order of `skeleton.JOINT_NAMES`, at 30 fps unless asked otherwise.
"""

import dataclasses
import math
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf import skeleton

TARGET_FPS = 30.0

# Millimetres per file unit. 'cmu' is the unit of CMU's ASF/AMC files (`:units length 0.45`, i.e.
# one unit is 1/0.45 inch), which the cgspeed BVH conversions of CMU MoCap keep.
UNIT_MM = {
    "mm": 1.0,
    "cm": 10.0,
    "m": 1000.0,
    "inch": 25.4,
    "cmu": 25.4 / 0.45,
}

# Nominal "stature chain" of an adult in mm: mean leg (ankle-knee + knee-hip) plus the trunk chain
# pelvis-spine-thorax-neck_nose-head, measured on H36M-17 joints (about 1.6 m for H36M subjects).
NOMINAL_STATURE_CHAIN_MM = 1600.0
# `units='auto'` refuses to guess when no unit brings the chain within this factor of the nominal.
MAX_STATURE_RATIO = 2.0

# The one pelvis definition of the library, for every motion source and every dataset converter:
# the midpoint of the two hip joints. Human3.6M's own pelvis and the procedural skeleton's are
# exactly that; CMU's ASF root (= the 'Hips' joint of its BVH conversions) sits about 100 mm
# above the hips and SMPL's pelvis joint (SURREAL, 3DPW) about 60-90 mm, so root-relative poses
# would be off by that much if their roots were used. `pelvis_at_hip_midpoint` enforces it.
PELVIS_DEFINITION = "midpoint of r_hip and l_hip"


def pelvis_at_hip_midpoint(poses) -> np.ndarray:
  """Returns H36M-17 poses `[..., 17, 3]` with the pelvis replaced by the hip midpoint."""
  poses = np.array(poses, copy=True)
  j = skeleton.JOINT_INDEX
  poses[..., skeleton.ROOT, :] = 0.5 * (poses[..., j["r_hip"], :] + poses[..., j["l_hip"], :])
  return poses


# World-frame conversion of a y-up file (BVH, ASF/AMC) to the library's z-up world: a +90 degree
# rotation about x, (x, y, z) -> (x, -z, y). Right-handedness is kept; the file's +z (the usual
# facing direction of a mocap skeleton at rest) becomes -y.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class MotionFormatError(errors.UserError):
  """A motion file is malformed or unsupported. The message starts with `path:line:` (or `path:`
  when no single line is to blame)."""


def location(path, line: Optional[int] = None) -> str:
  return f"{path}:{line}" if line is not None else f"{path}"


def format_error(path, message: str, line: Optional[int] = None) -> MotionFormatError:
  return MotionFormatError(f"{location(path, line)}: {message}")


@dataclasses.dataclass(frozen=True)
class MotionClip:
  """A mocap clip mapped onto H36M-17.

  poses: `[T, 17, 3]` float32, millimetres, z-up world frame, `skeleton.JOINT_NAMES` order.
  fps: frame rate of `poses` (30 unless the reader was asked for another `target_fps`).
  source_path: the file(s) the clip was read from.
  joint_map: H36M joint name -> the source point it was taken from (e.g. 'RightLeg',
    'lerp(lowerback, upperback, 0.5)').
  source_fps: frame rate of the file; convention: the skeleton convention that was detected;
  mm_per_unit: the scale applied to the file's lengths; source_frames: frames in the file.
  """
  poses: np.ndarray
  fps: float
  source_path: str
  joint_map: Dict[str, str]
  source_fps: float = TARGET_FPS
  convention: str = ""
  mm_per_unit: float = 1.0
  source_frames: int = 0

  @property
  def num_frames(self) -> int:
    return int(self.poses.shape[0])

  @property
  def duration(self) -> float:
    """Seconds from the first to the last frame."""
    return (self.num_frames - 1) / self.fps


# ----------------------------------------------------------------------------------------------
# Rotations.

def axis_rotation(axis: str, angles) -> np.ndarray:
  """Right-handed rotation matrices `[..., 3, 3]` about 'x', 'y' or 'z' by `angles` (radians)."""
  angles = np.asarray(angles, np.float64)
  c, s = np.cos(angles), np.sin(angles)
  axis = axis.lower()
  if axis not in ("x", "y", "z"):
    raise ValueError(f"rotation axis must be x, y or z, got {axis!r}")
  k = "xyz".index(axis)
  i, j = (k + 1) % 3, (k + 2) % 3        # the rotated plane, in right-handed order
  out = np.zeros(angles.shape + (3, 3))
  out[..., k, k] = 1.0
  out[..., i, i] = c
  out[..., j, j] = c
  out[..., i, j] = -s
  out[..., j, i] = s
  return out


def euler_to_matrix(angles, axes: str) -> np.ndarray:
  """Product `R[axes[0]](angles[..., 0]) @ R[axes[1]](angles[..., 1]) @ ...` (radians).

  This is the BVH convention: with channels 'Zrotation Xrotation Yrotation' a joint's local
  rotation is Rz @ Rx @ Ry, the first channel outermost (the last one is applied first to a
  vector in the child frame). `angles` is `[..., len(axes)]`.
  """
  angles = np.asarray(angles, np.float64)
  if angles.shape[-1] != len(axes):
    raise ValueError(f"got {angles.shape[-1]} angles for rotation order {axes!r}")
  result = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
  for k, axis in enumerate(axes):
    result = result @ axis_rotation(axis, angles[..., k])
  return result


def forward_kinematics(parents: Sequence[int], offsets, local_rotations, root_positions,
                       segment_style: str = "bvh") -> Tuple[np.ndarray, np.ndarray]:
  """Vectorised forward kinematics over frames.

  Args:
    parents: parent index of every joint (-1 for the root); parents precede their children.
    offsets: `[J, 3]` or `[T, J, 3]` translation of each joint from its parent (ignored for the
      root, whose position is `root_positions`).
    local_rotations: `[T, J, 3, 3]` rotation of each joint relative to its parent's frame.
    root_positions: `[T, 3]`.
    segment_style: 'bvh': a joint's rotation moves its children, `p_j = p_parent + G_parent @
      offset_j` (BVH); 'asf': a joint's rotation moves its own segment, `p_j = p_parent + G_j @
      offset_j` (ASF/AMC bones, where `j` is the bone's end). In both, `G_j = G_parent @ L_j`.

  Returns:
    positions `[T, J, 3]` and global rotations `[T, J, 3, 3]`.
  """
  if segment_style not in ("bvh", "asf"):
    raise ValueError(f"segment_style must be 'bvh' or 'asf', got {segment_style!r}")
  local_rotations = np.asarray(local_rotations, np.float64)
  root_positions = np.asarray(root_positions, np.float64)
  num_frames, num_joints = local_rotations.shape[:2]
  offsets = np.broadcast_to(np.asarray(offsets, np.float64), (num_frames, num_joints, 3))
  positions = np.empty((num_frames, num_joints, 3))
  rotations = np.empty((num_frames, num_joints, 3, 3))
  for j, p in enumerate(parents):
    if p < 0:
      rotations[:, j] = local_rotations[:, j]
      positions[:, j] = root_positions
      continue
    if p >= j:
      raise ValueError(f"joint {j} comes before its parent {p}; order joints parents-first")
    rotations[:, j] = rotations[:, p] @ local_rotations[:, j]
    frame = rotations[:, p] if segment_style == "bvh" else rotations[:, j]
    positions[:, j] = positions[:, p] + np.einsum("tab,tb->ta", frame, offsets[:, j])
  return positions, rotations


def y_up_to_z_up(points) -> np.ndarray:
  """Converts points `[..., 3]` from a y-up frame to the z-up world: (x, y, z) -> (x, -z, y)."""
  points = np.asarray(points)
  return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


# ----------------------------------------------------------------------------------------------
# Units.

def stature_chain(poses) -> np.ndarray:
  """Per-frame "stature chain" of H36M-17 poses `[T, 17, 3]`: mean leg length (ankle-knee +
  knee-hip) plus pelvis-spine-thorax-neck_nose-head. Rotation invariant, so it measures the
  skeleton whatever its pose or rest orientation."""
  j = skeleton.JOINT_INDEX
  poses = np.asarray(poses, np.float64)

  def dist(a, b):
    return np.linalg.norm(poses[:, j[a]] - poses[:, j[b]], axis=-1)

  legs = 0.5 * (dist("r_ankle", "r_knee") + dist("r_knee", "r_hip") +
                dist("l_ankle", "l_knee") + dist("l_knee", "l_hip"))
  trunk = (dist("pelvis", "spine") + dist("spine", "thorax") + dist("thorax", "neck_nose") +
           dist("neck_nose", "head"))
  return legs + trunk


def resolve_units(units: Union[str, float], path, poses_in_file_units=None) -> Tuple[str, float]:
  """Returns (unit name, millimetres per file unit).

  `units` is a name of `UNIT_MM`, a positive number (mm per unit), or 'auto': the unit that brings
  the skeleton's median stature chain (`stature_chain` of `poses_in_file_units`) closest, in
  ratio, to `NOMINAL_STATURE_CHAIN_MM`; refused when even that unit is off by more than
  `MAX_STATURE_RATIO`.
  """
  if isinstance(units, (int, float)) and not isinstance(units, bool):
    if not (math.isfinite(units) and units > 0):
      raise ValueError(f"{path}: units must be a positive number of mm per unit, got {units}")
    return f"{units:g}mm", float(units)
  if not isinstance(units, str):
    raise ValueError(f"{path}: units must be a string or a number, got {units!r}")
  key = units.lower()
  aliases = {"in": "inch", "inches": "inch", "millimetres": "mm", "centimetres": "cm",
             "metres": "m", "meters": "m"}
  key = aliases.get(key, key)
  if key in UNIT_MM:
    return key, UNIT_MM[key]
  if key != "auto":
    raise ValueError(f"{path}: unknown units {units!r}; use 'auto', a number of mm per unit, or "
                     f"one of {sorted(UNIT_MM)}")
  if poses_in_file_units is None:
    raise ValueError(f"{path}: units='auto' needs the skeleton to measure")
  chain = float(np.median(stature_chain(poses_in_file_units)))
  if not (math.isfinite(chain) and chain > 0):
    raise format_error(path, f"cannot infer units: the skeleton has no height (chain {chain})")
  name = min(UNIT_MM, key=lambda n: abs(math.log(chain * UNIT_MM[n] / NOMINAL_STATURE_CHAIN_MM)))
  ratio = chain * UNIT_MM[name] / NOMINAL_STATURE_CHAIN_MM
  if not (1.0 / MAX_STATURE_RATIO <= ratio <= MAX_STATURE_RATIO):
    raise format_error(
        path, f"cannot infer units: the skeleton's stature chain is {chain:g} file units, which "
        f"is no plausible adult size in any of {sorted(UNIT_MM)}; pass units= explicitly")
  return name, UNIT_MM[name]


# ----------------------------------------------------------------------------------------------
# Time.

def snap_fps(fps: float, tolerance: float = 1e-4) -> float:
  """Rounds a frame rate read from a file (e.g. 1 / 0.0083333 = 120.0005) to the nearest integer
  when it is within `tolerance` (relative) of it, so 120 -> 30 fps picks every 4th frame."""
  nearest = round(fps)
  if nearest > 0 and abs(fps - nearest) <= tolerance * nearest:
    return float(nearest)
  return float(fps)


def resample(poses, source_fps: float, target_fps: Optional[float]) -> np.ndarray:
  """Resamples a sequence `[T, ...]` from `source_fps` to `target_fps` by linear interpolation of
  the values (joint positions) between the two nearest source frames.

  Output frame k lies at time k / target_fps; frames run while that time is within the source
  clip, i.e. `floor((T - 1) * target_fps / source_fps) + 1` frames. When the rates are equal
  (or `target_fps` is None) the input is returned unchanged. Linear interpolation of positions
  shortens bones slightly between frames of a fast rotation; at 120 -> 30 fps every output frame
  falls on a source frame, so nothing is interpolated.
  """
  poses = np.asarray(poses)
  if target_fps is None or source_fps == target_fps:
    return poses
  if not (source_fps > 0 and target_fps > 0):
    raise ValueError(f"frame rates must be positive, got {source_fps} -> {target_fps}")
  num_source = poses.shape[0]
  if num_source == 0:
    return poses
  duration = (num_source - 1) / source_fps
  num_target = int(math.floor(duration * target_fps + 1e-6)) + 1
  position = np.arange(num_target) * (source_fps / target_fps)
  lower = np.clip(np.floor(position + 1e-6).astype(np.int64), 0, num_source - 1)
  upper = np.minimum(lower + 1, num_source - 1)
  frac = np.clip(position - lower, 0.0, 1.0)
  frac[frac < 1e-6] = 0.0
  frac = frac.reshape((-1,) + (1,) * (poses.ndim - 1))
  out = poses[lower] * (1.0 - frac) + poses[upper] * frac
  return out.astype(poses.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Mapping named skeleton points onto H36M-17.

# A mapping table maps each H36M joint name to a tuple of alternatives, tried in order. An
# alternative is a point name of the source skeleton (str), ('lerp', a, b, t) for a + t (b - a),
# or a reader-specific tuple (e.g. BVH's ('extend', joint, factor)) that the reader's resolver
# understands. The first alternative whose points all exist is used.
JointSpec = Union[str, tuple]
JointTable = Mapping[str, Tuple[JointSpec, ...]]


def describe_spec(spec: JointSpec) -> str:
  if isinstance(spec, str):
    return spec
  return f"{spec[0]}({', '.join(str(s) for s in spec[1:])})"


def spec_names(spec: JointSpec) -> Tuple[str, ...]:
  """Source point names an alternative needs."""
  if isinstance(spec, str):
    return (spec,)
  if spec[0] == "lerp":
    return (spec[1], spec[2])
  return (spec[1],)


def check_table(table: JointTable, name: str) -> None:
  missing = [j for j in skeleton.JOINT_NAMES if j not in table or not table[j]]
  extra = [j for j in table if j not in skeleton.JOINT_INDEX]
  if missing or extra:
    raise ValueError(f"joint table {name}: missing H36M joints {missing}, unknown keys {extra}")


def map_to_h36m(table: JointTable, resolve: Callable[[JointSpec], Optional[np.ndarray]], path,
                convention: str) -> Tuple[np.ndarray, Dict[str, str]]:
  """Builds `[T, 17, 3]` poses from a mapping table.

  `resolve(spec)` returns `[T, 3]` positions for a point name or reader-specific spec, or None
  when the skeleton lacks it ('lerp' is handled here). Raises `MotionFormatError` naming the file
  and the missing source joint when no alternative of some H36M joint can be built.
  """

  def evaluate(spec):
    if isinstance(spec, tuple) and spec[0] == "lerp":
      a, b = resolve(spec[1]), resolve(spec[2])
      if a is None or b is None:
        return None
      return a + float(spec[3]) * (b - a)
    return resolve(spec)

  columns, used = [], {}
  for joint in skeleton.JOINT_NAMES:
    alternatives = table[joint]
    for spec in alternatives:
      value = evaluate(spec)
      if value is not None:
        columns.append(value)
        used[joint] = describe_spec(spec)
        break
    else:
      absent = [n for n in spec_names(alternatives[0]) if resolve(n) is None]
      tried = ", ".join(describe_spec(s) for s in alternatives)
      raise format_error(
          path, f"{convention} skeleton has no joint {absent[0]!r}, needed for H36M joint "
          f"{joint!r} (tried: {tried})")
  return np.stack(columns, axis=1), used


def finish_clip(poses_file_units, *, path, source_fps: float, target_fps: Optional[float],
                units, convention: str, joint_map: Dict[str, str], up_axis: str = "y",
                source_frames: int) -> MotionClip:
  """Scales to mm, converts the up axis to z, resamples, and wraps the result in a MotionClip."""
  _, mm_per_unit = resolve_units(units, path, poses_file_units)
  poses = np.asarray(poses_file_units, np.float64) * mm_per_unit
  up_axis = up_axis.lower()
  if up_axis == "y":
    poses = y_up_to_z_up(poses)
  elif up_axis != "z":
    raise ValueError(f"{path}: up_axis must be 'y' or 'z', got {up_axis!r}")
  if target_fps is not None and not target_fps > 0:
    raise ValueError(f"{path}: target_fps must be positive or None, got {target_fps}")
  poses = resample(poses, source_fps, target_fps)
  fps = float(target_fps) if target_fps is not None else float(source_fps)
  return MotionClip(poses=poses.astype(np.float32), fps=fps, source_path=str(path),
                    joint_map=dict(joint_map), source_fps=float(source_fps),
                    convention=convention, mm_per_unit=float(mm_per_unit),
                    source_frames=int(source_frames))
