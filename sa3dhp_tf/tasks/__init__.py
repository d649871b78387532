"""Training stages (one gin-configurable function each). Importing this package registers them."""

from sa3dhp_tf.tasks import dry_run  # noqa: F401  (registers the stage)
from sa3dhp_tf.tasks.registry import check_stage, get_stage, register_stage, stage_names  # noqa: F401
