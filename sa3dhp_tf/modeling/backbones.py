"""CNN backbones of the image-to-latent network `G^s` / `G`, with named residual stages.

Each backbone is one `register_backbone(Backbone(...))` entry (construction, preprocessing,
whether ImageNet weights exist, the layer-name prefixes of its stages); `ImageToLatent.backbone`
names one. The registered ones:

- 'resnet50': `keras.applications.ResNet50` truncated after the Res-4 stage (its layer
  'conv4_block6_out', the paper's "Res-4F"); stride 16, 1024 channels.
- 'mobilenet_v2': `keras.applications.MobileNetV2` (alpha 1.0) truncated at
  'block_13_expand_relu', its last stride-16 map (576 channels), before block 13's stride-2
  depthwise conv. Stages by output stride: stem = Conv1 + expanded_conv (2), res2 = blocks 1-2
  (4), res3 = blocks 3-5 (8), res4 = blocks 6-12 and block 13's expansion (16).
  `tools/fetch_backbone_weights.py` writes an offline ImageNet weights file for it.
- 'small_resnet': a small residual CNN for CPU runs at 64-128 px: a stride-2 3x3 stem, then three
  stages res2, res3, res4 of basic residual blocks (two 3x3 convs + BatchNorm, identity or 1x1
  projection shortcut); res3 and res4 start with stride 2, so the output stride is 8.

All are functional `keras.Model`s whose layer names tell their stage (`stage_of_layer_name`):
ResNet50: conv1_* / pool1_* = 'stem', conv2_* = 'res2', conv3_* = 'res3', conv4_* = 'res4';
MobileNetV2: as listed above; small_resnet: stem_*, res2_*, res3_*, res4_* (the entries'
`stage_prefixes`).
Inputs are already preprocessed (see `preprocessing_mode`).
"""

import dataclasses
import os
from typing import Callable, Dict, Tuple

import keras

BACKBONE_STAGES = ("stem", "res2", "res3", "res4")
RESNET50_OUTPUT_LAYER = "conv4_block6_out"
MOBILENET_V2_OUTPUT_LAYER = "block_13_expand_relu"


@dataclasses.dataclass(frozen=True)
class Backbone:
  """One backbone. `build(input_shape, weights, widths, blocks_per_stage)` returns a functional
  `keras.Model` from preprocessed images to its last feature map, with `weights` None, 'imagenet'
  (only where `imagenet_weights`) or a checked path of a weights file; `widths` and
  `blocks_per_stage` are the `ImageToLatent.backbone_widths` / `backbone_blocks` settings, which
  a fixed architecture ignores. `preprocessing` is the `ImagePreprocessing` mode its weights
  expect; `stage_prefixes` maps each of `BACKBONE_STAGES` to the layer-name prefixes of its
  layers (the adaptation trains stages by name)."""
  name: str
  build: Callable[..., keras.Model]
  preprocessing: str
  stage_prefixes: Dict[str, Tuple[str, ...]]
  imagenet_weights: bool
  description: str = ""


_REGISTRY: Dict[str, Backbone] = {}


def register_backbone(entry: Backbone) -> Backbone:
  if entry.name in _REGISTRY:
    raise ValueError(f"backbone {entry.name!r} is already registered")
  if set(entry.stage_prefixes) != set(BACKBONE_STAGES):
    raise ValueError(f"backbone {entry.name!r}: stage_prefixes must name exactly "
                     f"{BACKBONE_STAGES}, got {tuple(entry.stage_prefixes)}")
  _REGISTRY[entry.name] = entry
  return entry


def backbone_names():
  return tuple(_REGISTRY)


def get_backbone(name) -> Backbone:
  if name not in _REGISTRY:
    raise ValueError(f"unknown backbone {name!r}; known: {backbone_names()}")
  return _REGISTRY[name]


def preprocessing_mode(name):
  """The `ImagePreprocessing` mode a backbone's weights expect (inputs in [0, 1], RGB)."""
  return get_backbone(name).preprocessing


def build_backbone(name, input_shape, weights=None, widths=(32, 64, 128),
                   blocks_per_stage=(2, 2, 2)):
  """Builds a backbone: a functional `keras.Model` from preprocessed images to the Res-4 map.

  Args:
    name: a registered backbone (`backbone_names()`).
    input_shape: `(H, W, 3)`.
    weights: None (random init), 'imagenet' (resnet50 and mobilenet_v2; downloads Keras'
      ImageNet weights, so it needs network access), or a path to a local weights file: for
      'resnet50' the Keras ImageNet "notop" h5 file
      (`resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`) or any file
      `keras.applications.ResNet50(weights=path)` accepts; for 'mobilenet_v2' and
      'small_resnet' a `.weights.h5` file saved from a backbone of the same configuration
      (for mobilenet_v2, `tools/fetch_backbone_weights.py` writes one).
    widths / blocks_per_stage: channels and residual blocks of res2, res3, res4 (small_resnet).
  Raises:
    FileNotFoundError naming the path if `weights` is a path that does not exist.
  """
  entry = get_backbone(name)
  input_shape = tuple(int(d) for d in input_shape)
  if len(input_shape) != 3 or input_shape[-1] != 3:
    raise ValueError(f"input_shape must be (H, W, 3), got {input_shape}")
  if weights == "imagenet" and not entry.imagenet_weights:
    with_imagenet = tuple(n for n, e in _REGISTRY.items() if e.imagenet_weights)
    raise ValueError(f"weights='imagenet' exists only for the backbones {with_imagenet}")
  if weights is not None and weights != "imagenet" and not os.path.isfile(str(weights)):
    raise FileNotFoundError(f"backbone weights file not found: {weights!r} (backbone {name!r})")
  return entry.build(input_shape, weights, widths, blocks_per_stage)


