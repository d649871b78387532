"""Training stages by name. Each stage is one `@gin.configurable` function `fn(model_dir)`.

Stage modules register themselves on import; `sa3dhp_tf.tasks` imports them all, so the binaries
only need `import sa3dhp_tf.tasks`.
"""

from typing import Callable, Dict

import gin

_STAGES: Dict[str, Callable[[str], object]] = {}
_CHECKS: Dict[str, Callable[[], None]] = {}
_RULES: Dict[str, dict] = {}


def register_stage(name: str, check: Callable[[], None] = None, rules=None):
  """Registers `fn(model_dir)` as stage `name` (its gin configurable must be called `name`).
  `rules` ({parameter: settings.Rule}) are the ranges of its settings; `check()`, if given,
  validates the rest of its parsed gin configuration and raises `config.ConfigError`. The binary
  runs both (and checks that every `gin.REQUIRED` parameter is bound) before it writes
  anything."""
  def decorator(fn):
    if name in _STAGES:
      raise ValueError(f"stage {name!r} is already registered")
    _STAGES[name] = fn
    _RULES[name] = dict(rules or {})
    if check is not None:
      _CHECKS[name] = check
    return fn
  return decorator


def check_stage(name: str):
  from sa3dhp_tf import settings
  fn = get_stage(name)
  settings.check_bound(name, fn, _RULES.get(name, {}))
  if name != "dry_run":
    from sa3dhp_tf import distribution
    distribution.strategy_settings()  # names a bad make_strategy binding
  if name in _CHECKS:
    _CHECKS[name]()


def stage_rules(name: str) -> dict:
  return _RULES[name]


def get_stage(name: str):
  try:
    return _STAGES[name]
  except KeyError:
    raise KeyError(f"unknown stage {name!r}; known stages: {', '.join(sorted(_STAGES))}") from None


def stage_names():
  return sorted(_STAGES)


@gin.configurable("train")
def selected_stage(stage=None):
  """The stage bound as `train.stage` in gin (the binary's `--stage` overrides it). Defined here,
  not in the binary, so that gin files parse wherever the tasks are imported, without flags."""
  return stage
