"""A corpus of procedural sequences: actions cycled, subjects drawn, each sequence a function of
(seed, index) alone."""

from typing import List, Sequence, Union

import numpy as np

from sa3dhp_tf.data.motion.procedural import actions as action_lib
from sa3dhp_tf.data.motion.procedural import body
from sa3dhp_tf.data.motion.procedural import synthesis


def generate_corpus(seed: int, num_sequences: int, num_frames: int,
                    actions: Sequence[str] = action_lib.ACTIONS,
                    subjects: Union[None, int, Sequence[body.SubjectBody]] = None,
                    fps: float = 30.0) -> List[dict]:
  """`num_sequences` sequences cycling through `actions`, each by a subject drawn from
  `subjects` (a list of SubjectBody, a number of subjects to sample from `seed`, or None for 5).

  Returns dicts with poses `[num_frames, 17, 3]`, action, subject_id and sequence_id
  ('proc<seed>_<index>'). Sequence i depends only on (seed, i) and the subject list, not on
  `num_sequences`.
  """
  actions = tuple(actions)
  if not actions:
    raise ValueError("actions is empty")
  for action in actions:
    if action not in action_lib.ACTION_FUNCTIONS:
      raise ValueError(f"unknown action {action!r}; known: {action_lib.ACTIONS}")
  if subjects is None or isinstance(subjects, int):
    count = 5 if subjects is None else int(subjects)
    if count < 1:
      raise ValueError(f"need at least one subject, got {count}")
    subjects = [body.sample_subject(np.random.default_rng([seed, 1, k]), f"proc{seed}_s{k:02d}")
                for k in range(count)]
  subjects = list(subjects)
  if not subjects:
    raise ValueError("subjects is empty")
  corpus = []
  for i in range(int(num_sequences)):
    rng = np.random.default_rng([seed, 0, i])
    action = actions[i % len(actions)]
    subject = subjects[int(rng.integers(len(subjects)))]
    poses = synthesis.generate_sequence(rng, action, subject, num_frames, fps)
    corpus.append({"poses": poses, "action": action, "subject_id": subject.subject_id,
                   "sequence_id": f"proc{seed}_{i:05d}"})
  return corpus
