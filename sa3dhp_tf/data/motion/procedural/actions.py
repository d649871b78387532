"""The 13 actions of the procedural generator. Each turns (rng, time grid, style) into joint-angle
trajectories (degrees, deltas from the neutral stance) and the extras that drive the root
(`ActionMotion`). Each is written for a right-side lead; `synthesis.synthesize` mirrors half of
the sequences (`mirror_action`)."""

import dataclasses
import math
from typing import Dict, Optional

import numpy as np

from sa3dhp_tf.data.motion.procedural import curves
from sa3dhp_tf.data.motion.procedural import joint_angles
from sa3dhp_tf.data.motion.procedural import keyframes


@dataclasses.dataclass
class ActionStyle:
  """Per-sequence style: speed and amplitude factors, and the resting arms both as swings
  (`{s}_arm_flex`, `{s}_arm_abd`) and as elevation/plane (`{s}_shoulder_elev/plane`)."""
  speed: float
  amp: float
  fps: float
  rest_swing: Dict[str, float]
  rest_direct: Dict[str, float]


@dataclasses.dataclass
class ActionMotion:
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


def add_to_channel(channels: dict, name: str, value):
  """Adds `value` to channel `name` (0 where the channel is not yet written)."""
  channels[name] = channels.get(name, 0.0) + value


def both_sides(prefix_values: dict) -> dict:
  """Expands {'knee_flex': v} into {'l_knee_flex': v, 'r_knee_flex': v}."""
  return {f"{side}_{k}": v for k, v in prefix_values.items() for side in ("l", "r")}


def _gait(rng, t, style: ActionStyle, run: bool) -> ActionMotion:
  uniform = rng.uniform
  dt = 1.0 / style.fps
  if run:
    cadence_hz = uniform(1.25, 1.5) * math.sqrt(style.speed)
    hip_mean, hip_amp = uniform(14, 20), uniform(22, 30) * math.sqrt(style.amp)
    heel = uniform(20, 40)
    knee_base, knee_stance, knee_swing = uniform(8, 15), uniform(10, 20), uniform(80, 110)
    swing_at, duty = 0.6, uniform(0.35, 0.42)
    arm_amp, arm_mean, arm_abd = uniform(25, 45) * style.amp, uniform(5, 15), uniform(8, 18)
    elbow_base, elbow_amp = uniform(70, 95), uniform(8, 18)
    lean, pelvis_yaw, pelvis_roll = uniform(6, 14), uniform(5, 10), uniform(3, 6)
  else:
    cadence_hz = uniform(0.8, 1.05) * math.sqrt(style.speed)
    hip_mean, hip_amp = uniform(5, 10), uniform(15, 21) * math.sqrt(style.amp)
    heel = uniform(15, 35)
    knee_base, knee_stance, knee_swing = uniform(2, 6), uniform(3, 8), uniform(48, 62)
    swing_at, duty = 0.72, uniform(0.58, 0.64)
    arm_amp, arm_mean, arm_abd = uniform(8, 28) * style.amp, uniform(0, 8), uniform(6, 12)
    elbow_base, elbow_amp = uniform(10, 30), uniform(4, 12)
    lean, pelvis_yaw, pelvis_roll = uniform(0, 6), uniform(3, 7), uniform(2, 5)
  freq = cadence_hz * (1.0 + 0.06 * curves.smooth_noise(rng, t, 1.0, 0.03, 0.2))
  phase = uniform(0, 2 * np.pi) + 2.0 * np.pi * np.cumsum(freq) * dt
  channels: Dict[str, np.ndarray] = {}
  heel_lift, stance = {}, {}
  for side, offset in (("r", 0.0), ("l", np.pi)):
    phi = phase + offset
    heel_lift[side] = heel * curves.periodic_bump(phi - 2 * np.pi * (duty - 0.1), 6.0)
    stance[side] = curves.stance_window(phi, duty)
    # The hip extends steadily from just before heel strike to just after toe-off.
    channels[f"{side}_hip_flex"] = (hip_mean +
                                    hip_amp * curves.stance_ramp(phi, -0.05, duty + 0.05))
    channels[f"{side}_knee_flex"] = (
        knee_base + knee_stance * curves.periodic_bump(phi - 2 * np.pi * 0.12, 6.0) +
        knee_swing * curves.periodic_bump(phi - 2 * np.pi * swing_at, 4.0))
    channels[f"{side}_hip_abd"] = 1.5 * np.cos(phi)
    channels[f"{side}_arm_flex"] = arm_mean - arm_amp * np.cos(phi)
    channels[f"{side}_arm_abd"] = np.full_like(t, arm_abd)
    channels[f"{side}_elbow_flex"] = elbow_base + elbow_amp * (0.5 - 0.5 * np.cos(phi))
  yaw_osc = pelvis_yaw * np.cos(phase)
  channels["spine_twist"] = -0.6 * yaw_osc
  channels["chest_twist"] = -0.5 * yaw_osc
  channels["root_roll"] = pelvis_roll * np.sin(2.0 * phase)
  channels["spine_flex"] = lean + 1.5 * np.cos(2.0 * phase)
  channels["neck_flex"] = -0.4 * lean + np.zeros_like(t)
  # Heading: turn rate keyframes (deg/s): straight, gentle curves, now and then a sharp turn.
  rates = keyframes.KeyframeScript(-uniform(0, 2.0), {"rate": 0.0})
  while rates.time <= t[-1]:
    pick = rng.uniform()
    if pick < 0.25:
      rate = 0.0
    elif pick < 0.85:
      rate = uniform(-30, 30)
    else:
      rate = rng.choice((-1.0, 1.0)) * uniform(50, 90 if not run else 70)
    rates.to(uniform(0.5, 1.0), {"rate": rate})
    rates.hold(uniform(0.5, 3.0) if abs(rate) < 45 else uniform(0.3, 1.0))
  rate = rates.render(t)["rate"]
  yaw = np.cumsum(rate) * dt
  channels["root_yaw"] = yaw_osc
  channels["spine_lat"] = 0.08 * rate
  channels["neck_twist"] = 0.2 * rate
  return ActionMotion(channels, yaw=yaw, heel_lift=heel_lift, stance=stance)


