"""Resumable training with Keras `fit`: checkpoints, TensorBoard, progress bar, strategies.

Training runs as `total_steps // steps_per_loop` Keras "epochs" of `steps_per_loop` steps. After
each one the model and its optimizers are checkpointed as `model_dir/checkpoints/ckpt-<step>`;
rerunning the same command restores the latest checkpoint and continues from the next loop. The data stream restarts from its seed on resume (it is not checkpointed), so
a resumed run sees a different but equally distributed sequence of batches.
"""

import json
import math
import os
import sys
import time
import warnings

from absl import logging
import keras
import tensorflow as tf

from sa3dhp_tf import distribution
from sa3dhp_tf import errors
from sa3dhp_tf import progress
from sa3dhp_tf import settings

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"


# The one place strategies are chosen (gin: `make_strategy.*`); kept here for the stages' callers.
make_strategy = distribution.make_strategy


class NonFiniteLossError(FloatingPointError):
  pass


class _LoopCallback(keras.callbacks.Callback):
  """Checkpoints after every loop, records the history, and stops on a non-finite loss."""

  def __init__(self, checkpoints, steps_per_loop, history_path):
    super().__init__()
    self._checkpoints = checkpoints
    self._steps_per_loop = steps_per_loop
    self._history_path = history_path
    self.batches_seen = 0
    self._loop_batches = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._loop_batches = 0

  def on_train_batch_end(self, batch, logs=None):
    self.batches_seen += 1
    self._loop_batches += 1
    for key, value in (logs or {}).items():
      if "loss" in key and not math.isfinite(float(value)):
        raise NonFiniteLossError(f"non-finite {key} = {value} at loop step {batch}; "
                                 "lower the learning rate or check the data")

  def on_epoch_end(self, epoch, logs=None):
    step = (epoch + 1) * self._steps_per_loop
    if self._loop_batches < self._steps_per_loop:  # never checkpoint steps that were not taken
      raise _ran_out(self._checkpoints.directory, self._loop_batches, self._steps_per_loop)
    path = self._checkpoints.save(self.model, step)
    record = {"step": step, "time": time.time(),
              **{k: float(v) for k, v in (logs or {}).items()}}
    with open(self._history_path, "a") as f:
      f.write(json.dumps(record) + "\n")
    logging.info("checkpoint %s", path)


