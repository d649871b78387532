"""Graded shifts (sa3dhp_tf/data/render/graded_shifts.py): each changes one factor of the source
style, the three together are the default target, and the source splits do not depend on them."""

import dataclasses
import os

import pytest

import shared_stages
import testing
from sa3dhp_tf.data.render import graded_shifts
from sa3dhp_tf.evaluation import calibration
from sa3dhp_tf.data.render import styles

FIELDS = [f.name for f in dataclasses.fields(styles.RenderStyle)]


def _differing(a, b):
  return {f for f in FIELDS if f != "name" and getattr(a, f) != getattr(b, f)}


def test_factors_partition_what_separates_source_from_target():
  source, target = styles.get_style("source"), styles.get_style("target")
  claimed = [f for fields in graded_shifts.FACTORS.values() for f in fields]
  assert len(claimed) == len(set(claimed)), "a field belongs to two factors"
  assert set(claimed) <= set(FIELDS)
  assert _differing(source, target) <= set(claimed)
  everything = graded_shifts.GradedShift("all", tuple(graded_shifts.FACTORS))
  assert _differing(graded_shifts.build_style(everything, styles.get_style), target) == set()


@pytest.mark.parametrize("name", sorted(graded_shifts.SHIFTS))
def test_each_shift_changes_only_its_factor(name):
  shift = graded_shifts.SHIFTS[name]
  style = styles.get_style(name)
  assert style.name == name
  changed = _differing(styles.get_style("source"), style)
  assert changed, f"{name} is the source style"
  assert changed <= set(graded_shifts.shift_fields(shift))
  # and it takes the whole factor: nothing of it is left at the source's value
  assert _differing(style, styles.get_style("target")) & set(graded_shifts.shift_fields(shift)) \
      == set()


def test_overrides_and_unknown_factors():
  style = styles.get_style("target_camera", blur_sigma=(1.0, 2.0))
  assert style.blur_sigma == (1.0, 2.0) and style.name == "target_camera"
  with pytest.raises(ValueError, match="unknown RenderStyle field"):
    styles.get_style("target_camera", blurr=(1.0, 2.0))
  with pytest.raises(ValueError, match="unknown factor"):
    graded_shifts.build_style(graded_shifts.GradedShift("x", ("lighting",)), styles.get_style)


def test_source_splits_do_not_depend_on_the_target_style(tmp_path_factory, tmp_path):
  default = shared_stages.tiny_benchmark(tmp_path_factory)
  shifted = testing.build_tiny_benchmark(
      str(tmp_path / "camera"), ["build_benchmark.target_style = 'target_camera'"])
  shards = sorted(n for n in os.listdir(default) if n.endswith(".tfrecord"))
  assert shards == sorted(n for n in os.listdir(shifted) if n.endswith(".tfrecord"))
  assert calibration.differing_source_shards(default, shifted) == []
  for name in (n for n in shards if n.startswith("target")):  # re-rendered in the other style
    assert (open(os.path.join(default, name), "rb").read() !=
            open(os.path.join(shifted, name), "rb").read()), name
  other_seed = testing.build_tiny_benchmark(str(tmp_path / "seed1"),
                                            ["build_benchmark.seed = 1"])
  assert calibration.differing_source_shards(default, other_seed)
