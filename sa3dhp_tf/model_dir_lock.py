"""One run per model dir at a time.

Two runs of a stage in one model dir (a job restarted while the first still runs, an ablation
started twice) both resume from its checkpoints and overwrite each other's: nothing fails, and
the result mixes two runs. `exclusive` holds an advisory `flock` on the directory itself for the
run's lifetime: no lock file is left among the outputs, and the kernel releases the lock when the
process ends, however it ends (SIGKILL too), so there is never a stale lock to clean up and a
resumed run after a kill starts normally.
"""

import contextlib
import fcntl
import os

from sa3dhp_tf import errors


@contextlib.contextmanager
def exclusive(model_dir, flag="--model_dir"):
  """Holds the lock of the existing directory `model_dir` inside the block; raises a UserError
  naming `flag` and the dir when another process holds it."""
  fd = os.open(model_dir, os.O_RDONLY | os.O_DIRECTORY)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise errors.UserError(f"{flag} {model_dir} is in use by another run: wait for it to end "
                             "or stop it (a stopped run resumes from its checkpoints)") from None
    yield model_dir
  finally:
    os.close(fd)  # releases the lock
