"""sa3dhp_tf: self-adaptive 3D human pose estimation by non-local latent relation distillation.

TensorFlow/Keras implementation of Kundu et al., NeurIPS 2021.
"""

__version__ = "0.1.0"

from sa3dhp_tf import quiet_tensorflow as _quiet_tensorflow

_quiet_tensorflow.install()
