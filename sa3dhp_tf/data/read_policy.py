"""The gin setting `bad_records.skip`, in a module without TensorFlow so that `config.parse_gin`
can register it before any file is parsed (gin refuses configurables added after the config is
locked, and the data readers are often imported late)."""

import gin


@gin.configurable("bad_records")
def skip_bad_records(skip=False):
  """`bad_records.skip = True` drops records that fail to read, parse or validate (with a
  Python-logging warning and a count in the stage's results.json) instead of stopping the job."""
  return bool(skip)
