"""Keyframed joint-angle scripts: the poses of an action as a sequence of timed keys, blended
smoothly, and the loop that repeats an action's episode until the clip is covered."""

from typing import Dict, Optional

import numpy as np

from sa3dhp_tf.data.motion.procedural import curves


class KeyframeScript:
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
    s = curves.smootherstep((t - times[index]) / span)[:, None]
    out = values[index] + (values[following] - values[index]) * s
    return {k: out[:, i] for i, k in enumerate(names)}


def repeat_episodes(rng, t, episode, lead: float, start_pose: Optional[dict] = None,
                    neutral: Optional[dict] = None) -> KeyframeScript:
  """Runs `episode(script)` repeatedly from a random time before 0 until past the last frame."""
  script = KeyframeScript(-float(rng.uniform(0.0, lead)), start_pose, neutral)
  end = t[-1] if len(t) else 0.0
  while script.time <= end:
    before = script.time
    episode(script)
    if script.time <= before:
      raise AssertionError("an episode must advance time")
  return script

