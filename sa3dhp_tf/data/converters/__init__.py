"""Real-dataset converters into the project's TFRecord schema (README "Real datasets").

`convert(name, root, output_dir, role=...)` runs one; each dataset is one module registering
one `registry.Converter`. Importing this package registers them all.
"""

from sa3dhp_tf.data.converters.registry import (  # noqa: F401
    ROLES, ConversionError, Converter, Item, MocapSequence, Sequence, converter_names,
    get_converter, parse_options, register)
from sa3dhp_tf.data.converters.engine import Settings, assemble, convert  # noqa: F401

# Every module of the package is imported, so a dataset module registers itself by existing:
# adding a dataset touches one place.
import importlib as _importlib  # noqa: E402
import pkgutil as _pkgutil  # noqa: E402

for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__)):
  _importlib.import_module(f"{__name__}.{_module}")
