r"""Times the adaptation train step (`RelationDistillationModel`) with and without XLA, and
compares the frames it consumes with what the target input pipeline delivers, in one run.

  python tools/bench_adapt_step.py [--batch_size=4] [--image_size=64] [--rounds=5] \
      [--warmup=1] [--output=bench_adapt_step.json]

Variants, all on one fixed in-memory batch of B clips (read once from the pipeline):
  round_robin/xla_off, round_robin/xla_on   one energy per step, in `--energies` order (the
                                            paper's schedule): one compiled step per energy;
  joint/xla_off, joint/xla_on               one step applying every energy's optimiser;
  pipeline                                  `pipelines.target_windows` on generated JPEG clips
                                            (tools/bench_input.py's records and timer).
Each step function is first called once (trace + compile + one run, reported as
`first_call_seconds` / `trace_compile_seconds`), then run `--warmup` untimed cycles. The timed
part is `--rounds` rounds; each round runs every variant once (a full cycle of steps, or one
pipeline pass), in forward order on even rounds and reverse order on odd ones, so the variants
see the same machine load. Medians over rounds are reported, and XLA on / off ratios per
schedule (> 1: XLA is slower).

Frames: a step feeds G the frames of the batch keys its energies read
(`model.required_batch_keys(names)`): each 30-frame clip it reads, plus from the 60-frame
window only the 30 anchor frames when the energies share one anchor selection (else the whole
window). The count is also taken from G's traced input shapes and both are reported. Each step
pulls one whole batch from the pipeline (B * (60 + 30 + 30 * relations) frames) whatever it
feeds G, so whether the step waits on input is decided by pipeline batches/s over steps/s.

The model is the default CPU configuration (small_resnet G at --image_size, fc (1024, 512),
latent 32 in [-1, 1]; D_p of a fresh pose AAE; E_m of a fresh motion AAE, lstm 128, motion 128;
relation networks (512, 512), z codes bounded by 1); `--tiny` shrinks every width (for tests).
Weights are untrained: the timing does not depend on them. The process is pinned to --cores
CPUs and TF thread pools are sized to match; the JSON goes to stdout and --output.
"""

import gc
import json
import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags

# bench_input's record generator and pipeline timer are reused. Importing it registers its flags;
# the flags both tools share (same meaning) are redefined below with allow_override, the others
# are rejected in main if given.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_input  # noqa: E402  pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
_SHARED = dict(allow_override=True)
flags.DEFINE_integer("batch_size", 4, "Clips (60-frame windows) per batch.", lower_bound=1,
                     **_SHARED)
flags.DEFINE_integer("image_size", 64, "Frame side (generated clips and G's input).",
                     lower_bound=8, **_SHARED)
flags.DEFINE_integer("num_clips", 16, "Generated 60-frame clips.", lower_bound=1, **_SHARED)
flags.DEFINE_integer("num_shards", 2, "Shards of the generated clips.", lower_bound=1, **_SHARED)
flags.DEFINE_integer("cores", 2, "CPU cores to run on (affinity and thread pools).",
                     lower_bound=1, **_SHARED)
flags.DEFINE_string("output", None, "Also write the JSON result to this file.", **_SHARED)
flags.DEFINE_integer("seed", 0, "Seed of the models, the generated data and the pipeline.",
                     **_SHARED)
flags.DEFINE_integer("rounds", 5, "Timed rounds (every variant once per round).", lower_bound=1)
flags.DEFINE_integer("warmup", 1, "Untimed cycles per variant after the tracing call.",
                     lower_bound=0)
flags.DEFINE_integer("cycles_per_round", 1, "Schedule cycles per variant per round (round "
                     "robin: one step per energy; joint: one step).", lower_bound=1)
flags.DEFINE_list("energies", ["lcr", "hcr", "z3", "v2", "v3"],
                  "Energies (round-robin order): 'lcr', 'hcr' and relation keys.")
flags.DEFINE_boolean("tiny", False, "Tiny model widths (tests / smoke runs).")
flags.DEFINE_integer("pipeline_batches", 8, "Timed pipeline batches per round.", lower_bound=1)
flags.DEFINE_integer("pipeline_warmup_batches", 2, "Untimed pipeline batches before each "
                     "round's pass (at least).", lower_bound=0)