def _walk(rng, t, style):
  return _gait(rng, t, style, run=False)


def _run(rng, t, style):
  return _gait(rng, t, style, run=True)


def _jump(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  yaw_keys = keyframes.KeyframeScript(-10.0, {"_yaw": 0.0})

  def arms(flex, abd=None, elbow=None):
    abd = uniform(8, 16) if abd is None else abd
    elbow = uniform(5, 25) if elbow is None else elbow
    return both_sides({"arm_flex": flex, "arm_abd": abd, "elbow_flex": elbow})

  def episode(script: keyframes.KeyframeScript):
    script.hold(uniform(0.3, 1.2))
    crouch = {**both_sides({"knee_flex": uniform(60, 95), "hip_flex": uniform(55, 90)}),
              "spine_flex": uniform(15, 35), "neck_flex": -uniform(5, 15),
              **arms(-uniform(30, 60))}
    script.to(uniform(0.4, 0.7) / style.speed, crouch)
    # Extension with push-off: the heels rise (the ankles leave their standing height).
    extend = {**both_sides({"knee_flex": uniform(0, 8), "hip_flex": uniform(-5, 5)}),
              "spine_flex": uniform(-5, 5), "neck_flex": 0.0, "_heel": uniform(60, 110),
              **arms(uniform(100, 160))}
    script.to(uniform(0.32, 0.48), extend)
    # The flight itself emerges from the leg extension (see `root_motion.place_root`); the keys
    # only plan the airborne posture for a typical flight time.
    takeoff = script.time
    airtime = uniform(0.3, 0.5) * style.amp
    tuck = {**both_sides({"knee_flex": uniform(15, 70), "hip_flex": uniform(15, 60)}),
            **arms(uniform(40, 90))}
    script.to(0.5 * airtime, tuck)
    script.to(0.5 * airtime,
              {**both_sides({"knee_flex": uniform(10, 20), "hip_flex": uniform(10, 20)}),
               "_heel": uniform(40, 80), **arms(uniform(30, 60))})
    landing = script.time
    if rng.uniform() < 0.25:
      turn = rng.choice((-1.0, 1.0)) * uniform(60, 180)
      yaw_keys.at(takeoff, {})
      yaw_keys.at(landing, {"_yaw": yaw_keys.pose["_yaw"] + turn})
    absorb = {**both_sides({"knee_flex": uniform(45, 80), "hip_flex": uniform(40, 70)}),
              "spine_flex": uniform(15, 30), "_heel": 0.0, **arms(uniform(20, 50))}
    script.to(uniform(0.2, 0.35), absorb)
    script.to(uniform(0.4, 0.8) / style.speed, reset=True)

  script = keyframes.repeat_episodes(rng, t, episode, lead=1.5, neutral=style.rest_swing)
  # Flights before the first frame do not matter; keep all (they are clipped to the frames).
  forward = uniform(300, 1500) if rng.uniform() < 0.5 else 0.0
  channels = script.render(t)
  heel = channels.pop("_heel", np.zeros_like(t))
  return ActionMotion(channels, yaw=yaw_keys.render(t)["_yaw"], flight_speed=forward,
                      heel_lift={"l": heel, "r": heel})


def _squat(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform

  def episode(script: keyframes.KeyframeScript):
    depth = min(uniform(0.45, 1.0) * style.amp, 1.1)
    pose = {**both_sides({"knee_flex": 55 + 75 * depth, "hip_flex": 45 + 65 * depth}),
            "root_pitch": uniform(0, 10) * depth, "spine_flex": uniform(5, 30) * depth,
            "chest_flex": uniform(0, 10) * depth, "neck_flex": -uniform(5, 20) * depth}
    style_arms = rng.integers(4)
    if style_arms == 0:    # arms forward
      pose.update(both_sides({"arm_flex": uniform(70, 95), "arm_abd": uniform(5, 15),
                              "elbow_flex": uniform(0, 20)}))
    elif style_arms == 1:  # hands on hips
      pose.update(both_sides({"arm_flex": -uniform(5, 20), "arm_abd": uniform(30, 45),
                              "elbow_flex": uniform(90, 120), "shoulder_twist": uniform(30, 60)}))
    elif style_arms == 2:  # arms crossed in front
      pose.update(both_sides({"arm_flex": uniform(70, 90), "arm_abd": -uniform(20, 35),
                              "elbow_flex": uniform(100, 130)}))
    # else arms hang.
    script.to(uniform(0.9, 1.6) / style.speed, pose)
    script.hold(uniform(0.1, 1.0))
    script.to(uniform(0.9, 1.5) / style.speed, reset=True)
    script.hold(uniform(0.2, 1.5))

  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=3.0,
                                                neutral=style.rest_swing).render(t))


