"""The adaptation-step benchmark's library (tools/bench_adapt_step.py is its binary): the
step variants (round robin / joint, XLA off / on) of `RelationDistillationModel` on one fixed
batch, the frames each step feeds G, interleaved timed rounds, and the comparison with the
target input pipeline (`benchmarks/input_pipeline.py`). Reads no flags; see the tool's docstring
for what is measured and how.
"""

import gc
import json
import statistics
import time

import numpy as np
import tensorflow as tf

from sa3dhp_tf import relations
from sa3dhp_tf import reproducibility
from sa3dhp_tf.benchmarks import input_pipeline
from sa3dhp_tf.benchmarks.input_pipeline import BenchError
from sa3dhp_tf.data import batch_contract as contract
from sa3dhp_tf.model_widths import TINY
from sa3dhp_tf.modeling import adaptation
from sa3dhp_tf.modeling import energies as energy_lib
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
from sa3dhp_tf.modeling.relation_network import RelationNetwork

XLA_OFF, XLA_ON = "xla_off", "xla_on"
SCHEDULES = ("round_robin", "joint")
PIPELINE = "pipeline"

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
    # The shared tiny widths (`model_widths.TINY`, also tests' and tiny/stages.gin's).
    "tiny": {
        "image_to_latent": {"backbone": "small_resnet", "latent_range": 1.0,
                            "latent_dim": TINY["pose_autoencoder"]["latent_dim"],
                            **TINY["image_to_latent"]},
        "pose_autoencoder": {"latent_range": 1.0, **TINY["pose_autoencoder"]},
        "motion_autoencoder": {"latent_dim": TINY["pose_autoencoder"]["latent_dim"],
                               **TINY["motion_autoencoder"]},
        "relation_network": dict(TINY["relation_network"]),
        "adaptation": {"trainable_stages": ("res3",), **TINY["adaptation"]},
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


def check_energies(energies):
  """Energies this benchmark can feed from target windows alone (the generated clips): those
  whose registry entry reads only 'window', 'augmented' and relation counterparts."""
  energies = tuple(energies)
  if not energies:
    raise BenchError("--energies must name at least one energy")
  if len(set(energies)) != len(energies):
    raise BenchError(f"--energies has duplicates: {list(energies)}")
  for energy in energies:
    try:
      energy_lib.get_energy(energy)
    except KeyError as e:
      raise BenchError(f"--energies: {e.args[0]}") from None
    if not energy_lib.reads_target_windows_only(energy):
      feedable = [e for e in energy_lib.energy_names() if energy_lib.reads_target_windows_only(e)]
      raise BenchError(f"--energies: {energy!r} reads "
                       f"{list(energy_lib.get_energy(energy).batch_keys)}, but this benchmark "
                       f"generates target windows only; energies it can feed: {feedable}")
  return energies


def relation_keys_of(energies):
  return energy_lib.relation_keys(energies)


def build_components(config, image_size, relation_keys, seed):
  """Fresh (untrained) G, D_p, E_m and relation networks of the given widths."""

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
  adapt_config = config["adaptation"]
  model = adaptation.RelationDistillationModel(
      **components, energies=energies, trainable_stages=adapt_config["trainable_stages"],
      projection_units=adapt_config["projection_units"])
  model.compile(schedule=schedule, jit_compile=jit_compile)
  if bool(model.jit_compile) != jit_compile:
    raise RuntimeError(f"compile(jit_compile={jit_compile}) gave jit_compile={model.jit_compile}")
  return model


def _selection_length(selector, window_length):
  return int(selector(tf.range(window_length), -1).shape[0])


def g_frames_per_step(model, names, batch_shapes):
  """Images one step minimising `names` feeds G, from the batch keys the energies read and the
  batch shapes and the energies' anchor selections (registry entries): with one anchor
  selection the step feeds G only those frames of the window. Returns `(frames, keys)`."""
  keys = model.required_batch_keys(names)
  selections = []
  for name in names:
    selector = energy_lib.get_energy(name).anchor_frames
    if selector is not None and selector not in selections:
      selections.append(selector)
  frames = 0
  for key in keys:
    shape = batch_shapes[key]
    if not contract.is_image_key(key):
      continue
    lead = shape[:-3]  # [B, T] of clips [B, T, H, W, 3], [N] of frames
    count = 1
    for d in lead:
      count *= d
    if key == contract.WINDOW and len(selections) == 1 and not model.backbone_training:
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
    self.model = model
    self.train_function = model.make_train_function()
    self.iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    self.cycle = model.cycle

  def step(self):
    """Runs the next step of the schedule; returns (energy names, seconds)."""
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
  per_window = input_pipeline.frames_per_window(len(relation_keys), with_augmented=True)
  dataset = input_pipeline.build_pipeline(paths, batch_size, "full", relation_keys, cores, seed=seed)
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
        samples[key].append(input_pipeline.time_pipeline(
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
      "window_frames_per_sec": windows_per_sec * input_pipeline.WINDOW_LENGTH,
      "output_frames_per_sec": windows_per_sec * per_window,
      "round_output_frames_per_sec": [p["output_frames_per_sec"] for p in passes],
      "note": ("median over rounds of one pass of --pipeline_batches batches on a fresh "
               "iterator after its warm-up; " + input_pipeline.OUTPUT_FRAMES_NOTE),
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
