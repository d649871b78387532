"""`dry_run`: resolves a configuration, checks the relations it names and writes a summary,
without training. Useful to validate a gin file before a long job."""

import json
import os

import gin

from sa3dhp_tf import config
from sa3dhp_tf.config import bound_value
from sa3dhp_tf import relations
from sa3dhp_tf.tasks.registry import register_stage


def check_relation_keys(parameter, default):
  keys = bound_value(parameter, default)
  for key in keys:
    try:
      relations.get_relation(key)
    except KeyError as e:
      raise config.ConfigError(f"{parameter}: {e.args[0]}") from None


@register_stage("dry_run", check=lambda: check_relation_keys("dry_run.relation_keys",
                                                             ("z3", "v2", "v3")))
@gin.configurable
def dry_run(model_dir, relation_keys=("z3", "v2", "v3"), theta=relations.DEFAULT_THETA):
  """Writes `dry_run.json` listing the resolved relations (each looked up in the registry)."""
  resolved = [relations.get_relation(k) for k in relation_keys]
  summary = {
      "relations": [{"key": r.key, "name": r.name, "space": r.space,
                     "window_length": r.window_length} for r in resolved],
      "theta": float(theta),
  }
  with open(os.path.join(model_dir, "dry_run.json"), "w") as f:
    json.dump(summary, f, indent=2)
  return summary
