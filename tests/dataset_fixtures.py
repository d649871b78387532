"""Writers of tiny datasets in their ORIGINAL formats, for the converter tests.

Everything here is written the way the datasets' authors distribute it (CDF poses, v5 and v7.3
.mat files, latin1-readable pickles, mp4/avi videos and JPEG folders); nothing here imports the
converters. Frames are black with a white disc at every projected joint, so a test can check that
the stored crop intrinsics put the stored pose on the person.
"""

import os
import pickle

import cv2
import numpy as np

import conftest

MARKER_RADIUS = 10


def joint_frames(points2d, width, height, radius=MARKER_RADIUS):
  """One BGR frame per row of `points2d` `[T, K, 2]`: white discs on black."""
  for points in points2d:
    frame = np.zeros((height, width, 3), np.uint8)
    for x, y in points:
      if np.isfinite(x) and np.isfinite(y):
        cv2.circle(frame, (int(round(x)), int(round(y))), radius, (255, 255, 255), -1)
    yield frame


def write_video(path, frames, fps, fourcc="mp4v"):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  frames = list(frames)
  height, width = frames[0].shape[:2]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
  assert writer.isOpened(), path
  for frame in frames:
    writer.write(frame)
  writer.release()


def write_images(pattern, frames):
  os.makedirs(os.path.dirname(pattern), exist_ok=True)
  for k, frame in frames:
    cv2.imwrite(pattern.format(k), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])


def project(points, fx, fy, cx, cy):
  points = np.asarray(points, np.float64)
  return np.stack([fx * points[..., 0] / points[..., 2] + cx,
                   fy * points[..., 1] / points[..., 2] + cy], -1)


def camera_motion(num_frames, seed, distance):
  """A moving H36M-17 person `[T, 17, 3]` in a camera frame (x right, y down, z forward), mm."""
  return conftest.camera_pose(conftest.world_motion(num_frames, seed), distance=distance)


# --- Human3.6M --------------------------------------------------------------------------------

H36M_KEEP = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]   # VideoPose3D


def h36m32(poses17, seed=0):
  """32-joint arrays whose kept joints are `poses17`; the dropped ones are elsewhere (random
  offsets from the pelvis), so a wrong joint selection shows."""
  rng = np.random.default_rng(seed)
  out = np.asarray(poses17)[:, :1].repeat(32, 1) + rng.uniform(-300, 300, (1, 32, 3))
  out[:, H36M_KEEP] = poses17
  return out


def write_cdf(path, poses32):
  from cdflib.cdfwrite import CDF
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if os.path.exists(path):
    os.remove(path)
  cdf = CDF(path)
  data = np.asarray(poses32, np.float32).reshape(1, len(poses32), 96)
  cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1,
                 "Rec_Vary": True, "Dim_Sizes": [len(poses32), 96]}, var_data=data)
  cdf.close()


H36M_CAMERA = ("54138969", 1145.0494384765625, 1143.7811279296875, 512.54150390625,
               515.4514770507812, 1000, 1002)


def write_human36m(root, subjects=("S1", "S9"), num_frames=110):
  """One action per subject seen by camera 54138969 at 50 fps; returns {subject: 32-joint
  camera-frame poses}."""
  camera, fx, fy, cx, cy, width, height = H36M_CAMERA
  truth = {}
  for k, subject in enumerate(subjects):
    poses32 = h36m32(camera_motion(num_frames, k, 6000.0), seed=k)
    stem = f"Walking 1.{camera}"
    write_cdf(os.path.join(root, subject, "MyPoseFeatures", "D3_Positions_mono", stem + ".cdf"),
              poses32)
    write_video(os.path.join(root, subject, "Videos", stem + ".mp4"),
                joint_frames(project(poses32[:, H36M_KEEP], fx, fy, cx, cy), width, height), 50)
    truth[subject] = poses32
  return truth


# --- MPI-INF-3DHP -----------------------------------------------------------------------------

# 28 training joints of the H36M-17 joints (by name), as the dataset's joint list orders them.
MPI28_OF = {"pelvis": 4, "r_hip": 23, "r_knee": 24, "r_ankle": 25, "l_hip": 18, "l_knee": 19,
            "l_ankle": 20, "spine": 3, "thorax": 5, "neck_nose": 6, "head": 7,
            "l_shoulder": 9, "l_elbow": 10, "l_wrist": 11, "r_shoulder": 14, "r_elbow": 15,
            "r_wrist": 16}
# Test-set order: head_top, neck, r_sho, r_elb, r_wri, l_sho, l_elb, l_wri, r_hip, r_knee,
# r_ank, l_hip, l_knee, l_ank, pelvis, spine, head.
MPI17_NAMES = ("head", "thorax", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow",
               "l_wrist", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis",
               "spine", "neck_nose")
MPI_TRAIN_CAMERA = (300.0, 310.0, 160.0, 118.0, 320, 240)
MPI_TEST_CAMERA = (400.0, 400.0, 200.0, 200.0, 400, 400)


