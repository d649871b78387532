"""Backbones, ImageToLatent (G^s / G) and SourcePoseRegressor."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sa3dhp_tf.modeling import backbones
from sa3dhp_tf.modeling import image_to_latent as itl
from sa3dhp_tf.modeling import pose_autoencoder as pae_lib

import testing

SIZE = 32
LATENT = 8


def _images(n=8, seed=0):
  return np.random.default_rng(seed).uniform(size=(n, SIZE, SIZE, 3)).astype(np.float32)


def _small(**overrides):
  kwargs = dict(input_size=SIZE, latent_dim=LATENT, fc_units=(32, 16),
                backbone_widths=(8, 16, 16), backbone_blocks=(1, 2, 1))
  kwargs.update(overrides)
  return itl.ImageToLatent(**kwargs)


def _ids(variables):
  return {id(v) for v in variables}


def test_shapes_features_and_bounded_latent():
  model = _small(latent_range=0.3)
  images = _images(4)
  z = model(images)
  assert z.shape == (4, LATENT) and z.dtype == tf.float32
  z2, features = model.call_with_features(images)
  assert features.shape == (4, 32) and features.dtype == tf.float32
  np.testing.assert_array_equal(z.numpy(), z2.numpy())
  assert np.all(np.abs(model(images * 1e4).numpy()) <= 0.3)


def test_small_resnet_stage_mapping_covers_every_weight():
  model = _small()
  stages = backbones.backbone_stages(model.backbone)
  assert [l.name for l in stages["stem"]] == ["stem_conv", "stem_bn", "stem_relu"]
  assert {l.name.split("_")[0] for l in stages["res3"]} == {"res3"}
  assert len([l for l in stages["res3"] if isinstance(l, keras.layers.Conv2D)]) == 5
  weighted = {l.name for l in model.backbone.layers if l.weights}
  assert weighted == {l.name for layers in stages.values() for l in layers if l.weights}
  assert model.backbone.output.shape[1:] == (SIZE // 8, SIZE // 8, 16)


def test_set_trainable_stages_res3_trains_exactly_res3():
  model = _small()
  images = _images(8)
  model.set_trainable_stages(["res3"])
  assert model.trainable_stages == ("res3",)
  res3 = model.stage_variables("res3")
  assert res3 and _ids(model.trainable_variables) == _ids(res3)
  # Moving statistics are not parameters.
  assert not any("moving" in v.path for v in res3)

  before = {id(v): v.numpy().copy() for v in model.weights}
  optimizer = keras.optimizers.SGD(0.1)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(model(images, training=True) - 0.5))
  grads = tape.gradient(loss, model.trainable_variables)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  changed = {id(v) for v in model.weights if not np.array_equal(before[id(v)], v.numpy())}
  res3_layers = model.stage_layers("res3")
  res3_bn_stats = {id(v) for l in res3_layers if isinstance(l, keras.layers.BatchNormalization)
                   for v in (l.moving_mean, l.moving_variance)}
  # Only res3 parameters and res3 BatchNorm statistics moved; frozen BN ran in inference mode.
  assert changed - res3_bn_stats == _ids(res3)
  assert res3_bn_stats & changed

  model.set_trainable_stages(["embedding"])
  assert _ids(model.trainable_variables) == _ids(model.embedding_variables())
  model.set_trainable_stages(["res3"], batchnorm_trainable=False)
  trainable = _ids(model.trainable_variables)
  assert trainable and trainable < _ids(res3)
  assert all("bn" not in v.path for v in model.trainable_variables)
  with pytest.raises(ValueError, match="unknown stages"):
    model.set_trainable_stages(["res5"])


def test_config_round_trip_and_keras_save_load(tmp_path):
  model = _small(latent_range=10.0, trainable_stages=["res3", "res4"])
  images = _images(3)
  testing.run_config_round_trip(model, images)
  loaded = testing.run_save_load(model, images, tmp_path, name="g")
  assert loaded.trainable_stages == ("res3", "res4")
  assert _ids(loaded.trainable_variables) == _ids(loaded.stage_variables("res3")
                                                  + loaded.stage_variables("res4"))


def test_resnet50_builds_at_64px_with_paper_stages():
  model = itl.ImageToLatent(backbone="resnet50", input_size=64, latent_dim=LATENT,
                            fc_units=(64,))
  assert model.backbone.layers[-1].name == backbones.RESNET50_OUTPUT_LAYER
  assert model.backbone.output.shape[1:] == (4, 4, 1024)
  assert model.preprocess.mode == "caffe"
  stages = backbones.backbone_stages(model.backbone)
  names = {stage: {l.name for l in layers} for stage, layers in stages.items()}
  assert {"conv1_conv", "conv1_bn", "pool1_pool"} <= names["stem"]
  assert all(n.startswith("conv2_") for n in names["res2"]) and "conv2_block3_out" in names["res2"]
  assert all(n.startswith("conv3_") for n in names["res3"]) and "conv3_block4_out" in names["res3"]
  assert all(n.startswith("conv4_") for n in names["res4"]) and "conv4_block6_out" in names["res4"]
  weighted = {l.name for l in model.backbone.layers if l.weights}
  assert weighted == {n for stage in names.values() for n in stage} & weighted
  z, features = model.call_with_features(np.full((2, 64, 64, 3), 0.5, np.float32))
  assert z.shape == (2, LATENT) and features.shape == (2, 64)


def test_missing_weights_file_names_the_path(tmp_path):
  path = os.path.join(tmp_path, "no_such_resnet50_notop.h5")
  with pytest.raises(FileNotFoundError, match="no_such_resnet50_notop.h5"):
    backbones.build_backbone("resnet50", (64, 64, 3), weights=path)
  with pytest.raises(FileNotFoundError, match="no_such_resnet50_notop.h5"):
    _small(backbone_weights=path)
  with pytest.raises(ValueError, match="unknown backbone"):
    backbones.build_backbone("vgg16", (64, 64, 3))


def test_small_backbone_weights_file_loads(tmp_path):
  source = backbones.build_backbone("small_resnet", (SIZE, SIZE, 3), widths=(8, 8, 8),
                                    blocks_per_stage=(1, 1, 1))
  path = os.path.join(tmp_path, "small.weights.h5")
  source.save_weights(path)
  target = backbones.build_backbone("small_resnet", (SIZE, SIZE, 3), weights=path,
                                    widths=(8, 8, 8), blocks_per_stage=(1, 1, 1))
  images = _images(2)
  np.testing.assert_array_equal(target(images).numpy(), source(images).numpy())


def _regressor(**overrides):
  pose_ae = pae_lib.PoseAutoencoder(latent_dim=LATENT, encoder_units=(32,),
                                    decoder_units=(32,), discriminator_units=(8,))
  return itl.SourcePoseRegressor(_small(backbone_blocks=(1, 1, 1)), pose_ae.decoder,
                                 **overrides)


def _batch(n=16, seed=0):
  rng = np.random.default_rng(seed)
  poses = rng.normal(0.0, 150.0, (n, 17, 3)).astype(np.float32)
  poses[:, 0] += 1000.0  # not root-relative: the regressor subtracts the root itself
  return {"image": _images(n, seed), "pose3d": poses}


def _eager_eval(model, data):
  model.reset_metrics()
  logs = {k: float(v) for k, v in model.test_step(data).items()}
  model.reset_metrics()
  return logs


def test_source_regressor_fits_keeps_decoder_frozen_and_saves(tmp_path):
  model = _regressor(name="source")
  model.compile(keras.optimizers.Adam(1e-3))
  data = _batch(16)
  decoder_before = [w.copy() for w in model.pose_decoder.get_weights()]
  dataset = tf.data.Dataset.from_tensor_slices(data).batch(8)
  before = _eager_eval(model, data)
  model.fit(dataset, epochs=10, verbose=0, shuffle=False)  # 20 steps
  after = _eager_eval(model, data)
  assert after["loss"] < before["loss"] and after["mpjpe_mm"] < before["mpjpe_mm"]
  for a, b in zip(decoder_before, model.pose_decoder.get_weights()):
    np.testing.assert_array_equal(a, b)

  path = os.path.join(tmp_path, "source.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded, itl.SourcePoseRegressor) and loaded.compiled
  np.testing.assert_array_equal(loaded(data["image"]).numpy(), model(data["image"]).numpy())
  assert not loaded.pose_decoder.trainable

  bad = dict(data)
  bad["image"] = data["image"].copy()
  bad["image"][0, 0, 0, 0] = np.nan
  with pytest.raises(tf.errors.InvalidArgumentError, match="source.*not finite"):
    model.fit(tf.data.Dataset.from_tensor_slices(bad).batch(8), epochs=1, verbose=0,
              shuffle=False)


def test_source_regressor_sample_weights_select_samples():
  model = _regressor()
  model.compile(keras.optimizers.Adam(1e-3))
  data = _batch(8)
  weights = np.array([1, 1, 0, 0, 0, 0, 0, 0], np.float32)
  weighted = model.test_step(dict(data, sample_weight=weights))["loss"].numpy()
  model.reset_metrics()
  subset = model.test_step({k: v[:2] for k, v in data.items()})["loss"].numpy()
  model.reset_metrics()
  full = model.test_step(data)["loss"].numpy()
  np.testing.assert_allclose(weighted, subset, rtol=1e-5)
  assert abs(full - subset) > 1e-4
  # The tuple form (x, None, sample_weight) means the same.
  model.reset_metrics()
  as_tuple = model.test_step((data, None, weights))["loss"].numpy()
  np.testing.assert_allclose(as_tuple, subset, rtol=1e-5)
  with pytest.raises(ValueError, match="'image' and 'pose3d'"):
    model.test_step(data["image"])


def test_flatten_pooling_keeps_spatial_layout_and_round_trips(tmp_path):
  kwargs = dict(input_size=16, latent_dim=4, fc_units=(8,), backbone_widths=(4, 4, 8),
                backbone_blocks=(1, 1, 1))
  flat = itl.ImageToLatent(pooling="flatten", **kwargs)
  avg = itl.ImageToLatent(pooling="avg", **kwargs)
  # Flatten feeds the whole 2x2x8 map (stride 8 at 16 px) to the first FC layer, avg 8 channels.
  assert flat.fc_layers[0].kernel.shape[0] == 32 and avg.fc_layers[0].kernel.shape[0] == 8
  images = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
  path = str(tmp_path / "g.keras")
  flat.save(path)
  loaded = keras.models.load_model(path)
  assert loaded.pooling == "flatten"
  np.testing.assert_allclose(loaded(images), flat(images), atol=1e-6)
  with pytest.raises(ValueError, match="pooling"):
    itl.ImageToLatent(pooling="max", **kwargs)


def test_source_regressor_latent_target_loss():
  """The latent term adds exactly weight * mean |G(x) - E_p(y)| to the pose loss, trains with
  the encoder and decoder frozen, and survives a config round trip."""
  pose_ae = pae_lib.PoseAutoencoder(latent_dim=LATENT, encoder_units=(32,),
                                    decoder_units=(32,), discriminator_units=(8,))
  network = _small(backbone_blocks=(1, 1, 1))
  plain = itl.SourcePoseRegressor(network, pose_ae.decoder)
  latent = itl.SourcePoseRegressor(network, pose_ae.decoder, pose_encoder=pose_ae.encoder,
                                   latent_loss_weight=2.0)
  data = _batch(8)
  z = network(data["image"]).numpy()
  target = pose_ae.encoder(data["pose3d"]).numpy()
  expected = 2.0 * np.mean(np.abs(z - target))
  logs = _eager_eval(latent, data)
  assert logs["loss"] - _eager_eval(plain, data)["loss"] == pytest.approx(expected, rel=1e-4)
  assert logs["latent_mae"] == pytest.approx(np.mean(np.abs(z - target)), rel=1e-4)
  assert "latent_mae" not in _eager_eval(plain, data)

  latent.compile(keras.optimizers.Adam(1e-3))
  encoder_before = [w.copy() for w in pose_ae.encoder.get_weights()]
  latent.fit(tf.data.Dataset.from_tensor_slices(data).batch(4), epochs=3, verbose=0,
             shuffle=False)  # a tf.data input: Keras would only warn that it cannot shuffle
  for a, b in zip(encoder_before, pose_ae.encoder.get_weights()):
    np.testing.assert_array_equal(a, b)
  assert _eager_eval(latent, data)["latent_mae"] < logs["latent_mae"]
  clone = itl.SourcePoseRegressor.from_config(latent.get_config())
  assert clone.latent_loss_weight == 2.0 and clone.pose_encoder is not None

  with pytest.raises(ValueError, match="pose_encoder"):
    itl.SourcePoseRegressor(network, pose_ae.decoder, latent_loss_weight=1.0)
  with pytest.raises(ValueError, match=">= 0"):
    itl.SourcePoseRegressor(network, pose_ae.decoder, pose_encoder=pose_ae.encoder,
                            latent_loss_weight=-1.0)


def test_source_regressor_joint_head_trains_and_leaves_g_unchanged():
  """The auxiliary joint head adds its own term, trains with G, and G's config and outputs do
  not depend on it (the exported G has no head)."""
  plain = _regressor()
  network = plain.image_to_latent
  headed = itl.SourcePoseRegressor(network, plain.pose_decoder, joint_head_weight=1.0)
  data = _batch(8)
  logs = _eager_eval(headed, data)
  assert logs["loss"] > _eager_eval(plain, data)["loss"]
  assert logs["joint_head_mpjpe_mm"] > 0.0 and "joint_head_mpjpe_mm" not in _eager_eval(plain, data)
  head_before = [w.copy() for w in headed.joint_head.get_weights()]
  headed.compile(keras.optimizers.Adam(1e-3))
  headed.fit(tf.data.Dataset.from_tensor_slices(data).batch(4), epochs=5, verbose=0,
             shuffle=False)  # a tf.data input: Keras would only warn that it cannot shuffle
  assert _eager_eval(headed, data)["joint_head_mpjpe_mm"] < logs["joint_head_mpjpe_mm"]
  assert any(np.abs(a - b).max() > 0 for a, b in zip(head_before, headed.joint_head.get_weights()))
  assert "joint_head" not in str(network.get_config())
  clone = itl.SourcePoseRegressor.from_config(headed.get_config())
  assert clone.joint_head_weight == 1.0 and clone.joint_head is not None
  with pytest.raises(ValueError, match="joint_head_weight"):
    itl.SourcePoseRegressor(network, plain.pose_decoder, joint_head_weight=-0.5)


def _two_conv_backbone(input_shape, weights, widths, blocks_per_stage):
  """A backbone defined in this test file: one conv per stage, layer names `tiny<stage>_...`."""
  del weights, blocks_per_stage
  images = keras.Input(input_shape)
  x = images
  for stage, width in zip(("stem", "res2", "res3", "res4"), (4,) + tuple(widths)):
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"tiny{stage}_conv")(x)
  return keras.Model(images, x, name="two_conv")


def test_a_backbone_registered_in_the_test_file_builds_trains_by_stage_and_saves(tmp_path):
  """Adding a backbone touches one place: its registry entry."""
  if "two_conv" not in backbones.backbone_names():
    backbones.register_backbone(backbones.Backbone(
        "two_conv", _two_conv_backbone, preprocessing="minus_one_to_one",
        stage_prefixes={s: (f"tiny{s}_",) for s in backbones.BACKBONE_STAGES},
        imagenet_weights=False))
  model = _small(backbone="two_conv", backbone_widths=(6, 6, 6), trainable_stages=("res3",))
  images = _images(2)
  assert model(images).shape == (2, LATENT)
  # Input 32 px through four stride-2 convs: a 2x2x6 map.
  assert tuple(model.backbone.output.shape[1:]) == (2, 2, 6)
  trainable = {layer.name for layer in model.backbone.layers
               if layer.trainable and layer.weights}
  assert trainable == {"tinyres3_conv"}
  with pytest.raises(ValueError, match="only for the backbones"):
    backbones.build_backbone("two_conv", (SIZE, SIZE, 3), weights="imagenet")
  with pytest.raises(ValueError, match="already registered"):
    backbones.register_backbone(backbones.get_backbone("two_conv"))
  testing.run_save_load(model, images, tmp_path)


def test_backbone_stage_prefixes_must_name_every_stage():
  with pytest.raises(ValueError, match="stage_prefixes"):
    backbones.register_backbone(backbones.Backbone(
        "half", _two_conv_backbone, preprocessing="minus_one_to_one",
        stage_prefixes={"stem": ("a",)}, imagenet_weights=False))
  assert "half" not in backbones.backbone_names()
