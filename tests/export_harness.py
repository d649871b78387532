"""Shared by the export tests and tools/bench_export.py: a tiny benchmark with the stages an
export needs (pose AAE, motion AAE, source G^s), trained for a few steps."""

import os

import gin

from sa3dhp_tf import config
from sa3dhp_tf.data import benchmark


def run_stage(stage, model_dir, bindings=(), files=("tiny/stages.gin",)):
  import sa3dhp_tf.tasks as tasks
  config.parse_gin(list(files), list(bindings), finalize=False)
  try:
    tasks.check_stage(stage)
    return tasks.get_stage(stage)(model_dir)
  finally:
    gin.clear_config()


def build_tiny_chain(root, stages=("pose", "motion", "source")):
  """{'bench', 'pose', 'motion', 'source'[, 'rel', 'adapt']} dirs under `root`."""
  root = str(root)
  dirs = {name: os.path.join(root, name) for name in ("bench", "pose", "motion", "source",
                                                      "rel", "adapt")}
  config.parse_gin(["benchmark/tiny.gin"], [], finalize=False)
  try:
    benchmark.build_benchmark(dirs["bench"], contact_sheet=False)
  finally:
    gin.clear_config()
  run_stage("pose_aae", dirs["pose"], [f"pose_aae.data_dir = '{dirs['bench']}'"])
  run_stage("motion_aae", dirs["motion"], [f"motion_aae.pose_aae_dir = '{dirs['pose']}'"])
  run_stage("source", dirs["source"], [f"source.pose_aae_dir = '{dirs['pose']}'"])
  if "adapt" in stages:
    run_stage("relation_nets", dirs["rel"], [f"relation_nets.pose_aae_dir = '{dirs['pose']}'",
                                             f"relation_nets.motion_aae_dir = '{dirs['motion']}'"])
    run_stage("adapt", dirs["adapt"], [f"adapt.source_dir = '{dirs['source']}'",
                                       f"adapt.relation_nets_dir = '{dirs['rel']}'"])
  return {k: v for k, v in dirs.items() if os.path.isdir(v)}
