r"""Converts a real dataset into the project's TFRecord schema (README "Real datasets").

  python tools/convert.py DATASET --root=DIR --output_dir=OUT [--role=ROLE] \
      [--image_size=224] [--frame_stride=1] [--num_workers=2] [--option name=value ...]

DATASET is one of human36m, mpi_inf_3dhp, 3dpw, surreal, cmu_mocap, web_videos. Several
conversions write into one OUT (one directory per paper setting); a rerun with the same flags
resumes (finished shards are kept). Per-file failures are listed and make the exit status 2.
"""

import json
import os
import sys


from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("root", None, "The dataset's folder, in the layout its authors distribute.")
flags.DEFINE_string("output_dir", None, "Where to write shards and manifest.json.")
flags.DEFINE_string("role", None, "source, target, target_unlabeled, test or mocap (default: "
                    "the dataset's usual role).")
flags.DEFINE_multi_string("option", [], "Dataset option name=value (see the dataset module).")
flags.DEFINE_integer("image_size", 224, "Side of the square person crops, px.")
flags.DEFINE_integer("frame_stride", 1, "'source' frame records: every n-th 30 fps frame.")
flags.DEFINE_integer("labeled_stride", 4, "'target_labeled': every n-th frame.")
flags.DEFINE_integer("window_hop", 30, "Hop between 60-frame target_train windows.")
flags.DEFINE_integer("test_window_hop", 60, "Hop between labeled test windows.")
flags.DEFINE_float("box_margin", 1.3, "Crop side / extent of the projected joints.")
flags.DEFINE_integer("items_per_shard", 4, "Dataset files (items) per shard.")
flags.DEFINE_integer("max_items", 0, "Convert only the first n items per partition (0: all).")
flags.DEFINE_integer("num_workers", 1, "Worker processes (one shard each at a time).")
flags.DEFINE_boolean("overwrite", False, "Discard an earlier conversion with other flags.")
flags.DEFINE_boolean("contact_sheet", True, "Write contact_sheet.png of the image splits and "
                     "windows_target_train.png of the first unlabeled windows.")


def main(argv):
  if len(argv) != 2:
    from sa3dhp_tf.data import converters
    raise errors.UserError(f"give exactly one DATASET ({', '.join(converters.converter_names())})"
                           f", got {argv[1:] or 'none'}")
  errors.require_flags(FLAGS, "root", "output_dir")
  from sa3dhp_tf.data import converters
  settings = converters.Settings(
      image_size=FLAGS.image_size, frame_stride=FLAGS.frame_stride,
      labeled_stride=FLAGS.labeled_stride, window_hop=FLAGS.window_hop,
      test_window_hop=FLAGS.test_window_hop, box_margin=FLAGS.box_margin,
      items_per_shard=FLAGS.items_per_shard, max_items=FLAGS.max_items)
  manifest = converters.convert(argv[1], FLAGS.root, FLAGS.output_dir, role=FLAGS.role,
                                options=FLAGS.option, settings=settings,
                                num_workers=FLAGS.num_workers, overwrite=FLAGS.overwrite,
                                contact_sheet=FLAGS.contact_sheet,
                                log=lambda line: print(line, file=sys.stderr))
  part = f"{argv[1]}.{FLAGS.role or converters.get_converter(argv[1]).default_role}"
  conversion = manifest["conversions"][part]
  print(json.dumps({"output_dir": os.path.abspath(FLAGS.output_dir), "conversion": part,
                    "counts": conversion["counts"], "failures": len(conversion["failures"]),
                    "contact_sheet": manifest.get("contact_sheet"),
                    "window_sheet": manifest.get("window_sheet")}, indent=2))
  if conversion["failures"]:
    first = conversion["failures"][0]
    raise errors.UserError(f"{len(conversion['failures'])} file(s) failed and were skipped (all "
                           f"listed above and in manifest.json); first: {first['file']}: "
                           f"{first['error']}")


if __name__ == "__main__":
  errors.run(main)
