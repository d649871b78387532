"""The model classes' constructor settings as gin configurables (`modeling/constructor_settings`):
bound one by one (`PoseAutoencoder.latent_dim = 5`), checked when gin parses, listed in the
operative config a stage writes, and never read when a saved model is loaded."""

import os

import gin
import keras
import numpy as np
import pytest

from cli_harness import run_command
import shared_stages
import testing
from sa3dhp_tf import config
from sa3dhp_tf.modeling import constructor_settings
from sa3dhp_tf.modeling.adaptation import RelationDistillationModel
from sa3dhp_tf.modeling.image_to_latent import ImageToLatent
from sa3dhp_tf.modeling.motion_autoencoder import MotionAutoencoder
from sa3dhp_tf.modeling.pose_autoencoder import PoseAutoencoder
import sa3dhp_tf.tasks  # noqa: F401  (the stages' configurables, for the old-route binding)


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def test_misspelt_setting_fails_at_parse_time():
  with pytest.raises(config.ConfigError, match=r"PoseAutoencoder.*latnt_dim"):
    config.parse_gin([], ["PoseAutoencoder.latnt_dim = 4"], finalize=False)


@pytest.mark.parametrize("binding", ["ImageToLatent.latent_dim = 4", "PoseAutoencoder.seed = 1",
                                     "MotionAutoencoder.latent_dim = 4",
                                     "RelationDistillationModel.energies = ('lcr',)"])
def test_settings_a_stage_derives_cannot_be_bound(binding):
  """The latent size of G and E_m is the pose AAE's, seeds and energies are the stage's: a
  binding would be a second route to them."""
  with pytest.raises(config.ConfigError, match=binding.split(" =")[0].split(".")[1]):
    config.parse_gin([], [binding], finalize=False)


def test_old_model_kwargs_route_names_the_new_bindings():
  with pytest.raises(config.ConfigError, match=r"model_kwargs.*PoseAutoencoder\.latent_dim"):
    config.parse_gin([], ["pose_aae.model_kwargs = {'latent_dim': 4}"], finalize=False)


def test_bindings_reach_the_model_and_the_stage_gives_the_rest():
  config.parse_gin([], ["PoseAutoencoder.latent_dim = 5", "PoseAutoencoder.encoder_units = (8,)",
                        "PoseAutoencoder.decoder_units = (8,)"], finalize=False)
  model = constructor_settings.build(PoseAutoencoder, seed=3)
  assert (model.latent_dim, tuple(model.encoder_units), model.seed) == (5, (8,), 3)
  assert model.latent_range == 1.0  # unbound: the constructor's default


def test_a_setting_gin_owns_is_not_a_stage_argument():
  with pytest.raises(TypeError, match="latent_dim"):
    constructor_settings.build(PoseAutoencoder, latent_dim=3)


@pytest.mark.parametrize("cls, given", [
    (PoseAutoencoder, {"seed": 0}),
    (MotionAutoencoder, {"latent_dim": 8}),
    (ImageToLatent, {"input_size": 32}),
])
def test_every_setting_is_saved_with_the_model(cls, given):
  """A loaded model is rebuilt from its saved config: each gin setting must be in it, or a model
  would be loaded with whatever the loading process binds."""
  config_keys = set(cls(**given).get_config())
  assert set(constructor_settings.setting_names(cls)) <= config_keys


def test_relation_distillation_settings_are_its_constructor_arguments():
  names = set(constructor_settings.setting_names(RelationDistillationModel))
  assert {"projection_units", "energy_weights", "lcr_input"} <= names
  assert not names & {"image_to_latent", "energies", "loss_kind", "temperature", "name"}


def test_loading_ignores_what_gin_binds_now(tmp_path):
  config.parse_gin([], ["PoseAutoencoder.latent_dim = 5", "PoseAutoencoder.encoder_units = (8,)",
                        "PoseAutoencoder.decoder_units = (8,)",
                        "PoseAutoencoder.discriminator_units = (8,)"], finalize=False)
  model = constructor_settings.build(PoseAutoencoder, seed=0)
  poses = np.random.default_rng(0).normal(0, 300, (4, 17, 3)).astype("float32")
  model(poses)
  path = str(tmp_path / "pose.keras")
  model.save(path)
  config.parse_gin([], ["PoseAutoencoder.latent_dim = 7"], finalize=False)
  loaded = keras.models.load_model(path)
  assert loaded.latent_dim == 5
  np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(poses)),
                                keras.ops.convert_to_numpy(model(poses)))
  testing.run_config_round_trip(model, poses)


def test_operative_config_lists_every_constructor_setting(tmp_path, tmp_path_factory):
  bench = shared_stages.tiny_benchmark(tmp_path_factory)
  result = run_command(["-m", "sa3dhp_tf.train", "--gin_file=tiny/stages.gin", "--stage=pose_aae",
                        f"--gin_bindings=pose_aae.data_dir = '{bench}'",
                        "--gin_bindings=pose_aae.steps = 2", "--model_dir=run"], str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  operative = (tmp_path / "run" / "operative_config.gin").read_text()
  # Bound in tiny/models.gin:
  assert "PoseAutoencoder.encoder_units = (64,)" in operative
  assert "PoseAutoencoder.latent_dim = 8" in operative
  # Not bound anywhere: the constructor's defaults are listed too.
  assert "PoseAutoencoder.reconstruction_loss = 'l1'" in operative
  assert "PoseAutoencoder.latent_adversarial_weight = 0.1" in operative
  listed = {line.split(" =")[0].split(".", 1)[1] for line in operative.splitlines()
            if line.startswith("PoseAutoencoder.")}
  assert listed == set(constructor_settings.setting_names(PoseAutoencoder))
  assert os.path.exists(tmp_path / "run" / "models")
