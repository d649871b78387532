r"""Exports a finished `source` or `adapt` stage for serving.

  python -m sa3dhp_tf.export --model_dir=D --format=saved_model --output=P [--version=N]
  python -m sa3dhp_tf.export --model_dir=D --format=tflite --quantize=int8 --output=F.tflite

SavedModel: `P/<N>/` (TF Serving's layout; N defaults to the next integer) with the signatures
`serving_default`, `serving_bytes`, `serving_clip` (README "Export and serve") and
`metadata.json`. TFLite: `F` and `F.metadata.json`. Bad flags or stage dirs print one `error:`
line and exit with status 2.
"""

from absl import flags

from sa3dhp_tf import errors

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model dir of a finished source or adapt stage.")
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "What to write.")
flags.DEFINE_string("output", None, "SavedModel base dir (versions inside) or the .tflite file.")
flags.DEFINE_integer("version", None, "SavedModel version (default: the next integer).")
flags.DEFINE_enum("quantize", "none", ["none", "float16", "dynamic_int8", "int8"],
                  "TFLite quantisation (int8: calibrated on target_train frames).")
flags.DEFINE_string("motion_aae_dir", None,
                    "Motion AAE for serving_clip (default: the stage's own lineage).")
flags.DEFINE_string("data_dir", None, "Benchmark for validation (default: the stage's).")


def main(argv):
  errors.check_positional(argv)
  errors.require_flags(FLAGS, "model_dir", "output")
  if FLAGS.format == "saved_model":
    errors.ensure_writable_dir(FLAGS.output, "--output")
  else:
    errors.ensure_writable_file(FLAGS.output, "--output")
  from sa3dhp_tf.export import exporter
  kwargs = {"motion_aae_dir": FLAGS.motion_aae_dir, "data_dir": FLAGS.data_dir,
            "version": FLAGS.version}
  if FLAGS.format == "tflite":
    kwargs["quantize"] = FLAGS.quantize
  path = exporter.export(FLAGS.model_dir, FLAGS.format, FLAGS.output, **kwargs)
  print(path)


if __name__ == "__main__":
  errors.run(main)
