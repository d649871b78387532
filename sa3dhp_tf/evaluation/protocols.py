"""Evaluation protocols of the standard benchmarks, one registry entry each.

The gin binding `evaluation_protocol.name` selects one (the paper-setting experiment files do);
every evaluation of a labeled split (`pose_evaluation.evaluate_split`: the evaluate binary, the
adapt stage's final report) then adds that benchmark's headline numbers under
`results['protocol']`, next to the full set of metrics it always computes:
- 'h36m': MPJPE and PA-MPJPE (mm), 17 joints, root-relative (Human3.6M S9 + S11);
- '3dhp': PCK at 150 mm and AUC over 0..150 mm (x100), 17 joints, on `univ_annot3` labels
  (MPI-INF-3DHP test set, valid frames; the converter writes them so);
- '3dpw': PA-MPJPE on the 14 LSP joints (skeleton.H36M_TO_J14, pelvis subtracted first), as
  SPIN's evaluation (3DPW test set), plus the 14-joint MPJPE.
Each also names the split it is meant for; evaluating another split is allowed and noted.
"""

import dataclasses
from typing import Callable, Dict, Tuple

import gin

from sa3dhp_tf import errors
from sa3dhp_tf import metrics
from sa3dhp_tf import skeleton


@dataclasses.dataclass(frozen=True)
class Protocol:
  name: str
  dataset: str
  split: str
  headline: Tuple[str, ...]
  compute: Callable[..., Dict[str, float]]


_REGISTRY: Dict[str, Protocol] = {}


def register(protocol: Protocol) -> Protocol:
  if protocol.name in _REGISTRY:
    raise ValueError(f"protocol {protocol.name!r} is already registered")
  _REGISTRY[protocol.name] = protocol
  return protocol


def get_protocol(name: str) -> Protocol:
  try:
    return _REGISTRY[name]
  except KeyError:
    raise errors.UserError(f"evaluate_model.protocol: unknown protocol {name!r}; known: "
                           f"{', '.join(sorted(_REGISTRY))}") from None


@gin.configurable
def evaluation_protocol(name=None):
  """The protocol selected in gin (None: none); checked here so a typo fails at once."""
  if name is not None:
    get_protocol(name)
  return name


def protocol_names():
  return sorted(_REGISTRY)


def apply(name: str, pred, gt, split: str) -> dict:
  """The protocol's headline metrics of root-relative poses `[N, 17, 3]` (mm)."""
  protocol = get_protocol(name)
  values = protocol.compute(pred, gt)
  return {"name": protocol.name, "dataset": protocol.dataset, "split": split,
          "intended_split": protocol.split, **{k: float(values[k]) for k in protocol.headline}}


register(Protocol("h36m", "Human3.6M S9+S11", "target_test", ("mpjpe", "pa_mpjpe"),
                  lambda p, g: {"mpjpe": metrics.mpjpe(p, g), "pa_mpjpe": metrics.pa_mpjpe(p, g)}))
register(Protocol("3dhp", "MPI-INF-3DHP test set (univ_annot3)", "target_test", ("pck", "auc"),
                  lambda p, g: {"pck": metrics.pck(p, g), "auc": metrics.auc(p, g)}))
register(Protocol(
    "3dpw", "3DPW test set, 14 joints", "target_test", ("pa_mpjpe_14", "mpjpe_14"),
    lambda p, g: {"pa_mpjpe_14": metrics.j14_pa_mpjpe(p, g),
                  "mpjpe_14": metrics.mpjpe(skeleton.to_j14(p), skeleton.to_j14(g))}))
