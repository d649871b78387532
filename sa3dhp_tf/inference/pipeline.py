"""Runs an exported model on a video and writes the result (what `python -m sa3dhp_tf.infer`
does). Two passes over the video: (1) detect, track, crop and predict every frame, then smooth;
(2) draw every frame into the MP4 and one into the PNG panel. Outputs in `output_dir`:

  poses.json   settings, video properties and one entry per decoded frame: index, time, status
               ('tracked', 'no_detection', 'not_matched'), box, detector score, pose3d (mm,
               root-relative, camera frame: x right, y down, z forward) and latent, or nulls
  poses.npz    the same as arrays over all frames: pose3d [T,17,3] (smoothed), pose3d_raw,
               latent [T,D], box [T,4] (NaN where no pose), has_pose [T], status [T], time_s
  poses.mp4    each frame with box and skeleton beside a 3D view
  panel.png    one such picture at a larger size

Frames without a pose are kept and marked; no pose is ever filled in for them.
Every file is written under a temporary name and renamed; with `write_video=False` an old
poses.mp4 in `output_dir` is removed (it would not match the new poses).
"""

import dataclasses
import json
import os
import sys
import time
from typing import Optional

import cv2
import numpy as np

from sa3dhp_tf import errors
from sa3dhp_tf import skeleton
from sa3dhp_tf.inference import cropping
from sa3dhp_tf.inference import detection
from sa3dhp_tf.inference import predictor as predictor_lib
from sa3dhp_tf.inference import progress as progress_lib
from sa3dhp_tf.inference import rendering
from sa3dhp_tf.inference import smoothing
from sa3dhp_tf.inference import tracking
from sa3dhp_tf.inference import video as video_lib

JSON_FILE = "poses.json"
NPZ_FILE = "poses.npz"
VIDEO_FILE = "poses.mp4"
PANEL_FILE = "panel.png"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class InferenceOptions:
  crop_scale: float = 1.1        # crop side / longer box side (cropping.py)
  smoothing: str = "gaussian"    # smoothing.METHODS
  smoothing_sigma: float = 1.5   # frames
  batch_size: int = 16
  detect_width: int = 640        # frames are downscaled to this width for HOG
  hog_threshold: float = -0.3    # HOG's SVM margin threshold (detection.py)
  render_height: int = 480       # MP4 frame height (the 3D view is as wide)
  panel_height: int = 720
  panel_frame: int = -1          # -1: the frame with a pose nearest the middle of the video
  max_frames: int = 0            # 0: the whole video
  num_threads: Optional[int] = None   # TFLite interpreter threads
  write_video: bool = True
  progress: bool = True

  def check(self):
    def need(condition, message):
      if not condition:
        raise errors.UserError(message)
    need(self.crop_scale > 0, f"--crop_scale must be > 0, got {self.crop_scale}")
    need(self.smoothing in smoothing.METHODS,
         f"--smoothing must be one of {', '.join(smoothing.METHODS)}, got {self.smoothing!r}")
    need(self.smoothing == "none" or self.smoothing_sigma > 0,
         f"--smoothing_sigma must be > 0 frames, got {self.smoothing_sigma}")
    need(self.batch_size >= 1, f"--batch_size must be >= 1, got {self.batch_size}")
    need(self.detect_width >= 64, f"--detect_width must be >= 64, got {self.detect_width}")
    need(self.render_height >= 64, f"--render_height must be >= 64, got {self.render_height}")
    need(self.panel_height >= 64, f"--panel_height must be >= 64, got {self.panel_height}")
    need(self.panel_frame >= -1, f"--panel_frame must be >= 0 (or -1), got {self.panel_frame}")
    need(self.max_frames >= 0, f"--max_frames must be >= 0, got {self.max_frames}")
    need(self.num_threads is None or self.num_threads >= 1,
         f"--num_threads must be >= 1, got {self.num_threads}")


def _replace_atomically(path, write):
  partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial")
  try:
    write(partial)
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


def _frame_tracker(info, boxes, options):
  """A function frame -> tracking.TrackStep, and the detector's name. Boxes from a file are
  taken as they are (one person per frame, chosen by the user); HOG's go through the tracker."""
  if boxes is not None:
    per_frame = detection.read_box_file(boxes)
    limit = options.max_frames or info.declared_frames
    if not options.max_frames and info.declared_frames and len(per_frame) > limit + 1:
      raise detection.BoxFileError(f"--boxes {boxes}: {len(per_frame)} frames of boxes, but the "
                                   f"video {info.path} has {info.declared_frames}")
    state = {"index": 0}

    def from_file(frame):
      i = state["index"]
      state["index"] += 1
      box = per_frame[i] if i < len(per_frame) else None
      if box is None:
        return tracking.TrackStep(tracking.NO_DETECTION, None, float("nan"), 0)
      return tracking.TrackStep(tracking.TRACKED, box.box, box.score, 1)
    return from_file, "box_file"
  detector = detection.HogPersonDetector(max_width=options.detect_width,
                                         hit_threshold=options.hog_threshold)
  tracker = tracking.SingleBoxTracker()
  return (lambda frame: tracker.update(detector(frame))), "opencv_hog"


