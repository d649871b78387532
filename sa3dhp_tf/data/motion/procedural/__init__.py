"""Procedural human motion on the H36M-17 skeleton, for the synthetic benchmark.

Each sequence is a set of smooth joint-angle trajectories (degrees) driven through hierarchical
forward kinematics with per-subject bone lengths, so bone lengths are exactly constant. Angles
are anatomical and limited (`JOINT_LIMITS`, enforced by a smooth clamp): knees and elbows bend one
way only, hips/shoulders/spine stay within adult ranges.

Modules, by role:
  body          subjects (bone lengths), the rest skeleton and forward kinematics
  joint_angles  the angle channels, their limits, the smooth clamp, arm swing -> elevation/plane
  curves        smooth building blocks: easing, periodic bumps, smooth noise, stance profiles
  keyframes     keyframed scripts of poses and the episode loop
  actions       the 13 actions (`ACTIONS`) and left/right mirroring
  root_motion   world placement: ground contact, flight, root moving against planted feet
  synthesis     one sequence: action + posture + noise + limits -> kinematics -> root
  corpus        many sequences from one seed

This package's namespace is the public API; import names from here.
"""

from sa3dhp_tf.data.motion.procedural.actions import ACTIONS
from sa3dhp_tf.data.motion.procedural.actions import AIRBORNE_ACTIONS
from sa3dhp_tf.data.motion.procedural.actions import GROUNDED_ACTIONS
from sa3dhp_tf.data.motion.procedural.body import SubjectBody
from sa3dhp_tf.data.motion.procedural.body import sample_subject
from sa3dhp_tf.data.motion.procedural.corpus import generate_corpus
from sa3dhp_tf.data.motion.procedural.joint_angles import CHANNELS
from sa3dhp_tf.data.motion.procedural.joint_angles import JOINT_LIMITS
from sa3dhp_tf.data.motion.procedural.root_motion import GRAVITY_MM
from sa3dhp_tf.data.motion.procedural.synthesis import ProceduralMotion
from sa3dhp_tf.data.motion.procedural.synthesis import generate_sequence
from sa3dhp_tf.data.motion.procedural.synthesis import synthesize
