r"""The gradient-alignment screen: which adaptation energies point at the truth?

  python tools/energy_alignment.py --model_dir=D --output_dir=OUT \
      [--relation_nets_dir=R] [--placebo_relation_nets_dir=P] [--energies=lcr,hcr,z3,...] \
      [--snapshot_steps=0,200] [--split=target_test] [--clips=2] [--batches=24] [--seed=0]

D is a finished `source` stage (G^s; give --relation_nets_dir for relation energies) or `adapt`
stage (its G^s, relation networks and trainable stages are read from its stage_info.json; with
--snapshot_steps the screen runs at each of those adaptation snapshots, default: step 0 and the
selected step). For every energy, per batch of `--clips` labeled target clips, the cosine between
its gradient on the variables adaptation trains and the gradient of the labeled target error
(`sa3dhp_tf/evaluation/energy_alignment.py`); mean ± sem over `--batches` batches. Energies
default to the contrastive pair, the guards 'source' and 'latent_spread', every relation the
relation networks have and, with --placebo_relation_nets_dir, 'placebo:<key>' of each.

TARGET LABELS ARE USED HERE FOR DIAGNOSIS ONLY: nothing this tool measures may select, tune or
stop an adaptation run that is then reported as label-free.

Writes OUT/energy_alignment.json (every per-batch cosine, the summary, the Spearman correlation
between alignment and each relation's non-localness, paper Fig. 4), OUT/energy_alignment.md
and OUT/energy_alignment.png (bars with ± sem). Projection heads and the domain discriminator
are freshly initialised (seeded) at every state screened: the stages save G only.
Bad input prints one `error: ...` line and exits with status 2.
"""

import os
import time

from absl import flags

from sa3dhp_tf import errors
from sa3dhp_tf import lineage

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A finished source or adapt stage.")
flags.DEFINE_string("output_dir", None, "Where the JSON, markdown and plot go.")
flags.DEFINE_list("relation_nets_dir", None,
                  "Relation networks (default: the adapt stage's; needed for relations); "
                  "several dirs: each relation from the first that has it.")
flags.DEFINE_string("placebo_relation_nets_dir", None,
                    "Placebo relation networks: adds 'placebo:<key>' energies.")
flags.DEFINE_list("energies", None, "Energies to screen (default: see the docstring).")
flags.DEFINE_list("snapshot_steps", None,
                  "Adapt stage only: snapshot steps to screen (default: 0 and the selected one).")
flags.DEFINE_string("data_dir", None, "Benchmark (default: the stage's).")
flags.DEFINE_string("split", "target_test", "Labeled clip split the batches come from.")
flags.DEFINE_integer("clips", 2, "Clips per batch (the adaptation batch size).")
flags.DEFINE_integer("batches", 24, "Batches per screened state.")
flags.DEFINE_integer("source_batch_size", 32, "Source frames per batch for the 'source' energy.")
flags.DEFINE_list("trainable_stages", None,
                  "G's stages whose gradient is taken (default: the adapt stage's, else res3).")
flags.DEFINE_integer("seed", 0, "Seed of the batch order, augmentations and fresh heads.")

DEFAULT_ENERGIES = ("lcr", "hcr", "source", "latent_spread")
LABELED_CLIP_SPLITS = ("source_test", "target_test")


def _check_flags():
  errors.require_flags(FLAGS, "model_dir", "output_dir")
  for name in ("clips", "batches", "source_batch_size"):
    if getattr(FLAGS, name) < 1:
      raise errors.UserError(f"--{name} must be at least 1, got {getattr(FLAGS, name)}")
  if FLAGS.batches < 2:
    raise errors.UserError("--batches must be at least 2 (the sem needs two batches)")
  if FLAGS.split not in LABELED_CLIP_SPLITS:
    raise errors.UserError(f"--split must be a labeled clip split, one of {LABELED_CLIP_SPLITS}; "
                           f"got {FLAGS.split!r}")


