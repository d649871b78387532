"""Relational energies of the adaptation step: InfoNCE (L_LCR, L_HCR) and relation energies
(L^z_r, L^v_r).

Note: the package attribute `relation_energy` is the function; import the module's other names
with `from sa3dhp_tf.losses.relation_energy import ...`."""

from sa3dhp_tf.losses.infonce import ProjectionHead, info_nce  # noqa: F401
from sa3dhp_tf.losses.relation_energy import (  # noqa: F401
    LOSS_KINDS, relation_energy, relation_residual)
