"""Keras 3 models of the method (see docs/ARCHITECTURE.md).

| paper | class |
|---|---|
| E_p, D_p | `PoseAutoencoder` (`.encoder`, `.decoder`) |
| E_m, D_m | `MotionAutoencoder` (`.encoder`, `.decoder`) |
| G^s, G | `ImageToLatent`; source training `SourcePoseRegressor` |
| T^z, T^v | `RelationNetwork` |
"""

from sa3dhp_tf.modeling.backbones import Backbone
from sa3dhp_tf.modeling.backbones import BACKBONE_STAGES
from sa3dhp_tf.modeling.backbones import backbone_stage_layers
from sa3dhp_tf.modeling.backbones import backbone_stages
from sa3dhp_tf.modeling.backbones import backbone_names
from sa3dhp_tf.modeling.backbones import build_backbone
from sa3dhp_tf.modeling.backbones import get_backbone
from sa3dhp_tf.modeling.backbones import register_backbone
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.image_to_latent import SourcePoseRegressor
from sa3dhp_tf.modeling.layers import BoundedLatent
from sa3dhp_tf.modeling.layers import NonFiniteLossGuard
from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
from sa3dhp_tf.modeling.pose_autoencoder import H36M_MEAN_BONE_LENGTHS_MM
from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
from sa3dhp_tf.modeling.relation_network import RelationNetwork
