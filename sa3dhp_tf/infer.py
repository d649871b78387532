"""Runs an exported model on a video: person detection (OpenCV HOG, or --boxes), tracking,
cropping, 3D pose per frame, temporal smoothing; writes poses.json, poses.npz, poses.mp4 and
panel.png into --output (`sa3dhp_tf/inference/pipeline.py` documents them).

  python -m sa3dhp_tf.infer --model=EXPORT/1 --video=clip.mp4 --output=OUT
  python -m sa3dhp_tf.infer --model=EXPORT/model_int8.tflite --video=clip.mp4 \
      --boxes=boxes.json --output=OUT
"""

import json

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A SavedModel version dir, a base dir of numeric versions "
                    "(the highest is used) or a .tflite file, as written by sa3dhp_tf.export.")
flags.DEFINE_string("video", None, "The video to run on (any format OpenCV reads).")
flags.DEFINE_string("output", None, "Output folder (created if needed).")
flags.DEFINE_string("boxes", None, "JSON person boxes, one per frame, instead of the HOG "
                    "detector: [[x0,y0,x1,y1] | null, ...] or a poses.json of this command.")
flags.DEFINE_enum("smoothing", "gaussian", ["none", "gaussian"], "Temporal smoothing of the "
                  "poses (never across frames without a pose).")
flags.DEFINE_float("smoothing_sigma", 1.5, "Gaussian smoothing width, in frames.")
flags.DEFINE_float("crop_scale", 1.1, "Side of the square crop / longer side of the box.")
flags.DEFINE_integer("batch_size", 16, "Crops per model call (SavedModel).")
flags.DEFINE_integer("detect_width", 640, "Frames are downscaled to this width for detection.")
flags.DEFINE_float("hog_threshold", -0.3, "HOG detector's SVM margin threshold (lower: more "
                   "detections, more false ones).")
flags.DEFINE_integer("max_frames", 0, "Only the first N frames (0: all).")
flags.DEFINE_integer("panel_frame", -1, "Frame shown in panel.png (-1: the frame with a pose "
                     "nearest the middle).")
flags.DEFINE_integer("render_height", 480, "Height of the MP4's frames.")
flags.DEFINE_integer("num_threads", None, "TFLite interpreter threads (default: its own).")
flags.DEFINE_bool("write_video", True, "Write poses.mp4 (the slowest output).")
flags.DEFINE_bool("progress", True, "Progress bar on stderr.")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "model", "video", "output")
  from sa3dhp_tf.inference import pipeline  # after the flags parse: TF loads only for real work
  options = pipeline.InferenceOptions(
      crop_scale=FLAGS.crop_scale, smoothing=FLAGS.smoothing,
      smoothing_sigma=FLAGS.smoothing_sigma, batch_size=FLAGS.batch_size,
      detect_width=FLAGS.detect_width, hog_threshold=FLAGS.hog_threshold,
      render_height=FLAGS.render_height, panel_frame=FLAGS.panel_frame,
      max_frames=FLAGS.max_frames, num_threads=FLAGS.num_threads,
      write_video=FLAGS.write_video, progress=FLAGS.progress)
  summary = pipeline.run_inference(FLAGS.model, FLAGS.video, FLAGS.output, boxes=FLAGS.boxes,
                                   options=options)
  print(json.dumps({k: summary[k] for k in (
      "num_frames", "frames_with_pose", "frames_without_pose", "status_counts",
      "predict_frames_per_second", "panel_frame", "outputs")}, indent=2))


if __name__ == "__main__":
  errors.run(main)
