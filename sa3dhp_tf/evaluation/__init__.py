"""Evaluation helpers: the metrics of `sa3dhp_tf.metrics` and their reports.

Typical use by the evaluate binary:

  results = evaluation.evaluate_all(pred, gt, actions=actions)
  print(evaluation.format_breakdown(results))
  evaluation.write_results_json(results, os.path.join(model_dir, "results.json"))
"""

from sa3dhp_tf.evaluation.breakdown import format_breakdown, write_results_json
from sa3dhp_tf.metrics import (auc, evaluate_all, j14_pa_mpjpe, mpjpe, mpjpe_tf, pa_mpjpe,
                               pa_mpjpe_tf, pck, per_group, per_joint_errors, procrustes_align)

__all__ = ["auc", "evaluate_all", "format_breakdown", "j14_pa_mpjpe", "mpjpe", "mpjpe_tf",
           "pa_mpjpe", "pa_mpjpe_tf", "pck", "per_group", "per_joint_errors", "procrustes_align",
           "write_results_json"]