def _wave(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  both = rng.uniform() < 0.3
  freq = uniform(1.5, 3.0) * style.speed
  elbow_amp, plane_amp = uniform(15, 30) * style.amp, uniform(5, 15) * style.amp

  def episode(script: keyframes.KeyframeScript):
    arm = {"shoulder_elev": uniform(95, 150), "shoulder_plane": uniform(0, 50),
           "shoulder_twist": uniform(70, 95), "elbow_flex": uniform(50, 100),
           "clav_elev": uniform(5, 15)}
    pose = {f"r_{k}": v for k, v in arm.items()}
    if both:
      pose.update({f"l_{k}": v for k, v in arm.items()})
    pose["neck_twist"] = 0.0 if both else -uniform(0, 25)
    script.to(uniform(0.4, 0.8) / style.speed, pose)
    script.to(0.25, {"_wave": 1.0})
    script.hold(uniform(1.0, 4.0))
    script.to(0.25, {"_wave": 0.0})
    script.to(uniform(0.4, 0.9) / style.speed, reset=True)
    script.hold(uniform(0.5, 3.0))

  channels = keyframes.repeat_episodes(rng, t, episode, lead=4.0,
                                       neutral=style.rest_direct).render(t)
  envelope = channels.pop("_wave", np.zeros_like(t))
  phase = uniform(0, 2 * np.pi) + 2 * np.pi * freq * t
  for side in ("r", "l") if both else ("r",):
    add_to_channel(channels, f"{side}_elbow_flex", envelope * elbow_amp * np.sin(phase))
    add_to_channel(channels, f"{side}_shoulder_plane",
                   envelope * plane_amp * np.sin(phase + 0.5))
  return ActionMotion(channels)


def _reach(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform

  def target(script: keyframes.KeyframeScript, both: bool):
    elev, plane = uniform(30, 160), uniform(-20, 125)
    arm = {"shoulder_elev": elev, "shoulder_plane": plane, "elbow_flex": uniform(0, 30),
           "shoulder_twist": uniform(-40, 40),
           "clav_elev": uniform(0, 15) if elev > 100 else 0.0,
           "clav_prot": uniform(0, 20) if plane > 60 else 0.0}
    pose = {f"r_{k}": v for k, v in arm.items()}
    if both:
      pose.update({f"l_{k}": v + uniform(-10, 10) for k, v in arm.items()})
    low = elev < 70 and rng.uniform() < 0.6
    knee = uniform(10, 60) if low else uniform(0, 8)
    pose.update({**both_sides({"knee_flex": knee,
                               "hip_flex": 0.8 * knee + (uniform(10, 30) if low else 0)}),
                 "root_pitch": uniform(0, 20) if low else 0.0,
                 "spine_flex": (uniform(15, 45) if low else
                                (-uniform(0, 10) if elev > 120 else uniform(0, 10))),
                 "spine_twist": 0.0 if both else (plane - 60) * uniform(0.1, 0.25),
                 "neck_flex": -(elev - 60) * uniform(0.2, 0.4),
                 "neck_twist": 0.0 if both else -(90 - plane) * uniform(0.2, 0.4)})
    return pose

  def episode(script: keyframes.KeyframeScript):
    both = rng.uniform() < 0.25
    script.to(uniform(0.5, 1.1) / style.speed, target(script, both))
    script.hold(uniform(0.2, 1.2))
    if rng.uniform() < 0.4:
      script.to(uniform(0.5, 1.0) / style.speed, target(script, both))
      script.hold(uniform(0.2, 1.0))
    script.to(uniform(0.5, 1.0) / style.speed, reset=True)
    script.hold(uniform(0.2, 1.5))

  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=3.0,
                                                neutral=style.rest_direct).render(t))


