"""Relation pairs in latent space: what the relation networks are trained on (the
`relation_nets` stage) and what their non-localness is measured on (`evaluation/nonlocality`).
Both import it from here, so neither reaches into the other."""

import tensorflow as tf

from sa3dhp_tf import relations


def encode_pose_windows(pose_encoder, windows_batch):
  """E_p applied per frame: `[B, T, 17, 3]` -> `[B, T, latent_dim]`."""
  shape = tf.shape(windows_batch)
  codes = pose_encoder(tf.reshape(windows_batch, [-1, shape[2], 3]), training=False)
  return tf.reshape(codes, [shape[0], shape[1], -1])


class LatentPairs:
  """Maps pose samples of one relation to (anchor code, counterpart code) pairs: z = E_p(pose)
  for pose relations, v = E_m(E_p(window)) for motion relations."""

  def __init__(self, relation, pose_ae, motion_ae, theta, pose_side=None):
    self.relation = relation
    self.pose_side = pose_side or relation
    self.pose_ae = pose_ae
    self.motion_ae = motion_ae
    self.theta = theta

  def __call__(self, samples):
    anchor, counterpart = self.pose_side.pose_pair(samples, self.theta)
    if self.relation.space == relations.POSE:
      return (self.pose_ae.encoder(anchor, training=False),
              self.pose_ae.encoder(counterpart, training=False))
    encode = lambda w: self.motion_ae.encoder(encode_pose_windows(self.pose_ae.encoder, w),
                                              training=False)
    return encode(anchor), encode(counterpart)
