r"""Builds the synthetic domain-shift benchmark.

  python tools/make_benchmark.py --gin_file=benchmark/default.gin --output_dir=data/benchmark \
      [--gin_bindings='build_benchmark.seed = 1'] [--num_workers=2]

Writes sharded TFRecords for the splits mocap, source, source_test, target_train, target_test, a
`manifest.json` (counts, styles, seed, schema version, build time), the operative gin config and
`contact_sheet.png`.
"""

import json
import os

from absl import flags

from sa3dhp_tf import config
from sa3dhp_tf import errors
from sa3dhp_tf import settings

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", ["benchmark/default.gin"], "Gin config file(s).")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings.")
flags.DEFINE_string("output_dir", None, "Where to write the benchmark.")
flags.DEFINE_integer("num_workers", None, "Worker processes (default: the gin setting).")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "output_dir")
  if FLAGS.num_workers is not None:
    settings.check_value("--num_workers", FLAGS.num_workers, settings.COUNT)
  from sa3dhp_tf.data import benchmark  # registers configurables before parsing
  config.parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)
  import gin
  errors.check_writable(FLAGS.output_dir, "--output_dir")
  kwargs = {} if FLAGS.num_workers is None else {"num_workers": FLAGS.num_workers}
  manifest = benchmark.build_benchmark(FLAGS.output_dir, **kwargs)
  config.write_config(FLAGS.output_dir, "operative_config.gin", gin.operative_config_str())
  summary = {split: {k: v for k, v in entry.items() if k in ("records", "frames", "sequences")}
             for split, entry in manifest["splits"].items()}
  print(json.dumps({"output_dir": os.path.abspath(FLAGS.output_dir),
                    "build_seconds": manifest["build_seconds"], "splits": summary,
                    "contact_sheet": manifest.get("contact_sheet")}, indent=2))


if __name__ == "__main__":
  errors.run(main)