def _stage_inputs(stage_store):
  """(source_dir, relation_nets_dir, trainable_stages, snapshot steps or None, info)."""
  info = stage_store.read_stage_info(FLAGS.model_dir)
  if info["stage"] not in ("source", "adapt"):
    raise errors.UserError(f"--model_dir {FLAGS.model_dir}: a {info['stage']!r} stage; give a "
                           "source or adapt stage")
  if info["stage"] == "source":
    if FLAGS.snapshot_steps:
      raise errors.UserError("--snapshot_steps: only for an adapt stage; --model_dir "
                             f"{FLAGS.model_dir} is a source stage")
    return (FLAGS.model_dir, list(FLAGS.relation_nets_dir or []),
            FLAGS.trainable_stages or ["res3"], None, info)
  steps = ([int(s) for s in FLAGS.snapshot_steps] if FLAGS.snapshot_steps
           else sorted({0, int(info["results"]["selected_step"])}))
  return (info["inputs"]["source"],
          list(FLAGS.relation_nets_dir or [info["inputs"].get("relation_nets")] * bool(
              info["inputs"].get("relation_nets"))),
          FLAGS.trainable_stages or info["settings"].get("trainable_stages", ["res3"]),
          steps, info)


def _relation_dirs(stage_store, dirs):
  """{relation key: the first of `dirs` whose relation_nets stage has it}, and the infos."""
  owners, infos = {}, {}
  for d in dirs:
    infos[d] = stage_store.read_stage_info(d, "relation_nets")
    for key in infos[d]["settings"]["relation_keys"]:
      owners.setdefault(key, d)
  for d in dirs[1:]:
    for role in ("pose_aae", "motion_aae"):  # by content: a link to the same stage is fine
      try:
        lineage.check_shared(role, d, infos[d], dirs[0], infos[dirs[0]])
      except lineage.LineageError as e:
        raise errors.UserError(f"--relation_nets_dir: {e}") from None
  return owners, infos


def _default_energies(owners, placebo):
  keys = [k for k in _relation_order() if k in owners]
  return (list(DEFAULT_ENERGIES) + keys
          + ([f"placebo:{k}" for k in keys] if placebo else []))


def _batches(data_dir, energies, relation_keys, theta, seed):
  import tensorflow as tf
  from sa3dhp_tf.data import batch_contract as contract
  from sa3dhp_tf.data import pipelines
  from sa3dhp_tf.data import records
  from sa3dhp_tf.evaluation.energy_alignment import base_energy
  from sa3dhp_tf.modeling import energies as energy_lib
  keys = set(energy_lib.batch_keys([base_energy(e) for e in energies]))
  dataset = pipelines.target_windows(
      records.shard_paths(data_dir, FLAGS.split), FLAGS.clips, relation_keys=relation_keys,
      theta=theta, with_augmented=contract.AUGMENTED in keys, seed=seed, with_poses=True)
  if contract.SOURCE_IMAGE in keys:
    source = pipelines.source_frames(records.shard_paths(data_dir, "source"),
                                     FLAGS.source_batch_size, seed=seed + 1)
    dataset = tf.data.Dataset.zip(
        (dataset, source.map(lambda b: contract.rename_frames(b, contract.SOURCE_FRAME_KEYS))))
    dataset = dataset.map(lambda a, b: {**a, **b})
  return dataset.take(FLAGS.batches)


def _models(inputs, placebo_nets, energies, trainable_stages):
  from sa3dhp_tf.evaluation.energy_alignment import base_energy, is_placebo
  from sa3dhp_tf.modeling import adaptation

  def build(nets, names):
    return adaptation.RelationDistillationModel(
        inputs.network, pose_decoder=inputs.pose_ae.decoder,
        motion_encoder=None if inputs.motion_ae is None else inputs.motion_ae.encoder,
        relation_networks=nets, energies=tuple(names), trainable_stages=tuple(trainable_stages))

  paper = [base_energy(e) for e in energies if not is_placebo(e)]
  placebo = [base_energy(e) for e in energies if is_placebo(e)]
  models = {"paper": build(inputs.relation_nets, paper or ["source"])}
  if placebo:
    models["placebo"] = build(placebo_nets, placebo)
  return models


