"""BVH reader: hand-built CMU-style and LAFAN1-style files with known world joint positions."""

import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import bvh, kinematics

J = skeleton.JOINT_INDEX
CMU_MM = 25.4 / 0.45          # mm per CMU unit (1/0.45 inch)

# (name, parent, offset); 'End' entries are End Sites of their parent. CMU (cgspeed) layout, in
# CMU units, y up, the subject facing +z with its left side towards +x.
CMU_JOINTS = [
    ("Hips", None, (0, 0, 0)),
    ("LHipJoint", "Hips", (0, 0, 0)),
    ("LeftUpLeg", "LHipJoint", (1.5, -1.5, 0)),
    ("LeftLeg", "LeftUpLeg", (0, -7.5, 0)),
    ("LeftFoot", "LeftLeg", (0, -7.5, 0)),
    ("LeftToeBase", "LeftFoot", (0, -0.5, 2)),
    ("End", "LeftToeBase", (0, 0, 1)),
    ("RHipJoint", "Hips", (0, 0, 0)),
    ("RightUpLeg", "RHipJoint", (-1.5, -1.5, 0)),
    ("RightLeg", "RightUpLeg", (0, -7.5, 0)),
    ("RightFoot", "RightLeg", (0, -7.5, 0)),
    ("RightToeBase", "RightFoot", (0, -0.5, 2)),
    ("End", "RightToeBase", (0, 0, 1)),
    ("LowerBack", "Hips", (0, 0, 0)),
    ("Spine", "LowerBack", (0, 2, 0)),
    ("Spine1", "Spine", (0, 2, 0)),
    ("Neck", "Spine1", (0, 0, 0)),
    ("Neck1", "Neck", (0, 1.7, 0)),
    ("Head", "Neck1", (0, 1.6, 0)),
    ("End", "Head", (0, 1.7, 0)),
    ("LeftShoulder", "Spine1", (0, 0, 0)),
    ("LeftArm", "LeftShoulder", (3.4, 0.5, 0)),
    ("LeftForeArm", "LeftArm", (5.4, 0, 0)),
    ("LeftHand", "LeftForeArm", (4.5, 0, 0)),
    ("End", "LeftHand", (1, 0, 0)),
    ("RightShoulder", "Spine1", (0, 0, 0)),
    ("RightArm", "RightShoulder", (-3.4, 0.5, 0)),
    ("RightForeArm", "RightArm", (-5.4, 0, 0)),
    ("RightHand", "RightForeArm", (-4.5, 0, 0)),
    ("End", "RightHand", (-1, 0, 0)),
]

# LAFAN1 layout in cm: every joint has 6 channels; shoulders hang off Spine2; no End Sites.
LAFAN_JOINTS = [
    ("Hips", None, (0, 95, 0)),
    ("LeftUpLeg", "Hips", (10, -5, 0)),
    ("LeftLeg", "LeftUpLeg", (0, -43, 0)),
    ("LeftFoot", "LeftLeg", (0, -42, 0)),
    ("LeftToe", "LeftFoot", (0, -5, 12)),
    ("RightUpLeg", "Hips", (-10, -5, 0)),
    ("RightLeg", "RightUpLeg", (0, -43, 0)),
    ("RightFoot", "RightLeg", (0, -42, 0)),
    ("RightToe", "RightFoot", (0, -5, 12)),
    ("Spine", "Hips", (0, 10, 0)),
    ("Spine1", "Spine", (0, 12, 0)),
    ("Spine2", "Spine1", (0, 12, 0)),
    ("Neck", "Spine2", (0, 25, 0)),
    ("Head", "Neck", (0, 11, 0)),
    ("LeftShoulder", "Spine2", (5, 20, 0)),
    ("LeftArm", "LeftShoulder", (12, 0, 0)),
    ("LeftForeArm", "LeftArm", (28, 0, 0)),
    ("LeftHand", "LeftForeArm", (25, 0, 0)),
    ("RightShoulder", "Spine2", (-5, 20, 0)),
    ("RightArm", "RightShoulder", (-12, 0, 0)),
    ("RightForeArm", "RightArm", (-28, 0, 0)),
    ("RightHand", "RightForeArm", (-25, 0, 0)),
]

