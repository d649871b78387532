"""ASF/AMC reader: a tiny CMU-style skeleton and motion with known world joint positions."""

import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import asf_amc, kinematics

J = skeleton.JOINT_INDEX
UNIT_MM = 25.4 / 0.45      # ':units length 0.45': one unit is 1/0.45 inch
S = 1.0 / np.sqrt(2.0)

# name, direction, length, axis (angles + order), dofs. The subject faces +z, its left is +x.
BONES = [
    ("lhipjoint", (1, -1, 0), 2.0, "0 0 0 XYZ", ""),
    ("lfemur", (0, -1, 0), 7.0, "0 0 0 XYZ", "rx ry rz"),
    ("ltibia", (0, -1, 0), 7.5, "0 0 90 XYZ", "rx ry"),
    ("lfoot", (0, 0, 1), 2.0, "0 0 0 XYZ", "rx rz"),
    ("rhipjoint", (-1, -1, 0), 2.0, "0 0 0 XYZ", ""),
    ("rfemur", (0, -1, 0), 7.0, "0 0 0 XYZ", "rx ry rz"),
    ("rtibia", (0, -1, 0), 7.5, "0 0 0 XYZ", "rx"),
    ("lowerback", (0, 1, 0), 2.0, "0 0 0 XYZ", "rx ry rz"),
    ("upperback", (0, 1, 0), 2.0, "0 0 0 XYZ", "rx ry rz"),
    ("thorax", (0, 1, 0), 2.0, "0 0 0 XYZ", "rx ry rz"),
    ("lowerneck", (0, 1, 0), 1.5, "0 0 0 XYZ", "rx ry rz"),
    ("upperneck", (0, 1, 0), 1.5, "0 0 0 XYZ", "rx ry rz"),
    ("head", (0, 1, 0), 1.5, "0 0 0 XYZ", "rx ry rz"),
    ("lclavicle", (1, 0, 0), 3.0, "0 0 0 XYZ", "ry rz"),
    ("lhumerus", (1, 0, 0), 5.0, "0 0 0 XYZ", "rx ry rz"),
    ("lradius", (1, 0, 0), 4.0, "0 0 0 XYZ", "rx"),
    ("rclavicle", (-1, 0, 0), 3.0, "0 0 0 XYZ", "ry rz"),
    ("rhumerus", (-1, 0, 0), 5.0, "0 0 0 XYZ", "rx ry rz"),
    ("rradius", (-1, 0, 0), 4.0, "0 0 0 XYZ", "rx"),
]
HIERARCHY = [
    "root lhipjoint rhipjoint lowerback",
    "lhipjoint lfemur", "lfemur ltibia", "ltibia lfoot",
    "rhipjoint rfemur", "rfemur rtibia",
    "lowerback upperback", "upperback thorax", "thorax lowerneck lclavicle rclavicle",
    "lowerneck upperneck", "upperneck head",
    "lclavicle lhumerus", "lhumerus lradius",
    "rclavicle rhumerus", "rhumerus rradius",
]


def asf_text(bones=BONES, hierarchy=HIERARCHY):
  lines = ["# tiny CMU-style skeleton", ":version 1.10", ":name VICON", ":units",
           "  mass 1.0", "  length 0.45", "  angle deg", ":documentation", "  made by a test",
           ":root", "   order TX TY TZ RX RY RZ", "   axis XYZ", "   position 0 0 0",
           "   orientation 0 0 0", ":bonedata"]
  for k, (name, direction, length, axis, dofs) in enumerate(bones, start=1):
    lines += ["  begin", f"     id {k}", f"     name {name}",
              f"     direction {direction[0]} {direction[1]} {direction[2]}",
              f"     length {length}", f"     axis {axis}"]
    if dofs:
      count = len(dofs.split())
      lines += [f"    dof {dofs}", "    limits (-180.0 180.0)"]
      lines += ["           (-180.0 180.0)"] * (count - 1)
    lines.append("  end")
  lines += [":hierarchy", "  begin"] + [f"    {h}" for h in hierarchy] + ["  end"]
  return "\n".join(lines) + "\n"


def amc_text(frames, bones=BONES, radians=False):
  """`frames`: list of dicts bone -> values (root: 6 values); missing bones get zeros."""
  lines = ["#!OML:ASF tiny.asf", ":FULLY-SPECIFIED", ":RADIANS" if radians else ":DEGREES"]
  scale = np.pi / 180.0 if radians else 1.0
  for number, frame in enumerate(frames, start=1):
    lines.append(str(number))
    root = list(frame.get("root", (0, 17, 0, 0, 0, 0)))
    root[3:] = [v * scale for v in root[3:]]
    lines.append("root " + " ".join(f"{v:.6f}" for v in root))
    for name, _, _, _, dofs in bones:
      if dofs:
        values = frame.get(name, [0.0] * len(dofs.split()))
        lines.append(name + " " + " ".join(f"{v * scale:.6f}" for v in values))
  return "\n".join(lines) + "\n"


