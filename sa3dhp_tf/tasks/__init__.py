"""Training stages (one gin-configurable function each). Importing this package registers them."""

from sa3dhp_tf.tasks import adapt  # noqa: F401  (each import registers its stage)
from sa3dhp_tf.tasks import dry_run  # noqa: F401
from sa3dhp_tf.tasks import motion_aae  # noqa: F401
from sa3dhp_tf.tasks import pose_aae  # noqa: F401
from sa3dhp_tf.tasks import relation_nets  # noqa: F401
from sa3dhp_tf.tasks import source_model  # noqa: F401
from sa3dhp_tf.tasks.registry import (  # noqa: F401
    check_stage, get_stage, register_stage, selected_stage, stage_names)  # noqa: F401