def write_calibration(path, cameras):
  lines = ["Skeletool Camera Calibration File V1.0"]
  for index, (fx, fy, cx, cy) in cameras.items():
    lines += [f"name          {index}", "  sensor      10 10", "  size        320 240",
              "  animated    0",
              f"  intrinsic   {fx} 0 {cx} 0 0 {fy} {cy} 0 0 0 1 0 0 0 0 1 ",
              "  extrinsic   1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 ", "  radial      0"]
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")


def write_mat73(path, arrays):
  """A MATLAB v7.3 file (HDF5 with MATLAB's 512-byte header); arrays in MATLAB dim order."""
  import h5py
  with h5py.File(path, "w", userblock_size=512) as f:
    for name, value in arrays.items():
      f.create_dataset(name, data=np.asarray(value).T)      # HDF5 stores MATLAB arrays reversed
  header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 " \
           b"schema 1.00 ."
  header = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
  with open(path, "r+b") as f:
    f.write(header)


def write_mpi_inf_3dhp(root, train_frames=80, test_frames=90):
  """S1/Seq1 (camera 0 and an empty camera 1 of 14) and TS1; returns the truth arrays."""
  import scipy.io
  from sa3dhp_tf import skeleton
  fx, fy, cx, cy, width, height = MPI_TRAIN_CAMERA
  seq = os.path.join(root, "S1", "Seq1")
  os.makedirs(os.path.join(seq, "imageSequence"), exist_ok=True)
  rng = np.random.default_rng(5)
  poses17 = camera_motion(train_frames, 3, 4500.0)
  poses28 = poses17[:, :1].repeat(28, 1) + rng.uniform(-200, 200, (1, 28, 3))
  for name, index in MPI28_OF.items():
    poses28[:, index] = poses17[:, skeleton.JOINT_INDEX[name]]
  annot3 = np.empty((14, 1), object)
  for c in range(14):
    annot3[c, 0] = (poses28.reshape(train_frames, 84) if c == 0 else
                    np.zeros((train_frames, 84)))
  scipy.io.savemat(os.path.join(seq, "annot.mat"),
                   {"annot3": annot3, "univ_annot3": annot3, "frames": np.arange(train_frames)})
  write_calibration(os.path.join(seq, "camera.calibration"), {0: (fx, fy, cx, cy),
                                                              1: (fx, fy, cx, cy)})
  write_video(os.path.join(seq, "imageSequence", "video_0.avi"),
              joint_frames(project(poses17, fx, fy, cx, cy), width, height, 5), 25, "MJPG")
  # Test set: univ_annot3 is a rescaled copy (as the universal skeleton is).
  tfx, tfy, tcx, tcy, twidth, theight = MPI_TEST_CAMERA
  test17 = camera_motion(test_frames, 4, 5000.0)
  order = [skeleton.JOINT_INDEX[n] for n in MPI17_NAMES]
  annot3_test = test17[:, order]
  univ = (annot3_test - annot3_test[:, 14:15]) * 0.9 + annot3_test[:, 14:15]
  annot2 = project(annot3_test, tfx, tfy, tcx, tcy)
  valid = np.ones(test_frames, np.int32)
  valid[[10, 11, 75]] = 0
  activity = np.where(np.arange(test_frames) < 50, 2, 6)
  ts = os.path.join(root, "TS1")
  os.makedirs(ts, exist_ok=True)
  write_mat73(os.path.join(ts, "annot_data.mat"), {
      "annot2": annot2.transpose(2, 1, 0)[:, :, None, :],        # 2 x 17 x 1 x N
      "annot3": annot3_test.transpose(2, 1, 0)[:, :, None, :],   # 3 x 17 x 1 x N
      "univ_annot3": univ.transpose(2, 1, 0)[:, :, None, :],
      "valid_frame": valid[None, :].astype(np.float64),
      "activity_annotation": activity[None, :].astype(np.float64)})
  write_images(os.path.join(ts, "imageSequence", "img_{:06d}.jpg"),
               enumerate(joint_frames(annot2, twidth, theight, 5), start=1))
  return {"train17": poses17, "test_annot3": annot3_test, "test_univ": univ, "valid": valid,
          "activity": activity}


# --- SMPL-based: SURREAL and 3DPW -------------------------------------------------------------