def _plot(path, states):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  names = list(next(iter(states.values()))["summary"])
  fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) * len(states)), 4))
  width = 0.8 / len(states)
  for i, (label, state) in enumerate(states.items()):
    summary = state["summary"]
    x = [j + i * width for j in range(len(names))]
    ax.bar(x, [summary[n]["mean"] for n in names], width,
           yerr=[summary[n]["sem"] for n in names], capsize=3, label=label)
  ax.axhline(0.0, color="black", linewidth=0.8)
  ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))])
  ax.set_xticklabels(names, rotation=45, ha="right")
  ax.set_ylabel("cos(grad energy, grad target error)")
  ax.set_title("Energy alignment with the labeled target error (diagnosis only)")
  ax.legend()
  fig.tight_layout()
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=110)
  plt.close(fig)
  os.replace(tmp, path)


def _markdown(payload):
  lines = [f"# Energy alignment: {payload['model_dir']}", "",
           "Cosine between each energy's gradient on G's trainable variables "
           f"({', '.join(payload['trainable_stages'])}) and the gradient of the labeled target "
           f"error, mean ± sem over {payload['batches']} batches of {payload['clips']} "
           f"{payload['split']} clips. Target labels are used for diagnosis only.", ""]
  states = payload["states"]
  lines.append("| energy | " + " | ".join(states) + " |")
  lines.append("|---|" + "---|" * len(states))
  for name in payload["energies"]:
    cells = []
    for state in states.values():
      s = state["summary"][name]
      cells.append("no gradient" if s["n"] == 0 else f"{s['mean']:+.3f} ± {s['sem']:.3f}")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  lines.append("")
  for label, state in states.items():
    lines.append(f"{label}: target error on the screen batches {state['target_error_mm']:.1f} mm"
                 "; Spearman rho (non-localness vs alignment): "
                 + ", ".join(f"{space} {c['spearman'] if c['spearman'] is None else round(c['spearman'], 3)}"
                             f" (n={len(c['keys'])})"
                             for space, c in state["nonlocality_correlation"].items()))
  return "\n".join(lines) + "\n"


def _relation_order():
  from sa3dhp_tf import relations
  return relations.relation_keys()