def _kick(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform

  def episode(script: keyframes.KeyframeScript):
    guard = {**both_sides({"arm_abd": uniform(20, 45), "arm_flex": uniform(0, 30),
                           "elbow_flex": uniform(30, 70)}),
             "l_knee_flex": uniform(5, 15), "l_hip_flex": uniform(0, 10)}
    script.to(uniform(0.3, 0.6) / style.speed, guard)
    script.to(uniform(0.2, 0.35) / style.speed,
              {"r_hip_flex": -uniform(5, 20), "r_knee_flex": uniform(60, 100)})
    kind = rng.uniform()
    if kind < 0.7:    # front kick
      kick = {"r_hip_flex": uniform(50, 100) * style.amp, "r_knee_flex": uniform(0, 25),
              "spine_flex": -uniform(5, 20)}
    else:             # side kick
      kick = {"r_hip_abd": uniform(30, 50) * style.amp, "r_hip_flex": uniform(10, 40),
              "r_knee_flex": uniform(5, 30), "r_hip_twist": -uniform(10, 30),
              "spine_lat": uniform(10, 25)}
    script.to(uniform(0.22, 0.35) / style.speed, kick)
    script.to(uniform(0.2, 0.35) / style.speed,
              {"r_hip_flex": uniform(30, 60), "r_knee_flex": uniform(60, 100), "r_hip_abd": 0.0,
               "r_hip_twist": 0.0, "spine_lat": 0.0, "spine_flex": 0.0})
    script.to(uniform(0.3, 0.5) / style.speed, reset=True)
    script.hold(uniform(0.5, 2.0))

  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=3.0,
                                                neutral=style.rest_swing).render(t))


