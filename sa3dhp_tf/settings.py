"""Range checks of numeric and choice settings, with messages that name the setting.

A stage or tool declares its rules once, as {parameter: rule}; `check` validates a dict of
values against them, raising a `SettingError` such as

  pose_aae.steps must be an integer >= 1, got 0

The training binary runs the same rules on the gin bindings before it writes anything
(`check_bound`), and each stage runs them again on the values it was called with, so a library
caller gets the same message. Imports nothing heavy.
"""

import inspect
import math
import numbers

from sa3dhp_tf import errors


class SettingError(errors.ConfigError):
  """A setting (gin binding or flag) outside its allowed range."""


class Rule:
  """`accepts(value) -> bool`, described by `text` ("an integer >= 1")."""

  def __init__(self, text, accepts):
    self.text = text
    self.accepts = accepts

  def __repr__(self):
    return f"Rule({self.text!r})"


def _is_int(v):
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v):
  return (isinstance(v, numbers.Real) and not isinstance(v, bool)
          and math.isfinite(float(v)))


def integer(minimum):
  return Rule(f"an integer >= {minimum}", lambda v: _is_int(v) and v >= minimum)


def number(minimum=None, maximum=None, minimum_open=False):
  lower = "" if minimum is None else (f"> {minimum}" if minimum_open else f">= {minimum}")
  if maximum is not None and minimum is not None:
    text = f"a number in {'(' if minimum_open else '['}{minimum}, {maximum}]"
  elif maximum is not None:
    text = f"a number <= {maximum}"
  else:
    text = f"a finite number {lower}".rstrip()

  def accepts(v):
    if not _is_number(v):
      return False
    if minimum is not None and (v <= minimum if minimum_open else v < minimum):
      return False
    return maximum is None or v <= maximum
  return Rule(text, accepts)


def one_of(*choices):
  return Rule(f"one of {choices}", lambda v: v in choices)


def sequence_of(rule, min_length=1):
  def accepts(v):
    return (isinstance(v, (list, tuple)) and len(v) >= min_length
            and all(rule.accepts(x) for x in v))
  return Rule(f"a list of at least {min_length} item(s), each {rule.text}", accepts)


def optional(rule):
  return Rule(f"None or {rule.text}", lambda v: v is None or rule.accepts(v))


def mapping_of(rule):
  def accepts(v):
    return v is None or (isinstance(v, dict) and all(rule.accepts(x) for x in v.values()))
  return Rule(f"None or a dict whose values are each {rule.text}", accepts)


STEPS = integer(1)
BATCH_SIZE = integer(1)
SEED = integer(0)
COUNT = integer(1)
LEARNING_RATE = number(0, minimum_open=True)
NON_NEGATIVE = number(0)
FRACTION = number(0, 1)
POSITIVE_FRACTION = number(0, 1, minimum_open=True)
# Seeds every stage has; a stage's own rules add to these.
TRAINING_RULES = {"steps": STEPS, "steps_per_loop": STEPS, "seed": SEED}


def check(prefix, rules, values):
  """Checks each `values[name]` present against `rules[name]`; then that `steps` is a multiple of
  `steps_per_loop` when both are given. `prefix` names the owner ('pose_aae', '--seeds')."""
  for name, rule in rules.items():
    if name not in values:
      continue
    value = values[name]
    if not rule.accepts(value):
      raise SettingError(f"{_name(prefix, name)} must be {rule.text}, got {value!r}")
  steps, per_loop = values.get("steps"), values.get("steps_per_loop")
  if "steps" in rules and _is_int(steps) and _is_int(per_loop) and steps % per_loop:
    raise SettingError(f"{_name(prefix, 'steps')} ({steps}) must be a multiple of "
                       f"{_name(prefix, 'steps_per_loop')} ({per_loop})")
  return values


def check_value(name, value, rule):
  """One setting (e.g. a flag): `check_value('--seeds', [0, 1], sequence_of(SEED))`."""
  check("", {name: rule}, {name: value})
  return value


def _name(prefix, name):
  return f"{prefix}.{name}" if prefix else name


def bound_values(configurable_name, fn):
  """The values `fn` would be called with under the current gin config: its defaults,
  overridden by the bindings of `configurable_name`. Raises a SettingError naming a required
  parameter (`gin.REQUIRED`) that has no binding."""
  import gin
  values = {}
  for name, parameter in inspect.signature(fn).parameters.items():
    if parameter.default is inspect.Parameter.empty:
      continue
    try:
      values[name] = gin.query_parameter(f"{configurable_name}.{name}")
    except ValueError:
      values[name] = parameter.default
    if values[name] is gin.REQUIRED:
      raise SettingError(f"{configurable_name}.{name} is required: bind it in a gin file or "
                         f"with --gin_bindings=\"{configurable_name}.{name} = ...\"")
  return values


def check_bound(configurable_name, fn, rules):
  """`check` on the gin-bound values of `fn` (see `bound_values`); references to other
  configurables (`@foo()`) are skipped, they are only known when called."""
  values = {k: v for k, v in bound_values(configurable_name, fn).items()
            if not type(v).__name__.startswith("ConfigurableReference")}
  return check(configurable_name, rules, values)