flags.DEFINE_float("pipeline_warmup_seconds", 1.0, "Untimed pipeline time before each round's "
                   "pass (at least): a fresh iterator per pass lets tf.data autotuning settle "
                   "and stops its threads between passes.", lower_bound=0.0)

# bench_input flags that mean nothing here.
_FOREIGN_FLAGS = ("data_dir", "split", "resize", "relation_keys", "warmup_batches",
                  "warmup_seconds", "passes", "batches_per_pass", "deterministic", "step_seconds")

XLA_OFF, XLA_ON = "xla_off", "xla_on"
SCHEDULES = ("round_robin", "joint")
PIPELINE = "pipeline"
ALLOWED_BUILTINS = ("lcr", "hcr")

# Model widths: the default CPU configuration, and a tiny one for tests.
MODEL_CONFIGS = {
    "default": {
        "image_to_latent": {"backbone": "small_resnet", "fc_units": (1024, 512),
                            "latent_dim": 32, "latent_range": 1.0,
                            "backbone_widths": (32, 64, 128), "backbone_blocks": (2, 2, 2)},
        "pose_autoencoder": {"latent_dim": 32, "latent_range": 1.0},
        "motion_autoencoder": {"latent_dim": 32, "lstm_units": 128, "motion_dim": 128},
        "relation_network": {"hidden_units": (512, 512)},
        "adaptation": {"projection_units": (256, 128), "trainable_stages": ("res3",)},
    },
    "tiny": {
        "image_to_latent": {"backbone": "small_resnet", "fc_units": (16, 16), "latent_dim": 8,
                            "latent_range": 1.0, "backbone_widths": (4, 4, 4),
                            "backbone_blocks": (1, 1, 1)},
        "pose_autoencoder": {"latent_dim": 8, "latent_range": 1.0, "encoder_units": (16,),
                             "decoder_units": (16,), "discriminator_units": (8,)},
        "motion_autoencoder": {"latent_dim": 8, "lstm_units": 4, "motion_dim": 12,
                               "discriminator_units": (8,)},
        "relation_network": {"hidden_units": (8,)},
        "adaptation": {"projection_units": (16, 8), "trainable_stages": ("res3",)},
    },
}

SHARED_CORES_NOTE = (
    "the step and the input pipeline were timed separately here, each with all --cores cores; in "
    "a real run they share the same cores, so the step runs slower while the pipeline works and "
    "the pipeline delivers less than measured: a batch ratio near 1 means the step will wait")
FRAMES_NOTE = (
    "g_frames_per_step: images the step feeds G (the 30-frame clips its energies read, plus the "
    "30 anchor frames of the 60-frame window, or all 60 when its energies use two anchor "
    "selections, e.g. joint with v3's raw[::2]); batch_frames_per_step: frames of the batch the "
    "step pulls (B * (60 + 30 + 30 * relations)), which the pipeline must deliver per step "
    "whatever G sees. pipeline_vs_consumption = pipeline output frames/s over G frames/s (as "
    "frames); pipeline_vs_step_batches = pipeline batches/s over steps/s, the one that decides "
    "whether the step waits on input (> 1: it does not)")


class BenchError(ValueError):
  """A bad flag or input; printed as one line."""


def check_energies(energies):
  """Energies this benchmark can feed from target windows alone: 'lcr', 'hcr', relation keys."""
  from sa3dhp_tf import relations
  energies = tuple(energies)
  if not energies:
    raise BenchError("--energies must name at least one energy")
  if len(set(energies)) != len(energies):
    raise BenchError(f"--energies has duplicates: {list(energies)}")
  for energy in energies:
    if energy in ALLOWED_BUILTINS:
      continue
    try:
      relations.get_relation(energy)
    except KeyError:
      raise BenchError(f"--energies: {energy!r} is neither one of {ALLOWED_BUILTINS} nor a "
                       f"relation key {relations.relation_keys()} (guards need source data, "
                       "which this benchmark does not generate)") from None
  return energies


def relation_keys_of(energies):
  return tuple(e for e in energies if e not in ALLOWED_BUILTINS)


