"""One switch for run-to-run reproducibility: seeds and deterministic TF ops.

Every stage and tool calls `seed_everything(seed)` where it used to seed Keras alone. It seeds
Python's `random`, NumPy and TF (through `keras.utils.set_random_seed`; tf.data's seeded ops draw
from the same global seed) and, unless the gin setting `reproducibility.deterministic_ops` is
False, turns on `tf.config.experimental.enable_op_determinism()`, which makes TF refuse (with an
error) any op that has no deterministic kernel instead of silently varying between runs.

What this does not remove: different CPU instruction sets (AVX2 against AVX-512 kernels in
oneDNN or Eigen) round differently, so the same command on another machine model gives other
weights; docs/results.md says how the tables account for that (G^s trained per seed).
"""

import gin

from sa3dhp_tf import errors


@gin.configurable("reproducibility")
def settings(deterministic_ops=True):
  """Gin-bound settings; `deterministic_ops=False` trades reproducibility for speed."""
  return {"deterministic_ops": bool(deterministic_ops)}


def seed_everything(seed: int, jit_compile: bool = False) -> dict:
  """Seeds every generator the project draws from and applies `settings()`; returns them (with
  the seed) so a stage can write them beside its results.

  Keras compiles without XLA whenever op determinism is on (not every XLA op has a deterministic
  kernel), so a stage asking for `jit_compile=True` under `deterministic_ops=True` would silently
  lose it; that pairing is refused instead.
  """
  import keras

  applied = settings()
  if jit_compile and applied["deterministic_ops"]:
    raise errors.UserError("jit_compile=True needs reproducibility.deterministic_ops = False "
                           "(Keras turns XLA off under op determinism)")
  keras.utils.set_random_seed(int(seed))  # python random, numpy, TF global seed
  set_op_determinism(applied["deterministic_ops"])
  return {"seed": int(seed), **applied}


def set_op_determinism(enabled: bool) -> None:
  # TF has no public switch back, and a process that ran a deterministic stage earlier (tests,
  # the ablation) would keep the flag on otherwise.
  from tensorflow.python.framework import config as tf_config
  if enabled:
    tf_config.enable_op_determinism()
  else:
    tf_config.disable_op_determinism()


def op_determinism_enabled() -> bool:
  from tensorflow.python.framework import config as tf_config
  return bool(tf_config.is_op_determinism_enabled())