def _predict_frames(info, model, track, options, stream):
  """Pass 1: per-frame track steps and raw predictions (NaN where no pose)."""
  steps, poses, latents = [], [], []
  pending, pending_index = [], []
  total = min(info.declared_frames, options.max_frames) if options.max_frames else \
      info.declared_frames
  bar = progress_lib.Progress(total, "predict", stream=stream, enabled=options.progress)

  def flush():
    if pending:
      pose, latent = model.predict(np.stack(pending))
      bad = ~np.isfinite(pose).all(axis=(1, 2)) | ~np.isfinite(latent).all(axis=1)
      if bad.any():  # a broken export: stop now, not after the whole video
        raise errors.UserError(f"--model {model.path}: non-finite pose or latent for frame "
                               f"{pending_index[int(np.argmax(bad))]}")
      for i, p, z in zip(pending_index, pose, latent):
        poses[i], latents[i] = p, z
      pending.clear()
      pending_index.clear()

  for index, frame in video_lib.read_frames(info.path, options.max_frames):
    step = track(frame)
    steps.append(step)
    poses.append(None)
    latents.append(None)
    if step.status == tracking.TRACKED:
      pending.append(cropping.crop(frame, step.box, options.crop_scale, model.crop_size))
      pending_index.append(index)
      if len(pending) >= options.batch_size:
        flush()
    bar.update(index + 1)
  flush()
  bar.close()
  if not steps:
    raise video_lib.VideoError(f"{info.path}: no frame could be decoded")
  latent_dim = next((z.shape[-1] for z in latents if z is not None), 0)
  pose_array = np.full((len(steps), skeleton.NUM_JOINTS, 3), np.nan)
  latent_array = np.full((len(steps), latent_dim), np.nan)
  for i, (p, z) in enumerate(zip(poses, latents)):
    if p is not None:
      pose_array[i], latent_array[i] = p, z
  return steps, pose_array, latent_array


def _panel_index(has_pose, requested):
  if requested >= 0:
    return min(requested, len(has_pose) - 1)
  tracked = np.flatnonzero(has_pose)
  middle = (len(has_pose) - 1) / 2.0
  if tracked.size == 0:
    return int(middle)
  return int(tracked[np.argmin(np.abs(tracked - middle))])


def _render(info, steps, poses, panel_index, paths, options, stream):
  """Pass 2: the MP4 (if asked) and the PNG panel."""
  writer = video_lib.Mp4Writer(paths["video"], info.fps) if options.write_video else None
  bar = progress_lib.Progress(len(steps), "render", stream=stream,
                              enabled=options.progress and options.write_video)
  try:
    for index, frame in video_lib.read_frames(info.path, len(steps)):
      if writer is None and index != panel_index:
        continue
      pose = poses[index] if not np.isnan(poses[index]).any() else None
      annotated = rendering.annotate_frame(frame, index, steps[index].status, steps[index].box,
                                           pose)
      if writer is not None:
        view = rendering.skeleton_view(pose, options.render_height)
        writer.write(rendering.side_by_side(annotated, view, options.render_height))
        bar.update(index + 1)
      if index == panel_index:
        view = rendering.skeleton_view(pose, options.panel_height)
        panel = rendering.side_by_side(annotated, view, options.panel_height)
        _replace_atomically(paths["panel"], lambda p: _write_png(p, panel))
    if writer is not None:
      writer.close()
  except BaseException:
    if writer is not None:
      writer.abort()
    raise
  finally:
    bar.close()


def _write_png(path, image_rgb):
  ok, data = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
  if not ok:
    raise errors.UserError(f"cannot encode the panel PNG {path}")
  with open(path, "wb") as f:
    f.write(data.tobytes())


def _rounded(array, digits):
  return None if array is None or np.isnan(array).any() else np.round(array, digits).tolist()