def run():
  _check_flags()  # before TensorFlow's import: a bad flag costs nothing
  import numpy as np
  from sa3dhp_tf import json_files
  from sa3dhp_tf import relations
  from sa3dhp_tf import reproducibility
  from sa3dhp_tf import stage_store
  from sa3dhp_tf.evaluation import energy_alignment as alignment
  from sa3dhp_tf.evaluation import nonlocality
  from sa3dhp_tf.modeling import energies as energy_lib
  from sa3dhp_tf.tasks import adapt as adapt_stage
  out_dir = errors.ensure_writable_dir(FLAGS.output_dir, "--output_dir")
  reproducibility.seed_everything(FLAGS.seed)
  source_dir, relation_dirs, trainable_stages, steps, info = _stage_inputs(stage_store)
  snapshots = {}
  for step in steps or []:
    snapshots[step] = os.path.join(FLAGS.model_dir, adapt_stage.SNAPSHOT_DIR,
                                   f"g-{step}.weights.h5")
    if not os.path.isfile(snapshots[step]):
      raise errors.UserError(f"--snapshot_steps: {FLAGS.model_dir} has no snapshot at step "
                             f"{step} ({snapshots[step]})")
  owners, relation_infos = _relation_dirs(stage_store, relation_dirs)
  relation_info = relation_infos[relation_dirs[0]] if relation_dirs else None
  energies = FLAGS.energies or _default_energies(owners, FLAGS.placebo_relation_nets_dir)
  for name in energies:
    if alignment.is_placebo(name) and not FLAGS.placebo_relation_nets_dir:
      raise errors.UserError(f"--energies: {name!r} needs --placebo_relation_nets_dir")
    try:
      entry = energy_lib.get_energy(alignment.base_energy(name))
    except KeyError as e:
      raise errors.UserError(f"--energies: {e.args[0]}") from None
    if alignment.is_placebo(name) and entry.relation is None:
      raise errors.UserError(f"--energies: {name!r}: only relations have a placebo")
    if entry.requires(energy_lib.TARGET_LABELS):
      raise errors.UserError(f"--energies: {name!r} reads target labels; the screen compares "
                             "label-free energies with the labeled error")
  relation_keys = sorted({alignment.base_energy(e) for e in energies
                          if energy_lib.get_energy(alignment.base_energy(e)).relation})
  paper_keys = [k for k in relation_keys if k in energies]
  placebo_keys = [k for k in relation_keys if f"placebo:{k}" in energies]
  missing = [k for k in paper_keys if k not in owners]
  if missing:
    raise errors.UserError(f"--relation_nets_dir: relation energies {missing} need relation "
                           f"networks; {relation_dirs or 'none given'} have "
                           f"{sorted(owners)}")
  inputs = adapt_stage.load_inputs(source_dir, relation_dirs[0] if relation_dirs else None,
                                   [k for k in paper_keys if owners[k] == relation_dirs[0]])
  for d in relation_dirs[1:]:
    keys = [k for k in paper_keys if owners[k] == d]
    if keys:
      inputs.relation_nets.update(adapt_stage.load_inputs(source_dir, d, keys).relation_nets)
  placebo_nets = {}
  if placebo_keys:
    placebo = adapt_stage.load_inputs(source_dir, FLAGS.placebo_relation_nets_dir, placebo_keys)
    placebo_nets = placebo.relation_nets
  theta = adapt_stage.resolve_theta(None, inputs, relation_dirs[0] if relation_dirs else None)
  for d in relation_dirs[1:]:
    if float(relation_infos[d]["settings"]["theta"]) != theta:
      raise errors.UserError(f"--relation_nets_dir: {d} was trained with theta = "
                             f"{relation_infos[d]['settings']['theta']}, {relation_dirs[0]} "
                             f"with {theta}")
  data_dir = FLAGS.data_dir or info["settings"]["data_dir"]
  models = _models(inputs, placebo_nets, energies, trainable_stages)

  distances, spaces = {}, {}
  if relation_info:
    measured = nonlocality.measure_nonlocality(relation_info["inputs"]["pose_aae"],
                                               relation_info["inputs"]["motion_aae"], data_dir,
                                               theta=theta)
    distances = {k: float(v["latent_distance"]) for k, v in measured["distances"].items()}
    spaces = {k: relations.get_relation(k).space for k in distances}

  states = {}
  for step in (steps if steps is not None else [None]):
    label = "G^s" if step is None else f"adapt step {step}"
    if step is not None:
      inputs.network.load_weights(snapshots[step])
    started = time.time()
    result = alignment.screen(
        models, _batches(data_dir, energies, relation_keys, theta, FLAGS.seed), energies,
        progress=lambda i, label=label, started=started: print(
            f"[energy_alignment] {label}: batch {i}/{FLAGS.batches}, "
            f"{time.time() - started:.0f} s", flush=True))
    if len(result.target_error_mm) < FLAGS.batches:
      raise errors.UserError(f"--batches: {FLAGS.split} gave only {len(result.target_error_mm)} "
                             f"batches of {FLAGS.clips} clips")
    summary = alignment.summarize(result)
    states[label] = {"step": step, "summary": summary, "cosines": result.cosines,
                     "target_error_mm": float(np.mean(result.target_error_mm)),
                     "nonlocality_correlation": alignment.nonlocality_correlation(
                         {k: summary[k] for k in paper_keys}, distances, spaces),
                     "seconds": round(time.time() - started, 1)}
  payload = {"model_dir": os.path.abspath(FLAGS.model_dir), "stage": info["stage"],
             "relation_nets_dir": relation_dirs,
             "placebo_relation_nets_dir": FLAGS.placebo_relation_nets_dir,
             "data_dir": data_dir, "split": FLAGS.split, "clips": FLAGS.clips,
             "batches": FLAGS.batches, "seed": FLAGS.seed,
             "trainable_stages": list(trainable_stages), "energies": list(energies),
             "latent_distances": distances,
             "note": "target labels used for diagnosis only; projection heads and the domain "
                     "discriminator freshly initialised (seeded) at every state",
             "states": states}
  json_files.write_json(os.path.join(out_dir, "energy_alignment.json"), payload)
  text = _markdown(payload)
  tmp = os.path.join(out_dir, "energy_alignment.md.tmp")
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, os.path.join(out_dir, "energy_alignment.md"))
  _plot(os.path.join(out_dir, "energy_alignment.png"), states)
  return text


def main(argv):
  errors.check_positional(argv)
  try:
    print(run(), end="")
  except FileNotFoundError as e:
    raise errors.UserError(str(e)) from e


if __name__ == "__main__":
  errors.run(main)