def build_components(config, image_size, relation_keys, seed):
  """Fresh (untrained) G, D_p, E_m and relation networks of the given widths."""
  from sa3dhp_tf import relations
  from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
  from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
  from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
  from sa3dhp_tf.modeling.relation_network import RelationNetwork

  from sa3dhp_tf import reproducibility
  reproducibility.seed_everything(seed)  # seeds tf.data ops too
  reproducibility.set_op_determinism(False)  # Keras drops XLA under it; the XLA rows need it off
  g = ImageToLatent(input_size=image_size, **config["image_to_latent"])
  pose_ae = PoseAutoencoder(**config["pose_autoencoder"])
  motion_ae = MotionAutoencoder(**config["motion_autoencoder"])
  nets = {}
  for key in relation_keys:
    if relations.get_relation(key).space == relations.POSE:
      dim, output_range = pose_ae.latent_dim, pose_ae.latent_range
    else:
      dim, output_range = motion_ae.motion_dim, None
    nets[key] = RelationNetwork(dim=dim, output_range=output_range, name=f"relation_{key}",
                                **config["relation_network"])
  return {"image_to_latent": g, "pose_decoder": pose_ae.decoder,
          "motion_encoder": motion_ae.encoder, "relation_networks": nets}


def make_model(components, energies, config, schedule, jit_compile):
  """A compiled `RelationDistillationModel` (the sub-models are shared between variants)."""
  from sa3dhp_tf.modeling import adaptation
  adapt_config = config["adaptation"]
  model = adaptation.RelationDistillationModel(
      **components, energies=energies, trainable_stages=adapt_config["trainable_stages"],
      projection_units=adapt_config["projection_units"])
  model.compile(schedule=schedule, jit_compile=jit_compile)
  if bool(model.jit_compile) != jit_compile:
    raise RuntimeError(f"compile(jit_compile={jit_compile}) gave jit_compile={model.jit_compile}")
  return model


def _selection_length(selector, window_length):
  import tensorflow as tf
  return int(selector(tf.range(window_length), -1).shape[0])


def g_frames_per_step(model, names, batch_shapes):
  """Images one step minimising `names` feeds G, from the batch keys the energies read and the
  batch shapes (mirrors `compute_energies`: one anchor selection -> only its frames of the
  window). Returns `(frames, keys)`."""
  from sa3dhp_tf import relations
  from sa3dhp_tf.geometry import windows
  from sa3dhp_tf.modeling import adaptation
  keys = model.required_batch_keys(names)
  selections = []
  for name in names:
    if name in (adaptation.SOURCE, adaptation.TARGET_SUPERVISED):
      continue
    selector = (windows.middle_clip if name in adaptation.BUILTIN_ENERGIES
                else relations.get_relation(name).anchor_frames)
    if selector not in selections:
      selections.append(selector)
  frames = 0
  for key in keys:
    shape = batch_shapes[key]
    if key.endswith("pose3d"):
      continue
    lead = shape[:-3]  # [B, T] of clips [B, T, H, W, 3], [N] of frames
    count = 1
    for d in lead:
      count *= d
    if key == adaptation.WINDOW and len(selections) == 1 and not model.backbone_training:
      count = count // lead[-1] * _selection_length(selections[0], lead[-1])
    frames += count
  return frames, keys


class GFrameCounter:
  """Records the leading (frame) dimension of every `call_with_features` input of G while
  active: used around the tracing call of a step, it counts the frames the traced step feeds G.
  Installed as an instance attribute (`__dict__`, bypassing Keras attribute tracking)."""

  def __init__(self, image_to_latent):
    self.g = image_to_latent
    self.frames = []

  def __enter__(self):
    original = type(self.g).call_with_features.__get__(self.g)

    def counting(images, training=False):
      self.frames.append(images.shape[0])
      return original(images, training=training)

    self.frames = []
    self.g.__dict__["call_with_features"] = counting
    return self

  def __exit__(self, *exc):
    self.g.__dict__.pop("call_with_features", None)
    return False

  def total(self):
    if not self.frames or any(f is None for f in self.frames):
      return None
    return int(sum(self.frames))


class StepVariant:
  """One compiled model with its train function and an in-memory iterator over one batch."""

  def __init__(self, model, batch):
    import tensorflow as tf
    self.model = model
    self.train_function = model.make_train_function()
    self.iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    self.cycle = model.cycle

  def step(self):
    """Runs the next step of the schedule; returns (energy names, seconds)."""
    import numpy as np
    names = self.model.next_energies()
    start = time.perf_counter()
    logs = self.train_function(self.iterator)
    for value in logs.values():  # the step has finished once its outputs are read
      np.asarray(value)
    return names, time.perf_counter() - start

  def run_cycles(self, cycles):
    """`cycles` full schedule cycles; returns a list of (names, seconds) per step."""
    return [self.step() for _ in range(cycles * len(self.cycle))]


