"""MATLAB .mat reading for the dataset converters: v5/v7 through scipy, v7.3 (HDF5) through h5py,
both returned in MATLAB's own dimension order so callers index them the same way."""

import os

import numpy as np

from sa3dhp_tf.data.converters.registry import file_error


class MatFile:
  """Fields of a .mat file by name. `array(name)` is in MATLAB order for both backends (h5py
  sees v7.3 arrays transposed); `cells(name)` is the list of a cell array's arrays."""

  def __init__(self, path):
    self.path = path
    if not os.path.isfile(path):
      raise file_error(path, "annotation file not found")
    import scipy.io
    try:
      self._v5 = scipy.io.loadmat(path)
      self._h5 = None
    except NotImplementedError:       # MATLAB v7.3 = HDF5
      import h5py
      self._v5 = None
      self._h5 = h5py.File(path, "r")
    except (ValueError, OSError, TypeError) as e:
      raise file_error(path, f"unreadable .mat file ({type(e).__name__}: {e})") from None

  def has(self, name) -> bool:
    return name in (self._v5 if self._v5 is not None else self._h5)

  def _get(self, name):
    if not self.has(name):
      raise file_error(self.path, f"no field {name!r}")
    return self._v5[name] if self._v5 is not None else self._h5[name]

  def array(self, name) -> np.ndarray:
    value = self._get(name)
    if self._v5 is not None:
      if value.dtype == object:
        raise file_error(self.path, f"field {name!r} is a cell array, expected a numeric array")
      return np.asarray(value)
    return np.asarray(value[()]).T

  def cells(self, name):
    value = self._get(name)
    if self._v5 is not None:
      if value.dtype != object:
        raise file_error(self.path, f"field {name!r} is not a cell array")
      return [np.asarray(c) for c in value.ravel(order="F")]
    refs = np.asarray(value[()]).T.ravel(order="F")
    return [np.asarray(self._h5[ref][()]).T for ref in refs]

  def close(self):
    if self._h5 is not None:
      self._h5.close()