ROT = "Zrotation Yrotation Xrotation"


def _children(joints, parent):
  return [(k, j) for k, j in enumerate(joints) if j[1] == parent]


def write_bvh(path, joints, frames, frame_time, all_positions=False, orders=None,
              offset_overrides=None):
  """Writes a BVH. `frames`: list of dicts joint -> {'pos': (x, y, z), 'rot': {'X': deg, ...}}.
  Channels: root 6, others 3 (or 6 with `all_positions`); `orders` maps joint -> axis order."""
  orders = orders or {}
  offset_overrides = offset_overrides or {}
  channel_list = []   # (joint, kind, axis)
  lines = ["HIERARCHY"]

  def emit(index, depth):
    name, parent, offset = joints[index]
    pad = "  " * depth
    if name == "End":
      lines.extend([f"{pad}End Site", f"{pad}{{", f"{pad}  OFFSET {offset[0]} {offset[1]} "
                    f"{offset[2]}", f"{pad}}}"])
      return
    keyword = "ROOT" if parent is None else "JOINT"
    offset = offset_overrides.get(name, offset)
    lines.extend([f"{pad}{keyword} {name}", f"{pad}{{",
                  f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}"])
    order = orders.get(name, "ZYX")
    rotations = [f"{a}rotation" for a in order]
    if parent is None or all_positions:
      lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {' '.join(rotations)}")
      channel_list.extend([(name, "pos", a) for a in "XYZ"])
    else:
      lines.append(f"{pad}  CHANNELS 3 {' '.join(rotations)}")
    channel_list.extend([(name, "rot", a) for a in order])
    for child, _ in _children(joints, name):
      emit(child, depth + 1)
    lines.append(f"{pad}}}")

  emit(0, 0)
  lines.extend(["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time}"])
  defaults = {j[0]: j[2] for j in joints}
  for frame in frames:
    values = []
    for name, kind, axis in channel_list:
      spec = frame.get(name, {})
      if kind == "pos":
        values.append(spec.get("pos", defaults[name])["XYZ".index(axis)])
      else:
        values.append(spec.get("rot", {}).get(axis, 0.0))
    lines.append(" ".join(f"{v:.6f}" for v in values))
  path.write_text("\n".join(lines) + "\n")
  return path


def cmu_frames():
  """Frame 0 rest; 1: right knee bent 90 deg; 2: root moved and turned 90 deg about y;
  3: left arm raised straight up (LeftArm Zrotation 90)."""
  root = {"pos": (0.0, 17.0, 0.0)}
  return [
      {"Hips": root},
      {"Hips": root, "RightLeg": {"rot": {"X": 90.0}}},
      {"Hips": {"pos": (10.0, 17.0, 5.0), "rot": {"Y": 90.0}}},
      {"Hips": root, "LeftArm": {"rot": {"Z": 90.0}}},
  ]


def z_up(v):
  return np.array([v[0], -v[2], v[1]], np.float64)


@pytest.fixture
def cmu_file(tmp_path):
  return write_bvh(tmp_path / "cmu.bvh", CMU_JOINTS, cmu_frames(), 1.0 / 30)


def test_cmu_rest_pose_positions_units_and_axes(cmu_file):
  clip = bvh.read_bvh(cmu_file)
  assert clip.convention == "cmu"
  assert clip.poses.shape == (4, 17, 3) and clip.poses.dtype == np.float32
  assert clip.fps == 30 and clip.source_fps == 30
  assert clip.mm_per_unit == pytest.approx(CMU_MM)      # auto-detected CMU units
  rest = clip.poses[0]
  expected = {
      "pelvis": (0, 15.5, 0), "r_hip": (-1.5, 15.5, 0), "r_knee": (-1.5, 8, 0),
      "r_ankle": (-1.5, 0.5, 0), "l_hip": (1.5, 15.5, 0), "l_ankle": (1.5, 0.5, 0),
      "spine": (0, 19, 0), "thorax": (0, 21, 0), "neck_nose": (0, 22.7, 0),
      "head": (0, 26, 0), "l_shoulder": (3.4, 21.5, 0), "l_elbow": (8.8, 21.5, 0),
      "l_wrist": (13.3, 21.5, 0), "r_wrist": (-13.3, 21.5, 0),
  }
  for joint, position in expected.items():
    np.testing.assert_allclose(rest[J[joint]], z_up(position) * CMU_MM, atol=1e-3,
                               err_msg=joint)
  # z is up: the head is above the pelvis, the ankles near the floor.
  assert rest[J["head"], 2] > rest[J["pelvis"], 2] > rest[J["r_ankle"], 2] > 0
  assert clip.joint_map["head"] == "Head/End Site"
  assert clip.joint_map["r_elbow"] == "RightForeArm"


def test_cmu_knee_bend_root_turn_and_arm_raise(cmu_file):
  poses = bvh.read_bvh(cmu_file).poses.astype(np.float64) / CMU_MM
  # Frame 1: RightLeg Xrotation 90 swings the shank backwards (file -z, world +y): the ankle
  # is level with the knee, one shank length behind it.
  knee, ankle = poses[1, J["r_knee"]], poses[1, J["r_ankle"]]
  np.testing.assert_allclose(ankle - knee, [0, 7.5, 0], atol=1e-4)
  np.testing.assert_allclose(knee, z_up((-1.5, 8, 0)), atol=1e-4)
  # Frame 2: root at (10, 17, 5), turned +90 deg about y: file +x (left) becomes -z.
  root = z_up((10, 17, 5))
  np.testing.assert_allclose(poses[2, J["pelvis"]], root + z_up((0, -1.5, 0)), atol=1e-4)
  np.testing.assert_allclose(poses[2, J["l_hip"]], root + z_up((0, -1.5, -1.5)), atol=1e-4)
  np.testing.assert_allclose(poses[2, J["r_ankle"]], root + z_up((0, -16.5, 1.5)), atol=1e-4)
  # Frame 3: LeftArm Zrotation 90 points the left arm straight up.
  shoulder = poses[3, J["l_shoulder"]]
  np.testing.assert_allclose(poses[3, J["l_elbow"]] - shoulder, [0, 0, 5.4], atol=1e-4)
  np.testing.assert_allclose(poses[3, J["l_wrist"]] - shoulder, [0, 0, 9.9], atol=1e-4)
  # Bone lengths never change.
  lengths = skeleton.bone_lengths(poses)
  np.testing.assert_allclose(lengths, lengths[:1].repeat(4, 0), atol=1e-4)


@pytest.mark.parametrize("order, expected", [
    # Rz(90) @ Rx(90) applied to the knee offset (0, -7.5, 0): Rx first -> (0, 0, -7.5).
    ("ZYX", (0, 0, -7.5)),
    # Rx(90) @ Rz(90): Rz first -> (7.5, 0, 0), which Rx leaves alone.
    ("XYZ", (7.5, 0, 0)),
])
def test_rotation_channel_order_is_respected(tmp_path, order, expected):
  frames = [{"Hips": {"pos": (0, 17, 0)}, "LeftUpLeg": {"rot": {"Z": 90.0, "X": 90.0}}}]
  path = write_bvh(tmp_path / "order.bvh", CMU_JOINTS, frames, 1.0 / 30,
                   orders={"LeftUpLeg": order})
  poses = bvh.read_bvh(path, units="cmu").poses[0].astype(np.float64) / CMU_MM
  np.testing.assert_allclose(poses[J["l_knee"]] - poses[J["l_hip"]], z_up(expected), atol=1e-4)


def test_lafan1_positions_channels_replace_offsets_and_cm(tmp_path):
  frames = [{}, {"LeftLeg": {"rot": {"X": 90.0}}, "Hips": {"pos": (20, 95, -30)}}]
  # The LeftLeg OFFSET in the header is wrong on purpose: LAFAN1's position channels carry the
  # real local translation and must replace it (not be added to it).
  path = write_bvh(tmp_path / "lafan.bvh", LAFAN_JOINTS, frames, 1.0 / 30, all_positions=True,
                   offset_overrides={"LeftLeg": (0, -99, 0)})
  clip = bvh.read_bvh(path)
  assert clip.convention == "lafan1"
  assert clip.mm_per_unit == 10.0                      # auto-detected centimetres
  rest = clip.poses[0].astype(np.float64)
  expected = {
      "pelvis": (0, 90, 0), "l_hip": (10, 90, 0), "l_knee": (10, 47, 0), "l_ankle": (10, 5, 0),
      "r_ankle": (-10, 5, 0), "spine": (0, 117, 0), "thorax": (0, 154, 0),
      "neck_nose": (0, 165, 0), "head": (0, 176, 0), "l_shoulder": (17, 149, 0),
      "l_elbow": (45, 149, 0), "l_wrist": (70, 149, 0), "r_wrist": (-70, 149, 0),
  }
  for joint, position in expected.items():
    np.testing.assert_allclose(rest[J[joint]], z_up(position) * 10.0, atol=1e-3, err_msg=joint)
  assert clip.joint_map["head"] == "extend(Head, 1.0)"   # no End Site: one Head offset beyond
  moved = clip.poses[1].astype(np.float64)
  root = z_up((20, 95, -30)) * 10.0
  np.testing.assert_allclose(moved[J["pelvis"]], root + z_up((0, -5, 0)) * 10.0, atol=1e-3)
  np.testing.assert_allclose(moved[J["l_ankle"]] - moved[J["l_knee"]], [0, 420, 0], atol=1e-3)


def test_mixamo_prefixes_map_through_the_lafan1_table(tmp_path):
  joints = [(("mixamorig:" + n) if n != "End" else n, ("mixamorig:" + p) if p else None, o)
            for n, p, o in LAFAN_JOINTS]
  path = write_bvh(tmp_path / "mixamo.bvh", joints, [{}], 1.0 / 30, all_positions=True)
  clip = bvh.read_bvh(path)
  assert clip.convention == "lafan1"
  np.testing.assert_allclose(clip.poses[0, J["l_knee"]], z_up((10, 47, 0)) * 10.0, atol=1e-3)


def test_resampling_120_to_30_picks_every_fourth_frame(tmp_path):
  rng = np.random.default_rng(0)
  frames = [{"Hips": {"pos": (float(k), 17.0, 0.0)},
             "RightLeg": {"rot": {"X": float(rng.uniform(0, 90))}},
             "LeftArm": {"rot": {"Z": float(rng.uniform(-60, 60))}}} for k in range(9)]
  path = write_bvh(tmp_path / "fast.bvh", CMU_JOINTS, frames, 0.0083333)
  native = bvh.read_bvh(path, target_fps=None)
  assert native.fps == 120 and native.num_frames == 9     # 1 / 0.0083333 snapped to 120
  clip = bvh.read_bvh(path)
  assert clip.fps == 30 and clip.source_fps == 120 and clip.source_frames == 9
  assert clip.num_frames == 3 and clip.duration == pytest.approx(8 / 120)
  np.testing.assert_array_equal(clip.poses, native.poses[[0, 4, 8]])
  # 120 -> 90 fps: output frame 1 lies 1/3 of the way from source frame 1 to source frame 2.
  ninety = bvh.read_bvh(path, target_fps=90)
  assert ninety.num_frames == 7
  lerp = native.poses[1] + (native.poses[2] - native.poses[1]) / 3.0
  np.testing.assert_allclose(ninety.poses[1], lerp, atol=1e-2)


def test_explicit_units(cmu_file):
  auto = bvh.read_bvh(cmu_file).poses
  inches = bvh.read_bvh(cmu_file, units="inch").poses
  np.testing.assert_allclose(inches, auto * (25.4 / CMU_MM), rtol=1e-5, atol=1e-3)
  numeric = bvh.read_bvh(cmu_file, units=2.0).poses
  np.testing.assert_allclose(numeric, auto * (2.0 / CMU_MM), rtol=1e-5, atol=1e-3)
  with pytest.raises(ValueError, match="unknown units 'furlong'"):
    bvh.read_bvh(cmu_file, units="furlong")


def test_auto_units_refuses_an_implausible_skeleton(tmp_path):
  tiny = [(n, p, tuple(0.001 * np.array(o))) for n, p, o in CMU_JOINTS]
  path = write_bvh(tmp_path / "tiny.bvh", tiny, [{"Hips": {"pos": (0, 0.017, 0)}}], 1.0 / 30)
  with pytest.raises(kinematics.MotionFormatError, match="cannot infer units"):
    bvh.read_bvh(path)
  assert bvh.read_bvh(path, units="m").poses.shape == (1, 17, 3)


def test_missing_mapped_joint_names_file_and_joint(tmp_path):
  joints = [(("RightElbowX" if n == "RightForeArm" else n),
             ("RightElbowX" if p == "RightForeArm" else p), o) for n, p, o in CMU_JOINTS]
  path = write_bvh(tmp_path / "noelbow.bvh", joints, cmu_frames(), 1.0 / 30)
  with pytest.raises(kinematics.MotionFormatError) as info:
    bvh.read_bvh(path)
  message = str(info.value)
  assert str(path) in message and "'RightForeArm'" in message and "'r_elbow'" in message


def test_unknown_hierarchy(tmp_path):
  joints = [("Root", None, (0, 0, 0)), ("A", "Root", (0, 1, 0)), ("End", "A", (0, 1, 0))]
  path = write_bvh(tmp_path / "robot.bvh", joints, [{}], 1.0 / 30)
  with pytest.raises(kinematics.MotionFormatError, match="unknown BVH hierarchy") as info:
    bvh.read_bvh(path)
  assert str(path) in str(info.value) and "'Root'" in str(info.value)


def _lines(path):
  return path.read_text().splitlines()


def test_truncated_motion_block(cmu_file):
  lines = _lines(cmu_file)
  cmu_file.write_text("\n".join(lines[:-2]) + "\n")      # 4 frames declared, 2 present
  with pytest.raises(kinematics.MotionFormatError, match="truncated MOTION block") as info:
    bvh.read_bvh(cmu_file)
  assert str(cmu_file) in str(info.value) and "declares 4 frames, found 2" in str(info.value)


def test_extra_frames_are_an_error_not_dropped(cmu_file):
  lines = _lines(cmu_file)
  cmu_file.write_text("\n".join(lines + [lines[-1]]) + "\n")
  with pytest.raises(kinematics.MotionFormatError, match=f":{len(lines) + 1}: MOTION has more"):
    bvh.read_bvh(cmu_file)


def test_bad_number_names_file_and_line(cmu_file):
  lines = _lines(cmu_file)
  number = len(lines) - 1                               # the 3rd frame (1-based line numbers)
  values = lines[number - 1].split()
  values[4] = "1.2.3"
  lines[number - 1] = " ".join(values)
  cmu_file.write_text("\n".join(lines) + "\n")
  with pytest.raises(kinematics.MotionFormatError) as info:
    bvh.read_bvh(cmu_file)
  assert f"{cmu_file}:{number}: bad number '1.2.3'" in str(info.value)


def test_wrong_value_count_and_bad_offset(cmu_file):
  lines = _lines(cmu_file)
  broken = list(lines)
  count = len(broken[-1].split())
  broken[-1] = broken[-1] + " 0.0"
  cmu_file.write_text("\n".join(broken) + "\n")
  with pytest.raises(kinematics.MotionFormatError,
                     match=f":{len(lines)}: frame 3 has {count + 1} values, expected {count}"):
    bvh.read_bvh(cmu_file)
  broken = list(lines)
  offset_line = next(i for i, text in enumerate(lines) if "OFFSET 0 -7.5 0" in text)
  broken[offset_line] = broken[offset_line].replace("-7.5", "-7,5")
  cmu_file.write_text("\n".join(broken) + "\n")
  with pytest.raises(kinematics.MotionFormatError,
                     match=f":{offset_line + 1}: bad number '-7,5' in OFFSET of LeftLeg"):
    bvh.read_bvh(cmu_file)
