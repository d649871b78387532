"""Serving a finished `source` or `adapt` stage: SavedModels for TensorFlow Serving and TFLite
files for devices (README "Export and serve").

  module = pose_module.PoseExportModule.from_stage(model_dir)   # one tf.function per input kind
  exporter.export(model_dir, "saved_model", output)             # built, validated, renamed
  exporter.export(model_dir, "tflite", output, quantize="int8")

Signatures (`pose_module.SIGNATURES`) and formats (`exporter.FORMATS`) are registries: adding one
touches one place. The binary is `python -m sa3dhp_tf.export`.
"""
