r"""How often the HOG people detector of `sa3dhp_tf.infer` finds someone in a video, and at what
cost, for several SVM thresholds, in one run.

  python tools/hog_thresholds.py --video="$(tools/fetch_sample_video.sh)" \
      [--thresholds=0,-0.3,-0.6] [--every=5] [--detect_width=640]

For every --every-th frame and each threshold: the number of boxes after non-maximum suppression.
Prints JSON: per threshold, frames with at least one box, with two or more, mean boxes per frame,
and the median seconds per frame. (Whether a box is the right person is not measured: the video
has no labels; look at the MP4 `infer` writes.)
"""

import argparse
import json
import statistics
import time

from sa3dhp_tf.inference import detection
from sa3dhp_tf.inference import video


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--video", required=True)
  parser.add_argument("--thresholds", default="0,-0.3,-0.6")
  parser.add_argument("--every", type=int, default=5)
  parser.add_argument("--detect_width", type=int, default=640)
  args = parser.parse_args()
  info = video.open_video(args.video)
  frames = [f for i, f in video.read_frames(info.path) if i % args.every == 0]
  result = {"video": args.video, "frames_sampled": len(frames), "every": args.every,
            "detect_width": args.detect_width, "thresholds": {}}
  for threshold in (float(t) for t in args.thresholds.split(",")):
    detector = detection.HogPersonDetector(max_width=args.detect_width, hit_threshold=threshold)
    counts, seconds = [], []
    for frame in frames:
      start = time.perf_counter()
      counts.append(len(detector(frame)))
      seconds.append(time.perf_counter() - start)
    result["thresholds"][str(threshold)] = {
        "frames_with_box": sum(c > 0 for c in counts),
        "frames_with_two_or_more": sum(c > 1 for c in counts),
        "mean_boxes": sum(counts) / len(counts),
        "median_seconds_per_frame": statistics.median(seconds)}
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  main()