def smpl_motion(num_frames, seed, distance):
  """24 SMPL-like joints `[T, 24, 3]` in a camera frame (mm): the H36M-17 motion for the mapped
  joints plus plausible extra joints."""
  from sa3dhp_tf import skeleton
  j = skeleton.JOINT_INDEX
  h = camera_motion(num_frames, seed, distance)
  smpl = np.zeros((num_frames, 24, 3))
  names = {1: "l_hip", 2: "r_hip", 4: "l_knee", 5: "r_knee", 7: "l_ankle", 8: "r_ankle",
           6: "spine", 12: "thorax", 15: "neck_nose", 16: "l_shoulder", 17: "r_shoulder",
           18: "l_elbow", 19: "r_elbow", 20: "l_wrist", 21: "r_wrist"}
  for index, name in names.items():
    smpl[:, index] = h[:, j[name]]
  smpl[:, 0] = h[:, j["pelvis"]] + [0, -60, 0]          # SMPL's pelvis sits above the hips
  smpl[:, 3] = 0.5 * (smpl[:, 0] + smpl[:, 6])
  smpl[:, 9] = 0.5 * (smpl[:, 6] + smpl[:, 12])
  smpl[:, 10], smpl[:, 11] = smpl[:, 7] + [0, 40, -80], smpl[:, 8] + [0, 40, -80]
  smpl[:, 13], smpl[:, 14] = 0.5 * (smpl[:, 12] + smpl[:, 16]), 0.5 * (smpl[:, 12] + smpl[:, 17])
  smpl[:, 22], smpl[:, 23] = smpl[:, 20] + [0, 60, 0], smpl[:, 21] + [0, 60, 0]
  return smpl


def surreal_extrinsic(cam_loc):
  """SURREAL's getExtrinsicBlender (its data-generation code), written out here independently
  of the converter: world -> Blender camera -> computer-vision camera."""
  r_world2bcam = np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], np.float64).transpose()
  t_world2bcam = -1 * np.dot(r_world2bcam, cam_loc)
  r_bcam2cv = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]], np.float64)
  return np.dot(r_bcam2cv, r_world2bcam), np.dot(r_bcam2cv, t_world2bcam)


def write_surreal(root, num_frames=70):
  """cmu/train/run0/01_01/01_01_c0001 and cmu/test/run0/02_03/02_03_c0002; returns {clip:
  SMPL joints in the camera frame (mm)}."""
  import scipy.io
  truth = {}
  cam_loc = np.array([[7.0], [-1.2], [1.1]])               # metres, as camLoc
  rotation, translation = surreal_extrinsic(cam_loc)
  for folder, seq, clip, seed in (("train", "01_01", "01_01_c0001", 6),
                                  ("test", "02_03", "02_03_c0002", 7)):
    cam = smpl_motion(num_frames, seed, 5000.0) / 1000.0   # metres, camera frame
    world = (cam - translation.ravel()) @ rotation          # invert X_cam = R X + t
    joints2d = project(cam, 600.0, 600.0, 160.0, 120.0)
    base = os.path.join(root, "cmu", folder, "run0", seq, clip)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    scipy.io.savemat(base + "_info.mat", {
        "joints3D": world.transpose(2, 1, 0), "joints2D": joints2d.transpose(2, 1, 0),
        "camLoc": cam_loc, "zrot": np.zeros((num_frames, 1)), "gender": np.zeros((num_frames, 1)),
        "camDist": np.array([[5.0]])})
    write_video(base + ".mp4", joint_frames(joints2d, 320, 240, 4), 30)
    truth[clip] = cam * 1000.0
  return truth


def write_3dpw(root, num_frames=75):
  """sequenceFiles/test/downtown_walking_00.pkl with two people; returns the truth."""
  rng = np.random.default_rng(8)
  width, height = 320, 240
  k = np.array([[250.0, 0, 160.0], [0, 255.0, 120.0], [0, 0, 1]])
  angle = np.deg2rad(20.0)
  rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                       [-np.sin(angle), 0, np.cos(angle)]])
  translation = np.array([0.1, -0.05, 0.3])
  cam_poses = np.tile(np.eye(4), (num_frames, 1, 1))
  cam_poses[:, :3, :3] = rotation
  cam_poses[:, :3, 3] = translation
  people_cam = [smpl_motion(num_frames, 9, 6000.0) + [-700, 0, 0],
                smpl_motion(num_frames, 10, 7000.0) + [900, 0, 0]]
  joints, valid, poses2d = [], [], []
  for person in people_cam:
    world = ((person / 1000.0) - translation) @ rotation     # metres, world frame
    joints.append(world.reshape(num_frames, 72))
    poses2d.append(rng.uniform(0, 1, (num_frames, 3, 18)))
  valid = [np.ones(num_frames), np.ones(num_frames)]
  valid[1][20:30] = 0
  data = {"sequence": "downtown_walking_00", "jointPositions": joints, "cam_poses": cam_poses,
          "cam_intrinsics": k, "campose_valid": valid, "poses2d": poses2d,
          "img_frame_ids": np.arange(num_frames), "genders": ["m", "f"]}
  os.makedirs(os.path.join(root, "sequenceFiles", "test"), exist_ok=True)
  with open(os.path.join(root, "sequenceFiles", "test", "downtown_walking_00.pkl"), "wb") as f:
    pickle.dump(data, f, protocol=2)
  points = np.concatenate([project(p, 250.0, 255.0, 160.0, 120.0) for p in people_cam], axis=1)
  write_images(os.path.join(root, "imageFiles", "downtown_walking_00", "image_{:05d}.jpg"),
               enumerate(joint_frames(points, width, height, 3)))
  return {"people_cam": people_cam, "valid": valid, "intrinsics": (250.0, 255.0, 160.0, 120.0)}
