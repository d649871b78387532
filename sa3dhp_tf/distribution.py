"""Where a stage runs: the distribution strategy, the numeric precision, and who writes outputs.

One gin configurable, `make_strategy`, chooses for every stage (README "Several machines, GPUs
and TPUs"):

  make_strategy.name = 'default'       no distribution (one device)
                     = 'one_device'    the first GPU, else the CPU
                     = 'mirrored'      every local GPU (every logical CPU device without a GPU)
                     = 'multi_worker'  MultiWorkerMirroredStrategy over the cluster in TF_CONFIG
                     = 'tpu'           TPUStrategy from a TPUClusterResolver (`make_strategy.tpu`)
  make_strategy.mixed_precision = None | 'mixed_float16' | 'mixed_bfloat16'

Multi-worker runs follow TF's fault-tolerance recipe (the one Keras `BackupAndRestore` uses):
every worker runs the same command; only the chief (task 'chief', or 'worker' 0 when the
cluster has no chief) writes into `--model_dir` (checkpoints, stage outputs, results, configs,
logs); the other workers write the same files into a temporary directory that is removed at the
end, and restore from the chief's checkpoints, so `--model_dir` must be a path every worker can
read (a shared file system). When a worker dies the others stop with `WorkerLostError`;
restarting every worker with the same command resumes from the chief's last checkpoint.

Collective ops must be configured before TensorFlow initialises its runtime, so the binary
calls `make_strategy()` right after parsing gin, and every later call returns that instance.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import gin

from sa3dhp_tf import errors

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = (None, "float32", "mixed_float16", "mixed_bfloat16")

_CACHE = {}
# write dir of a non-chief worker -> the chief's model dir, whose checkpoints it restores.
_CHIEF_DIRS = {}


class WorkerLostError(errors.UserError):
  """A peer of a multi-worker run stopped; restarting every worker resumes the run."""


@gin.configurable("make_strategy")
def strategy_settings(name="default", mixed_precision=None, tpu=None, collective_timeout_s=None):
  """The settings of `make_strategy` (gin binds them under that name).

  Args:
    name: one of `STRATEGIES`.
    mixed_precision: a Keras mixed-precision policy, or None/'float32'. 'mixed_float16' is for
      GPUs (with dynamic loss scaling, added by the models' compile), 'mixed_bfloat16' for TPUs
      and recent CPUs/GPUs. Losses, energies, InfoNCE and metrics stay float32.
    tpu: for name='tpu', the TPU's name or grpc address given to `TPUClusterResolver`
      ('local' on a TPU VM; None reads the TPU_NAME environment variable).
    collective_timeout_s: for name='multi_worker', how long a collective waits for a peer
      before the run stops (None: TF's default, wait for the coordination service to notice).
  """
  if name not in STRATEGIES:
    raise errors.UserError(f"make_strategy.name = {name!r} is not a strategy; use one of "
                           + ", ".join(repr(s) for s in STRATEGIES))
  if mixed_precision not in PRECISIONS:
    raise errors.UserError(f"make_strategy.mixed_precision = {mixed_precision!r} is not a "
                           "policy; use None, 'mixed_float16' or 'mixed_bfloat16'")
  return {"name": name, "mixed_precision": mixed_precision, "tpu": tpu,
          "collective_timeout_s": collective_timeout_s}


def make_strategy():
  """The strategy the gin settings ask for (one instance per process), with the mixed-precision
  policy applied globally (models built afterwards compute in it)."""
  settings = strategy_settings()
  key = tuple(sorted(settings.items(), key=lambda kv: kv[0]))
  apply_precision(settings["mixed_precision"])  # every call: the policy is process-global
  if key not in _CACHE:
    _CACHE.clear()
    _CACHE[key] = _build(settings)
  return _CACHE[key]


def _build(settings):
  import tensorflow as tf
  name = settings["name"]
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
  if name == "one_device":
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  if name == "multi_worker":
    return _multi_worker(settings["collective_timeout_s"])
  return _tpu(settings["tpu"])


def read_tf_config():
  """TF_CONFIG as a dict ({} when unset); a malformed one is a UserError naming it."""
  text = os.environ.get("TF_CONFIG", "")
  if not text.strip():
    return {}
  try:
    tf_config = json.loads(text)
  except json.JSONDecodeError as e:
    raise errors.UserError(f"TF_CONFIG is not JSON: {e}") from e
  cluster, task = tf_config.get("cluster"), tf_config.get("task")
  if not isinstance(cluster, dict) or not isinstance(task, dict):
    raise errors.UserError("TF_CONFIG needs a 'cluster' dict and a 'task' dict, e.g. "
                           '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                           '"task": {"type": "worker", "index": 0}}')
  kind, index = task.get("type"), task.get("index")
  if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
    raise errors.UserError(f"TF_CONFIG task {task} is not in its cluster {cluster}")
  return tf_config


def is_chief(tf_config=None):
  """True for the task that writes outputs: 'chief', or 'worker' 0 in a cluster without one
  (TF's convention); True outside a multi-worker cluster."""
  tf_config = read_tf_config() if tf_config is None else tf_config
  if not tf_config:
    return True
  kind, index = tf_config["task"]["type"], tf_config["task"]["index"]
  if kind == "chief":
    return True
  return kind == "worker" and index == 0 and "chief" not in tf_config["cluster"]


def _multi_worker(collective_timeout_s):
  import tensorflow as tf
  tf_config = read_tf_config()
  if not tf_config:
    raise errors.UserError("make_strategy.name = 'multi_worker' needs the TF_CONFIG environment "
                           "variable of this worker (README 'Several machines')")
  options = tf.distribute.experimental.CommunicationOptions(
      timeout_seconds=collective_timeout_s,
      implementation=tf.distribute.experimental.CommunicationImplementation.RING)
  try:
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
  except RuntimeError as e:  # the runtime was initialised before the strategy
    raise RuntimeError("MultiWorkerMirroredStrategy must be created before any TensorFlow op "
                       "runs: call distribution.make_strategy() first") from e


def _tpu(tpu):
  import tensorflow as tf
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    raise errors.UserError(
        f"make_strategy.name = 'tpu': no TPU found (make_strategy.tpu = {tpu!r}): "
        f"{errors.first_line(e)}; set make_strategy.tpu to the TPU's name or grpc address "
        "('local' on a TPU VM)") from e
  return tf.distribute.TPUStrategy(resolver)


def apply_precision(policy):
  """Sets Keras' global dtype policy ('float32' for None)."""
  import keras
  keras.mixed_precision.set_global_policy(policy or "float32")


def loss_scaled(optimizer):
  """`optimizer` wrapped in Keras' dynamic loss scaling when the policy is mixed_float16 (float16
  gradients underflow without it; bfloat16 has float32's range and needs none). Models that
  compile their own optimizers call this, as `keras.Model.compile` does for its one optimizer."""
  import keras
  if (keras.mixed_precision.global_policy().name == "mixed_float16"
      and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


@contextlib.contextmanager
def worker_model_dir(model_dir):
  """The directory this process writes its outputs to: `model_dir` on the chief (and outside a
  cluster); on the other workers of a 'multi_worker' run a temporary directory, removed on
  exit, whose checkpoint reads are redirected to `model_dir` (see `checkpoint_source`)."""
  if strategy_settings()["name"] != "multi_worker" or is_chief():
    yield model_dir
    return
  # A fixed name per (model dir, task): a restarted worker first removes what a killed one left.
  task = read_tf_config()["task"]
  digest = hashlib.sha1(os.path.abspath(model_dir).encode()).hexdigest()[:12]
  scratch = os.path.join(tempfile.gettempdir(),
                         f"sa3dhp_worker_{task['type']}{task['index']}_{digest}")
  shutil.rmtree(scratch, ignore_errors=True)
  os.makedirs(scratch)
  _CHIEF_DIRS[scratch] = model_dir
  try:
    yield scratch
  finally:
    _CHIEF_DIRS.pop(scratch, None)
    shutil.rmtree(scratch, ignore_errors=True)


def checkpoint_source(model_dir):
  """The model dir whose checkpoints a run writing into `model_dir` restores from."""
  return _CHIEF_DIRS.get(model_dir, model_dir)


def is_multi_worker(strategy):
  import tensorflow as tf
  return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def peer_failures():
  """The errors a collective raises when a peer worker stopped or cannot be reached."""
  import tensorflow as tf
  return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
          tf.errors.CancelledError, tf.errors.InternalError)


def shard_by_data(dataset):
  """Every worker runs the whole input pipeline and keeps its share of each global batch
  (`AutoShardPolicy.DATA`): the workers together see exactly the batches one worker would, which
  keeps multi-worker training equivalent to single-worker training at the same global batch
  (file sharding would give each worker other shards, and a different data order)."""
  import tensorflow as tf
  options = tf.data.Options()
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return dataset.with_options(options)


def with_vector_logs(model):
  """Makes `model.train_step`/`test_step` return every scalar log as a `[1]` vector.

  Keras 3 `fit` reduces the per-replica logs of a MultiWorkerMirroredStrategy with
  `strategy.reduce(MEAN, v, axis=0)`, which fails on scalars ("Invalid reduction dimension 0 for
  input with 0 dimensions"; DESIGN.md section 3). A `[1]` log reduces over replicas and that axis
  to the same scalar mean. Applied per instance, only for multi-worker runs."""
  import tensorflow as tf

  def vectorised(step):
    def wrapped(data):
      return tf.nest.map_structure(
          lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, step(data))
    return wrapped

  if not getattr(model, "_sa3dhp_vector_logs", False):
    model.train_step = vectorised(model.train_step)
    model.test_step = vectorised(model.test_step)
    model._sa3dhp_vector_logs = True  # pylint: disable=protected-access
  return model