def _resnet50(input_shape, weights, widths, blocks_per_stage):
  del widths, blocks_per_stage  # a fixed architecture
  base = keras.applications.ResNet50(include_top=False, weights=weights,
                                     input_shape=input_shape)
  return keras.Model(base.input, base.get_layer(RESNET50_OUTPUT_LAYER).output,
                     name="resnet50_res4f")


def mobilenet_v2(input_shape, weights=None):
  """MobileNetV2 (alpha 1.0) up to `MOBILENET_V2_OUTPUT_LAYER`; `weights` None, 'imagenet' or a
  `.weights.h5` file of this truncated model."""
  base = keras.applications.MobileNetV2(
      input_shape=input_shape, alpha=1.0, include_top=False,
      weights="imagenet" if weights == "imagenet" else None)
  model = keras.Model(base.input, base.get_layer(MOBILENET_V2_OUTPUT_LAYER).output,
                      name="mobilenet_v2_block13")
  if weights is not None and weights != "imagenet":
    model.load_weights(str(weights))
  return model


def _small_resnet_with_weights(input_shape, weights, widths, blocks_per_stage):
  model = _small_resnet(input_shape, widths, blocks_per_stage)
  if weights is not None:
    model.load_weights(str(weights))
  return model


def _mobilenet_blocks(first, last):
  return tuple(f"block_{b}_" for b in range(first, last + 1))


register_backbone(Backbone(
    "resnet50", _resnet50, preprocessing="caffe", imagenet_weights=True,
    stage_prefixes={"stem": ("conv1_", "pool1_"), "res2": ("conv2_",), "res3": ("conv3_",),
                    "res4": ("conv4_",)},
    description="keras.applications.ResNet50 cut after Res-4F (the paper's)"))
register_backbone(Backbone(
    "mobilenet_v2", lambda shape, weights, widths, blocks: mobilenet_v2(shape, weights),
    preprocessing="minus_one_to_one", imagenet_weights=True,
    stage_prefixes={"stem": ("Conv1", "bn_Conv1", "expanded_conv_"),
                    "res2": _mobilenet_blocks(1, 2), "res3": _mobilenet_blocks(3, 5),
                    "res4": _mobilenet_blocks(6, 13)},
    description="keras.applications.MobileNetV2 cut at block_13_expand_relu"))
register_backbone(Backbone(
    "small_resnet", _small_resnet_with_weights, preprocessing="imagenet_standardize",
    imagenet_weights=False,
    stage_prefixes={"stem": ("stem_",), "res2": ("res2_",), "res3": ("res3_",),
                    "res4": ("res4_",)},
    description="a small residual CNN for CPU runs at 64-128 px"))


def _small_resnet(input_shape, widths, blocks_per_stage):
  widths = tuple(int(w) for w in widths)
  blocks_per_stage = tuple(int(b) for b in blocks_per_stage)
  if len(widths) != 3 or len(blocks_per_stage) != 3 or min(widths + blocks_per_stage) < 1:
    raise ValueError(f"small_resnet needs 3 positive widths and block counts (res2, res3, res4); "
                     f"got widths={widths}, blocks_per_stage={blocks_per_stage}")
  images = keras.Input(input_shape, name="images")
  x = keras.layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False,
                          name="stem_conv")(images)
  x = keras.layers.BatchNormalization(name="stem_bn")(x)
  x = keras.layers.ReLU(name="stem_relu")(x)
  for stage_index, (width, blocks) in enumerate(zip(widths, blocks_per_stage)):
    stage = f"res{stage_index + 2}"
    for block in range(blocks):
      strides = 2 if (stage_index > 0 and block == 0) else 1
      x = _basic_block(x, width, strides, f"{stage}_block{block + 1}")
  return keras.Model(images, x, name="small_resnet")


def _basic_block(x, width, strides, name):
  shortcut = x
  if strides != 1 or x.shape[-1] != width:
    shortcut = keras.layers.Conv2D(width, 1, strides=strides, use_bias=False,
                                   name=f"{name}_proj_conv")(x)
    shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
  y = keras.layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False,
                          name=f"{name}_conv1")(x)
  y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
  y = keras.layers.ReLU(name=f"{name}_relu1")(y)
  y = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
  y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
  y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
  return keras.layers.ReLU(name=f"{name}_out")(y)


def stage_of_layer_name(layer_name, backbone=None):
  """'stem' | 'res2' | 'res3' | 'res4' for a layer name of backbone `backbone` (a registered
  name; None: of any registered backbone), None for others (the input)."""
  entries = [get_backbone(backbone)] if backbone else list(_REGISTRY.values())
  for entry in entries:
    for stage, prefixes in entry.stage_prefixes.items():
      if layer_name.startswith(prefixes):
        return stage
  return None


def backbone_stage_layers(backbone, stage):
  """The layers of `backbone` (a model from `build_backbone`) that belong to `stage`."""
  if stage not in BACKBONE_STAGES:
    raise ValueError(f"unknown backbone stage {stage!r}; known: {BACKBONE_STAGES}")
  return [layer for layer in backbone.layers if stage_of_layer_name(layer.name) == stage]


def backbone_stages(backbone):
  """Mapping stage name -> list of layers, for every stage in `BACKBONE_STAGES`."""
  return {stage: backbone_stage_layers(backbone, stage) for stage in BACKBONE_STAGES}

