"""The constructor settings of the model classes as gin configurables.

Each registered class `C` gets a gin configurable named `C` whose parameters are the keyword
arguments of `C.__init__`, less the ones the stage that builds it always passes (the latent size
a pose AAE dictates, the seed of the stage, ...). So a gin file sets a model as

    PoseAutoencoder.latent_dim = 32
    ImageToLatent.backbone = 'mobilenet_v2'

a misspelt or stage-owned name fails when the file is parsed, and the operative config that a
stage writes next to its model lists every constructor setting, defaults included.

The class itself is not decorated: Keras inspects `__init__` when it makes an instance and
`from_config` must rebuild a saved model from its own config only, whatever gin binds at load
time. Stages build through `build(C, **given)`.
"""

import inspect
from typing import Dict, Tuple

import gin

# class -> (its settings configurable, the arguments the building stage gives)
_REGISTRY: Dict[type, Tuple[object, Tuple[str, ...]]] = {}


def register(cls, given_by_stage=()):
  """Makes `cls`'s constructor settings the gin configurable `cls.__name__`; `given_by_stage`
  names the arguments its stages always pass (they cannot be bound)."""
  signature = inspect.signature(cls.__init__)
  unknown = set(given_by_stage) - set(signature.parameters)
  if unknown:
    raise TypeError(f"{cls.__name__}.__init__ has no arguments {sorted(unknown)}")
  parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                for name, p in signature.parameters.items()
                if name != "self" and name not in given_by_stage
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

  def settings(**bound):
    return bound

  # gin reads the parameters from the signature: only these names can be bound.
  settings.__signature__ = inspect.Signature(parameters)
  settings.__name__ = cls.__name__
  settings.__doc__ = f"The gin-bound constructor settings of `{cls.__module__}.{cls.__name__}`."
  _REGISTRY[cls] = (gin.external_configurable(settings, name=cls.__name__),
                    tuple(given_by_stage))
  return cls


def setting_names(cls):
  """The names a gin file may bind for `cls`, in constructor order."""
  configurable, _ = _entry(cls)
  return tuple(inspect.signature(configurable).parameters)


def build(cls, **given):
  """`cls(**gin-bound settings, **given)`; `given` must be the stage's own arguments."""
  configurable, given_by_stage = _entry(cls)
  stray = set(given) - set(given_by_stage)
  if stray:  # a second route to a setting gin owns
    raise TypeError(f"{cls.__name__} settings {sorted(stray)} are gin settings, not arguments "
                    "of the stage")
  return cls(**configurable(), **given)


def bound_settings(cls):
  """{name: value} of the settings of `cls` that the current gin config binds."""
  bound = {}
  for name in setting_names(cls):
    try:
      bound[name] = gin.query_parameter(f"{cls.__name__}.{name}")
    except ValueError:
      pass
  return bound


def _entry(cls):
  if cls not in _REGISTRY:
    raise KeyError(f"{cls.__name__} is not registered in constructor_settings")
  return _REGISTRY[cls]
