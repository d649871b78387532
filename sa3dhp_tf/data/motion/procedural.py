"""Procedural human motion on the H36M-17 skeleton, for the synthetic benchmark.

Each sequence is a set of smooth joint-angle trajectories (degrees) driven through hierarchical
forward kinematics with per-subject bone lengths, so bone lengths are exactly constant. Angles
are anatomical and limited (`JOINT_LIMITS`, enforced by a smooth clamp): knees and elbows bend one
way only, hips/shoulders/spine stay within adult ranges.

Body frame (rest): x forward, y left, z up; standing upright, arms hanging. Rotations per
segment (s = +1 left, -1 right; mirrored so both sides read the same anatomically):
- pelvis (root): Rz(heading + root_yaw) @ Ry(root_pitch) @ Rx(-root_roll); pitch > 0 tips it
  forward. The hip joints ride on it, but the thighs are posed from Rz(heading) @ Ry(root_pitch),
  so pelvic roll and axial rotation (gait) move the hips without swinging a planted leg;
- thigh: Ry(-hip_flex) @ Rx(s * hip_abd) @ Rz(s * hip_twist); shank: Ry(knee_flex);
- lower back (pelvis->spine), upper back (spine->thorax), neck (thorax->neck_nose), head
  (neck_nose->head): Ry(flex) @ Rx(-lat) @ Rz(twist); flex > 0 bends forward, lat > 0 left;
- clavicle (thorax->shoulder): Rz(-s * clav_prot) @ Rx(s * clav_elev);
- upper arm, relative to the thorax frame: Rz(-s p) @ Rx(s e) @ Rz(s (p + twist)) with e =
  shoulder_elev (0 hanging, 90 horizontal, 180 overhead) and p = shoulder_plane (0 sideways,
  90 forward, < 0 behind, > 90 across the body); forearm: Ry(-elbow_flex).
Actions may write an arm as `{s}_arm_flex` / `{s}_arm_abd` (a sagittal swing and a sideways
lift), converted to elevation and plane before limits are applied.

World placement (`_place_root`): the pelvis height keeps the lower ankle at the subject's ankle
height above the ground z = 0 (plus a heel rise in gait), but never falls faster than gravity,
so jumps and running get ballistic flight phases; horizontally the root moves against the
planted feet (a foot within a few mm of the floor, and in its stance phase for gaits), so
locomotion and turning emerge from the legs and bending or squatting moves the pelvis over
planted feet; airborne, the body keeps its momentum. A support foot may sink or hover by up to
~2 cm where the support passes from one foot to the other or at landings (smoothing), and stance
feet slide by ~0.1 m/s when walking and ~0.4 m/s when running.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from sa3dhp_tf import skeleton
from sa3dhp_tf.data.motion import kinematics

ACTIONS = ("walk", "run", "jump", "squat", "wave", "reach", "kick", "turn_in_place", "bend",
           "idle_sway", "punch", "sit_stand", "arm_circles")
# Actions in which a foot may leave the ground for good reasons (flight phases).
AIRBORNE_ACTIONS = ("run", "jump")
# Actions during which the lower ankle stays at ankle height in every frame.
GROUNDED_ACTIONS = tuple(a for a in ACTIONS if a not in AIRBORNE_ACTIONS)


def _build_limits() -> Dict[str, Tuple[float, float]]:
  limits = {"root_pitch": (-30.0, 85.0), "root_roll": (-20.0, 20.0), "root_yaw": (-25.0, 25.0)}
  trunk = {
      "spine": ((-30.0, 60.0), (-30.0, 30.0), (-35.0, 35.0)),
      "chest": ((-20.0, 45.0), (-20.0, 20.0), (-30.0, 30.0)),
      "neck": ((-40.0, 50.0), (-35.0, 35.0), (-70.0, 70.0)),
      "head": ((-30.0, 35.0), (-20.0, 20.0), (-20.0, 20.0)),
  }
  for segment, (flex, lat, twist) in trunk.items():
    limits[f"{segment}_flex"], limits[f"{segment}_lat"] = flex, lat
    limits[f"{segment}_twist"] = twist
  for s in ("l", "r"):
    limits.update({
        f"{s}_hip_flex": (-30.0, 125.0), f"{s}_hip_abd": (-25.0, 50.0),
        f"{s}_hip_twist": (-40.0, 40.0), f"{s}_knee_flex": (0.0, 150.0),
        f"{s}_clav_elev": (-10.0, 30.0), f"{s}_clav_prot": (-20.0, 25.0),
        f"{s}_shoulder_elev": (0.0, 175.0), f"{s}_shoulder_plane": (-100.0, 140.0),
        f"{s}_shoulder_twist": (-100.0, 100.0), f"{s}_elbow_flex": (0.0, 150.0),
    })
  return limits


# Joint-angle channels and their (min, max) in degrees. Heading is not limited.
JOINT_LIMITS = _build_limits()
CHANNELS = tuple(JOINT_LIMITS)
# Sharpness (1/deg) of the smooth clamp: values inside the range move by at most ln2/k = 2 deg.
_CLAMP_SHARPNESS = 1.0 / 3.0

_SIGN = {"l": 1.0, "r": -1.0}
_MIRROR_NEGATE = ("root_roll", "root_yaw", "spine_lat", "spine_twist", "chest_lat", "chest_twist",
                  "neck_lat", "neck_twist", "head_lat", "head_twist", "_yaw")


# ----------------------------------------------------------------------------------------------
# Subjects.

@dataclasses.dataclass(frozen=True)
class SubjectBody:
  """Bone lengths (mm) of one subject, left/right symmetric.

  height: the nominal stature the proportions were drawn from; ankle_height: ankle joint above
  the floor when standing; hip_half_width: pelvis to each hip joint; lower_spine: pelvis to
  spine; upper_spine: spine to thorax; neck: thorax to neck/nose; head: neck/nose to head top;
  shoulder_half_width: thorax to each shoulder joint.
  """
  subject_id: str
  height: float
  ankle_height: float
  hip_half_width: float
  thigh: float
  shin: float
  lower_spine: float
  upper_spine: float
  neck: float
  head: float
  shoulder_half_width: float
  upper_arm: float
  forearm: float

  def rest_offsets(self) -> np.ndarray:
    """`[17, 3]` offset of each joint from its parent in the rest body frame (x fwd, y left)."""

    def unit(v):
      v = np.asarray(v, np.float64)
      return v / np.linalg.norm(v)

    offsets = np.zeros((skeleton.NUM_JOINTS, 3))
    j = skeleton.JOINT_INDEX
    for side, s in _SIGN.items():
      offsets[j[f"{side}_hip"]] = (0.0, s * self.hip_half_width, 0.0)
      offsets[j[f"{side}_knee"]] = (0.0, 0.0, -self.thigh)
      offsets[j[f"{side}_ankle"]] = (0.0, 0.0, -self.shin)
      offsets[j[f"{side}_shoulder"]] = self.shoulder_half_width * unit((0.0, s, -0.08))
      offsets[j[f"{side}_elbow"]] = (0.0, 0.0, -self.upper_arm)
      offsets[j[f"{side}_wrist"]] = (0.0, 0.0, -self.forearm)
    offsets[j["spine"]] = self.lower_spine * unit((-0.05, 0.0, 1.0))
    offsets[j["thorax"]] = self.upper_spine * unit((0.03, 0.0, 1.0))
    offsets[j["neck_nose"]] = self.neck * unit((0.3, 0.0, 1.0))
    offsets[j["head"]] = self.head * unit((-0.15, 0.0, 1.0))
    return offsets

  def bone_lengths(self) -> np.ndarray:
    """`[16]` bone lengths in the order of `skeleton.BONES`."""
    offsets = self.rest_offsets()
    return np.array([np.linalg.norm(offsets[c]) for _, c in skeleton.BONES])


# Segment lengths as fractions of stature (close to H36M means for a 1.75 m subject).
_PROPORTIONS = {
    "ankle_height": 0.045, "hip_half_width": 0.072, "thigh": 0.245, "shin": 0.245,
    "lower_spine": 0.135, "upper_spine": 0.150, "neck": 0.068, "head": 0.080,
    "shoulder_half_width": 0.090, "upper_arm": 0.163, "forearm": 0.148,
}
_LEG_SEGMENTS = ("thigh", "shin")
_TRUNK_SEGMENTS = ("lower_spine", "upper_spine")
_WIDTHS = ("hip_half_width", "shoulder_half_width")


def sample_subject(rng: np.random.Generator, subject_id: Optional[str] = None,
                   height_range: Tuple[float, float] = (1500.0, 1950.0)) -> SubjectBody:
  """Draws a plausible adult: stature uniform in `height_range` (mm), every proportion jittered
  (about 3% each) plus correlated leg-vs-trunk and broad-vs-narrow factors, at most 15% in all."""
  height = float(rng.uniform(*height_range))
  leg_factor = float(np.clip(rng.normal(0.0, 0.025), -0.05, 0.05))
  width_factor = float(np.clip(rng.normal(0.0, 0.05), -0.1, 0.1))
  hip_vs_shoulder = float(np.clip(rng.normal(0.0, 0.04), -0.08, 0.08))
  lengths = {}
  for name, ratio in _PROPORTIONS.items():
    jitter = float(np.clip(rng.normal(0.0, 0.03), -0.08, 0.08))
    if name in _LEG_SEGMENTS:
      jitter += leg_factor
    elif name in _TRUNK_SEGMENTS:
      jitter -= leg_factor
    elif name in _WIDTHS:
      jitter += width_factor + (hip_vs_shoulder if name == "hip_half_width" else -hip_vs_shoulder)
    lengths[name] = height * ratio * (1.0 + float(np.clip(jitter, -0.15, 0.15)))
  if subject_id is None:
    subject_id = f"subject_{int(rng.integers(10**8)):08d}"
  return SubjectBody(subject_id=subject_id, height=height, **lengths)


# ----------------------------------------------------------------------------------------------
# Trajectory building blocks.

def _smootherstep(s):
  s = np.clip(s, 0.0, 1.0)
  return s * s * s * (s * (6.0 * s - 15.0) + 10.0)


def _bump(x, kappa):
  """Smooth periodic bump (von Mises shape), 1 at x = 0 (mod 2 pi), near 0 half a cycle away."""
  return np.exp(kappa * (np.cos(x) - 1.0))


def _noise(rng, t, std, fmin=0.08, fmax=0.6, count=3):
  """Smooth noise: a sum of `count` sinusoids with random frequencies and phases, std `std`."""
  freqs = rng.uniform(fmin, fmax, count)
  phases = rng.uniform(0.0, 2.0 * np.pi, count)
  amps = rng.uniform(0.5, 1.0, count)
  amps *= std * math.sqrt(2.0) / np.sqrt(np.sum(amps ** 2))
  return np.sum(amps[:, None] * np.sin(2.0 * np.pi * freqs[:, None] * t[None] + phases[:, None]),
                axis=0)


def _stance_ramp(phi, start, end, harmonics=8):
  """Smooth periodic profile of the gait phase `phi` (radians): falls linearly from +1 at cycle
  fraction `start` to -1 at `end` (covering the stance, so a planted foot moves back at a steady
  speed) and rises back to +1 over the rest of the cycle (the swing). A Fourier series truncated
  to `harmonics` terms, so the turns are rounded."""
  grid = np.linspace(0.0, 1.0, 512, endpoint=False)
  fall = end - start
  g = np.mod(grid - start, 1.0)
  ramp = np.where(g < fall, 1.0 - 2.0 * g / fall, -1.0 + 2.0 * (g - fall) / (1.0 - fall))
  coeffs = np.fft.rfft(ramp) / len(grid)
  out = np.full_like(phi, coeffs[0].real)
  for n in range(1, harmonics + 1):
    out += 2.0 * (coeffs[n].real * np.cos(n * phi) - coeffs[n].imag * np.sin(n * phi))
  return out


def _stance_window(phi, duty, edge=0.04):
  """Smooth 0..1 indicator of the stance, cycle fractions [0, duty] of the gait phase `phi`."""
  centred = np.mod(phi / (2 * np.pi) - 0.5 * duty + 0.5, 1.0) - 0.5
  return _smootherstep((0.5 * duty + edge - np.abs(centred)) / (2 * edge))


def _soft_clamp(x, lo, hi, k=_CLAMP_SHARPNESS):
  """Smooth, monotone map of x into (lo, hi): lo + softplus(x - lo) - softplus(x - hi)."""
  return lo + (np.logaddexp(0.0, k * (x - lo)) - np.logaddexp(0.0, k * (x - hi))) / k


def _arm_from_swing(flex, abd):
  """(elevation, plane) in degrees of an arm swung forward by `flex` (about the lateral axis)
  after being lifted sideways by `abd` (keep abd > 0 for a continuous plane)."""
  f, a = np.deg2rad(flex), np.deg2rad(abd)
  elevation = np.rad2deg(np.arccos(np.clip(np.cos(f) * np.cos(a), -1.0, 1.0)))
  plane = np.rad2deg(np.arctan2(np.sin(f) * np.cos(a), np.sin(a)))
  return elevation, plane


class _Script:
  """Keyframed poses: each key is the previous key's pose updated with some channels; between
  keys every channel moves with a smootherstep (C2) blend, holding its value otherwise."""

  def __init__(self, start_time: float, pose: Optional[dict] = None,
               neutral: Optional[dict] = None):
    self.neutral = dict(neutral or {})
    self.times = [float(start_time)]
    self.poses = [{**self.neutral, **(pose or {})}]

  @property
  def time(self) -> float:
    return self.times[-1]

  @property
  def pose(self) -> dict:
    return self.poses[-1]

  def to(self, duration: float, changes: Optional[dict] = None, reset: bool = False):
    """Adds a key `duration` seconds after the last; `reset` first returns every channel to its
    neutral value (0 unless given to the constructor)."""
    pose = {k: self.neutral.get(k, 0.0) for k in self.pose} if reset else dict(self.pose)
    pose.update(changes or {})
    self.times.append(self.time + max(float(duration), 1e-3))
    self.poses.append(pose)

  def hold(self, duration: float):
    self.to(duration)

  def at(self, time: float, changes: Optional[dict] = None):
    """Adds a key at an absolute time (after the last key; a hold until then otherwise)."""
    self.to(time - self.time, changes)

  def render(self, t: np.ndarray) -> Dict[str, np.ndarray]:
    names = sorted({k for pose in self.poses for k in pose})
    if not names:
      return {}
    times = np.array(self.times)
    values = np.array([[pose.get(k, self.neutral.get(k, 0.0)) for k in names]
                       for pose in self.poses])
    index = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
    following = np.minimum(index + 1, len(times) - 1)
    span = np.maximum(times[following] - times[index], 1e-9)
    s = _smootherstep((t - times[index]) / span)[:, None]
    out = values[index] + (values[following] - values[index]) * s
    return {k: out[:, i] for i, k in enumerate(names)}


@dataclasses.dataclass
class _Style:
  """Per-sequence style: speed and amplitude factors, and the resting arms both as swings
  (`{s}_arm_flex`, `{s}_arm_abd`) and as elevation/plane (`{s}_shoulder_elev/plane`)."""
  speed: float
  amp: float
  fps: float
  rest_swing: Dict[str, float]
  rest_direct: Dict[str, float]


@dataclasses.dataclass
class _Action:
  """What an action function returns: channel trajectories (degrees, deltas from the neutral
  stance) and the extras that drive the root."""
  channels: Dict[str, np.ndarray]
  yaw: Optional[np.ndarray] = None           # heading change (deg), relative to the start
  # Height (mm) of each ankle's support point above its standing height: the heel rise of a
  # stance foot before toe-off ({'l': [T], 'r': [T]}); zero when absent.
  heel_lift: Optional[Dict[str, np.ndarray]] = None
  # Forward speed (mm/s, along the heading) added while airborne (a forward jump).
  flight_speed: float = 0.0
  # A gait's stance phase of each foot ({'l': [T], 'r': [T]}, 0..1): only a foot in stance
  # may be planted (a swinging foot that brushes the ground is not). None: any foot may.
  stance: Optional[Dict[str, np.ndarray]] = None


def _add(channels: dict, name: str, value):
  channels[name] = channels.get(name, 0.0) + value


def _episodes(rng, t, episode, lead: float, start_pose: Optional[dict] = None,
              neutral: Optional[dict] = None) -> _Script:
  """Runs `episode(script)` repeatedly from a random time before 0 until past the last frame."""
  script = _Script(-float(rng.uniform(0.0, lead)), start_pose, neutral)
  end = t[-1] if len(t) else 0.0
  while script.time <= end:
    before = script.time
    episode(script)
    if script.time <= before:
      raise AssertionError("an episode must advance time")
  return script


def _both(prefix_values: dict) -> dict:
  """Expands {'knee_flex': v} into {'l_knee_flex': v, 'r_knee_flex': v}."""
  return {f"{s}_{k}": v for k, v in prefix_values.items() for s in ("l", "r")}


# ----------------------------------------------------------------------------------------------
# Actions. Each is written for a right-side lead; `synthesize` mirrors half of the sequences.

def _gait(rng, t, style: _Style, run: bool) -> _Action:
  u = rng.uniform
  dt = 1.0 / style.fps
  if run:
    f0 = u(1.25, 1.5) * math.sqrt(style.speed)
    hip_mean, hip_amp = u(14, 20), u(22, 30) * math.sqrt(style.amp)
    heel = u(20, 40)
    k_base, k_stance, k_swing, swing_at, duty = u(8, 15), u(10, 20), u(80, 110), 0.6, u(0.35, 0.42)
    arm_amp, arm_mean, arm_abd = u(25, 45) * style.amp, u(5, 15), u(8, 18)
    elbow_base, elbow_amp = u(70, 95), u(8, 18)
    lean, pelvis_yaw, pelvis_roll = u(6, 14), u(5, 10), u(3, 6)
  else:
    f0 = u(0.8, 1.05) * math.sqrt(style.speed)
    hip_mean, hip_amp = u(5, 10), u(15, 21) * math.sqrt(style.amp)
    heel = u(15, 35)
    k_base, k_stance, k_swing, swing_at, duty = u(2, 6), u(3, 8), u(48, 62), 0.72, u(0.58, 0.64)
    arm_amp, arm_mean, arm_abd = u(8, 28) * style.amp, u(0, 8), u(6, 12)
    elbow_base, elbow_amp = u(10, 30), u(4, 12)
    lean, pelvis_yaw, pelvis_roll = u(0, 6), u(3, 7), u(2, 5)
  freq = f0 * (1.0 + 0.06 * _noise(rng, t, 1.0, 0.03, 0.2))
  phase = u(0, 2 * np.pi) + 2.0 * np.pi * np.cumsum(freq) * dt
  ch: Dict[str, np.ndarray] = {}
  heel_lift, stance = {}, {}
  for side, offset in (("r", 0.0), ("l", np.pi)):
    phi = phase + offset
    heel_lift[side] = heel * _bump(phi - 2 * np.pi * (duty - 0.1), 6.0)
    stance[side] = _stance_window(phi, duty)
    # The hip extends steadily from just before heel strike to just after toe-off.
    ch[f"{side}_hip_flex"] = hip_mean + hip_amp * _stance_ramp(phi, -0.05, duty + 0.05)
    ch[f"{side}_knee_flex"] = (k_base + k_stance * _bump(phi - 2 * np.pi * 0.12, 6.0) +
                               k_swing * _bump(phi - 2 * np.pi * swing_at, 4.0))
    ch[f"{side}_hip_abd"] = 1.5 * np.cos(phi)
    ch[f"{side}_arm_flex"] = arm_mean - arm_amp * np.cos(phi)
    ch[f"{side}_arm_abd"] = np.full_like(t, arm_abd)
    ch[f"{side}_elbow_flex"] = elbow_base + elbow_amp * (0.5 - 0.5 * np.cos(phi))
  yaw_osc = pelvis_yaw * np.cos(phase)
  ch["spine_twist"] = -0.6 * yaw_osc
  ch["chest_twist"] = -0.5 * yaw_osc
  ch["root_roll"] = pelvis_roll * np.sin(2.0 * phase)
  ch["spine_flex"] = lean + 1.5 * np.cos(2.0 * phase)
  ch["neck_flex"] = -0.4 * lean + np.zeros_like(t)
  # Heading: turn rate keyframes (deg/s): straight, gentle curves, now and then a sharp turn.
  rates = _Script(-u(0, 2.0), {"rate": 0.0})
  while rates.time <= t[-1]:
    pick = rng.uniform()
    if pick < 0.25:
      rate = 0.0
    elif pick < 0.85:
      rate = u(-30, 30)
    else:
      rate = rng.choice((-1.0, 1.0)) * u(50, 90 if not run else 70)
    rates.to(u(0.5, 1.0), {"rate": rate})
    rates.hold(u(0.5, 3.0) if abs(rate) < 45 else u(0.3, 1.0))
  rate = rates.render(t)["rate"]
  yaw = np.cumsum(rate) * dt
  ch["root_yaw"] = yaw_osc
  ch["spine_lat"] = 0.08 * rate
  ch["neck_twist"] = 0.2 * rate
  return _Action(ch, yaw=yaw, heel_lift=heel_lift, stance=stance)


def _walk(rng, t, style):
  return _gait(rng, t, style, run=False)


def _run(rng, t, style):
  return _gait(rng, t, style, run=True)


def _jump(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  yaw_keys = _Script(-10.0, {"_yaw": 0.0})

  def arms(flex, abd=None, elbow=None):
    abd = u(8, 16) if abd is None else abd
    elbow = u(5, 25) if elbow is None else elbow
    return _both({"arm_flex": flex, "arm_abd": abd, "elbow_flex": elbow})

  def episode(sc: _Script):
    sc.hold(u(0.3, 1.2))
    crouch = {**_both({"knee_flex": u(60, 95), "hip_flex": u(55, 90)}),
              "spine_flex": u(15, 35), "neck_flex": -u(5, 15), **arms(-u(30, 60))}
    sc.to(u(0.4, 0.7) / style.speed, crouch)
    # Extension with push-off: the heels rise (the ankles leave their standing height).
    extend = {**_both({"knee_flex": u(0, 8), "hip_flex": u(-5, 5)}),
              "spine_flex": u(-5, 5), "neck_flex": 0.0, "_heel": u(60, 110), **arms(u(100, 160))}
    sc.to(u(0.32, 0.48), extend)
    # The flight itself emerges from the leg extension (see `_place_root`); the keys only plan
    # the airborne posture for a typical flight time.
    takeoff = sc.time
    airtime = u(0.3, 0.5) * style.amp
    tuck = {**_both({"knee_flex": u(15, 70), "hip_flex": u(15, 60)}), **arms(u(40, 90))}
    sc.to(0.5 * airtime, tuck)
    sc.to(0.5 * airtime, {**_both({"knee_flex": u(10, 20), "hip_flex": u(10, 20)}),
                          "_heel": u(40, 80), **arms(u(30, 60))})
    landing = sc.time
    if rng.uniform() < 0.25:
      turn = rng.choice((-1.0, 1.0)) * u(60, 180)
      yaw_keys.at(takeoff, {})
      yaw_keys.at(landing, {"_yaw": yaw_keys.pose["_yaw"] + turn})
    absorb = {**_both({"knee_flex": u(45, 80), "hip_flex": u(40, 70)}),
              "spine_flex": u(15, 30), "_heel": 0.0, **arms(u(20, 50))}
    sc.to(u(0.2, 0.35), absorb)
    sc.to(u(0.4, 0.8) / style.speed, reset=True)

  sc = _episodes(rng, t, episode, lead=1.5, neutral=style.rest_swing)
  # Flights before the first frame do not matter; keep all (they are clipped to the frames).
  forward = u(300, 1500) if rng.uniform() < 0.5 else 0.0
  ch = sc.render(t)
  heel = ch.pop("_heel", np.zeros_like(t))
  return _Action(ch, yaw=yaw_keys.render(t)["_yaw"], flight_speed=forward,
                 heel_lift={"l": heel, "r": heel})


def _squat(rng, t, style: _Style) -> _Action:
  u = rng.uniform

  def episode(sc: _Script):
    depth = min(u(0.45, 1.0) * style.amp, 1.1)
    pose = {**_both({"knee_flex": 55 + 75 * depth, "hip_flex": 45 + 65 * depth}),
            "root_pitch": u(0, 10) * depth, "spine_flex": u(5, 30) * depth,
            "chest_flex": u(0, 10) * depth, "neck_flex": -u(5, 20) * depth}
    style_arms = rng.integers(4)
    if style_arms == 0:    # arms forward
      pose.update(_both({"arm_flex": u(70, 95), "arm_abd": u(5, 15), "elbow_flex": u(0, 20)}))
    elif style_arms == 1:  # hands on hips
      pose.update(_both({"arm_flex": -u(5, 20), "arm_abd": u(30, 45), "elbow_flex": u(90, 120),
                         "shoulder_twist": u(30, 60)}))
    elif style_arms == 2:  # arms crossed in front
      pose.update(_both({"arm_flex": u(70, 90), "arm_abd": -u(20, 35), "elbow_flex": u(100, 130)}))
    # else arms hang.
    sc.to(u(0.9, 1.6) / style.speed, pose)
    sc.hold(u(0.1, 1.0))
    sc.to(u(0.9, 1.5) / style.speed, reset=True)
    sc.hold(u(0.2, 1.5))

  return _Action(_episodes(rng, t, episode, lead=3.0, neutral=style.rest_swing).render(t))


def _wave(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  both = rng.uniform() < 0.3
  freq = u(1.5, 3.0) * style.speed
  elbow_amp, plane_amp = u(15, 30) * style.amp, u(5, 15) * style.amp

  def episode(sc: _Script):
    arm = {"shoulder_elev": u(95, 150), "shoulder_plane": u(0, 50),
           "shoulder_twist": u(70, 95), "elbow_flex": u(50, 100), "clav_elev": u(5, 15)}
    pose = {f"r_{k}": v for k, v in arm.items()}
    if both:
      pose.update({f"l_{k}": v for k, v in arm.items()})
    pose["neck_twist"] = 0.0 if both else -u(0, 25)
    sc.to(u(0.4, 0.8) / style.speed, pose)
    sc.to(0.25, {"_wave": 1.0})
    sc.hold(u(1.0, 4.0))
    sc.to(0.25, {"_wave": 0.0})
    sc.to(u(0.4, 0.9) / style.speed, reset=True)
    sc.hold(u(0.5, 3.0))

  ch = _episodes(rng, t, episode, lead=4.0, neutral=style.rest_direct).render(t)
  envelope = ch.pop("_wave", np.zeros_like(t))
  phase = u(0, 2 * np.pi) + 2 * np.pi * freq * t
  for side in ("r", "l") if both else ("r",):
    _add(ch, f"{side}_elbow_flex", envelope * elbow_amp * np.sin(phase))
    _add(ch, f"{side}_shoulder_plane", envelope * plane_amp * np.sin(phase + 0.5))
  return _Action(ch)


def _reach(rng, t, style: _Style) -> _Action:
  u = rng.uniform

  def target(sc: _Script, both: bool):
    elev, plane = u(30, 160), u(-20, 125)
    arm = {"shoulder_elev": elev, "shoulder_plane": plane, "elbow_flex": u(0, 30),
           "shoulder_twist": u(-40, 40), "clav_elev": u(0, 15) if elev > 100 else 0.0,
           "clav_prot": u(0, 20) if plane > 60 else 0.0}
    pose = {f"r_{k}": v for k, v in arm.items()}
    if both:
      pose.update({f"l_{k}": v + u(-10, 10) for k, v in arm.items()})
    low = elev < 70 and rng.uniform() < 0.6
    knee = u(10, 60) if low else u(0, 8)
    pose.update({**_both({"knee_flex": knee, "hip_flex": 0.8 * knee + (u(10, 30) if low else 0)}),
                 "root_pitch": u(0, 20) if low else 0.0,
                 "spine_flex": u(15, 45) if low else (-u(0, 10) if elev > 120 else u(0, 10)),
                 "spine_twist": 0.0 if both else (plane - 60) * u(0.1, 0.25),
                 "neck_flex": -(elev - 60) * u(0.2, 0.4),
                 "neck_twist": 0.0 if both else -(90 - plane) * u(0.2, 0.4)})
    return pose

  def episode(sc: _Script):
    both = rng.uniform() < 0.25
    sc.to(u(0.5, 1.1) / style.speed, target(sc, both))
    sc.hold(u(0.2, 1.2))
    if rng.uniform() < 0.4:
      sc.to(u(0.5, 1.0) / style.speed, target(sc, both))
      sc.hold(u(0.2, 1.0))
    sc.to(u(0.5, 1.0) / style.speed, reset=True)
    sc.hold(u(0.2, 1.5))

  return _Action(_episodes(rng, t, episode, lead=3.0, neutral=style.rest_direct).render(t))


def _kick(rng, t, style: _Style) -> _Action:
  u = rng.uniform

  def episode(sc: _Script):
    guard = {**_both({"arm_abd": u(20, 45), "arm_flex": u(0, 30), "elbow_flex": u(30, 70)}),
             "l_knee_flex": u(5, 15), "l_hip_flex": u(0, 10)}
    sc.to(u(0.3, 0.6) / style.speed, guard)
    sc.to(u(0.2, 0.35) / style.speed, {"r_hip_flex": -u(5, 20), "r_knee_flex": u(60, 100)})
    kind = rng.uniform()
    if kind < 0.7:    # front kick
      kick = {"r_hip_flex": u(50, 100) * style.amp, "r_knee_flex": u(0, 25),
              "spine_flex": -u(5, 20)}
    else:             # side kick
      kick = {"r_hip_abd": u(30, 50) * style.amp, "r_hip_flex": u(10, 40),
              "r_knee_flex": u(5, 30), "r_hip_twist": -u(10, 30), "spine_lat": u(10, 25)}
    sc.to(u(0.22, 0.35) / style.speed, kick)
    sc.to(u(0.2, 0.35) / style.speed, {"r_hip_flex": u(30, 60), "r_knee_flex": u(60, 100),
                                       "r_hip_abd": 0.0, "r_hip_twist": 0.0, "spine_lat": 0.0,
                                       "spine_flex": 0.0})
    sc.to(u(0.3, 0.5) / style.speed, reset=True)
    sc.hold(u(0.5, 2.0))

  return _Action(_episodes(rng, t, episode, lead=3.0, neutral=style.rest_swing).render(t))


def _turn_in_place(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  yaw_keys = _Script(-u(0, 2.0), {"_yaw": 0.0})
  while yaw_keys.time <= t[-1]:
    yaw_keys.hold(u(0.3, 1.5))
    angle = rng.choice((-1.0, 1.0)) * u(60, 200)
    yaw_keys.to(abs(angle) / (u(90, 160) * style.speed),
                {"_yaw": yaw_keys.pose["_yaw"] + angle})
  yaw = yaw_keys.render(t)["_yaw"]
  rate = np.gradient(yaw, t) if len(t) > 1 else np.zeros_like(t)
  stepping = np.clip(np.abs(rate) / 60.0, 0.0, 1.0)
  phase = u(0, 2 * np.pi) + 2 * np.pi * u(1.4, 2.0) * style.speed * t
  lift = u(20, 40)
  ch = {}
  for side, offset in (("r", 0.0), ("l", np.pi)):
    knee = stepping * lift * _bump(phase + offset, 3.0)
    ch[f"{side}_knee_flex"] = knee
    ch[f"{side}_hip_flex"] = 0.6 * knee
  ch["neck_twist"] = np.clip(0.25 * rate, -40, 40)
  ch["spine_twist"] = np.clip(0.08 * rate, -15, 15)
  ch.update(_both({"arm_abd": np.full_like(t, u(6, 14)), "arm_flex": np.full_like(t, u(0, 10))}))
  return _Action(ch, yaw=yaw)


def _bend(rng, t, style: _Style) -> _Action:
  u = rng.uniform

  def episode(sc: _Script):
    pitch = u(35, 75) * style.amp
    knee = u(0, 35)
    spine, chest = u(10, 35), u(5, 20)
    hang = (pitch + spine + chest) * u(0.7, 1.0)
    pose = {"root_pitch": pitch, **_both({"knee_flex": knee, "hip_flex": pitch + 0.5 * knee +
                                          u(-5, 5)}),
            "spine_flex": spine, "chest_flex": chest, "neck_flex": -u(0, 30),
            **_both({"arm_flex": hang, "arm_abd": u(5, 15), "elbow_flex": u(5, 30)})}
    sc.to(u(0.8, 1.8) / style.speed, pose)
    if rng.uniform() < 0.5:    # pick something up
      sc.to(u(0.3, 0.6), {"r_arm_flex": hang + u(10, 25), "r_elbow_flex": u(0, 10)})
      sc.to(u(0.3, 0.6), {"r_arm_flex": hang, "r_elbow_flex": u(30, 60)})
    sc.hold(u(0.3, 2.0))
    sc.to(u(0.8, 1.6) / style.speed, reset=True)
    sc.hold(u(0.5, 2.0))

  return _Action(_episodes(rng, t, episode, lead=4.0, neutral=style.rest_swing).render(t))


def _idle_sway(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  amplitude = u(2, 5) * style.amp
  shift = amplitude * np.sin(2 * np.pi * u(0.08, 0.25) * t + u(0, 2 * np.pi))
  shift += _noise(rng, t, 0.5 * amplitude, 0.03, 0.15)
  relaxed = u(3, 12)
  ch = {"l_hip_abd": shift, "r_hip_abd": -shift, "root_roll": -0.5 * shift,
        "l_knee_flex": relaxed / (1 + np.exp(-3 * shift / amplitude)),
        "r_knee_flex": relaxed / (1 + np.exp(3 * shift / amplitude))}
  look = _Script(-u(0, 2.0))
  while look.time <= t[-1]:
    look.to(u(0.5, 1.2), {"neck_twist": u(-45, 45), "neck_flex": u(-10, 20),
                          "neck_lat": u(-8, 8)})
    look.hold(u(0.5, 3.0))
  ch.update(look.render(t))
  arms = _Script(-u(0, 3.0), neutral=style.rest_swing)
  while arms.time <= t[-1]:
    kind = rng.uniform()
    if kind < 0.5:      # relaxed, each arm on its own
      pose = {}
      for s in ("l", "r"):
        pose.update({f"{s}_arm_flex": u(-10, 40), f"{s}_arm_abd": u(5, 25),
                     f"{s}_elbow_flex": u(5, 100), f"{s}_shoulder_twist": u(-30, 30)})
    elif kind < 0.75:   # hands together in front
      pose = _both({"arm_flex": u(20, 45), "arm_abd": -u(0, 10) + 12, "elbow_flex": u(60, 100),
                    "shoulder_twist": u(-20, 10)})
    else:               # hands on hips
      pose = _both({"arm_flex": -u(5, 20), "arm_abd": u(30, 45), "elbow_flex": u(90, 120),
                    "shoulder_twist": u(30, 60)})
    arms.to(u(0.6, 1.2), pose)
    arms.hold(u(1.5, 5.0))
  ch.update(arms.render(t))
  return _Action(ch)


def _punch(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  guard = {**_both({"arm_flex": u(35, 60), "arm_abd": u(10, 25), "elbow_flex": u(100, 135),
                    "shoulder_twist": u(-20, 10), "knee_flex": u(10, 25)}),
           "r_hip_flex": -u(5, 15), "l_hip_flex": u(10, 25), "spine_twist": u(5, 15),
           "neck_flex": u(5, 15)}
  lead = rng.choice(("l", "r"))

  def episode(sc: _Script):
    sc.hold(u(0.2, 0.9) / style.speed)
    side = lead if rng.uniform() < 0.6 else ("r" if lead == "l" else "l")
    twist = 1.0 if side == "r" else -1.0
    if rng.uniform() < 0.75:   # straight punch
      strike = {f"{side}_arm_flex": u(75, 95), f"{side}_arm_abd": u(2, 10),
                f"{side}_elbow_flex": u(0, 20), f"{side}_clav_prot": u(10, 25),
                "spine_twist": guard["spine_twist"] + twist * u(10, 25)}
      out = u(0.1, 0.18)
    else:                      # hook
      strike = {f"{side}_arm_flex": u(70, 90), f"{side}_arm_abd": u(40, 70),
                f"{side}_elbow_flex": u(80, 100), f"{side}_clav_prot": u(5, 15),
                "spine_twist": guard["spine_twist"] + twist * u(20, 30)}
      out = u(0.15, 0.25)
    sc.to(out / style.speed, strike)
    sc.to(u(0.15, 0.3) / style.speed, {k: guard.get(k, 0.0) for k in strike})

  return _Action(_episodes(rng, t, episode, lead=1.0, start_pose=guard,
                           neutral=style.rest_swing).render(t))


def _sit_stand(rng, t, style: _Style) -> _Action:
  u = rng.uniform

  def seated():
    return {**_both({"hip_flex": u(80, 100), "knee_flex": u(80, 100), "arm_flex": u(20, 45),
                     "arm_abd": u(5, 15), "elbow_flex": u(30, 70)}),
            "spine_flex": u(0, 15), "chest_flex": u(0, 10)}

  def episode(sc: _Script):
    sc.hold(u(0.5, 2.5))
    sc.to(u(0.6, 1.0) / style.speed, {**_both({"hip_flex": u(60, 80), "knee_flex": u(50, 70)}),
                                      "spine_flex": u(25, 40)})
    sc.to(u(0.6, 1.0) / style.speed, seated())
    sc.hold(u(1.0, 3.5))
    sc.to(u(0.4, 0.7) / style.speed, {**_both({"hip_flex": u(95, 110), "arm_flex": u(0, 20)}),
                                      "spine_flex": u(30, 45)})
    sc.to(u(1.0, 1.6) / style.speed, reset=True)

  start = seated() if rng.uniform() < 0.3 else None
  return _Action(_episodes(rng, t, episode, lead=4.0, start_pose=start,
                           neutral=style.rest_swing).render(t))


def _arm_circles(rng, t, style: _Style) -> _Action:
  u = rng.uniform
  elev, plane = u(75, 95), u(-5, 25)
  radius = u(15, 35) * style.amp
  freq = u(0.5, 1.4) * style.speed
  direction = {"l": 1.0, "r": 1.0 if rng.uniform() < 0.7 else -1.0}

  def episode(sc: _Script):
    sc.to(u(0.5, 1.0), {**_both({"shoulder_elev": elev, "shoulder_plane": plane,
                                 "elbow_flex": u(0, 15)}), "_circle": 1.0})
    sc.hold(u(3.0, 8.0))
    sc.to(u(0.5, 1.0), reset=True)
    sc.hold(u(0.5, 2.0))

  ch = _episodes(rng, t, episode, lead=2.0, neutral=style.rest_direct).render(t)
  envelope = ch.pop("_circle", np.zeros_like(t))
  phase = u(0, 2 * np.pi) + 2 * np.pi * freq * t
  for side in ("l", "r"):
    _add(ch, f"{side}_shoulder_elev", envelope * radius * np.sin(phase))
    _add(ch, f"{side}_shoulder_plane", envelope * radius * direction[side] * np.cos(phase))
  _add(ch, "l_hip_abd", 3.0)
  _add(ch, "r_hip_abd", 3.0)
  return _Action(ch)


_ACTION_FUNCTIONS = {
    "walk": _walk, "run": _run, "jump": _jump, "squat": _squat, "wave": _wave,
    "reach": _reach, "kick": _kick, "turn_in_place": _turn_in_place, "bend": _bend,
    "idle_sway": _idle_sway, "punch": _punch, "sit_stand": _sit_stand,
    "arm_circles": _arm_circles,
}
assert tuple(_ACTION_FUNCTIONS) == ACTIONS


# ----------------------------------------------------------------------------------------------
# Posture, noise, limits, kinematics.

def _posture(rng) -> Dict[str, float]:
  """Per-sequence resting posture offsets (degrees)."""
  u = rng.uniform
  posture = {"spine_flex": rng.normal(3, 3), "chest_flex": rng.normal(2, 3),
             "neck_flex": rng.normal(5, 5), "head_flex": rng.normal(0, 4),
             "head_lat": rng.normal(0, 2), "root_pitch": rng.normal(0, 2)}
  width, toe_out, knee = u(1, 5), u(-3, 10), u(0, 6)
  for s in ("l", "r"):
    posture.update({f"{s}_hip_abd": width + rng.normal(0, 0.5),
                    f"{s}_hip_twist": toe_out + rng.normal(0, 2),
                    f"{s}_knee_flex": knee + rng.normal(0, 1),
                    f"{s}_hip_flex": 0.5 * knee,
                    f"{s}_elbow_flex": u(5, 25), f"{s}_shoulder_twist": u(-15, 15),
                    f"{s}_clav_elev": u(-3, 5)})
  return posture


_NOISE_STD = {"root": 0.7, "spine": 1.0, "chest": 1.0, "neck": 3.0, "head": 2.0, "hip": 1.5,
              "knee": 1.5, "clav": 1.0, "shoulder_elev": 2.0, "shoulder_plane": 4.0,
              "shoulder_twist": 5.0, "elbow": 3.0}


def _noise_std(channel: str) -> float:
  name = channel[2:] if channel[:2] in ("l_", "r_") else channel
  for key, std in _NOISE_STD.items():
    if name.startswith(key):
      return std
  raise KeyError(channel)


def _mirror(action: _Action) -> _Action:
  channels = {}
  for name, value in action.channels.items():
    if name[:2] == "l_":
      name = "r_" + name[2:]
    elif name[:2] == "r_":
      name = "l_" + name[2:]
    channels[name] = -value if name in _MIRROR_NEGATE else value
  yaw = None if action.yaw is None else -action.yaw

  def swap(sides):
    return None if sides is None else {"l": sides["r"], "r": sides["l"]}

  return dataclasses.replace(action, channels=channels, yaw=yaw, heel_lift=swap(action.heel_lift),
                             stance=swap(action.stance))


def _forward_kinematics(angles: Dict[str, np.ndarray], heading_deg: np.ndarray,
                        subject: SubjectBody) -> np.ndarray:
  """Root-relative world positions `[T, 17, 3]` (pelvis at the origin), vectorised over frames.

  The pelvis frame is Rz(heading + root_yaw) @ Ry(root_pitch) @ Rx(-root_roll); the hip joints
  ride on it, but the thighs are posed from Rz(heading) @ Ry(root_pitch): pelvic roll and axial
  rotation move the hips (pelvic drop, pelvis rotation in gait) without swinging a planted leg.
  """
  j = skeleton.JOINT_INDEX
  offsets = subject.rest_offsets()

  def rot(axis, degrees):
    return kinematics.axis_rotation(axis, np.deg2rad(degrees))

  def apply(frames, offset):
    return np.einsum("tab,b->ta", frames, offset)

  heading = rot("z", heading_deg)
  pitch = rot("y", angles["root_pitch"])
  pelvis = heading @ rot("z", angles["root_yaw"]) @ pitch @ rot("x", -angles["root_roll"])
  legs = heading @ pitch
  positions = np.zeros(heading_deg.shape + (skeleton.NUM_JOINTS, 3))

  frame = pelvis
  for segment, joint, parent in (("spine", "spine", "pelvis"), ("chest", "thorax", "spine"),
                                 ("neck", "neck_nose", "thorax"), ("head", "head", "neck_nose")):
    frame = frame @ (rot("y", angles[f"{segment}_flex"]) @ rot("x", -angles[f"{segment}_lat"]) @
                     rot("z", angles[f"{segment}_twist"]))
    positions[:, j[joint]] = positions[:, j[parent]] + apply(frame, offsets[j[joint]])
    if joint == "thorax":
      thorax = frame

  for side, s in _SIGN.items():
    a = {k[2:]: v for k, v in angles.items() if k.startswith(side + "_")}
    hip, knee, ankle = j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]
    positions[:, hip] = apply(pelvis, offsets[hip])
    thigh = legs @ (rot("y", -a["hip_flex"]) @ rot("x", s * a["hip_abd"]) @
                    rot("z", s * a["hip_twist"]))
    positions[:, knee] = positions[:, hip] + apply(thigh, offsets[knee])
    shank = thigh @ rot("y", a["knee_flex"])
    positions[:, ankle] = positions[:, knee] + apply(shank, offsets[ankle])

    shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
    clavicle = thorax @ rot("z", -s * a["clav_prot"]) @ rot("x", s * a["clav_elev"])
    positions[:, shoulder] = positions[:, j["thorax"]] + apply(clavicle, offsets[shoulder])
    plane = a["shoulder_plane"]
    # The upper arm is posed from the thorax frame (the clavicle only moves the shoulder).
    upper_arm = thorax @ (rot("z", -s * plane) @ rot("x", s * a["shoulder_elev"]) @
                          rot("z", s * (plane + a["shoulder_twist"])))
    positions[:, elbow] = positions[:, shoulder] + apply(upper_arm, offsets[elbow])
    forearm = upper_arm @ rot("y", -a["elbow_flex"])
    positions[:, wrist] = positions[:, elbow] + apply(forearm, offsets[wrist])
  return positions


@dataclasses.dataclass(frozen=True)
class ProceduralMotion:
  """One generated sequence. poses: `[T, 17, 3]` float32 mm, z-up world; angles: the limited
  joint angles (degrees) per channel of `JOINT_LIMITS`, `[T]` each; heading: `[T]` degrees
  (facing direction about z; 0 faces +x); mirrored: whether the right-lead script was mirrored."""
  poses: np.ndarray
  angles: Dict[str, np.ndarray]
  heading: np.ndarray
  action: str
  subject: SubjectBody
  fps: float
  mirrored: bool


def synthesize(rng: np.random.Generator, action: str, subject: SubjectBody, num_frames: int,
               fps: float = 30.0) -> ProceduralMotion:
  """Generates one sequence with its joint angles (see `generate_sequence`)."""
  if action not in _ACTION_FUNCTIONS:
    raise ValueError(f"unknown action {action!r}; known: {ACTIONS}")
  if not isinstance(subject, SubjectBody):
    raise TypeError(f"subject must be a SubjectBody, got {type(subject).__name__}")
  num_frames = int(num_frames)
  if num_frames < 1:
    raise ValueError(f"num_frames must be >= 1, got {num_frames}")
  if not fps > 0:
    raise ValueError(f"fps must be positive, got {fps}")
  t = np.arange(num_frames) / float(fps)
  rest_swing, rest_direct = {}, {}
  flex, abd = rng.uniform(-5, 12), rng.uniform(6, 14)
  for s in ("l", "r"):
    rest_swing[f"{s}_arm_flex"] = flex + rng.normal(0, 2)
    rest_swing[f"{s}_arm_abd"] = abd + rng.normal(0, 1)
    elevation, plane = _arm_from_swing(rest_swing[f"{s}_arm_flex"], rest_swing[f"{s}_arm_abd"])
    rest_direct[f"{s}_shoulder_elev"] = float(elevation)
    rest_direct[f"{s}_shoulder_plane"] = float(plane)
  style = _Style(speed=float(rng.uniform(0.8, 1.25)), amp=float(rng.uniform(0.75, 1.2)),
                 fps=float(fps), rest_swing=rest_swing, rest_direct=rest_direct)
  result = _ACTION_FUNCTIONS[action](rng, t, style)
  mirrored = bool(rng.uniform() < 0.5)
  if mirrored:
    result = _mirror(result)

  # Arms: an action writes an arm as a swing or as elevation/plane (absolute), or leaves it at
  # rest; swings become elevation/plane. Then posture, noise and limits.
  channels = dict(result.channels)
  for s in ("l", "r"):
    swing = [k for k in (f"{s}_arm_flex", f"{s}_arm_abd") if k in channels]
    direct = [k for k in (f"{s}_shoulder_elev", f"{s}_shoulder_plane") if k in channels]
    if swing and direct:
      raise AssertionError(f"action {action} wrote both {swing} and {direct}")
    if direct:
      continue
    flex = channels.pop(f"{s}_arm_flex", style.rest_swing[f"{s}_arm_flex"])
    abd = channels.pop(f"{s}_arm_abd", style.rest_swing[f"{s}_arm_abd"])
    elevation, plane = _arm_from_swing(flex + np.zeros_like(t), abd + np.zeros_like(t))
    channels[f"{s}_shoulder_elev"], channels[f"{s}_shoulder_plane"] = elevation, plane
  unknown = sorted(set(channels) - set(JOINT_LIMITS))
  if unknown:
    raise AssertionError(f"action {action} wrote unknown channels {unknown}")
  posture = _posture(rng)
  angles = {}
  for name, (lo, hi) in JOINT_LIMITS.items():
    value = (channels.get(name, 0.0) + posture.get(name, 0.0) +
             _noise(rng, t, _noise_std(name), 0.1, 0.8))
    angles[name] = _soft_clamp(np.broadcast_to(value, t.shape).astype(np.float64), lo, hi)

  heading = rng.uniform(0, 360) + _noise(rng, t, 2.0, 0.02, 0.1)
  if result.yaw is not None:
    heading = heading + result.yaw
  relative = _forward_kinematics(angles, heading, subject)
  root = _place_root(relative, t, subject, result, heading, rng, fps)
  poses = relative + root[:, None, :]
  return ProceduralMotion(poses=poses.astype(np.float32), angles=angles, heading=heading,
                          action=action, subject=subject, fps=float(fps), mirrored=mirrored)


def _gaussian_smooth(x, sigma):
  """Smooths `[T, ...]` along time with a Gaussian; the ends are padded by point reflection
  (2 x[0] - x[k]), which keeps linear trends unbiased up to the first and last frames."""
  x = np.asarray(x, np.float64)
  if sigma <= 0 or x.shape[0] < 2:
    return x
  radius = min(int(math.ceil(3 * sigma)), x.shape[0] - 1)
  kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
  kernel /= kernel.sum()
  head = 2.0 * x[:1] - x[radius:0:-1]
  tail = 2.0 * x[-1:] - x[-2:-radius - 2:-1]
  padded = np.concatenate([head, x, tail], axis=0)
  flat = padded.reshape(padded.shape[0], -1)
  out = np.stack([np.convolve(flat[:, k], kernel, mode="valid") for k in range(flat.shape[1])],
                 axis=-1)
  return out.reshape(x.shape)


GRAVITY_MM = 9810.0
CONTACT_SMOOTHING_S = 0.035
CONTACT_GAP_MM = 12.0
LANDING_SMOOTHING_S = 0.04
VELOCITY_SMOOTHING_S = 0.05
MOMENTUM_FRAMES = 8


def _place_root(relative, t, subject: SubjectBody, action: _Action, heading, rng,
                fps: float) -> np.ndarray:
  """Root trajectory `[T, 3]` for root-relative poses `relative`.

  Vertical: each ankle needs the root at least `z_f = ankle_height + heel_lift_f - rel_z_f`
  high. Frame by frame, the root takes the higher of that support height (soft max over the
  feet) and its ballistic continuation under gravity: it stands on the lower foot, and flies
  where the legs pull away faster than it could fall (take-off of jumps, running).
  Horizontal: the feet in contact with the ground (within a few mm of their support height)
  do not slide, the root moving against their motion relative to it (averaged when both are
  down); airborne, the body keeps its take-off velocity (plus `action.flight_speed`).
  """
  j = skeleton.JOINT_INDEX
  num_frames = len(t)
  left, right = relative[:, j["l_ankle"]], relative[:, j["r_ankle"]]
  lift = action.heel_lift or {}
  need_left = subject.ankle_height + lift.get("l", 0.0) - left[:, 2]
  need_right = subject.ankle_height + lift.get("r", 0.0) - right[:, 2]
  tau = 10.0   # mm: soft maximum, rounds the switch from one support foot to the other
  contact_z = np.logaddexp(need_left / tau, need_right / tau) * tau - tau * math.log(2.0)
  contact_z = np.maximum(contact_z, np.maximum(need_left, need_right))
  # Round the hand-over from one support foot to the other (the support foot may sink or
  # hover by a few mm there).
  contact_z = _gaussian_smooth(contact_z, sigma=CONTACT_SMOOTHING_S * fps)
  root_z = contact_z.copy()
  fall = GRAVITY_MM / fps ** 2
  for i in range(2, num_frames):
    root_z[i] = max(contact_z[i], 2.0 * root_z[i - 1] - root_z[i - 2] - fall)
  # Soften landings (the legs absorb the impact over a couple of frames).
  root_z = _gaussian_smooth(root_z, sigma=LANDING_SMOOTHING_S * fps)

  # A foot is planted when its ankle is within a few mm of its flat-foot height; a rising heel
  # (rolling over the toes) releases it, and with no foot planted the body keeps its momentum.
  def planted(ankle_z):
    gap = root_z + ankle_z - subject.ankle_height
    return 1.0 / (1.0 + np.exp((gap - CONTACT_GAP_MM) / 4.0))

  c_left, c_right = planted(left[:, 2]), planted(right[:, 2])
  if action.stance is not None:
    c_left, c_right = c_left * action.stance["l"], c_right * action.stance["r"]
  c_left = np.concatenate([c_left[:1], 0.5 * (c_left[1:] + c_left[:-1])])[:, None]
  c_right = np.concatenate([c_right[:1], 0.5 * (c_right[1:] + c_right[:-1])])[:, None]
  total = c_left + c_right
  airborne = total[:, 0] < 0.05
  step_left = np.diff(left[:, :2], axis=0, prepend=left[:1, :2])
  step_right = np.diff(right[:, :2], axis=0, prepend=right[:1, :2])
  velocity = -(c_left * step_left + c_right * step_right) / np.maximum(total, 1e-6)
  facing = np.deg2rad(heading)
  forward = np.stack([np.cos(facing), np.sin(facing)], axis=-1)
  frame = 0
  while frame < num_frames:
    if not airborne[frame]:
      frame += 1
      continue
    end = frame
    while end < num_frames and airborne[end]:
      end += 1
    before = velocity[max(0, frame - MOMENTUM_FRAMES):frame]
    carried = before.mean(axis=0) if len(before) else np.zeros(2)
    velocity[frame:end] = carried + forward[frame:end] * action.flight_speed / fps
    frame = end
  velocity = _gaussian_smooth(velocity, sigma=VELOCITY_SMOOTHING_S * fps)
  # Centre the path on a random point near the origin (keeps float32 coordinates small).
  path = np.cumsum(velocity, axis=0)
  xy = rng.uniform(-1500.0, 1500.0, 2) + path - 0.5 * (path.min(axis=0) + path.max(axis=0))
  return np.concatenate([xy, root_z[:, None]], axis=-1)


def generate_sequence(rng: np.random.Generator, action: str, subject: SubjectBody,
                      num_frames: int, fps: float = 30.0) -> np.ndarray:
  """One sequence of `action` by `subject`: `[num_frames, 17, 3]` float32, mm, z-up world.

  Speed, amplitude, phase, timing, posture, mirroring (left/right lead), heading and start
  position are drawn from `rng`; the result is a deterministic function of the rng state.
  """
  return synthesize(rng, action, subject, num_frames, fps).poses


def generate_corpus(seed: int, num_sequences: int, num_frames: int,
                    actions: Sequence[str] = ACTIONS,
                    subjects: Union[None, int, Sequence[SubjectBody]] = None,
                    fps: float = 30.0) -> List[dict]:
  """`num_sequences` sequences cycling through `actions`, each by a subject drawn from
  `subjects` (a list of SubjectBody, a number of subjects to sample from `seed`, or None for 5).

  Returns dicts with poses `[num_frames, 17, 3]`, action, subject_id and sequence_id
  ('proc<seed>_<index>'). Sequence i depends only on (seed, i) and the subject list, not on
  `num_sequences`.
  """
  actions = tuple(actions)
  if not actions:
    raise ValueError("actions is empty")
  for action in actions:
    if action not in _ACTION_FUNCTIONS:
      raise ValueError(f"unknown action {action!r}; known: {ACTIONS}")
  if subjects is None or isinstance(subjects, int):
    count = 5 if subjects is None else int(subjects)
    if count < 1:
      raise ValueError(f"need at least one subject, got {count}")
    subjects = [sample_subject(np.random.default_rng([seed, 1, k]), f"proc{seed}_s{k:02d}")
                for k in range(count)]
  subjects = list(subjects)
  if not subjects:
    raise ValueError("subjects is empty")
  corpus = []
  for i in range(int(num_sequences)):
    rng = np.random.default_rng([seed, 0, i])
    action = actions[i % len(actions)]
    subject = subjects[int(rng.integers(len(subjects)))]
    poses = generate_sequence(rng, action, subject, num_frames, fps)
    corpus.append({"poses": poses, "action": action, "subject_id": subject.subject_id,
                   "sequence_id": f"proc{seed}_{i:05d}"})
  return corpus
