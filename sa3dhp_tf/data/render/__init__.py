"""OpenCV renderer of posed 3D bodies and its gin-configured styles ('source', 'target', ...).

This package's namespace is the public API; `renderer` describes the model and lists the modules.
"""

from sa3dhp_tf.data.render.appearance import Appearance
from sa3dhp_tf.data.render.appearance import sample_appearance
from sa3dhp_tf.data.render.checks import validate_pose
from sa3dhp_tf.data.render.degradation import degrade
from sa3dhp_tf.data.render.degradation import jpeg_roundtrip
from sa3dhp_tf.data.render.drawing import render_body
from sa3dhp_tf.data.render.renderer import render_frame
from sa3dhp_tf.data.render.renderer import render_pose
from sa3dhp_tf.data.render.renderer import render_sequence
from sa3dhp_tf.data.render.styles import CameraRanges
from sa3dhp_tf.data.render.styles import RenderStyle
from sa3dhp_tf.data.render.styles import describe_style
from sa3dhp_tf.data.render.styles import get_style
from sa3dhp_tf.data.render.styles import make_style
from sa3dhp_tf.data.render.styles import style_file