def _median(values):
  return statistics.median(values) if values else None


def _ratio(numerator, denominator):
  if numerator is None or not denominator:
    return None
  return numerator / denominator


def summarise_variant(schedule, cycle, first_calls, samples_by_round, g_frames):
  """Medians of the timed rounds of one (schedule, xla) variant."""
  per_entry = {}
  for names in cycle:
    label = "+".join(names)
    samples = [s for round_samples in samples_by_round for n, s in round_samples if n == names]
    median = _median(samples)
    first = first_calls[names]
    per_entry[label] = {
        "energies": list(names),
        "median_seconds": median,
        "samples_seconds": samples,
        "first_call_seconds": first,
        "trace_compile_seconds": first - median,
        "g_frames_per_step": g_frames[names]["frames"],
    }
  # Per round: the mean step time over its steps (a full cycle, or several).
  round_means = [statistics.mean(s for _, s in round_samples)
                 for round_samples in samples_by_round]
  summary = {
      "step_median_seconds": _median(round_means),
      "round_mean_seconds": round_means,
      "trace_compile_seconds": sum(e["trace_compile_seconds"] for e in per_entry.values()),
      "first_call_seconds": sum(e["first_call_seconds"] for e in per_entry.values()),
      "g_frames_per_step": statistics.mean(g_frames[n]["frames"] for n in cycle),
  }
  if schedule == "round_robin":
    summary["per_energy"] = per_entry
    summary["mean_of_per_energy_medians_seconds"] = statistics.mean(
        e["median_seconds"] for e in per_entry.values())
    summary["note"] = ("step_median_seconds: median over rounds of the mean step time of a full "
                       "cycle (one step per energy)")
  else:
    (entry,) = per_entry.values()
    summary.update(entry)
    summary["note"] = "one step minimising every energy"
  return summary


def xla_ratios(schedule, off, on, rounds_off, rounds_on):
  """xla_on / xla_off: of the medians, and the median of the per-round paired ratios."""
  ratio = {"step": _ratio(on["step_median_seconds"], off["step_median_seconds"]),
           "paired_round_median": _median([b / a for a, b in zip(rounds_off, rounds_on)]),
           "trace_compile": _ratio(on["trace_compile_seconds"], off["trace_compile_seconds"])}
  if schedule == "round_robin":
    ratio["per_energy"] = {k: _ratio(on["per_energy"][k]["median_seconds"], v["median_seconds"])
                           for k, v in off["per_energy"].items()}
  ratio["note"] = "xla_on / xla_off; > 1: XLA is slower"
  return ratio


def input_vs_step(variant_summary, pipeline_summary, batch_frames_per_step):
  """Frames the step consumes per second vs what the pipeline delivers."""
  seconds = variant_summary["step_median_seconds"]
  g_frames = variant_summary["g_frames_per_step"]
  steps_per_sec = 1.0 / seconds
  consumed = g_frames * steps_per_sec
  needed = batch_frames_per_step * steps_per_sec
  batch_ratio = pipeline_summary["batches_per_sec"] / steps_per_sec
  return {
      "step_seconds": seconds,
      "steps_per_sec": steps_per_sec,
      "g_frames_per_step": g_frames,
      "consumed_g_frames_per_sec": consumed,
      "batch_frames_per_step": batch_frames_per_step,
      "needed_input_frames_per_sec": needed,
      "pipeline_output_frames_per_sec": pipeline_summary["output_frames_per_sec"],
      "pipeline_vs_consumption": pipeline_summary["output_frames_per_sec"] / consumed,
      "pipeline_vs_step_batches": batch_ratio,
      "step_waits_on_input": batch_ratio < 1.0,
  }