class WeightCheckpoints:
  """Keras `.weights.h5` checkpoints `ckpt-<step>.weights.h5` of a model, its optimizers (every
  optimizer that is an attribute of the model) and its non-trainable state.

  Keras weight files are used rather than `tf.train.Checkpoint`, which silently skips Keras 3
  list and dict attributes (e.g. a model's list of Dense layers). Files are written under a
  temporary name and renamed, so a kill mid-save leaves the previous checkpoint intact."""

  def __init__(self, directory, max_to_keep=3):
    self.directory = directory
    self.max_to_keep = max_to_keep
    os.makedirs(directory, exist_ok=True)

  def _path(self, step):
    return os.path.join(self.directory, f"ckpt-{step}.weights.h5")

  def steps(self):
    found = []
    for name in os.listdir(self.directory):
      if name.startswith("ckpt-") and name.endswith(".weights.h5"):
        found.append(int(name[len("ckpt-"):-len(".weights.h5")]))
    return sorted(found)

  def latest(self):
    steps = self.steps()
    return (steps[-1], self._path(steps[-1])) if steps else (0, None)

  def save(self, model, step):
    path = self._path(step)
    tmp = os.path.join(self.directory, f"tmp-{step}.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)
    for old in self.steps()[:-self.max_to_keep]:
      os.remove(self._path(old))
    return path

  def restore(self, model):
    """Loads the latest checkpoint into `model` (compiled, optimizers built); returns its step."""
    step, path = self.latest()
    if path:
      # Keras warns about each part it skips (e.g. the optimizer) before it raises on a model of
      # another shape; those warnings only restate the error below, so they are held back and
      # shown only when the restore succeeds.
      with warnings.catch_warnings(record=True) as held:
        try:
          model.load_weights(path)
          failure = None
        except Exception as e:  # truncated file (h5py/OSError) or another model (ValueError)
          failure = e
      if failure is not None:
        raise errors.UserError(
            f"cannot restore checkpoint {path} ({type(failure).__name__}: "
            f"{errors.first_line(failure)}): it is damaged or was written by a model of another "
            "shape; delete it to restart from the previous one, or use a new model dir"
        ) from failure
      for warning in held:
        warnings.warn_explicit(warning.message, warning.category, warning.filename,
                               warning.lineno)
    return step


def build_optimizers(model):
  """Creates optimizer variables now, so a restore has somewhere to put their saved state."""
  optimizer = getattr(model, "optimizer", None)
  if optimizer is not None and not optimizer.built:
    # In the model's strategy scope: under 'mirrored' and 'multi_worker' the slots are
    # distributed variables (outside it, e.g. the relation nets failed under 'mirrored').
    with model.distribute_strategy.scope():
      optimizer.build(model.trainable_variables)


def read_history(model_dir):
  path = os.path.join(model_dir, "history.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def run_training(model, dataset, model_dir, total_steps, steps_per_loop, callbacks=(),
                 verbose=None, validation_data=None, validation_steps=None):
  """Fits the compiled `model` for `total_steps` steps, resuming from `model_dir/checkpoints`.
  Returns the number of steps trained in this call."""
  settings.check("", {"steps": settings.STEPS, "steps_per_loop": settings.STEPS},
                 {"steps": total_steps, "steps_per_loop": steps_per_loop})
  build_optimizers(model)
  checkpoints = WeightCheckpoints(os.path.join(model_dir, CHECKPOINT_DIR))
  # A non-chief worker writes into a scratch dir but resumes from the chief's checkpoints.
  source = WeightCheckpoints(os.path.join(distribution.checkpoint_source(model_dir),
                                          CHECKPOINT_DIR))
  start = source.restore(model)
  if start:
    logging.info("resumed from step %d of %s", start, model_dir)
  if verbose is None:  # a progress bar on terminals, one line per loop in log files
    verbose = 1 if sys.stdout.isatty() else 2
  if start >= total_steps:
    logging.info("already trained for %d >= %d steps", start, total_steps)
    return 0
  loop_callback = _LoopCallback(checkpoints, steps_per_loop,
                                os.path.join(model_dir, "history.jsonl"))
  board = keras.callbacks.TensorBoard(os.path.join(model_dir, LOG_DIR), update_freq="epoch")
  step_file = progress.callback_from_env(model_dir, start, total_steps, steps_per_loop)
  callbacks = [*callbacks, *([step_file] if step_file else [])]  # a driver's progress bar
  multi_worker = distribution.is_multi_worker(model.distribute_strategy)
  if multi_worker:
    dataset = distribution.shard_by_data(dataset)
    if validation_data is not None:
      validation_data = distribution.shard_by_data(validation_data)
    distribution.with_vector_logs(model)
  try:
    model.fit(dataset, epochs=total_steps // steps_per_loop,
              initial_epoch=start // steps_per_loop,
              # Caller callbacks run first: a kill between them and the checkpoint only repeats
              # the loop, never leaves a checkpoint whose loop they did not see.
              steps_per_epoch=steps_per_loop, callbacks=[*callbacks, loop_callback, board],
              verbose=verbose, validation_data=validation_data, validation_steps=validation_steps,
              shuffle=False)  # tf.data input is shuffled by the pipeline; Keras would only warn
  except distribution.peer_failures() as e:
    if not multi_worker:
      raise
    step, _ = source.latest()
    raise distribution.WorkerLostError(
        f"a worker of the multi-worker run stopped ({type(e).__name__}: "
        f"{errors.first_line(e)}); restart every worker with the same command to resume from "
        f"checkpoint step {step} of {distribution.checkpoint_source(model_dir)}") from e
  expected = total_steps - start
  if loop_callback.batches_seen < expected:
    raise _ran_out(model_dir, loop_callback.batches_seen, expected)
  return expected


def _ran_out(where, seen, expected):
  """Keras only warns "Your input ran out of data" and returns: the model would be saved as
  trained for steps it never took."""
  from sa3dhp_tf.data.schema import DataError
  return DataError(f"the training data of {where} ran out after {seen} of {expected} steps: the "
                   "split yields fewer records than one batch, or every record was skipped; "
                   "lower the batch size or check the data")

