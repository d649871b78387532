"""The range rules (`sa3dhp_tf.settings`) and the stage lineage hashes (`sa3dhp_tf.lineage`), on
plain values and hand-made stage folders (no TensorFlow)."""

import hashlib
import json
import os

import pytest

from sa3dhp_tf import lineage
from sa3dhp_tf import settings


@pytest.mark.parametrize("rule, good, bad", [
    (settings.STEPS, [1, 7], [0, -3, 2.0, True, "4", None]),
    (settings.SEED, [0, 5], [-1, 0.5]),
    (settings.LEARNING_RATE, [1e-5, 3], [0, -1e-3, float("nan"), float("inf"), "1e-3"]),
    (settings.FRACTION, [0, 0.5, 1], [-0.1, 1.01]),
    (settings.one_of("a", None), ["a", None], ["b"]),
    (settings.sequence_of(settings.integer(1)), [(1, 2), [3]], [(), (0,), 5]),
    (settings.mapping_of(settings.LEARNING_RATE), [None, {"lcr": 1e-5}], [{"lcr": 0}]),
])
def test_rules_accept_and_refuse(rule, good, bad):
  for value in good:
    assert rule.accepts(value), (rule, value)
  for value in bad:
    assert not rule.accepts(value), (rule, value)


def test_check_names_the_setting_and_the_range():
  with pytest.raises(settings.SettingError, match=r"^pose_aae\.steps must be an integer >= 1, "
                     r"got 0$"):
    settings.check("pose_aae", settings.TRAINING_RULES, {"steps": 0, "steps_per_loop": 1})
  with pytest.raises(settings.SettingError, match=r"pose_aae\.steps \(10\) must be a multiple of "
                     r"pose_aae\.steps_per_loop \(4\)"):
    settings.check("pose_aae", settings.TRAINING_RULES, {"steps": 10, "steps_per_loop": 4})
  assert settings.check("x", settings.TRAINING_RULES, {"steps": 8, "steps_per_loop": 4})


def _stage(root, name, weights=b"w", inputs=None):
  folder = os.path.join(root, name)
  os.makedirs(os.path.join(folder, "export"))
  with open(os.path.join(folder, "export", "m.keras"), "wb") as f:
    f.write(weights)
  info = {"stage": name, "inputs": inputs or {}, "lineage": lineage.record(inputs)}
  with open(os.path.join(folder, "stage_info.json"), "w") as f:
    json.dump(info, f)
  return folder, info


def test_identity_is_the_hash_of_info_and_weights(tmp_path):
  folder, _ = _stage(str(tmp_path), "pose", b"abc")
  digest = hashlib.sha256()
  for rel in ("stage_info.json", os.path.join("export", "m.keras")):
    digest.update(rel.encode() + b"\0")
    digest.update(open(os.path.join(folder, rel), "rb").read())
    digest.update(b"\0")
  assert lineage.identity(folder) == digest.hexdigest()


def test_chain_detects_a_changed_ancestor_two_levels_down(tmp_path):
  pose, _ = _stage(str(tmp_path), "pose")
  motion, _ = _stage(str(tmp_path), "motion", inputs={"pose_aae": pose})
  rel, rel_info = _stage(str(tmp_path), "rel", inputs={"motion_aae": motion})
  assert lineage.check_chain(rel) == 2
  with open(os.path.join(pose, "export", "m.keras"), "wb") as f:
    f.write(b"retrained")
  with pytest.raises(lineage.LineageError, match=f"the pose_aae stage {pose} changed after "
                     f"{motion}"):
    lineage.check_chain(rel)
  assert lineage.identities(rel_info, "pose_aae")  # recorded through the motion stage


def test_shared_and_built_on(tmp_path):
  pose_a, _ = _stage(str(tmp_path), "pose_a", b"a")
  pose_b, _ = _stage(str(tmp_path), "pose_b", b"b")
  motion, motion_info = _stage(str(tmp_path), "motion", inputs={"pose_aae": pose_b})
  source, source_info = _stage(str(tmp_path), "source", inputs={"pose_aae": pose_a})
  lineage.check_built_on(motion, motion_info, "pose_aae", pose_b)
  with pytest.raises(lineage.LineageError, match="another pose_aae stage"):
    lineage.check_built_on(motion, motion_info, "pose_aae", pose_a)
  with pytest.raises(lineage.LineageError, match="different pose_aae stages"):
    lineage.check_shared("pose_aae", motion, motion_info, source, source_info)


def test_shared_compares_content_not_paths(tmp_path):
  pose, _ = _stage(str(tmp_path), "pose", b"a")
  link = str(tmp_path / "pose_link")
  os.symlink(pose, link)
  motion, motion_info = _stage(str(tmp_path), "motion", inputs={"pose_aae": pose})
  source, source_info = _stage(str(tmp_path), "source", inputs={"pose_aae": link})
  lineage.check_shared("pose_aae", motion, motion_info, source, source_info)
  # without recorded identities (stages saved before lineage): the listed dirs, as files
  bare = lambda path: {"inputs": {"pose_aae": path}}
  lineage.check_shared("pose_aae", motion, bare(pose), source, bare(link))
  other, _ = _stage(str(tmp_path), "other", b"b")
  with pytest.raises(lineage.LineageError, match=f"built on the pose_aae stage {pose} but"):
    lineage.check_shared("pose_aae", motion, bare(pose), source, bare(other))