def run_inference(model, video, output_dir, boxes=None, options=InferenceOptions(),
                  stream=None):
  """Runs `model` (a path: SavedModel dir or .tflite) on `video` and writes the outputs into
  `output_dir`. Returns the summary that `poses.json` holds (without the frames)."""
  stream = stream or sys.stderr
  options.check()
  errors.ensure_writable_dir(output_dir, "--output")
  paths = {"json": os.path.join(output_dir, JSON_FILE), "npz": os.path.join(output_dir, NPZ_FILE),
           "video": os.path.join(output_dir, VIDEO_FILE),
           "panel": os.path.join(output_dir, PANEL_FILE)}
  for path in paths.values():
    if os.path.isdir(path):
      raise errors.UserError(f"--output: {path} is a directory")
  info = video_lib.open_video(video)
  if options.panel_frame >= 0 and info.declared_frames and \
      options.panel_frame >= info.declared_frames:
    raise errors.UserError(f"--panel_frame {options.panel_frame}: the video has "
                           f"{info.declared_frames} frames")
  track, detector_name = _frame_tracker(info, boxes, options)
  model_runner = predictor_lib.load_predictor(model, options.num_threads)

  start = time.perf_counter()
  steps, raw, latents = _predict_frames(info, model_runner, track, options, stream)
  seconds = time.perf_counter() - start
  has_pose = ~np.isnan(raw).any(axis=(1, 2))
  poses = smoothing.smooth_poses(raw, has_pose, options.smoothing, options.smoothing_sigma)
  num_frames = len(steps)
  truncated = bool(not options.max_frames and info.declared_frames
                   and num_frames < info.declared_frames)
  if not has_pose.any():
    print(f"warning: {video}: no person found in any of the {num_frames} frames; every frame "
          "is marked without a pose (try --hog_threshold lower, or --boxes)", file=stream)
  if truncated:
    print(f"warning: {video}: decoded {num_frames} of the {info.declared_frames} frames the "
          "file declares (damaged or cut short); the outputs cover the decoded frames",
          file=stream)
  statuses = [s.status for s in steps]
  counts = {status: statuses.count(status) for status in
            (tracking.TRACKED, tracking.NO_DETECTION, tracking.NOT_MATCHED)}
  summary = {
      "format_version": FORMAT_VERSION,
      "model": os.path.abspath(model_runner.path), "model_kind": model_runner.kind,
      "video": os.path.abspath(video), "fps": info.fps, "width": info.width,
      "height": info.height, "declared_frames": info.declared_frames,
      "num_frames": num_frames, "truncated": truncated,
      "frames_with_pose": int(has_pose.sum()), "frames_without_pose": int((~has_pose).sum()),
      "status_counts": counts, "detector": detector_name,
      "boxes_file": os.path.abspath(boxes) if boxes else None,
      "options": {k: v for k, v in dataclasses.asdict(options).items() if k != "progress"},
      "crop_size": model_runner.crop_size,
      "panel_frame": _panel_index(has_pose, options.panel_frame),
      "predict_frames_per_second": num_frames / seconds if seconds > 0 else None,
      "joint_names": list(skeleton.JOINT_NAMES), "bones": [list(b) for b in skeleton.BONES],
      "pose_units": "mm, root-relative (pelvis = 0), camera frame: x right, y down, z forward",
      "box_format": "[x0, y0, x1, y1] frame pixels",
      "outputs": {k: os.path.abspath(v) for k, v in paths.items()
                  if k != "video" or options.write_video},
  }
  frames = []
  for i, step in enumerate(steps):
    frames.append({
        "index": i, "time_s": round(i / info.fps, 4), "status": step.status,
        "has_pose": bool(has_pose[i]),
        "box": None if step.box is None else [round(v, 1) for v in step.box],
        "score": None if not np.isfinite(step.score) else round(step.score, 4),
        "num_detections": step.num_detections,
        "pose3d": _rounded(poses[i], 2) if has_pose[i] else None,
        "latent": _rounded(latents[i], 5) if has_pose[i] else None,
    })

  def write_json(path):
    with open(path, "w") as f:
      json.dump(dict(summary, frames=frames), f)

  def write_npz(path):
    with open(path, "wb") as f:
      np.savez_compressed(
          f, pose3d=poses.astype(np.float32), pose3d_raw=raw.astype(np.float32),
          latent=latents.astype(np.float32), has_pose=has_pose,
          box=np.array([s.box if s.box is not None else (np.nan,) * 4 for s in steps],
                       np.float32),
          score=np.array([s.score for s in steps], np.float32),
          status=np.array(statuses), time_s=np.arange(num_frames) / info.fps,
          joint_names=np.array(skeleton.JOINT_NAMES))

  if not options.write_video and os.path.isfile(paths["video"]):
    os.remove(paths["video"])  # an MP4 of an earlier run would not match these poses
  _replace_atomically(paths["json"], write_json)
  _replace_atomically(paths["npz"], write_npz)
  _render(info, steps, poses, summary["panel_frame"], paths, options, stream)
  return summary
