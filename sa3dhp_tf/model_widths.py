"""Named model widths. `TINY` is the one definition of the tiny widths that the tests
(tests/testing.py), `tools/bench_adapt_step.py --tiny` and gin_configs/tiny/stages.gin use:
every stage trains in seconds on a CPU.

Each entry holds the constructor arguments of one model class that set its size; the latent
size of G and of the motion AAE comes from the pose AAE's `latent_dim`, as in the stages. The
entries are also gin constants (`%TINY_POSE_AUTOENCODER`, ...), registered when
`sa3dhp_tf.config` parses a gin file.
"""

import gin

TINY = {
    "pose_autoencoder": {"encoder_units": (64,), "decoder_units": (64,),
                         "discriminator_units": (32,), "latent_dim": 8},
    "motion_autoencoder": {"lstm_units": 16, "motion_dim": 16, "discriminator_units": (16,)},
    "image_to_latent": {"fc_units": (32, 16), "backbone_widths": (8, 8, 16),
                        "backbone_blocks": (1, 1, 1)},
    "relation_network": {"hidden_units": (32,)},
    "adaptation": {"projection_units": (16, 8)},
}

for _model, _widths in TINY.items():
  gin.constant(f"TINY_{_model.upper()}", dict(_widths))
# relation_nets takes its widths as a stage argument, not a model_kwargs dict.
gin.constant("TINY_RELATION_HIDDEN_UNITS", TINY["relation_network"]["hidden_units"])
