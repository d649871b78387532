"""Training stages by name. Each stage is one `@gin.configurable` function `fn(model_dir)`.

Stage modules register themselves on import; `sa3dhp_tf.tasks` imports them all, so the binaries
only need `import sa3dhp_tf.tasks`.
"""

from typing import Callable, Dict

_STAGES: Dict[str, Callable[[str], object]] = {}


def register_stage(name: str):
  def decorator(fn):
    if name in _STAGES:
      raise ValueError(f"stage {name!r} is already registered")
    _STAGES[name] = fn
    return fn
  return decorator


def get_stage(name: str):
  try:
    return _STAGES[name]
  except KeyError:
    raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(_STAGES))}") from None


def stage_names():
  return sorted(_STAGES)