def _turn_in_place(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  yaw_keys = keyframes.KeyframeScript(-uniform(0, 2.0), {"_yaw": 0.0})
  while yaw_keys.time <= t[-1]:
    yaw_keys.hold(uniform(0.3, 1.5))
    angle = rng.choice((-1.0, 1.0)) * uniform(60, 200)
    yaw_keys.to(abs(angle) / (uniform(90, 160) * style.speed),
                {"_yaw": yaw_keys.pose["_yaw"] + angle})
  yaw = yaw_keys.render(t)["_yaw"]
  rate = np.gradient(yaw, t) if len(t) > 1 else np.zeros_like(t)
  stepping = np.clip(np.abs(rate) / 60.0, 0.0, 1.0)
  phase = uniform(0, 2 * np.pi) + 2 * np.pi * uniform(1.4, 2.0) * style.speed * t
  lift = uniform(20, 40)
  channels = {}
  for side, offset in (("r", 0.0), ("l", np.pi)):
    knee = stepping * lift * curves.periodic_bump(phase + offset, 3.0)
    channels[f"{side}_knee_flex"] = knee
    channels[f"{side}_hip_flex"] = 0.6 * knee
  channels["neck_twist"] = np.clip(0.25 * rate, -40, 40)
  channels["spine_twist"] = np.clip(0.08 * rate, -15, 15)
  channels.update(both_sides({"arm_abd": np.full_like(t, uniform(6, 14)),
                              "arm_flex": np.full_like(t, uniform(0, 10))}))
  return ActionMotion(channels, yaw=yaw)


def _bend(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform

  def episode(script: keyframes.KeyframeScript):
    pitch = uniform(35, 75) * style.amp
    knee = uniform(0, 35)
    spine, chest = uniform(10, 35), uniform(5, 20)
    hang = (pitch + spine + chest) * uniform(0.7, 1.0)
    pose = {"root_pitch": pitch,
            **both_sides({"knee_flex": knee, "hip_flex": pitch + 0.5 * knee + uniform(-5, 5)}),
            "spine_flex": spine, "chest_flex": chest, "neck_flex": -uniform(0, 30),
            **both_sides({"arm_flex": hang, "arm_abd": uniform(5, 15),
                          "elbow_flex": uniform(5, 30)})}
    script.to(uniform(0.8, 1.8) / style.speed, pose)
    if rng.uniform() < 0.5:    # pick something up
      script.to(uniform(0.3, 0.6),
                {"r_arm_flex": hang + uniform(10, 25), "r_elbow_flex": uniform(0, 10)})
      script.to(uniform(0.3, 0.6), {"r_arm_flex": hang, "r_elbow_flex": uniform(30, 60)})
    script.hold(uniform(0.3, 2.0))
    script.to(uniform(0.8, 1.6) / style.speed, reset=True)
    script.hold(uniform(0.5, 2.0))

  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=4.0,
                                                neutral=style.rest_swing).render(t))


