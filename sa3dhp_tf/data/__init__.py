"""Data: schema, motion sources, renderer, benchmark builder and tf.data pipelines."""