def frames():
  """0: rest. 1: rtibia rx 90 (right knee bent). 2: root at (10, 17, 5) turned ry 90.
  3: ltibia ry 90 with its axis rotated 90 deg about z (tests C M C^-1).
  4: lhumerus rz 90 (left arm straight up)."""
  return [
      {},
      {"rtibia": [90.0]},
      {"root": (10, 17, 5, 0, 90, 0)},
      {"ltibia": [0.0, 90.0]},
      {"lhumerus": [0.0, 0.0, 90.0]},
  ]


def z_up(v):
  return np.array([v[0], -v[2], v[1]], np.float64)


@pytest.fixture
def files(tmp_path):
  asf = tmp_path / "tiny.asf"
  amc = tmp_path / "tiny_01.amc"
  asf.write_text(asf_text())
  amc.write_text(amc_text(frames()))
  return asf, amc


def read(asf, amc, **kwargs):
  return asf_amc.read_asf_amc(asf, amc, target_fps=None, **kwargs)


def test_read_asf(files):
  skel = asf_amc.read_asf(files[0])
  assert skel.length_unit == 0.45 and skel.mm_per_unit == pytest.approx(UNIT_MM)
  assert list(skel.bones)[:4] == ["lhipjoint", "rhipjoint", "lowerback", "lfemur"]
  assert skel.bones["ltibia"].dofs == ("rx", "ry")
  assert skel.bones["ltibia"].limits == ((-180.0, 180.0), (-180.0, 180.0))
  np.testing.assert_allclose(skel.bones["lhipjoint"].direction, [S, -S, 0])
  assert skel.bones["lradius"].parent == "lhumerus"


def test_rest_pose_positions_units_and_axes(files):
  clip = read(*files)
  assert clip.poses.shape == (5, 17, 3) and clip.poses.dtype == np.float32
  assert clip.fps == 120 and clip.mm_per_unit == pytest.approx(UNIT_MM)
  rest = clip.poses[0].astype(np.float64) / UNIT_MM
  h = 2.0 * S   # hip joint offsets along (+-1, -1, 0)
  expected = {
      "pelvis": (0, 17 - h, 0), "l_hip": (h, 17 - h, 0), "l_knee": (h, 10 - h, 0),
      "l_ankle": (h, 2.5 - h, 0), "r_hip": (-h, 17 - h, 0), "r_ankle": (-h, 2.5 - h, 0),
      "spine": (0, 20, 0), "thorax": (0, 23, 0), "neck_nose": (0, 24.5, 0),
      "head": (0, 27.5, 0), "l_shoulder": (3, 23, 0), "l_elbow": (8, 23, 0),
      "l_wrist": (12, 23, 0), "r_wrist": (-12, 23, 0),
  }
  for joint, position in expected.items():
    np.testing.assert_allclose(rest[J[joint]], z_up(position), atol=1e-4, err_msg=joint)
  assert clip.joint_map["spine"] == "lerp(end of lowerback, end of upperback, 0.5)"
  assert clip.joint_map["r_ankle"] == "end of rtibia" and clip.joint_map["pelvis"] == \
      "lerp(end of lhipjoint, end of rhipjoint, 0.5)"


def test_dof_rotations_axis_and_root(files):
  poses = read(*files).poses.astype(np.float64) / UNIT_MM
  # Frame 1: rtibia rx 90 swings the shank backwards (file -z, world +y).
  np.testing.assert_allclose(poses[1, J["r_ankle"]] - poses[1, J["r_knee"]], [0, 7.5, 0],
                             atol=1e-4)
  # Frame 2: root translated to (10, 17, 5) and turned 90 deg about y: file +x becomes -z.
  root = z_up((10, 17, 5))
  # The pelvis is the hip midpoint, 2S below the ASF root in the file's frame.
  np.testing.assert_allclose(poses[2, J["pelvis"]], root + z_up((0, -2 * S, 0)), atol=1e-4)
  np.testing.assert_allclose(poses[2, J["l_hip"]], root + z_up((0, -2 * S, -2 * S)), atol=1e-4)
  # Frame 3: ltibia's axis is C = Rz(90), so its ry dof turns about C's y axis = file -x:
  # L = C Ry(90) C^-1 = Rx(-90) sends the shank (0, -1, 0) to (0, 0, 1), i.e. forwards.
  np.testing.assert_allclose(poses[3, J["l_ankle"]] - poses[3, J["l_knee"]],
                             z_up((0, 0, 7.5)), atol=1e-4)
  # Frame 4: lhumerus rz 90 points the left arm up; the radius follows.
  shoulder = poses[4, J["l_shoulder"]]
  np.testing.assert_allclose(poses[4, J["l_elbow"]] - shoulder, [0, 0, 5], atol=1e-4)
  np.testing.assert_allclose(poses[4, J["l_wrist"]] - shoulder, [0, 0, 9], atol=1e-4)
  lengths = skeleton.bone_lengths(poses)
  np.testing.assert_allclose(lengths, lengths[:1].repeat(len(poses), 0), atol=1e-4)


