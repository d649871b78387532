"""Resumable training with Keras `fit`: checkpoints, TensorBoard, progress bar, strategies.

Training runs as `total_steps // steps_per_loop` Keras "epochs" of `steps_per_loop` steps. After
each one the model, its optimizers and a step counter are checkpointed under
`model_dir/checkpoints`; rerunning the same command restores the latest checkpoint and continues
from the next loop. The data stream restarts from its seed on resume (it is not checkpointed), so
a resumed run sees a different but equally distributed sequence of batches.
"""

import json
import math
import os
import sys
import time

from absl import logging
import gin
import keras
import numpy as np
import tensorflow as tf

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"


@gin.configurable
def make_strategy(name="default"):
  """'default' (no distribution), 'mirrored' (all local GPUs, or every logical CPU device when
  there is no GPU) or 'one_device'."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
  if name == "one_device":
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  raise ValueError(f"unknown strategy {name!r}; use 'default', 'mirrored' or 'one_device'")


class NonFiniteLossError(FloatingPointError):
  pass


class _LoopCallback(keras.callbacks.Callback):
  """Checkpoints after every loop, records the history, and stops on a non-finite loss."""

  def __init__(self, manager, completed_steps, steps_per_loop, history_path):
    super().__init__()
    self._manager = manager
    self._completed = completed_steps
    self._steps_per_loop = steps_per_loop
    self._history_path = history_path

  def on_train_batch_end(self, batch, logs=None):
    for key, value in (logs or {}).items():
      if "loss" in key and not math.isfinite(float(value)):
        raise NonFiniteLossError(f"non-finite {key} = {value} at loop step {batch}; "
                                 "lower the learning rate or check the data")

  def on_epoch_end(self, epoch, logs=None):
    self._completed.assign((epoch + 1) * self._steps_per_loop)
    path = self._manager.save(checkpoint_number=int(self._completed.numpy()))
    record = {"step": int(self._completed.numpy()), "time": time.time(),
              **{k: float(v) for k, v in (logs or {}).items()}}
    with open(self._history_path, "a") as f:
      f.write(json.dumps(record) + "\n")
    logging.info("checkpoint %s", path)


def read_history(model_dir):
  path = os.path.join(model_dir, "history.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def run_training(model, dataset, model_dir, total_steps, steps_per_loop, checkpoint_objects=None,
                 callbacks=(), verbose=None, validation_data=None, validation_steps=None):
  """Fits `model` for `total_steps` steps, resuming from `model_dir/checkpoints` if present.

  `checkpoint_objects`: extra trackables to checkpoint besides `model` (e.g. optimizers that the
  model does not track itself). Returns the number of steps completed in this call."""
  if total_steps % steps_per_loop:
    raise ValueError(f"total_steps ({total_steps}) must be a multiple of steps_per_loop "
                     f"({steps_per_loop})")
  completed = tf.Variable(0, dtype=tf.int64, trainable=False, name="completed_steps")
  checkpoint = tf.train.Checkpoint(model=model, completed_steps=completed,
                                   **(checkpoint_objects or {}))
  manager = tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_DIR),
                                       max_to_keep=3)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    logging.info("resumed from %s at step %d", manager.latest_checkpoint, int(completed.numpy()))
  start = int(completed.numpy())
  if verbose is None:  # a progress bar on terminals, one line per loop in log files
    verbose = 1 if sys.stdout.isatty() else 2
  if start >= total_steps:
    logging.info("already trained for %d >= %d steps", start, total_steps)
    return 0
  loop_callback = _LoopCallback(manager, completed, steps_per_loop,
                                os.path.join(model_dir, "history.jsonl"))
  board = keras.callbacks.TensorBoard(os.path.join(model_dir, LOG_DIR), update_freq="epoch")
  model.fit(dataset, epochs=total_steps // steps_per_loop, initial_epoch=start // steps_per_loop,
            steps_per_epoch=steps_per_loop, callbacks=[loop_callback, board, *callbacks],
            verbose=verbose, validation_data=validation_data, validation_steps=validation_steps)
  return total_steps - start


def write_json(path, payload):
  def default(o):
    if isinstance(o, (np.floating, np.integer)):
      return o.item()
    if isinstance(o, np.ndarray):
      return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o)}")
  with open(path, "w") as f:
    json.dump(payload, f, indent=2, default=default)
  return path
