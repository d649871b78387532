"""The adaptation stage's results as a typed record: what `tasks/adapt.py:adapt` returns and
writes to `<model_dir>/results.json`, and what the ablation reads (`evaluation/ablation.py`).

The JSON keys are the field names, so results written before this record existed load too.
"""

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from sa3dhp_tf import json_files

RESULTS_FILE = "results.json"


@dataclasses.dataclass
class AdaptationResults:
  """energies: the energies trained ('auto' resolved), in round-robin order.
  theta: the in-plane angle of the relations (degrees).
  selection_rule: the label-free rule that picked `selected_step`.
  selected_step / best_step_by_target_labels: the snapshot the rule picked, and the one target
    labels would have picked (reported, never used).
  target_test_mpjpe_at_selected_step_subset / ..._at_best_step_subset: target MPJPE of those
    snapshots on the per-loop evaluation subset (mm).
  selected: split -> `pose_evaluation.summary` of the selected snapshot on the whole split.
  criterion_correlations: criterion -> Spearman correlation with target MPJPE (or None).
  before_adaptation: 'relation_residuals_source' / 'relation_residuals_target': relation key ->
    |T(G^s x) - G^s(T x)| before adapting.
  latent_spread_target_before / _selected: spread of G's target latents at step 0 and at the
    selected snapshot.
  collapsed_at_step: the step the collapse monitor fired at, or None.
  curve: the per-loop snapshot records (`selection.jsonl`).
  """
  energies: List[str]
  theta: float
  selection_rule: str
  selected_step: int
  best_step_by_target_labels: int
  target_test_mpjpe_at_best_step_subset: float
  target_test_mpjpe_at_selected_step_subset: float
  selected: Dict[str, Dict[str, Any]]
  criterion_correlations: Dict[str, Optional[float]]
  before_adaptation: Dict[str, Dict[str, float]]
  latent_spread_target_before: float
  latent_spread_target_selected: float
  collapsed_at_step: Optional[int]
  curve: List[Dict[str, Any]]
  # split -> records skipped as unreadable (`bad_records.skip`); empty when none were.
  dropped_records: Dict[str, int] = dataclasses.field(default_factory=dict)

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, payload: Dict[str, Any]) -> "AdaptationResults":
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [f.name for f in dataclasses.fields(cls)
               if f.name not in payload and f.default_factory is dataclasses.MISSING]
    if missing:
      raise KeyError(f"adaptation results lack {missing}")
    return cls(**{n: payload[n] for n in names if n in payload})

  def save(self, model_dir: str) -> str:
    return json_files.write_json(os.path.join(model_dir, RESULTS_FILE), self.to_json())

  @classmethod
  def load(cls, model_dir: str) -> "AdaptationResults":
    with open(os.path.join(model_dir, RESULTS_FILE)) as f:
      return cls.from_json(json.load(f))

  def target_mpjpe(self) -> float:
    return self.selected["target_test"]["mpjpe"]
