"""Procedural motion generator: kinematic validity, plausibility and variety."""

import itertools

import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import kinematics, procedural

J = skeleton.JOINT_INDEX
SEEDS = (0, 1)
FRAMES = 300    # 10 s: every episodic action completes at least one episode


def make(action, seed, frames=FRAMES):
  rng = np.random.default_rng(seed)
  subject = procedural.sample_subject(rng)
  return procedural.synthesize(rng, action, subject, frames)


@pytest.fixture(scope="module")
def motions():
  return {(a, s): make(a, s) for a in procedural.ACTIONS for s in SEEDS}


def test_action_list():
  assert len(procedural.ACTIONS) >= 10
  for action in ("walk", "run", "jump", "squat", "wave", "reach", "kick", "turn_in_place",
                 "bend", "idle_sway"):
    assert action in procedural.ACTIONS
  assert set(procedural.GROUNDED_ACTIONS) | set(procedural.AIRBORNE_ACTIONS) == \
      set(procedural.ACTIONS)


@pytest.mark.parametrize("frames", [1, 2, 45])
def test_shapes_and_dtypes(frames):
  rng = np.random.default_rng(3)
  subject = procedural.sample_subject(rng)
  for action in procedural.ACTIONS:
    poses = procedural.generate_sequence(rng, action, subject, frames)
    assert poses.shape == (frames, 17, 3) and poses.dtype == np.float32
    assert np.all(np.isfinite(poses))


def test_deterministic_for_a_seed():
  for action in procedural.ACTIONS:
    a = procedural.generate_sequence(np.random.default_rng(7), action,
                                     procedural.sample_subject(np.random.default_rng(1)), 60)
    b = procedural.generate_sequence(np.random.default_rng(7), action,
                                     procedural.sample_subject(np.random.default_rng(1)), 60)
    c = procedural.generate_sequence(np.random.default_rng(8), action,
                                     procedural.sample_subject(np.random.default_rng(1)), 60)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 10.0, action


def test_subjects_are_plausible_and_symmetric():
  rng = np.random.default_rng(0)
  subjects = [procedural.sample_subject(rng) for _ in range(200)]
  heights = np.array([s.height for s in subjects])
  assert 1500 <= heights.min() and heights.max() <= 1950 and np.ptp(heights) > 300
  for s in subjects:
    lengths = dict(zip(skeleton.BONES, s.bone_lengths()))
    for left, right in skeleton.SYMMETRIC_BONES:
      assert lengths[(skeleton.PARENTS[left], left)] == pytest.approx(
          lengths[(skeleton.PARENTS[right], right)], abs=1e-9)
    for name, ratio in procedural.body.PROPORTIONS.items():
      assert abs(getattr(s, name) / (s.height * ratio) - 1.0) <= 0.15 + 1e-9, name
    # Standing head joint height within a few % of the stature.
    offsets = s.rest_offsets()
    chain = [J["spine"], J["thorax"], J["neck_nose"], J["head"]]
    head = s.ankle_height + s.shin + s.thigh + offsets[chain, 2].sum()
    assert 0.9 * s.height < head < 1.02 * s.height
  # Proportions vary between subjects, not just the scale.
  leg_ratio = [(s.thigh + s.shin) / s.height for s in subjects]
  assert np.std(leg_ratio) > 0.005


def test_bone_lengths_constant_and_symmetric():
  for action in procedural.ACTIONS:
    motion = make(action, 5, frames=150)
    lengths = skeleton.bone_lengths(motion.poses.astype(np.float64))
    expected = motion.subject.bone_lengths()
    assert np.abs(lengths - expected).max() < 1e-3, action   # mm, in every frame
    for left, right in skeleton.SYMMETRIC_BONES:
      li, ri = skeleton.BONES.index((skeleton.PARENTS[left], left)), \
          skeleton.BONES.index((skeleton.PARENTS[right], right))
      assert np.abs(lengths[:, li] - lengths[:, ri]).max() < 1e-3, action