def _idle_sway(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  amplitude = uniform(2, 5) * style.amp
  shift = amplitude * np.sin(2 * np.pi * uniform(0.08, 0.25) * t + uniform(0, 2 * np.pi))
  shift += curves.smooth_noise(rng, t, 0.5 * amplitude, 0.03, 0.15)
  relaxed = uniform(3, 12)
  channels = {"l_hip_abd": shift, "r_hip_abd": -shift, "root_roll": -0.5 * shift,
              "l_knee_flex": relaxed / (1 + np.exp(-3 * shift / amplitude)),
              "r_knee_flex": relaxed / (1 + np.exp(3 * shift / amplitude))}
  look = keyframes.KeyframeScript(-uniform(0, 2.0))
  while look.time <= t[-1]:
    look.to(uniform(0.5, 1.2), {"neck_twist": uniform(-45, 45), "neck_flex": uniform(-10, 20),
                                "neck_lat": uniform(-8, 8)})
    look.hold(uniform(0.5, 3.0))
  channels.update(look.render(t))
  arms = keyframes.KeyframeScript(-uniform(0, 3.0), neutral=style.rest_swing)
  while arms.time <= t[-1]:
    kind = rng.uniform()
    if kind < 0.5:      # relaxed, each arm on its own
      pose = {}
      for side in ("l", "r"):
        pose.update({f"{side}_arm_flex": uniform(-10, 40), f"{side}_arm_abd": uniform(5, 25),
                     f"{side}_elbow_flex": uniform(5, 100),
                     f"{side}_shoulder_twist": uniform(-30, 30)})
    elif kind < 0.75:   # hands together in front
      pose = both_sides({"arm_flex": uniform(20, 45), "arm_abd": -uniform(0, 10) + 12,
                         "elbow_flex": uniform(60, 100), "shoulder_twist": uniform(-20, 10)})
    else:               # hands on hips
      pose = both_sides({"arm_flex": -uniform(5, 20), "arm_abd": uniform(30, 45),
                         "elbow_flex": uniform(90, 120), "shoulder_twist": uniform(30, 60)})
    arms.to(uniform(0.6, 1.2), pose)
    arms.hold(uniform(1.5, 5.0))
  channels.update(arms.render(t))
  return ActionMotion(channels)


def _punch(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  guard = {**both_sides({"arm_flex": uniform(35, 60), "arm_abd": uniform(10, 25),
                         "elbow_flex": uniform(100, 135), "shoulder_twist": uniform(-20, 10),
                         "knee_flex": uniform(10, 25)}),
           "r_hip_flex": -uniform(5, 15), "l_hip_flex": uniform(10, 25),
           "spine_twist": uniform(5, 15), "neck_flex": uniform(5, 15)}
  lead = rng.choice(("l", "r"))

  def episode(script: keyframes.KeyframeScript):
    script.hold(uniform(0.2, 0.9) / style.speed)
    side = lead if rng.uniform() < 0.6 else ("r" if lead == "l" else "l")
    twist = 1.0 if side == "r" else -1.0
    if rng.uniform() < 0.75:   # straight punch
      strike = {f"{side}_arm_flex": uniform(75, 95), f"{side}_arm_abd": uniform(2, 10),
                f"{side}_elbow_flex": uniform(0, 20), f"{side}_clav_prot": uniform(10, 25),
                "spine_twist": guard["spine_twist"] + twist * uniform(10, 25)}
      out = uniform(0.1, 0.18)
    else:                      # hook
      strike = {f"{side}_arm_flex": uniform(70, 90), f"{side}_arm_abd": uniform(40, 70),
                f"{side}_elbow_flex": uniform(80, 100), f"{side}_clav_prot": uniform(5, 15),
                "spine_twist": guard["spine_twist"] + twist * uniform(20, 30)}
      out = uniform(0.15, 0.25)
    script.to(out / style.speed, strike)
    script.to(uniform(0.15, 0.3) / style.speed, {k: guard.get(k, 0.0) for k in strike})

  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=1.0, start_pose=guard,
                                                neutral=style.rest_swing).render(t))


