"""Smooth curves the actions are built from: easing, periodic bumps, smooth noise and the
gait-phase profiles of a stance (all numpy, vectorised over time)."""

import math

import numpy as np


def smootherstep(s):
  s = np.clip(s, 0.0, 1.0)
  return s * s * s * (s * (6.0 * s - 15.0) + 10.0)


def periodic_bump(x, kappa):
  """Smooth periodic bump (von Mises shape), 1 at x = 0 (mod 2 pi), near 0 half a cycle away."""
  return np.exp(kappa * (np.cos(x) - 1.0))


def smooth_noise(rng, t, std, fmin=0.08, fmax=0.6, count=3):
  """Smooth noise: a sum of `count` sinusoids with random frequencies and phases, std `std`."""
  freqs = rng.uniform(fmin, fmax, count)
  phases = rng.uniform(0.0, 2.0 * np.pi, count)
  amps = rng.uniform(0.5, 1.0, count)
  amps *= std * math.sqrt(2.0) / np.sqrt(np.sum(amps ** 2))
  return np.sum(amps[:, None] * np.sin(2.0 * np.pi * freqs[:, None] * t[None] + phases[:, None]),
                axis=0)


def stance_ramp(phi, start, end, harmonics=8):
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


def stance_window(phi, duty, edge=0.04):
  """Smooth 0..1 indicator of the stance, cycle fractions [0, duty] of the gait phase `phi`."""
  centred = np.mod(phi / (2 * np.pi) - 0.5 * duty + 0.5, 1.0) - 0.5
  return smootherstep((0.5 * duty + edge - np.abs(centred)) / (2 * edge))