def test_radians_header(files, tmp_path):
  amc = tmp_path / "radians.amc"
  amc.write_text(amc_text(frames(), radians=True))
  np.testing.assert_allclose(read(files[0], amc).poses, read(*files).poses, atol=1e-2)


def test_resample_120_to_30(files, tmp_path):
  rng = np.random.default_rng(0)
  moving = [{"root": (float(k), 17, 0, 0, float(10 * k), 0), "rtibia": [float(rng.uniform(0, 90))],
             "lhumerus": [0.0, 0.0, float(rng.uniform(-90, 90))]} for k in range(9)]
  amc = tmp_path / "moving.amc"
  amc.write_text(amc_text(moving))
  native = read(files[0], amc)
  clip = asf_amc.read_asf_amc(files[0], amc)       # default: 120 fps source -> 30 fps
  assert clip.fps == 30 and clip.source_fps == 120 and clip.source_frames == 9
  assert clip.num_frames == 3
  np.testing.assert_array_equal(clip.poses, native.poses[[0, 4, 8]])
  skel = asf_amc.read_asf(files[0])
  again = asf_amc.read_amc(amc, skel)
  np.testing.assert_array_equal(again.poses, clip.poses)


def test_mm_per_unit_override(files):
  clip = read(*files, mm_per_unit=10.0)
  np.testing.assert_allclose(clip.poses, read(*files).poses * (10.0 / UNIT_MM), atol=1e-3)


def test_missing_bone_for_mapping(tmp_path):
  bones = [b for b in BONES if b[0] != "rradius"]
  hierarchy = [h for h in HIERARCHY if h != "rhumerus rradius"]
  asf = tmp_path / "noradius.asf"
  asf.write_text(asf_text(bones, hierarchy))
  amc = tmp_path / "noradius.amc"
  amc.write_text(amc_text(frames(), bones))
  with pytest.raises(kinematics.MotionFormatError) as info:
    read(asf, amc)
  message = str(info.value)
  assert str(asf) in message and "'rradius'" in message and "'r_wrist'" in message


def _replace_line(path, predicate, transform):
  lines = path.read_text().splitlines()
  index = next(i for i, text in enumerate(lines) if predicate(text))
  lines[index] = transform(lines[index])
  path.write_text("\n".join(lines) + "\n")
  return index + 1


def test_amc_bad_number_names_file_and_line(files):
  asf, amc = files
  line = _replace_line(amc, lambda s: s.startswith("rtibia 90"), lambda s: "rtibia 9O.0")
  with pytest.raises(kinematics.MotionFormatError,
                     match=f"{amc}:{line}: bad number '9O.0' in bone 'rtibia'"):
    read(asf, amc)


def test_amc_unknown_bone_and_value_count(files):
  asf, amc = files
  original = amc.read_text()
  line = _replace_line(amc, lambda s: s.startswith("rtibia"), lambda s: "rshin 1.0")
  with pytest.raises(kinematics.MotionFormatError, match=f"{amc}:{line}: unknown bone 'rshin'"):
    read(asf, amc)
  amc.write_text(original)
  line = _replace_line(amc, lambda s: s.startswith("lfemur"), lambda s: "lfemur 1 2")
  with pytest.raises(kinematics.MotionFormatError,
                     match=f"{amc}:{line}: bone 'lfemur' has 2 values, expected 3"):
    read(asf, amc)


def test_amc_truncated_last_frame(files):
  asf, amc = files
  lines = amc.read_text().splitlines()
  amc.write_text("\n".join(lines[:-3]) + "\n")       # frame 5 loses its last bones
  with pytest.raises(kinematics.MotionFormatError, match="frame 5 .* is incomplete") as info:
    read(asf, amc)
  assert str(amc) in str(info.value) and "rradius" in str(info.value)


def test_asf_errors_name_file_and_line(tmp_path):
  asf = tmp_path / "bad.asf"
  asf.write_text(asf_text())
  line = _replace_line(asf, lambda s: s.strip() == "length 7.0", lambda s: "     length 7.0.1")
  with pytest.raises(kinematics.MotionFormatError, match=f"{asf}:{line}: bad number '7.0.1'"):
    asf_amc.read_asf(asf)
  asf.write_text(asf_text())
  line = _replace_line(asf, lambda s: s.strip() == "dof rx", lambda s: "    dof rx l")
  with pytest.raises(kinematics.MotionFormatError, match=f"{asf}:{line}: unsupported dof 'l'"):
    asf_amc.read_asf(asf)
  asf.write_text(asf_text(hierarchy=HIERARCHY + ["head skull"]))
  with pytest.raises(kinematics.MotionFormatError, match="unknown bone 'skull'"):
    asf_amc.read_asf(asf)