def _interior_angle(poses, a, b, c):
  u, v = poses[:, a] - poses[:, b], poses[:, c] - poses[:, b]
  cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
  return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def test_joint_limits_and_one_way_knees_and_elbows(motions):
  for (action, seed), motion in motions.items():
    for channel, (lo, hi) in procedural.JOINT_LIMITS.items():
      values = motion.angles[channel]
      assert lo <= values.min() and values.max() <= hi, (action, seed, channel)
    poses = motion.poses.astype(np.float64)
    for side in ("l", "r"):
      hip, knee, ankle = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
      flexion = motion.angles[f"{side}_knee_flex"]
      assert 0.0 <= flexion.min() and flexion.max() <= 150.0
      np.testing.assert_allclose(_interior_angle(poses, hip, knee, ankle), 180.0 - flexion,
                                 atol=0.05)
      # One way only: the shank folds backwards, i.e. thigh x shank points to the body's left.
      fold = np.cross(poses[:, knee] - poses[:, hip], poses[:, ankle] - poses[:, knee])
      lateral = poses[:, J["l_hip"]] - poses[:, J["r_hip"]]
      bent = flexion > 3.0
      assert np.all(np.sum(fold * lateral, -1)[bent] > 0), (action, seed, side)
      shoulder, elbow, wrist = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
      elbow_flex = motion.angles[f"{side}_elbow_flex"]
      assert 0.0 <= elbow_flex.min() and elbow_flex.max() <= 150.0
      np.testing.assert_allclose(_interior_angle(poses, shoulder, elbow, wrist),
                                 180.0 - elbow_flex, atol=0.05)


def test_feet_on_the_ground(motions):
  for (action, seed), motion in motions.items():
    ankles = motion.poses[:, [J["l_ankle"], J["r_ankle"]], 2].astype(np.float64)
    ankle_height = motion.subject.ankle_height
    assert ankles.min() > ankle_height - 20.0, (action, seed)       # never sunk into the floor
    lowest = ankles.min(axis=1)
    if action in procedural.GROUNDED_ACTIONS:
      # A foot is on the ground in every frame (heel rise in walking allowed).
      assert lowest.max() < ankle_height + 50.0, (action, seed)
    else:
      # Running and jumping have flight phases: both feet clearly off the ground.
      assert np.any(lowest > ankle_height + 60.0), (action, seed)


CALM = ("squat", "bend", "idle_sway", "sit_stand", "arm_circles")


def test_smooth_bounded_acceleration(motions):
  for (action, seed), motion in motions.items():
    poses = motion.poses.astype(np.float64)
    acceleration = np.linalg.norm(np.diff(poses, 2, axis=0), axis=-1) * 30.0 ** 2 / 1000.0
    bound = 60.0 if action in CALM else 400.0   # m/s^2
    assert acceleration.max() < bound, (action, seed, acceleration.max())
    # The whole body (pelvis) moves smoothly even in fast actions.
    assert acceleration[:, J["pelvis"]].max() < 100.0, (action, seed)
    # Typical accelerations are moderate (running and jumping limbs swing hard).
    typical = 100.0 if action in procedural.AIRBORNE_ACTIONS else 40.0
    assert np.percentile(acceleration, 95) < typical, (action, seed)


def _heading_aligned(motion):
  poses = motion.poses.astype(np.float64)
  relative = poses - poses[:, :1]
  rotation = kinematics.axis_rotation("z", -np.deg2rad(motion.heading))
  return np.einsum("tab,tjb->tja", rotation, relative)


def test_actions_do_what_they_say(motions):
  for seed in SEEDS:
    m = {a: motions[(a, seed)] for a in procedural.ACTIONS}

    def speed(action):   # m/s, mean horizontal pelvis speed
      p = m[action].poses[:, 0, :2].astype(np.float64)
      return np.linalg.norm(np.diff(p, axis=0), axis=-1).mean() * 30.0 / 1000.0

    def path(action):    # m, extent of the pelvis path
      return np.ptp(m[action].poses[:, 0, :2], axis=0).max() / 1000.0

    assert 0.3 < speed("walk") < 1.8 and speed("run") > max(1.2, speed("walk"))
    for action in set(procedural.ACTIONS) - {"walk", "run", "jump"}:
      assert path(action) < 1.0, (action, seed)
    assert np.ptp(m["turn_in_place"].heading) > 90.0
    for action in ("squat", "sit_stand"):
      s = m[action].subject
      assert m[action].poses[:, 0, 2].min() < 0.65 * (s.ankle_height + s.shin + s.thigh)
    for action in ("wave", "jump"):
      wrists = m[action].poses[:, [J["l_wrist"], J["r_wrist"]], 2].max(axis=1)
      assert np.any(wrists > m[action].poses[:, J["head"], 2] + 80.0), action
    bend = m["bend"]
    lean = np.linalg.norm(bend.poses[:, J["thorax"], :2] - bend.poses[:, 0, :2], axis=-1)
    assert lean.max() > 0.8 * (bend.subject.lower_spine + bend.subject.upper_spine)
    kick = m["kick"].poses[:, [J["l_ankle"], J["r_ankle"]], 2] - m["kick"].subject.ankle_height
    assert np.any((kick.max(axis=1) > 300.0) & (kick.min(axis=1) < 15.0))   # one foot up high
    punch = _heading_aligned(m["punch"])
    arm = m["punch"].subject.upper_arm + m["punch"].subject.forearm
    reach = np.maximum(punch[:, J["l_wrist"], 0], punch[:, J["r_wrist"], 0]) - \
        punch[:, J["thorax"], 0]
    assert reach.max() > 0.7 * arm                                           # fists forward
    circles = _heading_aligned(m["arm_circles"])
    span = np.abs(circles[:, J["l_wrist"], 1] - circles[:, J["r_wrist"], 1])
    assert span.max() > 2.0 * m["arm_circles"].subject.upper_arm            # arms spread out
    idle = m["idle_sway"]
    assert max(idle.angles["l_knee_flex"].max(), idle.angles["r_knee_flex"].max()) < 30.0