def _sit_stand(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform

  def seated():
    return {**both_sides({"hip_flex": uniform(80, 100), "knee_flex": uniform(80, 100),
                          "arm_flex": uniform(20, 45), "arm_abd": uniform(5, 15),
                          "elbow_flex": uniform(30, 70)}),
            "spine_flex": uniform(0, 15), "chest_flex": uniform(0, 10)}

  def episode(script: keyframes.KeyframeScript):
    script.hold(uniform(0.5, 2.5))
    script.to(uniform(0.6, 1.0) / style.speed,
              {**both_sides({"hip_flex": uniform(60, 80), "knee_flex": uniform(50, 70)}),
               "spine_flex": uniform(25, 40)})
    script.to(uniform(0.6, 1.0) / style.speed, seated())
    script.hold(uniform(1.0, 3.5))
    script.to(uniform(0.4, 0.7) / style.speed,
              {**both_sides({"hip_flex": uniform(95, 110), "arm_flex": uniform(0, 20)}),
               "spine_flex": uniform(30, 45)})
    script.to(uniform(1.0, 1.6) / style.speed, reset=True)

  start = seated() if rng.uniform() < 0.3 else None
  return ActionMotion(keyframes.repeat_episodes(rng, t, episode, lead=4.0, start_pose=start,
                                                neutral=style.rest_swing).render(t))


def _arm_circles(rng, t, style: ActionStyle) -> ActionMotion:
  uniform = rng.uniform
  elev, plane = uniform(75, 95), uniform(-5, 25)
  radius = uniform(15, 35) * style.amp
  freq = uniform(0.5, 1.4) * style.speed
  direction = {"l": 1.0, "r": 1.0 if rng.uniform() < 0.7 else -1.0}

  def episode(script: keyframes.KeyframeScript):
    script.to(uniform(0.5, 1.0), {**both_sides({"shoulder_elev": elev, "shoulder_plane": plane,
                                                "elbow_flex": uniform(0, 15)}), "_circle": 1.0})
    script.hold(uniform(3.0, 8.0))
    script.to(uniform(0.5, 1.0), reset=True)
    script.hold(uniform(0.5, 2.0))

  channels = keyframes.repeat_episodes(rng, t, episode, lead=2.0,
                                       neutral=style.rest_direct).render(t)
  envelope = channels.pop("_circle", np.zeros_like(t))
  phase = uniform(0, 2 * np.pi) + 2 * np.pi * freq * t
  for side in ("l", "r"):
    add_to_channel(channels, f"{side}_shoulder_elev", envelope * radius * np.sin(phase))
    add_to_channel(channels, f"{side}_shoulder_plane",
                   envelope * radius * direction[side] * np.cos(phase))
  add_to_channel(channels, "l_hip_abd", 3.0)
  add_to_channel(channels, "r_hip_abd", 3.0)
  return ActionMotion(channels)


ACTION_FUNCTIONS = {
    "walk": _walk, "run": _run, "jump": _jump, "squat": _squat, "wave": _wave,
    "reach": _reach, "kick": _kick, "turn_in_place": _turn_in_place, "bend": _bend,
    "idle_sway": _idle_sway, "punch": _punch, "sit_stand": _sit_stand,
    "arm_circles": _arm_circles,
}
# The actions, in the order corpora cycle through them.
ACTIONS = tuple(ACTION_FUNCTIONS)
# Actions in which a foot may leave the ground for good reasons (flight phases).
AIRBORNE_ACTIONS = ("run", "jump")
# Actions during which the lower ankle stays at ankle height in every frame.
GROUNDED_ACTIONS = tuple(a for a in ACTIONS if a not in AIRBORNE_ACTIONS)


def mirror_action(action: ActionMotion) -> ActionMotion:
  """The same action led by the other side: left and right channels swapped, the channels
  that change sign under a left-right reflection negated (`joint_angles.MIRRORED_CHANNELS`)."""
  channels = {}
  for name, value in action.channels.items():
    if name[:2] == "l_":
      name = "r_" + name[2:]
    elif name[:2] == "r_":
      name = "l_" + name[2:]
    channels[name] = -value if name in joint_angles.MIRRORED_CHANNELS else value
  yaw = None if action.yaw is None else -action.yaw

  def swap(sides):
    return None if sides is None else {"l": sides["r"], "r": sides["l"]}

  return dataclasses.replace(action, channels=channels, yaw=yaw, heel_lift=swap(action.heel_lift),
                             stance=swap(action.stance))
