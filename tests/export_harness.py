"""Shared by the export tests and tools/bench_export.py: a tiny benchmark with the stages an
export needs (pose AAE, motion AAE, source G^s), trained for a few steps."""

import os

import testing


run_stage = testing.run_tiny_stage


def build_tiny_chain(root, stages=("pose", "motion", "source"), bench=None):
  """{'bench', 'pose', 'motion', 'source'[, 'rel', 'adapt']} dirs under `root`, on the tiny
  benchmark `bench` (default: one built under `root`)."""
  root = str(root)
  dirs = {name: os.path.join(root, name) for name in ("bench", "pose", "motion", "source",
                                                      "rel", "adapt")}
  if bench is None:
    testing.build_tiny_benchmark(dirs["bench"])
  else:
    dirs["bench"] = str(bench)
  run_stage("pose_aae", dirs["pose"], [f"pose_aae.data_dir = '{dirs['bench']}'"])
  run_stage("motion_aae", dirs["motion"], [f"motion_aae.pose_aae_dir = '{dirs['pose']}'"])
  run_stage("source", dirs["source"], [f"source.pose_aae_dir = '{dirs['pose']}'"])
  if "adapt" in stages:
    run_stage("relation_nets", dirs["rel"], [f"relation_nets.pose_aae_dir = '{dirs['pose']}'",
                                             f"relation_nets.motion_aae_dir = '{dirs['motion']}'"])
    run_stage("adapt", dirs["adapt"], [f"adapt.source_dir = '{dirs['source']}'",
                                       f"adapt.relation_nets_dir = '{dirs['rel']}'"])
  return {k: v for k, v in dirs.items() if os.path.isdir(v)}