def test_different_actions_differ():
  subject = procedural.sample_subject(np.random.default_rng(123))
  descriptors = {}
  for action in procedural.ACTIONS:
    aligned = _heading_aligned(procedural.synthesize(np.random.default_rng(0), action, subject,
                                                     FRAMES))
    descriptors[action] = np.concatenate([aligned.mean(0).ravel(), aligned.std(0).ravel()])
  for a, b in itertools.combinations(procedural.ACTIONS, 2):
    rms = np.linalg.norm(descriptors[a] - descriptors[b]) / np.sqrt(2 * 17)
    assert rms > 30.0, (a, b, rms)      # mm


def test_variety_within_an_action():
  subject = procedural.sample_subject(np.random.default_rng(0))
  walks = [procedural.synthesize(np.random.default_rng(s), "walk", subject, 150) for s in range(8)]
  speeds = [np.linalg.norm(np.diff(w.poses[:, 0, :2], axis=0), axis=-1).mean() * 0.03
            for w in walks]
  assert np.ptp(speeds) > 0.15                          # m/s: per-sequence speed and style
  assert {w.mirrored for w in walks} == {True, False}   # left and right leads
  assert max(np.ptp(w.heading) for w in walks) > 20.0   # heading changes while walking
  starts = np.array([w.poses[0, 0, :2] for w in walks])
  assert np.ptp(starts, axis=0).min() > 500.0           # different places in the world


def test_corpus():
  corpus = procedural.generate_corpus(seed=4, num_sequences=15, num_frames=20)
  assert len(corpus) == 15
  assert [c["action"] for c in corpus] == [procedural.ACTIONS[i % 13] for i in range(15)]
  assert len({c["sequence_id"] for c in corpus}) == 15
  assert {c["subject_id"] for c in corpus} <= {f"proc4_s{k:02d}" for k in range(5)}
  for c in corpus:
    assert set(c) == {"poses", "action", "subject_id", "sequence_id"}
    assert c["poses"].shape == (20, 17, 3) and c["poses"].dtype == np.float32
  shorter = procedural.generate_corpus(seed=4, num_sequences=3, num_frames=20)
  for a, b in zip(corpus, shorter):
    np.testing.assert_array_equal(a["poses"], b["poses"])
    assert a["sequence_id"] == b["sequence_id"]
  subjects = [procedural.sample_subject(np.random.default_rng(9), "only")]
  custom = procedural.generate_corpus(seed=4, num_sequences=2, num_frames=5,
                                      actions=("wave", "kick"), subjects=subjects)
  assert [c["action"] for c in custom] == ["wave", "kick"]
  assert {c["subject_id"] for c in custom} == {"only"}


def test_bad_arguments():
  rng = np.random.default_rng(0)
  subject = procedural.sample_subject(rng)
  with pytest.raises(ValueError, match="unknown action 'moonwalk'"):
    procedural.generate_sequence(rng, "moonwalk", subject, 10)
  with pytest.raises(ValueError, match="num_frames"):
    procedural.generate_sequence(rng, "walk", subject, 0)
  with pytest.raises(TypeError, match="SubjectBody"):
    procedural.generate_sequence(rng, "walk", {"height": 1700}, 10)
  with pytest.raises(ValueError, match="unknown action"):
    procedural.generate_corpus(0, 2, 10, actions=("walk", "fly"))