def run_benchmark(paths, energies, config_name="default", batch_size=4, image_size=64, rounds=8,
                  warmup=1, cycles_per_round=1, cores=2, seed=0, pipeline_batches=8,
                  pipeline_warmup_batches=2, pipeline_warmup_seconds=1.0, log=None):
  """Builds the four step variants and the pipeline, traces, warms up, times interleaved rounds
  and returns the JSON dict."""
  log = log or (lambda message: None)
  energies = check_energies(energies)
  relation_keys = relation_keys_of(energies)
  config = MODEL_CONFIGS[config_name]
  timings = {}

  # The pipeline, and one batch of it as the steps' fixed input.
  start = time.perf_counter()
  per_window = bench_input.frames_per_window(len(relation_keys), with_augmented=True)
  dataset = bench_input.build_pipeline(paths, batch_size, "full", relation_keys, cores, seed=seed)
  timings["build_pipeline_seconds"] = time.perf_counter() - start
  start = time.perf_counter()
  components = build_components(config, image_size, relation_keys, seed)
  variants = {}
  for schedule in SCHEDULES:
    for xla in (XLA_OFF, XLA_ON):
      variants[(schedule, xla)] = make_model(components, energies, config, schedule,
                                             xla == XLA_ON)
  timings["build_models_seconds"] = time.perf_counter() - start
  any_model = next(iter(variants.values()))
  needed = any_model.required_batch_keys()
  full_batch = next(iter(dataset))
  batch = {k: full_batch[k] for k in needed}
  del full_batch
  batch_shapes = {k: [int(d) for d in v.shape] for k, v in batch.items()}
  batch_frames_per_step = batch_size * per_window
  for key in needed:
    if key not in batch_shapes:
      raise RuntimeError(f"the pipeline gave no {key!r}; it gave {sorted(batch_shapes)}")
  variants = {key: StepVariant(model, batch) for key, model in variants.items()}

  # Tracing: the first call of every step function (trace + compile + one run), counting the
  # frames G is traced on.
  start = time.perf_counter()
  first_calls = {key: {} for key in variants}
  g_frames = {key: {} for key in variants}
  counter = GFrameCounter(components["image_to_latent"])
  for key, variant in variants.items():
    for _ in variant.cycle:
      with counter:
        names, seconds = variant.step()
      first_calls[key][names] = seconds
      analytic, keys = g_frames_per_step(variant.model, names, batch_shapes)
      traced = counter.total()
      g_frames[key][names] = {"frames": analytic, "traced_frames": traced, "batch_keys": keys}
      if traced is not None and traced != analytic:
        log(f"warning: {key[0]}/{key[1]} {'+'.join(names)}: G was traced on {traced} frames, "
            f"the batch keys give {analytic}")
      log(f"traced {key[0]}/{key[1]} {'+'.join(names)}: {seconds:.1f} s")
  timings["trace_total_seconds"] = time.perf_counter() - start

  start = time.perf_counter()
  for variant in variants.values():
    variant.run_cycles(warmup)
  timings["warmup_seconds"] = time.perf_counter() - start

  # Timed rounds, interleaved; the direction alternates.
  order = list(variants) + [PIPELINE]
  samples = {key: [] for key in order}
  start = time.perf_counter()
  for index in range(rounds):
    for key in (order if index % 2 == 0 else order[::-1]):
      if key == PIPELINE:
        samples[key].append(bench_input.time_pipeline(
            dataset, batch_size, per_window, pipeline_warmup_batches, 1, pipeline_batches,
            pipeline_warmup_seconds))
        gc.collect()  # the pass's iterator and its threads are gone before the next variant
      else:
        samples[key].append(variants[key].run_cycles(cycles_per_round))
    log(f"round {index + 1}/{rounds} done")
  timings["timed_rounds_seconds"] = time.perf_counter() - start

  steps = {}
  for schedule in SCHEDULES:
    entry = {}
    for xla in (XLA_OFF, XLA_ON):
      variant = variants[(schedule, xla)]
      entry[xla] = summarise_variant(schedule, variant.cycle, first_calls[(schedule, xla)],
                                     samples[(schedule, xla)], g_frames[(schedule, xla)])
    entry["xla_on_vs_off"] = xla_ratios(schedule, entry[XLA_OFF], entry[XLA_ON],
                                        entry[XLA_OFF]["round_mean_seconds"],
                                        entry[XLA_ON]["round_mean_seconds"])
    steps[schedule] = entry

  passes = samples[PIPELINE]
  windows_per_sec = _median([p["windows_per_sec"] for p in passes])
  pipeline = {
      "relation_keys": list(relation_keys),
      "outputs": passes[0]["outputs"],
      "window_shape": passes[0]["window_shape"],
      "frames_per_window": per_window,
      "frames_per_batch": batch_frames_per_step,
      "windows_per_sec": windows_per_sec,
      "batches_per_sec": windows_per_sec / batch_size,
      "window_frames_per_sec": windows_per_sec * bench_input.WINDOW_LENGTH,
      "output_frames_per_sec": windows_per_sec * per_window,
      "round_output_frames_per_sec": [p["output_frames_per_sec"] for p in passes],
      "note": ("median over rounds of one pass of --pipeline_batches batches on a fresh "
               "iterator after its warm-up; " + bench_input.OUTPUT_FRAMES_NOTE),
  }
  comparison = {f"{schedule}/{xla}": input_vs_step(steps[schedule][xla], pipeline,
                                                   batch_frames_per_step)
                for schedule in SCHEDULES for xla in (XLA_OFF, XLA_ON)}
  comparison["note"] = FRAMES_NOTE
  comparison["shared_cores"] = SHARED_CORES_NOTE

  return {
      "settings": {"batch_size": batch_size, "image_size": image_size, "rounds": rounds,
                   "warmup": warmup, "cycles_per_round": cycles_per_round,
                   "energies": list(energies), "model": config_name,
                   "model_config": json.loads(json.dumps(config)), "cores": cores,
                   "seed": seed, "pipeline_batches": pipeline_batches,
                   "pipeline_warmup_batches": pipeline_warmup_batches,
                   "pipeline_warmup_seconds": pipeline_warmup_seconds,
                   "round_order": "variants " + ", ".join(
                       k if isinstance(k, str) else "/".join(k) for k in order)
                                  + "; reversed on odd rounds",
                   "batch_shapes": batch_shapes},
      "frames_per_step": {f"{schedule}/{xla}": {
          "+".join(n): v for n, v in g_frames[(schedule, xla)].items()}
          for schedule in SCHEDULES for xla in (XLA_OFF, XLA_ON)},
      "step": steps,
      "pipeline": pipeline,
      "input_vs_step": comparison,
      "timings": timings,
  }


def _run(tmp_dir):
  energies = check_energies(FLAGS.energies)  # before generating data
  paths = bench_input.make_clip_records(tmp_dir, FLAGS.num_clips, FLAGS.image_size,
                                        FLAGS.num_shards, seed=FLAGS.seed)
  data = {"source": "generated", "records": FLAGS.num_clips, "shards": len(paths),
          "image_size": [FLAGS.image_size] * 2,
          "content": ("smooth random colour fields + noise, JPEG quality "
                      f"{bench_input.JPEG_QUALITY} (tools/bench_input.py)")}
  log = lambda message: print(f"[bench_adapt_step] {message}", file=sys.stderr, flush=True)
  result = run_benchmark(paths, energies, "tiny" if FLAGS.tiny else "default", FLAGS.batch_size,
                         FLAGS.image_size, FLAGS.rounds, FLAGS.warmup, FLAGS.cycles_per_round,
                         FLAGS.cores, FLAGS.seed, FLAGS.pipeline_batches,
                         FLAGS.pipeline_warmup_batches, FLAGS.pipeline_warmup_seconds, log)
  return {"tool": "bench_adapt_step", "data": data, **result}


def main(argv):
  if len(argv) > 1:
    _fail(f"unexpected positional arguments: {' '.join(argv[1:])}")
  foreign = [name for name in _FOREIGN_FLAGS if name in FLAGS and FLAGS[name].present]
  if foreign:
    _fail(f"--{foreign[0]} is a tools/bench_input.py flag, not used by this benchmark")
  started = time.perf_counter()
  cpus = bench_input.pin_cores(FLAGS.cores)
  load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(FLAGS.cores)
  tf.config.threading.set_inter_op_parallelism_threads(FLAGS.cores)
  try:
    with tempfile.TemporaryDirectory(prefix="bench_adapt_step_") as tmp_dir:
      result = _run(tmp_dir)
  except (BenchError, bench_input.BenchError) as e:
    _fail(str(e))
  result["cpus"] = cpus
  # Other processes on these cores slow every variant alike (they are interleaved), but a
  # 1-minute load average well above --cores makes the absolute numbers pessimistic.
  result["load_average_1min"] = {"before": load_before,
                                 "after": os.getloadavg()[0] if load_before is not None else None}
  result["timings"]["total_seconds"] = time.perf_counter() - started
  text = json.dumps(result, indent=2)
  if FLAGS.output:
    directory = os.path.dirname(os.path.abspath(FLAGS.output))
    os.makedirs(directory, exist_ok=True)
    with open(FLAGS.output, "w") as f:
      f.write(text + "\n")
  print(text)


def _fail(message):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


if __name__ == "__main__":
  app.run(main)
